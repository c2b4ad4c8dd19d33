"""Acting on executions: replay, retry, cancel, resume, recover; asked (GET), then done (POST).

Each action has a page that says what it will do with a button that POSTs it (with the CSRF
token): nothing changes on a GET, and a click is always confirmed. The answer to the POST
says what happened, with a link to what it made. Recover makes a dry run first: the list of
what it would retry, then the button that retries those.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import DefinitionError, NotRetryable, RequestRejected
from ..http.response import CoreResponse
from ..resume import resume_by_hand
from ..status import Status, status_from_value
from .filters import parse_moment
from .pages_execution import RETRYABLE, not_found, waiting_jobs
from .render import badge, esc, html_response, link
from .request import Ctx

__all__ = ["ACTIONS", "do_action", "do_recover", "recover_form"]

ACTIONS = ("replay", "retry", "cancel", "resume")
_SAY = {
    "replay": ("Replay", "runs this execution's trigger context again as a new execution, "
               "on the workflow's current version."),
    "retry": ("Retry", "reopens this execution where it failed: the jobs that resolved are "
              "kept, the failed node runs again."),
    "cancel": ("Cancel", "ends this execution CANCELED (a running one stops before its next "
               "node)."),
    "resume": ("Resume", "gives the waiting node the JSON below as its result, and the "
               "execution goes on."),
}


def _result(ctx: Ctx, status: int, heading: str, text: str, links: list[str]) -> CoreResponse:
    body = (f'<p class="{"ok" if status < 400 else "error"}" id="result">{esc(text)}</p>'
            f'<p class="actions">{" ".join(links)}</p>')
    return html_response(status, ctx.page.layout(heading, body))


def do_action(ctx: Ctx, action: str, execution_id: str, post: bool) -> CoreResponse:
    """The confirmation page of an action (GET), or the action and its result (POST)."""
    execution = ctx.engine.get_execution(execution_id)
    if execution is None:
        return not_found(ctx, f"No execution {execution_id} in the store.")
    page = ctx.page
    back = link(page.url(f"executions/{execution_id}"), "Back to the execution", "button")
    verb, what = _SAY[action]
    node = ctx.params.get("node") or ctx.form.get("node") or ""
    if not post:
        fields: list[tuple[str, Any]] = [("node", node)] if action == "resume" else []
        extra = ""
        if action == "resume":
            extra = ('<label class="block">Result (JSON) <textarea name="result" rows="6">'
                     "{}</textarea></label>")
            what = f"node {node}: " + what
        if action == "retry" and execution.status not in RETRYABLE:
            what = "only a FAILED, ERROR or ABORTED execution can be retried."
        body = (f'<p>Execution <span class="mono">{esc(execution_id)}</span> '
                f"({esc(execution.workflow_key)}) {badge(execution.status)}</p>"
                f"<p>{esc(verb)} {esc(what)}</p>"
                + page.form(f"executions/{execution_id}/{action}", fields,
                            f"{verb} execution", "button danger" if action == "cancel"
                            else "button", extra) + f" {back}")
        return html_response(200, page.layout(f"{verb} execution?", body))
    engine = ctx.engine
    try:
        if action == "replay":
            made = engine.replay(execution_id)
            return _result(ctx, 200, "Replayed", f"Replayed as execution {made.id} "
                           f"({'queued' if made.status is None else Status(made.status).name})",
                           [link(page.url(f"executions/{made.id}"), "Open the replay",
                                 "button"), back])
        if action == "retry":
            engine.retry(execution_id)
            return _result(ctx, 200, "Retried", "The execution goes on from the node that "
                           "failed; its page shows how it ends.", [back])
        if action == "cancel":
            done = engine.cancel(execution_id, by="console")
            return _result(ctx, 200 if done else 409, "Canceled" if done else "Not canceled",
                           "Canceled." if done else "It had ended already.", [back])
        return _resume(ctx, execution_id, node, back)
    except NotRetryable as exc:
        return _result(ctx, 409, "Not retried", str(exc), [back])
    except (KeyError, DefinitionError) as exc:
        return _result(ctx, 409, f"Not {action}ed", f"Its workflow is not available here: "
                       f"{exc}", [back])


def _resume(ctx: Ctx, execution_id: str, node: str, back: str) -> CoreResponse:
    execution = ctx.engine.get_execution(execution_id)
    text = ctx.form.get("result", "null") or "null"
    try:
        result = json.loads(text)
    except ValueError as exc:
        return _result(ctx, 400, "Not resumed", f"The result is not JSON: {exc}", [back])
    waits = {key: url for key, url, _ in waiting_jobs(ctx, execution)} if execution else {}
    if node not in waits:
        return _result(ctx, 409, "Not resumed", f"Node {node!r} does not wait.", [back])
    url = waits[node]
    if url is not None:
        try:
            resume_by_hand(ctx.engine, url, result)
        except RequestRejected as exc:
            return _result(ctx, exc.status, "Not resumed", exc.message, [back])
        ctx.engine.start()
        ctx.engine.dispatcher.notify()
    elif not ctx.engine.resume(execution_id, node, result):
        return _result(ctx, 409, "Not resumed", f"Node {node!r} no longer waits.", [back])
    return _result(ctx, 200, "Resumed", f"Node {node} was resumed; the execution goes on.",
                   [back])


def _recover_args(ctx: Ctx, fields: dict[str, str]) -> dict[str, Any]:
    names = [s for s in ("failed", "error", "aborted") if fields.get(s)] or \
        ["failed", "error", "aborted"]
    limit = fields.get("limit") or "100"
    return {"workflow_key": fields.get("workflow") or None,
            "statuses": [status_from_value(n) for n in names],
            "since": parse_moment(fields["since"]) if fields.get("since") else None,
            "until": parse_moment(fields["until"]) if fields.get("until") else None,
            "limit": int(limit) if limit.isdigit() else 100}


def recover_form(ctx: Ctx, fields: dict[str, str] | None = None, note: str = "") -> str:
    """The recover form (its button makes the dry run)."""
    fields = fields or {}
    keys = sorted(w.key for w in ctx.engine.workflows())
    options = ['<option value="">all workflows</option>'] + [
        f'<option value="{esc(k)}"{" selected" if k == fields.get("workflow") else ""}>'
        f"{esc(k)}</option>" for k in keys]
    boxes = "".join(
        f'<label><input type="checkbox" name="{s}" value="1"'
        f'{" checked" if fields.get(s) or not any(fields.get(x) for x in RECOVERED) else ""}>'
        f" {s.upper()}</label>" for s in RECOVERED)
    extra = (f'<label>Workflow <select name="workflow">{"".join(options)}</select></label>'
             f"{boxes}"
             f'<label>Since <input name="since" value="{esc(fields.get("since", ""))}" '
             'placeholder="24h"></label>'
             f'<label>Until <input name="until" value="{esc(fields.get("until", ""))}">'
             f'</label><label>At most <input name="limit" value="'
             f'{esc(fields.get("limit", "100"))}" size="5"></label>'
             '<input type="hidden" name="dry_run" value="1">')
    return (f"{note}<p>Retries every execution that ended FAILED, ERROR or ABORTED and "
            "matches, the oldest first. The first step lists them; nothing changes yet.</p>"
            + ctx.page.form("recover", (), "Show what would be retried", "button", extra))


RECOVERED = ("failed", "error", "aborted")


def do_recover(ctx: Ctx) -> CoreResponse:
    """A dry run (the list, and a button to retry those), or the recovery itself."""
    fields = ctx.form
    try:
        args = _recover_args(ctx, fields)
    except ValueError as exc:
        note = f'<p class="error">{esc(exc)}</p>'
        return html_response(400, ctx.page.layout("Recover", recover_form(ctx, fields, note)))
    dry = fields.get("dry_run") == "1"
    ids = ctx.engine.recover(**args, dry_run=dry)
    listed = "".join(f"<li>{link(ctx.page.url(f'executions/{i}'), i, 'mono')}</li>"
                     for i in ids)
    if dry:
        keep = [(k, v) for k, v in fields.items() if k not in ("csrf", "dry_run") and v]
        confirm = ctx.page.form("recover", [*keep, ("dry_run", "0")],
                                f"Retry these {len(ids)}", "button danger") if ids else ""
        body = (f'<p id="result">{len(ids)} execution{"s" if len(ids) != 1 else ""} would be '
                f'retried.</p><ol class="ids">{listed}</ol>{confirm} '
                f'{link(ctx.page.url("recover"), "Start over", "button secondary")}')
        return html_response(200, ctx.page.layout("Recover: dry run", body))
    body = (f'<p class="ok" id="result">Retried {len(ids)} execution'
            f'{"s" if len(ids) != 1 else ""}.</p><ol class="ids">{listed}</ol>')
    return html_response(200, ctx.page.layout("Recovered", body))
