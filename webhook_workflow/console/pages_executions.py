"""The executions list: newest first, filters, keyset pages, refreshed live by the script."""

from __future__ import annotations

from ..http.response import CoreResponse
from ..store.pages import ExecutionRow
from .filters import STATUS_CHOICES, ListQuery
from .render import badge, duration, esc, html_response, link, moment, status_label
from .request import Ctx

__all__ = ["executions_page", "rows_table"]


def _filters(ctx: Ctx, query: ListQuery) -> str:
    raw = query.raw
    keys = sorted({w.key for w in ctx.engine.workflows()} | (
        {query.workflow} if query.workflow else set()))
    options = ['<option value="">all workflows</option>'] + [
        f'<option value="{esc(k)}"{" selected" if k == query.workflow else ""}>{esc(k)}'
        "</option>" for k in keys]
    wanted = (raw.get("status") or "").lower()
    statuses = ['<option value="">any status</option>'] + [
        f'<option value="{s}"{" selected" if s == wanted else ""}>{s.upper()}</option>'
        for s in STATUS_CHOICES]
    return (
        f'<form method="get" action="{esc(ctx.page.url(""))}" class="filters">'
        f'<label>Workflow <select name="workflow">{"".join(options)}</select></label>'
        f'<label>Status <select name="status">{"".join(statuses)}</select></label>'
        f'<label>Since <input name="since" value="{esc(raw.get("since", ""))}" '
        'placeholder="24h, 2026-12-07T10:00"></label>'
        f'<label>Until <input name="until" value="{esc(raw.get("until", ""))}" '
        'placeholder="1h, 2026-12-07T11:00"></label>'
        f'<label>Id or idempotency key <input name="q" value="{esc(raw.get("q", ""))}">'
        '</label><button type="submit">Filter</button> '
        f'{link(ctx.page.url(""), "Clear", "button secondary")}</form>')


def rows_table(ctx: Ctx, rows: list[ExecutionRow], *, live: bool) -> str:
    """The table of rows (its body is what the script refreshes)."""
    if not rows:
        return '<p class="empty" id="rows">No executions match.</p>'
    body = []
    for row in rows:
        mode = "sync" if row.sync else "async"
        replay = link(ctx.page.url(f"executions/{row.replay_of}"), "replay", "muted") \
            if row.replay_of else ""
        body.append(
            f'<tr data-status="{esc(status_label(row.status))}">'
            f'<td>{link(ctx.page.url(f"executions/{row.id}"), row.id, "mono")}</td>'
            f'<td>{link(ctx.page.url("workflows/" + row.workflow_key), row.workflow_key)}'
            f' <span class="muted">v{row.version}</span></td>'
            f"<td>{badge(row.status)}</td><td>{mode}</td>"
            f"<td>{moment(row.created_at)}</td>"
            f"<td>{esc(duration(row.started_at, row.finished_at))}</td>"
            f"<td>{row.job_count}</td><td>{esc(row.reason or '')} {replay}</td></tr>")
    attr = ' data-live-rows="1"' if live else ""
    return ('<table class="list" id="rows"><thead><tr><th>Execution</th><th>Workflow</th>'
            "<th>Status</th><th>Mode</th><th>Received (UTC)</th><th>Took</th><th>Jobs</th>"
            f'<th>Reason</th></tr></thead><tbody{attr}>{"".join(body)}</tbody></table>')


def executions_page(ctx: Ctx) -> CoreResponse:
    """The list page."""
    query = ListQuery.parse(ctx.params)
    errors = "".join(f'<p class="error">{esc(e)}</p>' for e in query.errors)
    if query.errors:
        return html_response(400, ctx.page.layout("Executions", _filters(ctx, query) + errors))
    rows, following = query.rows(ctx.engine.store)
    first_page = query.before is None and not query.q
    pager = []
    if query.before is not None:
        newest = {k: v for k, v in query.raw.items() if k != "before"}
        pager.append(link(ctx.page.url("", **newest), "← Newest", "button secondary"))
    if following is not None:
        older = {**query.raw, "before": following}
        pager.append(link(ctx.page.url("", **older), "Older →", "button secondary"))
    live = ('<label class="live"><input type="checkbox" id="live" checked> live</label>'
            if first_page else "")
    body = (_filters(ctx, query) + f'<div class="bar">{live}</div>'
            + rows_table(ctx, rows, live=first_page)
            + f'<nav class="pager">{"".join(pager)}</nav>')
    return html_response(200, ctx.page.layout("Executions", body, live=first_page))
