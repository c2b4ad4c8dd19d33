"""``output``: set the execution's output (the last output node that runs wins)."""

from __future__ import annotations

from typing import Any

from ..fields import Field, join, json_value
from ..records import Job
from ..status import Status
from ..variables.templates import Template, template
from .base import CompiledNode, NodeType, Outcome, RunContext

__all__ = ["OutputNode"]


class OutputNode(NodeType):
    """Write ``value`` (templated) to the execution's ``output``."""

    type_name = "output"
    summary = "sets the execution's output"
    fields = (Field("value", json_value, None, "any JSON value; templates allowed"),)

    def prepare(self, config: dict[str, Any], path: str) -> Template:
        return template(config["value"], join(path, "value"))

    def run(self, node: CompiledNode, prev: Job | None, proc: RunContext) -> Outcome:
        value = proc.render(node.prepared)
        proc.execution.output = value
        return Job(Status.RESOLVED, value)
