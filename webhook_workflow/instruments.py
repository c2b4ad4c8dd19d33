"""Observability hooks: the :class:`Instruments` an engine calls, doing nothing unless installed.

The engine holds one :class:`Instruments` object and calls it at a handful of points: a
webhook request arrives and is answered (the doors), an execution is about to be recorded
(the runs), a run of an execution starts, runs each node step and ends (the processor), a
store call fails. The default, :data:`NO_INSTRUMENTS`, answers every call with ``None``, so
an engine nobody observes pays one method call per request and one per run, and nothing per
node: the run loop only calls a :class:`RunWatch` it was given.

:mod:`webhook_workflow.tracing` (OpenTelemetry) and :mod:`webhook_workflow.metrics`
(Prometheus) implement these hooks; :func:`combine` lets both observe one engine, and any
other implementation (statsd, a test recorder ...) may subclass :class:`Instruments`.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from .definition.compile import CompiledWorkflow
    from .http.headers import RequestHeaders
    from .nodes.base import Call, CompiledNode
    from .records import Execution, Job

__all__ = ["NO_INSTRUMENTS", "Instruments", "RequestWatch", "RunWatch", "combine", "parts",
           "watched"]

T = TypeVar("T")


class RequestWatch(Protocol):
    """One webhook request being answered, as :meth:`Instruments.request` started it."""

    def answered(self, status: int | None) -> None:
        """The door sent an answer with ``status``; None when none was sent (the client
        went away before its body was read)."""


class RunWatch(Protocol):
    """One run of an execution (from a start or a resume until it ends or waits)."""

    def node(self, node: CompiledNode, resuming: bool) -> None:
        """A node step begins: ``node`` runs, or (``resuming``) is resumed, e.g. a loop
        after one of its branches, or a waiting node that was woken."""

    def effect(self, effect: Call) -> Call:
        """The node being stepped yields ``effect`` to the driver; the call to perform
        instead (the same one, or one that wraps it)."""

    def stepped(self, node: CompiledNode, job: Job, branching: bool) -> None:
        """The step of ``node`` ended with ``job``; ``branching``: it went into one of its
        branches, so the node's job goes on after them."""

    def spawned(self, child: Execution) -> None:
        """The node being stepped started ``child`` (a ``subflow``), not recorded yet."""

    def ended(self, execution: Execution, error: BaseException | None) -> None:
        """The run ended: ``execution.status`` is its end, or STARTED when it waits; with
        ``error`` when the run loop raised it (the engine records it as an ERROR)."""


class Instruments:
    """The hooks, as no-ops: subclass and override the ones you observe."""

    __slots__ = ()

    def request(self, method: str, scheme: str, path: str, key: str,
                headers: RequestHeaders) -> RequestWatch | None:
        """A webhook request for workflow ``key`` arrived at ``path`` (its head was read);
        a watch to tell of its answer, or None."""
        return None

    def recording(self, execution: Execution) -> None:
        """``execution`` is about to be recorded for the first time (a webhook delivery,
        :meth:`~webhook_workflow.engine.Engine.execute`), in the caller's context."""
        return None

    def run(self, workflow: CompiledWorkflow, execution: Execution) -> RunWatch | None:
        """A run of ``execution`` begins; a watch of its steps, or None."""
        return None

    def store_error(self, operation: str, error: BaseException) -> None:
        """A store call failed: ``add`` (recording a delivery), ``claim``, ``renew``."""
        return None


#: The engine's instruments when nobody installed any.
NO_INSTRUMENTS = Instruments()


class _Requests:
    __slots__ = ("watches",)

    def __init__(self, watches: Sequence[RequestWatch]) -> None:
        self.watches = watches

    def answered(self, status: int | None) -> None:
        # The last started ends first, as nested spans and timers do.
        for watch in reversed(self.watches):
            watch.answered(status)


class _Runs:
    __slots__ = ("watches",)

    def __init__(self, watches: Sequence[RunWatch]) -> None:
        self.watches = watches

    def node(self, node: CompiledNode, resuming: bool) -> None:
        for watch in self.watches:
            watch.node(node, resuming)

    def effect(self, effect: Call) -> Call:
        for watch in self.watches:
            effect = watch.effect(effect)
        return effect

    def stepped(self, node: CompiledNode, job: Job, branching: bool) -> None:
        for watch in reversed(self.watches):
            watch.stepped(node, job, branching)

    def spawned(self, child: Execution) -> None:
        for watch in self.watches:
            watch.spawned(child)

    def ended(self, execution: Execution, error: BaseException | None) -> None:
        for watch in reversed(self.watches):
            watch.ended(execution, error)


class _Combined(Instruments):
    """Several instruments observing one engine, called in order."""

    __slots__ = ("parts",)

    def __init__(self, parts: Sequence[Instruments]) -> None:
        self.parts = tuple(parts)

    def request(self, method: str, scheme: str, path: str, key: str,
                headers: RequestHeaders) -> RequestWatch | None:
        watches = [w for p in self.parts
                   if (w := p.request(method, scheme, path, key, headers)) is not None]
        return _Requests(watches) if watches else None

    def recording(self, execution: Execution) -> None:
        for part in self.parts:
            part.recording(execution)

    def run(self, workflow: CompiledWorkflow, execution: Execution) -> RunWatch | None:
        watches = [w for p in self.parts if (w := p.run(workflow, execution)) is not None]
        return _Runs(watches) if watches else None

    def store_error(self, operation: str, error: BaseException) -> None:
        for part in self.parts:
            part.store_error(operation, error)


def parts(instruments: Instruments) -> tuple[Instruments, ...]:
    """The instruments that :func:`combine` made ``instruments`` of (itself alone if not)."""
    return instruments.parts if isinstance(instruments, _Combined) else (instruments,)


def combine(*parts: Instruments) -> Instruments:
    """One :class:`Instruments` calling each of ``parts`` (no-ops left out)."""
    kept = [p for p in parts if p is not NO_INSTRUMENTS]
    if not kept:
        return NO_INSTRUMENTS
    if len(kept) == 1:
        return kept[0]
    flat: list[Instruments] = []
    for part in kept:
        flat.extend(part.parts if isinstance(part, _Combined) else (part,))
    return _Combined(flat)


def watched(steps: Generator[Call, Any, T], watch: RunWatch,
            execution: Execution) -> Generator[Call, Any, T]:
    """A run's steps (the processor's generator) with ``watch`` told how the run ended, also
    when it raised or was closed."""
    try:
        status = yield from steps
    except BaseException as exc:
        watch.ended(execution, exc)
        raise
    watch.ended(execution, None)
    return status
