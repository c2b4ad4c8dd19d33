"""Values of the expression language: cost bounds, JavaScript-like conversions, the operators.

Values are what a webhook carries: None, bool, int, float, str, list, dict (and datetimes from
``$system.now``). Numbers keep Python's two types: integer arithmetic stays exact and yields an
``int`` (``6 / 3`` is ``2``), anything involving a float yields a float. Every operator checks
its result against the bounds below before it is used further, so no expression can build a
huge integer or string, and floats never become NaN or infinite unnoticed.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any, Final

from ...errors import ExpressionError
from ...fields import type_name
from ..templates import to_text

__all__ = [
    "DECIMALS",
    "MAX_DEPTH",
    "MAX_INT_BITS",
    "MAX_LIST",
    "MAX_SOURCE",
    "MAX_STEPS",
    "MAX_TEXT",
    "add",
    "check_value",
    "concat",
    "describe",
    "divide",
    "finish",
    "modulo",
    "multiply",
    "negate",
    "power",
    "round_to",
    "subtract",
    "text_of",
    "to_decimal",
    "to_number",
    "truthy",
]

#: Longest expression source, in characters.
MAX_SOURCE: Final = 10_000
#: Deepest nesting of an expression (parentheses, operators, calls).
MAX_DEPTH: Final = 64
#: Evaluation budget: one unit per tree node visited, plus the size of lists and strings
#: that functions and operators walk or build (see ``evaluate``).
MAX_STEPS: Final = 100_000
#: Largest integer a computation may produce, in bits.
MAX_INT_BITS: Final = 4096
#: Longest string a computation may produce, in characters.
MAX_TEXT: Final = 1_000_000
#: Longest list a function may produce or walk, in items.
MAX_LIST: Final = 100_000

Number = int | float

# JavaScript's Number() grammar for decimal text (no "inf", "nan" or "1_000" as Python has).
# Linear on any text: the fraction is one optional group, so a failing match never re-splits
# a long digit run.
_DECIMAL: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_INTEGER: Final = re.compile(r"[+-]?[0-9]+\Z")
#: Decimal arithmetic for rounding: enough digits for a 4096-bit integer and any float.
DECIMALS: Final = Context(prec=2000)


def describe(value: Any) -> str:
    """A short description of a value for error messages: strings quoted, else the type."""
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    if isinstance(value, bool) or value is None:
        return to_text(value) or "null"
    if isinstance(value, int | float):
        return to_text(value) if abs(value) < 1e21 else "a large number"
    return type_name(value)


def truthy(value: Any) -> bool:
    """JavaScript truthiness: null, false, 0, NaN and "" are false; everything else (empty
    lists and objects included) is true."""
    if value is None or value is False:
        return False
    if isinstance(value, int | float):
        return value == value and value != 0
    if isinstance(value, str):
        return value != ""
    return bool(value) if not isinstance(value, list | tuple | dict) else True


def parse_number(text: str) -> Number | None:
    """JavaScript ``Number(text)`` for decimal text; None when it is not a number."""
    text = text.strip()
    if text == "":
        return 0
    if _INTEGER.match(text):
        if len(text) > 1300:  # more digits than MAX_INT_BITS allow
            raise ExpressionError(f"number {describe(text)} is too large")
        return int(text)
    if _DECIMAL.match(text):
        return check_float(float(text))
    return None


def to_number(value: Any, what: str = "") -> Number:
    """Convert as JavaScript arithmetic does: booleans are 1/0, null is 0, numeric text is
    parsed; anything else is an error (JavaScript would give NaN)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    if value is None:
        return 0
    if isinstance(value, str):
        number = parse_number(value)
        if number is not None:
            return number
    prefix = f"{what}: " if what else ""
    raise ExpressionError(f"{prefix}cannot use {describe(value)} as a number")


def check_int(value: int) -> int:
    """``value`` if it fits :data:`MAX_INT_BITS`."""
    if value.bit_length() > MAX_INT_BITS:
        raise ExpressionError(f"integer result larger than {MAX_INT_BITS} bits")
    return value


def check_float(value: float) -> float:
    """``value`` if it is finite."""
    if not math.isfinite(value):
        raise ExpressionError("result is not a finite number")
    return value


def check_number(value: Number) -> Number:
    """An int within bounds or a finite float."""
    return check_int(value) if isinstance(value, int) else check_float(value)


def check_length(length: int, what: str = "string") -> None:
    """Refuse a string or list that would be longer than its bound, before building it."""
    bound = MAX_TEXT if what == "string" else MAX_LIST
    if length > bound:
        plural = "characters" if what == "string" else "items"
        raise ExpressionError(f"{what} result longer than {bound} {plural}")


def check_value(value: Any) -> Any:
    """Any value a function returned, checked against the bounds."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return check_number(value)
    if isinstance(value, str):
        check_length(len(value))
    elif isinstance(value, list):
        check_length(len(value), "list")
    return value


def text_of(value: Any) -> str:
    """The text of a value, as templates splice it (null is "", lists/objects are JSON)."""
    text = to_text(value)
    check_length(len(text))
    return text


def finish(value: Any) -> Any:
    """The result of a whole expression: floats rounded to 9 decimals (as NocoBase does)."""
    if isinstance(value, float):
        rounded = round(check_float(value), 9)
        return rounded if rounded != 0 else 0.0  # no "-0.0"
    return value


# --- operators ---------------------------------------------------------------------------------


def _operands(a: Any, b: Any, op: str) -> tuple[Number, Number]:
    return to_number(a, f"operator {op!r}"), to_number(b, f"operator {op!r}")


def concat(a: Any, b: Any) -> str:
    """Text concatenation (``+`` with a string operand, formula.js ``&``)."""
    left, right = to_text(a), to_text(b)
    check_length(len(left) + len(right))
    return left + right


def add(a: Any, b: Any) -> Any:
    """``a + b``: concatenation when either side is a string, else numeric addition."""
    if isinstance(a, str) or isinstance(b, str):
        return concat(a, b)
    x, y = _operands(a, b, "+")
    return check_number(x + y)


def subtract(a: Any, b: Any) -> Number:
    """``a - b``."""
    x, y = _operands(a, b, "-")
    return check_number(x - y)


def multiply(a: Any, b: Any) -> Number:
    """``a * b``."""
    x, y = _operands(a, b, "*")
    if isinstance(x, int) and isinstance(y, int) and (
            x.bit_length() + y.bit_length() > MAX_INT_BITS + 1):
        raise ExpressionError(f"integer result larger than {MAX_INT_BITS} bits")
    return check_number(x * y)


def divide(a: Any, b: Any) -> Number:
    """``a / b``: exact integer division stays an int (``6 / 3`` is ``2``)."""
    x, y = _operands(a, b, "/")
    if y == 0:
        raise ExpressionError("division by zero")
    if isinstance(x, int) and isinstance(y, int) and x % y == 0:
        return x // y
    return check_float(x / y)


def modulo(a: Any, b: Any) -> Number:
    """``a % b``, floored like math.js ``mod`` and Excel ``MOD`` (the sign of ``b``)."""
    x, y = _operands(a, b, "%")
    if y == 0:
        raise ExpressionError("modulo by zero")
    return check_number(x % y)


def power(a: Any, b: Any) -> Number:
    """``a ^ b``; an integer power too large for :data:`MAX_INT_BITS` is refused before it is
    computed (from the bit length of the base)."""
    x, y = _operands(a, b, "^")
    if isinstance(x, int) and isinstance(y, int) and y >= 0:
        if -1 <= x <= 1:
            return int(x ** (y % 2 if x == -1 else min(y, 1)))
        if (x.bit_length() - 1) * y > MAX_INT_BITS:
            raise ExpressionError(f"integer result larger than {MAX_INT_BITS} bits")
        return check_int(x**y)
    if x == 0 and y < 0:
        raise ExpressionError("division by zero")
    if x < 0 and not float(y).is_integer():
        raise ExpressionError("result is not a real number")
    try:
        return check_float(math.pow(x, y))
    except OverflowError:
        raise ExpressionError("result is not a finite number") from None


def negate(a: Any) -> Number:
    """Unary ``-a``."""
    return check_number(-to_number(a, "operator '-'"))


def to_decimal(x: Number) -> Decimal:
    """A number as a decimal: an int exactly, a float as its shortest text (``0.1`` is
    ``Decimal("0.1")``), which is what people mean when they round or take multiples."""
    return Decimal(x) if isinstance(x, int) else Decimal(repr(x))


def round_to(x: Number, digits: int, mode: str = ROUND_HALF_UP) -> Number:
    """Round to ``digits`` decimals (negative: tens, hundreds ...), half away from zero by
    default; the decimal text of a float is rounded, so ``round(1.005, 2)`` is ``1.01`` as
    in math.js and Excel. With ``digits <= 0`` the result is an int."""
    if isinstance(x, int):
        check_int(x)
        if digits >= 0:
            return x
    if digits < -1300:
        return 0
    digits = min(digits, 400)
    rounded = to_decimal(x).quantize(Decimal(1).scaleb(-digits, DECIMALS), rounding=mode,
                             context=DECIMALS)
    if digits <= 0:
        return check_int(int(rounded))
    return check_float(float(rounded))
