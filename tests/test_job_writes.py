"""When a background run writes its jobs: before a node acting outside the run only when
another such node ran since the last write, and at the end (what recovery resumes after)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from werkzeug.test import Client

from webhook_workflow import Engine, Status
from webhook_workflow.wsgi import WebhookMiddleware


def _not_found(environ: Any, start_response: Any) -> list[bytes]:
    start_response("404 Not Found", [])
    return []



def test_jobs_are_written_before_an_effect_that_follows_another(tmp_path: Path) -> None:
    engine = Engine(f"sqlite:///{tmp_path / 'w.db'}")
    seen: dict[str, list[str]] = {}

    def stored_jobs(ctx: Any) -> list[str]:
        found = engine.store.get(ctx.execution_id)
        assert found is not None
        return [job.node_key for job in found.jobs]

    def first(config: dict[str, Any], ctx: Any) -> str:
        seen["first"] = stored_jobs(ctx)
        return "one"

    def second(config: dict[str, Any], ctx: Any) -> str:
        seen["second"] = stored_jobs(ctx)
        return "two"

    engine.register_node("first", first)
    engine.register_node("second", second)
    engine.add_workflow({"key": "w", "nodes": [
        {"key": "pure", "type": "calculation", "config": {"expression": "1 + 1"}},
        {"key": "a", "type": "first"},
        {"key": "b", "type": "second"}]})
    try:
        answer = Client(WebhookMiddleware(_not_found, engine=engine)).post(
            "/api/webhook:trigger/w", json={})
        assert answer.status_code == 200
        assert engine.drain(10)
        (done,) = engine.store.list("w")
        assert done is not None and done.status == Status.RESOLVED
        assert [job.node_key for job in done.jobs] == ["pure", "a", "b"]
        # Before the first effect nothing needed writing: the pure node computes again.
        assert seen["first"] == []
        # Before the second, the first effect's job (and what came before it) is written,
        # so a run resumed after a crash does not repeat it.
        assert seen["second"] == ["pure", "a"]
    finally:
        engine.close()
