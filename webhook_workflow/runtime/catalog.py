"""The workflows an engine knows: every version, the current one, and the route table.

Version numbers come from the store, so they survive restarts: registering the body of the
latest version again is the same version; any other body is version n+1. A version this
process never registered (an execution queued by an earlier process) is compiled from the
canonical definition the store kept for it.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from typing import Any

from ..definition.compile import CompiledWorkflow
from ..errors import DefinitionError
from ..logs import fields
from ..store.base import Store

__all__ = ["Catalog"]

logger = logging.getLogger("webhook_workflow")


class Catalog:
    """Thread-safe registry of compiled workflow versions."""

    def __init__(self, store: Store, compile_definition: Callable[[dict[str, Any]],
                                                                  CompiledWorkflow]) -> None:
        self._store = store
        self._compile = compile_definition
        self._lock = threading.RLock()
        self._versions: dict[str, dict[int, CompiledWorkflow]] = {}
        self.current: dict[str, CompiledWorkflow] = {}
        self.enabled: dict[str, bool] = {}
        #: Enabled current versions by key: the table the request path reads.
        self.routes: dict[str, CompiledWorkflow] = {}

    def register(self, compiled: CompiledWorkflow, enabled: bool) -> CompiledWorkflow:
        """Make ``compiled`` the current version of its key; return it with its number."""
        with self._lock:
            number = self._store.save_version(compiled.key, compiled.digest, compiled.definition)
            versions = self._versions.setdefault(compiled.key, {})
            existing = versions.get(number)
            if existing is not None and existing.digest == compiled.digest:
                compiled = existing
            else:
                compiled = dataclasses.replace(compiled, version=number)
                versions[number] = compiled
            self.current[compiled.key] = compiled
            self.enabled[compiled.key] = enabled
            self._publish(compiled.key)
            return compiled

    def remove(self, key: str) -> bool:
        """Forget a workflow; its URL answers 404 from now on."""
        with self._lock:
            self.enabled.pop(key, None)
            self.routes.pop(key, None)
            self._versions.pop(key, None)
            return self.current.pop(key, None) is not None

    def set_enabled(self, key: str, enabled: bool) -> CompiledWorkflow:
        """Enable or disable the current version; KeyError for an unknown key."""
        with self._lock:
            compiled = self.current[key]
            self.enabled[key] = bool(enabled)
            self._publish(key)
            return compiled

    def _publish(self, key: str) -> None:
        if self.enabled.get(key):
            self.routes[key] = self.current[key]
        else:
            self.routes.pop(key, None)

    def keys(self) -> list[str]:
        """Keys of the registered workflows (the ones this process's workers run)."""
        return list(self.current)

    def adopt(self, key: str) -> CompiledWorkflow | None:
        """Register (disabled) the latest version the store keeps of a workflow this process
        did not register; None when the store has none. Used to replay from the log."""
        with self._lock:
            if key in self.current:
                return self.current[key]
            number = self._store.latest_version(key)
            definition = None if number is None else self._store.load_version(key, number)
            if number is None or definition is None:
                return None
            # A DefinitionError (e.g. a credential's $env variable missing here) propagates:
            # it says why the workflow cannot run in this process.
            compiled = dataclasses.replace(self._compile(definition), version=number)
            self._versions[key] = {number: compiled}
            self.current[key] = compiled
            self.enabled[key] = False
            return compiled

    def version(self, key: str, version: int) -> CompiledWorkflow | None:
        """A version of a registered workflow, compiled from the store when this process did
        not register it; None when the key is not registered or the store lacks it."""
        with self._lock:
            versions = self._versions.get(key)
            if versions is None:
                return None
            compiled = versions.get(version)
            if compiled is not None:
                return compiled
            definition = self._store.load_version(key, version)
            if definition is None:
                return None
            try:
                compiled = self._compile(definition)
            except DefinitionError as exc:
                logger.error("workflow %s version %s cannot be compiled any more: %s", key,
                             version, exc, extra=fields(workflow_key=key))
                return None
            compiled = dataclasses.replace(compiled, version=version)
            versions[version] = compiled
            return compiled
