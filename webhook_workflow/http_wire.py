"""HTTP/1.1 framing for the ``serve`` command's built-in server (RFC 9112), without threads.

A :class:`Reader` reads a socket with deadlines; :func:`read_head` parses a request head and
:func:`body_framing` decides how its body is delimited; :func:`read_chunked` decodes a chunked
body within a byte limit; :func:`wants_close` and :func:`status_line` read and write the rest
of the framing; :func:`listen` opens the listening socket and :func:`linger` closes a
connection without resetting it. Anything malformed raises :class:`BadRequest` with the status to
answer; the connection is closed after such an answer.
"""

from __future__ import annotations

import errno
import os
import re
import socket
import time
from dataclasses import dataclass
from http import HTTPStatus

__all__ = [
    "BadRequest",
    "Head",
    "Reader",
    "body_framing",
    "escape_log",
    "linger",
    "listen",
    "read_chunked",
    "read_head",
    "status_line",
    "wants_close",
]

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VERSION = re.compile(rb"HTTP/([0-9])\.([0-9])")
_TARGET_BAD = re.compile(rb"[\x00-\x20\x7f]")
_VALUE_BAD = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")  # CTLs except HTAB (RFC 9110 5.5)
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")
_RECV = 64 * 1024
_CHUNK_LINE = 4096  # a chunk-size line with its extensions
_TRAILERS = 16 * 1024

# The translation CPython 3.12's http.server applies to its log lines (``_control_char_table``):
# C0 and C1 controls become ``\xNN``, the backslash doubles, so a log line stays one line
# and carries no terminal escape sequence.
_LOG_TABLE = str.maketrans({c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7f, 0xa0))})
_LOG_TABLE[ord("\\")] = "\\\\"


def escape_log(text: str) -> str:
    """``text`` with control characters escaped, fit for one access-log line."""
    return text.translate(_LOG_TABLE)


class BadRequest(Exception):
    """A request that cannot be served: answer ``status`` with ``message``, then close."""

    def __init__(self, status: int, message: str, line: bytes | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.line = line  # the request line, when it was read: the access log shows it


class Reader:
    """Buffered reads from a socket; each read waits until a deadline or for an idle time."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()

    def fill(self, timeout: float) -> bool:
        """Receive more bytes; False at end of input. ``TimeoutError`` when none come."""
        if timeout <= 0:
            raise TimeoutError
        self.sock.settimeout(timeout)
        data = self.sock.recv(_RECV)
        if not data:
            return False
        self.buffer += data
        return True

    def readline(self, limit: int, deadline: float) -> bytes | None:
        """One line without its LF or CRLF; None at end of input before a line ends.

        ``BadRequest(status 0)`` when the line passes ``limit`` bytes: the caller knows
        which status a too long line deserves.
        """
        while True:
            end = self.buffer.find(b"\n", 0, limit + 2)
            if end >= 0:
                line = bytes(self.buffer[:end])
                del self.buffer[:end + 1]
                return line[:-1] if line.endswith(b"\r") else line
            if len(self.buffer) > limit + 1:
                raise BadRequest(0, "line too long")
            if not self.fill(deadline - time.monotonic()):
                return None

    def read(self, size: int, idle: float) -> bytes:
        """Exactly ``size`` bytes, waiting at most ``idle`` seconds for each part;
        fewer at end of input."""
        while len(self.buffer) < size:
            if not self.fill(idle):
                break
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data


@dataclass(slots=True)
class Head:
    """A parsed request head: the request line and the header fields as received."""

    line: bytes
    method: str
    target: bytes
    version: tuple[int, int]
    fields: list[tuple[bytes, bytes]]  # (lowercase name, value)

    def values(self, name: bytes) -> list[bytes]:
        """Every value of field ``name`` (lowercase), in order."""
        return [v for n, v in self.fields if n == name]


def read_head(reader: Reader, deadline: float, *, max_line: int, max_url: int,
              max_fields: int, max_bytes: int) -> Head | None:
    """The next request head; None when the connection ends before one starts.

    Request line over ``max_line`` bytes: 414 (naming the URL limit ``max_url``); more than
    ``max_fields`` fields or more than ``max_bytes`` of them (name, value, ``": "`` and CRLF
    each, as the gateway counts): 431.
    """
    line: bytes | None = b""
    for _ in range(4):  # RFC 9112 2.2: ignore empty lines before the request line
        try:
            line = reader.readline(max_line, deadline)
        except BadRequest:
            raise BadRequest(414, f"URL longer than {max_url} bytes") from None
        if line != b"":
            break
    if not line:
        return None
    parts = line.split(b" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not parts[1]:
        raise BadRequest(400, "malformed request line", line)
    method, target, version = parts
    match = _VERSION.fullmatch(version)
    if match is None:
        raise BadRequest(400, "malformed request line", line)
    if match.group(1) != b"1":
        raise BadRequest(505, "HTTP version not supported; use HTTP/1.1", line)
    if _TARGET_BAD.search(target):
        raise BadRequest(400, "control character or space in the request target", line)
    fields: list[tuple[bytes, bytes]] = []
    size = 0
    while True:
        try:
            raw = reader.readline(max_bytes, deadline)
        except BadRequest:
            raise BadRequest(431, f"header fields larger than {max_bytes} bytes") from None
        if raw is None:
            raise BadRequest(400, "connection closed inside the request head")
        if raw == b"":
            break
        if raw[:1] in (b" ", b"\t"):
            raise BadRequest(400, "obsolete line folding in a header field")
        name, colon, value = raw.partition(b":")
        if not colon or not _TOKEN.fullmatch(name):
            raise BadRequest(400, "malformed header field")
        value = value.strip(b" \t")
        if _VALUE_BAD.search(value):
            raise BadRequest(400, "control character in a header field value")
        size += len(name) + len(value) + 4
        if size > max_bytes:
            raise BadRequest(431, f"header fields larger than {max_bytes} bytes")
        fields.append((name.lower(), value))
        if len(fields) > max_fields:
            raise BadRequest(431, f"more than {max_fields} header fields")
    minor = int(match.group(2))
    head = Head(line, method.decode("ascii"), target, (1, minor), fields)
    hosts = head.values(b"host")
    if len(hosts) > 1 or (minor >= 1 and not hosts):
        raise BadRequest(400, "an HTTP/1.1 request needs exactly one Host header")
    return head


def body_framing(head: Head) -> int | None:
    """The body's length (0: none), or None for a chunked body (RFC 9112 6.3).

    Conflicting or invalid ``Content-Length`` values, ``Content-Length`` with
    ``Transfer-Encoding``, and a coding list not ending in ``chunked``: 400; a coding other
    than ``chunked`` before it: 501.
    """
    lengths = [item.strip(b" \t") for value in head.values(b"content-length")
               for item in value.split(b",")]
    codings = [item.strip(b" \t").lower() for value in head.values(b"transfer-encoding")
               for item in value.split(b",") if item.strip(b" \t")]
    if head.values(b"transfer-encoding"):
        if lengths:
            raise BadRequest(400, "both Content-Length and Transfer-Encoding")
        if not codings or codings[-1] != b"chunked":
            raise BadRequest(400, "Transfer-Encoding must end with chunked")
        if len(codings) > 1:
            shown = b", ".join(codings[:-1]).decode("latin-1")
            raise BadRequest(501, f"Transfer-Encoding {shown} not supported; send chunked")
        return None
    if not lengths:
        return 0
    if not all(item.isdigit() and item.isascii() for item in lengths):
        raise BadRequest(400, "invalid Content-Length")
    # Compared as text: int() refuses more than 4300 digits.
    if len({item.lstrip(b"0") for item in lengths}) > 1:
        raise BadRequest(400, "more than one Content-Length, with different values")
    return int(lengths[0]) if len(lengths[0]) <= 18 else 10**18


def read_chunked(reader: Reader, limit: int, idle: float) -> bytes | None:
    """A chunked body decoded (extensions ignored, trailers read and dropped); None as soon
    as it would pass ``limit`` bytes. ``BadRequest(400)`` for a malformed chunk,
    ``TimeoutError`` when the sender stalls for ``idle`` seconds."""
    parts: list[bytes] = []
    total = 0
    while True:
        line = _chunk_line(reader, idle)
        size_text = line.partition(b";")[0].strip(b" \t")
        if not _HEX.fullmatch(size_text):
            raise BadRequest(400, "malformed chunk size")
        size = int(size_text, 16)
        if size == 0:
            break
        total += size
        if total > limit:
            return None
        data = reader.read(size, idle)
        if len(data) < size:
            raise BadRequest(400, "connection closed inside a chunk")
        parts.append(data)
        if _chunk_line(reader, idle) != b"":
            raise BadRequest(400, "chunk data longer than its size")
    trailers = 0
    while True:  # the trailer section, up to its empty line
        line = _chunk_line(reader, idle)
        if line == b"":
            return b"".join(parts)
        trailers += len(line) + 2
        if trailers > _TRAILERS:
            raise BadRequest(400, "trailer section too large")


def _chunk_line(reader: Reader, idle: float) -> bytes:
    try:
        line = reader.readline(_CHUNK_LINE, time.monotonic() + idle)
    except BadRequest:
        raise BadRequest(400, "chunk line too long") from None
    if line is None:
        raise BadRequest(400, "connection closed inside a chunked body")
    return line


_LINGER = 2.0  # reading what a refused client still sends, so the close is no reset
_LINGER_BYTES = 1 << 20


def listen(host: str, port: int, backlog: int = 256) -> socket.socket:
    """A listening TCP socket on ``host:port``; ``OSError`` when it cannot be had (the port is
    in use or out of range, the host unknown)."""
    if not 0 <= port <= 65535:
        raise OSError(errno.EINVAL, f"port {port} is out of range 0-65535")
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        if os.name != "nt":  # elsewhere SO_REUSEADDR lets two servers share a port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Status {status}"


def wants_close(head: Head) -> bool:
    tokens = {t.strip(b" \t").lower() for v in head.values(b"connection") for t in v.split(b",")}
    if b"close" in tokens:
        return True
    return head.version < (1, 1) and b"keep-alive" not in tokens


def linger(conn: socket.socket) -> None:
    """Close our side, then read (briefly, boundedly) what the client still sends: closing a
    socket with unread input resets the connection, and the client may lose our answer."""
    try:
        conn.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + _LINGER
        total = 0
        while total < _LINGER_BYTES:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            conn.settimeout(left)
            data = conn.recv(65536)
            if not data:
                break
            total += len(data)
    except OSError:
        pass
