"""The ASGI door (ASGI 3, HTTP 2.x, lifespan 2.0): ``WebhookMiddleware(app=None, *, engine)``.

Routes on the path relative to ``root_path`` (as Starlette's ``get_route_path`` does), reads
streamed bodies counting bytes (413 as soon as the limit is passed, the rest unread), runs
nothing when the client disconnects before the body is complete, and answers the lifespan
protocol itself when the wrapped app cannot (Django raises on lifespan).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .engine import Engine
from .gateway import Acknowledgement, Admission, SyncRun
from .http.headers import RequestHeaders, asgi_headers
from .http.response import CoreResponse, error_response
from .instruments import NO_INSTRUMENTS

__all__ = ["WebhookMiddleware"]

logger = logging.getLogger("webhook_workflow")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
# Hosts type their ASGI callables differently (TypedDict scopes in Quart and Litestar), so
# the public signatures accept any ASGI 3 callable.
ASGIApp = Callable[..., Awaitable[None]]


def route_path(scope: Scope) -> str:
    """The path relative to the mount point: ``path`` minus ``root_path`` when it holds it."""
    path: str = scope.get("path") or "/"
    root: str = scope.get("root_path") or ""
    if root and path.startswith(root) and (len(path) == len(root) or path[len(root)] == "/"):
        return path[len(root):] or "/"
    return path


class _Disconnected(Exception):
    """The client went away before the body was complete."""


class WebhookMiddleware:
    """Serve the engine's webhooks; hand every other path and scope type to ``app``.

    With ``app=None`` it is a standalone ASGI app (404 for other paths, its own lifespan).
    """

    def __init__(self, app: ASGIApp | None = None, *, engine: Engine) -> None:
        self.app = app
        self.engine = engine
        self.gateway = engine.gateway

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            key = self.gateway.key_of(route_path(scope))
            if key is not None:
                await self._http(scope, key, receive, send)
                return
            if self.app is None:
                await _send(send, error_response(404, "not found"))
                return
        elif kind == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if self.app is None:
            raise RuntimeError(f"webhook_workflow does not handle ASGI {kind!r} scopes")
        await self.app(scope, receive, send)

    # -- http -------------------------------------------------------------------------------
    async def _http(self, scope: Scope, key: str, receive: Receive, send: Send) -> None:
        instruments = self.engine.instruments
        watch = None if instruments is NO_INSTRUMENTS else instruments.request(
            scope["method"], scope.get("scheme", "http"), scope.get("path", ""), key,
            asgi_headers(scope["headers"]))
        try:
            response = await self._handle(scope, key, receive)
        except _Disconnected:
            if watch is not None:
                watch.answered(None)
            return
        except Exception:
            logger.exception("unexpected error answering %s %s", scope.get("method"),
                             scope.get("path"))
            response = error_response(500, "internal error")
        if watch is not None:
            watch.answered(response.status)
        try:
            await _send(send, response)
        except OSError:  # the client went away (ASGI 2.4): nothing to tell
            return  # (a try block, not contextlib.suppress: this runs on every request)

    async def _handle(self, scope: Scope, key: str, receive: Receive) -> CoreResponse:
        headers = asgi_headers(scope["headers"])
        problem = headers.framing_problem()
        if problem is not None:
            return _ambiguous(scope, problem)
        query: bytes = scope.get("query_string") or b""
        raw_path = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "replace")
        url_length = len(raw_path) + (len(query) + 1 if query else 0)
        peer = scope.get("client")
        admitted = self.gateway.begin(scope["method"], key, url_length, query, headers,
                                      client=peer[0] if peer else None,
                                      origin=lambda: _origin(scope, headers))
        if isinstance(admitted, CoreResponse):
            return admitted
        message = await receive()
        if message["type"] == "http.request" and not message.get("more_body", False):
            body: bytes | CoreResponse = message.get("body", b"")  # the usual single message
            if len(body) > admitted.max_body:  # type: ignore[arg-type]
                body = self.gateway.too_large(admitted)
        else:
            body = await _read_body(receive, admitted, message)
        if isinstance(body, CoreResponse):
            return body
        result = self.gateway.accept(admitted, body)
        if isinstance(result, SyncRun):
            return await result.run_async()
        if isinstance(result, Acknowledgement):
            return await result.wait_async()
        return result

    # -- lifespan ---------------------------------------------------------------------------
    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.app is None:
            await self._own_lifespan(receive, send, None)
            return
        state = {"startup": False, "answered": False}

        async def inner_receive() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                state["startup"] = True
                self.engine.start()
            elif message["type"] == "lifespan.shutdown":
                await asyncio.to_thread(self.engine.close)
            return message

        async def inner_send(message: Message) -> None:
            if message["type"].startswith("lifespan.startup."):
                state["answered"] = True
            await send(message)

        try:
            await self.app(scope, inner_receive, inner_send)
        except Exception:
            if state["answered"]:
                raise
            # The wrapped app does not speak lifespan (Django raises): answer it ourselves.
            logger.debug("wrapped app refused the lifespan scope; the middleware answers it")
            await self._own_lifespan(receive, send, "lifespan.startup" if state["startup"]
                                     else None)

    async def _own_lifespan(self, receive: Receive, send: Send, pending: str | None) -> None:
        while True:
            kind = pending or (await receive())["type"]
            pending = None
            if kind == "lifespan.startup":
                try:
                    self.engine.start()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif kind == "lifespan.shutdown":
                await asyncio.to_thread(self.engine.close)
                await send({"type": "lifespan.shutdown.complete"})
                return


def _ambiguous(scope: Scope, problem: str) -> CoreResponse:
    """400 for an ambiguous framing, closing an HTTP/1 connection: the bytes after the head
    may be a second request smuggled past a proxy that framed this one differently (an h11
    server such as uvicorn decodes chunked and would otherwise read on). HTTP/2 has no
    connection header, and no Transfer-Encoding either."""
    close = [("Connection", "close")] if str(scope.get("http_version", "1.1"))[:1] == "1" else []
    return error_response(400, problem, close)


async def _read_body(receive: Receive, admitted: Admission,
                     message: Message) -> bytes | CoreResponse:
    """The body from ``message`` (the first one received) and the ones after it."""
    parts: list[bytes] = []
    total = 0
    limit = admitted.max_body
    while True:
        kind = message["type"]
        if kind == "http.disconnect":
            raise _Disconnected
        if kind == "http.request":
            chunk = message.get("body", b"")
            if chunk:
                total += len(chunk)
                if total > limit:
                    return error_response(413, f"body larger than {limit} bytes")
                parts.append(chunk)
            if not message.get("more_body", False):
                return parts[0] if len(parts) == 1 else b"".join(parts)
        message = await receive()


# ``name.lower().encode()`` of answer header names; they come from definitions and the
# library, so there are few, but the cache is bounded all the same.
_NAMES: dict[str, bytes] = {}


def _name(name: str) -> bytes:
    encoded = _NAMES.get(name)
    if encoded is None:
        encoded = name.lower().encode("latin-1")
        if len(_NAMES) < 1024:
            _NAMES[name] = encoded
    return encoded


async def _send(send: Send, response: CoreResponse) -> None:
    body = response.body
    headers = [(_name(name), value.encode("latin-1")) for name, value in response.headers]
    headers.append((b"content-length", str(len(body)).encode("ascii")))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _origin(scope: Scope, headers: RequestHeaders) -> str:
    """``scheme://host`` and mount point of a request: the base of its resume URLs."""
    scheme = {"ws": "http", "wss": "https"}.get(scope.get("scheme", "http"),
                                                 scope.get("scheme", "http"))
    host = headers.get("host")
    if not host:
        server = scope.get("server") or ("localhost", None)
        host = server[0] if server[1] in (None, 80, 443) else f"{server[0]}:{server[1]}"
    return f"{scheme}://{host}{scope.get('root_path', '')}"

