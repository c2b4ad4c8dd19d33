"""The console's JSON API: workflows, executions (filtered, by keyset), one execution, actions.

``GET api/workflows``, ``GET api/executions?workflow=&status=&since=&until=&before=&limit=&q=``
(``{"executions": [...], "next": <before of the next page or null>}``), ``GET
api/executions/{id}``, ``POST api/executions/{id}/replay|retry|cancel`` and ``POST
api/recover`` (``dry_run`` first). Secrets are redacted as on the pages. Errors are
``{"errors": [{"message": ...}]}``, as the webhooks' are.
"""

from __future__ import annotations

import time
from typing import Any

from ..errors import DefinitionError, NotRetryable
from ..http.response import CoreResponse, error_response
from ..jsoncodec import dumps_bytes
from ..records import Execution
from ..store.pages import ExecutionRow, counts_of, page_of
from .actions import _recover_args
from .filters import ListQuery
from .pages_execution import waiting_jobs
from .pages_workflows import DAY, guards_summary, webhook_url
from .render import status_label
from .request import Ctx

__all__ = ["api"]


def _json(status: int, value: Any) -> CoreResponse:
    return CoreResponse(status, [("Content-Type", "application/json")], dumps_bytes(value))


def _row(row: ExecutionRow) -> dict[str, Any]:
    return {"id": row.id, "workflow_key": row.workflow_key, "version": row.version,
            "status": None if row.status is None else int(row.status),
            "status_name": status_label(row.status), "sync": row.sync,
            "created_at": row.created_at, "started_at": row.started_at,
            "finished_at": row.finished_at, "reason": row.reason, "replay_of": row.replay_of,
            "parent_id": row.parent_id, "jobs": row.job_count}


def _execution(ctx: Ctx, execution: Execution) -> dict[str, Any]:
    redact = ctx.redactor(execution.workflow_key, execution.version)
    out: dict[str, Any] = redact(execution.to_dict())
    for job, shown in zip(execution.jobs, out["jobs"], strict=True):
        shown["attempt"] = job.meta.get("attempt", 1)
        if isinstance(job.meta.get("retryOf"), dict):
            shown["retry_of"] = redact(job.meta["retryOf"])
    out["waiting"] = [{"node_key": key, "resume_url": url, "seconds_left": left}
                      for key, url, left in waiting_jobs(ctx, execution)]
    out["replays"] = [r.id for r in page_of(ctx.engine.store, replay_of=execution.id,
                                            limit=100)]
    return out


def _workflows(ctx: Ctx) -> CoreResponse:
    counts = counts_of(ctx.engine.store, time.time() - DAY)
    return _json(200, {"workflows": [
        {"key": w.key, "title": w.title, "version": w.version, "enabled": w.enabled,
         "sync": w.sync, "url_path": w.url_path, "url": webhook_url(ctx, w),
         "guards": guards_summary(w.definition), "last_24h": counts.get(w.key, {})}
        for w in sorted(ctx.engine.workflows(), key=lambda w: w.key)]})


def api(ctx: Ctx, parts: list[str], method: str) -> CoreResponse:
    """Answer ``api/<parts>``."""
    engine = ctx.engine
    if parts == ["workflows"] and method == "GET":
        return _workflows(ctx)
    if parts == ["executions"] and method == "GET":
        query = ListQuery.parse(ctx.params)
        if query.errors:
            return error_response(400, "; ".join(query.errors))
        rows, following = query.rows(engine.store)
        return _json(200, {"executions": [_row(r) for r in rows], "next": following})
    if len(parts) == 2 and parts[0] == "executions" and method == "GET":
        execution = engine.get_execution(parts[1])
        if execution is None:
            return error_response(404, f"no execution {parts[1]}")
        return _json(200, _execution(ctx, execution))
    if len(parts) == 3 and parts[0] == "executions" and parts[2] in ("replay", "retry",
                                                                     "cancel"):
        if method != "POST":
            return error_response(405, f"use POST for {parts[2]}", [("Allow", "POST")])
        return _act(ctx, parts[1], parts[2])
    if parts == ["recover"]:
        if method != "POST":
            return error_response(405, "use POST for recover", [("Allow", "POST")])
        try:
            args = _recover_args(ctx, {**ctx.params, **ctx.form})
        except ValueError as exc:
            return error_response(400, str(exc))
        dry = (ctx.params.get("dry_run") or ctx.form.get("dry_run") or "0") not in ("0", "")
        return _json(200, {"dry_run": dry, "ids": engine.recover(**args, dry_run=dry)})
    return error_response(404, "no such API path")


def _act(ctx: Ctx, execution_id: str, action: str) -> CoreResponse:
    engine = ctx.engine
    if engine.get_execution(execution_id) is None:
        return error_response(404, f"no execution {execution_id}")
    try:
        if action == "replay":
            made = engine.replay(execution_id)
            return _json(200, {"replay": _execution(ctx, made)})
        if action == "retry":
            reopened = engine.retry(execution_id)
            return _json(200, {"execution": _execution(ctx, reopened)})
        if not engine.cancel(execution_id, by="console"):
            return error_response(409, "the execution has ended already")
        found = engine.get_execution(execution_id)
        return _json(200, {"canceled": True,
                           "status": status_label(None if found is None else found.status)})
    except NotRetryable as exc:
        return error_response(409, str(exc))
    except (KeyError, DefinitionError) as exc:
        return error_response(409, f"its workflow is not available here: {exc}")
