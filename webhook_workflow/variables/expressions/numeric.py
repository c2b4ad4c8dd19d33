"""Numeric functions both libraries share (under their own names and edge rules).

Aggregates flatten lists and skip nulls (a missing field does not count, as an empty cell in a
spreadsheet); integers stay exact; a result that is not a real, finite number is an error.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .functions import ArgumentError, integer, number, numbers
from .values import Number, add, check_int, check_number, divide, multiply, round_to

__all__ = [
    "absolute",
    "ceil",
    "exp",
    "floor",
    "logarithm",
    "maximum",
    "mean",
    "median",
    "minimum",
    "product",
    "real",
    "rounding",
    "sign",
    "sqrt",
    "total",
    "trunc",
    "variance",
]


def total(*args: Any) -> Number:
    """The sum of the numbers among the arguments (0 when there are none)."""
    result: Number = 0
    for x in numbers(args):
        result = check_number(result + x)
    return result


def product(*args: Any) -> Number:
    """The product of the numbers among the arguments (1 when there are none)."""
    result: Number = 1
    for x in numbers(args):
        result = multiply(result, x)
    return result


def _some(args: tuple[Any, ...]) -> list[Number]:
    values = numbers(args)
    if not values:
        raise ArgumentError("needs at least one number")
    return values


def maximum(*args: Any) -> Number:
    """The largest number; an error when there is none."""
    return max(_some(args))


def minimum(*args: Any) -> Number:
    """The smallest number; an error when there is none."""
    return min(_some(args))


def mean(*args: Any) -> Number:
    """The arithmetic mean; exact for integers (``mean(1, 2, 3)`` is ``2``)."""
    values = _some(args)
    return divide(total(values), len(values))


def median(*args: Any) -> Number:
    """The middle value (the mean of the two middle values for an even count)."""
    values = sorted(_some(args))
    middle = len(values) // 2
    if len(values) % 2:
        return values[middle]
    return divide(add(values[middle - 1], values[middle]), 2)


def variance(*args: Any) -> float:
    """The sample variance (divided by n - 1), as math.js ``variance`` by default."""
    values = [float(x) for x in numbers(args)]
    if len(values) < 2:
        raise ArgumentError("needs at least two numbers")
    centre = math.fsum(values) / len(values)
    return math.fsum((x - centre) ** 2 for x in values) / (len(values) - 1)


def absolute(x: Any) -> Number:
    """``|x|``."""
    return check_number(abs(number(x)))


def sign(x: Any) -> int:
    """-1, 0 or 1."""
    value = number(x)
    return (value > 0) - (value < 0)


def _whole(rounding: Callable[[float], int]) -> Callable[[Any], int]:
    def whole(x: Any) -> int:
        value = number(x)
        return value if isinstance(value, int) else check_int(rounding(value))

    return whole


ceil = _whole(math.ceil)
floor = _whole(math.floor)
trunc = _whole(math.trunc)


def real(x: Any) -> float:
    """A numeric argument as a float."""
    return float(number(x))


def sqrt(x: Any) -> float:
    """The square root; an error for a negative number."""
    value = real(x)
    if value < 0:
        raise ArgumentError("needs a number >= 0")
    return math.sqrt(value)


def exp(x: Any) -> float:
    """``e ^ x``."""
    return math.exp(real(x))


def logarithm(x: Any, base: Any = None) -> float:
    """The logarithm of ``x`` (natural, or to ``base``); ``x`` must be positive."""
    value = number(x)
    if value <= 0:
        raise ArgumentError("needs a number > 0")
    if base is None:
        return math.log(value)
    b = number(base)
    if b <= 0 or b == 1:
        raise ArgumentError("the base must be > 0 and not 1")
    return math.log(value, b)


def rounding(mode: str, default_digits: int = 0,
             limits: tuple[int, int] | None = None) -> Callable[..., Number]:
    """A round function for a decimal rounding mode; digits limited to ``limits``."""

    def round_(x: Any, digits: Any = default_digits) -> Number:
        places = integer(digits, "the number of decimals")
        if limits is not None and not limits[0] <= places <= limits[1]:
            raise ArgumentError(f"the number of decimals must be {limits[0]}..{limits[1]}")
        return round_to(number(x), places, mode)

    return round_
