"""Field tables and checkers: the one place that says what a definition may contain.

Each section of a definition (top level, ``config``, ``options``, each node's ``config``) is
described by a tuple of :class:`Field`. :func:`check_section` validates a mapping against such a
table, refusing unknown keys, filling defaults and naming the offending field path in every
:class:`DefinitionError`. The documentation's reference tables are generated from the same
tables, so the two cannot drift.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import DefinitionError, TemplateError
from ..variables.templates import Template, compile_template

__all__ = [
    "NO_DEFAULT",
    "Field",
    "boolean",
    "check_section",
    "header_list",
    "integer",
    "join",
    "json_value",
    "one_of",
    "string",
    "template",
]

Checker = Callable[[Any, str], Any]

#: Marks a required field (no default).
NO_DEFAULT: Any = object()

HEADER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\Z")
_BAD_HEADER_CHARS = re.compile(r"[\r\n\x00]")


@dataclass(frozen=True, slots=True)
class Field:
    """One allowed key of a section: its checker, default and a one-line description."""

    name: str
    check: Checker
    default: Any = NO_DEFAULT
    doc: str = ""
    kind: str = ""

    @property
    def required(self) -> bool:
        """True when the field has no default."""
        return self.default is NO_DEFAULT


def join(path: str, name: str | int) -> str:
    """Append a key (``.name``) or an index (``[n]``) to a field path."""
    if isinstance(name, int):
        return f"{path}[{name}]"
    return f"{path}.{name}" if path else name


def template(value: Any, path: str, roots: frozenset[str] | None = None) -> Template:
    """Compile ``value`` as a template; a bad placeholder is a :class:`DefinitionError` at the
    exact field path (``nodes[0].config.body.items[1]``)."""
    try:
        return compile_template(value, roots)
    except TemplateError as exc:
        where = exc.where
        full = path if not where else (path + where if where.startswith("[") else
                                       join(path, where))
        raise DefinitionError(full, exc.reason) from None
    except RecursionError:
        raise DefinitionError(path, "nests too deeply") from None


def check_section(value: Any, fields: tuple[Field, ...], path: str) -> dict[str, Any]:
    """Validate ``value`` (must be a mapping) against ``fields``; return it with defaults."""
    if not isinstance(value, Mapping):
        raise DefinitionError(path, f"must be an object, got {type_name(value)}")
    known = {f.name for f in fields}
    for name in value:
        if name not in known:
            allowed = ", ".join(sorted(known)) or "nothing"
            raise DefinitionError(join(path, str(name)), f"unknown field (allowed: {allowed})")
    out: dict[str, Any] = {}
    for f in fields:
        if f.name in value and not (value[f.name] is None and f.default is None):
            out[f.name] = f.check(value[f.name], join(path, f.name))
        elif f.required:
            raise DefinitionError(join(path, f.name), "is required")
        else:
            out[f.name] = f.default
    return out


def type_name(value: Any) -> str:
    """A JSON-ish name of a value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def boolean(value: Any, path: str) -> bool:
    """A JSON boolean."""
    if not isinstance(value, bool):
        raise DefinitionError(path, f"must be true or false, got {type_name(value)}")
    return value


def integer(low: int | None = None, high: int | None = None) -> Checker:
    """An integer within ``low..high`` (inclusive; either bound may be open)."""

    def check(value: Any, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise DefinitionError(path, f"must be an integer, got {type_name(value)}")
        if (low is not None and value < low) or (high is not None and value > high):
            if low is not None and high is not None:
                raise DefinitionError(path, f"must be {low}..{high}")
            if low is not None:
                raise DefinitionError(path, f"must be >= {low}")
            raise DefinitionError(path, f"must be <= {high}")
        return int(value)

    return check


def string(pattern: str | None = None, *, max_length: int | None = None, what: str = "") -> Checker:
    """A string, optionally matching ``pattern`` (a full match) and at most ``max_length`` long."""
    compiled = re.compile(pattern + r"\Z") if pattern else None

    def check(value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise DefinitionError(path, f"must be a string, got {type_name(value)}")
        if max_length is not None and len(value) > max_length:
            raise DefinitionError(path, f"must be at most {max_length} characters")
        if compiled is not None and not compiled.match(value):
            raise DefinitionError(path, f"must be {what or f'a string matching {pattern!r}'}")
        return value

    return check


def one_of(*choices: Any) -> Checker:
    """One of the given literal values."""

    def check(value: Any, path: str) -> Any:
        for choice in choices:
            if value == choice and type(value) is type(choice):
                return value
        listed = ", ".join(repr(c) if isinstance(c, str) else str(c) for c in choices)
        raise DefinitionError(path, f"must be one of {listed}")

    return check


#: How deeply a JSON value in a definition may nest (arrays and objects).
MAX_VALUE_DEPTH = 64


def json_value(value: Any, path: str, max_depth: int = MAX_VALUE_DEPTH) -> Any:
    """Any JSON value (null, boolean, number, string, array, object with string keys),
    nested at most :data:`MAX_VALUE_DEPTH` levels."""
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        if depth > max_depth:
            raise DefinitionError(where, f"nests deeper than {max_depth} levels")
        if item is None or isinstance(item, bool | int | float | str):
            if isinstance(item, float) and (item != item or item in (float("inf"), -float("inf"))):
                raise DefinitionError(where, "must be a finite number")
            continue
        if isinstance(item, list | tuple):
            stack.extend((v, join(where, i), depth + 1) for i, v in enumerate(item))
        elif isinstance(item, Mapping):
            for k, v in item.items():
                if not isinstance(k, str):
                    raise DefinitionError(where, "object keys must be strings")
                stack.append((v, join(where, k), depth + 1))
        else:
            raise DefinitionError(where, f"must be a JSON value, got {type(item).__name__}")
    return value


def header_value(value: Any, path: str) -> str:
    """A header value: a string without CR, LF or NUL (templates are checked when rendered)."""
    if not isinstance(value, str):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DefinitionError(path, f"must be a string, got {type_name(value)}")
        value = str(value)
    text: str = value
    if _BAD_HEADER_CHARS.search(text):
        raise DefinitionError(path, "must not contain CR, LF or NUL")
    return text


_HEADER_FIELDS = (
    Field("name", string(HEADER_NAME.pattern[:-2], what="a header name ([A-Za-z][A-Za-z0-9_-]*)")),
    Field("value", header_value, ""),
)


def header_list(value: Any, path: str) -> list[dict[str, str]]:
    """A list of response/request headers ``[{"name": ..., "value": ...}]``."""
    if not isinstance(value, list):
        raise DefinitionError(path, f"must be an array, got {type_name(value)}")
    return [check_section(item, _HEADER_FIELDS, join(path, i)) for i, item in enumerate(value)]
