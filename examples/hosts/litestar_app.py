"""Litestar, mounted form: an ``@asgi("/hooks", is_mount=True)`` handler awaits the door.

Litestar hands a mounted app the path below the mount (``/payment-callback/``, with a
slash appended) and leaves ``root_path`` as it was; the door ignores the slash. Mounted
handlers get no lifespan events: ``Litestar(lifespan=[engine.lifespan])`` starts and closes
the engine.

Run:  uvicorn examples.hosts.litestar_app:app
Webhook URL: http://127.0.0.1:8000/hooks/payment-callback
"""

from __future__ import annotations

from litestar import Litestar, Request, get
from litestar.handlers import asgi
from litestar.types import Receive, Scope, Send

from examples.hosts import EXAMPLE
from webhook_workflow import Engine
from webhook_workflow.asgi import WebhookMiddleware
from webhook_workflow.urls import webhook_url

engine = Engine(base_path="")
engine.add_workflow(EXAMPLE)
hooks = WebhookMiddleware(engine=engine)


# The door never changes the scope, so Litestar need not copy it.
@asgi("/hooks", is_mount=True, copy_scope=False)
async def webhooks(scope: Scope, receive: Receive, send: Send) -> None:
    await hooks(scope, receive, send)  # type: ignore[arg-type]


@get("/health")
async def health() -> dict[str, str]:
    return {"status": "up"}


@get("/webhook-url")
async def url(request: Request) -> dict[str, str]:  # type: ignore[type-arg]
    return {"url": webhook_url(engine, "payment-callback", scope=request.scope,
                               mount="/hooks")}


app = Litestar(route_handlers=[webhooks, health, url], lifespan=[engine.lifespan])
