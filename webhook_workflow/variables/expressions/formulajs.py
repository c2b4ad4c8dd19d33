"""The ``formula.js`` library: spreadsheet functions (``SUM``, ``IF``, ``CONCATENATE`` ...).

Names are case-insensitive, as in a spreadsheet (``SUM``, ``sum`` and ``Sum`` are one
function; ``TRUE``/``true`` likewise). ``&`` joins texts. ``IF``, ``IFS`` and ``SWITCH``
evaluate only the branch they pick. Where a spreadsheet shows an error value (``#VALUE!``,
``#DIV/0!``) the expression fails with a message instead, except ``FIND``/``SEARCH``, which
give null when the text is not found, so that ``ISNUMBER(SEARCH(...))`` works.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_UP, ROUND_UP
from typing import Any, Final

from .calculators import equal
from .functions import (
    ArgumentError,
    Function,
    Library,
    flatten,
    fn,
    integer,
    non_negative,
    number,
    numbers,
    operator,
)
from .numeric import (
    absolute,
    exp,
    floor,
    logarithm,
    mean,
    median,
    product,
    rounding,
    sign,
    sqrt,
    total,
)
from .values import (
    DECIMALS,
    Number,
    check_float,
    check_int,
    check_length,
    modulo,
    parse_number,
    power,
    text_of,
    to_decimal,
    truthy,
)

__all__ = ["FORMULAJS"]

Thunk = Callable[[], Any]


# --- logic (lazy where a spreadsheet is) --------------------------------------------------------
def _if(test: Thunk, then: Thunk, other: Thunk | None = None) -> Any:
    if truthy(test()):
        return then()
    return other() if other is not None else False


def _ifs(*args: Thunk) -> Any:
    for i in range(0, len(args), 2):
        if truthy(args[i]()):
            return args[i + 1]()
    raise ArgumentError("no condition is true")


def _switch(subject: Thunk, *cases: Thunk) -> Any:
    value = subject()
    for i in range(0, len(cases) - 1, 2):
        if equal(value, cases[i]()):
            return cases[i + 1]()
    if len(cases) % 2:
        return cases[-1]()
    raise ArgumentError("no case matches and there is no default")


def _truths(args: tuple[Any, ...]) -> list[bool]:
    return [truthy(a) for a in flatten(args)]


# --- numbers ---------------------------------------------------------------------------------
def _extreme(pick: Callable[[list[Number]], Number]) -> Callable[..., Number]:
    def extreme(*args: Any) -> Number:
        values = numbers(args)
        return pick(values) if values else 0  # a spreadsheet's MIN/MAX of nothing is 0

    return extreme


def _product(*args: Any) -> Number:
    values = numbers(args)
    return product(values) if values else 0  # a spreadsheet's PRODUCT of nothing is 0


def _multiple(mode: str) -> Callable[..., Number]:
    """CEILING / FLOOR: the nearest multiple of ``significance`` up or down."""

    def to_multiple(x: Any, significance: Any = 1) -> Number:
        value, step = number(x), number(significance)
        if step == 0:
            if mode == ROUND_CEILING:
                return 0
            raise ArgumentError("division by zero")
        if value > 0 and step < 0:
            raise ArgumentError("the significance must have the sign of the number")
        step_d = to_decimal(step)
        times = (to_decimal(value) / step_d).to_integral_value(rounding=mode, context=DECIMALS)
        result = times * step_d
        if isinstance(step, int):  # a multiple of an integer is an integer
            return check_int(int(result))
        return check_float(float(result))

    return to_multiple


def _parity(x: Any) -> int:
    value = number(x)
    return int(value) % 2 if isinstance(value, int) else math.trunc(value) % 2


def _value(x: Any) -> Number:
    if isinstance(x, int | float) and not isinstance(x, bool):
        return x
    if isinstance(x, str) and x.strip():
        parsed = parse_number(x)
        if parsed is not None:
            return parsed
    raise ArgumentError(f"{text_of(x)!r} is not a number"[:80])


# --- text ------------------------------------------------------------------------------------
def _join(pieces: list[str], separator: str = "") -> str:
    check_length(sum(len(p) for p in pieces) + len(separator) * max(len(pieces) - 1, 0))
    return separator.join(pieces)


def _substitute(text: Any, old: Any, new: Any, instance: Any = None) -> str:
    source, find, repl = text_of(text), text_of(old), text_of(new)
    if not find:
        return source
    if instance is None:
        check_length(len(source) + source.count(find) * (len(repl) - len(find)))
        return source.replace(find, repl)
    nth = integer(instance, "the instance")
    if nth < 1:
        raise ArgumentError("the instance must be >= 1")
    at = -1
    for _ in range(min(nth, len(source) + 1)):
        at = source.find(find, at + 1)
        if at < 0:
            return source
    check_length(len(source) + len(repl) - len(find))
    return source[:at] + repl + source[at + len(find):]


def _start(value: Any) -> int:
    start = integer(value, "the start")
    if start < 1:
        raise ArgumentError("the start must be >= 1")
    return start


def _replace(text: Any, start: Any, count: Any, new: Any) -> str:
    source, at = text_of(text), _start(start) - 1
    return _join([source[:at], text_of(new), source[at + non_negative(count, "the count"):]])


def _find(case: bool) -> Callable[..., int | None]:
    def find(needle: Any, haystack: Any, start: Any = 1) -> int | None:
        what, where = text_of(needle), text_of(haystack)
        if not case:
            what, where = what.lower(), where.lower()
        at = where.find(what, _start(start) - 1)
        return None if at < 0 else at + 1

    return find


def _rept(text: Any, times: Any) -> str:
    source, count = text_of(text), non_negative(times, "the count")
    check_length(len(source) * count)
    return source * count


def _textjoin(separator: Any, ignore_empty: Any, *args: Any) -> str:
    skip = truthy(ignore_empty)
    items = [text_of(a) for a in flatten(args) if not (skip and (a is None or a == ""))]
    return _join(items, text_of(separator))


def _mid(text: Any, start: Any, count: Any) -> str:
    at = _start(start) - 1
    return text_of(text)[at:at + non_negative(count, "the count")]


def _left(text: Any, count: Any = 1) -> str:
    return text_of(text)[:non_negative(count, "the count")]


def _right(text: Any, count: Any = 1) -> str:
    source, n = text_of(text), non_negative(count, "the count")
    return source[len(source) - n:] if n else ""


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


_FUNCTIONS: Final[tuple[Function, ...]] = (
    fn("ABS", absolute, 1, doc="absolute value"),
    fn("AND", lambda *a: all(_truths(a)), 1, None, doc="all arguments true"),
    fn("AVERAGE", mean, 1, None, doc="average of the numbers"),
    fn("CEILING", _multiple(ROUND_CEILING), 1, 2, doc="up to a multiple (default 1)"),
    fn("CONCAT", lambda *a: _join([text_of(x) for x in flatten(a)]), 1, None,
       doc="join texts; lists are flattened"),
    fn("CONCATENATE", lambda *a: _join([text_of(x) for x in a]), 1, None, doc="join texts"),
    fn("COUNT", lambda *a: sum(1 for x in flatten(a) if _is_number(x)), 1, None,
       doc="how many numbers"),
    fn("COUNTA", lambda *a: sum(1 for x in flatten(a) if x is not None), 1, None,
       doc="how many values that are not null"),
    fn("EXACT", lambda a, b: text_of(a) == text_of(b), 2, doc="same text (case-sensitive)"),
    fn("EXP", exp, 1, doc="`e ^ x`"),
    fn("FIND", _find(True), 2, 3, doc="1-based position of a text (case-sensitive), or null"),
    fn("FLOOR", _multiple(ROUND_FLOOR), 1, 2, doc="down to a multiple (default 1)"),
    fn("IF", _if, 2, 3, lazy=True, doc="`IF(test, then, else = false)`"),
    fn("IFS", _ifs, 2, None, lazy=True, pairs=True, doc="first true test's value"),
    fn("INT", floor, 1, doc="round down to an integer"),
    fn("ISBLANK", lambda x: x is None, 1, doc="null (missing)"),
    fn("ISEVEN", lambda x: _parity(x) == 0, 1, doc="an even number"),
    fn("ISLOGICAL", lambda x: isinstance(x, bool), 1, doc="a boolean"),
    fn("ISNUMBER", _is_number, 1, doc="a number"),
    fn("ISODD", lambda x: _parity(x) == 1, 1, doc="an odd number"),
    fn("ISTEXT", lambda x: isinstance(x, str), 1, doc="a string"),
    fn("LEFT", _left, 1, 2, doc="first n characters (default 1)"),
    fn("LEN", lambda x: len(text_of(x)), 1, doc="number of characters"),
    fn("LN", logarithm, 1, doc="natural logarithm"),
    fn("LOG", lambda x, base=10: logarithm(x, base), 1, 2, doc="logarithm (base 10 default)"),
    fn("LOG10", lambda x: logarithm(x, 10), 1, doc="base-10 logarithm"),
    fn("LOWER", lambda x: text_of(x).lower(), 1, doc="lower case"),
    fn("MAX", _extreme(max), 1, None, doc="largest number (0 when none)"),
    fn("MEDIAN", median, 1, None, doc="middle value"),
    fn("MID", _mid, 3, doc="`MID(text, start, count)`, start is 1-based"),
    fn("MIN", _extreme(min), 1, None, doc="smallest number (0 when none)"),
    fn("MOD", operator(modulo), 2, doc="remainder with the sign of the divisor"),
    fn("OR", lambda *a: any(_truths(a)), 1, None, doc="any argument true"),
    fn("PI", lambda: math.pi, 0, doc="3.14159..."),
    fn("POWER", operator(power), 2, doc="`x ^ y`"),
    fn("PRODUCT", _product, 1, None, doc="product of the numbers"),
    fn("PROPER", lambda x: text_of(x).title(), 1, doc="capitalise each word"),
    fn("REPLACE", _replace, 4, doc="`REPLACE(text, start, count, new)`"),
    fn("REPT", _rept, 2, doc="text repeated n times"),
    fn("RIGHT", _right, 1, 2, doc="last n characters (default 1)"),
    fn("ROUND", rounding(ROUND_HALF_UP), 1, 2, doc="round half away from zero"),
    fn("ROUNDDOWN", rounding(ROUND_DOWN), 1, 2, doc="round toward zero"),
    fn("ROUNDUP", rounding(ROUND_UP), 1, 2, doc="round away from zero"),
    fn("SEARCH", _find(False), 2, 3, doc="as FIND, ignoring case (no wildcards)"),
    fn("SIGN", sign, 1, doc="-1, 0 or 1"),
    fn("SQRT", sqrt, 1, doc="square root"),
    fn("SUBSTITUTE", _substitute, 3, 4, doc="replace text (all, or the n-th occurrence)"),
    fn("SUM", total, 1, None, doc="sum of the numbers"),
    fn("SWITCH", _switch, 3, None, lazy=True,
       doc="`SWITCH(value, case1, result1, ..., default?)`"),
    fn("TEXTJOIN", _textjoin, 3, None, doc="`TEXTJOIN(separator, ignore_empty, texts...)`"),
    fn("TRIM", lambda x: " ".join(p for p in text_of(x).split(" ") if p), 1,
       doc="remove extra spaces"),
    fn("TRUNC", rounding(ROUND_DOWN), 1, 2, doc="cut the fraction (or to n decimals)"),
    fn("UPPER", lambda x: text_of(x).upper(), 1, doc="upper case"),
    fn("VALUE", _value, 1, doc="text to number"),
    fn("XOR", lambda *a: sum(_truths(a)) % 2 == 1, 1, None, doc="an odd number of true"),
)

#: The formula.js library.
FORMULAJS: Final = Library("formula.js", {f.name: f for f in _FUNCTIONS}, {},
                           ignore_case=True, concat_operator=True)
