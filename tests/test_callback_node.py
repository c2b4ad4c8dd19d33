"""The callback node: an execution waits for a request at its signed, single-use resume URL,
through both doors, on every store; refusals (404 tampered, 405, 401, 409 used, 410 expired),
timeouts both ways, and a request node that sends the URL to a third party that calls back."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from store_urls import store_url

from webhook_workflow import DefinitionError, Engine, Execution, NodeContext, Status
from webhook_workflow.testing import WebhookClient, sign_request


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    eng = Engine(store_url(request.param, tmp_path, request))
    yield eng
    eng.close(timeout=10)


@pytest.fixture(params=["wsgi", "asgi"])
def door(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def until(engine: Engine, ident: str, check: Any, seconds: float = 10) -> Execution:
    deadline = time.monotonic() + seconds
    found = None
    while time.monotonic() < deadline:
        found = engine.get_execution(ident)
        if found is not None and check(found):
            return found
        time.sleep(0.02)
    raise AssertionError(f"not reached: {found!r}")


def waiting(engine: Engine, ident: str) -> Execution:
    return until(engine, ident, lambda e: any(
        j.node_key == "wait" and j.status == Status.PENDING for j in e.jobs))


def flow(engine: Engine, **config: Any) -> None:
    engine.add_workflow({"key": "pay", "nodes": [
        {"key": "url", "type": "output", "config": {"value": "{{$execution.resumeUrl}}"}},
        {"key": "wait", "type": "callback", "config": config},
        {"key": "done", "type": "output", "config": {"value": "{{$jobsMapByNodeKey.wait}}"}}]})


def start(engine: Engine, door: str) -> tuple[WebhookClient, str, str]:
    client = WebhookClient(engine, door=door)
    answer = client.post("pay", json={"order": 7})
    assert answer.status == 200
    ident = answer.execution_id
    assert ident is not None
    url = str(waiting(engine, ident).jobs[0].result)
    return client, ident, urlsplit(url).path


def test_a_callback_resumes_the_execution_with_its_request(engine: Engine, door: str) -> None:
    flow(engine, response={"statusCode": 202, "body": {"got": "{{$callback.body.paid}}"}})
    client, ident, path = start(engine, door)
    assert path.startswith("/api/webhook:trigger/resume/")
    assert ident in path  # the token names the execution, but is signed (below)
    answer = client.post(path, json={"paid": True}, query={"ref": "x1"},
                         headers={"X-Provider": "acme"})
    assert (answer.status, answer.json) == (202, {"got": True})
    done = until(engine, ident, lambda e: e.finished)
    assert done.status == Status.RESOLVED
    assert done.output["body"] == {"paid": True} and done.output["query"] == {"ref": "x1"}
    assert done.output["headers"]["x-provider"] == "acme"
    # Single use: a second call answers 409 and changes nothing.
    again = client.post(path, json={"paid": False})
    assert again.status == 409 and "used" in again.json["errors"][0]["message"]
    assert until(engine, ident, lambda e: e.finished).output["body"] == {"paid": True}


def test_tampered_tokens_and_wrong_methods_are_refused(engine: Engine) -> None:
    flow(engine, method="PUT")
    client, ident, path = start(engine, "wsgi")
    token = path.rsplit("/", 1)[1]
    execution_id, key, signature = token.split(".")
    forged = [f"{execution_id}.{key}.{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}",
              f"{int(execution_id) + 1}.{key}.{signature}", f"{execution_id}.url.{signature}",
              execution_id, "nonsense"]
    for bad in forged:
        answer = client.request("PUT", f"/api/webhook:trigger/resume/{bad}", json={})
        assert answer.status == 404, bad
    wrong = client.post(path, json={})
    assert wrong.status == 405 and wrong.headers["allow"] == "PUT"
    assert client.request("PUT", path, json={"ok": 1}).status == 200
    assert until(engine, ident, lambda e: e.finished).status == Status.RESOLVED


def test_basic_auth_on_the_callback(engine: Engine) -> None:
    engine.env = {"CB_PASSWORD": "s3cret"}
    flow(engine, auth={"basic": {"username": "acme", "password": "{{$env.CB_PASSWORD}}"}})
    client, ident, path = start(engine, "asgi")
    assert client.post(path, json={}).status == 401
    bad = base64.b64encode(b"acme:nope").decode()
    assert client.post(path, json={}, headers={"Authorization": f"Basic {bad}"}).status == 401
    good = base64.b64encode(b"acme:s3cret").decode()
    assert client.post(path, json={"x": 1},
                       headers={"Authorization": f"Basic {good}"}).status == 200
    assert until(engine, ident, lambda e: e.finished).status == Status.RESOLVED


def test_a_signed_callback(engine: Engine) -> None:
    flow(engine, auth={"signature": {"scheme": "github", "secrets": ["hush"]}})
    client, ident, path = start(engine, "wsgi")
    body = json.dumps({"state": "done"}).encode()
    bad = sign_request("github", "other", body)
    assert client.post(path, body=body, headers={**bad, "Content-Type": "application/json"}
                       ).status == 401
    good = sign_request("github", "hush", body)
    assert client.post(path, body=body, headers={**good, "Content-Type": "application/json"}
                       ).status == 200
    done = until(engine, ident, lambda e: e.finished)
    assert done.status == Status.RESOLVED and done.output["body"] == {"state": "done"}
    # The stored definition never holds the secret itself.
    stored = engine.get_workflow("pay")
    assert stored is not None and "hush" not in json.dumps(stored.definition)


@pytest.mark.parametrize(("on_timeout", "status", "result"), [
    ("fail", Status.ABORTED, {"message": "no callback within 300 ms"}),
    ("continue", Status.RESOLVED, {"timedOut": True}),
])
def test_a_timeout_ends_the_wait(engine: Engine, on_timeout: str, status: Status,
                                 result: dict[str, Any]) -> None:
    flow(engine, timeout=300, onTimeout=on_timeout)
    client, ident, path = start(engine, "wsgi")
    done = until(engine, ident, lambda e: e.finished)
    wait = next(j for j in done.jobs if j.node_key == "wait")
    assert (wait.status, wait.result) == (status, result)
    assert done.status == (Status.ABORTED if on_timeout == "fail" else Status.RESOLVED)
    late = client.post(path, json={})
    assert late.status == 410 and "expired" in late.json["errors"][0]["message"]


def test_a_callback_that_comes_before_the_node_waits_is_kept(engine: Engine) -> None:
    gate, reached = threading.Event(), threading.Event()
    seen: dict[str, str] = {}

    def slow(config: dict[str, object], ctx: NodeContext) -> str:
        seen["url"] = str(ctx.input)  # the url node's result: the resume URL
        reached.set()
        gate.wait(10)
        return "slept"

    engine.register_node("slow", slow)
    engine.add_workflow({"key": "pay", "nodes": [
        {"key": "url", "type": "output", "config": {"value": "{{$execution.resumeUrls.wait}}"}},
        {"key": "slow", "type": "slow"},
        {"key": "wait", "type": "callback"},
        {"key": "done", "type": "output", "config": {"value": "{{$jobsMapByNodeKey.wait}}"}}]})
    client = WebhookClient(engine)
    ident = client.post("pay", json={}).execution_id
    assert ident is not None
    assert reached.wait(10)
    path = urlsplit(seen["url"]).path
    # The third party answers before the execution reached its callback node.
    assert client.post(path, json={"early": True}).status == 200
    gate.set()
    done = until(engine, ident, lambda e: e.finished)
    assert done.status == Status.RESOLVED and done.output["body"] == {"early": True}


def test_public_url_is_the_base_of_resume_urls(tmp_path: Path) -> None:
    eng = Engine(public_url="https://hooks.example.com/base")
    try:
        flow(eng)
        client = WebhookClient(eng)
        ident = client.post("pay", json={}).execution_id
        assert ident is not None
        url = str(waiting(eng, ident).jobs[0].result)
        assert url.startswith("https://hooks.example.com/base/api/webhook:trigger/resume/")
    finally:
        eng.close(timeout=5)
    with pytest.raises(ValueError, match="public_url"):
        Engine(public_url="hooks.example.com/")


def test_a_callback_node_is_refused_on_sync_workflows() -> None:
    with pytest.raises(DefinitionError) as caught:
        Engine().add_workflow({"key": "s", "sync": True, "nodes": [
            {"key": "wait", "type": "callback"}]})
    assert caught.value.path == "nodes[0].type" and "async" in str(caught.value)
    with pytest.raises(DefinitionError) as caught:
        Engine().add_workflow({"key": "a", "nodes": [
            {"key": "wait", "type": "callback", "config": {"auth": {"token": "x"}}}]})
    assert caught.value.path == "nodes[0].config.auth"


# -- a third party that calls back, through a real request node -----------------------------
class _Provider(BaseHTTPRequestHandler):
    """Takes a payment request with a callback URL, answers 202, and calls it back."""

    def log_message(self, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        data = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

        def call_back() -> None:
            time.sleep(0.1)
            httpx.post(data["callback"], json={"payment": data["order"], "state": "paid"},
                       timeout=10)

        threading.Thread(target=call_back, daemon=True).start()


def test_a_provider_calls_the_resume_url_it_was_sent(engine: Engine) -> None:
    import io

    from webhook_workflow.http_server import Server, listen

    provider = ThreadingHTTPServer(("127.0.0.1", 0), _Provider)
    threading.Thread(target=provider.serve_forever, daemon=True).start()
    engine.add_workflow({"key": "pay", "nodes": [
        {"key": "ask", "type": "request", "config": {
            "url": f"http://127.0.0.1:{provider.server_port}/payments",
            "data": {"order": "{{$context.body.order}}",
                     "callback": "{{$execution.resumeUrls.wait}}"}}},
        {"key": "wait", "type": "callback", "config": {"timeout": 10000}},
        {"key": "done", "type": "output", "config": {"value": "{{$jobsMapByNodeKey.wait.body}}"}}]})
    sock = listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = Server(engine, sock, out=io.StringIO())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        answer = httpx.post(f"http://127.0.0.1:{port}/api/webhook:trigger/pay",
                            json={"order": "A-1"}, timeout=10)
        assert answer.status_code == 200
        ident = engine.executions("pay", limit=1)[0].id
        done = until(engine, ident, lambda e: e.finished, 15)
    finally:
        server.stop()
        thread.join(10)
        provider.shutdown()
    assert done.status == Status.RESOLVED
    assert done.output == {"payment": "A-1", "state": "paid"}


def test_the_cli_calls_a_node_back_by_hand(tmp_path: Path) -> None:
    import io

    from webhook_workflow.cli import main

    url = f"sqlite:///{tmp_path / 'cb.db'}"
    eng = Engine(url)
    try:
        flow(eng)
        _client, ident, path = start(eng, "wsgi")
        out, err = io.StringIO(), io.StringIO()
        assert main(["execution", ident, "--store", url], out, err) == 0
        shown = out.getvalue().splitlines()[-1]
        assert shown.startswith("waiting at wait for a callback to http://") and path in shown
        assert shown.endswith(" s left)")
        out, err = io.StringIO(), io.StringIO()
        assert main(["resume", path, "--data", '{"state": "paid"}', "--store", url],
                    out, err) == 0, err.getvalue()
        assert out.getvalue().strip() == f"called back node wait of execution {ident}"
        done = until(eng, ident, lambda e: e.finished)
        assert done.status == Status.RESOLVED and done.output["body"] == {"state": "paid"}
        out, err = io.StringIO(), io.StringIO()
        assert main(["resume", path, "--store", url], out, err) == 1
        assert "used already (409)" in err.getvalue()
        assert main(["resume", path, "--data", "{nope", "--store", url], out, err) == 2
    finally:
        eng.close(timeout=5)
