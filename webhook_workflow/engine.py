"""The :class:`Engine`: owns workflows, node types, the store and the background workers."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from .clock import SYSTEM_CLOCK, Clock
from .definition.compile import CompiledWorkflow, compile_definition
from .definition.lint import warn_definition
from .definition.load import compile_directory, copy_tree, load_definition
from .gateway import Gateway
from .http.request import Limits
from .instruments import Instruments
from .logs import fields
from .nodes.base import NodeType
from .nodes.custom import CustomNode
from .nodes.registry import builtin_nodes
from .observe import observe
from .records import Execution, Job
from .recovery import (
    cancel_execution,
    cancel_if_asked,
    recover_executions,
    replay_execution,
    resume_job,
    retry_execution,
    to_epoch,
)
from .resume import ExecutionVariables, apply_callbacks, wake_if_called
from .runtime.catalog import Catalog
from .runtime.dispatcher import Dispatcher
from .runtime.effects import drive_sync
from .runtime.processor import Processor
from .runtime.waits import wake_time
from .settings import check_retention, check_settings
from .status import Status, status_from_value
from .store.base import Store
from .store.instances import hold_instance
from .store.open import open_store, use_clock
from .subflows import spawn_child
from .variables.system import check_system_variable, system_scope
from .workflow import Workflow

__all__ = ["Engine"]

logger = logging.getLogger("webhook_workflow")


class Engine:
    """Registers webhook workflows and runs them.

    ``store`` is ``"memory"`` (default) or a :class:`~webhook_workflow.store.base.Store`;
    ``base_path`` is where webhook URLs live below the mount point; ``env`` is the only mapping
    templates see as ``$env``. ``metrics`` (True, or a ``prometheus_client`` registry),
    ``tracing`` (True, or an OpenTelemetry ``TracerProvider``) and ``instruments`` (hooks of
    your own) observe it: see docs/observability.md. ``clock`` is where every moment of a run
    is read (:class:`~webhook_workflow.clock.Clock`; a fake one in tests: see
    docs/testing.md); a clock other than the real one needs the memory store. Other keyword
    arguments are the engine settings (``max_body_size``, ``workers`` ...); unknown names
    raise ``TypeError``.
    """

    def __init__(self, store: str | Store = "memory", *, base_path: str = "/api/webhook:trigger",
                 env: Mapping[str, Any] | None = None, timezone: str = "UTC",
                 metrics: Any = False, tracing: Any = False,
                 instruments: Instruments | None = None, clock: Clock = SYSTEM_CLOCK,
                 **settings: Any) -> None:
        self.settings: dict[str, Any] = check_settings(settings)
        if not isinstance(clock, Clock):
            raise TypeError("clock: give a Clock (time, monotonic, sleep, join)")
        #: Where the engine reads the time (:data:`~webhook_workflow.clock.SYSTEM_CLOCK`).
        self.clock: Clock = clock
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
        # Before the store opens: a missing extra raises ImportError with nothing to close.
        #: The Prometheus metrics of this engine (``metrics=...``), else None; and the
        #: observability hooks the engine calls (:mod:`webhook_workflow.instruments`).
        self.metrics, self.instruments = observe(self, base_path, metrics, tracing,
                                                instruments)
        self.store: Store = open_store(store, max_executions=int(self.settings["max_executions"]),
                                       max_queue=int(self.settings["max_queue"]),
                                       max_bytes=int(self.settings["max_store_bytes"]),
                                       lease=float(self.settings["lease"]))
        if clock is not SYSTEM_CLOCK:
            use_clock(self.store, clock, isinstance(store, str))
        try:
            #: This process's instance number of ids, claimed in a durable store.
            self.instance_hold = hold_instance(self.store, float(self.settings["lease"]), self)
        except BaseException:
            if isinstance(store, str):  # opened here: nobody else can close it
                self.store.close()
            raise
        #: The store's batched ``add_later`` when it commits in batches, else None.
        self.add_later = getattr(self.store, "add_later", None)
        self._max_node_runs = int(self.settings["max_node_runs"])
        self.retention = check_retention(self.settings["retention"], self.store)
        self.system = system_scope(lambda: self.timezone, clock)
        self._builtin_system = frozenset(self.system)
        self._node_types: dict[str, NodeType] = builtin_nodes()
        self.catalog = Catalog(self.store, self._compile)
        self.dispatcher = Dispatcher(self.store, self._run_queued, self.catalog.keys,
                                     int(self.settings["workers"]),
                                     lease=float(self.settings["lease"]),
                                     retention=self.retention)
        self.dispatcher.instruments = self.instruments
        #: The public base URL of resume URLs (``public_url``), else the webhook's origin.
        self.public_url: str | None = self.settings["public_url"]
        self._resume_secret: bytes | None = None
        # Handed over as a GatewayHost (and on to runs as a RunHost): neither imports us.
        self.gateway = Gateway(self)
        # A clock that runs due work when it moves (a fake one) learns of this engine.
        attach = getattr(clock, "attach", None)
        if attach is not None:
            attach(self)

    # -- workflows --------------------------------------------------------------------------
    def add_workflow(self, definition: dict[str, Any] | str | os.PathLike[str]) -> Workflow:
        """Validate, compile and register a definition (dict or .json/.yaml path).

        An identical canonical body under an existing key is the same version (no-op apart
        from ``enabled``); a different body becomes version n+1 and the enabled one. Raises
        :class:`DefinitionError` with every error of the definition; warns
        (:class:`~webhook_workflow.errors.DefinitionWarning`) of what is likely wrong.
        """
        # A private copy: the caller may change its dict later, the workflow must not change.
        data = copy_tree(load_definition(definition))
        compiled = self._compile(data)
        warn_definition(compiled, data, None if isinstance(definition, dict)
                        else os.fspath(definition))
        return self._view(self.catalog.register(compiled, compiled.enabled))

    def load_directory(self, path: str | os.PathLike[str]) -> list[Workflow]:
        """Register every ``.json``/``.yaml``/``.yml`` file of a folder (sorted by name).
        Every file is checked first: when any is invalid, none is registered and the
        :class:`DefinitionError` holds the errors of all of them, led by their file names."""
        checked = compile_directory(path, self._compile)
        for file, data, compiled in checked:
            warn_definition(compiled, data, file.name)
        return [self._view(self.catalog.register(c, c.enabled)) for _, _, c in checked]

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

    def register_system_variable(self, name: str, fn: Callable[[], Any]) -> None:
        """Add ``$system.<name>`` to this engine: ``fn()`` gives its value each time a template
        or expression reads it, as for ``$system.now``. ``name`` is letters, digits and ``_``
        (not first a digit); a built-in name raises ``ValueError``, a name registered before
        is replaced."""
        check_system_variable(name, fn, self._builtin_system)
        self.system[name] = fn

    # -- running ----------------------------------------------------------------------------
    @property
    def resume_secret(self) -> bytes:
        """The key resume URLs are signed with: the store's, shared by every process."""
        if self._resume_secret is None:
            self._resume_secret = self.store.shared_secret()
        return self._resume_secret

    def processor(self, workflow: CompiledWorkflow, execution: Execution) -> Processor:
        """A processor for one execution of ``workflow``."""
        proc = Processor(workflow, execution, system=self.system, env=self.env,
                         max_node_runs=self._max_node_runs, log=logger,
                         timezone=self.timezone, settings=self.settings, clock=self.clock)
        proc.scope["$execution"] = ExecutionVariables(self, execution, workflow.callbacks)
        proc.spawn = self._spawn
        proc.cancels = self.dispatcher.cancels
        proc.instruments = self.instruments
        return proc

    def _spawn(self, key: str, context: dict[str, Any], parent: Processor) -> Processor:
        """Start a child execution for a ``subflow`` node (:func:`~.subflows.spawn_child`)."""
        return spawn_child(self, key, context, parent)

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
        now = self.clock.time()
        execution = Execution(workflow.key, workflow.version, full, status=Status.STARTED,
                              sync=True, created_at=now, started_at=now)
        self.instruments.recording(execution)
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
            drive_sync(proc.steps(), proc.deadline, proc.clock.monotonic)
        except Exception as exc:  # never lose the record of a run that broke
            self.fail(execution, exc)
        finally:
            self.dispatcher.running.discard(execution.id)
        if execution.status == Status.STARTED:
            self.store.release(execution, wake_time(workflow, execution))
            cancel_if_asked(self, execution.id)
            wake_if_called(self.store, workflow, execution)
        else:
            self.finish(workflow, execution)
        return proc

    def fail(self, execution: Execution, exc: BaseException) -> None:
        """Record an unexpected error that ended an execution."""
        logger.exception("execution %s failed unexpectedly", execution.id, exc_info=exc,
                         extra=fields(execution.id, execution.workflow_key))
        execution.jobs.append(Job(Status.ERROR, {"message": f"internal error: {exc}"},
                                  node_key="", finished_at=self.clock.time()))
        execution.status = Status.ERROR
        execution.finished_at = self.clock.time()
        execution.reason = "internal_error"

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
            execution.finished_at = self.clock.time()
            self.store.save(execution)
            return
        apply_callbacks(self.store, workflow, execution)
        self.run_to_end(workflow, execution, durable=True)

    # -- the execution log --------------------------------------------------------------------
    def executions(self, workflow_key: str | None = None, *, status: Status | int | str | None
                   = None, limit: int = 50, since: datetime | float | None = None,
                   until: datetime | float | None = None) -> list[Execution]:
        """Recorded executions, newest first; ``status`` is a Status, its number or name, or
        ``"queued"``; ``since``/``until`` (aware datetimes or epoch seconds) bound when they
        came in: ``since <= created_at < until``."""
        if status is not None and status != "queued":
            status = status_from_value(status)
        return self.store.list(workflow_key, status=status, limit=limit,
                               since=to_epoch(since, "since"), until=to_epoch(until, "until"))

    def retry(self, execution_id: str) -> Execution:
        """Retry a FAILED, ERROR or ABORTED execution *in place*, from the node that failed:
        the jobs that RESOLVED are kept and not run again, the failed node is attempted again
        (``meta["attempt"]`` goes on counting), and the execution goes back to the workers,
        returned waiting (STARTED). ``KeyError`` for an unknown id;
        :class:`~webhook_workflow.errors.NotRetryable` for any other status, or when its
        workflow version no longer compiles."""
        return retry_execution(self, execution_id)

    def recover(self, *, workflow_key: str | None = None,
                statuses: Iterable[Status | int | str] = (Status.FAILED, Status.ERROR,
                                                          Status.ABORTED),
                since: datetime | float | None = None, until: datetime | float | None = None,
                limit: int = 1000, dry_run: bool = False) -> list[str]:
        """Retry (:meth:`retry`) every execution that ended with one of ``statuses`` (of
        ``workflow_key``, that came in within ``since``/``until``), the oldest first, at most
        ``limit``; the ids retried (``dry_run``: that would be). Run again at once, it
        retries none of them twice: they no longer have those statuses."""
        return recover_executions(self, workflow_key=workflow_key, statuses=statuses,
                                  since=to_epoch(since, "since"), until=to_epoch(until, "until"),
                                  limit=limit, dry_run=dry_run)

    def get_execution(self, execution_id: str) -> Execution | None:
        """One execution with its jobs, or None."""
        return self.store.get(str(execution_id))

    def cancel(self, execution_id: str, *, by: str | None = None) -> bool:
        """Cancel an execution: a queued or waiting one ends CANCELED at once (its waiting
        jobs too); a running one, in this process or any other on the store, stops before its
        next node. False when it has ended or is unknown. Its ``reason`` reads
        ``manual_cancel``, or ``manual_cancel:<by>``."""
        return cancel_execution(self, str(execution_id), by)

    def replay(self, execution_id: str) -> Execution:
        """Run a recorded execution's context again as a new execution (``replay_of`` set),
        on the workflow's current version: a sync workflow runs now, in this thread, and the
        finished execution is returned; an async one is queued for the workers and returned
        queued. ``KeyError`` when the execution or its workflow is unknown."""
        return replay_execution(self, str(execution_id))

    def resume(self, execution_id: str, node_key: str, result: Any = None) -> bool:
        """Wake an execution waiting on a node's PENDING job (a custom node that returned
        ``Job(status=Status.PENDING)``): the job gets ``result`` and the node's ``resume``
        decides how it ends. False when no such job is waiting."""
        return resume_job(self, str(execution_id), node_key, result)

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the background workers (also done by the first request through a door)."""
        if not self.dispatcher.started:
            self.instance_hold.keep()
            self.dispatcher.start()

    def run_due(self) -> int:
        """Run, in this thread, every execution the store hands out now (queued ones, and
        waiting ones whose time has come on :attr:`clock`), until it hands out none; how
        many ran. A fake clock calls it when it advances."""
        self.start()
        return self.dispatcher.run_due()

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until no execution is queued or running; False on timeout."""
        self.start()
        return self.dispatcher.drain(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Drain (up to ``timeout``), stop the workers and close the store."""
        if self.dispatcher.started:
            self.dispatcher.drain(timeout)
            self.dispatcher.stop(timeout)
        self.instance_hold.release()
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
