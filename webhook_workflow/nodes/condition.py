"""``condition``: evaluate a calculation and take branch ``1`` (true) or ``0`` (false).

The result is the engine's output (``basic``: a boolean; ``math.js``/``formula.js``: the
expression's value). Branches follow its truth by JavaScript's rules; NocoBase compares the
result strictly with true/false, so a math.js ``1`` would take neither branch there.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..errors import DefinitionError
from ..fields import Field, boolean, one_of, schema_hint
from ..records import Job
from ..status import Status
from ..variables.expressions import truthy
from .base import CompiledNode, NodeType, Outcome, RunBranch, RunContext
from .conditions import CONDITION_ENGINES, Condition, compile_condition

__all__ = ["ConditionNode"]


@schema_hint({"type": ["string", "null"]})
def _expression(value: Any, path: str) -> Any:
    if value is not None and not isinstance(value, str):
        raise DefinitionError(path, "must be a string")
    return value


def _calculation(value: Any, path: str) -> Any:
    return value  # compiled in prepare(), where the engine is known


class ConditionNode(NodeType):
    """Branch on a condition; with ``rejectOnFalse`` a false result fails the node."""

    type_name = "condition"
    summary = "evaluates a calculation; runs branch 1 (true) or 0 (false)"
    branch_indexes: ClassVar[frozenset[int] | None] = frozenset({0, 1})
    branch_aliases: ClassVar[dict[str, int]] = {"true": 1, "false": 0}
    fields = (
        Field("rejectOnFalse", boolean, True, "a false result FAILs the node (ends the flow)"),
        Field("engine", one_of(*CONDITION_ENGINES), "basic",
              "`basic` (calculators and groups); `math.js`/`formula.js` expressions"),
        Field("calculation", _calculation, None,
              "the basic engine's `{group: ...}` tree or one item"),
        Field("expression", _expression, None, "expression for the `math.js`/`formula.js` engines"),
    )

    def prepare(self, config: dict[str, Any], path: str) -> Condition:
        return compile_condition(config["engine"], config["calculation"], config["expression"],
                                 path)

    def run(self, node: CompiledNode, prev: Job | None, proc: RunContext) -> Outcome:
        result = node.prepared.evaluate(proc.scope)
        holds = truthy(result)
        if not holds and node.config["rejectOnFalse"]:
            return Job(Status.FAILED, result)
        branch = 1 if holds else 0
        job = Job(Status.RESOLVED, result)
        if branch in node.branches:
            return RunBranch(job, branch)
        return job

    def reopen(self, node: CompiledNode, own: Job, inner: CompiledNode) -> None:
        own.status = Status.RESOLVED  # as run() left it; resume passed the branch's status on

    def resume(self, node: CompiledNode, job: Job | None, proc: RunContext) -> Outcome:
        own = proc.job_of(node)
        if job is None:
            raise ValueError("condition resumed without a branch job")
        if own is None:
            return Job(job.status, job.result)
        if job.status != Status.RESOLVED:
            # The branch failed: the condition ends with the branch's status; its own result
            # (what the condition evaluated to) stays as it was.
            own.status = job.status
        return own
