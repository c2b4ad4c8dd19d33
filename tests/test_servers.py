"""Real servers on 127.0.0.1: uvicorn serving the ASGI door, and the CLI's ``serve``."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import EXAMPLE, PAID

from webhook_workflow import Engine, Status
from webhook_workflow.asgi import WebhookMiddleware

ROOT = Path(__file__).resolve().parent.parent
AUTH = ("shop", "s3cret")
HEADERS = {"Content-Type": "application/json", "X-Request-Id": "r-9"}
TIMEOUT = httpx.Timeout(5.0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[str] | None = None,
                  timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"server exited early: {proc.communicate()[0]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port}")


@pytest.fixture
def uvicorn_server() -> Iterator[tuple[str, Engine]]:
    import uvicorn

    engine = Engine()
    engine.add_workflow(EXAMPLE)
    engine.add_workflow({"key": "bg", "nodes": [
        {"key": "o", "type": "output", "config": {"value": "{{$context.body}}"}}]})
    port = free_port()
    config = uvicorn.Config(WebhookMiddleware(engine=engine), host="127.0.0.1", port=port,
                            log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for_port(port)
    yield f"http://127.0.0.1:{port}", engine
    server.should_exit = True
    thread.join(10)
    assert not thread.is_alive()


def test_uvicorn_serves_the_seed_example(uvicorn_server: tuple[str, Engine]) -> None:
    base, engine = uvicorn_server
    url = base + "/api/webhook:trigger/payment-callback?source=uv"
    with httpx.Client(timeout=TIMEOUT) as client:
        ok = client.post(url, content=PAID, headers=HEADERS, auth=AUTH)
        assert (ok.status_code, ok.json()) == (200, {"ok": True, "id": "A1", "request": "r-9"})
        assert ok.headers["x-order"] == "A1"
        bad = client.post(url, content=b'{"order":{"status":"open"}}', headers=HEADERS,
                          auth=AUTH)
        assert (bad.status_code, bad.json()) == (400, {"ok": False})
        assert client.post(url, content=PAID, headers=HEADERS).status_code == 401
        assert client.get(url).headers["allow"] == "POST"
        assert client.post(base + "/api/webhook:trigger/nope").status_code == 404
        big = client.post(url, content=b"[" + b"0," * 600_000 + b"0]", headers=HEADERS,
                          auth=AUTH)
        assert big.status_code == 413
        streamed = client.post(base + "/api/webhook:trigger/bg",
                               content=iter([b'{"chunk', b'ed": true}']), headers=HEADERS)
        assert streamed.text == "ok"
    assert engine.drain(5)
    [execution] = engine.executions("bg")
    assert execution.output == {"chunked": True}


def test_uvicorn_lifespan_drains_on_shutdown(uvicorn_server: tuple[str, Engine]) -> None:
    base, engine = uvicorn_server
    with httpx.Client(timeout=TIMEOUT) as client:
        for i in range(20):
            assert client.post(base + "/api/webhook:trigger/bg", json={"i": i}).text == "ok"
    assert engine.drain(5)
    assert sorted(e.output["i"] for e in engine.executions("bg")) == list(range(20))


@pytest.fixture
def cli_server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    store = f"sqlite:///{tmp_path / 'serve.db'}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "webhook_workflow", "serve", str(EXAMPLE), "--port", str(port),
         "--store", store],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}", proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def test_cli_serve_answers_and_logs_each_request(
        cli_server: tuple[str, subprocess.Popen[str]]) -> None:
    base, proc = cli_server
    url = base + "/api/webhook:trigger/payment-callback"
    with httpx.Client(timeout=TIMEOUT) as client:
        ok = client.post(url + "?source=cli", content=PAID, headers=HEADERS, auth=AUTH)
        assert (ok.status_code, ok.json()) == (200, {"ok": True, "id": "A1", "request": "r-9"})
        assert client.put(url).status_code == 405
        denied = client.post(url, content=PAID, headers=HEADERS, auth=("shop", "nope"))
        assert denied.status_code == 401
        assert denied.headers["www-authenticate"] == 'Basic realm="webhook"'
        chunked = client.post(url, content=iter([PAID]), headers=HEADERS, auth=AUTH)
        assert (chunked.status_code, chunked.json()["ok"]) == (200, True)  # decoded
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=10)[0]
    assert proc.returncode == 0
    lines = output.splitlines()
    assert lines[0].endswith(url)
    [posted] = [line for line in lines
                if '"POST /api/webhook:trigger/payment-callback?source=cli HTTP/1.1" 200' in line]
    assert posted.split()[-1].isdigit()  # the execution the request created
    [refused] = [line for line in lines if '"PUT ' in line]
    assert refused.endswith(" -")  # no execution for a 405
    assert sum(1 for line in lines if "HTTP/1.1" in line) == 4
    assert "s3cret" not in output
    credentials = base64.b64encode(b"shop:s3cret").decode()
    assert credentials not in output


def test_cli_serve_with_uvicorn(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "webhook_workflow", "serve", str(EXAMPLE), "--port", str(port),
         "--server", "uvicorn", "--store", "memory"], cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_port(port, proc)
        with httpx.Client(timeout=TIMEOUT) as client:
            answer = client.post(f"http://127.0.0.1:{port}/api/webhook:trigger/payment-callback",
                                 content=PAID, headers=HEADERS, auth=AUTH)
        assert answer.json()["ok"] is True
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def test_executions_of_real_requests_are_recorded(uvicorn_server: tuple[str, Engine]) -> None:
    base, engine = uvicorn_server
    with httpx.Client(timeout=TIMEOUT) as client:
        client.post(base + "/api/webhook:trigger/payment-callback", content=PAID,
                    headers=HEADERS, auth=AUTH)
    [execution] = engine.executions("payment-callback")
    assert execution.status == Status.RESOLVED
    assert "Authorization" not in str(execution.context)
