"""Custom node types registered by host apps with ``engine.register_node(type, node)``.

A custom node is a function ``(config, ctx) -> result`` (plain or ``async def``) or an object
with ``run(config, ctx)`` and optional ``validate_config(config)``. ``config`` is the node's
config with templates rendered; ``ctx`` is a :class:`NodeContext`. The function may block:
the processor hands it to its driver as an effect, so under ASGI it runs in a worker thread.
"""

from __future__ import annotations

import copy
import logging
import traceback
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..definition.fields import json_value, template
from ..errors import DefinitionError
from ..runtime.effects import Call
from ..runtime.records import Job
from ..runtime.status import Status
from .base import CompiledNode, NodeType, Outcome

if TYPE_CHECKING:
    from ..runtime.processor import Processor

__all__ = ["CustomNode", "NodeContext"]


@dataclass(frozen=True, slots=True)
class NodeContext:
    """What a custom node knows about the run it is part of."""

    execution_id: str
    workflow_key: str
    node_key: str
    #: The upstream job's result (None for the first node).
    input: Any
    #: The template scope: ``$context``, ``$jobsMapByNodeKey``, ``$scopes``, ``$system``, ``$env``.
    scope: Mapping[str, Any]
    logger: logging.Logger
    #: Monotonic deadline in seconds, or None when the workflow has no timeout.
    deadline: float | None = None


class CustomNode(NodeType):
    """Adapts a host-supplied function or object to the node-type interface."""

    summary = "a node type registered by the host application"

    def __init__(self, type_name: str, node: Any) -> None:
        self.type_name = type_name  # type: ignore[misc]  # per-instance name of a custom type
        if callable(getattr(node, "run", None)):
            self._run: Callable[..., Any] = node.run
            if getattr(node, "resume", None) is not None:
                # A node that waits needs a way to be woken from outside; that API does not
                # exist yet, so say so now instead of leaving executions waiting forever.
                raise ValueError(f"custom node {type_name!r}: resume() is not supported; "
                                 "run() must finish the node")
        elif callable(node):
            self._run = node
        else:
            raise TypeError(f"custom node {type_name!r} must be a function (config, ctx) -> "
                            "result or an object with run(config, ctx)")
        self._validate: Callable[[Any], Any] | None = getattr(node, "validate_config", None)

    def compile(self, config: Any, path: str) -> tuple[dict[str, Any], Any]:
        if config is None:
            config = {}
        if not isinstance(config, dict):
            raise DefinitionError(path, "must be an object")
        json_value(config, path)
        if self._validate is not None:
            try:
                self._validate(config)
            except DefinitionError as exc:
                raise exc.within(path) from None
        return config, template(config, path)

    def run(self, node: CompiledNode, prev: Job | None,
            proc: Processor) -> Generator[Call, Any, Outcome]:
        # A copy: host code may change its config, which must not leak into later runs.
        config = copy.deepcopy(proc.render(node.prepared))
        ctx = NodeContext(
            execution_id=proc.execution.id,
            workflow_key=proc.execution.workflow_key,
            node_key=node.key,
            input=None if prev is None else prev.result,
            scope=proc.scope,
            logger=proc.logger,
            deadline=proc.deadline,
        )
        try:
            result = yield Call(self._run, (config, ctx))
        except Exception as exc:
            return Job(Status.ERROR, {"message": str(exc) or type(exc).__name__},
                       "".join(traceback.format_exception(exc)))
        if isinstance(result, Job):
            if result.status == Status.PENDING:
                return Job(Status.ERROR, {"message": "a custom node cannot leave its job "
                                          "PENDING; return a finished status"})
            return Job(result.status, result.result, result.log)
        return Job(Status.RESOLVED, result)
