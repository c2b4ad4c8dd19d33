"""The tree walker: evaluate a syntax tree against a template scope, within a step budget.

Every node visited costs one step; functions that walk lists and operators that build strings
cost in proportion to the size they handle, so the budget (:data:`MAX_STEPS`) bounds the time
of any evaluation. The tree is at most :data:`MAX_DEPTH` deep, so the recursion is shallow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from ...errors import ExpressionError
from ..templates import to_text
from .calculators import CALCULATORS
from .functions import ArgumentError
from .tree import Binary, Call, Chain, Cond, Interp, ListOf, Lit, Node, Unary, Var
from .values import (
    MAX_STEPS,
    add,
    check_length,
    check_value,
    concat,
    divide,
    finish,
    modulo,
    multiply,
    negate,
    power,
    subtract,
    to_number,
    truthy,
)

__all__ = ["COMPARE", "evaluate_tree"]

# Comparisons are the basic engine's calculators, so all engines agree on what equals what.
COMPARE: Final[dict[str, Callable[[Any, Any], bool]]] = {
    op: CALCULATORS[op] for op in ("==", "!=", "<", "<=", ">", ">=")}
_ARITHMETIC: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "+": add, "-": subtract, "*": multiply, "/": divide, "%": modulo, "&": concat}
# Strings cost one step per this many characters; lists one step per this many items. So one
# evaluation builds at most ~10 million characters, whatever the expression.
_TEXT_COST: Final = 100
_LIST_COST: Final = 10


def evaluate_tree(tree: Node, scope: Mapping[str, Any]) -> Any:
    """The value of ``tree`` in ``scope``, with floats rounded to 9 decimals.

    Raise :class:`ExpressionError` for any failure: a bad operand, a bound exceeded, a
    division by zero, a non-finite result.
    """
    walker = _Walker(scope)
    try:
        return finish(walker.value(tree))
    except ExpressionError:
        raise
    except ZeroDivisionError:
        raise ExpressionError("division by zero") from None
    except OverflowError:
        raise ExpressionError("result is not a finite number") from None
    except (ArithmeticError, ValueError) as exc:
        raise ExpressionError(f"invalid operation: {exc}") from None


class _Walker:
    __slots__ = ("scope", "steps")

    def __init__(self, scope: Mapping[str, Any]) -> None:
        self.scope = scope
        self.steps = 0

    def charge(self, cost: int) -> None:
        self.steps += cost
        if self.steps > MAX_STEPS:
            raise ExpressionError(f"evaluation exceeded its budget of {MAX_STEPS} steps")

    def charge_value(self, value: Any) -> None:
        if isinstance(value, str):
            self.charge(len(value) // _TEXT_COST)
        elif isinstance(value, list | tuple):
            self.charge(len(value) // _LIST_COST)

    def value(self, node: Node) -> Any:
        self.charge(1)
        if isinstance(node, Lit):
            return node.value
        if isinstance(node, Var):
            value = node.template.render(self.scope)
            self.charge_value(value)  # reading a list (``items.price``) walks it
            return value
        if isinstance(node, Chain):
            return self.chain(node)
        if isinstance(node, Binary):
            left, right = self.value(node.left), self.value(node.right)
            if node.op == "^":
                return power(left, right)
            self.charge_value(left)
            self.charge_value(right)
            try:
                return COMPARE[node.op](left, right)
            except OverflowError:  # numbers compare as floats, as in JavaScript
                raise ExpressionError("number too large to compare") from None
        if isinstance(node, Unary):
            operand = self.value(node.operand)
            if node.op == "not":
                return not truthy(operand)
            return negate(operand) if node.op == "-" else to_number(operand, "operator '+'")
        if isinstance(node, Cond):
            return self.value(node.then if truthy(self.value(node.test)) else node.other)
        if isinstance(node, Call):
            return self.call(node)
        if isinstance(node, ListOf):
            return [self.value(item) for item in node.items]
        if isinstance(node, Interp):
            pieces = [p if isinstance(p, str) else to_text(self.value(p)) for p in node.parts]
            check_length(sum(len(p) for p in pieces))
            text = "".join(pieces)
            self.charge_value(text)
            return text
        raise ExpressionError(f"cannot evaluate {type(node).__name__}")

    def chain(self, node: Chain) -> Any:
        op = node.rest[0][0]
        if op in ("and", "or"):
            # Short-circuit, with a boolean result (math.js), whatever the operands are.
            want = op == "or"
            if truthy(self.value(node.first)) == want:
                return want
            for _op, operand in node.rest:
                if truthy(self.value(operand)) == want:
                    return want
            return not want
        result = self.value(node.first)
        for op, operand in node.rest:
            result = _ARITHMETIC[op](result, self.value(operand))
            self.charge_value(result)
        return result

    def call(self, node: Call) -> Any:
        function = node.function
        if function.lazy:
            args: list[Any] = [_Thunk(self, arg) for arg in node.args]
        else:
            args = [self.value(arg) for arg in node.args]
            for arg in args:
                self.charge_value(arg)
        try:
            result = check_value(function.impl(*args))
        except ArgumentError as exc:
            raise ExpressionError(f"{node.name}: {exc}") from None
        except ZeroDivisionError:
            raise ExpressionError(f"{node.name}: division by zero") from None
        except OverflowError:
            raise ExpressionError(f"{node.name}: result is not a finite number") from None
        except ExpressionError:
            raise
        except (ArithmeticError, ValueError) as exc:
            raise ExpressionError(f"{node.name}: invalid argument ({exc})") from None
        self.charge_value(result)
        return result


class _Thunk:
    """An argument of a lazy function, evaluated when (and each time) it is called."""

    __slots__ = ("node", "walker")

    def __init__(self, walker: _Walker, node: Node) -> None:
        self.walker = walker
        self.node = node

    def __call__(self) -> Any:
        return self.walker.value(self.node)
