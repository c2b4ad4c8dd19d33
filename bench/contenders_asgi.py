"""ASGI contenders for the reference job (see :mod:`bench.job`), each a zero-argument factory.

uvicorn serves them with ``--factory bench.contenders_asgi:<name>``. The bare one does
honestly what the job needs (route, method, constant-time Basic auth, bounded body read,
JSON parse, header and query read, JSON answer); the frameworks are written as their docs
teach. The floor answers ``ok`` without reading anything.

Each factory builds its contender for the JSON variant of the process (:mod:`bench.variants`):
the stdlib ``json``, or orjson for parsing and answering as each framework's docs teach.
"""

from __future__ import annotations

import binascii
import hmac
from base64 import b64decode
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from . import job, variants

if TYPE_CHECKING:  # Starlette is imported only when its contender is built
    from starlette.responses import JSONResponse

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


def _bare_app(variant: str) -> ASGIApp:
    """The bare ASGI callable, parsing and answering with ``variant``'s JSON functions."""
    loads, dumps_bytes = variants.codec(variant)

    async def answer(send: Send, status: int, body: Any, *extra: tuple[bytes, bytes]) -> None:
        data = dumps_bytes(body)
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"), *extra,
            (b"content-length", str(len(data)).encode())]})
        await send({"type": "http.response.body", "body": data})

    async def bare(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["path"] != job.ROUTE:
            await answer(send, 404, {"errors": [{"message": "not found"}]})
            return
        if scope["method"] != "POST":
            await answer(send, 405, job.not_allowed(scope["method"]), (b"allow", b"POST"))
            return
        auth = request_id = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                auth = value
            elif name == b"x-request-id":
                request_id = value.decode("latin-1")
        if not _basic_ok(auth):
            await answer(send, 401, job.UNAUTHORIZED, (b"www-authenticate", job.REALM.encode()))
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
                await answer(send, 413, {"errors": [{"message": "body too large"}]})
                return
            parts.append(chunk)
            if not message.get("more_body", False):
                break
        try:
            # orjson.JSONDecodeError is a ValueError too.
            data = loads(parts[0] if len(parts) == 1 else b"".join(parts))
        except ValueError:
            await answer(send, 400, {"errors": [{"message": "invalid JSON"}]})
            return
        query = dict(parse_qsl(scope["query_string"].decode("latin-1")))
        order = data.get("order") if isinstance(data, dict) else None
        if not isinstance(order, dict) or order.get("status") != "paid":
            await answer(send, 400, {"ok": False})
            return
        query.get("source")  # the job keeps query.source; nothing in the answer uses it
        await answer(send, 200, {"ok": True, "id": order.get("id"), "request": request_id},
                     (b"x-order", str(order.get("id")).encode("latin-1")))

    return bare


async def _floor(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"text/plain"), (b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def bare() -> ASGIApp:
    """A bare ASGI callable doing the job by hand."""
    return _bare_app(variants.current())


def floor() -> ASGIApp:
    """The floor: answers ``ok`` without reading the request."""
    return _floor


def _error_body(status: int, method: str) -> dict[str, Any]:
    if status == 405:
        return job.not_allowed(method)
    if status == 401:
        return job.UNAUTHORIZED
    return {"errors": [{"message": "not found" if status == 404 else "error"}]}


def json_response_class(variant: str) -> type[JSONResponse]:
    """Starlette's ``JSONResponse``, or for orjson a subclass rendering with ``orjson.dumps``.

    FastAPI's own ``ORJSONResponse`` renders the same way, but recent FastAPI releases
    deprecate it and it warns on every instance: that cost would be timed too.
    """
    from starlette.responses import JSONResponse

    if variant != "orjson":
        return JSONResponse
    import orjson

    class ORJSONResponse(JSONResponse):
        """A JSON answer written by orjson (compact UTF-8, as ``JSONResponse`` writes it)."""

        def render(self, content: Any) -> bytes:
            return orjson.dumps(content)

    return ORJSONResponse


def starlette() -> ASGIApp:
    """Starlette: one POST route, the library's error format through exception handlers.

    With orjson the body is parsed by ``orjson.loads(await request.body())`` (Starlette's
    ``request.json()`` always uses the stdlib) and answered through an orjson response class.
    """
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.routing import Route

    variant = variants.current()
    JSONAnswer = json_response_class(variant)
    parse = variants.codec(variant)[0] if variant == "orjson" else None

    async def errors(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        return JSONAnswer(_error_body(exc.status_code, request.method), exc.status_code,
                          headers=exc.headers)

    async def hook(request: Request) -> JSONResponse:
        if not _basic_ok(request.headers.get("authorization", "").encode("latin-1")):
            raise HTTPException(401, headers={"WWW-Authenticate": job.REALM})
        data = await request.json() if parse is None else parse(await request.body())
        request.query_params.get("source")
        order = data.get("order") or {}
        if order.get("status") != "paid":
            return JSONAnswer({"ok": False}, 400)
        return JSONAnswer({"ok": True, "id": order["id"],
                           "request": request.headers.get("x-request-id")},
                          headers={"X-Order": str(order["id"])})

    return Starlette(routes=[Route(job.ROUTE, hook, methods=["POST"])],
                     exception_handlers={HTTPException: errors})


def fastapi() -> ASGIApp:
    """FastAPI: pydantic models, ``HTTPBasic`` with ``secrets.compare_digest``."""
    from .contenders_fastapi import app

    return app(variants.current())


def door() -> ASGIApp:
    """webhook_workflow's ASGI door: ``Engine()`` (memory store) with the seed example."""
    from webhook_workflow import Engine
    from webhook_workflow.asgi import WebhookMiddleware

    engine = Engine()
    engine.add_workflow(job.EXAMPLE)
    # The library picked its codec at import; a door on the wrong one must not be timed.
    variants.check_library(variants.current())
    return WebhookMiddleware(engine=engine)


#: name -> (label, factory); the first is the bare same-job contender the others compare to.
CONTENDERS: dict[str, tuple[str, Callable[[], ASGIApp]]] = {
    "bare": ("bare ASGI callable", bare),
    "floor": ("floor: ASGI 'ok'", floor),
    "starlette": ("Starlette", starlette),
    "fastapi": ("FastAPI", fastapi),
    "door": ("webhook_workflow ASGI door", door),
}
