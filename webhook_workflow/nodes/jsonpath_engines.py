"""JSONPath for the ``json-query`` node: parsed by jsonpath-ng, evaluated here.

jsonpath-ng's own evaluator has behaviours a webhook engine cannot keep: a filter over an
object rewrites that object in the source data, a filter comparing a number with a dict raises,
``[*]`` wraps a scalar into a list, and nothing bounds the work of nested ``..``. So its parser
(``jsonpath_ng.ext``, for filters) only builds the syntax tree; the tree is checked against the
constructs listed in :data:`SUPPORTED`, flattened into steps and evaluated by the small
evaluator below, which never mutates its input and stops after :data:`WORK_LIMIT` steps.
"""

from __future__ import annotations

import functools
import math
import operator
import re
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import jsonpath_ng.jsonpath as _jp  # type: ignore[import-untyped,unused-ignore]
from jsonpath_ng.ext.filter import Expression, Filter  # type: ignore[import-untyped,unused-ignore]
from jsonpath_ng.ext.parser import ExtendedJsonPathParser  # type: ignore[import-untyped,unused-ignore]

# Present from jsonpath-ng 1.9 on.
_WILDCARD: Any = getattr(_jp, "Wildcard", None)

__all__ = ["MAX_EXPRESSION_LENGTH", "SUPPORTED", "WORK_LIMIT", "JsonPath", "QueryError",
           "compile_jsonpath", "quoted"]

#: Longest expression accepted (after placeholders are spliced in); parsing time grows with it.
MAX_EXPRESSION_LENGTH: Final = 2000
#: Values one evaluation may produce or visit before it is stopped as too costly.
WORK_LIMIT: Final = 1_000_000
#: Filters nested deeper than this are refused (each level multiplies the work).
MAX_FILTER_DEPTH: Final = 8
#: What the JSONPath engines accept, for messages and docs.
SUPPORTED: Final = ("$, @, .name, ['name'], ['a','b'], *, [n], [n,m], [start:end:step], .., "
                    "[?(...)] filters with == != < <= > >= and & (or &&)")

# Step kinds of a flattened path.
_ROOT, _FIELDS, _INDEX, _SLICE, _DESCEND, _FILTER = range(6)
_ORDERING: Final = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
# A quoted string (kept as is) or a JavaScript operator spelling (rewritten).
_JS_OPERATORS: Final = re.compile(r"""('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")|&&|===|!==""")
_JS_SPELLINGS: Final = {"&&": "&", "===": "==", "!==": "!="}


class QueryError(ValueError):
    """A query expression is invalid, or its evaluation failed or was too costly."""


def quoted(text: str, limit: int = 80) -> str:
    """``text`` quoted for a message, cut to ``limit`` characters."""
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


@dataclass(frozen=True, slots=True)
class _Test:
    """One condition of a filter: ``target`` (steps from ``@``), an operator and a literal."""

    target: tuple[tuple[Any, ...], ...]
    op: str | None
    literal: Any


class _Budget:
    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = WORK_LIMIT

    def spend(self, count: int) -> None:
        self.left -= count
        if self.left < 0:
            raise QueryError(f"the query needs more than {WORK_LIMIT} steps")


@dataclass(frozen=True, slots=True)
class JsonPath:
    """A compiled JSONPath. ``singular`` is true when it can match at most one value (no
    wildcard, slice, union, filter or recursive descent): :meth:`query` then returns that
    value or None, else the list of matches."""

    text: str
    steps: tuple[tuple[Any, ...], ...]
    singular: bool

    def query(self, data: Any) -> Any:
        """Evaluate against ``data``; raise :class:`QueryError` when it is too costly."""
        found = _evaluate(self.steps, [data], data, _Budget())
        if self.singular:
            return found[0] if found else None
        return found


# -- parsing ---------------------------------------------------------------------------------

_parser: Any = None
_parser_lock = threading.Lock()


def _parse(text: str) -> Any:
    global _parser
    # Building the parse tables takes milliseconds, so one parser is shared; PLY parsers
    # keep state while parsing, hence the lock.
    with _parser_lock, warnings.catch_warnings():
        # jsonpath-ng 1.9+ deprecates spellings (`&`, `|`) that older versions need; the
        # expression is the workflow author's, so the warning would only be noise here.
        warnings.simplefilter("ignore", DeprecationWarning)
        if _parser is None:
            _parser = ExtendedJsonPathParser()
        return _parser.parse(text)


def _js_operators(text: str) -> str:
    """Rewrite the JavaScript spellings jsonpath-plus filters use (``&&``, ``===``, ``!==``)
    to jsonpath-ng's, outside quoted strings."""
    return _JS_OPERATORS.sub(lambda m: m.group(1) or _JS_SPELLINGS[m.group(0)], text)


@functools.lru_cache(maxsize=256)
def compile_jsonpath(text: str) -> JsonPath:
    """Parse and check a JSONPath expression; raise :class:`QueryError` when it is invalid or
    uses a construct outside :data:`SUPPORTED`. Cached: templated expressions repeat."""
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise QueryError(f"expression longer than {MAX_EXPRESSION_LENGTH} characters")
    if not text.strip():
        raise QueryError("empty expression")
    try:
        tree = _parse(_js_operators(text))
    except Exception as exc:  # jsonpath-ng raises JsonPathLexerError/ParserError, PLY others
        raise QueryError(f"invalid JSONPath {quoted(text)}: {exc}") from None
    steps = _flatten(tree, 0)
    singular = all(
        step[0] == _ROOT
        or (step[0] == _FIELDS and len(step[1]) == 1 and step[1][0] != "*")
        or (step[0] == _INDEX and len(step[1]) == 1)
        for step in steps
    )
    return JsonPath(text, steps, singular)


def _flatten(tree: Any, depth: int) -> tuple[tuple[Any, ...], ...]:
    """The syntax tree as a flat tuple of steps (iteratively: long paths nest deeply)."""
    out: list[tuple[Any, ...]] = []
    stack: list[Any] = [tree]
    descend = object()
    while stack:
        node = stack.pop()
        kind = type(node)  # exact types: jsonpath-ng's string functions subclass This
        if node is descend:
            out.append((_DESCEND,))
        elif kind is _jp.Child:
            stack += [node.right, node.left]
        elif kind is _jp.Descendants:
            stack += [node.right, descend, node.left]
        elif kind is _jp.Root:
            out.append((_ROOT,))
        elif kind is _jp.This:
            pass
        elif kind is _jp.Fields:
            out.append((_FIELDS, tuple(str(f) for f in node.fields)))
        elif kind is _WILDCARD:
            # jsonpath-ng 1.9+ parses `*` and `[*]` as Wildcard (older versions: Fields('*')
            # and an open Slice); every child, of an object or an array.
            out.append((_FIELDS, ("*",)))
        elif kind is _jp.Index:
            out.append((_INDEX, tuple(node.indices)))
        elif kind is _jp.Slice:
            out.append((_SLICE, node.start, node.end, node.step))
        elif kind is Filter:
            if depth >= MAX_FILTER_DEPTH:
                raise QueryError(f"filters nested more than {MAX_FILTER_DEPTH} deep")
            out.append((_FILTER, tuple(_test(e, depth + 1) for e in node.expressions)))
        else:
            raise QueryError(f"{_describe(node)} is not supported (supported: {SUPPORTED})")
    return tuple(out)


def _test(expression: Any, depth: int) -> _Test:
    if type(expression) is not Expression:
        raise QueryError(f"{_describe(expression)} is not supported in a filter")
    op = expression.op
    if op is not None and op not in {"==", "=", "!=", *_ORDERING}:
        raise QueryError(f"filter operator {op!r} is not supported (regular expressions are "
                         "not run on request data)")
    return _Test(_flatten(expression.target, depth), op, expression.value)


def _describe(node: Any) -> str:
    name = type(node).__name__
    try:
        text = str(node)
    except RecursionError:  # jsonpath-ng writes deep trees recursively
        return name
    return f"{name} ({text})" if text and len(text) < 60 else name


# -- evaluation ------------------------------------------------------------------------------


def _evaluate(steps: tuple[tuple[Any, ...], ...], current: list[Any], root: Any,
              budget: _Budget) -> list[Any]:
    for step in steps:
        kind = step[0]
        if kind == _ROOT:
            current = [root]
            continue
        found: list[Any] = []
        for value in current:
            if kind == _FIELDS:
                _fields(value, step[1], found)
            elif kind == _INDEX:
                if isinstance(value, list | tuple):
                    size = len(value)
                    for index in step[1]:
                        at = index + size if index < 0 else index
                        if 0 <= at < size:
                            found.append(value[at])
            elif kind == _SLICE:
                if isinstance(value, list | tuple) and step[3] != 0:
                    found.extend(value[step[1]:step[2]:step[3]])
            elif kind == _DESCEND:
                _descendants(value, found, budget)
            else:
                children = _children(value)
                budget.spend(len(children))
                found.extend(c for c in children if all(_check(t, c, root, budget)
                                                        for t in step[1]))
        budget.spend(len(current) + len(found))
        current = found
    return current


def _fields(value: Any, names: tuple[str, ...], found: list[Any]) -> None:
    if isinstance(value, Mapping):
        for name in names:
            if name == "*":
                found.extend(value.values())
            elif name in value:
                found.append(value[name])
    elif isinstance(value, list | tuple):
        # As in jsonpath-plus: `*` lists an array's items and `.0` reads item 0.
        for name in names:
            if name == "*":
                found.extend(value)
            elif name.isascii() and name.isdigit() and int(name) < len(value):
                found.append(value[int(name)])


def _children(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        return list(value.values())
    if isinstance(value, list | tuple):
        return list(value)
    return []


def _descendants(value: Any, found: list[Any], budget: _Budget) -> None:
    """``value`` and everything under it, in document order (pre-order)."""
    stack = [value]
    while stack:
        item = stack.pop()
        found.append(item)
        children = _children(item)
        budget.spend(len(children) + 1)
        stack.extend(reversed(children))


def _check(test: _Test, item: Any, root: Any, budget: _Budget) -> bool:
    matches = _evaluate(test.target, [item], root, budget)
    if test.op is None:
        return any(_truthy(m) for m in matches)
    if test.op == "!=":
        return not any(_equal(m, test.literal) for m in matches)
    if test.op in _ORDERING:
        return any(_ordered(m, test.op, test.literal) for m in matches)
    return any(_equal(m, test.literal) for m in matches)


def _truthy(value: Any) -> bool:
    """JavaScript truthiness (``[?(@.paid)]`` keeps items whose ``paid`` is truthy, as in
    jsonpath-plus); empty lists and objects are true there too."""
    if isinstance(value, float) and math.isnan(value):
        return False
    if isinstance(value, list | tuple | Mapping):
        return True
    return bool(value)


def _number(value: Any) -> float | None:
    """A value as a number for comparisons with a number literal (``"5"`` is 5, as with
    JavaScript's ``==``), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value.strip():
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _equal(value: Any, literal: Any) -> bool:
    if isinstance(literal, bool):
        return isinstance(value, bool) and value is literal
    if isinstance(literal, int | float):
        number = _number(value)
        return number is not None and number == literal
    if literal is None or (literal == "null" and value is None):
        # jsonpath-ng 1.9+ reads `null` as None; older versions as the text "null".
        return value is None
    return isinstance(value, str) and value == literal


def _ordered(value: Any, op: str, literal: Any) -> bool:
    if isinstance(literal, bool):
        return False
    if isinstance(literal, int | float):
        left: Any = _number(value)
    else:  # a text literal orders text only
        left = value if isinstance(value, str) else None
    return left is not None and bool(_ORDERING[op](left, literal))
