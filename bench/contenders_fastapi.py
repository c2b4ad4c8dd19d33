"""The FastAPI contender, written as FastAPI's docs teach (pydantic models, ``HTTPBasic``).

No ``from __future__ import annotations`` here: FastAPI reads the annotations at run time.
"""

import secrets
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import job
from .contenders_asgi import _error_body


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


async def errors(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse(_error_body(exc.status_code, request.method), exc.status_code,
                        headers=exc.headers)


async def hook(payment: Payment, source: str | None = None,
               x_request_id: Annotated[str | None, Header()] = None) -> JSONResponse:
    if payment.order.status != "paid":
        return JSONResponse({"ok": False}, 400)
    return JSONResponse({"ok": True, "id": payment.order.id, "request": x_request_id},
                        headers={"X-Order": payment.order.id})


def app() -> FastAPI:
    """A FastAPI app with the one POST route (no OpenAPI routes)."""
    api = FastAPI(openapi_url=None, docs_url=None, redoc_url=None,
                  exception_handlers={StarletteHTTPException: errors})
    api.post(job.ROUTE, dependencies=[Depends(shop)])(hook)
    return api
