"""Prometheus metrics of an engine (the ``prometheus`` extra): requests, executions, the queue.

``Engine(metrics=True)`` installs :class:`Metrics` in a registry of its own
(``metrics=registry`` uses that ``prometheus_client`` registry instead); ``engine.metrics``
is it. :meth:`Metrics.exposition` is the text a ``/metrics`` endpoint serves, and
:meth:`Metrics.wsgi_app` / :meth:`Metrics.asgi_app` serve it (``webhook-workflow serve
--metrics PATH`` too). With ``PROMETHEUS_MULTIPROC_DIR`` set before the process starts
(gunicorn with several workers), every worker writes its counts to that folder and the
exposition adds up all of them. Nothing here is imported unless metrics are asked for.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from typing import TYPE_CHECKING, Any, Protocol

from .http.response import CoreResponse
from .instruments import Instruments
from .status import status_name

if TYPE_CHECKING:
    from .definition.compile import CompiledWorkflow
    from .http.headers import RequestHeaders
    from .nodes.base import Call, CompiledNode
    from .records import Execution, Job
    from .runtime.catalog import Catalog
    from .store.base import Store

__all__ = ["METRICS", "Metrics", "MetricsHost"]

#: Every metric, as Prometheus names it (counters end in ``_total``), and what it counts.
METRICS = {
    "webhook_workflow_requests_total": "webhook requests answered, by workflow and code",
    "webhook_workflow_acknowledgement_seconds": "time from a webhook request's head to its "
    "answer (an async workflow's acknowledgement, a sync one's run), by workflow",
    "webhook_workflow_executions_started_total": "executions whose first node started",
    "webhook_workflow_executions_ended_total": "executions that ended, by workflow and status",
    "webhook_workflow_node_duration_seconds": "time of each node step, by node type",
    "webhook_workflow_node_retries_total": "node attempts after the first, by workflow, type",
    "webhook_workflow_store_errors_total": "store calls that failed, by operation",
    "webhook_workflow_queue_depth": "executions waiting in the queue for a worker",
    "webhook_workflow_queue_oldest_age_seconds": "age of the oldest queued execution",
}
_LATENCY = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            10.0, 30.0)
_NODE_TIME = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0)
#: The workflow label of requests to no enabled workflow (any path may be asked for).
UNKNOWN = ""


class MetricsHost(Protocol):
    """What the metrics read of the engine, when they are scraped or a request ends."""

    @property
    def store(self) -> Store:
        """The store whose queue the gauges read."""

    @property
    def catalog(self) -> Catalog:
        """The registered workflows: the queue of theirs, and which keys are labels."""


ASGIApp = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class Metrics(Instruments):
    """The metrics of one engine (see :data:`METRICS`), in :attr:`registry`."""

    __slots__ = ("_children", "_engine", "_prometheus", "acknowledgement", "ended",
                 "node_duration", "registry", "requests", "retries", "started",
                 "store_errors")

    def __init__(self, engine: MetricsHost, registry: Any = None) -> None:
        try:
            import prometheus_client as prometheus
        except ImportError:
            raise ImportError("metrics need prometheus-client: pip install "
                              "'webhook-workflow[prometheus]'") from None
        self._prometheus = prometheus
        self._engine = engine
        #: Where the metrics are registered (a new registry unless one was given).
        self.registry = prometheus.CollectorRegistry() if registry is None else registry
        counter, histogram, into = prometheus.Counter, prometheus.Histogram, self.registry

        def doc(name: str) -> str:
            return METRICS[name].capitalize()

        self.requests = counter("webhook_workflow_requests", doc(
            "webhook_workflow_requests_total"), ["workflow", "code"], registry=into)
        self.acknowledgement = histogram("webhook_workflow_acknowledgement_seconds", doc(
            "webhook_workflow_acknowledgement_seconds"), ["workflow"], buckets=_LATENCY,
            registry=into)
        self.started = counter("webhook_workflow_executions_started", doc(
            "webhook_workflow_executions_started_total"), ["workflow"], registry=into)
        self.ended = counter("webhook_workflow_executions_ended", doc(
            "webhook_workflow_executions_ended_total"), ["workflow", "status"], registry=into)
        self.node_duration = histogram("webhook_workflow_node_duration_seconds", doc(
            "webhook_workflow_node_duration_seconds"), ["type"], buckets=_NODE_TIME,
            registry=into)
        self.retries = counter("webhook_workflow_node_retries", doc(
            "webhook_workflow_node_retries_total"), ["workflow", "type"], registry=into)
        self.store_errors = counter("webhook_workflow_store_errors", doc(
            "webhook_workflow_store_errors_total"), ["operation"], registry=into)
        into.register(_Queue(self))
        # Label lookups cost more than the counts: children are kept by their labels.
        self._children: dict[tuple[str, ...], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (metric._name, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    # -- the hooks --------------------------------------------------------------------------
    def request(self, method: str, scheme: str, path: str, key: str,
                headers: RequestHeaders) -> _RequestTimer:
        return _RequestTimer(self, key)

    def run(self, workflow: CompiledWorkflow, execution: Execution) -> _RunCounter:
        if not execution.jobs:  # its first run (a resumed one has jobs)
            self._child(self.started, workflow.key).inc()
        return _RunCounter(self, workflow.key)

    def store_error(self, operation: str, error: BaseException) -> None:
        self._child(self.store_errors, operation).inc()

    # -- exposition -------------------------------------------------------------------------
    def exposition(self) -> tuple[bytes, str]:
        """The metrics in the text format, and its content type: this process's, or with
        ``PROMETHEUS_MULTIPROC_DIR`` set, the sum of every process writing there."""
        prometheus = self._prometheus
        registry = self.registry
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            registry = prometheus.CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            registry.register(_Queue(self))  # live from the store, not summed
        return prometheus.generate_latest(registry), prometheus.CONTENT_TYPE_LATEST

    def response(self) -> CoreResponse:
        """The exposition as an answer (the built-in server's ``--metrics PATH``)."""
        body, content_type = self.exposition()
        return CoreResponse(200, [("Content-Type", content_type)], body)

    def wsgi_app(self) -> WSGIApp:
        """A WSGI app answering every GET with :meth:`exposition` (mount it at a path)."""

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
            body, content_type = self.exposition()
            start_response("200 OK", [("Content-Type", content_type),
                                      ("Content-Length", str(len(body)))])
            return [body]

        return app

    def asgi_app(self, path: str | None = None) -> ASGIApp:
        """An ASGI app answering GET ``path`` (any path when None) with :meth:`exposition`,
        404 otherwise; it ignores lifespan scopes."""

        async def app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "lifespan":
                while True:
                    kind = (await receive())["type"]
                    if kind == "lifespan.startup":
                        await send({"type": "lifespan.startup.complete"})
                    elif kind == "lifespan.shutdown":
                        await send({"type": "lifespan.shutdown.complete"})
                        return
            if scope["type"] != "http":
                return
            if path is not None and scope.get("path") != path:
                status, body, content_type = 404, b"not found\n", "text/plain"
            else:
                body, content_type = self.exposition()
                status = 200
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"content-type", content_type.encode("latin-1")),
                                    (b"content-length", str(len(body)).encode("ascii"))]})
            await send({"type": "http.response.body", "body": body})

        return app


class _RequestTimer:
    __slots__ = ("key", "metrics", "started")

    def __init__(self, metrics: Metrics, key: str) -> None:
        self.metrics = metrics
        self.key = key
        self.started = time.perf_counter()

    def answered(self, status: int | None) -> None:
        metrics = self.metrics
        workflow = self.key if self.key in metrics._engine.catalog.routes else UNKNOWN
        code = "disconnected" if status is None else str(status)
        metrics._child(metrics.requests, workflow, code).inc()
        metrics._child(metrics.acknowledgement, workflow).observe(
            time.perf_counter() - self.started)


class _RunCounter:
    __slots__ = ("metrics", "started", "workflow")

    def __init__(self, metrics: Metrics, workflow: str) -> None:
        self.metrics = metrics
        self.workflow = workflow
        self.started = 0.0

    def node(self, node: CompiledNode, resuming: bool) -> None:
        self.started = time.perf_counter()

    def effect(self, effect: Call) -> Call:
        return effect

    def stepped(self, node: CompiledNode, job: Job, branching: bool) -> None:
        metrics = self.metrics
        metrics._child(metrics.node_duration, node.type).observe(
            time.perf_counter() - self.started)
        if job.meta.get("attempt", 1) > 1:
            metrics._child(metrics.retries, self.workflow, node.type).inc()

    def spawned(self, child: Execution) -> None:
        return None

    def ended(self, execution: Execution, error: BaseException | None) -> None:
        status = execution.status
        if error is None and (status is None or status == 0):
            return  # it waits: it has not ended
        name = "error" if error is not None else status_name(int(status or 0)).lower()
        self.metrics._child(self.metrics.ended, self.workflow, name).inc()


class _Queue:
    """The queue gauges, read from the store when scraped (the store is the one place that
    knows the queue of every process sharing it)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def describe(self) -> list[Any]:
        return []  # unchecked: read at collection only, so registering costs no store call

    def collect(self) -> Iterator[Any]:
        metrics = self.metrics
        from prometheus_client.core import GaugeMetricFamily as family
        engine = metrics._engine
        keys = engine.catalog.keys()
        try:
            depth = engine.store.queued_count(keys)
            oldest = getattr(engine.store, "oldest_queued_at", None)
            since = oldest(keys) if oldest is not None else None
        except Exception as exc:  # a scrape must answer while the store is down
            metrics.store_error("queue", exc)
            return
        yield family("webhook_workflow_queue_depth",
                     METRICS["webhook_workflow_queue_depth"].capitalize(), value=depth)
        if oldest is not None:
            age = 0.0 if since is None else max(0.0, time.time() - since)
            yield family("webhook_workflow_queue_oldest_age_seconds",
                         METRICS["webhook_workflow_queue_oldest_age_seconds"].capitalize(),
                         value=age)
