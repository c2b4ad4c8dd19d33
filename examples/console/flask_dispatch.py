"""Flask: Werkzeug's ``DispatcherMiddleware`` mounts ``console.wsgi`` at ``/ops``.

Run:  flask --app examples.console.flask_dispatch run
Console: http://127.0.0.1:5000/ops/
"""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from examples.console import EXAMPLE, console_token
from webhook_workflow import Engine
from webhook_workflow.console import Console
from webhook_workflow.wsgi import WebhookMiddleware

engine = Engine(base_path="")
engine.add_workflow(EXAMPLE)
console = Console(engine, token=console_token())

app = Flask(__name__)
app.wsgi_app = DispatcherMiddleware(  # type: ignore[method-assign]
    app.wsgi_app, {"/hooks": WebhookMiddleware(engine=engine), "/ops": console.wsgi})


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "up"}
