"""HTML of the console: escaping, the page layout, status badges, times and JSON blocks.

Every value that comes from a request, a store or a definition goes through :func:`esc`
(quotes included, so it is safe in attributes too); markup is only ever built here and in the
page modules from literals. Pages use no inline script or style: the Content-Security-Policy
forbids them, and the shipped ``console.css`` / ``console.js`` do that work.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from ..http.response import CoreResponse
from ..jsoncodec import json_default
from ..status import Status, status_name

__all__ = ["JSON_SHOWN", "Page", "badge", "duration", "esc", "html_response", "json_block",
           "link", "moment", "qs", "status_label"]

#: Characters of a JSON value a page shows; the rest is cut (the JSON API has it whole).
JSON_SHOWN = 200_000
_VERSION = "1"


def esc(value: Any) -> str:
    """Text (of any value) safe inside HTML elements and quoted attributes."""
    return html.escape(str(value), quote=True)


def qs(**params: Any) -> str:
    """A query string of the parameters that are set (``?a=1&b=2``, or ``""``)."""
    items = {k: v for k, v in params.items() if v not in (None, "")}
    return "?" + urlencode(items) if items else ""


def link(href: str, text: Any, cls: str = "") -> str:
    """An ``<a>``; ``href`` is escaped, ``text`` too."""
    extra = f' class="{esc(cls)}"' if cls else ""
    return f'<a href="{esc(href)}"{extra}>{esc(text)}</a>'


def moment(value: datetime | None) -> str:
    """A time as ``<time>``, UTC to the millisecond."""
    if value is None:
        return '<span class="muted">&ndash;</span>'
    utc = value.astimezone(UTC)
    text = utc.strftime("%Y-%m-%d %H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    return f'<time datetime="{esc(utc.isoformat())}">{esc(text)}</time>'


def duration(start: datetime | None, end: datetime | None) -> str:
    """``12.3 ms`` / ``4.56 s`` between two times, or an empty string."""
    if start is None or end is None:
        return ""
    seconds = (end - start).total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    return f"{seconds / 60:.1f} min"


def status_label(status: Status | int | None, *, job: bool = False) -> str:
    """A status's name: ``QUEUED`` (None), a job's 0 ``PENDING`` (it waits), an execution's
    ``STARTED``, else the status's name (a custom node's number as it is)."""
    if status is None:
        return "QUEUED"
    if int(status) == 0:
        return "PENDING" if job else "STARTED"
    return status_name(int(status))


def badge(status: Status | int | None, *, job: bool = False) -> str:
    """A status as a coloured badge."""
    name = status_label(status, job=job)
    return f'<span class="badge s-{esc(name.lower())}">{esc(name)}</span>'


def json_block(value: Any, summary: str, *, open_: bool = False) -> str:
    """A collapsible, escaped, pretty JSON view (``<details>`` works without JavaScript)."""
    text = json.dumps(value, indent=2, ensure_ascii=False, default=json_default)
    size = len(text)
    if size > JSON_SHOWN:
        text = text[:JSON_SHOWN] + f"\n… ({size - JSON_SHOWN} more characters: see the API)"
    flag = " open" if open_ else ""
    return (f'<details class="json"{flag}><summary>{esc(summary)} '
            f'<span class="muted">({size} characters)</span></summary>'
            f'<pre>{esc(text)}</pre></details>')


@dataclass(frozen=True, slots=True)
class Page:
    """What every page's layout needs: where the console is mounted, its title, the CSRF
    token of forms, and which links the menu shows."""

    root: str
    title: str
    csrf: str
    session: bool
    metrics: bool

    def url(self, path: str, **params: Any) -> str:
        """A console URL: ``path`` below the mount point, with a query string."""
        return f"{self.root}/{path.lstrip('/')}{qs(**params)}"

    def form(self, path: str, fields: Iterable[tuple[str, Any]], button: str,
             cls: str = "button", extra: str = "") -> str:
        """A POST form with hidden ``fields``, the CSRF token and one submit button."""
        hidden = "".join(f'<input type="hidden" name="{esc(n)}" value="{esc(v)}">'
                         for n, v in fields)
        return (f'<form method="post" action="{esc(self.url(path))}" class="inline">'
                f'<input type="hidden" name="csrf" value="{esc(self.csrf)}">{hidden}{extra}'
                f'<button type="submit" class="{esc(cls)}">{esc(button)}</button></form>')

    def layout(self, heading: str, body: str, *, live: bool = False) -> str:
        """The whole document: menu, heading, ``body`` (already HTML)."""
        menu = [link(self.url(""), "Executions"), link(self.url("workflows"), "Workflows"),
                link(self.url("recover"), "Recover")]
        if self.metrics:
            menu.append(link(self.url("metrics"), "Metrics"))
        if self.session:
            menu.append(self.form("logout", (), "Log out", "link"))
        css = self.url("static/console.css", v=_VERSION)
        js = self.url("static/console.js", v=_VERSION)
        live_attr = ' data-live="5"' if live else ""
        return (
            "<!doctype html>\n"
            f'<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{esc(heading)} · {esc(self.title)}</title>'
            f'<link rel="icon" href="data:,"><link rel="stylesheet" href="{esc(css)}">'
            f'<script src="{esc(js)}" defer></script></head>'
            f'<body><header class="top"><a class="brand" href="{esc(self.url(""))}">'
            f'{esc(self.title)}</a><nav>{"".join(menu)}</nav></header>'
            f'<main id="main"{live_attr}><h1>{esc(heading)}</h1>{body}</main></body></html>\n')


def html_response(status: int, document: str,
                  headers: Iterable[tuple[str, str]] = ()) -> CoreResponse:
    """An HTML answer."""
    return CoreResponse(status, [("Content-Type", "text/html; charset=utf-8"), *headers],
                        document.encode("utf-8"))
