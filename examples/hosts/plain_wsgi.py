"""A framework-free WSGI app behind the door, for any WSGI server.

``WEBHOOK_WORKFLOW_STORE`` picks the store (default ``memory``); with several worker
processes use SQLite, so that they share one queue and one execution log:

    WEBHOOK_WORKFLOW_STORE=sqlite:///hooks.db gunicorn -w 2 examples.hosts.plain_wsgi:app
    waitress-serve --listen=127.0.0.1:8000 examples.hosts.plain_wsgi:app

Webhook URL: http://127.0.0.1:8000/api/webhook:trigger/payment-callback
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from typing import Any

from examples.hosts import EXAMPLE
from webhook_workflow import Engine
from webhook_workflow.urls import webhook_url
from webhook_workflow.wsgi import WebhookMiddleware

engine = Engine(os.environ.get("WEBHOOK_WORKFLOW_STORE", "memory"))
engine.add_workflow(EXAMPLE)


def site(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The host's own routes: ``/health`` and ``/webhook-url``."""
    path = environ.get("PATH_INFO") or "/"
    if path == "/health":
        answer: dict[str, str] | None = {"status": "up"}
    elif path == "/webhook-url":
        answer = {"url": webhook_url(engine, "payment-callback", environ=environ)}
    else:
        answer = None
    body = json.dumps(answer or {"error": "not found"}).encode()
    start_response("200 OK" if answer else "404 Not Found",
                   [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


app = WebhookMiddleware(site, engine=engine)
