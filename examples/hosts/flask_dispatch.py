"""Flask, dispatcher form: the door is mounted at ``/hooks`` with Werkzeug's
``DispatcherMiddleware``, which moves ``/hooks`` into ``SCRIPT_NAME``.

Run:  flask --app examples.hosts.flask_dispatch run
Webhook URL: http://127.0.0.1:5000/hooks/payment-callback
"""

from __future__ import annotations

from flask import Flask, request
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from examples.hosts import EXAMPLE
from webhook_workflow import Engine
from webhook_workflow.urls import webhook_url
from webhook_workflow.wsgi import WebhookMiddleware

engine = Engine(base_path="")  # webhooks directly below the mount point
engine.add_workflow(EXAMPLE)

app = Flask(__name__)
app.wsgi_app = DispatcherMiddleware(  # type: ignore[method-assign]
    app.wsgi_app, {"/hooks": WebhookMiddleware(engine=engine)})


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "up"}


@app.get("/webhook-url")
def url() -> dict[str, str]:
    # This route is not below /hooks: say where the door is mounted relative to it.
    return {"url": webhook_url(engine, "payment-callback", environ=request.environ,
                               mount="/hooks")}
