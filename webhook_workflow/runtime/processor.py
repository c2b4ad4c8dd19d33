"""The run loop of one execution, after NocoBase's Processor, written once for both doors.

NocoBase's processor recurses (``run`` → ``exec`` → next ``run`` ...). Here the loop is flat:
each step is either *run node N with input J* or *resume branching node P with the last job J
of one of its branches*, so a chain of 100 000 nodes needs no deep Python stack. The loop is a
generator that yields effects (:class:`~webhook_workflow.nodes.base.Call`) and is driven by a
sync or an async driver (:mod:`.effects`). Node types reach the run through the
:class:`~webhook_workflow.nodes.base.RunContext` Protocol, which this class implements.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Generator, Mapping
from inspect import isgenerator
from typing import TYPE_CHECKING, Any

from ..clock import SYSTEM_CLOCK, Clock
from ..instruments import watched
from ..logs import fields
from ..nodes.base import Call, CompiledNode, Outcome, RunBranch, Stop
from ..records import Execution, Job
from ..status import Status
from .waits import _RESUME, _RUN, Waiting, waiting_holder

if TYPE_CHECKING:
    from ..definition.compile import CompiledWorkflow
    from ..http.response import CoreResponse
    from ..instruments import Instruments, RunWatch

__all__ = ["Processor"]

logger = logging.getLogger("webhook_workflow.processor")

_PENDING = Status.PENDING
_RESOLVED = Status.RESOLVED


class Processor(Waiting):
    """Runs one execution of a compiled workflow.

    ``steps()`` is the generator drivers run. Node types reach the execution through this
    object: :meth:`render` a template against the node scope, :attr:`execution`,
    :attr:`response` (sync answer), :meth:`job_of` (a node's latest job).
    """

    __slots__ = (
        "_jobs_by_key",
        "_retrying",
        "cancels",
        "cap",
        "clock",
        "deadline",
        "env",
        "execution",
        "expires_at",
        "instruments",
        "jobs_map",
        "logger",
        "max_node_runs",
        "node_runs",
        "on_finish",
        "on_flush",
        "response",
        "scope",
        "scopes",
        "seq",
        "settings",
        "spawn",
        "timezone",
        "unsaved",
        "unsaved_effect",
        "watch",
        "workflow",
    )

    def __init__(self, workflow: CompiledWorkflow, execution: Execution, *,
                 system: Mapping[str, Any], env: Mapping[str, Any],
                 max_node_runs: int = 100_000, log: logging.Logger | None = None,
                 timezone: str = "UTC", settings: Mapping[str, Any] | None = None,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.workflow = workflow
        #: The engine's clock: every moment of the run is read from it.
        self.clock = clock
        self.execution = execution
        self.env = env
        self.max_node_runs = max_node_runs
        #: The engine's time zone name (``Engine(timezone=...)``) for date nodes.
        self.timezone = timezone
        #: The engine settings (``loop_limit``, ``request_policy`` ...), read-only.
        self.settings: Mapping[str, Any] = settings or {}
        #: Monotonic deadline of the execution (``options.timeout``), or None.
        self.deadline: float | None = None
        #: Which cap the deadline comes from, for messages.
        self.cap = ""
        #: When ``options.timeout`` ends the execution (epoch seconds), or None.
        self.expires_at: float | None = None
        if workflow.timeout_ms:
            # From the execution's start, as NocoBase's expiresAt: a run resumed after a wait
            # has only what is left of it.
            left = workflow.timeout_ms / 1000
            started = execution._started
            if started is not None:
                began = started if isinstance(started, float) else started.timestamp()
                left = min(left, began + left - clock.time())
            self.expires_at = clock.time() + left
            self.deadline = clock.monotonic() + left
            self.cap = f"options.timeout ({workflow.timeout_ms} ms)"
        limit = self.settings.get("max_run_time")
        if limit:
            engine_deadline = clock.monotonic() + float(limit)
            if self.deadline is None or engine_deadline < self.deadline:
                self.deadline = engine_deadline
                self.cap = f"max_run_time ({limit} s)"
        #: True once the execution was ABORTED by ``options.timeout``.
        self.timed_out = False
        #: Starts a child execution (the ``subflow`` node); set by the engine.
        self.spawn: Callable[[str, dict[str, Any], Processor], Processor] | None = None
        #: Records a child execution's end; set by the engine on child processors.
        self.on_finish: Callable[[Processor], None] | None = None
        #: Persists jobs as the run goes (durable async runs); set by the engine. Jobs are
        #: buffered and flushed before an effect (work with consequences outside the run)
        #: when an effect ran since the last flush, and when the run ends or waits: after a
        #: crash the run resumes after the last flushed job, so nodes since then run again
        #: (a node with effects that was interrupted, or had finished but was not flushed
        #: yet, too). Nodes without effects only compute from the run's own data, so
        #: running them again gives what they gave: writing their jobs before the first
        #: effect would cost a store write per execution and protect nothing.
        self.on_flush: Callable[[list[Job]], None] | None = None
        self.unsaved: dict[str, Job] = {}
        #: True when an effect ran since the last flush (its node's job is not written).
        self.unsaved_effect = False
        self.logger = log or logger
        self.node_runs = 0
        #: The HTTP answer a Response node chose (sync workflows), else None.
        self.response: CoreResponse | None = None
        self.jobs_map: dict[str, Any] = {}
        self._jobs_by_key: dict[str, Job] = {}
        #: The job of the next attempt of a node being retried, by node key.
        self._retrying: dict[str, Job] = {}
        #: Cancels asked of running executions (id → reason), read before each node; set
        #: by the engine (the dispatcher's table).
        self.cancels: Mapping[str, str] | None = None
        self.scopes: dict[str, Any] = {}
        #: The engine's observability hooks (set by it) and the watch of the run, if any.
        self.instruments: Instruments | None = None
        self.watch: RunWatch | None = None
        #: Orders job saves; a resumed run continues after the job saved last.
        self.seq = 0
        if execution.jobs:  # a run that resumes: what its nodes did so far
            for job in sorted(execution.jobs, key=lambda j: j.meta.get("seq", 0)):
                self.jobs_map[job.node_key] = job.result
                self._jobs_by_key[job.node_key] = job
                self.seq = max(self.seq, int(job.meta.get("seq", 0)))
        self.scope: dict[str, Any] = {
            "$context": execution.context,
            "$jobsMapByNodeKey": self.jobs_map,
            "$scopes": self.scopes,
            "$system": system,
            "$env": env,
        }

    # -- helpers for node types ------------------------------------------------------------
    def render(self, template: Any) -> Any:
        """Render a compiled template against this execution's scope."""
        return template.render(self.scope)

    def node(self, key: str) -> CompiledNode:
        """The compiled node with ``key`` in the workflow being run."""
        return self.workflow.nodes[key]

    def job_of(self, node: CompiledNode) -> Job | None:
        """The latest job of ``node`` in this execution."""
        return self._jobs_by_key.get(node.key)

    def save_job(self, node: CompiledNode, job: Job, branch: int | None = None) -> Job:
        """Record ``job`` as the latest job of ``node`` (a job saved again is updated);
        ``branch`` marks that the node's branch with that index starts next."""
        return self._save(node, job, branch, self.clock.time())

    def _save(self, node: CompiledNode, job: Job, branch: int | None, now: float) -> Job:
        key = node.key
        job.node_key = key
        self.seq = seq = self.seq + 1
        meta = job.meta
        meta["seq"] = seq
        if branch is not None:
            meta["branch"] = branch
        elif "branch" in meta:
            del meta["branch"]
        # The raw time slots: reading ``started_at`` would build a datetime (see records).
        if job._started is None:
            job._started = now
        if job.status != _PENDING:
            job._finished = now
        if self._jobs_by_key.get(key) is not job:
            self.execution.jobs.append(job)
            self._jobs_by_key[key] = job
        self.jobs_map[key] = job.result
        if self.on_flush is not None:
            self.unsaved[job.id] = job
        return job

    def flush(self) -> None:
        """Hand the jobs saved since the last flush to :attr:`on_flush`."""
        self.unsaved_effect = False
        if self.unsaved and self.on_flush is not None:
            jobs = list(self.unsaved.values())
            self.unsaved.clear()
            self.on_flush(jobs)

    # -- the loop ---------------------------------------------------------------------------
    def steps(self) -> Generator[Call, Any, Status]:
        """Run the execution to its end (or until it waits); return its status."""
        if self.instruments is not None:
            self.watch = self.instruments.run(self.workflow, self.execution)
            if self.watch is not None:
                return watched(self._steps(), self.watch, self.execution)
        return self._steps()

    def _steps(self) -> Generator[Call, Any, Status]:
        execution = self.execution
        # One clock read per node: the moment a node ends is when the next one starts.
        clock = self.clock.time
        monotonic = self.clock.monotonic
        mark = clock()
        if execution._started is None:
            execution._started = mark
        execution.status = Status.STARTED
        start = self._start()
        if isinstance(start, Status):
            return self._exit(start)
        kind, node, value = start
        deadline = self.deadline
        save = self._save
        cancels = self.cancels
        watch = self.watch
        while True:
            if cancels and execution.id in cancels:
                return self._cancel(cancels[execution.id])
            if deadline is not None and monotonic() >= deadline:
                if kind == _RUN:  # the node never starts; its job says why
                    self.save_job(node, Job(Status.ABORTED, {"message": f"{self.cap} reached "
                                                             "before this node started"}))
                return self._time_out()
            if self.node_runs >= self.max_node_runs:
                message = f"max_node_runs ({self.max_node_runs}) exceeded"
                self.save_job(node, Job(Status.ERROR, {"message": message}))
                return self._exit(Status.ERROR, None, node)
            self.node_runs += 1
            if watch is not None:
                watch.node(node, kind != _RUN)
            try:
                if kind == _RUN:
                    outcome: Any = node.impl.run(node, value, self)
                else:
                    outcome = node.impl.resume(node, value, self)
                if outcome.__class__ is not Job and isgenerator(outcome):
                    outcome = yield from self._effects(outcome)  # type: ignore[arg-type]
            except Exception as exc:
                outcome = self._error_job(node, exc, kind == _RESUME)
            job = outcome if outcome.__class__ is Job else _job_of(outcome)
            now = clock()
            if job._started is None:
                job._started = mark
            mark = now
            if deadline is not None and monotonic() >= deadline:
                # The node ended after the deadline: its result no longer counts.
                job.status = Status.ABORTED
                job.log = f"{self.cap} reached while this node ran; its result was discarded"
                save(node, job, None, now)
                return self._time_out()
            if kind == _RUN and (node.retry is not None or self._retrying):
                attempt = self._attempt(node, job)
                if attempt is not job:  # the waiting job of this attempt takes the outcome
                    job = attempt
                    if outcome.__class__ is Job:
                        outcome = job
                    else:
                        outcome.job = job
            if watch is not None:
                watch.stepped(node, job, isinstance(outcome, RunBranch))
            if node.retry is not None and kind == _RUN and outcome is job:
                wait = self._retry_wait(node, job)
                if wait is not None:
                    save(node, job, None, now)
                    retry = Job(_PENDING, None, meta={"attempt": job.meta["attempt"] + 1})
                    if execution.sync:  # a sync run waits here, within its budget
                        self._retrying[node.key] = retry
                        self.flush()
                        yield Call(self.clock.sleep, (wait,))
                        mark = clock()
                        continue
                    # An async run waits durably, as for a delay: the next attempt's job
                    # waits PENDING until it is due, in this process or another.
                    retry.meta["retryAt"] = now + wait
                    save(node, retry, None, now)
                    holder = waiting_holder(node)
                    if holder is None:
                        return Status.STARTED
                    kind, node, value = _RESUME, holder, retry
                    continue
            if outcome is not job:
                if isinstance(outcome, RunBranch):
                    save(node, job, outcome.index, now)
                    kind, node, value = _RUN, node.branches[outcome.index], job
                    continue
                if isinstance(outcome, Stop):
                    save(node, job, None, now)
                    return self._exit(outcome.status, now, node)
            save(node, job, None, now)
            status = job.status
            if status == _RESOLVED and node.downstream is not None:
                kind, node, value = _RUN, node.downstream, job
                continue
            if status == _PENDING:
                # The node waits (e.g. a timer). Inside a parallel, the parallel goes on with
                # its next branch meanwhile, as NocoBase's does; else the execution stays
                # STARTED until resumed.
                holder = waiting_holder(node)
                if holder is None:
                    return Status.STARTED
                kind, node, value = _RESUME, holder, job
                continue
            parent = node.parent
            if parent is None:
                return self._exit(status, now, node)
            kind, node, value = _RESUME, parent, job

    def _effects(self, node_steps: Generator[Call, Any, Outcome]) -> Generator[Call, Any, Outcome]:
        """Pass a node's effects to the driver, flushing saved jobs before each one that
        follows another (see :attr:`on_flush`)."""
        try:
            effect = next(node_steps)
            while True:
                if self.unsaved_effect:
                    self.flush()
                if self.watch is not None:
                    effect = self.watch.effect(effect)
                try:
                    value = yield effect
                except Exception as exc:
                    self.unsaved_effect = True
                    effect = node_steps.throw(exc)
                else:
                    self.unsaved_effect = True
                    effect = node_steps.send(value)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    def _error_job(self, node: CompiledNode, exc: Exception, resuming: bool) -> Job:
        """Turn an exception raised by a node into its ERROR job (the run goes on safely)."""
        message = str(exc) or type(exc).__name__
        log = "".join(traceback.format_exception(exc))
        self.logger.warning("execution %s: node %s raised %s: %s", self.execution.id, node.key,
                            type(exc).__name__, message, extra=fields(
                                self.execution.id, self.execution.workflow_key, node.key))
        own = self._jobs_by_key.get(node.key) if resuming else None
        if own is not None and own.status == Status.PENDING:
            own.status, own.result, own.log = Status.ERROR, {"message": message}, log
            return own
        return Job(Status.ERROR, {"message": message}, log)

    def _flushing(self) -> bool:
        return self.on_flush is not None

    def _exit(self, status: Status, now: float | None = None,
              node: CompiledNode | None = None) -> Status:
        # No flush here: the engine records the end (or the wait) with every job at once.
        execution = self.execution
        # A custom job status (100, -100) ends the execution with the status of its sign.
        execution.status = status
        ended = execution.status
        assert ended is not None
        if ended != Status.STARTED:
            execution._finished = self.clock.time() if now is None else now
            if ended != _RESOLVED and execution.reason is None and node is not None:
                execution.reason = f"node:{node.key}"
        return ended


def _job_of(outcome: Outcome) -> Job:
    if isinstance(outcome, Job):
        return outcome
    if isinstance(outcome, RunBranch | Stop):
        return outcome.job
    raise TypeError(f"a node returned {type(outcome).__name__}, not a Job")
