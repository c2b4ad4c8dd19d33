"""Errors a caller can catch.

Every error the library raises on purpose derives from :class:`WebhookWorkflowError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = [
    "DefinitionError",
    "DefinitionWarning",
    "ExpressionError",
    "InstanceNumbersExhausted",
    "NotRetryable",
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
    A definition is checked whole: :attr:`errors` lists every ``(path, reason)`` found, in
    document order, and the message has one line per error. :attr:`path` and :attr:`reason`
    are those of the first, so a definition with one error reads as it always did.
    """

    def __init__(self, path: str, message: str,
                 errors: Sequence[tuple[str, str]] | None = None) -> None:
        #: Every error found, ``(field path, reason)``; the first is ``(path, message)``.
        self.errors: list[tuple[str, str]] = list(errors) if errors else [(path, message)]
        self.path, self.reason = self.errors[0]
        super().__init__("\n".join(f"{p}: {r}" if p else r for p, r in self.errors))

    @classmethod
    def of(cls, errors: Iterable[DefinitionError]) -> DefinitionError:
        """One error holding every error of ``errors`` (which must not be empty), in order."""
        found = [item for error in errors for item in error.errors]
        if not found:
            raise ValueError("DefinitionError.of needs at least one error")
        return cls(found[0][0], found[0][1], found)

    def within(self, prefix: str) -> DefinitionError:
        """Return the same error with ``prefix`` put in front of every field path."""
        if not prefix:
            return self
        return DefinitionError("", "", [(_prefixed(prefix, path), reason)
                                        for path, reason in self.errors])


def _prefixed(prefix: str, path: str) -> str:
    if not path:
        return prefix
    if path.startswith("["):
        return prefix + path
    return f"{prefix}.{path}"


class DefinitionWarning(UserWarning):
    """A definition is valid but almost certainly not what its author meant (a ``{{`` that
    never closes, a ``$jobsMapByNodeKey`` key of no earlier node, a file without a ``key``).

    Issued with :func:`warnings.warn`, so a caller may filter it like any warning:
    ``warnings.simplefilter("error", DefinitionWarning)`` makes it an error, ``"ignore"``
    silences it. :attr:`path` is the field path it is about (may be empty) and :attr:`reason`
    what is likely wrong; :attr:`file` the definition's file, when it came from one.
    """

    def __init__(self, path: str, reason: str, file: str | None = None) -> None:
        self.path = path
        self.reason = reason
        self.file = file
        where = f"{path}: " if path else ""
        super().__init__(f"{file}: {where}{reason}" if file else f"{where}{reason}")


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


class NotRetryable(WebhookWorkflowError, ValueError):
    """``Engine.retry`` cannot retry this execution: it did not fail (it is RESOLVED, queued
    or running), its workflow version no longer compiles, or no node failed in it."""


class StoreUnavailable(WebhookWorkflowError):
    """The store cannot record an execution (queue full, disk full, database down)."""


class InstanceNumbersExhausted(StoreUnavailable):
    """Every instance number (0..1023) of a durable store is held by a live process, so this
    one cannot make ids that are unique among them."""
