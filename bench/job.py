"""The reference job every contender does: the seed example ``examples/payment-callback.json``.

POST ``/api/webhook:trigger/payment-callback?source=shop`` with Basic auth (shop:s3cret), an
``X-Request-Id`` header and a JSON body. ``order.status == "paid"`` answers 200
``{"ok": true, "id": ..., "request": ...}`` with ``X-Order``; any other status 400
``{"ok": false}``; missing or wrong credentials 401 with ``WWW-Authenticate``; other methods
405 with ``Allow: POST``. The bodies of 401 and 405 are the library's error format.

This module builds the requests (ASGI scopes, WSGI environs, raw HTTP) and checks answers.
"""

from __future__ import annotations

import base64
import json
import sys
from dataclasses import dataclass, field
from http.client import HTTPConnection
from typing import Any

ROUTE = "/api/webhook:trigger/payment-callback"
QUERY = "source=shop"
EXAMPLE = "examples/payment-callback.json"
USER, PASSWORD = b"shop", b"s3cret"
AUTH = "Basic " + base64.b64encode(USER + b":" + PASSWORD).decode("ascii")
WRONG_AUTH = "Basic " + base64.b64encode(b"shop:wrong").decode("ascii")
REQUEST_ID = "r-1"
MAX_BODY = 1024 * 1024  # the engine's default max_body_size; the bare contenders honour it too
REALM = 'Basic realm="webhook"'
UNAUTHORIZED = {"errors": [{"message": "authentication required"}]}


def not_allowed(method: str) -> dict[str, Any]:
    """The 405 body of the library's HTTP contract."""
    return {"errors": [{"message": f"method {method} not allowed; use POST"}]}


def payment(status: str = "paid", items: int = 2) -> bytes:
    """The seed body; ``items`` line items pad it."""
    lines = [{"sku": f"SKU-{i:06d}", "qty": 1 + i % 3, "price": 21.25} for i in range(items)]
    return json.dumps({"order": {"id": "A1", "status": status, "amount": 42.5},
                       "items": lines}).encode()


def padded(size: int) -> bytes:
    """A paid seed body padded with line items to about ``size`` bytes."""
    one = len(payment(items=2)) - len(payment(items=1))
    return payment(items=max(1, (size - len(payment(items=0))) // one))


@dataclass(frozen=True)
class Request:
    """One request of the job, in server-neutral form."""

    method: str = "POST"
    body: bytes = field(default_factory=payment)
    auth: str | None = AUTH
    path: str = ROUTE
    query: str = QUERY

    def headers(self) -> list[tuple[str, str]]:
        """The head a client like ``curl`` sends (Host first)."""
        out = [("host", "127.0.0.1:8000"), ("user-agent", "bench/1.0"), ("accept", "*/*"),
               ("x-request-id", REQUEST_ID)]
        if self.auth is not None:
            out.append(("authorization", self.auth))
        if self.method == "POST":
            out += [("content-type", "application/json"),
                    ("content-length", str(len(self.body)))]
        return out

    def scope(self) -> dict[str, Any]:
        """An ASGI 3 HTTP scope like uvicorn builds."""
        return {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"},
                "http_version": "1.1", "method": self.method, "scheme": "http",
                "path": self.path, "raw_path": self.path.encode(), "root_path": "",
                "query_string": self.query.encode(), "server": ("127.0.0.1", 8000),
                "client": ("127.0.0.1", 50000), "state": {},
                "headers": [(k.encode("latin-1"), v.encode("latin-1"))
                            for k, v in self.headers()]}

    def message(self) -> dict[str, Any]:
        """The single ``http.request`` message carrying the whole body."""
        return {"type": "http.request", "body": self.body, "more_body": False}

    def environ(self) -> dict[str, Any]:
        """A PEP 3333 environ without ``wsgi.input`` (the caller adds a fresh stream)."""
        env: dict[str, Any] = {
            "REQUEST_METHOD": self.method, "SCRIPT_NAME": "", "PATH_INFO": self.path,
            "QUERY_STRING": self.query, "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "50000",
            "RAW_URI": f"{self.path}?{self.query}", "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr, "wsgi.multithread": False,
            "wsgi.multiprocess": False, "wsgi.run_once": False}
        for name, value in self.headers():
            if name == "content-type":
                env["CONTENT_TYPE"] = value
            elif name == "content-length":
                env["CONTENT_LENGTH"] = value
            else:
                env["HTTP_" + name.upper().replace("-", "_")] = value
        return env


PAID = Request()
UNPAID = Request(body=payment("pending"))
NO_AUTH = Request(auth=None)
GET = Request(method="GET", body=b"")
CASES: dict[str, Request] = {"paid": PAID, "unpaid": UNPAID, "no auth": NO_AUTH, "GET": GET}
#: Expected (status, JSON body, key headers) per case.
EXPECTED: dict[str, tuple[int, Any, dict[str, str]]] = {
    "paid": (200, {"ok": True, "id": "A1", "request": REQUEST_ID}, {"x-order": "A1"}),
    "unpaid": (400, {"ok": False}, {}),
    "no auth": (401, UNAUTHORIZED, {"www-authenticate": REALM}),
    "GET": (405, not_allowed("GET"), {"allow": "POST"}),
}


@dataclass
class Answer:
    """What came back: status, lower-cased headers, body."""

    status: int
    headers: dict[str, str]
    body: bytes


def check(case: str, answer: Answer) -> str | None:
    """None when ``answer`` is the expected one for ``case``, else what differs.

    Bodies compare as JSON values (Flask sorts keys and adds a newline); the media type must
    be ``application/json``.
    """
    status, body, headers = EXPECTED[case]
    problems = []
    if answer.status != status:
        problems.append(f"status {answer.status} != {status}")
    try:
        got = json.loads(answer.body)
    except ValueError:
        got = answer.body[:80]
    if got != body:
        problems.append(f"body {got!r} != {body!r}")
    media = answer.headers.get("content-type", "").split(";")[0].strip()
    if media != "application/json":
        problems.append(f"content-type {media!r}")
    for name, value in headers.items():
        if answer.headers.get(name) != value:
            problems.append(f"{name}: {answer.headers.get(name)!r} != {value!r}")
    return "; ".join(problems) or None


def http_answer(port: int, request: Request) -> Answer:
    """Send ``request`` to a server on 127.0.0.1 (one connection)."""
    conn = HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        heads = {k: v for k, v in request.headers() if k not in ("host", "content-length")}
        conn.request(request.method, f"{request.path}?{request.query}",
                     request.body if request.method == "POST" else None, heads)
        reply = conn.getresponse()
        return Answer(reply.status, {k.lower(): v for k, v in reply.getheaders()},
                      reply.read())
    finally:
        conn.close()


def check_server(port: int) -> str | None:
    """Check the four cases over HTTP; None when all match."""
    for case, request in CASES.items():
        problem = check(case, http_answer(port, request))
        if problem:
            return f"{case}: {problem}"
    return None
