"""``webhook-workflow serve``'s built-in HTTP/1.1 server, spoken to over raw sockets.

Graceful shutdown, read timeouts, the connection bound, request framing (RFC 9112) and the
access log, each against a real ``serve`` subprocess on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from webhook_workflow import Status
from webhook_workflow.store.sqlite import SQLiteStore

APP = '''
import os, time
from webhook_workflow import Engine

def slow(config, ctx):
    time.sleep(float(os.environ["WW_SLOW"]))
    return "slept"

def make():
    engine = Engine(os.environ["WW_STORE"])
    engine.register_node("slow", slow)
    return engine
'''
ECHO = {"key": "echo", "sync": True, "nodes": [
    {"key": "r", "type": "response", "config": {"body": "{{$context.body}}"}}]}
SLOW = {"key": "slow", "sync": True, "nodes": [{"key": "s", "type": "slow"}]}
ECHO_PATH = "/api/webhook:trigger/echo"
GUARD = 20.0  # hang guard for every socket read


class Serve:
    """A ``serve`` process; ``lines`` is what it printed once stopped."""

    def __init__(self, tmp: Path, *extra: str, slow: float = 0.0) -> None:
        (tmp / "defs").mkdir(exist_ok=True)
        (tmp / "defs" / "echo.json").write_text(json.dumps(ECHO))
        (tmp / "defs" / "slow.json").write_text(json.dumps(SLOW))
        (tmp / "serve_test_app.py").write_text(APP)
        self.store = tmp / "store.db"
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "WW_SLOW": str(slow),
               "WW_STORE": f"sqlite:///{self.store}",
               "PYTHONPATH": os.pathsep.join([str(tmp), os.environ.get("PYTHONPATH", "")])}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "webhook_workflow", "serve", str(tmp / "defs"), "--port",
             "0", "--app", "serve_test_app:make", *extra],
            cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        assert self.proc.stdout is not None
        self.lines: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"serve exited early: {self.lines}")
            self.lines.append(line)
            if line.startswith("serving on "):
                self.port = int(line.split()[2].rsplit(":", 1)[1])
                return
        raise AssertionError("serve did not start")

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=GUARD)
        return sock

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rest = self.proc.communicate(timeout=60)[0]
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rest = self.proc.communicate()[0]
        return "".join(self.lines) + rest


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    server = Serve(tmp_path)
    yield server
    server.stop()


def read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response read by its Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    while len(body) < int(headers["content-length"]):
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    return int(lines[0].split()[1]), headers, body


def post(path: str, body: bytes, *extra: str) -> bytes:
    head = [f"POST {path} HTTP/1.1", "Host: t", "Content-Type: application/json", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def exchange(serve: Serve, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    with serve.connect() as sock:
        sock.sendall(raw)
        return read_response(sock)


# -- 22.6 graceful shutdown ---------------------------------------------------------------------
def test_sigterm_lets_an_in_flight_sync_request_finish(tmp_path: Path) -> None:
    server = Serve(tmp_path, "--grace", "30", slow=2.0)
    with server.connect() as sock:
        sock.sendall(post("/api/webhook:trigger/slow", b"{}", "Content-Length: 2"))
        time.sleep(0.5)  # the request is in the slow node now
        server.proc.send_signal(signal.SIGTERM)
        status, headers, _ = read_response(sock)
    output = server.stop()
    assert status == 200, output
    assert server.proc.returncode == 0, output
    assert headers.get("connection") == "close"
    rows = SQLiteStore(str(server.store)).list("slow", limit=10)
    assert [r.status for r in rows] == [Status.RESOLVED]
    assert "stopped" in output


def test_new_connections_are_refused_once_stopping(tmp_path: Path) -> None:
    server = Serve(tmp_path, slow=2.0)
    with server.connect() as sock:
        sock.sendall(post("/api/webhook:trigger/slow", b"{}", "Content-Length: 2"))
        time.sleep(0.5)
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        with pytest.raises(OSError):  # the listening socket is closed
            socket.create_connection(("127.0.0.1", server.port), timeout=GUARD).close()
        assert read_response(sock)[0] == 200
    server.stop()


# -- 5 / 20 read timeout, connection bound ------------------------------------------------------
def test_a_stalled_body_gets_408_and_the_connection_closes(tmp_path: Path) -> None:
    server = Serve(tmp_path, "--read-timeout", "1")
    with server.connect() as sock:
        sock.sendall(post(ECHO_PATH, b'{"a"', "Content-Length: 20"))
        data = read_all(sock)
    assert data.startswith(b"HTTP/1.1 408 "), data
    server.stop()


def test_a_stalled_head_gets_408(tmp_path: Path) -> None:
    server = Serve(tmp_path, "--read-timeout", "1")
    with server.connect() as sock:
        sock.sendall(b"POST " + ECHO_PATH.encode() + b" HTTP/1.1\r\nHost: t\r\n")
        data = read_all(sock)
    assert data.startswith(b"HTTP/1.1 408 "), data
    server.stop()


def test_connections_over_the_bound_get_503_with_retry_after(tmp_path: Path) -> None:
    server = Serve(tmp_path, "--max-connections", "1", "--read-timeout", "15")
    with server.connect() as holder:
        holder.sendall(b"POST ")  # holds the only slot
        time.sleep(0.3)
        with server.connect() as sock:
            sock.sendall(post(ECHO_PATH, b"{}", "Content-Length: 2"))
            status, headers, _ = read_response(sock)
    assert status == 503
    assert headers["retry-after"].isdigit()
    server.stop()


# -- 20 / 18 / 19 framing -----------------------------------------------------------------------
def test_obs_folded_header_is_refused(serve: Serve) -> None:
    raw = post(ECHO_PATH, b"{}", "Content-Length: 2", "X-A: a", " folded")
    assert exchange(serve, raw)[0] == 400


@pytest.mark.parametrize("lengths", [("8", "2"), ("abc",), ("-1",), ("2, 3",)])
def test_conflicting_or_invalid_content_length_is_refused(serve: Serve,
                                                          lengths: tuple[str, ...]) -> None:
    raw = post(ECHO_PATH, b"{}", *(f"Content-Length: {v}" for v in lengths))
    status, headers, _ = exchange(serve, raw)
    assert (status, headers.get("connection")) == (400, "close")


def test_chunked_body_is_decoded(serve: Serve) -> None:
    body = b'3;ext=1\r\n{"a\r\n5\r\n": 1}\r\n0\r\nX-Trailer: t\r\n\r\n'
    status, _, answer = exchange(serve, post(ECHO_PATH, body, "Transfer-Encoding: chunked"))
    assert (status, json.loads(answer)) == (200, {"a": 1})


def test_chunked_body_over_the_limit_gets_413(serve: Serve) -> None:
    with serve.connect() as sock:
        sock.sendall(post(ECHO_PATH, b"", "Transfer-Encoding: chunked"))
        chunk = b"100000\r\n" + b" " * 0x100000 + b"\r\n"
        try:
            for _ in range(64):  # 64 MiB announced, far over the 1 MiB default
                sock.sendall(chunk)
        except OSError:
            pass  # the server stopped reading, answered, and closed
        status = read_response(sock)[0]
    assert status == 413


@pytest.mark.parametrize(("extra", "body", "expected"), [
    (("Transfer-Encoding: chunked",), b"zz\r\n{}\r\n0\r\n\r\n", 400),
    (("Transfer-Encoding: chunked",), b"2\r\n{}xx\r\n0\r\n\r\n", 400),
    (("Transfer-Encoding: chunked", "Content-Length: 2"), b"2\r\n{}\r\n0\r\n\r\n", 400),
    (("Transfer-Encoding: gzip, chunked",), b"2\r\n{}\r\n0\r\n\r\n", 501),
])
def test_bad_chunked_framing(serve: Serve, extra: tuple[str, ...], body: bytes,
                             expected: int) -> None:
    assert exchange(serve, post(ECHO_PATH, body, *extra))[0] == expected


# -- 22.7 access log ----------------------------------------------------------------------------
def test_control_characters_are_escaped_in_the_access_log(tmp_path: Path) -> None:
    server = Serve(tmp_path)
    with server.connect() as sock:
        sock.sendall(b"GET /\x1b[2K\x1b]0;x\x07 HTTP/1.1\r\nHost: t\r\n\r\n")
        read_all(sock)
    with server.connect() as sock:
        sock.sendall(post(ECHO_PATH, b"{}", "Content-Length: 2", "Connection: close"))
        read_all(sock)
    output = server.stop()
    assert "\x1b" not in output and "\x07" not in output
    assert "\\x1b[2K\\x1b]0;x\\x07" in output
    echo = [line for line in output.splitlines() if f"POST {ECHO_PATH} HTTP/1.1" in line]
    assert len(echo) == 1
    assert echo[0].split()[-3:-1] == ["200", "2"]
    assert len(echo[0].split()[-1]) > 8  # the execution id


# -- 7 binding ----------------------------------------------------------------------------------
def test_a_busy_port_fails_before_anything_is_printed(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        (tmp_path / "echo.json").write_text(json.dumps(ECHO))
        done = subprocess.run(
            [sys.executable, "-m", "webhook_workflow", "serve", str(tmp_path / "echo.json"),
             "--port", str(port), "--store", "memory"],
            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "serving on" not in done.stdout and "echo v" not in done.stdout


# -- 22.3 uvicorn and proxy headers -------------------------------------------------------------
def test_uvicorn_serve_ignores_x_forwarded_for_for_the_allowlist(tmp_path: Path) -> None:
    pytest.importorskip("uvicorn")
    guarded = {"key": "guarded", "sync": True, "config": {"ipAllowlist": ["10.1.2.3"]},
               "nodes": [{"key": "r", "type": "response", "config": {"body": "in"}}]}
    (tmp_path / "guarded.json").write_text(json.dumps(guarded))
    proc = subprocess.Popen(
        [sys.executable, "-m", "webhook_workflow", "serve", str(tmp_path / "guarded.json"),
         "--port", "0", "--store", "memory", "--server", "uvicorn"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = ""
        while not line.startswith("serving on "):
            line = proc.stdout.readline()
            assert line, "serve exited early"
        port = int(line.split()[2].rsplit(":", 1)[1])
        raw = post("/api/webhook:trigger/guarded", b"{}", "Content-Length: 2",
                   "X-Forwarded-For: 10.1.2.3", "Connection: close")
        deadline = time.monotonic() + GUARD
        while True:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=GUARD)
                break
            except ConnectionRefusedError:  # uvicorn starts listening after the announcement
                assert time.monotonic() < deadline
                time.sleep(0.05)
        with sock:
            sock.sendall(raw)
            status = read_response(sock)[0]
        assert status == 403
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
