"""ASGI contenders for the reference job (see :mod:`bench.job`), each a zero-argument factory.

uvicorn serves them with ``--factory bench.contenders_asgi:<name>``. The bare one does
honestly what the job needs (route, method, constant-time Basic auth, bounded body read,
JSON parse, header and query read, JSON answer); the frameworks are written as their docs
teach. The floor answers ``ok`` without reading anything.
"""

from __future__ import annotations

import binascii
import hmac
import json
from base64 import b64decode
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from . import job

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        kind = (await receive())["type"]
        await send({"type": kind + ".complete"})
        if kind == "lifespan.shutdown":
            return


def _basic_ok(header: bytes | None) -> bool:
    """The Basic credentials, checked as the library does (scheme, base64, both parts)."""
    if not header:
        return False
    scheme, _, encoded = header.strip().partition(b" ")
    if scheme.lower() != b"basic":
        return False
    try:
        decoded = b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    user, colon, password = decoded.partition(b":")
    user_ok = hmac.compare_digest(user, job.USER)
    password_ok = hmac.compare_digest(password, job.PASSWORD)
    return bool(colon) and user_ok and password_ok


async def _answer(send: Send, status: int, body: Any, *extra: tuple[bytes, bytes]) -> None:
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), *extra,
        (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


async def _bare(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["path"] != job.ROUTE:
        await _answer(send, 404, {"errors": [{"message": "not found"}]})
        return
    if scope["method"] != "POST":
        await _answer(send, 405, job.not_allowed(scope["method"]), (b"allow", b"POST"))
        return
    auth = request_id = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            auth = value
        elif name == b"x-request-id":
            request_id = value.decode("latin-1")
    if not _basic_ok(auth):
        await _answer(send, 401, job.UNAUTHORIZED, (b"www-authenticate", job.REALM.encode()))
        return
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > job.MAX_BODY:
            await _answer(send, 413, {"errors": [{"message": "body too large"}]})
            return
        parts.append(chunk)
        if not message.get("more_body", False):
            break
    try:
        data = json.loads(parts[0] if len(parts) == 1 else b"".join(parts))
    except ValueError:
        await _answer(send, 400, {"errors": [{"message": "invalid JSON"}]})
        return
    query = dict(parse_qsl(scope["query_string"].decode("latin-1")))
    order = data.get("order") if isinstance(data, dict) else None
    if not isinstance(order, dict) or order.get("status") != "paid":
        await _answer(send, 400, {"ok": False})
        return
    query.get("source")  # the job keeps query.source; nothing in the answer uses it
    await _answer(send, 200, {"ok": True, "id": order.get("id"), "request": request_id},
                  (b"x-order", str(order.get("id")).encode("latin-1")))


async def _floor(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"text/plain"), (b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def bare() -> ASGIApp:
    """A bare ASGI callable doing the job by hand."""
    return _bare


def floor() -> ASGIApp:
    """The floor: answers ``ok`` without reading the request."""
    return _floor


def _error_body(status: int, method: str) -> dict[str, Any]:
    if status == 405:
        return job.not_allowed(method)
    if status == 401:
        return job.UNAUTHORIZED
    return {"errors": [{"message": "not found" if status == 404 else "error"}]}


def starlette() -> ASGIApp:
    """Starlette: one POST route, the library's error format through exception handlers."""
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def errors(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        return JSONResponse(_error_body(exc.status_code, request.method), exc.status_code,
                            headers=exc.headers)

    async def hook(request: Request) -> JSONResponse:
        if not _basic_ok(request.headers.get("authorization", "").encode("latin-1")):
            raise HTTPException(401, headers={"WWW-Authenticate": job.REALM})
        data = await request.json()
        request.query_params.get("source")
        order = data.get("order") or {}
        if order.get("status") != "paid":
            return JSONResponse({"ok": False}, 400)
        return JSONResponse({"ok": True, "id": order["id"],
                             "request": request.headers.get("x-request-id")},
                            headers={"X-Order": str(order["id"])})

    return Starlette(routes=[Route(job.ROUTE, hook, methods=["POST"])],
                     exception_handlers={HTTPException: errors})


def fastapi() -> ASGIApp:
    """FastAPI: pydantic models, ``HTTPBasic`` with ``secrets.compare_digest``."""
    from .contenders_fastapi import app

    return app()


def door() -> ASGIApp:
    """webhook_workflow's ASGI door: ``Engine()`` (memory store) with the seed example."""
    from webhook_workflow import Engine
    from webhook_workflow.asgi import WebhookMiddleware

    engine = Engine()
    engine.add_workflow(job.EXAMPLE)
    return WebhookMiddleware(engine=engine)


#: name -> (label, factory); the first is the bare same-job contender the others compare to.
CONTENDERS: dict[str, tuple[str, Callable[[], ASGIApp]]] = {
    "bare": ("bare ASGI callable", bare),
    "floor": ("floor: ASGI 'ok'", floor),
    "starlette": ("Starlette", starlette),
    "fastapi": ("FastAPI", fastapi),
    "door": ("webhook_workflow ASGI door", door),
}
