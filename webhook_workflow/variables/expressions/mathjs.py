"""The ``math.js`` library: lowercase math functions and constants, named as math.js names them.

Names are case-sensitive (``round``, not ``ROUND``). Matrices, units, complex numbers and
bignumbers are not part of it: a square root of a negative number is an error, not a complex
number, and list arguments are values to aggregate, not matrices.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP
from typing import Any, Final

from .calculators import CALCULATORS
from .functions import (
    ArgumentError,
    Function,
    Library,
    fn,
    integer,
    non_negative,
    number,
    operator,
)
from .numeric import (
    absolute,
    ceil,
    exp,
    floor,
    logarithm,
    maximum,
    mean,
    median,
    minimum,
    product,
    real,
    rounding,
    sign,
    sqrt,
    total,
    trunc,
    variance,
)
from .values import (
    add,
    check_length,
    divide,
    modulo,
    multiply,
    power,
    subtract,
    text_of,
    to_number,
    truthy,
)

__all__ = ["MATHJS"]


def _log_of(base: float) -> Any:
    def log(x: Any) -> float:
        return logarithm(x, base)

    return log


def _cbrt(x: Any) -> float:
    value = real(x)
    root = math.cbrt(value)
    nearest = round(root)
    return float(nearest) if nearest**3 == value else root


def _concat(*args: Any) -> Any:
    """Lists are joined into one list; otherwise the texts are joined."""
    if all(isinstance(a, list) for a in args):
        check_length(sum(len(a) for a in args), "list")
        return [item for a in args for item in a]
    pieces = [text_of(a) for a in args]
    check_length(sum(len(p) for p in pieces))
    return "".join(pieces)


def _count(x: Any) -> int:
    if isinstance(x, str | list):
        return len(x)
    raise ArgumentError("needs a string or a list")


def _factorial(n: Any) -> int:
    value = non_negative(n)
    if value > 170:  # math.js gives Infinity from 171 on
        raise ArgumentError("result is not a finite number")
    return math.factorial(value)


def _gcd(*args: Any) -> int:
    return math.gcd(*(integer(a) for a in args))


def _lcm(*args: Any) -> int:
    result = 1
    for a in args:
        result = math.lcm(result, integer(a))
        if result.bit_length() > 4096:
            raise ArgumentError("result larger than 4096 bits")
    return result


def _float_fn(f: Any) -> Any:
    def call(*args: Any) -> float:
        return float(f(*(real(a) for a in args)))

    return call


def _is_integer(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and float(x).is_integer()


def _compare(name: str) -> Any:
    test = CALCULATORS[name]
    return lambda a, b: test(a, b)


_FUNCTIONS: Final[tuple[Function, ...]] = (
    fn("abs", absolute, 1, doc="absolute value"),
    fn("acos", _float_fn(math.acos), 1, doc="arc cosine (radians)"),
    fn("add", operator(add), 2, doc="`a + b`"),
    fn("and", lambda a, b: truthy(a) and truthy(b), 2, doc="both true"),
    fn("asin", _float_fn(math.asin), 1, doc="arc sine (radians)"),
    fn("atan", _float_fn(math.atan), 1, doc="arc tangent (radians)"),
    fn("atan2", _float_fn(math.atan2), 2, doc="arc tangent of y/x (radians)"),
    fn("cbrt", _cbrt, 1, doc="cube root"),
    fn("ceil", ceil, 1, doc="round up to an integer"),
    fn("concat", _concat, 1, None, doc="join texts, or lists into one list"),
    fn("cos", _float_fn(math.cos), 1, doc="cosine"),
    fn("count", _count, 1, doc="length of a string or list"),
    fn("cube", operator(lambda x: multiply(multiply(x, x), x)), 1, doc="`x ^ 3`"),
    fn("divide", operator(divide), 2, doc="`a / b`"),
    fn("equal", _compare("equal"), 2, doc="`a == b`"),
    fn("exp", exp, 1, doc="`e ^ x`"),
    fn("factorial", _factorial, 1, doc="`n!` for n = 0..170"),
    fn("fix", trunc, 1, doc="round toward zero"),
    fn("floor", floor, 1, doc="round down to an integer"),
    fn("gcd", _gcd, 1, None, doc="greatest common divisor of integers"),
    fn("hypot", _float_fn(math.hypot), 1, None, doc="square root of the sum of squares"),
    fn("isInteger", _is_integer, 1, doc="a number without fraction"),
    fn("isNegative", lambda x: number(x) < 0, 1, doc="`x < 0`"),
    fn("isNumeric", lambda x: isinstance(x, int | float), 1, doc="a number or a boolean"),
    fn("isPositive", lambda x: number(x) > 0, 1, doc="`x > 0`"),
    fn("isZero", lambda x: number(x) == 0, 1, doc="`x == 0`"),
    fn("larger", _compare("gt"), 2, doc="`a > b`"),
    fn("largerEq", _compare("gte"), 2, doc="`a >= b`"),
    fn("lcm", _lcm, 1, None, doc="least common multiple of integers"),
    fn("log", logarithm, 1, 2, doc="natural logarithm, or to a base: `log(x, base)`"),
    fn("log10", _log_of(10), 1, doc="base-10 logarithm"),
    fn("log2", _log_of(2), 1, doc="base-2 logarithm"),
    fn("max", maximum, 1, None, doc="largest number (lists are flattened)"),
    fn("mean", mean, 1, None, doc="average"),
    fn("median", median, 1, None, doc="middle value"),
    fn("min", minimum, 1, None, doc="smallest number"),
    fn("mod", operator(modulo), 2, doc="floored modulo: the sign of the divisor"),
    fn("multiply", operator(multiply), 2, doc="`a * b`"),
    fn("number", lambda x: to_number(x), 1, doc="convert text, booleans and null to a number"),
    fn("or", lambda a, b: truthy(a) or truthy(b), 2, doc="either true"),
    fn("pow", operator(power), 2, doc="`x ^ y`"),
    fn("prod", product, 1, None, doc="product of the numbers"),
    fn("round", rounding(ROUND_HALF_UP, 0, (0, 15)), 1, 2,
       doc="round half away from zero, to 0..15 decimals"),
    fn("sign", sign, 1, doc="-1, 0 or 1"),
    fn("sin", _float_fn(math.sin), 1, doc="sine"),
    fn("smaller", _compare("lt"), 2, doc="`a < b`"),
    fn("smallerEq", _compare("lte"), 2, doc="`a <= b`"),
    fn("sqrt", sqrt, 1, doc="square root (of a number >= 0)"),
    fn("square", operator(lambda x: multiply(x, x)), 1, doc="`x ^ 2`"),
    fn("std", lambda *a: math.sqrt(variance(*a)), 1, None, doc="sample standard deviation"),
    fn("string", text_of, 1, doc="the text of a value (null is \"\")"),
    fn("subtract", operator(subtract), 2, doc="`a - b`"),
    fn("sum", total, 1, None, doc="sum of the numbers (lists are flattened)"),
    fn("tan", _float_fn(math.tan), 1, doc="tangent"),
    fn("trunc", trunc, 1, doc="round toward zero (as `fix`)"),
    fn("unequal", _compare("notEqual"), 2, doc="`a != b`"),
    fn("variance", variance, 1, None, doc="sample variance"),
    fn("xor", lambda a, b: truthy(a) != truthy(b), 2, doc="exactly one true"),
)

_CONSTANTS: Final[dict[str, float]] = {
    "pi": math.pi, "PI": math.pi, "e": math.e, "E": math.e, "tau": math.tau,
    "phi": (1 + math.sqrt(5)) / 2, "LN2": math.log(2), "LN10": math.log(10),
    "LOG2E": 1 / math.log(2), "LOG10E": 1 / math.log(10), "SQRT2": math.sqrt(2),
    "SQRT1_2": math.sqrt(0.5),
}

#: The math.js library.
MATHJS: Final = Library("math.js", {f.name: f for f in _FUNCTIONS}, _CONSTANTS)
