"""Litestar: an ``@asgi("/ops", is_mount=True)`` handler awaits ``console.asgi``.

Litestar hands a mounted app the path below the mount and leaves ``root_path`` as it was, so
the handler tells the console where it is mounted (its links and cookies are under it).

Run:  uvicorn examples.console.litestar_mount:app
Console: http://127.0.0.1:8000/ops/
"""

from __future__ import annotations

from litestar import Litestar
from litestar.handlers import asgi
from litestar.types import Receive, Scope, Send

from examples.console import EXAMPLE, console_token
from webhook_workflow import Engine
from webhook_workflow.asgi import WebhookMiddleware
from webhook_workflow.console import Console

engine = Engine(base_path="")
engine.add_workflow(EXAMPLE)
hooks = WebhookMiddleware(engine=engine)
console = Console(engine, token=console_token())


@asgi("/hooks", is_mount=True, copy_scope=False)
async def webhooks(scope: Scope, receive: Receive, send: Send) -> None:
    await hooks(scope, receive, send)  # type: ignore[arg-type]


@asgi("/ops", is_mount=True, copy_scope=False)
async def ops(scope: Scope, receive: Receive, send: Send) -> None:
    await console.asgi({**scope, "root_path": scope.get("root_path", "") + "/ops"},
                       receive, send)


app = Litestar(route_handlers=[webhooks, ops], lifespan=[engine.lifespan])
