"""The :class:`Store` protocol: where executions are recorded, queued, claimed and kept."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ..records import Execution, Job
from ..status import Status

__all__ = ["Idempotency", "IdempotencyRecord", "Store"]


@dataclass(frozen=True, slots=True)
class Idempotency:
    """Remember ``key`` of ``workflow_key`` for ``ttl`` seconds with the execution being added;
    ``answer`` is the HTTP answer already known (async), or None until it is (sync).
    ``replaces`` takes over a key whose execution ended without an answer (its process died):
    the store replaces the key only while it still names that execution and has no answer,
    atomically, so of many redeliveries exactly one takes it over."""

    workflow_key: str
    key: str
    ttl: float
    answer: dict[str, Any] | None = None
    replaces: str | None = None

    def takes_over(self, record: IdempotencyRecord) -> bool:
        """Whether this delivery may take the key of ``record`` (unexpired) over."""
        return record.answer is None and record.execution_id == self.replaces


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """A key seen before: the execution it created and the answer it got (None: running)."""

    execution_id: str
    answer: dict[str, Any] | None
    expires_at: float


@runtime_checkable
class Store(Protocol):
    """Records executions. Implementations must be safe to call from several threads.

    ``add`` must have recorded the execution when it returns (an async webhook is acknowledged
    right after it) or raise :class:`~webhook_workflow.errors.StoreUnavailable`.
    """

    def add(self, execution: Execution,
            idempotency: Idempotency | None = None) -> IdempotencyRecord | None:
        """Record a new execution (queued when its status is None, else started).

        With ``idempotency``, atomically: when the key is remembered (and not expired, and not
        taken over by ``idempotency.replaces``) nothing is added and its record is returned;
        else the execution is added, the key remembered and None returned."""

    def remember(self, workflow_key: str, key: str, answer: dict[str, Any]) -> None:
        """Store the HTTP answer of the execution a remembered key created."""

    def claim(self, owner: str, workflow_keys: Collection[str],
              lease: float = 30.0) -> Execution | None:
        """Atomically take the oldest runnable execution of one of ``workflow_keys``: a queued
        one, a waiting one whose timer is due, or a started async one whose lease expired (its
        process died). The claim holds for ``lease`` seconds unless renewed."""

    def save(self, execution: Execution) -> None:
        """Write an execution's current state (status, jobs, output, response, times)."""

    def get(self, execution_id: str) -> Execution | None:
        """One execution with its jobs, or None."""

    def list(self, workflow_key: str | None = None, *, status: Status | str | None = None,
             limit: int = 50, since: float | None = None,
             until: float | None = None) -> list[Execution]:
        """Executions newest first; ``status`` is a Status or ``"queued"``; ``since`` and
        ``until`` (epoch seconds) bound ``created_at``: since <= created_at < until."""

    def delete(self, execution_id: str) -> bool:
        """Forget an execution; True if it existed."""

    def reopen(self, execution: Execution, expected: Status, wake_at: float) -> bool:
        """Store ``execution`` (a finished one, changed to wait again: ``Engine.retry``) as
        waiting, due at ``wake_at`` (epoch seconds), with its jobs, atomically and only while
        its stored status is still ``expected``; False when it is not (retried meanwhile)."""

    def cancel(self, execution_id: str, reason: str = "manual_cancel") -> Execution | None:
        """Mark a queued (or waiting) execution CANCELED (and finished) with ``reason``
        atomically; return it, or None if it was not queued or waiting."""

    def queued_count(self, workflow_keys: Collection[str] | None = None) -> int:
        """How many executions (of ``workflow_keys``, or of any workflow) wait in the queue."""

    def save_version(self, key: str, digest: str, definition: dict[str, Any]) -> int:
        """Record a workflow version; return its number (the latest version's number when
        ``digest`` equals the latest digest of ``key``, else the next number)."""

    def latest_version(self, key: str) -> int | None:
        """The number of the latest recorded version of ``key``, or None."""

    def load_version(self, key: str, version: int) -> dict[str, Any] | None:
        """The canonical definition of a recorded version, or None."""

    def save_jobs(self, execution: Execution, jobs: Sequence[Job]) -> None:
        """Write jobs of a running execution (insert or update), so a run interrupted by a
        crash resumes after its last saved job."""

    def release(self, execution: Execution, wake_at: float | None) -> None:
        """Give a waiting execution back: nobody owns it until ``wake_at`` (epoch seconds);
        a worker then claims it again and resumes its pending job."""

    def detach(self, execution: Execution, owner: str, lease: float) -> None:
        """A sync execution past ``options.syncWait`` goes on in the background: record it as
        an async one owned by ``owner`` (so it resumes elsewhere if this process dies)."""

    def wake(self, execution_id: str, job: Job | None = None) -> bool:
        """Make a waiting execution due now (``engine.resume``), writing ``job`` (its pending
        job with the new result) in the same step; False, and nothing written, if it is not
        waiting."""

    def renew(self, owner: str, execution_ids: Collection[str], lease: float) -> None:
        """Extend the lease of executions ``owner`` runs."""

    def request_cancel(self, execution_id: str, reason: str) -> bool:
        """Ask whichever process runs ``execution_id`` to cancel it before its next node;
        False when it is not running (queued and waiting ones are for :meth:`cancel`)."""

    def record_callback(self, execution_id: str, node_key: str, payload: Any) -> bool:
        """Record the one call of a callback node's resume URL; False when one was
        recorded before (the URL is single-use)."""

    def callbacks_of(self, execution_id: str) -> dict[str, Any]:
        """The calls recorded for an execution's callback nodes, by node key."""

    def shared_secret(self) -> bytes:
        """A random key made once per store, the same for every process that opens it
        (resume URLs are signed with it)."""

    def cancel_requests(self, execution_ids: Collection[str]) -> dict[str, str]:
        """The reasons of the cancels asked for (:meth:`request_cancel`) of these running
        executions."""

    def close(self) -> None:
        """Release resources."""
