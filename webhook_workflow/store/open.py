"""Turn a store argument (``"memory"``, a store URL or a :class:`Store`) into a store."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ..clock import Clock
from .base import Store
from .memory import DEFAULT_MAX_BYTES, MemoryStore

__all__ = ["open_store", "sqlite_path", "use_clock"]


def open_store(store: str | Store, **settings: Any) -> Store:
    """Open the store a URL names, or return a given store object as it is."""
    if not isinstance(store, str):
        if not isinstance(store, Store):
            raise TypeError("store must be 'memory' or an object implementing Store")
        return store
    if store in ("memory", "memory://", "memory:"):
        return MemoryStore(max_executions=settings.get("max_executions", 10_000),
                           max_queue=settings.get("max_queue", 10_000),
                           max_bytes=settings.get("max_bytes", DEFAULT_MAX_BYTES))
    scheme = store.split(":", 1)[0]
    if scheme == "sqlite":
        return _sqlite(store, settings)
    if scheme in ("postgresql", "postgres"):
        return _postgres(store, settings)
    raise ValueError(f"unknown store {store!r}; use 'memory', 'sqlite:///path.db' or "
                     "'postgresql://user@host/database'")


def use_clock(store: Store, clock: Clock, opened: bool) -> None:
    """Make the memory store read ``clock``; any other store keeps time by the real clock
    (and its database's), so another clock is refused (``opened``: the store was opened
    for this call, and is closed first)."""
    if isinstance(store, MemoryStore):
        store.clock = clock
        return
    if opened:
        store.close()
    raise ValueError("clock: a clock other than the real one needs the memory store")


def _postgres(url: str, settings: dict[str, Any]) -> Store:
    """``postgresql://user:password@host:port/database?prefix=ww_`` (or ``postgres://``)."""
    try:
        from .postgres import PostgresStore
    except ImportError as exc:
        raise ValueError("the postgresql store needs psycopg 3 and psycopg-pool: "
                         "pip install 'webhook-workflow[postgres]'") from exc
    return PostgresStore.from_url(url, max_queue=settings.get("max_queue", 10_000),
                                  lease=settings.get("lease", 30.0))


def sqlite_path(url: str) -> str | None:
    """The database file an ``sqlite:`` URL names (None for other stores); a malformed
    SQLite URL raises :class:`ValueError`."""
    if url.split(":", 1)[0] != "sqlite":
        return None
    return _sqlite_parts(url)[0]


def _sqlite_parts(url: str) -> tuple[str, dict[str, str]]:
    parsed = urlsplit(url)
    if parsed.netloc:
        raise ValueError(f"{url!r}: write sqlite:///relative/path.db or "
                         "sqlite:////absolute/path.db")
    path = parsed.path[1:] if parsed.path.startswith("/") else parsed.path
    if not path:
        raise ValueError(f"{url!r}: the database path is missing")
    options = dict(parse_qsl(parsed.query))
    unknown = set(options) - {"synchronous"}
    if unknown:
        raise ValueError(f"{url!r}: unknown option(s) {', '.join(sorted(unknown))}")
    return path, options


def _sqlite(url: str, settings: dict[str, Any]) -> Store:
    """``sqlite:///relative.db``, ``sqlite:////absolute.db``, ``?synchronous=full``."""
    from .sqlite import SQLiteStore

    path, options = _sqlite_parts(url)
    return SQLiteStore(path, synchronous=options.get("synchronous", "normal"),
                       max_queue=settings.get("max_queue", 10_000),
                       lease=settings.get("lease", 30.0))
