"""One execution: its trigger context, its jobs as a waterfall, its links and its actions."""

from __future__ import annotations

from typing import Any

from ..http.response import CoreResponse
from ..records import Execution, Job
from ..resume import waiting_callbacks
from ..status import Status
from ..store.pages import page_of
from .redact import Redactor
from .render import badge, duration, esc, html_response, json_block, link, moment
from .request import Ctx
from .svg import waterfall_svg

__all__ = ["RETRYABLE", "execution_page", "not_found", "waiting_jobs"]

RETRYABLE = frozenset({Status.FAILED, Status.ERROR, Status.ABORTED})
_TIMED = frozenset({"delay", "callback", "subflow"})


def not_found(ctx: Ctx, what: str) -> CoreResponse:
    """The 404 page."""
    return html_response(404, ctx.page.layout("Not found", f'<p class="error">{esc(what)}</p>'))


def waiting_jobs(ctx: Ctx, execution: Execution) -> list[tuple[str, str | None, float | None]]:
    """What an execution waits for: ``(node key, resume URL or None, seconds left or None)``
    for each callback node (with its URL) and each other PENDING job (resumed by hand)."""
    if execution.finished or execution.status is None:
        return []
    callbacks = waiting_callbacks(ctx.engine, execution)
    out: list[tuple[str, str | None, float | None]] = [(k, u, s) for k, u, s in callbacks]
    named = {k for k, _, _ in callbacks}
    workflow = ctx.engine.version(execution.workflow_key, execution.version)
    for job in execution.jobs:
        node = None if workflow is None else workflow.nodes.get(job.node_key)
        # A delay's timer and a retry's backoff end by themselves: only a node that waits
        # to be told (a custom node's PENDING job) is resumed by hand.
        if int(job.status) == 0 and node is not None and job.node_key not in named \
                and node.type not in _TIMED and "retryAt" not in job.meta \
                and not node.branches:
            out.append((job.node_key, None, None))
            named.add(job.node_key)
    return out


def _summary(ctx: Ctx, execution: Execution) -> str:
    page = ctx.page
    facts = [
        ("Workflow", link(page.url(f"workflows/{execution.workflow_key}"),
                          execution.workflow_key) + f' <span class="muted">v'
         f'{execution.version}</span>'),
        ("Status", badge(execution.status)),
        ("Mode", "sync" if execution.sync else "async"),
        ("Received", moment(execution.created_at)),
        ("Started", moment(execution.started_at)),
        ("Finished", moment(execution.finished_at)),
        ("Took", esc(duration(execution.started_at, execution.finished_at))),
    ]
    if execution.reason:
        facts.append(("Reason", f'<span class="mono">{esc(execution.reason)}</span>'))
    if execution.replay_of:
        facts.append(("Replay of", link(page.url(f"executions/{execution.replay_of}"),
                                        execution.replay_of, "mono")))
    if execution.parent_id:
        facts.append(("Started by", link(page.url(f"executions/{execution.parent_id}"),
                                         execution.parent_id, "mono")))
    replays = page_of(ctx.engine.store, replay_of=execution.id, limit=20)
    if replays:
        facts.append(("Replays", " ".join(
            link(page.url(f"executions/{r.id}"), r.id, "mono") + " " + badge(r.status)
            for r in replays)))
    retried = [j for j in execution.jobs if isinstance(j.meta.get("retryOf"), dict)]
    if retried:
        facts.append(("Retried", esc(", ".join(
            f"{j.node_key} (attempt {j.meta.get('attempt', '?')})" for j in retried))))
    rows = "".join(f"<tr><th>{esc(name)}</th><td>{value}</td></tr>" for name, value in facts)
    return f'<table class="facts">{rows}</table>'


def _actions(ctx: Ctx, execution: Execution) -> str:
    page, ident = ctx.page, execution.id
    buttons = [link(page.url(f"executions/{ident}/replay"), "Replay…", "button")]
    if execution.status in RETRYABLE:
        buttons.append(link(page.url(f"executions/{ident}/retry"), "Retry from the failed "
                            "node…", "button"))
    if not execution.finished:
        buttons.append(link(page.url(f"executions/{ident}/cancel"), "Cancel…",
                            "button danger"))
    buttons.append(link(page.url(f"api/executions/{ident}"), "JSON", "button secondary"))
    return f'<div class="actions">{"".join(buttons)}</div>'


def _waiting(ctx: Ctx, execution: Execution) -> str:
    waits = waiting_jobs(ctx, execution)
    if not waits:
        return ""
    items = []
    for key, url, left in waits:
        resume = link(ctx.page.url(f"executions/{execution.id}/resume", node=key),
                      "Resume…", "button")
        if url is None:
            items.append(f'<li><span class="mono">{esc(key)}</span> waits to be resumed '
                         f"{resume}</li>")
        else:
            time_left = f"{left:.0f} s left" if left is not None else ""
            items.append(
                f'<li><span class="mono">{esc(key)}</span> waits for a call of its resume URL '
                f'<code class="url">{esc(url)}</code> <span class="left">{esc(time_left)}'
                f"</span> {resume}</li>")
    return f'<section class="waiting"><h2>Waiting</h2><ul>{"".join(items)}</ul></section>'


def _job(ctx: Ctx, job: Job, redact: Redactor) -> str:
    attempt = job.meta.get("attempt", 1)
    head = (f'<span class="mono">{esc(job.node_key or "(engine)")}</span> '
            f"{badge(job.status, job=True)} "
            f'<span class="muted">{esc(duration(job.started_at, job.finished_at))}'
            f"{f' · attempt {esc(attempt)}' if attempt != 1 else ''}</span>")
    failed = int(job.status) < 0
    parts = [json_block(redact(job.result), "result", open_=failed)]
    if job.log:
        parts.append(f'<details class="log"{" open" if failed else ""}><summary>log'
                     f"</summary><pre>{esc(redact(job.log))}</pre></details>")
    earlier = job.meta.get("retryOf")
    if isinstance(earlier, dict):
        parts.append(json_block(redact(earlier), "the attempt this one retries"))
    when = f"{moment(job.started_at)} → {moment(job.finished_at)}"
    return (f'<li class="job s-{"failed" if failed else "ok"}"><div class="job-head">{head}'
            f'<span class="when">{when}</span></div>{"".join(parts)}</li>')


def _answer(execution: Execution, redact: Redactor) -> str:
    parts = []
    if execution.output is not None:
        parts.append(json_block(redact(execution.output), "output"))
    if execution.response is not None:
        parts.append(json_block(redact(execution.response), "HTTP answer", open_=True))
    return "".join(parts)


def execution_page(ctx: Ctx, execution_id: str) -> CoreResponse:
    """The page of one execution."""
    execution = ctx.engine.get_execution(execution_id)
    if execution is None:
        return not_found(ctx, f"No execution {execution_id} in the store.")
    redact = ctx.redactor(execution.workflow_key, execution.version)
    context: Any = redact(execution.context) if isinstance(execution.context, dict) else {}
    trigger = "".join(json_block(context.get(part, {}), part, open_=True)
                      for part in ("headers", "query", "body"))
    extra = {k: v for k, v in context.items() if k not in ("headers", "query", "body")}
    if extra:
        trigger += json_block(extra, "other")
    jobs = "".join(_job(ctx, job, redact) for job in execution.jobs) or \
        '<p class="empty">No jobs yet.</p>'
    body = (
        _summary(ctx, execution) + _actions(ctx, execution) + _waiting(ctx, execution)
        + f'<section><h2>Trigger</h2>{trigger}</section>'
        + '<section><h2>Timeline</h2>'
        + waterfall_svg(execution.jobs, execution.started_at or execution.created_at,
                        execution.finished_at)
        + f'<ol class="jobs">{jobs}</ol></section>'
        + f'<section><h2>Answer</h2>{_answer(execution, redact) or "<p class=empty>None.</p>"}'
        "</section>")
    return html_response(200, ctx.page.layout(f"Execution {execution.id}", body,
                                              live=not execution.finished))
