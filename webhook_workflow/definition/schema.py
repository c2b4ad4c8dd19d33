"""The JSON Schema (draft 2020-12) of workflow definitions, built from the validator's field tables.

Each field's schema comes from its checker (:func:`~webhook_workflow.fields.schema_of`), with
its name, meaning and default; the sections nest as the compiler reads them, following the
list of :mod:`.reference`. Nodes are told apart by ``type``: each built-in type's ``config`` and
``branches`` are checked against its own table, while any other type (a host's custom node)
keeps a free ``config``. The package ships the result as ``definition.schema.json`` (a test
regenerates and compares); ``webhook-workflow schema`` and ``python -m
webhook_workflow.definition.schema`` print it.

The schema is for editors: what the validator checks across fields beyond the ones said here,
in templates, paths and expressions, or against the engine's limits, it checks at
registration only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, TextIO

from ..fields import Field, Schema, literal, or_null, section_schema
from ..http.response import RESPONSE_FIELDS
from ..http.signatures import HMAC_FIELDS, SCHEMES, SIGNATURE_FIELDS, TIMESTAMPED
from ..nodes.base import MAX_BRANCH_INDEX, NodeType
from ..nodes.callback import BASIC_FIELDS
from ..nodes.registry import BUILTIN_NODES
from ..nodes.retry import RETRY_FIELDS
from .compile import NODE_FIELDS, WORKFLOW_FIELDS
from .guards import CORS_FIELDS, IDEMPOTENCY_FIELDS
from .trigger import CONFIG_FIELDS, OPTION_FIELDS, QUERY_OPTION_FIELDS, REQUEST_FIELDS

__all__ = ["DIALECT", "SCHEMA_FILE", "SCHEMA_ID", "cmd_schema", "definition_schema", "schema_text"]

DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = "urn:webhook-workflow:definition"
#: The shipped copy, next to the package's modules.
SCHEMA_FILE = "definition.schema.json"
#: Options a sync workflow refuses (a sync request cannot wait in a queue).
_ASYNC_OPTIONS = ("concurrency", "throttle", "debounce")

_DESCRIPTION = (
    "A webhook_workflow definition in its nested form. NocoBase's flat export form (nodes as "
    "one list linked by upstreamId/downstreamId, optionally wrapped in {\"data\": ...}) is "
    "accepted by the validator too and converted to this form; it is not described here. "
    "Rules across fields beyond the ones given here (node keys unique, response nodes only "
    "in sync workflows and delay nodes only in async ones, templates, paths, expressions, "
    "the engine's limits) are checked when the definition is registered."
)


def _ref(name: str) -> Schema:
    return {"$ref": f"#/$defs/{name}"}


def _node_def(type_name: str) -> str:
    return f"node.{type_name}"


def _nested() -> dict[str, dict[str, Schema]]:
    """The schema of fields whose value the compiler checks later (a section of its own), by
    section and field; a node's ``config`` also depends on its ``type`` (see :func:`_node`)."""
    return {
        "workflow": {"config": _ref("config"), "options": _ref("options"),
                     "nodes": _ref("chain")},
        "config": {"request": _ref("request"), "response": _ref("response"),
                   "signature": _ref("signature"), "idempotency": _ref("idempotency"),
                   "filter": {"type": "object"}, "filterResponse": _ref("response"),
                   "ipAllowlist": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                   "cors": _ref("cors")},
        "request": {"queryOptions": _ref("queryOptions")},
        "options": {"retry": _ref("retry")},
        "node": {"config": {"type": "object"},
                 "branches": {"type": "object", "additionalProperties": _ref("chain")},
                 "retry": _ref("retry")},
    }


# name in $defs, what it is, its table (following the sections of ``definition.reference``)
_SECTIONS: tuple[tuple[str, str, tuple[Field, ...]], ...] = (
    ("config", "The webhook trigger.", CONFIG_FIELDS),
    ("request", "What the request contributes to $context.", REQUEST_FIELDS),
    ("queryOptions", "The query-string parser's limits.", QUERY_OPTION_FIELDS),
    ("response", "An HTTP answer: the acknowledgement of an async workflow, filterResponse, a "
     "response node.", RESPONSE_FIELDS),
    ("idempotency", "Deduplication of redeliveries.", IDEMPOTENCY_FIELDS),
    ("cors", "Browser senders.", CORS_FIELDS),
    ("options", "How executions run.", OPTION_FIELDS),
    ("retry", "A retry policy: a node's retry, or options.retry for every node (fields left "
     "out come from options.retry, then the defaults).", RETRY_FIELDS),
)


def _section(name: str, description: str, fields: tuple[Field, ...]) -> Schema:
    return {"description": description, **section_schema(fields, _nested().get(name))}


def _signature() -> Schema:
    """Every scheme's fields; ``tolerance`` only where the scheme signs a timestamp, the
    ``hmac`` fields only with ``scheme: "hmac"`` (as :func:`compile_signature` picks them)."""
    out = _section("signature", "Signature verification of deliveries.",
                   SIGNATURE_FIELDS + HMAC_FIELDS)
    timestamped = [s for s in SCHEMES if s in TIMESTAMPED]
    out["allOf"] = [
        {"if": {"properties": {"scheme": {"enum": timestamped}}},
         "else": {"properties": {"tolerance": False}}},
        {"if": {"properties": {"scheme": {"const": "hmac"}}},
         "else": {"properties": dict.fromkeys((f.name for f in HMAC_FIELDS), False)}},
    ]
    return out


def _upto(n: int) -> str:
    """A pattern of the numbers 0..n written without leading zeros."""
    digits = str(n)
    parts = ["[0-9]" if size == 1 else "[1-9]" + _any_digits(size - 1)
             for size in range(1, len(digits))]
    for i, digit in enumerate(digits):
        low = 1 if i == 0 and len(digits) > 1 else 0
        if int(digit) > low:
            below = str(low) if int(digit) - 1 == low else f"[{low}-{int(digit) - 1}]"
            parts.append(digits[:i] + below + _any_digits(len(digits) - i - 1))
    return "|".join([*parts, digits])


def _any_digits(count: int) -> str:
    return "" if count == 0 else "[0-9]" if count == 1 else f"[0-9]{{{count}}}"


def _branch_names(indexes: Iterable[int], aliases: Iterable[str]) -> str:
    """The branch names a node accepts, as ``_branch_index`` reads them: a number (leading
    zeros and ``-0`` too, as ``int()`` takes them) or an alias."""
    wanted = sorted(set(indexes))
    numbers = (_upto(wanted[-1]) if wanted == list(range(wanted[-1] + 1))
               else "|".join(map(str, wanted)))
    names = "|".join(["-0+", f"0*(?:{numbers})", *map(literal, aliases)])
    return f"^(?:{names})$"


def _branches(node: type[NodeType]) -> Schema:
    if node.open_branches:
        indexes: Iterable[int] = range(MAX_BRANCH_INDEX + 1)
    elif node.branch_indexes is None:
        return {"type": "object", "maxProperties": 0}
    else:
        indexes = node.branch_indexes
    return {"type": "object",
            "propertyNames": {"pattern": _branch_names(indexes, node.branch_aliases)},
            "additionalProperties": _ref("chain")}


def _callback_auth() -> Schema:
    """A callback node's ``auth`` (null handled by its field): exactly one of ``basic``
    (its own table) or ``signature`` (as a trigger's ``config.signature``)."""
    def one(name: str, schema: Schema) -> Schema:
        return {"type": "object", "properties": {name: schema}, "required": [name],
                "additionalProperties": False}

    return {"oneOf": [one("basic", section_schema(BASIC_FIELDS)),
                      one("signature", _ref("signature"))]}


def _node_nested() -> dict[str, dict[str, Schema]]:
    """The schema of node config fields whose checker only passes them on to the code that
    checks them (a section of its own), by node type and field."""
    return {"callback": {"auth": _callback_auth(), "response": _ref("response")}}


def _node_config(node: type[NodeType]) -> Schema:
    summary = f"{node.summary[0].upper()}{node.summary[1:]}."
    if node.only_in:
        summary += f" Only in {node.only_in} workflows."
    return {"title": node.type_name, "description": summary,
            **section_schema(node.fields, _node_nested().get(node.type_name))}


def _node() -> Schema:
    """A node: ``config`` and ``branches`` checked by the table of its ``type`` when that is a
    built-in one; a custom type (a host's) has a free ``config`` and no branches."""
    out = _section("node", "A node of a chain.", NODE_FIELDS)
    builtin = sorted(node.type_name for node in BUILTIN_NODES)
    out["properties"]["type"]["examples"] = builtin
    cases: list[Schema] = []
    for node in sorted(BUILTIN_NODES, key=lambda n: n.type_name):
        config = _ref(_node_def(node.type_name))
        then: Schema = {"properties": {"config": config, "branches": or_null(_branches(node))}}
        if any(f.required for f in node.fields):
            then["required"] = ["config"]
        else:
            then["properties"]["config"] = or_null(config)  # null or absent reads as {}
        cases.append({
            "if": {"properties": {"type": {"const": node.type_name}}, "required": ["type"]},
            "then": then})
    cases.append({"if": {"properties": {"type": {"enum": builtin}}, "required": ["type"]},
                  "else": {"properties": {"branches": or_null({"maxProperties": 0})}}})
    out["allOf"] = cases
    return out


def definition_schema() -> dict[str, Any]:
    """The JSON Schema of a workflow definition (nested form)."""
    defs: dict[str, Schema] = {name: _section(name, what, fields)
                               for name, what, fields in _SECTIONS}
    defs["signature"] = _signature()
    defs["chain"] = {"description": "A chain of nodes, run in order.", "type": "array",
                     "items": _ref("node")}
    defs["node"] = _node()
    for node in sorted(BUILTIN_NODES, key=lambda n: n.type_name):
        defs[_node_def(node.type_name)] = _node_config(node)
    top = section_schema(WORKFLOW_FIELDS, _nested()["workflow"])
    # What depends on ``sync`` at the top level: the acknowledgement and flow control are for
    # async workflows only, syncWait for sync ones.
    async_only = {name: {"type": "null"} for name in _ASYNC_OPTIONS
                  if any(f.name == name for f in OPTION_FIELDS)}
    top["allOf"] = [{
        "if": {"properties": {"sync": {"const": True}}, "required": ["sync"]},
        "then": {"properties": {
            "config": {"properties": {"response": {"type": "null"}}},
            "options": {"properties": async_only}}},
        "else": {"properties": {"options": {"properties": {"syncWait": {"const": 0}}}}},
    }]
    return {"$schema": DIALECT, "$id": SCHEMA_ID, "title": "webhook_workflow definition",
            "description": _DESCRIPTION, **top, "$defs": dict(sorted(defs.items()))}


def schema_text() -> str:
    """The schema as the shipped file holds it: indented JSON, one trailing newline."""
    return json.dumps(definition_schema(), indent=2, ensure_ascii=False) + "\n"



def cmd_schema(args: Any, out: TextIO, err: TextIO) -> int:
    """``webhook-workflow schema``: write the schema to ``out``."""
    out.write(schema_text())
    return 0


if __name__ == "__main__":
    print(schema_text(), end="")
