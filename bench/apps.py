"""ASGI apps the benchmarks serve (imported by uvicorn in a subprocess)."""

from __future__ import annotations

import os

from webhook_workflow import Engine
from webhook_workflow.asgi import WebhookMiddleware

ASYNC_HOOK = {"key": "hook", "nodes": [
    {"key": "o", "type": "output", "config": {"value": "{{$context.body.order.id}}"}}]}


def async_app() -> WebhookMiddleware:
    """The async hook on the store named by ``BENCH_STORE`` (``memory`` or an SQLite URL)."""
    engine = Engine(os.environ.get("BENCH_STORE", "memory"), max_queue=1_000_000,
                    max_executions=1000)
    engine.add_workflow(ASYNC_HOOK)
    return WebhookMiddleware(engine=engine)
