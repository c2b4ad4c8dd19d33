"""Acting on executions after the fact: retry where they failed, recover in bulk, replay, cancel.

A retry reopens the execution *in place* (:mod:`~webhook_workflow.runtime.reopen`): the jobs
that RESOLVED stay and are not run again, the node that failed waits for its next attempt,
due at once, and the store hands the execution to a worker as for any due timer. The store
reopens it only while it still has the status it was read with, so two callers (two
processes running ``recover`` at once) never retry it twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from .errors import DefinitionError, NotRetryable
from .logs import fields
from .records import Execution
from .runtime.reopen import RETRYABLE, check_retryable, reopen
from .status import Status, status_from_value

if TYPE_CHECKING:
    from .clock import Clock
    from .definition.compile import CompiledWorkflow
    from .runtime.catalog import Catalog
    from .runtime.dispatcher import Dispatcher
    from .store.base import Store

__all__ = ["RecoveryHost", "cancel_execution", "cancel_if_asked", "recover_executions",
           "replay_execution", "resume_job", "retry_execution", "to_epoch"]

logger = logging.getLogger("webhook_workflow.recovery")


class RecoveryHost(Protocol):
    """What a retry needs of the engine (which satisfies it)."""

    @property
    def store(self) -> Store:
        """Where the execution is read and reopened."""

    @property
    def catalog(self) -> Catalog:
        """The workflow versions, compiled (also ones only the store still knows)."""

    @property
    def dispatcher(self) -> Dispatcher:
        """Wakes the workers."""

    @property
    def clock(self) -> Clock:
        """Where the time is read: a retried execution is due now on it."""

    def start(self) -> None:
        """Start the workers."""

    def run_to_end(self, workflow: CompiledWorkflow, execution: Execution, *,
                   durable: bool = False) -> Any:
        """Run an execution in this thread and record its end."""


def to_epoch(value: datetime | float | int | None, name: str) -> float | None:
    """A ``since``/``until`` argument as epoch seconds (an aware datetime, or a number)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{name}: give an aware datetime (with a time zone)")
        return value.timestamp()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name}: give a datetime or epoch seconds, not {value!r}")
    return float(value)


def _workflow(host: RecoveryHost, execution: Execution) -> CompiledWorkflow:
    catalog = host.catalog
    try:
        if execution.workflow_key not in catalog.current:
            catalog.adopt(execution.workflow_key)
    except DefinitionError as exc:
        raise NotRetryable(f"execution {execution.id}: workflow {execution.workflow_key!r} "
                           f"does not compile here: {exc}") from None
    workflow = catalog.version(execution.workflow_key, execution.version)
    if workflow is None:
        raise NotRetryable(f"execution {execution.id}: version {execution.version} of "
                           f"workflow {execution.workflow_key!r} is not registered here or no "
                           "longer compiles")
    return workflow


def retry_execution(host: RecoveryHost, execution_id: str) -> Execution:
    """Reopen a FAILED, ERROR or ABORTED execution where it failed; return it, waiting."""
    execution = host.store.get(str(execution_id))
    if execution is None:
        raise KeyError(execution_id)
    expected = check_retryable(execution)
    workflow = _workflow(host, execution)
    now = host.clock.time()
    waiting = reopen(workflow, execution, now)
    if not host.store.reopen(execution, expected, now):
        raise NotRetryable(f"execution {execution.id} changed while it was being retried "
                           "(retried or removed meanwhile)")
    logger.info("execution %s: retried from %s", execution.id,
                ", ".join(job.node_key for job in waiting),
                extra=fields(execution.id, execution.workflow_key))
    host.start()
    host.dispatcher.notify()
    return host.store.get(execution.id) or execution


def recover_executions(host: RecoveryHost, *, workflow_key: str | None,
                       statuses: Iterable[Status | int | str],
                       since: float | None, until: float | None, limit: int,
                       dry_run: bool) -> list[str]:
    """Retry every matching execution once; the ids retried (or, dry, that would be)."""
    wanted: set[Status] = {status_from_value(s) for s in statuses}
    refused = wanted - RETRYABLE
    if refused:
        names = ", ".join(sorted(s.name for s in refused))
        raise ValueError(f"statuses: only FAILED, ERROR and ABORTED can be retried, not {names}")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValueError(f"limit: give a whole number >= 0, not {limit!r}")
    found: list[Execution] = []
    for status in sorted(wanted):
        found += host.store.list(workflow_key, status=status, limit=limit, since=since,
                                 until=until)
    found.sort(key=lambda e: e.created_at)  # the oldest first, as they came in
    done: list[str] = []
    for execution in found[:limit]:
        if dry_run:
            done.append(execution.id)
            continue
        try:
            retry_execution(host, execution.id)
        except (NotRetryable, KeyError) as exc:
            logger.warning("recover: execution %s not retried: %s", execution.id, exc,
                           extra=fields(execution.id, execution.workflow_key))
            continue
        done.append(execution.id)
    return done



def cancel_execution(host: RecoveryHost, execution_id: str, by: str | None) -> bool:
    """Cancel a queued or waiting execution at once, or ask the process running it to stop
    it before its next node (``Engine.cancel``)."""
    reason = "manual_cancel" if not by else f"manual_cancel:{by}"
    if host.store.cancel(execution_id, reason) is not None:
        return True
    if not host.store.request_cancel(execution_id, reason):
        return False
    if execution_id in host.dispatcher.running:  # ours: no need to wait for the heartbeat
        host.dispatcher.cancels[execution_id] = reason
    return True


def cancel_if_asked(host: RecoveryHost, execution_id: str) -> None:
    """After a run began to wait: a cancel asked while it ran, not seen before, ends it."""
    asked = host.dispatcher.cancels.pop(execution_id, None) or \
        host.store.cancel_requests([execution_id]).get(execution_id)
    if asked is not None:
        host.store.cancel(execution_id, asked)


def replay_execution(host: RecoveryHost, execution_id: str) -> Execution:
    """Run a recorded execution's context again as a new execution (``Engine.replay``)."""
    original = host.store.get(str(execution_id))
    if original is None:
        raise KeyError(execution_id)
    workflow = host.catalog.current.get(original.workflow_key) or \
        host.catalog.adopt(original.workflow_key)
    if workflow is None:
        raise KeyError(original.workflow_key)
    host.start()
    if not workflow.sync:
        queued = Execution(workflow.key, workflow.version, original.context,
                           replay_of=original.id)
        if workflow.flow is not None:  # the request's own headers are gone
            queued.flow = workflow.flow.mark({"$context": original.context, "$headers": {}},
                                             host.clock.time())
        host.store.add(queued)
        host.dispatcher.notify()
        return queued
    execution = Execution(workflow.key, workflow.version, original.context,
                          status=Status.STARTED, sync=True, started_at=host.clock.time(),
                          replay_of=original.id)
    host.store.add(execution)
    host.run_to_end(workflow, execution)
    return host.store.get(execution.id) or execution


def resume_job(host: RecoveryHost, execution_id: str, node_key: str, result: Any) -> bool:
    """``Engine.resume``: hand ``result`` to the PENDING job of ``node_key`` and wake the
    execution; False when no such job is waiting."""
    execution = host.store.get(execution_id)
    if execution is None or execution.status != Status.STARTED or execution.sync:
        return False
    waiting = [j for j in execution.jobs
               if j.node_key == node_key and j.status == Status.PENDING]
    if not waiting:
        return False
    job = waiting[-1]
    job.result = result
    # Marks which node was woken: parallel branches may have several waiting.
    job.meta["woken"] = True
    if not host.store.wake(execution.id, job):
        return False
    host.start()
    host.dispatcher.notify()
    return True
