"""Flask, middleware form: the door wraps ``app.wsgi_app``.

Run:  flask --app examples.hosts.flask_app run
Webhook URL: http://127.0.0.1:5000/api/webhook:trigger/payment-callback
"""

from __future__ import annotations

from flask import Flask, request

from examples.hosts import EXAMPLE
from webhook_workflow import Engine
from webhook_workflow.urls import webhook_url
from webhook_workflow.wsgi import WebhookMiddleware

engine = Engine()
engine.add_workflow(EXAMPLE)

app = Flask(__name__)
# Wrap app.wsgi_app, not app: `app` stays a Flask object (flask run, app.test_client()).
app.wsgi_app = WebhookMiddleware(app.wsgi_app, engine=engine)  # type: ignore[method-assign]


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "up"}


@app.get("/webhook-url")
def url() -> dict[str, str]:
    # Host routes share the door's mount point here: the request's environ is enough.
    return {"url": webhook_url(engine, "payment-callback", environ=request.environ)}
