"""``subflow``: run another registered workflow with a templated context; result = its output.

The child execution runs inside this one's driver (its effects go through the same sync or
async driver) and is recorded like any other, with ``parent_id`` set. The child's
``options.stackLimit`` bounds recursion: a workflow cannot appear in its own chain of callers
more often than that. A call past the limit is skipped, as NocoBase's dispatcher skips such a
trigger: no child execution, the node is RESOLVED with a null result and a log saying why,
and the executions already running end normally.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from ..fields import Field, join, json_value, string
from ..records import Job
from ..status import Status
from ..variables.templates import Template, template
from .base import Call, CompiledNode, NodeType, Outcome, RunContext

__all__ = ["SubflowNode"]


class SubflowNode(NodeType):
    """Invoke a workflow by key (also a disabled or async one) and wait for its end."""

    type_name = "subflow"
    summary = "runs another workflow; the result is its output"
    fields = (
        Field("workflow", string(r"[A-Za-z0-9_-]{1,64}", what="a workflow key"),
              doc="key of the workflow to run"),
        Field("context", json_value, {}, "the child's $context (templates allowed); missing "
              "headers/query/body default to {}"),
    )

    def prepare(self, config: dict[str, Any], path: str) -> Template:
        return template(config["context"], join(path, "context"))

    def run(self, node: CompiledNode, prev: Job | None,
            proc: RunContext) -> Generator[Call, Any, Outcome]:
        context = proc.render(node.prepared)
        if context is None:
            context = {}
        if not isinstance(context, dict):
            return Job(Status.FAILED, {"message": "subflow context must be an object"})
        context = {"headers": {}, "query": {}, "body": {}, **context}
        if proc.spawn is None:
            raise RuntimeError("subflows need an engine")
        try:
            child = proc.spawn(node.config["workflow"], context, proc)
        except RecursionError as exc:
            proc.logger.warning("execution %s: subflow %s skipped: %s", proc.execution.id,
                                node.key, exc)
            return Job(Status.RESOLVED, None, f"skipped: {exc}")
        except LookupError as exc:
            return Job(Status.FAILED, {"message": str(exc)})
        try:
            status = yield from child.steps()
        finally:
            if child.on_finish is not None:
                child.on_finish(child)
        execution = child.execution
        if status == Status.STARTED:
            return Job(Status.ERROR, {"message": f"subflow execution {execution.id} did not "
                                      "finish", "executionId": execution.id})
        if child.timed_out:
            return Job(Status.ABORTED, {"message": "subflow timed out",
                                        "executionId": execution.id})
        if status != Status.RESOLVED:
            return Job(status, {"message": f"subflow ended with status {status.name}",
                                "executionId": execution.id})
        return Job(Status.RESOLVED, execution.output)
