"""FastAPI, mounted form: ``app.mount("/hooks", WebhookMiddleware(engine=engine))``.

A mounted app never sees lifespan events, so the host's lifespan enters
``engine.lifespan()``. Starlette's ``Mount`` matches only paths strictly below ``/hooks``.

Run:  uvicorn examples.hosts.fastapi_mount:app
Webhook URL: http://127.0.0.1:8000/hooks/payment-callback
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request

from examples.hosts import EXAMPLE
from webhook_workflow import Engine
from webhook_workflow.asgi import WebhookMiddleware
from webhook_workflow.urls import webhook_url

engine = Engine(base_path="")
engine.add_workflow(EXAMPLE)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # open database pools and the like here
    async with engine.lifespan():
        yield


app = FastAPI(lifespan=lifespan)
app.mount("/hooks", WebhookMiddleware(engine=engine))


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "up"}


@app.get("/webhook-url")
def url(request: Request) -> dict[str, str]:
    return {"url": webhook_url(engine, "payment-callback", scope=request.scope,
                               mount="/hooks")}
