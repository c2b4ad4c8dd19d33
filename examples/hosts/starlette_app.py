"""Starlette, mounted form: ``Mount("/hooks", app=WebhookMiddleware(engine=engine))``.

Run:  uvicorn examples.hosts.starlette_app:app
Webhook URL: http://127.0.0.1:8000/hooks/payment-callback
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from examples.hosts import EXAMPLE
from webhook_workflow import Engine
from webhook_workflow.asgi import WebhookMiddleware
from webhook_workflow.urls import webhook_url

engine = Engine(base_path="")
engine.add_workflow(EXAMPLE)


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "up"})


async def url(request: Request) -> JSONResponse:
    return JSONResponse({"url": webhook_url(engine, "payment-callback", scope=request.scope,
                                            mount="/hooks")})


app = Starlette(
    routes=[Route("/health", health), Route("/webhook-url", url),
            Mount("/hooks", app=WebhookMiddleware(engine=engine))],
    lifespan=lambda app: engine.lifespan(),
)
