"""OpenTelemetry tracing of an engine (the ``otel`` extra): requests, executions, nodes, calls.

``Engine(tracing=True)`` installs :class:`Tracing` (``tracing=provider`` uses that
``TracerProvider`` instead of the global one). It makes, with the OpenTelemetry API only:

- a span per webhook request, by the HTTP server semantic conventions (``SERVER``; an
  ``INTERNAL`` child when the host app already traces its requests), continuing a W3C
  ``traceparent``/``tracestate`` the request carries;
- a span per run of an execution, child of the request span, also when the run happens
  later on a worker, after a restart or on another host: the request span's context is
  recorded with the execution (:attr:`~webhook_workflow.records.Execution.trace`);
- a span per node job, child of the execution span (of its loop, parallel or condition span
  inside their branches), and a ``CLIENT`` span per ``request`` node call, whose
  ``traceparent`` the call sends.

Nothing here is imported unless tracing is asked for.
"""

from __future__ import annotations

import dataclasses
from importlib import metadata
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from .instruments import Instruments
from .nodes.base import Call
from .nodes.request_transport import Failure, PreparedRequest, Reply, perform
from .resume import PREFIX as RESUME_PREFIX
from .status import Status, execution_status_name, status_name

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span

    from .definition.compile import CompiledWorkflow
    from .http.headers import RequestHeaders
    from .nodes.base import CompiledNode
    from .records import Execution, Job

__all__ = ["ATTRIBUTES", "Tracing"]

_PREFIX = "webhook_workflow."
#: The attributes of the library's own spans (beside the HTTP semantic conventions).
ATTRIBUTES = tuple(_PREFIX + name for name in (
    "workflow.key", "workflow.version", "execution.id", "node.key", "node.type", "status",
    "attempt"))
_KEY, _VERSION, _EXECUTION, _NODE, _TYPE, _STATUS, _ATTEMPT = ATTRIBUTES
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE",
                      "PATCH"})
_FAILED = frozenset({Status.FAILED, Status.ERROR, Status.ABORTED})


def _version() -> str | None:
    try:
        return metadata.version("webhook-workflow")
    except metadata.PackageNotFoundError:
        return None


class Tracing(Instruments):
    """The tracing hooks (see the module's docstring); ``base_path`` names the route."""

    __slots__ = ("_api", "_resume", "_route", "tracer")

    def __init__(self, base_path: str, provider: Any = None) -> None:
        try:
            from opentelemetry import context, propagate, trace
        except ImportError:
            raise ImportError("tracing needs the OpenTelemetry API: pip install "
                              "'webhook-workflow[otel]'") from None
        self._api = (context, propagate, trace)
        #: The tracer every span of this engine comes from.
        self.tracer = trace.get_tracer("webhook_workflow", _version(), tracer_provider=provider)
        # One route for every webhook: span names stay few whatever the keys requested.
        self._route = f"{base_path}/{{key}}"
        self._resume = f"{base_path}/{RESUME_PREFIX}{{token}}"

    def request(self, method: str, scheme: str, path: str, key: str,
                headers: RequestHeaders) -> _RequestSpan:
        context, propagate, trace = self._api
        current = context.get_current()
        if trace.get_current_span(current).get_span_context().is_valid:
            # The host's own instrumentation made the server span: this one is its child.
            parent, kind = current, trace.SpanKind.INTERNAL
        else:
            parent, kind = propagate.extract(headers), trace.SpanKind.SERVER
        known = method if method in _METHODS else "_OTHER"
        route = self._route
        attributes: dict[str, Any] = {"http.request.method": known, "url.scheme": scheme}
        if key.startswith(RESUME_PREFIX):  # a resume URL's token is a credential: not kept
            route = self._resume
            attributes["url.path"] = path.split(RESUME_PREFIX, 1)[0] + RESUME_PREFIX + "{token}"
        else:
            attributes.update({"url.path": path, _KEY: key})
        attributes["http.route"] = route
        if known != method:
            attributes["http.request.method_original"] = method
        name = f"{method if known != '_OTHER' else 'HTTP'} {route}"
        span = self.tracer.start_span(name, context=parent, kind=kind, attributes=attributes)
        # Current until answered: the execution recorded meanwhile takes this span's context.
        token = context.attach(trace.set_span_in_context(span, parent))
        return _RequestSpan(self, span, token)

    def recording(self, execution: Execution) -> None:
        carrier: dict[str, str] = {}
        self._api[1].inject(carrier)
        if carrier:
            execution.trace = carrier

    def run(self, workflow: CompiledWorkflow, execution: Execution) -> _RunSpans:
        return _RunSpans(self, workflow, execution)

    def outgoing(self, parent: Context, request: PreparedRequest) -> Reply | Failure:
        """Perform a ``request`` node's call in a ``CLIENT`` span child of ``parent``, with
        its ``traceparent`` (unless the workflow set one itself)."""
        _, propagate, trace = self._api
        parts = urlsplit(request.url)
        attributes: dict[str, Any] = {
            "http.request.method": request.method, "server.address": parts.hostname or "",
            "server.port": parts.port or (443 if parts.scheme == "https" else 80),
            # Without the query: it may hold credentials.
            "url.full": urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))}
        with self.tracer.start_as_current_span(request.method, context=parent,
                                               kind=trace.SpanKind.CLIENT,
                                               attributes=attributes) as span:
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            present = {name.lower() for name, _ in request.headers}
            added = tuple((k, v) for k, v in carrier.items() if k.lower() not in present)
            if added:
                request = dataclasses.replace(request, headers=request.headers + added)
            outcome = perform(request)
            if outcome.status is not None:
                span.set_attribute("http.response.status_code", outcome.status)
            if isinstance(outcome, Failure):
                span.set_attribute("error.type", str(outcome.status) if outcome.status
                                   else "timeout" if outcome.timed_out else "_OTHER")
                span.set_status(trace.StatusCode.ERROR, outcome.message)
        return outcome


class _RequestSpan:
    __slots__ = ("span", "token", "tracing")

    def __init__(self, tracing: Tracing, span: Span, token: object) -> None:
        self.tracing = tracing
        self.span = span
        self.token = token

    def answered(self, status: int | None) -> None:
        context, _, trace = self.tracing._api
        span = self.span
        if status is None:
            span.set_attribute("error.type", "client_disconnected")
        else:
            span.set_attribute("http.response.status_code", status)
            if status >= 500:  # a 4xx is the client's mistake, not the server's error
                span.set_attribute("error.type", str(status))
                span.set_status(trace.StatusCode.ERROR)
        span.end()
        context.detach(self.token)


class _RunSpans:
    """The spans of one run: the execution's, and its nodes' (open ones by node key)."""

    __slots__ = ("_current", "_open", "_parent", "execution", "span", "tracing")

    def __init__(self, tracing: Tracing, workflow: CompiledWorkflow,
                 execution: Execution) -> None:
        propagate = tracing._api[1]
        self.tracing = tracing
        self.execution = execution
        # The recorded context first: a worker, a restarted process or a subflow's parent
        # thread has another (or none) current.
        parent = propagate.extract(execution.trace) if execution.trace else None
        self.span: Span = tracing.tracer.start_span(
            f"workflow {workflow.key}", context=parent,
            attributes={_KEY: workflow.key, _VERSION: workflow.version,
                        _EXECUTION: execution.id,
                        _PREFIX + "execution.resumed": bool(execution.jobs)})
        self._parent = parent
        #: Spans of branching nodes whose branches run, by node key.
        self._open: dict[str, Span] = {}
        self._current: Span | None = None

    def _context(self, span: Span) -> Context:
        context: Context = self.tracing._api[2].set_span_in_context(span, self._parent)
        return context

    def node(self, node: CompiledNode, resuming: bool) -> None:
        span = self._open.get(node.key) if resuming else None
        if span is None:
            enclosing, holder = self.span, node.parent
            while holder is not None:
                if holder.key in self._open:
                    enclosing = self._open[holder.key]
                    break
                holder = holder.parent
            attributes: dict[str, Any] = {_NODE: node.key, _TYPE: node.type,
                                          _KEY: self.execution.workflow_key,
                                          _EXECUTION: self.execution.id}
            if resuming:  # woken after a wait, or its branches ran in an earlier run
                attributes[_PREFIX + "node.resumed"] = True
            span = self.tracing.tracer.start_span(f"node {node.key}",
                                                  context=self._context(enclosing),
                                                  attributes=attributes)
        self._current = span

    def effect(self, effect: Call) -> Call:
        if effect.fn is perform and self._current is not None \
                and effect.args and isinstance(effect.args[0], PreparedRequest):
            return Call(self.tracing.outgoing, (self._context(self._current), effect.args[0]))
        return effect

    def stepped(self, node: CompiledNode, job: Job, branching: bool) -> None:
        span = self._current
        if span is None:
            return
        self._current = None
        span.set_attribute(_STATUS, status_name(job.status).lower())
        span.set_attribute(_ATTEMPT, int(job.meta.get("attempt", 1)))
        if branching:
            self._open[node.key] = span
            return
        self._open.pop(node.key, None)
        if job.status in _FAILED:
            span.set_status(self.tracing._api[2].StatusCode.ERROR)
        span.end()

    def spawned(self, child: Execution) -> None:
        carrier: dict[str, str] = {}
        self.tracing._api[1].inject(carrier, context=self._context(self._current or self.span))
        child.trace = carrier or None

    def ended(self, execution: Execution, error: BaseException | None) -> None:
        trace = self.tracing._api[2]
        if self._current is not None:  # the run loop raised in the middle of a step
            if error is not None:
                self._current.record_exception(error)
            self._current.end()
        for span in reversed(list(self._open.values())):  # still waiting in their branches
            span.end()
        span = self.span
        if error is not None:
            span.set_attribute(_STATUS, "error")
            span.record_exception(error)
            span.set_status(trace.StatusCode.ERROR, str(error))
        else:
            span.set_attribute(_STATUS, execution_status_name(execution.status).lower())
            if execution.status in _FAILED:
                span.set_status(trace.StatusCode.ERROR, execution.reason or "")
        span.end()
