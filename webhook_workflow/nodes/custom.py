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
from typing import Any, ClassVar

from ..errors import DefinitionError
from ..fields import json_value
from ..records import Job
from ..status import Status
from ..variables.templates import template
from .base import Call, CompiledNode, NodeType, Outcome, RunContext

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
    reports_waiting: ClassVar[bool] = True

    def __init__(self, type_name: str, node: Any) -> None:
        self.type_name = type_name  # type: ignore[misc]  # per-instance name of a custom type
        self._resume: Callable[..., Any] | None = None
        if callable(getattr(node, "run", None)):
            self._run: Callable[..., Any] = node.run
            resume = getattr(node, "resume", None)
            if resume is not None and not callable(resume):
                raise TypeError(f"custom node {type_name!r}: resume must be a method")
            self._resume = resume
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

    def _context(self, node: CompiledNode, proc: RunContext, value: Any) -> NodeContext:
        return NodeContext(
            execution_id=proc.execution.id,
            workflow_key=proc.execution.workflow_key,
            node_key=node.key,
            input=value,
            scope=proc.scope,
            logger=proc.logger,
            deadline=proc.deadline,
        )

    def run(self, node: CompiledNode, prev: Job | None,
            proc: RunContext) -> Generator[Call, Any, Outcome]:
        # A copy: host code may change its config, which must not leak into later runs.
        config = copy.deepcopy(proc.render(node.prepared))
        ctx = self._context(node, proc, None if prev is None else prev.result)
        job = yield from self._call(self._run, (config, ctx), proc)
        return job

    def resume(self, node: CompiledNode, job: Job | None,
               proc: RunContext) -> Generator[Call, Any, Outcome]:
        """The node's PENDING job was resumed with ``engine.resume``; ``job.result`` holds the
        value given there. Without a ``resume`` method the job becomes RESOLVED with it."""
        own = proc.job_of(node)
        if own is None:
            raise ValueError(f"node {node.key} resumed without its job")
        if self._resume is None:
            own.status = Status.RESOLVED
            return own
        ctx = self._context(node, proc, own.result)
        outcome = yield from self._call(self._resume, (own, ctx), proc)
        own.status, own.result, own.log = outcome.status, outcome.result, outcome.log
        return own

    @staticmethod
    def _call(fn: Callable[..., Any], args: tuple[Any, ...],
              proc: RunContext) -> Generator[Call, Any, Job]:
        try:
            result = yield Call(fn, args)
        except Exception as exc:
            return Job(Status.ERROR, {"message": str(exc) or type(exc).__name__},
                       "".join(traceback.format_exception(exc)))
        if not isinstance(result, Job):
            return Job(Status.RESOLVED, result)
        if result.status == Status.PENDING and proc.execution.sync:
            return Job(Status.ERROR, {"message": "only async workflows can wait: a sync "
                                      "request (or subflow) cannot stay open until resumed"})
        return Job(result.status, result.result, result.log)
