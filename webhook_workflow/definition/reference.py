"""The definition reference, generated from the field tables the validator uses.

``python -m webhook_workflow.definition.reference`` prints the Markdown of
``docs/reference/definition.md``; a test compares the two, so the documented fields, defaults
and meanings cannot drift from what the validator accepts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from ..fields import NO_DEFAULT, Field
from ..http.response import RESPONSE_FIELDS
from ..http.signatures import HMAC_FIELDS, SIGNATURE_FIELDS
from ..nodes.registry import BUILTIN_NODES
from ..nodes.retry import RETRY_FIELDS
from .compile import NODE_FIELDS, WORKFLOW_FIELDS
from .flow import CONCURRENCY_FIELDS, DEBOUNCE_FIELDS, THROTTLE_FIELDS
from .guards import CORS_FIELDS, IDEMPOTENCY_FIELDS
from .trigger import CONFIG_FIELDS, OPTION_FIELDS, QUERY_OPTION_FIELDS, REQUEST_FIELDS

__all__ = ["reference_markdown"]

_SECTIONS: tuple[tuple[str, str, tuple[Field, ...]], ...] = (
    ("Workflow", "the top level of a definition", WORKFLOW_FIELDS),
    ("config", "the webhook trigger", CONFIG_FIELDS),
    ("config.request", "what the request contributes to `$context`", REQUEST_FIELDS),
    ("config.request.queryOptions", "the query-string parser's limits", QUERY_OPTION_FIELDS),
    ("config.response", "the acknowledgement of an async workflow (also `filterResponse`)",
     RESPONSE_FIELDS),
    ("config.signature", "signature verification (all schemes)", SIGNATURE_FIELDS),
    ("config.signature (scheme hmac)", "the generic HMAC scheme's own fields", HMAC_FIELDS),
    ("config.idempotency", "deduplication of redeliveries", IDEMPOTENCY_FIELDS),
    ("config.cors", "browser senders", CORS_FIELDS),
    ("options", "how executions run", OPTION_FIELDS),
    ("options.concurrency", "at most `limit` runs of a key at once (async workflows; see "
     "[Flow control](../flow-control.md))", CONCURRENCY_FIELDS),
    ("options.throttle", "at most `limit` starts of a key per `period` (async workflows)",
     THROTTLE_FIELDS),
    ("options.debounce", "only the last delivery of a key within `period` runs (async "
     "workflows)", DEBOUNCE_FIELDS),
    ("nodes[]", "every node", NODE_FIELDS),
    ("retry", "a node's `retry`, and `options.retry` (fields left out come from "
     "`options.retry`, then these defaults; see [Retries](../retries.md))", RETRY_FIELDS),
)


def _default(field: Field) -> str:
    if field.default is NO_DEFAULT:
        return "required"
    return "`" + json.dumps(field.default, ensure_ascii=False) + "`"


def _table(fields: Iterable[Field]) -> list[str]:
    rows = ["| field | default | meaning |", "|---|---|---|"]
    for field in fields:
        doc = field.doc.replace("|", "\\|") or " "
        rows.append(f"| `{field.name}` | {_default(field)} | {doc} |")
    return rows


def reference_markdown() -> str:
    """The whole reference page as Markdown."""
    out: list[Any] = [
        "# Definition reference",
        "",
        "Every field a definition may hold, with its default and meaning. This page is "
        "generated from the tables the validator checks definitions against (`python -m "
        "webhook_workflow.definition.reference`), so it always matches what is accepted. "
        "Unknown fields are refused; a `DefinitionError` names the offending field path.",
        "",
    ]
    for title, what, fields in _SECTIONS:
        out += [f"## {title}", "", f"{what[0].upper()}{what[1:]}.", "", *_table(fields), ""]
    out += ["## Node types", "",
            "The `config` of each node type. Templates (`{{ }}`) are allowed where the node "
            "renders its config; see [Nodes](../nodes.md).", ""]
    for cls in sorted(BUILTIN_NODES, key=lambda c: c.type_name.lower()):
        out += [f"### {cls.type_name}", "", f"{cls.summary[0].upper()}{cls.summary[1:]}.", ""]
        if cls.only_in:
            out += [f"Only in {cls.only_in} workflows.", ""]
        out += [*(_table(cls.fields) if cls.fields else ["No configuration."]), ""]
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    print(reference_markdown(), end="")
