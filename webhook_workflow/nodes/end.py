"""``end``: end the whole execution at once with ``endStatus`` (1 resolved, -1 failed)."""

from __future__ import annotations

from ..fields import Field, one_of
from ..records import Job
from ..status import Status
from .base import CompiledNode, NodeType, Outcome, RunContext, Stop

__all__ = ["EndNode"]


class EndNode(NodeType):
    """Stop the execution from any depth of nesting, like a ``return``."""

    type_name = "end"
    summary = "ends the execution with endStatus"
    fields = (Field("endStatus", one_of(1, -1), 1, "1 = RESOLVED, -1 = FAILED"),)

    def run(self, node: CompiledNode, prev: Job | None, proc: RunContext) -> Outcome:
        status = Status(node.config["endStatus"])
        return Stop(Job(status, None), status)
