"""What observes an engine: its OpenTelemetry tracing, Prometheus metrics and hooks of one's own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from .instruments import Instruments, combine, parts

if TYPE_CHECKING:
    from .metrics import Metrics, MetricsHost
    from .runtime.catalog import Catalog
    from .runtime.dispatcher import Dispatcher
    from .store.base import Store

__all__ = ["Observable", "install", "observe"]


def observe(engine: MetricsHost, base_path: str, metrics: Any, tracing: Any,
            instruments: Instruments | None) -> tuple[Metrics | None, Instruments]:
    """The engine's metrics (None unless ``metrics`` is True or a registry) and the one
    :class:`~webhook_workflow.instruments.Instruments` the engine calls: tracing (when
    ``tracing`` is True or a ``TracerProvider``), the metrics, then ``instruments``. The
    extras are imported here only, and only when asked for."""
    chosen: list[Instruments] = []
    if tracing is not None and tracing is not False:
        from .tracing import Tracing

        chosen.append(Tracing(base_path, None if tracing is True else tracing))
    collector = None
    if metrics is not None and metrics is not False:
        from .metrics import Metrics

        collector = Metrics(engine, None if metrics is True else metrics)
        chosen.append(collector)
    if instruments is not None:
        chosen.append(instruments)
    return collector, combine(*chosen)


class Observable(Protocol):
    """An engine, as :func:`install` changes it."""

    store: Store
    catalog: Catalog
    base_path: str
    metrics: Metrics | None
    instruments: Instruments
    dispatcher: Dispatcher


def install(engine: Observable, *, metrics: bool = False, tracing: bool = False) -> None:
    """Add metrics and/or tracing to an engine built without them (``webhook-workflow serve
    --metrics/--tracing`` on an ``--app`` engine), before it serves; what it has is kept."""
    traced = True
    if tracing:
        from .tracing import Tracing

        traced = any(isinstance(part, Tracing) for part in parts(engine.instruments))
    collector, added = observe(engine, engine.base_path,
                               metrics and engine.metrics is None, not traced, None)
    if collector is not None:
        engine.metrics = collector
    engine.instruments = combine(engine.instruments, added)
    engine.dispatcher.instruments = engine.instruments
