"""``output``: set the execution's output (the last output node that runs wins)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..definition.fields import Field, join, json_value, template
from ..runtime.records import Job
from ..runtime.status import Status
from ..variables.templates import Template
from .base import CompiledNode, NodeType, Outcome

if TYPE_CHECKING:
    from ..runtime.processor import Processor

__all__ = ["OutputNode"]


class OutputNode(NodeType):
    """Write ``value`` (templated) to the execution's ``output``."""

    type_name = "output"
    summary = "sets the execution's output"
    fields = (Field("value", json_value, None, "any JSON value; templates allowed"),)

    def prepare(self, config: dict[str, Any], path: str) -> Template:
        return template(config["value"], join(path, "value"))

    def run(self, node: CompiledNode, prev: Job | None, proc: Processor) -> Outcome:
        value = proc.render(node.prepared)
        proc.execution.output = value
        return Job(Status.RESOLVED, value)
