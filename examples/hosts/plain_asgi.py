"""A framework-free ASGI app behind the door, for any ASGI server.

The door answers the lifespan events (engine started at startup, drained and closed at
shutdown) and passes them on to the wrapped app, which has none of its own here.

    uvicorn examples.hosts.plain_asgi:app
    hypercorn examples.hosts.plain_asgi:app

Webhook URL: http://127.0.0.1:8000/api/webhook:trigger/payment-callback
"""

from __future__ import annotations

import json
import os

from examples.hosts import EXAMPLE
from webhook_workflow import Engine
from webhook_workflow.asgi import Receive, Scope, Send, WebhookMiddleware
from webhook_workflow.urls import webhook_url

engine = Engine(os.environ.get("WEBHOOK_WORKFLOW_STORE", "memory"))
engine.add_workflow(EXAMPLE)


async def site(scope: Scope, receive: Receive, send: Send) -> None:
    """The host's own routes: ``/health`` and ``/webhook-url``."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    path, root = scope["path"], scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):]  # servers such as uvicorn --root-path keep it in path
    if path == "/health":
        answer: dict[str, str] | None = {"status": "up"}
    elif path == "/webhook-url":
        answer = {"url": webhook_url(engine, "payment-callback", scope=scope)}
    else:
        answer = None
    body = json.dumps(answer or {"error": "not found"}).encode()
    await send({"type": "http.response.start", "status": 200 if answer else 404,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


app = WebhookMiddleware(site, engine=engine)
