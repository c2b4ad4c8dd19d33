"""The :class:`Engine`: owns workflows, node types, the store and the background workers."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .definition.compile import CompiledWorkflow, compile_definition
from .definition.load import DEFINITION_SUFFIXES, copy_tree, load_definition
from .errors import DefinitionError
from .gateway import Gateway
from .http.request import Limits
from .nodes.base import NodeType
from .nodes.custom import CustomNode
from .nodes.registry import builtin_nodes
from .runtime.catalog import Catalog
from .runtime.dispatcher import Dispatcher
from .runtime.effects import drive_sync
from .runtime.ids import instance_id, snowflake
from .runtime.processor import Processor
from .runtime.records import Execution, Job, utcnow
from .runtime.status import Status, status_from_value
from .settings import check_retention, check_settings
from .store.base import Store
from .store.open import open_store
from .workflow import Workflow

__all__ = ["Engine"]

logger = logging.getLogger("webhook_workflow")

def _system_scope() -> dict[str, Any]:
    """``$system``: values, or functions the template renderer calls."""
    return {
        "now": lambda: datetime.now(UTC),
        "epoch": 1605024000,
        "instanceId": instance_id,
        "genSnowflakeId": lambda: str(snowflake()),
    }


class Engine:
    """Registers webhook workflows and runs them.

    ``store`` is ``"memory"`` (default) or a :class:`~webhook_workflow.store.base.Store`;
    ``base_path`` is where webhook URLs live below the mount point; ``env`` is the only mapping
    templates see as ``$env``. Other keyword arguments are the engine settings
    (``max_body_size``, ``workers`` ...); unknown names raise ``TypeError``.
    """

    def __init__(self, store: str | Store = "memory", *, base_path: str = "/api/webhook:trigger",
                 env: Mapping[str, Any] | None = None, timezone: str = "UTC",
                 **settings: Any) -> None:
        self.settings: dict[str, Any] = check_settings(settings)
        #: Proxies whose forwarded-for header is believed (ipAllowlist).
        self.trusted_proxies = self.settings["trusted_proxies"]
        #: The header trusted proxies report the client in (the other one is ignored).
        self.forwarded_header: str = self.settings["forwarded_header"]
        if base_path and (not base_path.startswith("/") or base_path.endswith("/")):
            raise ValueError("base_path is '' or starts with '/' and has no trailing '/'")
        self.base_path = base_path
        self.env: Mapping[str, Any] = dict(env or {})
        self.timezone = timezone
        self.limits = Limits(**{f.name: int(self.settings[f.name])
                                for f in dataclasses.fields(Limits)})
        self.store: Store = open_store(store, max_executions=int(self.settings["max_executions"]),
                                       max_queue=int(self.settings["max_queue"]),
                                       lease=float(self.settings["lease"]))
        #: The store's batched ``add_later`` when it commits in batches, else None.
        self.add_later = getattr(self.store, "add_later", None)
        self._max_node_runs = int(self.settings["max_node_runs"])
        self.retention = check_retention(self.settings["retention"], self.store)
        self.system = _system_scope()
        self._node_types: dict[str, NodeType] = builtin_nodes()
        self.catalog = Catalog(self.store, self._compile)
        self.dispatcher = Dispatcher(self.store, self._run_queued, self.catalog.keys,
                                     int(self.settings["workers"]),
                                     lease=float(self.settings["lease"]),
                                     retention=self.retention)
        self.gateway = Gateway(self)

    # -- workflows --------------------------------------------------------------------------
    def add_workflow(self, definition: dict[str, Any] | str | os.PathLike[str]) -> Workflow:
        """Validate, compile and register a definition (dict or .json/.yaml path).

        An identical canonical body under an existing key is the same version (no-op apart
        from ``enabled``); a different body becomes version n+1 and the enabled one.
        """
        # A private copy: the caller may change its dict later, the workflow must not change.
        data = copy_tree(load_definition(definition))
        compiled = self._compile(data)
        enabled = compiled.enabled
        compiled = self.catalog.register(compiled, enabled)
        return self._view(compiled)

    def load_directory(self, path: str | os.PathLike[str]) -> list[Workflow]:
        """Register every ``.json``/``.yaml``/``.yml`` file of a folder (sorted by name)."""
        folder = Path(path)
        if not folder.is_dir():
            raise DefinitionError("", f"{folder}: not a directory")
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in DEFINITION_SUFFIXES)
        out = []
        for file in files:
            try:
                out.append(self.add_workflow(file))
            except DefinitionError as exc:
                if exc.path:
                    raise DefinitionError(f"{file.name}: {exc.path}", exc.reason) from None
                raise
        return out

    def workflows(self) -> list[Workflow]:
        """The current version of every registered workflow."""
        return [self._view(w) for w in list(self.catalog.current.values())]

    def get_workflow(self, key: str) -> Workflow | None:
        """The current version of a workflow, or None."""
        compiled = self.catalog.current.get(key)
        return self._view(compiled) if compiled is not None else None

    def remove_workflow(self, key: str) -> bool:
        """Unregister a workflow (all versions); its URL answers 404 from now on."""
        return self.catalog.remove(key)

    def set_enabled(self, key: str, enabled: bool) -> Workflow:
        """Enable or disable a workflow (a disabled one answers 404); KeyError if unknown."""
        return self._view(self.catalog.set_enabled(key, enabled))

    @property
    def routes(self) -> dict[str, CompiledWorkflow]:
        """Enabled workflows by key (what the doors route to)."""
        return self.catalog.routes

    def _view(self, compiled: CompiledWorkflow) -> Workflow:
        return Workflow(key=compiled.key, version=compiled.version, title=compiled.title,
                        sync=compiled.sync, enabled=self.catalog.enabled.get(compiled.key, False),
                        url_path=f"{self.base_path}/{compiled.key}", digest=compiled.digest,
                        definition=compiled.definition)

    def version(self, key: str, version: int) -> CompiledWorkflow | None:
        """A version of a registered workflow (also one only the store still knows)."""
        return self.catalog.version(key, version)

    def _compile(self, data: dict[str, Any]) -> CompiledWorkflow:
        return compile_definition(data, self._node_types,
                                  max_body_size=self.limits.max_body_size, env=self.env,
                                  max_json_items=self.limits.max_json_items)

    def register_node(self, type_name: str, node: Any) -> None:
        """Add a node type to this engine: a function ``(config, ctx) -> result`` or an object
        with ``run(config, ctx)`` and optional ``resume(job, ctx)`` / ``validate_config``."""
        if not isinstance(type_name, str) or not type_name:
            raise ValueError("a node type id is a non-empty string")
        if type_name in self._node_types and not isinstance(self._node_types[type_name],
                                                            CustomNode):
            raise ValueError(f"{type_name!r} is a built-in node type")
        self._node_types[type_name] = CustomNode(type_name, node)

    # -- running ----------------------------------------------------------------------------
    def processor(self, workflow: CompiledWorkflow, execution: Execution) -> Processor:
        """A processor for one execution of ``workflow``."""
        proc = Processor(workflow, execution, system=self.system, env=self.env,
                         max_node_runs=self._max_node_runs, log=logger,
                         timezone=self.timezone, settings=self.settings)
        proc.spawn = self._spawn
        return proc

    def _spawn(self, key: str, context: dict[str, Any], parent: Processor) -> Processor:
        """Start a child execution for a ``subflow`` node (recorded like any execution).

        Raises ``LookupError`` for an unknown workflow and ``RecursionError`` when the child's
        ``options.stackLimit`` is reached.
        """
        workflow = self.catalog.current.get(key)
        if workflow is None:
            raise LookupError(f"workflow {key!r} is not registered")
        stack = [*parent.execution.stack, parent.execution.workflow_key]
        if stack.count(key) >= workflow.stack_limit:
            raise RecursionError(f"workflow {key!r} is already running {stack.count(key)} "
                                 f"time(s) in this chain (options.stackLimit "
                                 f"{workflow.stack_limit})")
        child = Execution(workflow.key, workflow.version, context, status=Status.STARTED,
                          sync=True, started_at=utcnow(), parent_id=parent.execution.id,
                          stack=stack)
        self.store.add(child)
        proc = self.processor(workflow, child)
        proc.on_finish = lambda done: self.finish(workflow, done.execution)
        if parent.deadline is not None:
            proc.deadline = parent.deadline if proc.deadline is None else min(
                proc.deadline, parent.deadline)
        return proc

    def execute(self, key: str, context: Mapping[str, Any] | None = None) -> Execution:
        """Run the current version of a workflow now, in this thread (also async or disabled
        workflows); ``context`` may hold ``headers``, ``query`` and ``body``."""
        workflow = self.catalog.current.get(key)
        if workflow is None:
            raise KeyError(key)
        self.start()
        ctx = dict(context or {})
        full = {"headers": ctx.pop("headers", {}), "query": ctx.pop("query", {}),
                "body": ctx.pop("body", {})}
        if ctx:
            raise ValueError(f"unknown context part(s): {', '.join(sorted(ctx))}")
        execution = Execution(workflow.key, workflow.version, full, status=Status.STARTED,
                              sync=True, started_at=utcnow())
        self.store.add(execution)
        self.run_to_end(workflow, execution)
        return self.store.get(execution.id) or execution

    def run_to_end(self, workflow: CompiledWorkflow, execution: Execution, *,
                   durable: bool = False) -> Processor:
        """Run an execution in this thread and record its end; ``durable`` saves each job
        as it is made (background runs), so a crash resumes after the last one."""
        proc = self.processor(workflow, execution)
        if durable:
            proc.on_flush = lambda jobs: self.store.save_jobs(execution, jobs)
        self.dispatcher.running.add(execution.id)
        try:
            drive_sync(proc.steps(), proc.deadline)
        except Exception as exc:  # never lose the record of a run that broke
            self.fail(execution, exc)
        finally:
            self.dispatcher.running.discard(execution.id)
        if execution.status == Status.STARTED:
            self.store.release(execution, self._wake_at(workflow, execution))
        else:
            self.finish(workflow, execution)
        return proc

    @staticmethod
    def _wake_at(workflow: CompiledWorkflow, execution: Execution) -> float | None:
        """When the pending job of a waiting execution is due (epoch seconds)."""
        for job in execution.jobs:
            node = workflow.nodes.get(job.node_key)
            if job.status == Status.PENDING and node is not None:
                due = node.impl.wake_at(node, job)
                if due is not None:
                    return due
        return None

    def fail(self, execution: Execution, exc: BaseException) -> None:
        """Record an unexpected error that ended an execution."""
        logger.exception("execution %s failed unexpectedly", execution.id, exc_info=exc)
        execution.jobs.append(Job(Status.ERROR, {"message": f"internal error: {exc}"},
                                  node_key="", finished_at=utcnow()))
        execution.status = Status.ERROR
        execution.finished_at = utcnow()

    def finish(self, workflow: CompiledWorkflow, execution: Execution) -> None:
        """Store a finished (or waiting) execution; drop it if its status is not kept."""
        if execution.status is not None and int(execution.status) in workflow.delete_on_status:
            self.store.delete(execution.id)
        else:
            self.store.save(execution)

    def _run_queued(self, execution: Execution) -> None:
        workflow = self.version(execution.workflow_key, execution.version)
        if workflow is None:
            execution.status = Status.ERROR
            execution.jobs.append(Job(Status.ERROR, {"message": f"version {execution.version} "
                                                     "of this workflow is not registered"}))
            execution.finished_at = utcnow()
            self.store.save(execution)
            return
        self.run_to_end(workflow, execution, durable=True)

    # -- the execution log --------------------------------------------------------------------
    def executions(self, workflow_key: str | None = None, *, status: Status | int | str | None
                   = None, limit: int = 50) -> list[Execution]:
        """Recorded executions, newest first; ``status`` is a Status, its number or name, or
        ``"queued"``."""
        if status is not None and status != "queued":
            status = status_from_value(status)
        return self.store.list(workflow_key, status=status, limit=limit)

    def get_execution(self, execution_id: str) -> Execution | None:
        """One execution with its jobs, or None."""
        return self.store.get(str(execution_id))

    def cancel(self, execution_id: str) -> bool:
        """Cancel a queued execution (→ CANCELED); False when it is not queued."""
        return self.store.cancel(str(execution_id)) is not None

    def replay(self, execution_id: str) -> Execution:
        """Run a recorded execution's context again as a new execution (``replay_of`` set),
        on the workflow's current version: a sync workflow runs now, in this thread, and the
        finished execution is returned; an async one is queued for the workers and returned
        queued. ``KeyError`` when the execution or its workflow is unknown."""
        original = self.store.get(str(execution_id))
        if original is None:
            raise KeyError(execution_id)
        workflow = self.catalog.current.get(original.workflow_key) or \
            self.catalog.adopt(original.workflow_key)
        if workflow is None:
            raise KeyError(original.workflow_key)
        self.start()
        if not workflow.sync:
            queued = Execution(workflow.key, workflow.version, original.context,
                               replay_of=original.id)
            self.store.add(queued)
            self.dispatcher.notify()
            return queued
        execution = Execution(workflow.key, workflow.version, original.context,
                              status=Status.STARTED, sync=True, started_at=utcnow(),
                              replay_of=original.id)
        self.store.add(execution)
        self.run_to_end(workflow, execution)
        return self.store.get(execution.id) or execution

    def resume(self, execution_id: str, node_key: str, result: Any = None) -> bool:
        """Wake an execution waiting on a node's PENDING job (a custom node that returned
        ``Job(status=Status.PENDING)``): the job gets ``result`` and the node's ``resume``
        decides how it ends. False when no such job is waiting."""
        execution = self.store.get(str(execution_id))
        if execution is None or execution.status != Status.STARTED or execution.sync:
            return False
        waiting = [j for j in execution.jobs
                   if j.node_key == node_key and j.status == Status.PENDING]
        if not waiting:
            return False
        job = waiting[-1]
        job.result = result
        if not self.store.wake(execution.id, job):
            return False
        self.start()
        self.dispatcher.notify()
        return True

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the background workers (also done by the first request through a door)."""
        if not self.dispatcher.started:
            self.dispatcher.start()

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until no execution is queued or running; False on timeout."""
        self.start()
        return self.dispatcher.drain(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Drain (up to ``timeout``), stop the workers and close the store."""
        if self.dispatcher.started:
            self.dispatcher.drain(timeout)
            self.dispatcher.stop(timeout)
        self.store.close()

    @asynccontextmanager
    async def lifespan(self, app: Any = None) -> AsyncIterator[None]:
        """Async context manager for host lifespans: start on enter, close on exit.

        Accepts (and ignores) an ``app`` argument, so it can be passed to Starlette/FastAPI as
        ``lifespan=lambda app: engine.lifespan()`` or entered inside the host's own lifespan.
        """
        self.start()
        try:
            yield
        finally:
            await asyncio.to_thread(self.close)
