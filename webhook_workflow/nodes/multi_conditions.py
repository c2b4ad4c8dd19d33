"""``multi-conditions``: test conditions in order; the first that holds picks its branch.

Condition ``i`` (0-based) leads to branch ``i + 1``; branch ``0`` ("otherwise") runs when none
holds. As in NocoBase, a node without a match is FAILED unless ``continueOnNoMatch``, even
when its "otherwise" branch ran and succeeded. A condition holds by JavaScript truthiness
(NocoBase requires exactly ``true``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..errors import DefinitionError
from ..fields import (
    Field,
    boolean,
    check_section,
    join,
    one_of,
    schema_hint,
    section_schema,
    string,
    type_name,
)
from ..records import Job
from ..status import Status
from ..variables.expressions import truthy
from .base import CompiledNode, NodeType, Outcome, RunBranch, RunContext, Stop
from .conditions import CONDITION_ENGINES, Condition, compile_condition

__all__ = ["MAX_CONDITIONS", "MultiConditionsNode"]

#: Most conditions one node may hold (branch indexes 0..MAX_CONDITIONS).
MAX_CONDITIONS = 100


def _any(value: Any, path: str) -> Any:
    return value  # compiled in prepare(), where the engine is known


_CONDITION_FIELDS = (
    Field("uid", string(), None, "an id for editors; not used when running"),
    Field("title", string(), None, "a label for editors and docs"),
    Field("engine", one_of(*CONDITION_ENGINES), "basic", "`basic`, `math.js` or `formula.js`"),
    Field("calculation", _any, None, "the basic engine's `{group: ...}` tree or one item"),
    Field("expression", _any, None, "expression for `math.js` / `formula.js`"),
)


@schema_hint(lambda: {"type": "array", "maxItems": MAX_CONDITIONS,
                      "items": section_schema(_CONDITION_FIELDS)})
def _conditions(value: Any, path: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise DefinitionError(path, f"must be an array, got {type_name(value)}")
    if len(value) > MAX_CONDITIONS:
        raise DefinitionError(path, f"at most {MAX_CONDITIONS} conditions")
    return [check_section(item, _CONDITION_FIELDS, join(path, i)) for i, item in enumerate(value)]


class MultiConditionsNode(NodeType):
    """Run the branch of the first condition that holds, else the "otherwise" branch 0."""

    type_name = "multi-conditions"
    summary = "runs the branch of the first true condition (i -> branch i+1), else branch 0"
    # Indexes are checked before the conditions are known; one past the last condition is
    # accepted and simply never runs.
    branch_indexes: ClassVar[frozenset[int] | None] = frozenset(range(MAX_CONDITIONS + 1))
    branch_aliases: ClassVar[dict[str, int]] = {"otherwise": 0}
    fields = (
        Field("conditions", _conditions, [], "`[{uid?, title?, engine, calculation | "
              "expression}]`, tested in order"),
        Field("continueOnNoMatch", boolean, False, "no match: RESOLVED instead of FAILED"),
    )

    def prepare(self, config: dict[str, Any], path: str) -> tuple[Condition, ...]:
        where = join(path, "conditions")
        return tuple(
            compile_condition(item["engine"], item["calculation"], item["expression"],
                              join(where, i))
            for i, item in enumerate(config["conditions"]))

    def run(self, node: CompiledNode, prev: Job | None, proc: RunContext) -> Outcome:
        outcomes: list[Any] = []
        for i, condition in enumerate(node.prepared):
            value = condition.evaluate(proc.scope)
            outcomes.append(value)
            if truthy(value):
                job = Job(Status.RESOLVED, {"conditions": outcomes, "branch": i + 1})
                return RunBranch(job, i + 1) if i + 1 in node.branches else job
        status = Status.RESOLVED if node.config["continueOnNoMatch"] else Status.FAILED
        job = Job(status, {"conditions": outcomes, "branch": 0})
        return RunBranch(job, 0) if 0 in node.branches else job

    def reopen(self, node: CompiledNode, own: Job, inner: CompiledNode) -> None:
        """Nothing to undo: a failing branch ended the execution, the job kept run()'s
        status."""

    def resume(self, node: CompiledNode, job: Job | None, proc: RunContext) -> Outcome:
        own = proc.job_of(node)
        if job is None:
            raise ValueError("multi-conditions resumed without a branch job")
        if own is None:
            return Job(job.status, job.result)
        if job.status != Status.RESOLVED:
            # As NocoBase's processor.exit(branchJob.status): the branch's status ends the
            # whole execution; the node's own job keeps what run() decided.
            return Stop(own, job.status)
        # A resolved branch leaves the node as run() decided: RESOLVED for a match, and for
        # "otherwise" RESOLVED or FAILED by continueOnNoMatch.
        return own
