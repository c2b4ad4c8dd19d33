"""NocoBase's flat workflow form: nodes as a flat list linked by ids.

NocoBase's API (``workflows:get?appends[]=nodes``) returns a workflow row whose ``nodes``
hold ``id``, ``upstreamId``, ``downstreamId`` and ``branchIndex``; a branch's first node has
``upstreamId`` = the branching node and a ``branchIndex``, later nodes chain by
``downstreamId``. :func:`from_flat` turns that into the nested form this library validates
(``nodes`` chains with ``branches``), filling NocoBase's own defaults where a field is absent;
:func:`to_flat` goes back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..errors import DefinitionError
from ..nodes.json_query import NOCOBASE_DEFAULT_ENGINE

__all__ = ["from_flat", "is_flat", "to_flat"]

#: Workflow-row fields NocoBase keeps for its own bookkeeping; they carry no behaviour here.
_WORKFLOW_BOOKKEEPING = frozenset({
    "id", "current", "createdAt", "updatedAt", "executed", "allExecuted", "stats",
    "versionStats", "categories", "triggerTitle", "createdById", "updatedById", "createdBy",
    "updatedBy", "revision", "sort", "executions", "dispatched",
})
_NODE_LINKS = frozenset({"id", "upstreamId", "downstreamId", "branchIndex", "workflowId",
                         "createdAt", "updatedAt", "upstream", "downstream", "workflow"})
#: NocoBase defaults that differ from this library's native defaults. A condition without
#: ``rejectOnFalse`` takes its false branch in NocoBase's runtime (``if (!result &&
#: rejectOnFalse)``), where this library's own form fails the node by default.
_NODE_DEFAULTS: dict[str, dict[str, Any]] = {
    "json-query": {"engine": NOCOBASE_DEFAULT_ENGINE},
    "condition": {"engine": "basic", "rejectOnFalse": False},
}


def is_flat(data: Any) -> bool:
    """True when ``data`` is a workflow in NocoBase's flat form (or wrapped in ``data``).

    NocoBase's API wraps its answer in ``data``: such a workflow is flat even with no nodes.
    Unwrapped, nodes linked by ids say it, and so does a workflow row's own bookkeeping field
    (``id``, ``current`` ...) when there are no nodes to tell.
    """
    if isinstance(data, Mapping) and set(data) == {"data"} and isinstance(data["data"], Mapping):
        return isinstance(data["data"].get("nodes", []), list)
    nodes = data.get("nodes") if isinstance(data, Mapping) else None
    if not isinstance(nodes, list):
        return False
    if not nodes:
        return not _WORKFLOW_BOOKKEEPING.isdisjoint(data)
    return any(
        isinstance(n, Mapping) and ("upstreamId" in n or "downstreamId" in n) for n in nodes)


def from_flat(data: Mapping[str, Any]) -> dict[str, Any]:
    """Convert a flat NocoBase workflow (optionally ``{"data": {...}}``) to the nested form."""
    if set(data) == {"data"}:
        data = data["data"]
    # NocoBase writes null for unset optional fields; the nested form leaves them out.
    out = {k: v for k, v in data.items()
           if k not in _WORKFLOW_BOOKKEEPING and k != "nodes" and v is not None}
    nodes = data.get("nodes") or []
    by_id: dict[Any, Mapping[str, Any]] = {}
    for i, node in enumerate(nodes):
        if not isinstance(node, Mapping) or "id" not in node:
            raise DefinitionError(f"nodes[{i}]", "a node of the flat form needs an id")
        if node["id"] in by_id:
            raise DefinitionError(f"nodes[{i}].id", f"duplicate node id {node['id']!r}")
        by_id[node["id"]] = node
    heads = [n for n in nodes if n.get("upstreamId") is None]
    if len(heads) > 1:
        ids = ", ".join(str(n["id"]) for n in heads)
        raise DefinitionError("nodes", f"the flat form has one head node; found {ids}")
    seen: set[Any] = set()
    out["nodes"] = _chain(heads[0], by_id, seen) if heads else []
    keys = {str(n.get("key")) for n in nodes}
    by_id_key = {str(i): str(n["key"]) for i, n in by_id.items()
                 if n.get("key") is not None and str(i) not in keys}
    if by_id_key:
        out["nodes"] = _keyed(out["nodes"], by_id_key)
    if len(seen) != len(nodes):
        lost = ", ".join(str(n["id"]) for n in nodes if n["id"] not in seen)
        raise DefinitionError("nodes", f"nodes not linked into the workflow: {lost}")
    return out


#: ``$scopes.<node id>`` (older NocoBase workflows address loop scopes by id; NocoBase keeps
#: both ids and keys in ``$scopes``) and ``$jobsMapByNodeId.<node id>`` (older releases).
_BY_ID = re.compile(r"(\$scopes|\$jobsMapByNodeId)\.([A-Za-z0-9_-]+)")


def _keyed(value: Any, by_id: Mapping[str, str]) -> Any:
    """``value`` with node ids in variable paths replaced by the nodes' keys."""
    if isinstance(value, str):
        def key_of(match: re.Match[str]) -> str:
            key = by_id.get(match.group(2))
            if key is None:
                return match.group(0)
            root = "$scopes" if match.group(1) == "$scopes" else "$jobsMapByNodeKey"
            return f"{root}.{key}"

        return _BY_ID.sub(key_of, value) if "$" in value else value
    if isinstance(value, list):
        return [_keyed(v, by_id) for v in value]
    if isinstance(value, dict):
        return {k: _keyed(v, by_id) for k, v in value.items()}
    return value


def _chain(node: Mapping[str, Any] | None, by_id: Mapping[Any, Mapping[str, Any]],
           seen: set[Any]) -> list[dict[str, Any]]:
    chain: list[dict[str, Any]] = []
    while node is not None:
        if node["id"] in seen:
            raise DefinitionError("nodes", f"node {node['id']!r} is linked twice (a cycle?)")
        seen.add(node["id"])
        converted = {k: v for k, v in node.items() if k not in _NODE_LINKS and v is not None}
        config = converted.get("config")
        if isinstance(config, Mapping) and "retry" in config:
            # NocoBase has no retry field of its own: an export carries it in the config.
            config = dict(config)
            retry = config.pop("retry")
            converted["config"] = config
            if retry is not None:
                converted["retry"] = retry
        defaults = _NODE_DEFAULTS.get(str(node.get("type")))
        if defaults:
            config = dict(converted.get("config") or {})
            for name, value in defaults.items():
                if config.get(name) is None:  # absent, or null as NocoBase writes it
                    config[name] = value
            converted["config"] = config
        branches = sorted(
            (n for n in by_id.values()
             if n.get("upstreamId") == node["id"] and n.get("branchIndex") is not None),
            key=lambda n: int(n["branchIndex"]))
        if branches:
            converted["branches"] = {str(int(n["branchIndex"])): _chain(n, by_id, seen)
                                     for n in branches}
        chain.append(converted)
        downstream = node.get("downstreamId")
        if downstream is not None and downstream not in by_id:
            raise DefinitionError("nodes", f"node {node['id']!r} links to missing node "
                                  f"{downstream!r}")
        node = by_id.get(downstream) if downstream is not None else None
    return chain


def to_flat(definition: Mapping[str, Any]) -> dict[str, Any]:
    """The nested form as NocoBase's flat form (ids are 1, 2, 3 ... in document order)."""
    out = {k: v for k, v in definition.items() if k != "nodes"}
    flat: list[dict[str, Any]] = []

    def add(chain: list[Mapping[str, Any]], upstream: int | None, index: int | None) -> None:
        previous: dict[str, Any] | None = None
        for position, node in enumerate(chain):
            record = {k: v for k, v in node.items() if k != "branches"}
            record["id"] = len(flat) + 1
            record["upstreamId"] = previous["id"] if previous else upstream
            record["branchIndex"] = index if position == 0 else None
            record["downstreamId"] = None
            if previous is not None:
                previous["downstreamId"] = record["id"]
            flat.append(record)
            for name, branch in sorted((node.get("branches") or {}).items(),
                                       key=lambda kv: int(kv[0])):
                add(branch, record["id"], int(name))
            previous = record

    add(list(definition.get("nodes") or []), None, None)
    out["nodes"] = flat
    return out
