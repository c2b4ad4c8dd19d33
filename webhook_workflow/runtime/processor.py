"""The run loop of one execution, after NocoBase's Processor, written once for both doors.

NocoBase's processor recurses (``run`` → ``exec`` → next ``run`` ...). Here the loop is flat:
each step is either *run node N with input J* or *resume branching node P with the last job J
of one of its branches*, so a chain of 100 000 nodes needs no deep Python stack. The loop is a
generator that yields effects (see :mod:`.effects`) and is driven by a sync or an async driver.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Generator, Mapping
from inspect import isgenerator
from typing import TYPE_CHECKING, Any

from ..nodes.base import CompiledNode, Outcome, RunBranch, Stop
from .effects import Call
from .records import Execution, Job
from .status import Status

if TYPE_CHECKING:
    from ..definition.compile import CompiledWorkflow
    from ..http.response import CoreResponse

__all__ = ["Processor"]

logger = logging.getLogger("webhook_workflow.processor")

_RUN, _RESUME = 0, 1
_PENDING = Status.PENDING
_RESOLVED = Status.RESOLVED


class Processor:
    """Runs one execution of a compiled workflow.

    ``steps()`` is the generator drivers run. Node types reach the execution through this
    object: :meth:`render` a template against the node scope, :attr:`execution`,
    :attr:`response` (sync answer), :meth:`job_of` (a node's latest job).
    """

    __slots__ = (
        "_jobs_by_key",
        "cap",
        "deadline",
        "env",
        "execution",
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
        "timed_out",
        "timezone",
        "unsaved",
        "workflow",
    )

    def __init__(self, workflow: CompiledWorkflow, execution: Execution, *,
                 system: Mapping[str, Any], env: Mapping[str, Any],
                 max_node_runs: int = 100_000, log: logging.Logger | None = None,
                 timezone: str = "UTC", settings: Mapping[str, Any] | None = None) -> None:
        self.workflow = workflow
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
        if workflow.timeout_ms:
            self.deadline = time.monotonic() + workflow.timeout_ms / 1000
            self.cap = f"options.timeout ({workflow.timeout_ms} ms)"
        limit = self.settings.get("max_run_time")
        if limit:
            engine_deadline = time.monotonic() + float(limit)
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
        #: buffered and flushed before any effect (work with consequences outside the run)
        #: and when the run ends or waits, as NocoBase does: after a crash the run resumes
        #: after the last flushed job, so nodes since then run again (a node with effects
        #: that was interrupted, or had finished but was not flushed yet, too).
        self.on_flush: Callable[[list[Job]], None] | None = None
        self.unsaved: dict[str, Job] = {}
        self.logger = log or logger
        self.node_runs = 0
        #: The HTTP answer a Response node chose (sync workflows), else None.
        self.response: CoreResponse | None = None
        self.jobs_map: dict[str, Any] = {}
        self._jobs_by_key: dict[str, Job] = {}
        self.scopes: dict[str, Any] = {}
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

    def job_of(self, node: CompiledNode) -> Job | None:
        """The latest job of ``node`` in this execution."""
        return self._jobs_by_key.get(node.key)

    def save_job(self, node: CompiledNode, job: Job, branch: int | None = None) -> Job:
        """Record ``job`` as the latest job of ``node`` (a job saved again is updated);
        ``branch`` marks that the node's branch with that index starts next."""
        return self._save(node, job, branch, time.time())

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
        if self.unsaved and self.on_flush is not None:
            jobs = list(self.unsaved.values())
            self.unsaved.clear()
            self.on_flush(jobs)

    # -- the loop ---------------------------------------------------------------------------
    def steps(self) -> Generator[Call, Any, Status]:
        """Run the execution to its end (or until it waits); return its status."""
        execution = self.execution
        # One clock read per node: the moment a node ends is when the next one starts.
        clock = time.time
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
        while True:
            if deadline is not None and time.monotonic() >= deadline:
                # The node never starts; its job says why.
                self.save_job(node, Job(Status.ABORTED, {"message": f"{self.cap} reached "
                                                         "before this node started"}))
                return self._time_out()
            if self.node_runs >= self.max_node_runs:
                message = f"max_node_runs ({self.max_node_runs}) exceeded"
                self.save_job(node, Job(Status.ERROR, {"message": message}))
                return self._exit(Status.ERROR)
            self.node_runs += 1
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
            if deadline is not None and time.monotonic() >= deadline:
                # The node ended after the deadline: its result no longer counts.
                job.status = Status.ABORTED
                job.log = f"{self.cap} reached while this node ran; its result was discarded"
                save(node, job, None, now)
                return self._time_out()
            if outcome is not job:
                if isinstance(outcome, RunBranch):
                    save(node, job, outcome.index, now)
                    kind, node, value = _RUN, node.branches[outcome.index], job
                    continue
                if isinstance(outcome, Stop):
                    save(node, job, None, now)
                    return self._exit(outcome.status, now)
            save(node, job, None, now)
            status = job.status
            if status == _RESOLVED and node.downstream is not None:
                kind, node, value = _RUN, node.downstream, job
                continue
            if status == _PENDING:
                # The node waits (e.g. a timer); the execution stays STARTED until resumed.
                return Status.STARTED
            parent = node.parent
            if parent is None:
                return self._exit(status, now)
            kind, node, value = _RESUME, parent, job

    def _effects(self, node_steps: Generator[Call, Any, Outcome]) -> Generator[Call, Any, Outcome]:
        """Pass a node's effects to the driver, flushing saved jobs before each one."""
        try:
            effect = next(node_steps)
            while True:
                self.flush()
                try:
                    value = yield effect
                except Exception as exc:
                    effect = node_steps.throw(exc)
                else:
                    effect = node_steps.send(value)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    def _start(self) -> tuple[int, CompiledNode, Job | None] | Status:
        """Where the run starts: the head for a new execution; for one that was interrupted
        or waited, right after the job saved last (a saved node never runs again)."""
        workflow = self.workflow
        if not self._jobs_by_key:
            return Status.RESOLVED if workflow.head is None else (_RUN, workflow.head, None)
        last = max(self._jobs_by_key.values(), key=lambda j: j.meta.get("seq", 0))
        node = workflow.nodes.get(last.node_key)
        if node is None:
            self.logger.error("execution %s: node %s is not in version %s", self.execution.id,
                              last.node_key, workflow.version)
            return Status.ERROR
        ancestor = node.parent
        while ancestor is not None:  # rebuild $scopes of the enclosing nodes (loops)
            own = self._jobs_by_key.get(ancestor.key)
            if own is not None:
                ancestor.impl.restore(ancestor, own, self)
            ancestor = ancestor.parent
        branch = last.meta.get("branch")
        if branch is not None and branch in node.branches:
            node.impl.restore(node, last, self)
            return _RUN, node.branches[branch], last
        if last.status == Status.PENDING:
            return _RESUME, node, last  # a waiting node (timer) is woken with its own job
        if last.status == Status.RESOLVED and node.downstream is not None:
            return _RUN, node.downstream, last
        if node.parent is not None:
            return _RESUME, node.parent, last
        return Status(last.status)

    def _error_job(self, node: CompiledNode, exc: Exception, resuming: bool) -> Job:
        """Turn an exception raised by a node into its ERROR job (the run goes on safely)."""
        message = str(exc) or type(exc).__name__
        log = "".join(traceback.format_exception(exc))
        self.logger.warning("execution %s: node %s raised %s: %s", self.execution.id, node.key,
                            type(exc).__name__, message)
        own = self._jobs_by_key.get(node.key) if resuming else None
        if own is not None and own.status == Status.PENDING:
            own.status, own.result, own.log = Status.ERROR, {"message": message}, log
            return own
        return Job(Status.ERROR, {"message": message}, log)

    def _time_out(self) -> Status:
        self.timed_out = True
        self.logger.info("execution %s: %s reached, aborted", self.execution.id, self.cap)
        return self._exit(Status.ABORTED)

    def _exit(self, status: Status, now: float | None = None) -> Status:
        # No flush here: the engine records the end (or the wait) with every job at once.
        execution = self.execution
        execution.status = status
        if status != Status.STARTED:
            execution._finished = time.time() if now is None else now
        return status


def _job_of(outcome: Outcome) -> Job:
    if isinstance(outcome, Job):
        return outcome
    if isinstance(outcome, RunBranch | Stop):
        return outcome.job
    raise TypeError(f"a node returned {type(outcome).__name__}, not a Job")
