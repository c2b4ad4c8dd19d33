"""The network side of the ``request`` node: one checked request in, one answer or failure out.

:func:`perform` is what the node yields as an effect; it is a pure function of its
:class:`PreparedRequest`. Every hop (the first request and each GET redirect, at most
:data:`MAX_REDIRECTS`) resolves the host, checks every address against the request policy and
connects only to those addresses (:class:`PinnedConnection`), so a DNS answer that changes between
the check and the connect cannot move the request elsewhere. One deadline bounds the whole
exchange: name resolution, connect, TLS handshake, sending, and every read. Answers are read up to
:data:`MAX_RESPONSE_BYTES`. Proxy settings from the environment are not used.
"""

from __future__ import annotations

import functools
import http.client
import io
import ipaddress
import json
import re
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit

from .request_policy import PolicyRefusal, RequestPolicy, Resolved, address_of, resolve

__all__ = [
    "MAX_REDIRECTS",
    "MAX_RESPONSE_BYTES",
    "Failure",
    "PinnedConnection",
    "PreparedRequest",
    "Reply",
    "normalise_url",
    "perform",
    "tls_context",
]

MAX_REDIRECTS = 5
MAX_RESPONSE_BYTES = 10 * 1024 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CREDENTIALS = frozenset({"authorization", "cookie", "proxy-authorization"})
_URL_SAFE = "/%:@!$&'()*+,;=-._~"  # reserved characters and escapes stay; the rest is quoted
_HOST = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?")


@dataclass(frozen=True, slots=True)
class PreparedRequest:
    """A checked request: absolute http(s) URL with its query, header pairs, body bytes."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes | None
    timeout: float  # seconds, for the whole exchange including redirects
    timeout_ms: int  # as configured, for the message
    policy: RequestPolicy | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """A 2xx answer; ``data`` is parsed JSON for a JSON media type, else text."""

    status: int
    status_text: str
    headers: dict[str, Any]
    data: Any


@dataclass(frozen=True, slots=True)
class Failure:
    """Why the request did not succeed; ``status``/``data`` when the server answered."""

    message: str
    timed_out: bool = False
    status: int | None = None
    data: Any = None


def normalise_url(raw: str) -> tuple[str, tuple[str, str] | None]:
    """An absolute http(s) URL with quoted path and query and no fragment; ValueError if not."""
    parts = urlsplit(raw.strip())
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if not host.isascii():
        host = host.encode("idna").decode("ascii")
    if scheme not in ("http", "https") or not (":" in host or _HOST.fullmatch(host)):
        raise ValueError("not an http(s) URL")
    if ":" in host:
        ipaddress.ip_address(host)  # an IPv6 literal must parse
        host = f"[{host}]"
    port = parts.port
    netloc = host if port is None else f"{host}:{port}"
    path = quote(parts.path, safe=_URL_SAFE) or "/"
    query = quote(parts.query, safe=_URL_SAFE + "?")
    userinfo = None
    if parts.username:
        userinfo = (unquote(parts.username), unquote(parts.password or ""))
    return f"{scheme}://{netloc}{path}" + (f"?{query}" if query else ""), userinfo


def perform(request: PreparedRequest) -> Reply | Failure:
    """Send ``request`` (following GET redirects) and read the answer; never raises for a
    network or HTTP failure: those come back as :class:`Failure`."""
    deadline = time.monotonic() + request.timeout
    try:
        return _follow(request, deadline)
    except TimeoutError:
        return Failure(f"timeout of {request.timeout_ms}ms exceeded", timed_out=True)
    except PolicyRefusal as exc:
        return Failure(str(exc))


def _follow(request: PreparedRequest, deadline: float) -> Reply | Failure:
    url, headers = request.url, request.headers
    for hop in range(MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        tls, host = parts.scheme == "https", parts.hostname or ""
        port = parts.port or (443 if tls else 80)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            addresses = resolve(host, port, deadline)
            if request.policy is not None:
                request.policy.check(host, [address_of(sockaddr) for _f, sockaddr in addresses])
            conn = PinnedConnection(host, port, addresses, deadline,
                                    tls_context() if tls else None)
            response: http.client.HTTPResponse | None = None
            try:
                conn.request(request.method, target, request.body, dict(headers))
                response = conn.getresponse()
                location = response.getheader("Location")
                if response.status not in _REDIRECTS or not location or request.method != "GET":
                    return _answer(response)
            finally:
                if response is not None:
                    response.close()
                conn.close()
        except (OSError, http.client.HTTPException) as exc:
            if isinstance(exc, TimeoutError):
                raise
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            return Failure(f"request to {host}:{port} failed: {reason or type(exc).__name__}")
        if hop == MAX_REDIRECTS:
            return Failure("Maximum number of redirects exceeded", status=response.status)
        try:
            next_url, _userinfo = normalise_url(urljoin(url, location.strip()))
        except ValueError:
            return Failure(f"redirect to an invalid URL: {location!r}", status=response.status)
        if _origin(next_url) != _origin(url):  # credentials do not follow to another origin
            headers = tuple(h for h in headers if h[0].lower() not in _CREDENTIALS)
        url = next_url
    raise AssertionError("unreachable")


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port


def _answer(response: http.client.HTTPResponse) -> Reply | Failure:
    status = response.status
    length = response.getheader("Content-Length", "")
    too_large = Failure(f"response larger than {MAX_RESPONSE_BYTES} bytes", status=status)
    if length.isdigit() and int(length) > MAX_RESPONSE_BYTES:
        return too_large
    chunks: list[bytes] = []
    total = 0
    while chunk := response.read(min(65536, MAX_RESPONSE_BYTES + 1 - total)):
        chunks.append(chunk)
        total += len(chunk)
        if total > MAX_RESPONSE_BYTES:
            return too_large
    data = _decode(response, b"".join(chunks))
    if 200 <= status < 300:
        return Reply(status, response.reason, _header_map(response), data)
    return Failure(f"Request failed with status code {status}", status=status, data=data)


def _decode(response: http.client.HTTPResponse, body: bytes) -> Any:
    media = (response.getheader("Content-Type") or "").partition(";")[0].strip().lower()
    charset = response.headers.get_content_charset() or "utf-8"
    try:
        decoded = body.decode(charset, "replace")
    except LookupError:  # an unknown charset name
        decoded = body.decode("utf-8", "replace")
    if media == "application/json" or media.endswith("+json"):
        try:
            return json.loads(decoded)
        except (ValueError, RecursionError):
            return decoded  # not JSON after all: keep the text
    return decoded


def _header_map(response: http.client.HTTPResponse) -> dict[str, Any]:
    """Lower-case names; repeated headers joined with ", ", Set-Cookie kept as a list."""
    out: dict[str, Any] = {}
    for name, value in response.getheaders():
        key = name.lower()
        if key == "set-cookie":
            out.setdefault(key, []).append(value)
        elif key in out:
            out[key] = f"{out[key]}, {value}"
        else:
            out[key] = value
    return out


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("deadline passed")
    return left


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The TLS settings of outgoing requests: the system's trusted CAs, hostname checked."""
    return ssl.create_default_context()


class PinnedConnection(http.client.HTTPConnection):
    """An HTTP or HTTPS connection that connects only to the given (checked) addresses and
    does all its socket work, connect and TLS handshake included, before one deadline."""

    def __init__(self, host: str, port: int, addresses: Resolved, deadline: float,
                 tls: ssl.SSLContext | None) -> None:
        super().__init__(host, port)
        self._addresses = addresses
        self._deadline = deadline
        self._tls = tls
        self.default_port = 443 if tls is not None else 80  # Host header: port only if unusual

    def connect(self) -> None:
        error: OSError = OSError(f"no address for {self.host}")
        for family, sockaddr in self._addresses:
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.settimeout(_remaining(self._deadline))
                sock.connect(sockaddr)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if self._tls is not None:
                    sock.settimeout(_remaining(self._deadline))
                    sock = self._tls.wrap_socket(sock, server_hostname=self.host)
            except TimeoutError:
                sock.close()
                raise
            except OSError as exc:
                sock.close()
                error = exc
                continue
            self.sock = _DeadlineSocket(sock, self._deadline)
            return
        raise error


class _DeadlineSocket:
    """What :mod:`http.client` uses of a socket, with every send and receive given only the
    time left before the deadline (a server sending slowly cannot stretch the timeout).

    Like a real socket's ``makefile``, an open reader keeps the socket open: http.client closes
    the connection as soon as it knows the answer ends with it, before the body is read.
    """

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self._readers = 0
        self._closed = False

    def sendall(self, data: bytes) -> None:
        self.sock.settimeout(_remaining(self.deadline))
        self.sock.sendall(data)

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        self._readers += 1
        return io.BufferedReader(_DeadlineReader(self))

    def close(self) -> None:
        self._closed = True
        if self._readers == 0:
            self.sock.close()

    def reader_closed(self) -> None:
        self._readers -= 1
        if self._closed and self._readers == 0:
            self.sock.close()


class _DeadlineReader(io.RawIOBase):
    def __init__(self, owner: _DeadlineSocket) -> None:
        self._owner = owner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        sock = self._owner.sock
        sock.settimeout(_remaining(self._owner.deadline))
        return sock.recv_into(buffer)

    def close(self) -> None:
        if not self.closed:
            self._owner.reader_closed()
        super().close()
