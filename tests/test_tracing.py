"""OpenTelemetry tracing (``Engine(tracing=...)``), with the SDK's in-memory exporter: one
trace from an inbound ``traceparent`` through the request span, the execution span on a worker
thread, the node spans and the ``request`` node's call to a server on 127.0.0.1; a trace
continued by another engine on the same SQLite file after a restart."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from webhook_workflow import Engine, Status
from webhook_workflow.instruments import NO_INSTRUMENTS
from webhook_workflow.testing import WebhookClient

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


class _Threads(SpanProcessor):
    """Notes the thread each span started on."""

    def __init__(self) -> None:
        self.threads: dict[int, str] = {}

    def on_start(self, span: Span, parent_context: Any = None) -> None:
        self.threads[span.context.span_id] = threading.current_thread().name


class Traced:
    """A tracer provider of its own (the global one is left alone) and what it exported."""

    def __init__(self) -> None:
        self.provider = TracerProvider()
        self.exporter = InMemorySpanExporter()
        self.threads = _Threads()
        self.provider.add_span_processor(self.threads)
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.name == name]

    def one(self, name: str) -> ReadableSpan:
        found = self.named(name)
        assert len(found) == 1, [s.name for s in self.spans()]
        return found[0]


@pytest.fixture
def traced() -> Traced:
    return Traced()


class _Receiver(BaseHTTPRequestHandler):
    seen: list[dict[str, str]]

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.append({k.lower(): v for k, v in self.headers.items()})
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []
    handler = type("Handler", (_Receiver,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", seen
    finally:
        server.shutdown()
        server.server_close()


def _id(value: int, width: int) -> str:
    return f"{value:0{width}x}"


def test_one_trace_from_the_inbound_traceparent_to_the_outgoing_call(
        traced: Traced, receiver: tuple[str, list[dict[str, str]]]) -> None:
    url, seen = receiver
    engine = Engine(tracing=traced.provider, request_policy={"allow": ["127.0.0.1"]})
    try:
        engine.add_workflow({"key": "order", "nodes": [
            {"key": "total", "type": "calculation",
             "config": {"engine": "math.js", "expression": "1 + 2"}},
            {"key": "notify", "type": "request",
             "config": {"url": url, "method": "POST",
                        "data": {"total": "{{$jobsMapByNodeKey.total}}"}}},
        ]})
        answer = WebhookClient(engine).post("order", json={"id": 1},
                                            headers={"traceparent": TRACEPARENT,
                                                     "tracestate": "vendor=1"})
        assert answer.status == 200
        execution = answer.wait()
        assert execution is not None and execution.status == Status.RESOLVED
    finally:
        engine.close()
    request = traced.one("POST /api/webhook:trigger/{key}")
    run = traced.one("workflow order")
    total, notify = traced.one("node total"), traced.one("node notify")
    call = traced.one("POST")
    # One trace, continuing the caller's.
    assert {_id(s.context.trace_id, 32) for s in traced.spans()} == {TRACE_ID}
    assert request.kind == SpanKind.SERVER and request.parent is not None
    assert _id(request.parent.span_id, 16) == PARENT_ID and request.parent.is_remote
    assert request.attributes is not None
    assert dict(request.attributes) == {
        "http.request.method": "POST", "url.path": "/api/webhook:trigger/order",
        "url.scheme": "http", "http.route": "/api/webhook:trigger/{key}",
        "webhook_workflow.workflow.key": "order", "http.response.status_code": 200}
    # The execution ran later, on a worker thread, as a child of the request span.
    assert run.parent is not None and run.parent.span_id == request.context.span_id
    assert traced.threads.threads[run.context.span_id].startswith("webhook-workflow-")
    assert run.attributes is not None
    assert run.attributes["webhook_workflow.execution.id"] == execution.id
    assert run.attributes["webhook_workflow.workflow.version"] == 1
    assert run.attributes["webhook_workflow.status"] == "resolved"
    assert execution.trace is not None and execution.trace["tracestate"] == "vendor=1"
    for node, kind in ((total, "calculation"), (notify, "request")):
        assert node.parent is not None and node.parent.span_id == run.context.span_id
        assert node.attributes is not None
        assert node.attributes["webhook_workflow.node.type"] == kind
        assert node.attributes["webhook_workflow.status"] == "resolved"
        assert node.attributes["webhook_workflow.attempt"] == 1
        assert node.attributes["webhook_workflow.execution.id"] == execution.id
    # The call: a CLIENT span of the request node, whose traceparent the server received.
    assert call.kind == SpanKind.CLIENT
    assert call.parent is not None and call.parent.span_id == notify.context.span_id
    assert call.attributes is not None and call.attributes["http.response.status_code"] == 200
    assert call.attributes["url.full"] == url
    assert len(seen) == 1
    assert seen[0]["traceparent"] == f"00-{TRACE_ID}-{_id(call.context.span_id, 16)}-01"
    assert seen[0]["tracestate"] == "vendor=1"


def test_a_sync_run_nests_in_the_request_and_branches_in_their_node(traced: Traced) -> None:
    engine = Engine(tracing=traced.provider)
    try:
        engine.add_workflow({"key": "items", "sync": True, "nodes": [
            {"key": "each", "type": "loop", "config": {"target": "{{$context.body.items}}"},
             "branches": {"0": [{"key": "one", "type": "calculation",
                                 "config": {"engine": "math.js", "expression": "1"}}]}},
            {"key": "answer", "type": "response", "config": {"statusCode": 201}}]})
        answer = WebhookClient(engine, door="asgi").post("items", json={"items": [1, 2, 3]})
        assert answer.status == 201
    finally:
        engine.close()
    request = traced.one("POST /api/webhook:trigger/{key}")
    run, loop = traced.one("workflow items"), traced.one("node each")
    ones = traced.named("node one")
    assert run.parent is not None and run.parent.span_id == request.context.span_id
    assert loop.parent is not None and loop.parent.span_id == run.context.span_id
    assert len(ones) == 3
    assert all(s.parent is not None and s.parent.span_id == loop.context.span_id for s in ones)
    assert traced.one("node answer").parent.span_id == run.context.span_id  # type: ignore[union-attr]
    # No inbound traceparent: the request span starts the trace.
    assert request.parent is None
    assert len({s.context.trace_id for s in traced.spans()}) == 1


def test_attempts_failures_and_errors_are_marked(traced: Traced) -> None:
    engine = Engine(tracing=traced.provider)
    calls: list[int] = []

    def flaky(config: dict[str, Any], ctx: Any) -> str:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first attempt fails")
        return "ok"

    engine.register_node("flaky", flaky)
    try:
        engine.add_workflow({"key": "retried", "sync": True, "nodes": [
            {"key": "charge", "type": "flaky",
             "retry": {"maxAttempts": 2, "backoff": "fixed", "delay": 1, "jitter": False}},
            {"key": "stop", "type": "end", "config": {"endStatus": -1}}]})
        assert WebhookClient(engine).post("retried", json={}).status == 500
    finally:
        engine.close()
    first, second = sorted(traced.named("node charge"), key=lambda s: s.start_time or 0)
    assert first.attributes is not None and second.attributes is not None
    assert (first.attributes["webhook_workflow.attempt"],
            first.attributes["webhook_workflow.status"]) == (1, "error")
    assert first.status.status_code == StatusCode.ERROR
    assert (second.attributes["webhook_workflow.attempt"],
            second.attributes["webhook_workflow.status"]) == (2, "resolved")
    run = traced.one("workflow retried")
    assert run.attributes is not None and run.attributes["webhook_workflow.status"] == "failed"
    assert run.status.status_code == StatusCode.ERROR
    request = traced.one("POST /api/webhook:trigger/{key}")
    assert request.attributes is not None
    assert request.attributes["http.response.status_code"] == 500
    assert request.attributes["error.type"] == "500"


def test_a_subflow_continues_its_parents_trace(traced: Traced) -> None:
    engine = Engine(tracing=traced.provider)
    try:
        engine.add_workflow({"key": "child", "sync": True, "nodes": [
            {"key": "inner", "type": "output", "config": {"value": 1}}]})
        engine.add_workflow({"key": "parent", "sync": True, "nodes": [
            {"key": "call", "type": "subflow", "config": {"workflow": "child"}}]})
        assert WebhookClient(engine).post("parent", json={}).status == 200
    finally:
        engine.close()
    call, child = traced.one("node call"), traced.one("workflow child")
    assert child.parent is not None and child.parent.span_id == call.context.span_id
    assert traced.one("node inner").parent.span_id == child.context.span_id  # type: ignore[union-attr]


def test_a_host_that_traces_its_requests_gets_an_internal_child(traced: Traced) -> None:
    engine = Engine(tracing=traced.provider)
    tracer = traced.provider.get_tracer("host")
    try:
        engine.add_workflow({"key": "hook", "sync": True, "nodes": []})
        with tracer.start_as_current_span("host request", kind=SpanKind.SERVER) as host:
            WebhookClient(engine).post("hook", json={},
                                       headers={"traceparent": TRACEPARENT})
    finally:
        engine.close()
    request = traced.one("POST /api/webhook:trigger/{key}")
    assert request.kind == SpanKind.INTERNAL
    assert request.parent is not None
    assert request.parent.span_id == host.get_span_context().span_id
    # The current span was detached with the answer: nothing leaks into the host's context.
    assert not trace.get_current_span().get_span_context().is_valid


def test_a_delayed_execution_continues_its_trace_after_a_restart(
        traced: Traced, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    definition = {"key": "later", "nodes": [
        {"key": "wait", "type": "delay", "config": {"duration": 1, "unit": 1000}},
        {"key": "after", "type": "calculation",
         "config": {"engine": "math.js", "expression": "2 * 3"}}]}
    first = Engine(url, tracing=traced.provider)
    first.add_workflow(definition)
    answer = WebhookClient(first).post("later", json={}, headers={"traceparent": TRACEPARENT})
    assert answer.status == 200
    execution_id = answer.execution_id
    assert execution_id is not None
    waiting = lambda: first.get_execution(execution_id)  # noqa: E731
    for _ in range(200):
        found = waiting()
        if found is not None and found.jobs:
            break
        threading.Event().wait(0.01)
    first.close()  # the execution waits in the file; this engine is gone
    request = traced.one("POST /api/webhook:trigger/{key}")

    restarted = Traced()  # another process: another provider, nothing in memory
    second = Engine(url, tracing=restarted.provider)
    second.add_workflow(definition)
    try:
        stored = second.get_execution(execution_id)
        assert stored is not None and stored.trace is not None
        assert stored.trace["traceparent"].split("-")[1] == TRACE_ID
        second.start()
        for _ in range(500):
            done = second.get_execution(execution_id)
            if done is not None and done.status == Status.RESOLVED:
                break
            threading.Event().wait(0.01)
        assert done is not None and done.status == Status.RESOLVED
        second.drain()
    finally:
        second.close()
    resumed = restarted.one("workflow later")
    assert _id(resumed.context.trace_id, 32) == TRACE_ID
    assert resumed.parent is not None and resumed.parent.span_id == request.context.span_id
    assert resumed.attributes is not None
    assert resumed.attributes["webhook_workflow.execution.resumed"] is True
    woken, after = restarted.one("node wait"), restarted.one("node after")
    assert woken.attributes is not None and woken.attributes["webhook_workflow.node.resumed"]
    assert {_id(s.context.trace_id, 32) for s in (woken, after)} == {TRACE_ID}


def test_without_tracing_nothing_is_recorded() -> None:
    engine = Engine()
    try:
        assert engine.instruments is NO_INSTRUMENTS
        engine.add_workflow({"key": "plain", "sync": True, "nodes": []})
        answer = WebhookClient(engine).post("plain", json={},
                                            headers={"traceparent": TRACEPARENT})
        assert answer.status == 200
        execution = answer.execution
        assert execution is not None and execution.trace is None
    finally:
        engine.close()


def test_a_callback_keeps_its_token_out_of_spans_and_its_run_in_the_trace(
        traced: Traced) -> None:
    engine = Engine(tracing=traced.provider)
    try:
        engine.add_workflow({"key": "pay", "nodes": [
            {"key": "url", "type": "output", "config": {"value": "{{$execution.resumeUrl}}"}},
            {"key": "wait", "type": "callback", "config": {}},
            {"key": "done", "type": "output", "config": {"value": "{{$jobsMapByNodeKey.wait}}"}}]})
        client = WebhookClient(engine)
        answer = client.post("pay", json={}, headers={"traceparent": TRACEPARENT})
        ident = answer.execution_id
        assert ident is not None
        for _ in range(500):
            found = engine.get_execution(ident)
            if found is not None and any(j.node_key == "wait" for j in found.jobs):
                break
            threading.Event().wait(0.01)
        assert found is not None
        path = urlsplit(str(found.jobs[0].result)).path
        token = path.rsplit("/", 1)[1]
        assert client.post(path, json={"paid": True}).status == 200
        for _ in range(500):
            done = engine.get_execution(ident)
            if done is not None and done.finished:
                break
            threading.Event().wait(0.01)
        assert done is not None and done.status == Status.RESOLVED
        engine.drain()
    finally:
        engine.close()
    resume = traced.one("POST /api/webhook:trigger/resume/{token}")
    assert resume.attributes is not None
    assert resume.attributes["url.path"] == "/api/webhook:trigger/resume/{token}"
    assert "webhook_workflow.workflow.key" not in resume.attributes
    assert all(token not in str(value) for span in traced.spans()
               for value in (span.attributes or {}).values())
    # The run the callback woke continues the delivery's trace.
    runs = traced.named("workflow pay")
    assert len(runs) == 2
    assert {_id(s.context.trace_id, 32) for s in runs} == {TRACE_ID}


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgres"])
def test_every_store_keeps_the_trace_context(kind: str, tmp_path: Path,
                                             request: pytest.FixtureRequest) -> None:
    from store_urls import store_url

    from webhook_workflow import Execution
    from webhook_workflow.store.open import open_store

    store = open_store(store_url(kind, tmp_path, request))
    carrier = {"traceparent": TRACEPARENT, "tracestate": "vendor=1,other=2"}
    try:
        queued = Execution("k", 1, {"body": {}}, trace=carrier)
        plain = Execution("k", 1, {"body": {}})
        store.add(queued)
        store.add(plain)
        assert (store.get(queued.id) or plain).trace == carrier
        assert (store.get(plain.id) or queued).trace is None
        claimed = store.claim("me", ["k"])
        assert claimed is not None and claimed.id == queued.id and claimed.trace == carrier
        claimed.status = Status.RESOLVED
        store.save(claimed)
        assert (store.get(queued.id) or plain).trace == carrier
    finally:
        store.close()
