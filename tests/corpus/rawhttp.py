"""Raw HTTP/1.1 requests: parse wire bytes, feed them to the doors in process, send them over a
socket.

The in-process translation does what a typical server does before a door sees the request:

- WSGI (as gunicorn): ``PATH_INFO`` is the percent-decoded path carried as latin-1,
  ``QUERY_STRING`` the raw query, ``RAW_URI`` the request target as sent, repeated headers
  joined with ``","``, ``CONTENT_TYPE`` / ``CONTENT_LENGTH`` from their headers as sent; a
  chunked body is decoded and ``wsgi.input_terminated`` is set.
- ASGI (as uvicorn): ``path`` is the percent-decoded path as UTF-8, ``raw_path`` and
  ``query_string`` are bytes as sent, header names are lower-cased; a chunked body arrives as
  one ``http.request`` message per chunk.

A request whose request line or header block no server would accept (no three-part request
line, a header line without ``:``, whitespace before the ``:``) is not parsed: no door can see
it, and only the server tier answers it.
"""

from __future__ import annotations

import asyncio
import io
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, unquote_to_bytes

__all__ = [
    "CountingInput",
    "DoorAnswer",
    "RawRequest",
    "WireAnswer",
    "asgi_call",
    "asgi_scope",
    "free_port",
    "parse_raw",
    "send_raw",
    "wait_for_port",
    "wsgi_call",
    "wsgi_environ",
]

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


@dataclass
class RawRequest:
    """A parsed request: the request line, headers as sent, and the body bytes a server would
    hand on (chunked bodies decoded, or None when the chunk framing is broken)."""

    method: str
    target: bytes
    version: bytes
    headers: list[tuple[bytes, bytes]]
    after_head: bytes
    chunked: bool
    chunks: list[bytes] | None = None

    @property
    def path(self) -> bytes:
        return self.target.split(b"?", 1)[0]

    @property
    def query(self) -> bytes:
        parts = self.target.split(b"?", 1)
        return parts[1] if len(parts) == 2 else b""

    def header(self, name: bytes) -> bytes | None:
        values = [v for n, v in self.headers if n.lower() == name.lower()]
        return b",".join(values) if values else None

    @property
    def body(self) -> bytes:
        """The body bytes a server passes on: decoded chunks, else everything after the head
        (a door reads only up to ``Content-Length``)."""
        if self.chunked:
            return b"".join(self.chunks or [])
        return self.after_head


def _dechunk(data: bytes) -> list[bytes] | None:
    """The chunks of a chunked body; None when the framing is invalid or incomplete."""
    chunks: list[bytes] = []
    pos = 0
    while True:
        end = data.find(b"\r\n", pos)
        if end < 0:
            return None
        size_text = data[pos:end].split(b";", 1)[0].strip()
        if not size_text or not re.fullmatch(rb"[0-9A-Fa-f]{1,16}", size_text):
            return None
        size = int(size_text, 16)
        pos = end + 2
        if size == 0:
            return chunks
        if len(data) < pos + size + 2 or data[pos + size:pos + size + 2] != b"\r\n":
            return None
        chunks.append(data[pos:pos + size])
        pos += size + 2


def parse_raw(data: bytes) -> RawRequest | None:
    """Parse wire bytes the way a lenient server would; None when no server would accept the
    request line or header block (so no door can see the request)."""
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        return None
    method, target, version = parts
    if not _TOKEN.fullmatch(method) or not version.startswith(b"HTTP/1."):
        return None
    headers: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t") and headers:
            # obs-fold (RFC 9112 5.2): servers replace it with a space
            name, value = headers[-1]
            headers[-1] = (name, value + b" " + line.strip(b" \t"))
            continue
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name):
            return None
        headers.append((name, value.strip(b" \t")))
    request = RawRequest(method.decode("ascii"), target, version, headers, rest, False)
    encoding = request.header(b"transfer-encoding")
    if encoding is not None and b"chunked" in encoding.lower():
        request.chunked = True
        request.chunks = _dechunk(rest)
    return request


class CountingInput(io.RawIOBase):
    """``wsgi.input`` that counts the bytes the door read."""

    def __init__(self, data: bytes) -> None:
        self._stream = io.BytesIO(data)
        self.consumed = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = self._stream.read(-1 if size is None else size)
        self.consumed += len(chunk)
        return chunk

    def readline(self, size: int | None = -1) -> bytes:
        chunk = self._stream.readline(-1 if size is None else size)
        self.consumed += len(chunk)
        return chunk

    def readable(self) -> bool:
        return True


def wsgi_environ(req: RawRequest) -> tuple[dict[str, Any], CountingInput]:
    """A WSGI environ for ``req``, as gunicorn builds one, and its counting input stream."""
    body = req.body if not req.chunked else b"".join(req.chunks or [])
    stream = CountingInput(body)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": req.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(req.path).decode("latin-1"),
        "QUERY_STRING": req.query.decode("latin-1"),
        "RAW_URI": req.target.decode("latin-1"),
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": req.version.decode("latin-1"),
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": stream,
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if req.chunked:
        environ["wsgi.input_terminated"] = True
    for name, value in req.headers:
        text = value.decode("latin-1")
        upper = name.decode("latin-1").upper().replace("-", "_")
        key = upper if upper in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + upper
        environ[key] = f"{environ[key]},{text}" if key in environ else text
    if req.chunked:
        environ.pop("CONTENT_LENGTH", None)  # a server drops it when the body is chunked
    return environ, stream


@dataclass
class DoorAnswer:
    """What a door answered in process."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    consumed: int = 0
    problems: list[str] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


def wsgi_call(app: Callable[..., Any], req: RawRequest) -> DoorAnswer:
    """Call a WSGI app with ``req``; check the PEP 3333 rules a server relies on."""
    environ, stream = wsgi_environ(req)
    seen: dict[str, Any] = {}
    problems: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]],
                       exc_info: Any = None) -> Callable[[bytes], None]:
        seen["status"] = int(status.split()[0])
        seen["headers"] = headers
        for name, value in headers:
            try:
                value.encode("latin-1")
            except UnicodeEncodeError:
                problems.append(f"header {name} value {value!r} is not latin-1 (PEP 3333)")
            if any(c in value for c in "\r\n\0"):
                problems.append(f"header {name} carries CR/LF/NUL")
        return lambda data: None

    result = app(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return DoorAnswer(seen["status"], seen["headers"], body, stream.consumed, problems)


def asgi_scope(req: RawRequest) -> dict[str, Any]:
    """An ASGI HTTP scope for ``req``, as uvicorn builds one."""
    path = unquote(req.path.decode("latin-1"), encoding="utf-8", errors="replace")
    return {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": req.version.decode("latin-1").removeprefix("HTTP/"),
        "method": req.method, "scheme": "http", "path": path, "raw_path": req.path,
        "root_path": "", "query_string": req.query,
        "headers": [(n.lower(), v) for n, v in req.headers],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80),
    }


def asgi_call(app: Callable[..., Any], req: RawRequest) -> DoorAnswer | None:
    """Call an ASGI app with ``req``; None when it sent no answer (client went away)."""
    scope = asgi_scope(req)
    if req.chunked:
        bodies = [*(req.chunks or []), b""]
        messages = [{"type": "http.request", "body": b, "more_body": i < len(bodies) - 1}
                    for i, b in enumerate(bodies)]
    else:
        declared = _declared(req)
        available = req.after_head[:declared]
        # Short of Content-Length: what arrived, then the client goes away.
        messages = [{"type": "http.request", "body": available,
                     "more_body": len(available) < declared}]
    consumed = 0
    sent: list[dict[str, Any]] = []
    problems: list[str] = []

    async def receive() -> dict[str, Any]:
        nonlocal consumed
        if messages:
            message = messages.pop(0)
            consumed += len(message["body"])
            return message
        await asyncio.sleep(0)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            for name, value in message["headers"]:
                if not isinstance(name, bytes) or not isinstance(value, bytes):
                    problems.append(f"header {name!r} is not bytes")
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    starts = [m for m in sent if m["type"] == "http.response.start"]
    if not starts:
        return None
    if len(starts) > 1:
        problems.append("more than one http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in starts[0]["headers"]]
    return DoorAnswer(starts[0]["status"], headers, body, consumed, problems)


def _declared(req: RawRequest) -> int:
    """The declared body length for the ASGI messages (0 when absent or invalid)."""
    declared = (req.header(b"content-length") or b"").strip()
    if not declared.isdigit():
        return 0
    return int(declared) if len(declared) <= 18 else 10**18


# -- over a socket ----------------------------------------------------------------------------


@dataclass
class WireAnswer:
    """What a server answered on the wire; ``status`` None when nothing came back in time or
    the server closed the connection without an answer (``outcome`` says which)."""

    status: int | None
    headers: list[tuple[str, str]]
    body: bytes
    outcome: str  # "answered", "closed", "timeout"
    elapsed: float

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


def send_raw(port: int, data: bytes, *, timeout: float = 5.0, half_close: bool = False,
             head: bool = False, host: str = "127.0.0.1") -> WireAnswer:
    """Send ``data`` as is, read one answer (bounded by ``timeout`` in total); with ``head``
    (a HEAD request) the answer ends with its header block."""
    start = time.monotonic()
    deadline = start + timeout
    received = b""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may answer and close before it read everything
        head_end = -1
        length: int | None = None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return _answer(received, "timeout", start)
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                return _answer(received, "timeout", start)
            except OSError:
                chunk = b""
            if not chunk:
                return _answer(received, "closed" if not received else "answered", start)
            received += chunk
            if head_end < 0:
                head_end = received.find(b"\r\n\r\n")
                if head_end >= 0:
                    match = re.search(rb"\r\ncontent-length:\s*(\d+)", received[:head_end],
                                      re.IGNORECASE)
                    length = int(match.group(1)) if match else None
                    if head:
                        length = 0
            if head_end >= 0 and length is not None and len(received) >= head_end + 4 + length:
                return _answer(received, "answered", start)


def _answer(received: bytes, outcome: str, start: float) -> WireAnswer:
    elapsed = time.monotonic() - start
    head, sep, body = received.partition(b"\r\n\r\n")
    if not received or not sep:
        return WireAnswer(None, [], received, "closed" if outcome != "timeout" else outcome,
                          elapsed)
    lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        return WireAnswer(None, [], received, "closed", elapsed)
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    match = [v for n, v in headers if n.lower() == "content-length"]
    if match and match[0].isdigit():
        body = body[:int(match[0])]
    return WireAnswer(status, headers, body, "answered", elapsed)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, *, timeout: float = 20.0, alive: Callable[[], bool] | None = None
                  ) -> None:
    """Wait (bounded) until something accepts connections on ``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise RuntimeError("the server exited before it listened")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")
