"""What a function library is made of, and the argument helpers both libraries share.

A library (:class:`Library`) names its functions and constants and says how its names are
spelled. A function (:class:`Function`) declares its arity, which the parser checks, so a call
with the wrong number of arguments is refused when the expression is compiled. Helpers raise
:class:`ArgumentError`; the evaluator puts the function's name in front of the message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ...errors import ExpressionError
from .values import MAX_LIST, Number, check_length, describe, to_number

__all__ = [
    "ArgumentError",
    "Function",
    "Library",
    "flatten",
    "fn",
    "integer",
    "non_negative",
    "number",
    "numbers",
    "operator",
]


class ArgumentError(ExpressionError):
    """A function refuses an argument; the evaluator names the function in the message."""


@dataclass(frozen=True, slots=True)
class Function:
    """One function: ``impl`` takes the argument values, or, when ``lazy``, zero-argument
    callables that evaluate them (for ``IF`` and friends, which evaluate only what they use).
    """

    name: str
    impl: Callable[..., Any]
    min_args: int
    max_args: int | None  # None: any number
    lazy: bool = False
    #: The arguments come in pairs (``IFS``).
    pairs: bool = False
    doc: str = ""

    def arity_error(self, count: int) -> str | None:
        """Why ``count`` arguments do not fit, or None when they do."""
        low, high = self.min_args, self.max_args
        if count < low or (high is not None and count > high):
            if high is None:
                wanted = f"at least {low}"
            elif low == high:
                wanted = str(low)
            else:
                wanted = f"{low} to {high}"
            plural = "" if wanted == "1" else "s"
            return f"{self.name}() takes {wanted} argument{plural}, got {count}"
        if self.pairs and count % 2:
            return f"{self.name}() takes pairs of arguments, got {count}"
        return None


def fn(name: str, impl: Callable[..., Any], low: int, high: int | None = -1, doc: str = "",
       *, lazy: bool = False, pairs: bool = False) -> Function:
    """Shorthand for :class:`Function`; ``high`` defaults to ``low`` (a fixed arity)."""
    return Function(name, impl, low, low if high == -1 else high, lazy, pairs, doc)


@dataclass(frozen=True, slots=True)
class Library:
    """A function library: ``math.js`` or ``formula.js``.

    ``functions`` and ``constants`` are keyed by canonical name. With ``ignore_case`` a name
    is looked up in upper case (functions) and keywords such as ``TRUE`` are recognised in
    any case. ``concat_operator`` enables the ``&`` text operator.
    """

    name: str
    functions: Mapping[str, Function]
    constants: Mapping[str, Any] = field(default_factory=dict)
    ignore_case: bool = False
    concat_operator: bool = False

    def keyword(self, name: str) -> str:
        """The spelling keywords are compared in."""
        return name.lower() if self.ignore_case else name

    def function(self, name: str) -> Function | None:
        """The function called ``name``, or None."""
        return self.functions.get(name.upper() if self.ignore_case else name)

    def constant(self, name: str) -> tuple[bool, Any]:
        """``(True, value)`` for a constant, else ``(False, None)``."""
        key = name.upper() if self.ignore_case else name
        if key in self.constants:
            return True, self.constants[key]
        return False, None


def flatten(args: Iterable[Any]) -> list[Any]:
    """The arguments with lists expanded (nested lists too), at most :data:`MAX_LIST` items."""
    out: list[Any] = []
    stack: list[Any] = list(args)[::-1]
    while stack:
        item = stack.pop()
        if isinstance(item, list | tuple):
            check_length(len(out) + len(stack) + len(item), "list")
            stack.extend(reversed(item))
        else:
            out.append(item)
            if len(out) > MAX_LIST:
                check_length(len(out), "list")
    return out


def numbers(args: Iterable[Any]) -> list[Number]:
    """Every number among the (flattened) arguments; nulls are skipped, booleans count 1/0,
    numeric text is parsed, other text and objects are refused."""
    out: list[Number] = []
    for item in flatten(args):
        if item is None:
            continue
        if isinstance(item, dict):
            raise ArgumentError(f"cannot use {describe(item)} as a number")
        try:
            out.append(to_number(item))
        except ExpressionError as exc:
            raise ArgumentError(str(exc)) from None
    return out


def number(value: Any) -> Number:
    """One numeric argument."""
    try:
        return to_number(value)
    except ExpressionError as exc:
        raise ArgumentError(str(exc)) from None


def integer(value: Any, what: str = "argument") -> int:
    """An integral argument (``2.0`` is accepted; ``2.5`` is not)."""
    x = number(value)
    if isinstance(x, float):
        if not x.is_integer():
            raise ArgumentError(f"{what} must be an integer, got {describe(value)}")
        return int(x)
    return x


def non_negative(value: Any, what: str = "argument") -> int:
    """A non-negative integral argument."""
    n = integer(value, what)
    if n < 0:
        raise ArgumentError(f"{what} must not be negative, got {n}")
    return n


def operator(op: Callable[..., Any]) -> Callable[..., Any]:
    """An operator used as a function (``add``, ``MOD`` ...): its errors name the function."""

    def call(*args: Any) -> Any:
        try:
            return op(*args)
        except ArgumentError:
            raise
        except ExpressionError as exc:
            raise ArgumentError(str(exc)) from None

    return call
