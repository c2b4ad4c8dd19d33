"""Reopening a failed execution where it failed: the plan ``Engine.retry`` stores.

The node whose failure ended the execution (its *origin*) is found by following the failure
up the way the processor passed it: each branching node saved its own job right after the
last job of the failing branch (consecutive ``seq``), so from the job saved last, down
through jobs saved just before by a node inside it, the walk ends at the node that failed by
itself. The branching nodes around it are reopened (a loop counts the iteration as not run, a
parallel its branch as not ended, a condition takes back the status it passed on), and the
origin's next attempt waits PENDING, due at once, exactly like a retry wait: a worker takes
it and the run goes on from there. Nodes that had RESOLVED keep their jobs and do not run
again; the failed jobs stay in the log, and the waiting job remembers the ending it undoes.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from ..errors import NotRetryable
from ..records import Execution, Job
from ..status import Status, execution_status_name

if TYPE_CHECKING:
    from ..definition.compile import CompiledWorkflow
    from ..nodes.base import CompiledNode

__all__ = ["RETRYABLE", "check_retryable", "reopen"]

#: The final statuses an execution can be retried from.
RETRYABLE = frozenset({Status.FAILED, Status.ERROR, Status.ABORTED})
_FINE = frozenset({int(Status.RESOLVED), int(Status.PENDING)})


def _seq(job: Job) -> int:
    return int(job.meta.get("seq", 0))


def _inside(node: CompiledNode, ancestor: CompiledNode) -> bool:
    parent = node.parent
    while parent is not None:
        if parent is ancestor:
            return True
        parent = parent.parent
    return False


def _origins(workflow: CompiledWorkflow, execution: Execution) -> list[Job]:
    """The jobs whose own failure ended ``execution`` (several after a timeout: every node
    that was waiting then)."""
    jobs = [j for j in execution.jobs if j.node_key in workflow.nodes]
    if not jobs:
        return []
    by_seq = {_seq(j): j for j in jobs}
    last = max(jobs, key=_seq)
    while True:  # down the chain of branching nodes the failure was passed through
        below = by_seq.get(_seq(last) - 1)
        if below is None or int(below.status) in _FINE or not _inside(
                workflow.nodes[below.node_key], workflow.nodes[last.node_key]):
            break
        last = below
    origins = [last] if int(last.status) not in _FINE else []
    if execution.reason == "timeout":  # the nodes still waiting then ended ABORTED too
        latest: dict[str, Job] = {}
        for job in sorted(jobs, key=_seq):
            latest[job.node_key] = job
        for job in latest.values():
            node = workflow.nodes[job.node_key]
            if job.status == Status.ABORTED and job is not last and not node.branches:
                origins.append(job)
    return origins


def check_retryable(execution: Execution) -> Status:
    """The final status of an execution that can be retried; else NotRetryable."""
    status = execution.status
    if status not in RETRYABLE:
        raise NotRetryable(f"execution {execution.id} is {execution_status_name(status)}; "
                           "only FAILED, ERROR and ABORTED executions can be retried")
    assert status is not None
    return status


def reopen(workflow: CompiledWorkflow, execution: Execution, now: float) -> list[Job]:
    """Change ``execution`` (a copy the caller then stores) so that it waits at the node
    where it failed, due at ``now`` (epoch seconds); return the jobs that wait.

    Raises :class:`~webhook_workflow.errors.NotRetryable` when the execution did not fail,
    or when no node of its version failed in it.
    """
    status = check_retryable(execution)
    origins = _origins(workflow, execution)
    if not origins:
        raise NotRetryable(f"execution {execution.id}: no node of version "
                           f"{execution.version} failed in it, so there is nothing to retry "
                           "from (use replay to run it again from the start)")
    latest: dict[str, Job] = {}
    for job in sorted(execution.jobs, key=_seq):
        latest[job.node_key] = job
    ended = {"status": int(status),
             "reason": execution.reason,
             "startedAt": _iso(execution.started_at),
             "finishedAt": _iso(execution.finished_at)}
    reopened: set[str] = set()
    waiting: list[Job] = []
    seq = max(_seq(j) for j in execution.jobs)
    for origin in origins:
        node = workflow.nodes[origin.node_key]
        inner, ancestor = node, node.parent
        while ancestor is not None:
            own = latest.get(ancestor.key)
            if own is not None and ancestor.key not in reopened:
                reopened.add(ancestor.key)
                ancestor.impl.reopen(ancestor, own, inner)
            inner, ancestor = ancestor, ancestor.parent
        seq += 1
        attempt = int(origin.meta.get("attempt", 1)) + 1
        job = Job(Status.PENDING, None, node_key=node.key, started_at=now,
                  meta={"seq": seq, "attempt": attempt, "retryAt": now, "retryOf": ended})
        execution.jobs.append(job)
        waiting.append(job)
    execution.status = Status.STARTED
    # options.timeout counts from the retry: the time the execution spent failed is not
    # the run's (the earlier ending is in the waiting job's retryOf).
    execution.started_at = now
    execution.finished_at = None
    execution.reason = None
    execution.sync = False  # whoever asked for it is gone: the workers run it
    return waiting


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
