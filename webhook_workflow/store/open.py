"""Turn a store argument (``"memory"`` or a :class:`Store`) into a store."""

from __future__ import annotations

from typing import Any

from .base import Store
from .memory import MemoryStore

__all__ = ["open_store"]


def open_store(store: str | Store, **settings: Any) -> Store:
    """Open the store a URL names, or return a given store object as it is."""
    if not isinstance(store, str):
        if not isinstance(store, Store):
            raise TypeError("store must be 'memory' or an object implementing Store")
        return store
    if store in ("memory", "memory://", "memory:"):
        return MemoryStore(max_executions=settings.get("max_executions", 10_000),
                           max_queue=settings.get("max_queue", 10_000))
    scheme = store.split(":", 1)[0]
    if scheme in ("sqlite", "postgresql", "postgres"):
        raise ValueError(f"the {scheme} store is not available in this version; use 'memory'")
    raise ValueError(f"unknown store {store!r}; use 'memory'")
