"""FastAPI, middleware form: ``app.add_middleware(WebhookMiddleware, engine=engine)``.

As middleware the door sees the lifespan events: it starts the engine's workers at startup
and drains and closes the engine at shutdown.

Run:  uvicorn examples.hosts.fastapi_app:app
Webhook URL: http://127.0.0.1:8000/api/webhook:trigger/payment-callback
"""

from __future__ import annotations

from fastapi import FastAPI, Request

from examples.hosts import EXAMPLE
from webhook_workflow import Engine
from webhook_workflow.asgi import WebhookMiddleware
from webhook_workflow.urls import webhook_url

engine = Engine()
engine.add_workflow(EXAMPLE)

app = FastAPI()
app.add_middleware(WebhookMiddleware, engine=engine)


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "up"}


@app.get("/webhook-url")
def url(request: Request) -> dict[str, str]:
    return {"url": webhook_url(engine, "payment-callback", scope=request.scope)}
