"""The workflows list (with 24 hours of counts by status) and a workflow's graph and definition."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ..http.response import CoreResponse
from ..store.pages import counts_of
from ..workflow import Workflow
from .render import esc, html_response, json_block, link
from .request import Ctx
from .svg import graph_svg

__all__ = ["DAY", "guards_summary", "workflow_page", "workflows_page"]

DAY = 24 * 3600
_ORDER = ("QUEUED", "STARTED", "RESOLVED", "FAILED", "ERROR", "ABORTED", "CANCELED",
          "REJECTED", "RETRY_NEEDED")


def guards_summary(definition: Mapping[str, Any]) -> list[str]:
    """What stands before a workflow's runs: auth, signature, allowlist, filter, flow control."""
    config = definition.get("config") or {}
    options = definition.get("options") or {}
    out = []
    if config.get("basicAuthentication"):
        out.append("basic auth")
    signature = config.get("signature")
    if isinstance(signature, Mapping):
        out.append(f"signature ({signature.get('scheme', '?')})")
    if config.get("ipAllowlist"):
        out.append("IP allowlist")
    if config.get("idempotency"):
        out.append("idempotency")
    if config.get("filter"):
        out.append("filter")
    if config.get("cors"):
        out.append("CORS")
    for name in ("concurrency", "throttle", "debounce"):
        if options.get(name):
            out.append(name)
    return out


def _counts(counts: Mapping[str, int]) -> str:
    names = [n for n in _ORDER if counts.get(n)] + sorted(set(counts) - set(_ORDER))
    return " ".join(f'<span class="badge s-{esc(n.lower())}">{esc(n)} {counts[n]}</span>'
                    for n in names) or '<span class="muted">none</span>'


def webhook_url(ctx: Ctx, workflow: Workflow) -> str:
    """The webhook's URL: absolute on the engine's public URL, else its path below the door."""
    return f"{ctx.engine.public_url or ''}{workflow.url_path}"


def workflows_page(ctx: Ctx) -> CoreResponse:
    """The list of registered workflows."""
    counts = counts_of(ctx.engine.store, time.time() - DAY)
    workflows = sorted(ctx.engine.workflows(), key=lambda w: w.key)
    rows = []
    for w in workflows:
        guards = ", ".join(guards_summary(w.definition)) or "-"
        executions = ctx.page.url("", workflow=w.key)
        rows.append(
            f'<tr><td>{link(ctx.page.url(f"workflows/{w.key}"), w.key, "mono")}</td>'
            f"<td>{esc(w.title or '')}</td><td>v{w.version}</td>"
            f"<td>{'yes' if w.enabled else 'no'}</td><td>{'sync' if w.sync else 'async'}</td>"
            f'<td><code class="url">{esc(webhook_url(ctx, w))}</code></td>'
            f"<td>{esc(guards)}</td><td>{_counts(counts.get(w.key, {}))} "
            f'{link(executions, "list", "muted")}</td></tr>')
    others = sorted(set(counts) - {w.key for w in workflows})
    for key in others:  # executions of workflows this process does not register
        listed = link(ctx.page.url("", workflow=key), key, "mono")
        rows.append(f'<tr class="unregistered"><td>{listed}'
                    '</td><td colspan="6" class="muted">not registered in this process</td>'
                    f"<td>{_counts(counts[key])}</td></tr>")
    if not rows:
        return html_response(200, ctx.page.layout("Workflows", '<p class="empty">No workflow '
                                                  "is registered.</p>"))
    table = ('<table class="list"><thead><tr><th>Key</th><th>Title</th><th>Version</th>'
             "<th>Enabled</th><th>Mode</th><th>Webhook URL</th><th>Guards</th>"
             f'<th>Last 24 hours</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')
    return html_response(200, ctx.page.layout("Workflows", table))


def workflow_page(ctx: Ctx, key: str) -> CoreResponse:
    """A workflow: facts, graph (SVG) and definition (secrets redacted)."""
    workflow = ctx.engine.get_workflow(key)
    if workflow is None:
        body = (f'<p class="error">Workflow {esc(key)} is not registered in this process.</p>'
                f'<p>{link(ctx.page.url("", workflow=key), "Its executions")}</p>')
        return html_response(404, ctx.page.layout("Not found", body))
    counts = counts_of(ctx.engine.store, time.time() - DAY).get(key, {})
    facts = [("Title", esc(workflow.title or "")), ("Version", f"v{workflow.version}"),
             ("Enabled", "yes" if workflow.enabled else "no"),
             ("Mode", "sync" if workflow.sync else "async"),
             ("Webhook URL", f'<code class="url">{esc(webhook_url(ctx, workflow))}</code>'),
             ("Guards", esc(", ".join(guards_summary(workflow.definition)) or "-")),
             ("Last 24 hours", _counts(counts)),
             ("Executions", link(ctx.page.url("", workflow=key), "list them")),
             ("Digest", f'<span class="mono">{esc(workflow.digest)}</span>')]
    table = "".join(f"<tr><th>{esc(n)}</th><td>{v}</td></tr>" for n, v in facts)
    redact = ctx.redactor(key, workflow.version)
    body = (f'<table class="facts">{table}</table><section><h2>Graph</h2>'
            f'<div class="graph-box">{graph_svg(workflow.definition)}</div></section>'
            f'<section><h2>Definition</h2>'
            f'{json_block(redact(workflow.definition), "definition", open_=True)}</section>')
    return html_response(200, ctx.page.layout(f"Workflow {key}", body))
