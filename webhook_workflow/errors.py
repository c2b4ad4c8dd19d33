"""Errors a caller can catch.

Every error the library raises on purpose derives from :class:`WebhookWorkflowError`.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "DefinitionError",
    "ExpressionError",
    "RequestRejected",
    "StoreUnavailable",
    "TemplateError",
    "WebhookWorkflowError",
]


class WebhookWorkflowError(Exception):
    """Base class of every error raised by webhook_workflow."""


class DefinitionError(WebhookWorkflowError, ValueError):
    """A workflow definition is invalid.

    The message starts with the offending field path, e.g.
    ``nodes[0].config.statusCode: must be 200..599``; the path alone is in :attr:`path`.
    """

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.reason = message
        super().__init__(f"{path}: {message}" if path else message)

    def within(self, prefix: str) -> DefinitionError:
        """Return the same error with ``prefix`` put in front of its field path."""
        if not prefix:
            return self
        if not self.path:
            joined = prefix
        elif self.path.startswith("["):
            joined = prefix + self.path
        else:
            joined = f"{prefix}.{self.path}"
        return DefinitionError(joined, self.reason)


class TemplateError(WebhookWorkflowError, ValueError):
    """A ``{{ ... }}`` template is malformed (raised when it is compiled).

    ``where`` locates the bad string inside the compiled value (``items[0].name``; empty
    for the value itself); ``reason`` is the message without that location.
    """

    def __init__(self, message: str, where: str = "") -> None:
        self.where = where
        self.reason = message
        super().__init__(f"{where}: {message}" if where else message)


class ExpressionError(WebhookWorkflowError, ValueError):
    """An expression cannot be parsed or evaluated."""


class RequestRejected(WebhookWorkflowError):
    """The HTTP checks refuse a request: answer ``status`` with the standard error body.

    Raised by the sans-IO checks and turned into a response by the engine; ``headers`` are
    extra response headers such as ``Allow`` or ``WWW-Authenticate``.
    """

    def __init__(
        self, status: int, message: str, headers: Sequence[tuple[str, str]] = ()
    ) -> None:
        self.status = status
        self.message = message
        self.headers = tuple(headers)
        super().__init__(f"{status} {message}")


class StoreUnavailable(WebhookWorkflowError):
    """The store cannot record an execution (queue full, disk full, database down)."""
