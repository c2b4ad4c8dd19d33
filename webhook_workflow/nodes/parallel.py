"""``parallel``: run branches 0..n-1 and combine their statuses by ``mode``.

Branches start one after the other in this process (as in NocoBase, where a branch that
waits lets the next one start); ``mode`` decides whether the next branch starts and what the
node's status is. The result is the list of branch statuses, ``null`` for branches not run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from ..definition.fields import Field, one_of
from ..runtime.records import Job
from ..runtime.status import Status
from .base import CompiledNode, NodeType, Outcome, RunBranch

if TYPE_CHECKING:
    from ..runtime.processor import Processor

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
    done = [s for s in statuses if s is not None]
    pending = len(done) < len(statuses)
    if mode == "all":
        failed = next((s for s in done if s < 0), None)
        if failed is not None:
            return Status(failed)
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
            return Status(failed)
        return None if pending else Status.RESOLVED
    return None if pending else Status.RESOLVED


class ParallelNode(NodeType):
    """Run every branch (index order) and combine their outcomes."""

    type_name = "parallel"
    summary = "runs branches 0..n-1; mode all / any / race / allSettled decides the status"
    open_branches: ClassVar[bool] = True
    fields = (
        Field("mode", one_of("all", "any", "race", "allSettled"), "all",
              "all: every branch must succeed; any: one must; race: the first to finish "
              "decides; allSettled: run all, then continue"),
    )

    def run(self, node: CompiledNode, prev: Job | None, proc: Processor) -> Outcome:
        order = sorted(node.branches)
        if not order:
            return Job(Status.RESOLVED, [])
        return RunBranch(Job(Status.PENDING, [None] * len(order)), order[0])

    def resume(self, node: CompiledNode, job: Job | None, proc: Processor) -> Outcome:
        own = proc.job_of(node)
        if own is None or job is None:
            raise ValueError("parallel resumed without its own job")
        order = sorted(node.branches)
        statuses: list[int | None] = list(own.result)
        position = statuses.index(None)
        statuses[position] = int(job.status)
        own.result = statuses
        mode = node.config["mode"]
        final = _settle(mode, statuses)
        if final is None and _next_allowed(mode, int(job.status)):
            return RunBranch(own, order[position + 1])
        if final is None:  # the gate closed before every branch ran
            final = _settle(mode, [s if s is not None else int(job.status) for s in statuses])
        own.status = final or Status.RESOLVED
        return own
