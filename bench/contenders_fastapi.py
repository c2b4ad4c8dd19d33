"""The FastAPI contender, written as FastAPI's docs teach (pydantic models, ``HTTPBasic``).

With the orjson variant it answers through an orjson response class (also its
``default_response_class``) and parses the body with orjson through a custom ``Request`` and
``APIRoute`` class, FastAPI's documented hook for that (its own parsing uses the stdlib).

No ``from __future__ import annotations`` here: FastAPI reads the annotations at run time.
"""

import secrets
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Request, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import job
from .contenders_asgi import _error_body, json_response_class


class Order(BaseModel):
    id: str
    status: str
    amount: float | None = None


class Payment(BaseModel):
    order: Order
    items: list[dict[str, Any]] = []


security = HTTPBasic(realm="webhook")


async def shop(credentials: Annotated[HTTPBasicCredentials, Depends(security)]) -> None:
    # ``async def``: a plain ``def`` dependency would run in the thread pool on every request.
    user_ok = secrets.compare_digest(credentials.username.encode(), job.USER)
    password_ok = secrets.compare_digest(credentials.password.encode(), job.PASSWORD)
    if not (user_ok and password_ok):
        raise HTTPException(401, headers={"WWW-Authenticate": job.REALM})


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def _orjson_route() -> type[APIRoute]:
    """An ``APIRoute`` whose handler sees a ``Request`` that parses JSON with orjson."""
    import orjson

    class ORJSONRequest(Request):
        async def json(self) -> Any:
            if not hasattr(self, "_json"):
                self._json = orjson.loads(await self.body())
            return self._json

    class ORJSONRoute(APIRoute):
        def get_route_handler(self) -> Handler:
            handler = super().get_route_handler()

            async def route(request: Request) -> Response:
                return await handler(ORJSONRequest(request.scope, request.receive))

            return route

    return ORJSONRoute


def app(variant: str = "stdlib") -> FastAPI:
    """A FastAPI app with the one POST route (no OpenAPI routes), answering with
    ``variant``'s JSON library."""
    answer = json_response_class(variant)

    async def errors(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return answer(_error_body(exc.status_code, request.method), exc.status_code,
                      headers=exc.headers)

    async def hook(payment: Payment, source: str | None = None,
                   x_request_id: Annotated[str | None, Header()] = None) -> Response:
        if payment.order.status != "paid":
            return answer({"ok": False}, 400)
        return answer({"ok": True, "id": payment.order.id, "request": x_request_id},
                      headers={"X-Order": payment.order.id})

    api = FastAPI(openapi_url=None, docs_url=None, redoc_url=None,
                  default_response_class=answer,
                  exception_handlers={StarletteHTTPException: errors})
    if variant == "orjson":
        api.router.route_class = _orjson_route()
    api.post(job.ROUTE, dependencies=[Depends(shop)])(hook)
    return api

