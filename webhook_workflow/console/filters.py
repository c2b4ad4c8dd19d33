"""The filters of the executions list, read from a query string (the page's and the API's)."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..status import Status, status_from_value
from ..store.pages import ExecutionRow, find_ids, page_of, row_of

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "STATUS_CHOICES", "ListQuery", "parse_moment"]

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
#: The statuses the list filters by, as the menu names them.
STATUS_CHOICES = ("queued", "started", "resolved", "failed", "error", "aborted", "canceled",
                  "rejected", "retry_needed")
_AGO = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])\Z")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_moment(text: str) -> float:
    """Epoch seconds from a time ago (``30m``, ``2h``, ``7d``), epoch seconds, or an ISO 8601
    date or time (UTC unless it says; ``2026-12-07T10:00`` as a browser's date-time field
    sends it). ``ValueError`` otherwise."""
    text = text.strip()
    ago = _AGO.match(text)
    if ago is not None:
        return time.time() - float(ago.group(1)) * _UNIT[ago.group(2)]
    try:
        return float(text)
    except ValueError:
        pass
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


@dataclass(slots=True)
class ListQuery:
    """What a list asks for; :attr:`errors` says which parameters were refused."""

    workflow: str | None = None
    status: Status | str | None = None
    since: float | None = None
    until: float | None = None
    before: str | None = None
    q: str = ""
    limit: int = DEFAULT_LIMIT
    raw: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> ListQuery:
        """The filters of ``params`` (``workflow status since until before q limit``)."""
        query = cls(raw={k: v for k, v in params.items() if v})
        query.workflow = params.get("workflow") or None
        status = (params.get("status") or "").strip().lower()
        if status == "queued":
            query.status = "queued"
        elif status:
            try:
                query.status = status_from_value(status)
            except ValueError:
                query.errors.append(f"status: unknown status {status!r}")
        for name in ("since", "until"):
            text = params.get(name) or ""
            if text:
                try:
                    setattr(query, name, parse_moment(text))
                except ValueError:
                    query.errors.append(f"{name}: not a time ago (30m, 2h, 7d), epoch "
                                        f"seconds or an ISO 8601 time: {text!r}")
        query.before = params.get("before") or None
        query.q = (params.get("q") or "").strip()
        limit = params.get("limit") or ""
        if limit:
            if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
                query.errors.append(f"limit: a whole number from 1 to {MAX_LIMIT}")
            else:
                query.limit = int(limit)
        return query

    def rows(self, store: Any) -> tuple[list[ExecutionRow], str | None]:
        """The page's rows and the ``before`` of the next page (None: this is the last)."""
        if self.q:
            found = [store.get(i) for i in find_ids(store, self.q)]
            return [row_of(e) for e in found if e is not None], None
        rows = page_of(store, self.workflow, status=self.status, since=self.since,
                       until=self.until, before=self.before, limit=self.limit + 1)
        more = len(rows) > self.limit
        rows = rows[: self.limit]
        return rows, rows[-1].id if more and rows else None
