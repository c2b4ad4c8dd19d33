"""Real uvicorn servers on 127.0.0.1 (subprocesses, SQLite store): a CL.TE request whose
remainder is a second webhook is refused and its connection closed; and uvicorn started as
docs/mounting.md says (``--no-proxy-headers``) leaves the client address to the engine's
``trusted_proxies``, so a forged ``X-Forwarded-For`` does not pass an ``ipAllowlist``."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hosts.hostcheck import AUTH, KEY, PAID, Server, free_port, serve

from webhook_workflow import Engine

pytest.importorskip("uvicorn")

WEBHOOK = f"/api/webhook:trigger/{KEY}"
#: A hang guard only: every answer here comes at once.
READ_TIMEOUT = 10.0

# One workflow open to 203.0.113.7 only, next to the example; the engine trusts no proxy.
ALLOWLIST_APP = '''
from examples.hosts.plain_asgi import app, engine

engine.add_workflow({"key": "office", "sync": True, "config": {"ipAllowlist": ["203.0.113.7"]},
                     "nodes": []})
'''


def _executions(store: str) -> int:
    engine = Engine(store)
    try:
        return len(engine.executions(limit=1000))
    finally:
        engine.close()


def _read_to_close(sock: socket.socket) -> tuple[bytes, bool]:
    """Everything the server sends until it closes; False when it kept the connection open
    past the hang guard."""
    received = b""
    deadline = time.monotonic() + READ_TIMEOUT
    while (remaining := deadline - time.monotonic()) > 0:
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            return received, True
        received += chunk
    return received, False


@contextmanager
def _uvicorn(tmp_path: Path, *options: str) -> Iterator[tuple[Server, str]]:
    store = f"sqlite:///{tmp_path / 'hooks.db'}"
    (tmp_path / "framing_app.py").write_text(ALLOWLIST_APP)
    port = free_port()
    argv = ["uvicorn", "framing_app:app", "--app-dir", str(tmp_path), "--port", str(port),
            "--lifespan", "on", *options]
    with serve(argv, port, tmp_path / "log", env={"WEBHOOK_WORKFLOW_STORE": store}) as server:
        yield server, store


def _smuggling_request() -> bytes:
    """Chunked says the body is empty; Content-Length says it is the second request."""
    second = (f"POST {WEBHOOK}?source=smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              f"Authorization: {AUTH}\r\nContent-Type: application/json\r\n"
              f"Content-Length: {len(PAID)}\r\n\r\n").encode() + PAID
    body = b"0\r\n\r\n" + second
    head = (f"POST {WEBHOOK}?source=front HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: {AUTH}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    return head + body


def test_uvicorn_cl_te_request_is_refused_and_the_connection_closed(tmp_path: Path) -> None:
    with _uvicorn(tmp_path) as (server, store):
        with socket.create_connection(("127.0.0.1", int(server.base.rsplit(":", 1)[1])),
                                      timeout=READ_TIMEOUT) as sock:
            sock.sendall(_smuggling_request())
            received, closed = _read_to_close(sock)
        assert closed, received
        assert received.count(b"HTTP/1.1 ") == 1, received
        head, _, body = received.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 "), received
        assert b"\r\nconnection: close" in head.lower(), received
        assert json.loads(body) == {
            "errors": [{"message": "both Content-Length and Transfer-Encoding"}]}
        assert _executions(store) == 0, server.output()


def _office(server: Server) -> int:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        server.base + "/api/webhook:trigger/office", data=b"{}", method="POST",
        headers={"Content-Type": "application/json", "X-Forwarded-For": "203.0.113.7"})
    try:
        with urllib.request.urlopen(request, timeout=READ_TIMEOUT) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_uvicorn_without_proxy_headers_leaves_the_client_to_the_engine(tmp_path: Path) -> None:
    """The peer is 127.0.0.1, not a trusted proxy of the engine: its X-Forwarded-For is not
    the client address."""
    with _uvicorn(tmp_path, "--no-proxy-headers") as (server, _):
        assert _office(server) == 403


def test_uvicorn_default_would_let_a_forged_forwarded_for_in(tmp_path: Path) -> None:
    """Why the flag matters: by default uvicorn trusts X-Forwarded-For from 127.0.0.1
    (``forwarded_allow_ips``) and rewrites the client address before the door sees it."""
    with _uvicorn(tmp_path) as (server, _):
        assert _office(server) == 200
