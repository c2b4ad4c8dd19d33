"""Shared checks for the host tier: the seed example's requests through any client, and real
servers started on 127.0.0.1 in a subprocess with bounded timeouts."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# The example apps are imported as ``examples.hosts...``, from the project folder.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
KEY = "payment-callback"
AUTH = "Basic " + base64.b64encode(b"shop:s3cret").decode()
PAID = json.dumps({"order": {"id": "A1", "status": "paid"}}).encode()
OPEN = json.dumps({"order": {"id": "A1", "status": "open"}}).encode()
#: How long a server may take to start answering, and to stop.
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Sent:
    """One request as a client sends it."""

    method: str
    url: str  # path and query
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None


Send = Callable[[Sent], Answer]


def lower(headers: Any) -> dict[str, str]:
    return {str(name).lower(): str(value) for name, value in headers.items()}


def werkzeug_send(client: Any) -> Send:
    """For Flask's test client and ``werkzeug.test.Client``."""

    def send(request: Sent) -> Answer:
        response = client.open(request.url, method=request.method, headers=request.headers,
                               data=request.body)
        return Answer(response.status_code, lower(response.headers), response.get_data())

    return send


def httpx_send(client: Any) -> Send:
    """For Starlette's and Litestar's test clients and ``httpx.Client`` on a real server."""

    def send(request: Sent) -> Answer:
        response = client.request(request.method, request.url, headers=request.headers,
                                  content=request.body)
        return Answer(response.status_code, lower(response.headers), response.content)

    return send


def seed(path: str, body: bytes = PAID, *, auth: bool = True) -> Sent:
    headers = {"Content-Type": "application/json", "X-Request-Id": "r-1"}
    if auth:
        headers["Authorization"] = AUTH
    return Sent("POST", f"{path}?source=shop", headers, body)


def check_seed(send: Send, path: str) -> None:
    """The seed example's three requests to the webhook at ``path``."""
    paid = send(seed(path))
    assert paid.status == 200, (paid.status, paid.body)
    assert paid.json() == {"ok": True, "id": "A1", "request": "r-1"}
    assert paid.headers.get("x-order") == "A1"
    refused = send(seed(path, OPEN))
    assert refused.status == 400, (refused.status, refused.body)
    assert refused.json() == {"ok": False}
    anonymous = send(seed(path, auth=False))
    assert anonymous.status == 401, (anonymous.status, anonymous.body)
    assert anonymous.headers.get("www-authenticate", "").startswith("Basic")
    wrong_method = send(Sent("GET", path))
    assert wrong_method.status == 405, (wrong_method.status, wrong_method.body)


def check_host(send: Send, url: str, prefix: str = "", suffix: str = "") -> None:
    """The host's own routes still answer; ``/webhook-url`` says ``url``."""
    health = send(Sent("GET", f"{prefix}/health{suffix}"))
    assert health.status == 200, (health.status, health.body)
    assert health.json() == {"status": "up"}
    found = send(Sent("GET", f"{prefix}/webhook-url{suffix}"))
    assert found.status == 200, (found.status, found.body)
    assert found.json() == {"url": url}


# -- real servers ----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    base: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status) == 200
    except (OSError, urllib.error.URLError):
        return False


@contextlib.contextmanager
def serve(argv: list[str], port: int, log: Path, *, ready: str = "/health",
          env: Mapping[str, str] | None = None) -> Iterator[Server]:
    """Run ``python -m <argv>`` from the project folder until ``ready`` answers 200; stop it
    with SIGTERM on exit (SIGKILL past STOP_TIMEOUT)."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", *argv], cwd=ROOT, env=environment,
                                   stdout=out, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _ready(server.base + ready):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{argv[0]} did not start:\n{server.output()}")
            time.sleep(0.1)
        yield server
    finally:
        stop(server)


def stop(server: Server) -> int:
    """SIGTERM, wait, SIGKILL if needed; the exit status."""
    process = server.process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)
    return int(process.returncode)
