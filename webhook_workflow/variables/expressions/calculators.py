"""The ``basic`` condition engine: NocoBase's calculators and and/or groups.

Comparisons follow JavaScript's loose rules where users rely on them (``"1" == 1`` is true,
numbers compare numerically with numeric strings) and compare a datetime, with anything but a
boolean or null, by its epoch milliseconds, as NocoBase's ``logicCalculate`` does with Dates.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from ...errors import DefinitionError
from ...fields import join, type_name
from ..dates import to_ms
from ..templates import Template, template, to_text

__all__ = ["CALCULATORS", "Calculation", "compile_calculation"]


# Linear on any text: "\d+\.?\d*" would try every split of a long digit run before failing.
_JS_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def _number(value: Any) -> float | None:
    """JavaScript ``Number(value)`` for the values a webhook carries; None when NaN."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return None if isinstance(value, float) and math.isnan(value) else float(value)
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return 0.0
        # JavaScript's numeric literals only: Python's float() also takes "1_000", "inf", "nan".
        if _JS_NUMBER.fullmatch(text):
            return float(text)
        if text in ("Infinity", "+Infinity", "-Infinity"):
            return float(text.replace("Infinity", "inf"))
        return None
    if value is None:
        return 0.0
    return None


def _instant(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return None


#: JavaScript's TimeClip: a Date holds at most 8.64e15 ms either side of the epoch.
_MAX_TIME = 8.64e15


def _time(value: Any) -> int | None:
    """``new Date(value).getTime()`` for the other operand of a Date; None when NaN.

    A datetime is its epoch milliseconds (whole, as JavaScript keeps them), a number is
    taken as epoch milliseconds (truncated), text is read as ISO 8601.
    """
    moment = _instant(value)
    if moment is None and isinstance(value, str):
        moment = _parse_iso(value)
    if moment is not None:
        return to_ms(moment)
    if isinstance(value, int | float) and not isinstance(value, bool):
        # NaN and infinities fail the bound too; a huge int compares exactly, as no float.
        return math.trunc(value) if abs(value) <= _MAX_TIME else None
    return None


def _comparable(a: Any, b: Any) -> tuple[Any, Any] | None:
    """Bring two operands to a common comparable form, or None when they do not compare."""
    if _instant(a) is not None or _instant(b) is not None:
        # NocoBase's logicCalculate: with a Date on either side, a boolean or null never
        # compares; anything else becomes ``new Date(x).getTime()``, so a datetime equals
        # its epoch milliseconds and is greater than 0.
        if isinstance(a, bool) or isinstance(b, bool):
            return None
        ta, tb = _time(a), _time(b)
        return (ta, tb) if ta is not None and tb is not None else None
    if isinstance(a, str) and isinstance(b, str):
        return a, b
    if a is None or b is None or isinstance(a, list | dict) or isinstance(b, list | dict):
        # JavaScript coerces null to 0 here; a missing webhook field comparing as 0 surprises
        # more than it helps, so null never orders against anything.
        return None
    na, nb = _number(a), _number(b)
    return (na, nb) if na is not None and nb is not None else None


def _parse_iso(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def equal(a: Any, b: Any) -> bool:
    """Loose equality (JavaScript ``==`` for JSON values; a datetime by its epoch ms)."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, list | dict) or isinstance(b, list | dict):
        return bool(a == b)
    pair = _comparable(a, b)
    return pair is not None and pair[0] == pair[1]


def _order(test: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        pair = _comparable(a, b)
        return pair is not None and test(pair[0], pair[1])

    return compare


def _same(x: Any, y: Any) -> bool:
    """JavaScript SameValueZero for JSON values (what ``Array.prototype.includes`` uses)."""
    if isinstance(x, bool) or isinstance(y, bool):
        return type(x) is type(y) and x == y
    if isinstance(x, int | float) and isinstance(y, int | float):
        return x == y
    return type(x) is type(y) and bool(x == y)


def includes(a: Any, b: Any) -> bool:
    """``a.includes(b)`` for a string or an array."""
    if isinstance(a, str):
        return to_text(b) in a
    if isinstance(a, list):
        return any(_same(item, b) for item in a)
    raise ValueError(f"includes needs a string or an array on the left, got {type_name(a)}")


CALCULATORS: dict[str, Callable[[Any, Any], bool]] = {
    "equal": equal,
    "notEqual": lambda a, b: not equal(a, b),
    "gt": _order(lambda a, b: a > b),
    "gte": _order(lambda a, b: a >= b),
    "lt": _order(lambda a, b: a < b),
    "lte": _order(lambda a, b: a <= b),
    "includes": includes,
    "notIncludes": lambda a, b: not includes(a, b),
    "startsWith": lambda a, b: to_text(a).startswith(to_text(b)),
    "notStartsWith": lambda a, b: not to_text(a).startswith(to_text(b)),
    "endsWith": lambda a, b: to_text(a).endswith(to_text(b)),
    "notEndsWith": lambda a, b: not to_text(a).endswith(to_text(b)),
}
_SYMBOLS = {"==": "equal", "!=": "notEqual", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}
for _symbol, _name in _SYMBOLS.items():
    CALCULATORS[_symbol] = CALCULATORS[_name]

# A group nested deeper than this is refused at registration: it is certainly a mistake and
# evaluating it must never exhaust the stack.
MAX_GROUP_DEPTH = 32


Test = Callable[[Mapping[str, Any]], bool]


def _always(scope: Mapping[str, Any]) -> bool:
    return True


def _operand(compiled: Template) -> Callable[[Mapping[str, Any]], Any]:
    if compiled.is_static:
        value = compiled.source
        return lambda scope: value
    return compiled.render


def item_test(calculator: Callable[[Any, Any], bool], left: Template, right: Template) -> Test:
    """One calculator over two compiled operands, as a function of the scope."""
    a, b = _operand(left), _operand(right)

    def test(scope: Mapping[str, Any]) -> bool:
        return bool(calculator(a(scope), b(scope)))

    return test


class Calculation:
    """A compiled ``{"group": ...}`` tree; :meth:`evaluate` renders operands and decides.

    The tree is flattened into nested closures once, so evaluating walks no data structure.
    """

    __slots__ = ("evaluate", "kind")

    def __init__(self, kind: str, tests: list[Test]) -> None:
        self.kind = kind
        if not tests:
            # NocoBase: an empty "and" holds, an empty "or" does not.
            self.evaluate: Test = _always if kind == "and" else (lambda scope: False)
        elif len(tests) == 1:
            self.evaluate = tests[0]
        elif kind == "and":
            self.evaluate = lambda scope: all(test(scope) for test in tests)
        else:
            self.evaluate = lambda scope: any(test(scope) for test in tests)


def compile_calculation(value: Any, path: str, depth: int = 0,
                        roots: frozenset[str] | None = None) -> Calculation:
    """Validate and compile a basic calculation ``{"group": {"type", "calculations"}}``, or a
    single ``{"calculator", "operands"}`` item (``{}`` holds), as NocoBase's ``logicCalculate``
    takes both; ``roots`` limits the variables its operands may use (trigger filters)."""
    if depth > MAX_GROUP_DEPTH:
        raise DefinitionError(path, f"groups nest deeper than {MAX_GROUP_DEPTH}")
    if isinstance(value, dict) and "group" not in value:
        return Calculation("and", [_compile_item(value, path, roots)])
    if not isinstance(value, dict) or set(value) != {"group"}:
        raise DefinitionError(path, 'must be an object {"group": {"type", "calculations"}} or '
                              'one {"calculator", "operands"} item')
    group, gpath = value["group"], join(path, "group")
    if not isinstance(group, dict):
        raise DefinitionError(gpath, f"must be an object, got {type_name(group)}")
    for name in group:
        if name not in ("type", "calculations"):
            raise DefinitionError(join(gpath, name), "unknown field (allowed: calculations, type)")
    kind = group.get("type", "and")
    if kind not in ("and", "or"):
        raise DefinitionError(join(gpath, "type"), "must be one of 'and', 'or'")
    calculations = group.get("calculations", [])
    cpath = join(gpath, "calculations")
    if not isinstance(calculations, list):
        raise DefinitionError(cpath, f"must be an array, got {type_name(calculations)}")
    tests: list[Test] = []
    for i, item in enumerate(calculations):
        ipath = join(cpath, i)
        if isinstance(item, dict) and "group" in item:
            tests.append(compile_calculation(item, ipath, depth + 1, roots).evaluate)
        else:
            tests.append(_compile_item(item, ipath, roots))
    return Calculation(kind, tests)


def _compile_item(item: Any, path: str, roots: frozenset[str] | None = None) -> Test:
    if not isinstance(item, dict):
        raise DefinitionError(path, f"must be an object, got {type_name(item)}")
    for name in item:
        if name not in ("calculator", "operands"):
            raise DefinitionError(join(path, name), "unknown field (allowed: calculator, operands)")
    name, operands = item.get("calculator"), item.get("operands")
    if not name and not operands:
        return _always  # NocoBase: an empty item holds
    if name not in CALCULATORS:
        known = ", ".join(sorted(n for n in CALCULATORS if n.isalpha()))
        raise DefinitionError(join(path, "calculator"), f"unknown calculator {name!r} "
                              f"(known: {known} and the symbols == != > >= < <=)")
    if not isinstance(operands, list) or len(operands) != 2:
        raise DefinitionError(join(path, "operands"), "must be an array of two values")
    where = join(path, "operands")
    return item_test(CALCULATORS[name], template(operands[0], join(where, 0), roots),
                     template(operands[1], join(where, 1), roots))
