"""``calculation``: evaluate an expression (``math.js``, ``formula.js`` or ``string``)."""

from __future__ import annotations

from typing import Any

from ..errors import DefinitionError, ExpressionError
from ..fields import Field, join, one_of, schema_hint, type_name
from ..records import Job
from ..status import Status
from ..variables.expressions import ENGINES, Expression, compile_expression
from .base import CompiledNode, NodeType, Outcome, RunContext

__all__ = ["CalculationNode"]


@schema_hint({"type": ["string", "null"]})
def _expression(value: Any, path: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DefinitionError(path, f"must be a string, got {type_name(value)}")
    return value


class CalculationNode(NodeType):
    """The result is the expression's value; null for an empty expression. An expression
    that fails (a bad operand, division by zero, a cost bound) makes an ERROR job."""

    type_name = "calculation"
    summary = "evaluates a math.js, formula.js or string expression"
    fields = (
        Field("engine", one_of(*ENGINES), "math.js", "`math.js`, `formula.js` or `string`"),
        Field("expression", _expression, "", "the expression; `{{ path }}` placeholders are "
              "bound as values"),
    )

    def prepare(self, config: dict[str, Any], path: str) -> Expression:
        try:
            return compile_expression(config["engine"], config["expression"])
        except ExpressionError as exc:
            raise DefinitionError(join(path, "expression"), str(exc)) from None

    def run(self, node: CompiledNode, prev: Job | None, proc: RunContext) -> Outcome:
        return Job(Status.RESOLVED, node.prepared.evaluate(proc.scope))
