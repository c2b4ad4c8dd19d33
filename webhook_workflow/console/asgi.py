"""The console's ASGI door: scope and body in, the core's answer out (store reads off the loop)."""

from __future__ import annotations

import asyncio
from typing import Any

from ..asgi import route_path
from ..http.headers import asgi_headers
from ..http.response import CoreResponse, error_response
from .request import MAX_FORM_BYTES, ConsoleRequest, Handler

__all__ = ["ConsoleASGI"]


class ConsoleASGI:
    """An ASGI 3 app serving ``console`` (a :class:`~.core.Console`) below its mount point.

    Lifespan scopes are answered (the console owns nothing to start or stop: the engine's
    lifespan is the host's); the store is read in a worker thread, never on the event loop.
    """

    def __init__(self, console: Handler) -> None:
        self.console = console

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                kind = (await receive())["type"]
                if kind == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif kind == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > MAX_FORM_BYTES:
                await _send(send, error_response(413, "body too large"))
                return
            if not message.get("more_body", False):
                break
        query = scope.get("query_string") or b""
        request = ConsoleRequest(
            method=scope["method"], path=route_path(scope),
            query=query.decode("latin-1"), headers=asgi_headers(scope["headers"]),
            body=body, root=(scope.get("root_path") or "").rstrip("/"),
            secure=scope.get("scheme") in ("https", "wss"),
            client=(scope.get("client") or (None,))[0])
        response = await asyncio.to_thread(self.console.handle, request)
        if scope["method"] == "HEAD":
            response = CoreResponse(response.status, response.headers, b"")
        await _send(send, response)


async def _send(send: Any, response: CoreResponse) -> None:
    headers = [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in response.headers]
    headers.append((b"content-length", str(len(response.body)).encode("ascii")))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})
