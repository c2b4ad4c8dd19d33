"""The ``serve`` command's built-in HTTP/1.1 server: one thread per connection, bounded.

It reads each request head within ``read_timeout`` seconds and each part of a body within
``read_timeout`` seconds of the previous one (408 otherwise, as nginx's
``client_header_timeout`` / ``client_body_timeout`` do), decodes chunked bodies, refuses
ambiguous framing (400), serves at most ``max_connections`` connections at once (a connection
over the bound waits up to 1 s for a free slot, then gets 503 with ``Retry-After``), keeps
connections alive between requests, and stops gracefully: :meth:`Server.stop` stops
accepting, idle connections close, requests in progress finish (:meth:`Server.wait`).
Requests go to the engine's :class:`~webhook_workflow.gateway.Gateway`, as the doors' do.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
import time
from contextvars import ContextVar
from email.utils import formatdate
from typing import TYPE_CHECKING, TextIO
from urllib.parse import unquote_to_bytes

from .gateway import Acknowledgement, SyncRun
from .http.headers import asgi_headers
from .http.response import CoreResponse, error_response
from .http_wire import (
    BadRequest,
    Head,
    Reader,
    body_framing,
    escape_log,
    linger,
    listen,
    read_chunked,
    read_head,
    status_line,
    wants_close,
)
from .instruments import NO_INSTRUMENTS, RequestWatch
from .runs import RETRY_AFTER, current_execution

if TYPE_CHECKING:
    from collections.abc import Callable

    from .engine import Engine
    from .http.headers import RequestHeaders

    #: An app mounted below a path: ``(method, path below the prefix, query string, headers,
    #: body, prefix, client address) -> answer``.
    Mounted = Callable[[str, str, str, RequestHeaders, bytes, str, str], CoreResponse]

__all__ = ["DEFAULT_MAX_CONNECTIONS", "DEFAULT_READ_TIMEOUT", "Server", "listen"]

logger = logging.getLogger("webhook_workflow")

DEFAULT_READ_TIMEOUT = 10.0
DEFAULT_MAX_CONNECTIONS = 128
_SLOT_WAIT = 1.0  # how long an accepted connection over the bound waits for a slot
#: The watch of the webhook request this connection's thread answers (None: not observed).
_watch: ContextVar[RequestWatch | None] = ContextVar("webhook_workflow_http_watch", default=None)
#: The largest body a mounted app (the console) is given.
MOUNT_MAX_BODY = 1 << 20
_MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
           "Dec")


def _log_time() -> str:
    # The stdlib http.server's format (local time), which the access log always had.
    now = time.localtime()
    return (f"{now.tm_mday:02d}/{_MONTHS[now.tm_mon]}/{now.tm_year:04d} "
            f"{now.tm_hour:02d}:{now.tm_min:02d}:{now.tm_sec:02d}")


class Server:
    """Serve ``engine``'s webhooks on ``sock`` (from :func:`listen`) until :meth:`stop`."""

    def __init__(self, engine: Engine, sock: socket.socket, *, out: TextIO,
                 read_timeout: float = DEFAULT_READ_TIMEOUT,
                 max_connections: int = DEFAULT_MAX_CONNECTIONS,
                 routes: dict[str, Callable[[], CoreResponse]] | None = None,
                 mounts: dict[str, Mounted] | None = None,
                 access_log: Callable[[dict[str, object]], str] | None = None) -> None:
        self.engine = engine
        #: Other GET paths this server answers (``--metrics PATH``): path -> answer.
        self.routes = routes or {}
        #: Apps served below a path (``--console PATH``): prefix -> app.
        self.mounts = mounts or {}
        #: Turns an access-log entry into its line (``--log-format json``); None: the
        #: Common Log Format.
        self.access_log = access_log
        self.sock = sock
        self.out = out
        self.read_timeout = read_timeout
        self._slots = threading.BoundedSemaphore(max_connections)
        self._lock = threading.Lock()
        self._active: set[threading.Thread] = set()
        self._stopping = threading.Event()
        self._forced = False
        # A byte written here wakes every wait on a socket: the accept loop and idle
        # kept-alive connections.
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        limits = engine.limits
        self._head_limits = {"max_line": max(65536, limits.max_url_length + 64),
                             "max_url": limits.max_url_length,
                             "max_fields": limits.max_header_count,
                             "max_bytes": limits.max_header_bytes}

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stopping.is_set()

    def stop(self) -> None:
        """Stop accepting; idle connections close, busy ones after their answer (safe to
        call from a signal handler)."""
        self._stopping.set()
        with contextlib.suppress(OSError):  # already closed: nobody waits any more
            self._wake_w.send(b"x")

    def force(self) -> None:
        """Make :meth:`wait` return at once (a second Ctrl+C)."""
        self._forced = True
        self.stop()

    def serve_forever(self) -> None:
        """Accept connections until :meth:`stop`; then close the listening socket."""
        self.sock.setblocking(False)
        with selectors.DefaultSelector() as selector:
            selector.register(self.sock, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while not self._stopping.is_set():
                selector.select()
                if self._stopping.is_set():
                    break
                try:
                    conn, address = self.sock.accept()
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError as exc:  # out of file descriptors: wait for some to close
                    logger.warning("accepting a connection failed: %s", exc)
                    time.sleep(0.1)
                    continue
                conn.setblocking(True)
                if not self._slots.acquire(timeout=_SLOT_WAIT):
                    self._turn_away(conn, address)
                    continue
                thread = threading.Thread(target=self._connection, args=(conn, address),
                                          name="webhook-workflow-http", daemon=True)
                with self._lock:
                    self._active.add(thread)
                thread.start()
        self.sock.close()

    def wait(self, grace: float) -> int:
        """Wait up to ``grace`` seconds for the open connections to finish; how many are
        still open."""
        deadline = time.monotonic() + grace
        while True:
            with self._lock:
                left = len(self._active)
            if not left or self._forced or time.monotonic() >= deadline:
                return left
            time.sleep(0.05)

    def close(self) -> None:
        """Release the listening and wake-up sockets."""
        self.sock.close()
        self._wake_r.close()
        self._wake_w.close()

    # -- one connection ----------------------------------------------------------------------
    def _connection(self, conn: socket.socket, address: object) -> None:
        client = str(address[0]) if isinstance(address, tuple) else "-"
        try:
            self._requests(conn, Reader(conn), client)
        except Exception:  # never let one connection's error end up on stderr raw
            logger.exception("unexpected error serving %s", client)
        finally:
            conn.close()
            with self._lock:
                self._active.discard(threading.current_thread())
            self._slots.release()

    def _requests(self, conn: socket.socket, reader: Reader, client: str) -> None:
        first = True
        with selectors.DefaultSelector() as selector:
            selector.register(conn, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while True:
                if not reader.buffer:
                    ready = {key.fileobj for key, _ in selector.select(self.read_timeout)}
                    if conn not in ready:
                        if first and not ready:  # connected, sent nothing in time
                            self._refuse(conn, client, None, 408, "no request received "
                                         f"within {self.read_timeout:g} s")
                        return  # stopping, or an idle kept-alive connection timed out
                if not self._request(conn, reader, client):
                    return
                first = False

    def _request(self, conn: socket.socket, reader: Reader, client: str) -> bool:
        """Read and answer one request; whether the connection may serve another."""
        current_execution.set(None)
        _watch.set(None)
        head: Head | None = None
        try:
            head = read_head(reader, time.monotonic() + self.read_timeout,
                             **self._head_limits)
            if head is None:
                return False
            length = body_framing(head)
            response, complete = self._answer(conn, reader, head, length, client)
        except TimeoutError:
            return self._refuse(conn, client, head, 408, "request not received within "
                                f"{self.read_timeout:g} s")
        except BadRequest as exc:
            if head is None and exc.line is not None:  # log the line of an unparsable head
                head = Head(exc.line, "-", b"", (1, 0), [])
            return self._refuse(conn, client, head, exc.status, exc.message)
        except OSError:
            _answered(None)
            return False  # the client went away
        close = (not complete or wants_close(head) or self._stopping.is_set()
                 or (length is None and head.version < (1, 1)))
        try:
            self._send(conn, client, head, response, close=close)
        except OSError:
            return False
        if close and not complete:
            linger(conn)
        return not close

    def _answer(self, conn: socket.socket, reader: Reader, head: Head, length: int | None,
                client: str) -> tuple[CoreResponse, bool]:
        """The answer to ``head`` and whether its body was read to the end."""
        gateway = self.engine.gateway
        path, _, query = head.target.partition(b"?")
        if path.startswith((b"http://", b"https://")):  # absolute-form (RFC 9112 3.2.2)
            authority_and_path = path.split(b"//", 1)[1]
            slash = authority_and_path.find(b"/")
            path = authority_and_path[slash:] if slash >= 0 else b"/"
        raw = unquote_to_bytes(path)
        try:
            route = raw.decode("utf-8")
        except UnicodeDecodeError:
            route = raw.decode("latin-1")
        key = gateway.key_of(route)
        if key is None and self.mounts:
            for prefix, app in self.mounts.items():
                if route == prefix or route.startswith(prefix + "/"):
                    return self._mounted(app, prefix, route, reader, head, query, length,
                                         client)
        if key is None:
            answer = self.routes.get(route)
            if answer is not None and head.method in ("GET", "HEAD"):
                return answer(), length == 0
            return error_response(404, "not found"), length == 0
        instruments = self.engine.instruments
        if instruments is not NO_INSTRUMENTS:
            _watch.set(instruments.request(head.method, "http", path.decode("latin-1"), key,
                                           asgi_headers(head.fields)))
        fields = [(n, v) for n, v in head.fields if n != b"content-length"]
        if length:
            fields.append((b"content-length", b"%d" % length))
        try:
            request_headers = asgi_headers(fields)
            admitted = gateway.begin(
                head.method, key, len(head.target), query, request_headers, client=client,
                origin=lambda: f"http://{request_headers.get('host') or 'localhost'}")
            if isinstance(admitted, CoreResponse):
                return admitted, length == 0
            if length != 0 and head.version >= (1, 1) and not reader.buffer and \
                    b"100-continue" in (v.lower() for v in head.values(b"expect")):
                conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            if length is None:
                body = read_chunked(reader, admitted.max_body, self.read_timeout)
                if body is None:
                    return gateway.too_large(admitted), False
            else:
                body = reader.read(length, self.read_timeout)
                if len(body) < length:
                    raise BadRequest(400, "body shorter than Content-Length")
            result = gateway.accept(admitted, body)
            if isinstance(result, SyncRun):
                return result.run(), True
            if isinstance(result, Acknowledgement):
                return result.wait(), True
            return result, True
        except (BadRequest, OSError):
            raise  # TimeoutError is an OSError
        except Exception:
            logger.exception("unexpected error answering %s %r", head.method, head.target)
            return error_response(500, "internal error"), False

    def _mounted(self, app: Mounted, prefix: str, route: str, reader: Reader, head: Head,
                 query: bytes, length: int | None, client: str) -> tuple[CoreResponse, bool]:
        """The answer of an app mounted at ``prefix``, its body read first (1 MiB at most)."""
        if length is None:
            body = read_chunked(reader, MOUNT_MAX_BODY, self.read_timeout)
            if body is None:
                return error_response(413, "body too large"), False
        elif length > MOUNT_MAX_BODY:
            return error_response(413, "body too large"), False
        else:
            body = reader.read(length, self.read_timeout)
            if len(body) < length:
                raise BadRequest(400, "body shorter than Content-Length")
        try:
            answer = app(head.method, route[len(prefix):] or "/", query.decode("latin-1"),
                         asgi_headers(head.fields), body, prefix, client)
        except Exception:
            logger.exception("unexpected error answering %s %r", head.method, head.target)
            answer = error_response(500, "internal error")
        return answer, True

    # -- answers -----------------------------------------------------------------------------
    def _send(self, conn: socket.socket, client: str, head: Head | None,
              response: CoreResponse, *, close: bool) -> None:
        body = response.body
        lines = [f"HTTP/1.1 {status_line(response.status)}"]
        lines.extend(f"{name}: {value}" for name, value in response.headers)
        lines.append(f"Content-Length: {len(body)}")
        lines.append(f"Date: {formatdate(usegmt=True)}")
        if close:
            lines.append("Connection: close")
        elif head is not None and head.version < (1, 1):
            lines.append("Connection: keep-alive")
        if head is not None and head.method == "HEAD":
            body = b""
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + body
        try:
            conn.settimeout(self.read_timeout)
            conn.sendall(data)
        finally:
            _answered(response.status)
            self._log(client, head, response.status, len(body))

    def _refuse(self, conn: socket.socket, client: str, head: Head | None, status: int,
                message: str) -> bool:
        """Answer ``status`` to a request that cannot be read on, then close."""
        try:
            self._send(conn, client, head, error_response(status, message), close=True)
        except OSError:
            return False
        linger(conn)
        return False

    def _turn_away(self, conn: socket.socket, address: object) -> None:
        """Over the connection bound: 503 and close, from the accepting thread, never
        blocking it for long."""
        client = str(address[0]) if isinstance(address, tuple) else "-"
        response = error_response(503, "too many connections; retry later", [RETRY_AFTER])
        try:
            conn.setblocking(False)
            try:  # drop what already arrived, so that closing sends no reset
                while conn.recv(65536):
                    pass
            except OSError:
                pass
            conn.settimeout(1.0)
            self._send(conn, client, None, response, close=True)
            conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            conn.close()

    def _log(self, client: str, head: Head | None, status: int, size: int) -> None:
        # Common Log Format, then the execution the request created ("-": none).
        line = head.line.decode("latin-1") if head is not None else "-"
        if self.access_log is not None:
            text = self.access_log({"client": client, "request": line, "status": status,
                                    "size": size, "execution_id": current_execution.get()})
            with self._lock:
                print(text, file=self.out, flush=True)
            return
        execution = current_execution.get() or "-"
        text = f'{client} - - [{_log_time()}] "{line}" {status} {size} {execution}'
        with self._lock:
            print(escape_log(text), file=self.out, flush=True)


def _answered(status: int | None) -> None:
    """Tell the watch of the request being answered (if any) how it was."""
    watch = _watch.get()
    if watch is not None:
        _watch.set(None)
        watch.answered(status)
