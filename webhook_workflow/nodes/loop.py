"""``loop``: run branch 0 once per item of ``target``, with ``$scopes.<key>`` set.

``target`` is a number (that many iterations, items 0..n-1), a list (its items) or any other
non-null value (one iteration); null loops zero times. NocoBase skips ``null`` items when it
picks an item, so ``[1, null, 2]`` gives items 1, 2, undefined there; here items are taken
as they are (1, null, 2), the only sensible reading of the index.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from ..definition.fields import Field, boolean, check_section, join, one_of, template
from ..errors import DefinitionError
from ..runtime.records import Job
from ..runtime.status import Status
from .base import CompiledNode, NodeType, Outcome, RunBranch
from .conditions import Condition, compile_condition

if TYPE_CHECKING:
    from ..runtime.processor import Processor

__all__ = ["LoopNode"]

RETURN, BREAK, CONTINUE = 0, 1, 2

_CONDITION_FIELDS = (
    Field("checkpoint", one_of(0, 1), 0, "0: before each iteration; 1: after each"),
    Field("continueOnFalse", boolean, False, "false condition: skip the item instead of "
          "stopping the loop"),
    Field("engine", one_of("basic", "math.js", "formula.js"), "basic", "condition engine"),
    Field("calculation", lambda v, p: v, None, "basic engine's `{group: ...}`"),
    Field("expression", lambda v, p: v, None, "expression for math.js / formula.js"),
)


def _condition(value: Any, path: str) -> Any:
    if value is False or value is None:
        return False
    return check_section(value, _CONDITION_FIELDS, path)


class _Prepared:
    __slots__ = ("branch", "condition", "target")

    def __init__(self, target: Any, condition: Condition | None) -> None:
        self.target = target
        self.condition = condition
        self.branch = 0


class LoopNode(NodeType):
    """Iterate a branch; the result is ``{"looped", "done", "broken"?, "exceeded"?}``."""

    type_name = "loop"
    summary = "runs its branch once per item of target"
    open_branches: ClassVar[bool] = True
    fields = (
        Field("target", lambda v, p: v, None, "number, list or value (templates allowed)"),
        Field("condition", _condition, False, "false, or `{checkpoint, continueOnFalse, "
              "engine, calculation | expression}`"),
        Field("exit", one_of(RETURN, BREAK, CONTINUE), RETURN, "when an iteration fails: "
              "0 end the loop with that status, 1 stop the loop (RESOLVED), 2 go on"),
    )

    def prepare(self, config: dict[str, Any], path: str) -> _Prepared:
        target = template(config["target"], join(path, "target"))
        condition = None
        spec = config["condition"]
        if spec:
            condition = compile_condition(spec["engine"], spec["calculation"],
                                          spec["expression"], join(path, "condition"))
        return _Prepared(target, condition)

    def link(self, node: CompiledNode, nodes: Mapping[str, CompiledNode]) -> None:
        if len(node.branches) > 1:
            raise DefinitionError(join(node.path, "branches"), "a loop has exactly one branch")
        for index in node.branches:
            node.prepared.branch = index

    # -- running ------------------------------------------------------------------------------
    def _items(self, node: CompiledNode, proc: Processor) -> tuple[int, Any]:
        target = proc.render(node.prepared.target)
        if target is None:
            return 0, None
        if isinstance(target, bool) or not isinstance(target, int | float):
            if isinstance(target, list):
                return len(target), target
            return 1, [target]
        if math.isnan(target) or target < 0:
            raise ValueError(f"loop target must not be negative, got {target}")
        return math.floor(target), None

    def _scope(self, node: CompiledNode, proc: Processor, index: int, length: int,
               items: Any) -> None:
        item = index if items is None else items[index]
        proc.scopes[node.key] = {"item": item, "index": index, "sequence": index + 1,
                                 "length": length}

    def _check(self, node: CompiledNode, proc: Processor) -> bool:
        condition = node.prepared.condition
        return condition is None or condition.holds(proc.scope)

    def _next(self, node: CompiledNode, job: Job, proc: Processor, index: int) -> Outcome:
        """Start iteration ``index`` or finish the loop."""
        length, items = self._items(node, proc)
        limit = int(proc.settings.get("loop_limit", 10_000))
        spec = node.config["condition"]
        result = job.result
        while index < length:
            if result["looped"] >= limit:
                job.status, result["exceeded"] = Status.ERROR, True
                result["message"] = f"loop_limit ({limit}) exceeded"
                return job
            self._scope(node, proc, index, length, items)
            if spec and spec["checkpoint"] == 0 and not self._check(node, proc):
                if not spec["continueOnFalse"]:
                    result["broken"] = True
                    job.status = Status.RESOLVED
                    return job
                result["looped"] += 1
                index += 1
                continue
            result["looped"] += 1
            return RunBranch(job, node.prepared.branch)
        job.status = Status.RESOLVED
        return job

    def restore(self, node: CompiledNode, job: Job, proc: Processor) -> None:
        index = job.result.get("looped", 0) - 1
        length, items = self._items(node, proc)
        if 0 <= index < length:
            self._scope(node, proc, index, length, items)

    def run(self, node: CompiledNode, prev: Job | None, proc: Processor) -> Outcome:
        job = Job(Status.PENDING, {"looped": 0, "done": 0})
        if not node.branches:
            job.status = Status.RESOLVED
            return job
        return self._next(node, job, proc, 0)

    def resume(self, node: CompiledNode, job: Job | None, proc: Processor) -> Outcome:
        own = proc.job_of(node)
        if own is None or job is None:
            raise ValueError("loop resumed without its own job")
        result = own.result
        index = result["looped"] - 1
        if job.status == Status.RESOLVED or node.config["exit"] == CONTINUE:
            result["done"] += 1
        elif node.config["exit"] == BREAK:
            result["broken"] = True
            own.status = Status.RESOLVED
            return own
        else:
            own.status = job.status
            return own
        spec = node.config["condition"]
        if (spec and spec["checkpoint"] == 1 and not spec["continueOnFalse"]
                and not self._check(node, proc)):
            result["broken"] = True
            own.status = Status.RESOLVED
            return own
        return self._next(node, own, proc, index + 1)
