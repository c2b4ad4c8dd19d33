"""One condition, three engines: what ``condition``, ``multi-conditions`` and ``loop`` test.

``basic`` is the calculators-and-groups tree of :mod:`.calculators`; ``math.js`` and
``formula.js`` are expressions of :mod:`webhook_workflow.variables.expressions`. A condition
is compiled once; :meth:`Condition.evaluate` gives the engine's raw result (NocoBase records
it as the job result) and :meth:`Condition.holds` its truth, by JavaScript's rules, so a
math.js ``1`` holds and ``0``, ``""`` and null do not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from ..errors import DefinitionError, ExpressionError
from ..fields import join, type_name
from ..variables.expressions import compile_expression, truthy
from ..variables.expressions.calculators import compile_calculation

__all__ = ["CONDITION_ENGINES", "Condition", "compile_condition"]

#: The engines a condition may use.
CONDITION_ENGINES: Final = ("basic", "math.js", "formula.js")


class Condition:
    """A compiled condition of one engine."""

    __slots__ = ("_evaluate", "engine")

    def __init__(self, engine: str, evaluate: Callable[[Mapping[str, Any]], Any]) -> None:
        self.engine = engine
        self._evaluate = evaluate

    def __repr__(self) -> str:
        return f"<Condition {self.engine}>"

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        """The engine's result in ``scope`` (``basic``: a bool; expressions: any value).

        Raise :class:`~webhook_workflow.errors.ExpressionError` when an expression fails.
        """
        return self._evaluate(scope)

    def holds(self, scope: Mapping[str, Any]) -> bool:
        """Whether the condition is true in ``scope`` (JavaScript truthiness)."""
        return truthy(self._evaluate(scope))


def compile_condition(engine: str, calculation: Any, expression: Any, path: str) -> Condition:
    """Compile a condition; errors are :class:`DefinitionError` at ``path.calculation``,
    ``path.expression`` or ``path.engine``.

    ``basic`` uses ``calculation`` (null is an empty ``and`` group: true); the expression
    engines use ``expression``, which must not be empty. The unused field is ignored, as
    NocoBase keeps both when the engine is switched.
    """
    if engine == "basic":
        if calculation is None:
            calculation = {"group": {"type": "and", "calculations": []}}
        compiled = compile_calculation(calculation, join(path, "calculation"))
        return Condition(engine, compiled.evaluate)
    if engine in CONDITION_ENGINES:
        where = join(path, "expression")
        if expression is not None and not isinstance(expression, str):
            raise DefinitionError(where, f"must be a string, got {type_name(expression)}")
        if expression is None or not expression.strip():
            raise DefinitionError(where, f"is required with engine {engine!r}")
        try:
            return Condition(engine, compile_expression(engine, expression).evaluate)
        except ExpressionError as exc:
            raise DefinitionError(where, str(exc)) from None
    choices = ", ".join(repr(e) for e in CONDITION_ENGINES)
    raise DefinitionError(join(path, "engine"), f"must be one of {choices}")
