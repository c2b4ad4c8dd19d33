"""WSGI-specific behaviour of the door (PEP 3333)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from conftest import AUTH, JSON, PAID, example
from doors import Door, Request, call_wsgi
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from webhook_workflow import Engine
from webhook_workflow.wsgi import WebhookMiddleware


@pytest.fixture
def engine() -> Engine:
    eng = Engine()
    eng.add_workflow(example())
    eng.add_workflow({"key": "hook", "sync": True, "nodes": [
        {"key": "r", "type": "response", "config": {"body": "{{$context.body}}"}}]})
    yield eng
    eng.close(timeout=5)


class HostApp:
    """A host WSGI app whose iterable records ``close()``."""

    def __init__(self) -> None:
        self.closed = 0
        self.paths: list[tuple[str, str]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.paths.append((environ["SCRIPT_NAME"], environ["PATH_INFO"]))
        start_response("200 OK", [("Content-Type", "text/plain")])
        host = self

        class Body:
            def __iter__(self) -> Any:
                return iter([b"host"])

            def close(self) -> None:
                host.closed += 1

        return Body()


def test_other_paths_reach_the_host_app_and_its_close_is_called(engine: Engine) -> None:
    host = HostApp()
    door = Door("wsgi", engine, host)
    answer = door.call(Request(method="GET", path="/about"))
    assert (answer.status, answer.body) == (200, b"host")
    assert host.closed == 1
    assert host.paths == [("", "/about")]
    assert door.call(Request(path="/api/webhook:trigger/hook", body=b"{}",
                             headers=[JSON])).status == 200
    assert host.paths == [("", "/about")]


def test_standalone_door_answers_404_outside_base_path(engine: Engine) -> None:
    answer = Door("wsgi", engine).call(Request(method="GET", path="/about"))
    assert answer.status == 404
    assert answer.json()["errors"][0]["message"] == "not found"


def test_routing_under_script_name(engine: Engine) -> None:
    answer = Door("wsgi", engine).call(Request(root="/hooks", path="/api/webhook:trigger/hook",
                                               body=b'{"a":1}', headers=[JSON]))
    assert answer.json() == {"a": 1}


def test_mounted_with_werkzeug_dispatcher(engine: Engine) -> None:
    host = HostApp()
    app = DispatcherMiddleware(host, {"/hooks": WebhookMiddleware(engine=engine)})
    answer = call_wsgi(app, Request(path="/hooks/api/webhook:trigger/hook", body=b'{"b":2}',
                                    headers=[JSON]))
    assert answer.json() == {"b": 2}
    assert call_wsgi(app, Request(method="GET", path="/")).body == b"host"


def test_base_path_empty_serves_keys_at_the_mount_point() -> None:
    engine = Engine(base_path="")
    engine.add_workflow({"key": "hook", "sync": True, "nodes": []})
    host = HostApp()
    door = Door("wsgi", engine, host)
    assert door.call(Request(path="/hook")).status == 200
    assert door.call(Request(method="GET", path="/hook")).status == 405
    assert door.call(Request(method="GET", path="/other")).body == b"host"
    engine.close()


def test_chunked_body_without_input_terminated_answers_411(engine: Engine) -> None:
    answer = Door("wsgi", engine).call(Request(
        path="/api/webhook:trigger/hook", body=b'{"a":1}', content_length=False,
        headers=[JSON, ("Transfer-Encoding", "chunked")], validate=False))
    assert answer.status == 411


def test_chunked_body_with_input_terminated_is_read_to_eof(engine: Engine) -> None:
    answer = Door("wsgi", engine).call(Request(
        path="/api/webhook:trigger/hook", body=b'{"a":1}', content_length=False,
        headers=[JSON, ("Transfer-Encoding", "chunked")],
        extra_environ={"wsgi.input_terminated": True}, validate=False))
    assert answer.json() == {"a": 1}


def test_terminated_body_over_the_limit_answers_413() -> None:
    engine = Engine(max_body_size=100)
    engine.add_workflow({"key": "hook", "nodes": []})
    answer = Door("wsgi", engine).call(Request(
        body=b"[" + b"1," * 200 + b"1]", content_length=False, headers=[JSON],
        extra_environ={"wsgi.input_terminated": True}, validate=False))
    assert answer.status == 413
    assert engine.executions() == []
    engine.close()


def test_body_shorter_than_content_length_answers_400(engine: Engine) -> None:
    answer = Door("wsgi", engine).call(Request(
        path="/api/webhook:trigger/hook", body=b'{"a":1}',
        headers=[JSON, ("Content-Length", "50")], content_length=False, validate=False))
    assert answer.status == 400
    assert engine.executions("hook") == []


def test_never_reads_past_content_length(engine: Engine) -> None:
    class Input(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            assert size is not None and size >= 0, "read() without a size"
            return super().read(size)

    answer = Door("wsgi", engine).call(Request(
        path="/api/webhook:trigger/hook", headers=[JSON, ("Content-Length", "7")],
        content_length=False, extra_environ={"wsgi.input": Input(b'{"a":1}trailing')},
        validate=False))
    assert answer.json() == {"a": 1}


def test_utf8_path_and_latin1_query_carriage(engine: Engine) -> None:
    engine.add_workflow({"key": "q", "sync": True, "nodes": [
        {"key": "r", "type": "response", "config": {"body": "{{$context.query}}"}}]})
    # PEP 3333: QUERY_STRING holds the raw (still percent-encoded) bytes as latin-1 text.
    raw = "name=caf%C3%A9&raw=" + "é".encode().decode("latin-1")
    answer = Door("wsgi", engine).call(Request(path="/api/webhook:trigger/q", query=raw))
    assert answer.json() == {"name": "café", "raw": "é"}


def test_unexpected_error_is_a_500_without_traceback(engine: Engine,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(engine.gateway, "accept", boom)
    answer = Door("wsgi", engine).call(Request(path="/api/webhook:trigger/payment-callback",
                                               body=PAID, headers=[AUTH, JSON]))
    assert answer.status == 500
    assert answer.json() == {"errors": [{"message": "internal error"}]}
    assert b"secret" not in answer.body and b"Traceback" not in answer.body


def test_environ_headers_are_read_the_cgi_way() -> None:
    """An empty header that was sent is "", an empty CONTENT_TYPE is absent, the CGI
    CONTENT_* keys win over HTTP_ twins, and the 431 limits count what the environ holds."""
    eng = Engine(max_header_count=4)
    eng.add_workflow({"key": "echo", "sync": True,
                      "config": {"request": {"headers": [{"key": "X-Tag"}, {"key": "X-None"}]}},
                      "nodes": [{"key": "r", "type": "response",
                                 "config": {"body": {"tag": "{{$context.headers.X-Tag}}",
                                                     "none": "{{$context.headers.X-None}}",
                                                     "ct": "{{$context.body}}"}}}]})
    app = WebhookMiddleware(engine=eng)
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc: Any = None) -> Any:
        seen["status"] = status
        return lambda data: None

    def call(extra: dict[str, str], body: bytes = b'{"a":1}') -> tuple[str, Any]:
        environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/api/webhook:trigger/echo",
                   "QUERY_STRING": "", "CONTENT_LENGTH": str(len(body)),
                   "wsgi.input": io.BytesIO(body), **extra}
        answer = b"".join(app(environ, start_response))
        return seen["status"], json.loads(answer)

    try:
        status, answer = call({"CONTENT_TYPE": "application/json", "HTTP_X_TAG": "",
                               "HTTP_CONTENT_TYPE": "text/plain"})
        assert status.startswith("200")
        assert answer == {"tag": "", "none": None, "ct": {"a": 1}}
        status, _ = call({"CONTENT_TYPE": "", "HTTP_X_TAG": "a"}, b"")
        assert status.startswith("200")  # no body and no type: nothing to refuse
        status, answer = call({"CONTENT_TYPE": "application/json", "HTTP_A": "1",
                               "HTTP_B": "2", "HTTP_C": "3", "HTTP_D": "4"})
        assert status.startswith("431"), answer  # 4 HTTP_ fields + type + length > 4
    finally:
        eng.close(timeout=5)
