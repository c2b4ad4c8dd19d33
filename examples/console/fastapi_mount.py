"""FastAPI: ``app.mount("/ops", console.asgi)``; a host rule may decide who gets in.

Here the console lets in a Bearer token or its login form, and also any request the host's
own rule accepts (``authorize``): a header set by the company's proxy, say.

Run:  uvicorn examples.console.fastapi_mount:app
Console: http://127.0.0.1:8000/ops/
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI

from examples.console import EXAMPLE, console_token
from webhook_workflow import Engine
from webhook_workflow.asgi import WebhookMiddleware
from webhook_workflow.console import Console

engine = Engine(base_path="")
engine.add_workflow(EXAMPLE)


def from_the_proxy(method: str, path: str, headers: Mapping[str, str]) -> bool:
    # Only when the proxy in front strips this header from outside requests.
    return headers.get("x-forwarded-groups", "").split(",")[0] == "ops"


console = Console(engine, token=console_token(), authorize=from_the_proxy)
app = FastAPI(lifespan=lambda app: engine.lifespan())
app.mount("/hooks", WebhookMiddleware(engine=engine))
app.mount("/ops", console.asgi)
