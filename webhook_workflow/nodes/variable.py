"""``variable``: declare a variable (``target`` null) or assign to an earlier variable node."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import DefinitionError
from ..fields import Field, full_match, join, json_value, schema_hint, string
from ..records import Job
from ..status import Status
from ..variables.templates import Template, template
from .base import CompiledNode, NodeType, Outcome, RunContext

__all__ = ["VariableNode"]


@schema_hint({"type": ["string", "null"], "pattern": full_match(r"[A-Za-z0-9_-]+")})
def _target(value: Any, path: str) -> Any:
    return None if value is None else string(r"[A-Za-z0-9_-]+", what="a node key")(value, path)


class VariableNode(NodeType):
    """A value under this node's key; assigning also updates the target node's result, so
    ``{{$jobsMapByNodeKey.<target>}}`` reads the new value afterwards."""

    type_name = "variable"
    summary = "declares a variable, or assigns a new value to an earlier variable node"
    fields = (
        Field("target", _target, None, "null = declare; else the key of the variable node to "
              "assign to"),
        Field("value", json_value, None, "any JSON value; templates allowed"),
    )

    def prepare(self, config: dict[str, Any], path: str) -> Template:
        return template(config["value"], join(path, "value"))

    def link(self, node: CompiledNode, nodes: Mapping[str, CompiledNode]) -> None:
        target = node.config["target"]
        if target is None:
            return
        where = join(join(node.path, "config"), "target")
        other = nodes.get(target)
        if other is None:
            raise DefinitionError(where, f"no node with key {target!r}")
        if other.type != self.type_name or other is node:
            raise DefinitionError(where, f"node {target!r} is not another variable node")

    def run(self, node: CompiledNode, prev: Job | None, proc: RunContext) -> Outcome:
        value = proc.render(node.prepared)
        target = node.config["target"]
        if target is not None:
            proc.save_job(proc.node(target), Job(Status.RESOLVED, value))
        return Job(Status.RESOLVED, value)
