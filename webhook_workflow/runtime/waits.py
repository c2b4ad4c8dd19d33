"""How a run waits and is woken: the waiting nodes of an execution, retry attempts, stops.

An execution may wait at several nodes at once (the branches of a ``parallel``): each
waiting node has a PENDING job, due at its timer (a ``delay``), at its retry time
(``meta["retryAt"]``) or when ``engine.resume`` wakes it. :class:`Waiting` holds the part of
the processor that finds where a run starts (again, after an interruption or a wait), picks
the node to wake, numbers retry attempts, and ends a run that timed
out or was canceled; the functions answer the same questions for the engine, which releases
a waiting execution with its due time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, cast

from ..logs import fields
from ..records import Execution, Job
from ..status import Status

if TYPE_CHECKING:
    from ..clock import Clock
    from ..definition.compile import CompiledWorkflow
    from ..nodes.base import CompiledNode, RunContext

__all__ = ["Waiting", "due_at", "waiting_holder", "waiting_jobs", "wake_time"]

_RUN, _RESUME = 0, 1
_PENDING = Status.PENDING


class Waiting:
    """The waiting, retrying and stopping part of the processor (a mixin of it)."""

    __slots__ = ("timed_out",)

    execution: Execution
    workflow: CompiledWorkflow
    clock: Clock
    deadline: float | None
    expires_at: float | None
    cap: str
    logger: logging.Logger
    unsaved: dict[str, Job]
    _jobs_by_key: dict[str, Job]
    _retrying: dict[str, Job]

    def _exit(self, status: Status, now: float | None = None,
              node: CompiledNode | None = None) -> Status:
        raise NotImplementedError

    def _flushing(self) -> bool:
        raise NotImplementedError

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
                              last.node_key, workflow.version, extra=fields(
                                  self.execution.id, workflow.key, last.node_key))
            return Status.ERROR
        ancestor = node.parent
        while ancestor is not None:  # rebuild $scopes of the enclosing nodes (loops)
            own = self._jobs_by_key.get(ancestor.key)
            if own is not None:
                ancestor.impl.restore(ancestor, own, cast("RunContext", self))
            ancestor = ancestor.parent
        branch = last.meta.get("branch")
        if branch is not None and branch in node.branches:
            node.impl.restore(node, last, cast("RunContext", self))
            return _RUN, node.branches[branch], last
        if last.status == Status.PENDING:
            # A waiting node (a timer, a custom wait) is woken with its own job; with several
            # waiting (parallel branches), the one woken or due first.
            return self._wake(last)
        if last.status == Status.RESOLVED and node.downstream is not None:
            return _RUN, node.downstream, last
        if node.parent is not None:
            return _RESUME, node.parent, last
        return Status(last.status)

    def _attempt(self, node: CompiledNode, job: Job) -> Job:
        """The job of this attempt of a node that is retried (its policy, or a retry of the
        execution), numbered in its meta: the waiting job of the attempt, given the outcome."""
        retry = self._retrying.pop(node.key, None)
        if retry is None:
            if node.retry is not None:
                job.meta["attempt"] = 1
            return job
        retry.meta.pop("retryAt", None)
        retry.status, retry.result, retry.log = job.status, job.result, job.log
        retry._started = job._started
        return retry

    def _retry_wait(self, node: CompiledNode, job: Job) -> float | None:
        """Seconds to wait before the next attempt of ``node``, or None: no attempt is left,
        the status is not retried, or the next attempt could not start before the
        execution's deadline (its failure then stands)."""
        policy = node.retry
        attempt = int(job.meta["attempt"])
        if policy is None or not policy.retries(job.status, attempt):
            return None
        wait = policy.wait_ms(attempt) / 1000
        if self.execution.sync:
            if self.deadline is not None and self.clock.monotonic() + wait >= self.deadline:
                return None
        elif self.expires_at is not None and self.clock.time() + wait >= self.expires_at:
            return None
        return wait

    def _input_of(self, node: CompiledNode) -> Job | None:
        """The job a node runs with: its upstream node's, or its parent's at a branch head."""
        if node.upstream is not None:
            return self._jobs_by_key.get(node.upstream.key)
        if node.parent is not None:
            return self._jobs_by_key.get(node.parent.key)
        return None

    def _wake(self, last: Job) -> tuple[int, CompiledNode, Job | None] | Status:
        waiting = waiting_jobs(self.workflow, self._jobs_by_key.values())
        if not waiting:
            self.logger.error("execution %s: woken with no node waiting", self.execution.id)
            return Status.ERROR
        now = self.clock.time()

        def order(entry: tuple[CompiledNode, Job]) -> tuple[int, float, int]:
            node, job = entry
            due = due_at(node, job)
            if job.meta.get("woken"):
                return 0, 0.0, 0
            if due is not None and due <= now:
                return 1, due, 0
            return 2, 0.0, 0 if job is last else 1

        node, job = min(waiting, key=order)
        job.meta.pop("woken", None)
        ancestor = node.parent
        while ancestor is not None:  # the enclosing nodes' $scopes, for the woken branch
            own = self._jobs_by_key.get(ancestor.key)
            if own is not None:
                ancestor.impl.restore(ancestor, own, cast("RunContext", self))
            ancestor = ancestor.parent
        if "retryAt" in job.meta:  # a retry wait: the node runs again, as it first did
            self._retrying[node.key] = job
            return _RUN, node, self._input_of(node)
        return _RESUME, node, job


    def _cancel(self, reason: str) -> Status:
        """Stop before the next node: canceled while running (``engine.cancel``)."""
        self.logger.info("execution %s: canceled (%s)", self.execution.id, reason,
                         extra=fields(self.execution.id, self.execution.workflow_key))
        return self._stop(Status.CANCELED, reason)

    def _time_out(self) -> Status:
        """Stop: the execution's deadline (``options.timeout``, ``max_run_time``) passed."""
        self.timed_out = True
        self.logger.info("execution %s: %s reached, aborted", self.execution.id, self.cap,
                         extra=fields(self.execution.id, self.execution.workflow_key))
        return self._stop(Status.ABORTED, "timeout")

    def _stop(self, status: Status, reason: str) -> Status:
        # As NocoBase's abortExecution: every job still waiting (a delay, a custom wait, the
        # loops and parallels around them) ends with the execution.
        now = self.clock.time()
        for job in self._jobs_by_key.values():
            if job.status == _PENDING:
                job.status, job._finished = status, now
                if self._flushing():
                    self.unsaved[job.id] = job
        self.execution.reason = reason
        return self._exit(status, now)



def due_at(node: CompiledNode, job: Job) -> float | None:
    """When a waiting job is due (epoch seconds): its retry time, or its node's timer."""
    retry_at = job.meta.get("retryAt")
    if retry_at is not None:
        return float(retry_at)
    return node.impl.wake_at(node, job)


def waiting_holder(node: CompiledNode) -> CompiledNode | None:
    """The nearest enclosing node that goes on while one of its branches waits, or None."""
    ancestor = node.parent
    while ancestor is not None:
        if ancestor.impl.runs_while_waiting:
            return ancestor
        ancestor = ancestor.parent
    return None


def waiting_jobs(workflow: CompiledWorkflow, jobs: Iterable[Job]) -> list[tuple[CompiledNode,
                                                                               Job]]:
    """The nodes of an execution that wait to be woken, with their PENDING jobs.

    Only the latest job of each node counts; a branching node's own job (it waits for its
    branches) does not, nor does a node in a branch of a parallel that has already settled
    (its ``any``/``race`` outcome no longer depends on that branch).
    """
    latest: dict[str, Job] = {}
    for job in sorted(jobs, key=lambda j: j.meta.get("seq", 0)):
        latest[job.node_key] = job
    out: list[tuple[CompiledNode, Job]] = []
    for key, job in latest.items():
        if job.status != _PENDING or "branch" in job.meta:
            continue
        node = workflow.nodes.get(key)
        if node is None or node.impl.runs_while_waiting:
            continue
        holder = waiting_holder(node)
        while holder is not None:
            own = latest.get(holder.key)
            if own is None or own.status != _PENDING:
                break
            holder = waiting_holder(holder)
        if holder is None:
            out.append((node, job))
    return out


def wake_time(workflow: CompiledWorkflow, execution: Execution) -> float | None:
    """When the first of the waiting jobs of an execution is due, or its ``options.timeout``
    ends the wait (epoch seconds); None when nothing but a resume can wake it."""
    dues = [due for node, job in waiting_jobs(workflow, execution.jobs)
            if (due := due_at(node, job)) is not None]
    started = execution.started_at
    if workflow.timeout_ms and started is not None:
        # Woken when the timeout passes, it ends ABORTED (as NocoBase's timeout manager).
        dues.append(started.timestamp() + workflow.timeout_ms / 1000)
    return min(dues) if dues else None
