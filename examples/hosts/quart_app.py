"""Quart, middleware form: the door wraps ``app.asgi_app``.

Quart's test client and servers call ``app.asgi_app``, so both go through the door; the
lifespan events pass through it too (engine started at startup, drained at shutdown).

Run:  hypercorn examples.hosts.quart_app:app   (or: quart --app examples.hosts.quart_app run)
Webhook URL: http://127.0.0.1:8000/api/webhook:trigger/payment-callback
"""

from __future__ import annotations

from quart import Quart, request

from examples.hosts import EXAMPLE
from webhook_workflow import Engine
from webhook_workflow.asgi import WebhookMiddleware
from webhook_workflow.urls import webhook_url

engine = Engine()
engine.add_workflow(EXAMPLE)

app = Quart(__name__)
# The ignore: Quart types asgi_app with its own TypedDict scopes.
app.asgi_app = WebhookMiddleware(app.asgi_app, engine=engine)  # type: ignore[method-assign, arg-type, assignment]


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "up"}


@app.get("/webhook-url")
async def url() -> dict[str, str]:
    return {"url": webhook_url(engine, "payment-callback", scope=request.scope)}
