"""Starlette: ``Mount("/ops", app=console.asgi)`` next to ``Mount("/hooks", ...)``.

Run:  uvicorn examples.console.starlette_mount:app
Console: http://127.0.0.1:8000/ops/
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Mount

from examples.console import EXAMPLE, console_token
from webhook_workflow import Engine
from webhook_workflow.asgi import WebhookMiddleware
from webhook_workflow.console import Console

engine = Engine(base_path="")
engine.add_workflow(EXAMPLE)
console = Console(engine, token=console_token(), title="Payments")

app = Starlette(
    routes=[Mount("/hooks", app=WebhookMiddleware(engine=engine)),
            Mount("/ops", app=console.asgi)],
    lifespan=lambda app: engine.lifespan(),
)
