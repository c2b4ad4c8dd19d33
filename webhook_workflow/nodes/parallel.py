"""``parallel``: run branches 0..n-1 and combine their statuses by ``mode``.

Branches start one after the other, in index order. A branch that waits (a ``delay``, a
custom node's PENDING job) hands control back, so the next branch starts meanwhile, as in
NocoBase; the waiting branch goes on when it is woken. ``mode`` decides whether the next
branch starts after one that ended and what the node's status is. The result is the list of
branch statuses, ``null`` for branches not run or still waiting.
"""

from __future__ import annotations

from typing import ClassVar

from ..fields import Field, one_of
from ..records import Job
from ..status import Status, job_status
from .base import CompiledNode, NodeType, Outcome, RunBranch, RunContext

__all__ = ["ParallelNode"]


def _next_allowed(mode: str, previous: int) -> bool:
    """May the next branch start after one that ended with ``previous``? (NocoBase's gate)"""
    if mode == "all":
        return previous >= 0
    if mode == "any":
        return previous <= 0
    if mode == "race":
        return previous == 0
    return True  # allSettled


def _settle(mode: str, statuses: list[int | None]) -> Status | None:
    """The node's final status, or None when more branches must run."""
    # 0 is a branch that waits (NocoBase's getStatus counts it with the ones not run).
    done = [s for s in statuses if s]
    pending = len(done) < len(statuses)
    if mode == "all":
        failed = next((s for s in done if s < 0), None)
        if failed is not None:
            return job_status(failed)
        return None if pending else Status.RESOLVED
    if mode == "any":
        if any(s == Status.RESOLVED for s in done):
            return Status.RESOLVED
        return None if pending else Status.FAILED
    if mode == "race":
        if any(s == Status.RESOLVED for s in done):
            return Status.RESOLVED
        failed = next((s for s in done if s < 0), None)
        if failed is not None:
            return job_status(failed)
        return None if pending else Status.RESOLVED
    return None if pending else Status.RESOLVED


class ParallelNode(NodeType):
    """Run every branch (index order) and combine their outcomes."""

    type_name = "parallel"
    summary = "runs branches 0..n-1; mode all / any / race / allSettled decides the status"
    open_branches: ClassVar[bool] = True
    runs_while_waiting: ClassVar[bool] = True
    fields = (
        Field("mode", one_of("all", "any", "race", "allSettled"), "all",
              "all: every branch must succeed; any: one must; race: the first to finish "
              "decides; allSettled: run all, then continue"),
    )

    def run(self, node: CompiledNode, prev: Job | None, proc: RunContext) -> Outcome:
        order = sorted(node.branches)
        if not order:
            return Job(Status.RESOLVED, [])
        own = Job(Status.PENDING, [None] * len(order))
        own.meta["started"] = 1
        return RunBranch(own, order[0])

    def reopen(self, node: CompiledNode, own: Job, inner: CompiledNode) -> None:
        order = sorted(node.branches)
        if inner.branch in order and isinstance(own.result, list):
            statuses = list(own.result)
            statuses[order.index(inner.branch)] = None  # that branch has not ended now
            own.result = statuses
        own.status = Status.PENDING

    def resume(self, node: CompiledNode, job: Job | None, proc: RunContext) -> Outcome:
        own = proc.job_of(node)
        if own is None or job is None:
            raise ValueError("parallel resumed without its own job")
        order = sorted(node.branches)
        position = order.index(_branch_of(node, job, proc))
        started = int(own.meta.get("started", position + 1))
        mode = node.config["mode"]
        if job.status == Status.PENDING:
            # The branch waits: start the next one meanwhile (every mode's gate lets a
            # waiting branch through), or wait for the branches already started.
            waiter = proc.node(job.node_key)
            if waiter.parent is node and waiter.impl.reports_waiting:
                waiting = list(own.result)
                waiting[position] = 0
                own.result = waiting
            if position == started - 1 and started < len(order):
                own.meta["started"] = started + 1
                return RunBranch(own, order[started])
            return own
        statuses: list[int | None] = list(own.result)
        statuses[position] = int(job.status)
        own.result = statuses
        final = _settle(mode, statuses)
        if final is None and position == started - 1 and started < len(order):
            if _next_allowed(mode, int(job.status)):
                own.meta["started"] = started + 1
                return RunBranch(own, order[started])
            # The gate closed before every branch ran: they count as this one ended.
            final = _settle(mode, [int(job.status) if i >= started else s
                                   for i, s in enumerate(statuses)])
        if final is None:
            own.status = Status.PENDING  # branches started earlier still wait
            return own
        own.status = final
        return own


def _branch_of(node: CompiledNode, job: Job, proc: RunContext) -> int:
    """The index of the branch of ``node`` that holds the node which saved ``job``."""
    inner: CompiledNode | None = proc.node(job.node_key)
    while inner is not None and inner.parent is not node:
        inner = inner.parent
    if inner is None or inner.branch is None:
        raise ValueError(f"job of {job.node_key!r} is not in a branch of {node.key!r}")
    return inner.branch
