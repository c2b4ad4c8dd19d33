"""The ``request`` node against a real HTTP server on 127.0.0.1: methods, bodies, answers,
failures and their statuses, redirects, size and time bounds, the destination policy, and the
ASGI door staying responsive while a request is in flight."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from webhook_workflow import DefinitionError, Engine, Execution, Job, Status
from webhook_workflow.asgi import WebhookMiddleware
from webhook_workflow.nodes import request_transport
from webhook_workflow.nodes.request import RequestNode
from webhook_workflow.nodes.request_policy import (
    PolicyRefusal,
    check_request_policy,
    is_private,
    policy_of,
)
from webhook_workflow.nodes.request_transport import MAX_RESPONSE_BYTES


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: LocalServer

    def log_message(self, *args: Any) -> None:
        pass

    def handle_any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        self.server.seen.append(Seen(self.command, url.path, url.query,
                                     {k.lower(): v for k, v in self.headers.items()}, body))
        # The client may give up first (timeouts, the size cap): expected in those tests.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.route(url.path.strip("/").split("/"), parse_qs(url.query))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

    def send(self, status: int, body: bytes, content_type: str = "application/json",
             headers: tuple[tuple[str, str], ...] = ()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def route(self, parts: list[str], query: dict[str, list[str]]) -> None:
        head, arg = parts[0], parts[1] if len(parts) > 1 else ""
        if head == "text":
            self.send(200, "héllo".encode(), "text/plain; charset=utf-8")
        elif head == "badjson":
            self.send(200, b"not json{", "application/json")
        elif head == "status":
            self.send(int(arg), b'{"error":"nope"}')
        elif head == "sleep":
            time.sleep(int(arg) / 1000)
            self.send(200, b'{"slept":true}')
        elif head == "redirect":
            code = int(query.get("code", ["302"])[0])
            target = query["to"][0] if "to" in query else (
                f"/redirect/{int(arg) - 1}?code={code}" if int(arg) > 0 else "/json")
            self.send(code, b"", "text/plain", (("Location", target),))
        elif head == "big":
            self.big(int(arg), "stream" in query)
        elif head == "drip":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            for _ in range(100):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.02)
        else:
            self.send(200, b'{"ok":true,"n":1}', "application/json; charset=utf-8",
                      (("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("X-Twice", "1"),
                       ("X-Twice", "2")))

    def big(self, size: int, stream: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        if stream:  # no length: the body ends when the connection closes
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(size))
        self.end_headers()
        chunk = b"x" * 65536
        while size > 0:
            self.wfile.write(chunk[:size])
            size -= len(chunk)


class LocalServer(ThreadingHTTPServer):
    daemon_threads = True
    seen: list[Seen]

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up early are part of the tests

    def url(self, path: str = "/json", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.server_address[1]}{path}"


@pytest.fixture
def server() -> Iterator[LocalServer]:
    srv = LocalServer(("127.0.0.1", 0), Handler)
    srv.seen = []
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def make_engine(**settings: Any) -> Engine:
    eng = Engine(workers=1, **settings)
    eng._node_types["request"] = RequestNode()
    return eng


@pytest.fixture
def engine() -> Iterator[Engine]:
    eng = make_engine()
    yield eng
    eng.close(timeout=5)


def run(engine: Engine, config: dict[str, Any], body: Any = None,
        after: tuple[dict[str, Any], ...] = ()) -> Execution:
    engine.add_workflow({"key": "w", "sync": True, "nodes": [
        {"key": "req", "type": "request", "config": config}, *after]})
    return engine.execute("w", {"body": body if body is not None else {}})


def job(execution: Execution) -> Job:
    return next(j for j in execution.jobs if j.node_key == "req")


# --- methods, bodies, headers, query --------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def test_each_method_sends_its_body_except_get(engine: Engine, server: LocalServer,
                                               method: str) -> None:
    execution = run(engine, {"url": server.url(), "method": method, "data": {"a": 1}})
    result = job(execution).result
    assert job(execution).status == Status.RESOLVED
    assert result["status"] == 200 and result["statusText"] == "OK"
    assert result["data"] == {"ok": True, "n": 1}
    seen = server.seen[-1]
    assert seen.method == method
    assert seen.headers["idempotency-key"] == f"{execution.id}:req"
    if method == "GET":
        assert seen.body == b"" and "content-type" not in seen.headers
    else:
        assert seen.body == b'{"a":1}'
        assert seen.headers["content-type"] == "application/json"


def test_default_method_is_post_with_json(engine: Engine, server: LocalServer) -> None:
    run(engine, {"url": server.url(), "data": ["x", 1.5, None, True]})
    assert server.seen[-1].method == "POST"
    assert server.seen[-1].body == b'["x",1.5,null,true]'


@pytest.mark.parametrize(("content_type", "data", "sent"), [
    ("application/json", {"s": "é", "n": [1, {"b": False}]}, '{"s":"é","n":[1,{"b":false}]}'),
    ("application/json", ' {"raw": true} ', '{"raw": true}'),  # JSON text goes as it is
    ("application/json", "plain words", '"plain words"'),
    ("application/x-www-form-urlencoded", {"a": "1 2", "b": ["x", "y"], "skip": None},
     "a=1+2&b=x&b=y"),
    ("application/x-www-form-urlencoded",
     [{"name": "a", "value": "1"}, {"name": "", "value": "z"}, {"name": "c", "value": 3}],
     "a=1&c=3"),
    ("application/x-www-form-urlencoded", "ready=made", "ready=made"),
    ("text/plain", "hello {{$context.body.name}}", "hello Bob"),
    ("text/plain", {"k": "v"}, '{"k":"v"}'),
    ("application/xml", "<a>{{$context.body.name}}</a>", "<a>Bob</a>"),
])
def test_content_types(engine: Engine, server: LocalServer, content_type: str, data: Any,
                       sent: str) -> None:
    execution = run(engine, {"url": server.url(), "contentType": content_type, "data": data},
                    {"name": "Bob"})
    assert job(execution).status == Status.RESOLVED
    assert server.seen[-1].body.decode() == sent
    assert server.seen[-1].headers["content-type"] == content_type


def test_form_body_that_is_not_a_form_fails(engine: Engine, server: LocalServer) -> None:
    execution = run(engine, {"url": server.url(), "contentType":
                             "application/x-www-form-urlencoded", "data": [1, 2]})
    assert job(execution).status == Status.FAILED
    assert "form body" in job(execution).result["message"]
    assert server.seen == []


def test_params_are_appended_to_the_url_query(engine: Engine, server: LocalServer) -> None:
    run(engine, {"url": server.url("/json?x=1"), "method": "GET", "params": [
        {"name": "y", "value": " 2 "}, {"name": "z", "value": "a b&c"},
        {"name": "y", "value": "{{$context.body.y}}"}, {"name": "n", "value": None}]},
        {"y": 3})
    assert server.seen[-1].query == "x=1&y=3&z=a+b%26c&n="


def test_headers_trimmed_content_type_ignored_idempotency_key_overridable(
        engine: Engine, server: LocalServer) -> None:
    run(engine, {"url": server.url(), "data": {}, "headers": [
        {"name": " X-Token ", "value": " abc "},
        {"name": "Content-Type", "value": "text/html"},
        {"name": "X-Num", "value": 5},
        {"name": "idempotency-key", "value": "mine"}]})
    headers = server.seen[-1].headers
    assert headers["x-token"] == "abc" and headers["x-num"] == "5"
    assert headers["content-type"] == "application/json"
    assert headers["idempotency-key"] == "mine"


def test_templated_url_headers_and_data(engine: Engine, server: LocalServer) -> None:
    base = server.url("")
    execution = run(engine, {
        "url": "{{$context.body.base}}/json",
        "method": "{{$context.body.verb}}",
        "headers": [{"name": "Authorization", "value": "Bearer {{$context.body.token}}"}],
        "data": {"id": "{{$context.body.id}}", "when": "{{$system.now}}",
                 "tags": "{{$context.body.tags}}"},
    }, {"base": base, "verb": "put", "token": "t0k", "id": 7, "tags": ["a", "b"]})
    assert job(execution).status == Status.RESOLVED
    seen = server.seen[-1]
    assert seen.method == "PUT" and seen.headers["authorization"] == "Bearer t0k"
    sent = json.loads(seen.body)
    assert sent["id"] == 7 and sent["tags"] == ["a", "b"]
    when = datetime.fromisoformat(sent["when"].replace("Z", "+00:00"))
    assert sent["when"].endswith("Z") and abs((datetime.now(UTC) - when).total_seconds()) < 60


def test_url_userinfo_becomes_basic_auth(engine: Engine, server: LocalServer) -> None:
    run(engine, {"url": server.url().replace("http://", "http://us%20er:pw@"), "method": "GET"})
    assert server.seen[-1].headers["authorization"] == "Basic dXMgZXI6cHc="


# --- answers ------------------------------------------------------------------------------------


def test_json_answer_headers_and_only_data(engine: Engine, server: LocalServer) -> None:
    result = job(run(engine, {"url": server.url(), "method": "GET"})).result
    assert result["headers"]["content-type"] == "application/json; charset=utf-8"
    assert result["headers"]["set-cookie"] == ["a=1", "b=2"]
    assert result["headers"]["x-twice"] == "1, 2"
    execution = run(engine, {"url": server.url(), "method": "GET", "onlyData": True},
                    after=({"key": "o", "type": "output", "config": {
                        "value": "{{$jobsMapByNodeKey.req.n}}"}},))
    assert job(execution).result == {"ok": True, "n": 1}
    assert execution.output == 1


def test_text_and_invalid_json_answers_stay_text(engine: Engine, server: LocalServer) -> None:
    assert job(run(engine, {"url": server.url("/text"), "onlyData": True})).result == "héllo"
    assert job(run(engine, {"url": server.url("/badjson"), "onlyData": True})).result == \
        "not json{"


def test_non_2xx_fails_with_status_and_data(engine: Engine, server: LocalServer) -> None:
    execution = run(engine, {"url": server.url("/status/404")})
    assert job(execution).status == Status.FAILED
    assert execution.status == Status.FAILED
    assert job(execution).result == {"message": "Request failed with status code 404",
                                     "status": 404, "data": {"error": "nope"}}


def test_ignore_fail_resolves_and_continues(engine: Engine, server: LocalServer) -> None:
    execution = run(engine, {"url": server.url("/status/500"), "ignoreFail": True},
                    after=({"key": "o", "type": "output", "config": {
                        "value": "{{$jobsMapByNodeKey.req.status}}"}},))
    assert job(execution).status == Status.RESOLVED
    assert job(execution).result["status"] == 500
    assert execution.status == Status.RESOLVED and execution.output == 500


# --- failures and bounds ------------------------------------------------------------------------


def test_timeout_aborts_quickly(engine: Engine, server: LocalServer) -> None:
    started = time.monotonic()
    execution = run(engine, {"url": server.url("/sleep/1500"), "timeout": 200})
    assert time.monotonic() - started < 1.0
    assert job(execution).status == Status.ABORTED
    assert job(execution).result == {"message": "timeout of 200ms exceeded"}
    ignored = run(engine, {"url": server.url("/sleep/1500"), "timeout": 200, "ignoreFail": True})
    assert job(ignored).status == Status.RESOLVED


def test_timeout_bounds_a_slowly_dripping_answer(engine: Engine, server: LocalServer) -> None:
    started = time.monotonic()
    execution = run(engine, {"url": server.url("/drip"), "timeout": 300})
    assert job(execution).status == Status.ABORTED
    assert time.monotonic() - started < 1.2  # the drip would take 2 s


def test_slow_name_resolution_counts_against_the_timeout(
        engine: Engine, server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(1)
        return []

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    started = time.monotonic()
    execution = run(engine, {"url": "http://slow.invalid/", "timeout": 200})
    assert job(execution).status == Status.ABORTED
    assert time.monotonic() - started < 0.8


def test_connection_refused_fails(engine: Engine) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    execution = run(engine, {"url": f"http://127.0.0.1:{port}/", "timeout": 2000})
    assert job(execution).status == Status.FAILED
    assert "refused" in job(execution).result["message"].lower()


@pytest.mark.parametrize("url", ["ftp://example.com/", "not a url", "http://", 42, None,
                                 "http://exa mple.com/", "http://host:99999/"])
def test_invalid_url_fails(engine: Engine, url: Any) -> None:
    execution = run(engine, {"url": "{{$context.body.url}}"}, {"url": url})
    assert job(execution).status == Status.FAILED
    assert job(execution).result == {"message": "Invalid URL"}


def test_templated_scalars_are_checked_once_rendered(engine: Engine, server: LocalServer) -> None:
    execution = run(engine, {"url": server.url(), "method": "{{$context.body.m}}"}, {"m": "TRACE"})
    assert job(execution).status == Status.FAILED
    assert job(execution).result["message"].startswith("method: must be one of")
    execution = run(engine, {"url": server.url(), "contentType": "{{$context.body.t}}",
                             "ignoreFail": True}, {"t": "multipart/form-data"})
    assert job(execution).status == Status.RESOLVED
    assert "not supported" in job(execution).result["message"]
    assert server.seen == []


def test_templated_header_injection_is_an_error_and_never_sent(
        engine: Engine, server: LocalServer) -> None:
    execution = run(engine, {"url": server.url(), "ignoreFail": True, "headers": [
        {"name": "X-A", "value": "{{$context.body.v}}"}]}, {"v": "a\r\nX-Evil: 1"})
    assert job(execution).status == Status.ERROR
    assert "CR, LF or NUL" in job(execution).result["message"]
    assert server.seen == []


def test_get_redirects_are_followed_up_to_five(engine: Engine, server: LocalServer) -> None:
    execution = run(engine, {"url": server.url("/redirect/4"), "method": "GET"})
    assert job(execution).status == Status.RESOLVED
    assert [s.path for s in server.seen][-1] == "/json" and len(server.seen) == 6
    execution = run(engine, {"url": server.url("/redirect/5?code=307"), "method": "GET"})
    assert job(execution).status == Status.FAILED
    assert job(execution).result["message"] == "Maximum number of redirects exceeded"
    assert len(server.seen) == 12


def test_other_methods_do_not_follow_redirects(engine: Engine, server: LocalServer) -> None:
    execution = run(engine, {"url": server.url("/redirect/1?code=308"), "data": {}})
    assert job(execution).status == Status.FAILED
    assert job(execution).result["status"] == 308
    assert len(server.seen) == 1


def test_credentials_do_not_follow_a_redirect_to_another_origin(
        engine: Engine, server: LocalServer) -> None:
    other = server.url("/json", host="localhost")
    run(engine, {"url": server.url(f"/redirect/0?to={other}"), "method": "GET", "headers": [
        {"name": "Authorization", "value": "secret"}, {"name": "X-Keep", "value": "k"}]})
    first, second = server.seen
    assert first.headers["authorization"] == "secret"
    assert "authorization" not in second.headers and second.headers["x-keep"] == "k"
    assert second.headers["host"] == f"localhost:{server.server_address[1]}"


@pytest.mark.parametrize("stream", [False, True])
def test_answers_over_the_size_cap_fail(engine: Engine, server: LocalServer,
                                        stream: bool) -> None:
    path = f"/big/{MAX_RESPONSE_BYTES + 1}" + ("?stream=1" if stream else "")
    execution = run(engine, {"url": server.url(path), "method": "GET", "timeout": 10_000})
    assert job(execution).status == Status.FAILED
    assert job(execution).result["message"].startswith("response larger than")
    assert job(execution).result["status"] == 200


def test_an_answer_at_the_size_cap_is_read(engine: Engine, server: LocalServer) -> None:
    execution = run(engine, {"url": server.url(f"/big/{MAX_RESPONSE_BYTES}?stream=1"),
                             "method": "GET", "onlyData": True, "timeout": 10_000})
    assert job(execution).status == Status.RESOLVED
    assert len(job(execution).result) == MAX_RESPONSE_BYTES


# --- definitions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("config", "path", "reason"), [
    ({}, "config.url", "is required"),
    ({"url": "http://x/", "method": "TRACE"}, "config.method", "must be one of"),
    ({"url": "http://x/", "contentType": "multipart/form-data"}, "config.contentType",
     "not supported"),
    ({"url": "http://x/", "contentType": "text/html"}, "config.contentType", "must be one of"),
    ({"url": "http://x/", "headers": [{"name": "Host", "value": "y"}]}, "config.headers[0].name",
     "not by a workflow"),
    ({"url": "http://x/", "headers": [{"name": "X", "value": "a\nb"}]},
     "config.headers[0].value", "CR, LF or NUL"),
    ({"url": "http://x/", "params": [{"name": " "}]}, "config.params[0].name", "non-empty"),
    ({"url": "http://x/", "timeout": 0}, "config.timeout", "1..600000"),
    ({"url": "http://x/", "retries": 3}, "config.retries", "unknown field"),
    ({"url": "{{$nope.x}}"}, "config", "unknown variable"),
])
def test_definition_errors(engine: Engine, config: dict[str, Any], path: str,
                           reason: str) -> None:
    with pytest.raises(DefinitionError) as info:
        engine.add_workflow({"key": "w", "nodes": [{"key": "r", "type": "request",
                                                   "config": config}]})
    assert info.value.path == f"nodes[0].{path}" and reason in info.value.reason


# --- the destination policy ----------------------------------------------------------------------


def test_check_request_policy_shapes() -> None:
    assert check_request_policy(None) is None
    assert check_request_policy({"deny": ["Private", " 10.0.0.0/8 ", "*.Example.com"]}) == {
        "allow": [], "deny": ["private", "10.0.0.0/8", "*.example.com"]}
    for bad, message in [([], "mapping"), ({"block": []}, "unknown key"),
                         ({"allow": "x.com"}, "must be a list"),
                         ({"deny": ["a b"]}, "request_policy.deny[0]"),
                         ({"deny": [1]}, "non-empty string"),
                         ({"allow": ["10.0.0.0/33"]}, "not a host name")]:
        with pytest.raises(ValueError, match=re.escape(message)):
            check_request_policy(bad)


@pytest.mark.parametrize(("address", "private"), [
    ("127.0.0.1", True), ("10.1.2.3", True), ("172.16.0.1", True), ("192.168.1.1", True),
    ("169.254.169.254", True), ("100.64.0.1", True), ("0.0.0.0", True), ("224.0.0.1", True),
    ("240.0.0.1", True), ("::1", True), ("::", True), ("fe80::1", True), ("fc00::1", True),
    ("ff02::1", True), ("::ffff:127.0.0.1", True), ("2002:7f00:1::", True),
    ("64:ff9b::a00:1", True), ("8.8.8.8", False), ("2606:4700:4700::1111", False),
    ("::ffff:8.8.8.8", False),
])
def test_private_ranges(address: str, private: bool) -> None:
    assert is_private(ip_address(address)) is private


def test_policy_rules_names_wildcards_networks() -> None:
    policy = policy_of({"allow": ["*.example.com", "api.test", "8.8.0.0/16"],
                        "deny": ["bad.example.com"]})
    assert policy is not None
    policy.check("a.example.com", [ip_address("1.2.3.4")])
    policy.check("api.test", [ip_address("1.2.3.4")])
    policy.check("other.test", [ip_address("8.8.8.8")])
    for host, address in [("example.com", "1.2.3.4"), ("bad.example.com", "1.2.3.4"),
                          ("other.test", "8.9.0.1")]:
        with pytest.raises(PolicyRefusal):
            policy.check(host, [ip_address(address)])
    mixed = policy_of({"allow": ["8.8.8.8"]})
    assert mixed is not None
    with pytest.raises(PolicyRefusal, match=r"127\.0\.0\.1"):  # every address must pass
        mixed.check("two.test", [ip_address("8.8.8.8"), ip_address("127.0.0.1")])


@pytest.mark.parametrize(("policy", "status"), [
    ({"deny": ["private"]}, Status.FAILED),
    ({"deny": ["127.0.0.0/8"]}, Status.FAILED),
    ({"allow": ["10.0.0.0/8"]}, Status.FAILED),
    ({"allow": ["127.0.0.1"]}, Status.RESOLVED),
    ({"allow": ["127.0.0.1"], "deny": ["private"]}, Status.FAILED),  # deny wins
    ({"deny": ["10.0.0.0/8", "*.example.com"]}, Status.RESOLVED),
])
def test_policy_on_a_real_request(server: LocalServer, policy: dict[str, Any],
                                  status: Status) -> None:
    eng = make_engine(request_policy=policy)
    try:
        execution = run(eng, {"url": server.url(), "method": "GET"})
    finally:
        eng.close(timeout=5)
    assert job(execution).status == status
    if status == Status.FAILED:
        assert "request policy" in job(execution).result["message"]
        assert server.seen == []


def test_host_names_resolve_once_and_the_checked_address_is_used(
        server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def fake(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        calls.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    port = server.server_address[1]
    eng = make_engine(request_policy={"allow": ["pinned.test"]})
    denied = make_engine(request_policy={"deny": ["private"]})
    try:
        ok = run(eng, {"url": f"http://pinned.test:{port}/json", "method": "GET"})
        refused = run(denied, {"url": f"http://pinned.test:{port}/json", "method": "GET"})
    finally:
        eng.close(timeout=5)
        denied.close(timeout=5)
    assert job(ok).status == Status.RESOLVED and calls == ["pinned.test", "pinned.test"]
    assert server.seen[0].headers["host"] == f"pinned.test:{port}"
    assert job(refused).status == Status.FAILED and len(server.seen) == 1
    assert "pinned.test (127.0.0.1) is denied" in job(refused).result["message"]


def test_redirect_targets_are_checked_again(server: LocalServer) -> None:
    other = server.url("/json", host="localhost")
    eng = make_engine(request_policy={"deny": ["localhost"]})
    try:
        execution = run(eng, {"url": server.url(f"/redirect/0?to={other}"), "method": "GET"})
    finally:
        eng.close(timeout=5)
    assert job(execution).status == Status.FAILED
    assert "localhost" in job(execution).result["message"] and len(server.seen) == 1


# --- TLS -----------------------------------------------------------------------------------------


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[LocalServer, Path]]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not available")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    srv = LocalServer(("127.0.0.1", 0), Handler)
    srv.seen = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    srv.socket = context.wrap_socket(srv.socket, server_side=True)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield srv, cert
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def test_https_verifies_certificates(engine: Engine, tls_server: tuple[LocalServer, Path],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    srv, cert = tls_server
    url = srv.url().replace("http://", "https://")
    untrusted = run(engine, {"url": url, "method": "GET", "timeout": 3000})
    assert job(untrusted).status == Status.FAILED
    assert "certificate" in job(untrusted).result["message"].lower()
    trusting = ssl.create_default_context(cafile=str(cert))
    monkeypatch.setattr(request_transport, "tls_context", lambda: trusting)
    trusted = run(engine, {"url": url, "method": "GET", "timeout": 3000, "onlyData": True})
    assert job(trusted).result == {"ok": True, "n": 1}


# --- the ASGI door -------------------------------------------------------------------------------


def test_asgi_event_loop_keeps_running_during_a_request(engine: Engine,
                                                        server: LocalServer) -> None:
    engine.add_workflow({"key": "hook", "sync": True, "nodes": [
        {"key": "req", "type": "request", "config": {"url": server.url("/sleep/300"),
                                                     "method": "GET", "onlyData": True}},
        {"key": "r", "type": "response", "config": {"body": "{{$jobsMapByNodeKey.req}}"}}]})
    app = WebhookMiddleware(engine=engine)

    async def scenario() -> tuple[int, httpx.Response]:
        ticks = 0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        task = asyncio.create_task(ticker())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            answer = await client.post("/api/webhook:trigger/hook", json={})
        done.set()
        await task
        return ticks, answer

    ticks, answer = asyncio.run(scenario())
    assert answer.status_code == 200 and answer.json() == {"slept": True}
    assert ticks >= 15  # a blocked loop would tick once or twice in 300 ms

