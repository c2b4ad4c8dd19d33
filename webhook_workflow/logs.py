"""Structured fields of the library's log records, and a JSON formatter for one record a line.

Every record the library logs carries three attributes: ``execution_id``, ``workflow_key`` and
``node_key``, each a string where the call knows it, else None. Calls that know them pass
``extra=fields(...)``; a filter on the library's loggers gives the others None, so a format
string such as ``"%(execution_id)s %(message)s"`` or a JSON formatter never misses one.
The library adds that filter to its own loggers only: it configures no handler, no level and
never the root logger. :class:`JsonFormatter` is what ``webhook-workflow serve --log-format
json`` writes with; applications may use it too.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

__all__ = ["FIELDS", "LOGGERS", "Fields", "JsonFormatter", "fields"]

#: The structured fields every record of the library carries.
FIELDS = ("execution_id", "workflow_key", "node_key")

#: The library's loggers (``webhook_workflow`` and the children that log on their own name).
LOGGERS = ("webhook_workflow", "webhook_workflow.console", "webhook_workflow.dispatcher",
           "webhook_workflow.processor", "webhook_workflow.recovery",
           "webhook_workflow.instances", "webhook_workflow.store.postgres")


def fields(execution_id: str | None = None, workflow_key: str | None = None,
           node_key: str | None = None) -> dict[str, str | None]:
    """The ``extra`` of a log call that knows these values."""
    return {"execution_id": execution_id, "workflow_key": workflow_key, "node_key": node_key}


class Fields(logging.Filter):
    """Gives a record the fields its call did not pass (None); lets every record through."""

    def filter(self, record: logging.LogRecord) -> bool:
        attributes = record.__dict__
        for name in FIELDS:
            attributes.setdefault(name, None)
        return True


_FILTER = Fields()
for _name in LOGGERS:
    # Filters of a logger see only the records logged on it (not those of its children,
    # which propagate to handlers only), hence one per logger the library logs on.
    logging.getLogger(_name).addFilter(_FILTER)

#: LogRecord attributes that are not ``extra`` fields (what every record has).
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``time`` (ISO 8601 UTC), ``level``, ``logger``,
    ``message``, the record's ``extra`` fields (the library's three included), and
    ``exception`` (the traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in record.__dict__.items():
            if name not in _STANDARD and not name.startswith("_"):
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str, ensure_ascii=False)


def _iso(created: float) -> str:
    seconds = time.gmtime(created)
    millis = int(created % 1 * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", seconds) + f".{millis:03d}Z"
