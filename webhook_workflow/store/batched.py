"""The part durable stores share: ``add`` as a wait on ``add_later``.

SQLite and PostgreSQL commit concurrent writes together; ``add_later`` returns the future of
that commit (what an ASGI door awaits), and ``add`` simply waits for it.
"""

from __future__ import annotations

from concurrent.futures import Future

from ..records import Execution
from .base import Idempotency, IdempotencyRecord

__all__ = ["CommitsLater"]


class CommitsLater:
    """Base class of stores whose writes complete after a shared commit."""

    def add_later(self, execution: Execution, idempotency: Idempotency | None = None
                  ) -> Future[IdempotencyRecord | None]:
        """Queue the insert of ``execution``; the future completes once it is committed. With
        ``idempotency`` its result is the earlier delivery's record when the key was seen
        (nothing inserted)."""
        raise NotImplementedError

    def add(self, execution: Execution,
            idempotency: Idempotency | None = None) -> IdempotencyRecord | None:
        """Insert ``execution`` and wait for its commit (see :meth:`add_later`)."""
        result: IdempotencyRecord | None = self.add_later(execution, idempotency).result()
        return result
