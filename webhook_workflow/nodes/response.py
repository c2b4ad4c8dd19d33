"""``response`` (sync workflows): set the HTTP answer and end the execution as RESOLVED."""

from __future__ import annotations

from typing import Any

from ..http.response import RESPONSE_FIELDS, ResponseSpec, compile_response
from ..records import Job
from ..status import Status
from .base import CompiledNode, NodeType, Outcome, RunContext, Stop

__all__ = ["ResponseNode"]


class ResponseNode(NodeType):
    """The first Response node that runs answers the request; nothing after it runs."""

    type_name = "response"
    summary = "sets the HTTP answer of a sync workflow and ends the execution"
    fields = RESPONSE_FIELDS
    only_in = "sync"

    def compile(self, config: Any, path: str) -> tuple[dict[str, Any], ResponseSpec]:
        return compile_response(config, path)

    def run(self, node: CompiledNode, prev: Job | None, proc: RunContext) -> Outcome:
        answer = node.prepared.render(proc.scope)  # HeaderInjection → an ERROR job
        record = answer.to_record()
        proc.response = answer
        proc.execution.response = record
        return Stop(Job(Status.RESOLVED, {"statusCode": answer.status,
                                          "headers": record["headers"],
                                          "body": record["body"]}), Status.RESOLVED)
