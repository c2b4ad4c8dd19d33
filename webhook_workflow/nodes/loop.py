"""``loop``: run branch 0 once per item of ``target``, with ``$scopes.<key>`` set.

``target`` is a number (that many iterations, items 0..n-1), a list (its items) or any other
non-null value (one iteration); null loops zero times. NocoBase skips ``null`` items when it
picks an item, so ``[1, null, 2]`` gives items 1, 2, undefined there; here items are taken
as they are (1, null, 2), the only sensible reading of the index.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

from ..errors import DefinitionError
from ..fields import Field, boolean, check_section, join, one_of, schema_hint, section_schema
from ..records import Job
from ..status import Status
from ..variables.templates import template
from .base import CompiledNode, NodeType, Outcome, RunBranch, RunContext
from .conditions import Condition, compile_condition

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


@schema_hint(lambda: {"anyOf": [{"enum": [False, None]}, section_schema(_CONDITION_FIELDS)]})
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
    def _items(self, node: CompiledNode, proc: RunContext) -> tuple[int, Any]:
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

    def _scope(self, node: CompiledNode, proc: RunContext, index: int, length: int,
               items: Any) -> None:
        item = index if items is None else items[index]
        proc.scopes[node.key] = {"item": item, "index": index, "sequence": index + 1,
                                 "length": length}

    def _check(self, node: CompiledNode, proc: RunContext) -> bool:
        condition = node.prepared.condition
        return condition is None or condition.holds(proc.scope)

    @staticmethod
    def _checks(spec: Any) -> bool:
        # NocoBase checks only a condition with a calculation or an expression (as in
        # JavaScript, any calculation object counts, an empty expression does not).
        return bool(spec) and (spec["calculation"] is not None or bool(spec["expression"]))

    def restore(self, node: CompiledNode, job: Job, proc: RunContext) -> None:
        index = job.result.get("looped", 0)
        length, items = self._items(node, proc)
        if 0 <= index < length:
            self._scope(node, proc, index, length, items)

    def reopen(self, node: CompiledNode, own: Job, inner: CompiledNode) -> None:
        # resume() counted the failed iteration as looped: it runs again.
        own.result["looped"] = max(0, own.result.get("looped", 1) - 1)
        own.result.pop("broken", None)
        own.status = Status.PENDING

    def run(self, node: CompiledNode, prev: Job | None, proc: RunContext) -> Outcome:
        # ``looped`` is the index of the item being run (items taken so far), ``done`` the
        # iterations that ended well, as in NocoBase's LoopInstruction.
        job = Job(Status.PENDING, {"looped": 0, "done": 0})
        length, items = self._items(node, proc)
        if not node.branches or not length:
            job.status = Status.RESOLVED
            return job
        result = job.result
        spec = node.config["condition"]
        if self._checks(spec) and spec["checkpoint"] == 0:
            while result["looped"] < length:
                self._scope(node, proc, result["looped"], length, items)
                if self._check(node, proc):
                    break
                # Before the first item, a false check counts the item as looped.
                result["looped"] += 1
                if not spec["continueOnFalse"]:
                    result["broken"] = True
                    job.status = Status.RESOLVED
                    return job
            if result["looped"] >= length:
                job.status = Status.RESOLVED
                return job
        self._scope(node, proc, result["looped"], length, items)
        return RunBranch(job, node.prepared.branch)

    def resume(self, node: CompiledNode, job: Job | None, proc: RunContext) -> Outcome:
        own = proc.job_of(node)
        if own is None or job is None:
            raise ValueError("loop resumed without its own job")
        result = own.result
        result["looped"] += 1
        leave = node.config["exit"]
        if job.status == Status.RESOLVED or (job.status < 0 and leave == CONTINUE):
            result["done"] += 1
            length, items = self._items(node, proc)
            spec = node.config["condition"]
            if self._checks(spec):
                # Whatever the checkpoint, the next item is checked before it runs: "after
                # each" differs from "before each" only in not checking the first item.
                while result["looped"] < length:
                    self._scope(node, proc, result["looped"], length, items)
                    if self._check(node, proc):
                        break
                    if not spec["continueOnFalse"]:
                        result["broken"] = True
                        own.status = Status.RESOLVED
                        return own
                    result["looped"] += 1
            if result["looped"] >= length:
                own.status = Status.RESOLVED
                return own
            limit = int(proc.settings.get("loop_limit", 10_000))
            if result["done"] >= limit:
                own.status, result["exceeded"] = Status.ERROR, True
                result["message"] = f"loop_limit ({limit}) exceeded"
                return own
            self._scope(node, proc, result["looped"], length, items)
            return RunBranch(own, node.prepared.branch)
        if leave:  # BREAK (or CONTINUE after a status that is not a failure)
            result["broken"] = True
            own.status = Status.RESOLVED
        else:
            own.status = job.status
        return own
