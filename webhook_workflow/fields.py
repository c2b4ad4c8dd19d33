"""Field tables and checkers: the one place that says what a definition may contain.

Each section of a definition (top level, ``config``, ``options``, each node's ``config``) is
described by a tuple of :class:`Field`. :func:`check_section` validates a mapping against such a
table, refusing unknown keys, filling defaults and naming the offending field path in every
:class:`DefinitionError`. The documentation's reference tables are generated from the same
tables, so the two cannot drift; so is the definition's JSON Schema, from what each checker
says it accepts (:func:`schema_hint`).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from .errors import DefinitionError

__all__ = [
    "NO_DEFAULT",
    "Field",
    "Problems",
    "boolean",
    "caseless",
    "check_section",
    "full_match",
    "header_list",
    "integer",
    "join",
    "json_value",
    "literal",
    "one_of",
    "or_null",
    "schema_hint",
    "schema_of",
    "section_schema",
    "string",
    "type_name",
]

Checker = Callable[[Any, str], Any]
#: A JSON Schema (draft 2020-12) fragment.
Schema = dict[str, Any]
_C = TypeVar("_C", bound=Callable[..., Any])

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


class Problems:
    """The definition errors of one pass over a definition, gathered so that all of them are
    reported at once (:attr:`DefinitionError.errors`) rather than only the first."""

    __slots__ = ("found",)

    def __init__(self) -> None:
        self.found: list[DefinitionError] = []

    def __bool__(self) -> bool:
        return bool(self.found)

    @contextmanager
    def gather(self) -> Iterator[None]:
        """Run the block; a :class:`DefinitionError` it raises is kept and the pass goes on
        after the block (whatever the block would have made afterwards is not made)."""
        try:
            yield
        except DefinitionError as exc:
            self.found.append(exc)

    def add(self, path: str, reason: str) -> None:
        """Keep one error."""
        self.found.append(DefinitionError(path, reason))

    def raise_found(self) -> None:
        """Raise every error kept so far as one :class:`DefinitionError`, if there is any."""
        if self.found:
            raise DefinitionError.of(self.found)


def check_section(value: Any, fields: tuple[Field, ...], path: str) -> dict[str, Any]:
    """Validate ``value`` (must be a mapping) against ``fields``; return it with defaults.

    Every field is checked even after one failed: the error raised holds the errors of all
    of them (unknown fields first, then the table's order)."""
    if not isinstance(value, Mapping):
        raise DefinitionError(path, f"must be an object, got {type_name(value)}")
    problems = Problems()
    known = {f.name for f in fields}
    for name in value:
        if name not in known:
            allowed = ", ".join(sorted(known)) or "nothing"
            problems.add(join(path, str(name)), f"unknown field (allowed: {allowed})")
    out: dict[str, Any] = {}
    for f in fields:
        if f.name in value and not (value[f.name] is None and f.default is None):
            with problems.gather():
                out[f.name] = f.check(value[f.name], join(path, f.name))
        elif f.required:
            problems.add(join(path, f.name), "is required")
        else:
            out[f.name] = f.default
    problems.raise_found()
    return out


# -- what checkers accept, as JSON Schema ------------------------------------------------------
# ``definition.schema`` builds the definition's JSON Schema from the same tables: each checker
# says what it accepts here, next to the code that accepts it, so the two are read together.

def schema_hint(hint: Schema | Callable[[], Schema]) -> Callable[[_C], _C]:
    """Decorate a checker with the JSON Schema of the values it accepts: a dict, or a function
    returning one (for a schema built from tables defined further down)."""

    def attach(checker: _C) -> _C:
        vars(checker)["json_schema"] = hint
        return checker

    return attach


def schema_of(checker: Checker) -> Schema:
    """The JSON Schema of what ``checker`` accepts (a fresh copy); ``{}`` (any value) when the
    checker does not say, as for fields checked later by the code that compiles them."""
    hint = getattr(checker, "json_schema", None)
    if hint is None:
        return {}
    return copy.deepcopy(hint() if callable(hint) else hint)


def or_null(schema: Schema) -> Schema:
    """``schema`` that also accepts null."""
    if not schema:
        return schema
    out = dict(schema)
    if "const" in out:
        out["enum"] = [out.pop("const")]
    if "enum" in out and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    if "type" in out:
        types = out["type"] if isinstance(out["type"], list) else [out["type"]]
        out["type"] = types if "null" in types else [*types, "null"]
    elif "enum" not in out:
        # Not anyOf: a value that is not null is checked against ``schema`` alone, so its
        # errors are reported as they are rather than as "none of two matched".
        return {"if": {"type": "null"}, "else": schema}
    return out


def full_match(pattern: str) -> str:
    """A Python full-match pattern as an ECMA-262 one (JSON Schema's dialect, searched, not
    matched): anchored, and ``.`` outside a class written ``[^\\n]`` (Python's meaning)."""
    out: list[str] = []
    in_class = escaped = False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char == "." and not in_class:
            char = "[^\\n]"
        out.append(char)
    return "^(?:" + "".join(out) + ")$"


def caseless(word: str) -> str:
    """A pattern matching ``word`` in any ASCII case (ECMA-262 has no inline ``(?i)``)."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else literal(c) for c in word)


def literal(text: str) -> str:
    """``text`` as a pattern matching itself, in both Python's and ECMA-262's syntax."""
    return "".join("\\" + c if c in "\\^$.|?*+()[]{}/" else c for c in text)


def section_schema(fields: tuple[Field, ...], nested: Mapping[str, Schema] | None = None
                   ) -> Schema:
    """The JSON Schema of a section :func:`check_section` accepts: each field's schema (from
    ``nested`` by name, else from its checker) with its name, meaning and default; null where
    it counts as absent; required fields; no other keys."""
    properties: dict[str, Schema] = {}
    for f in fields:
        schema = (nested or {}).get(f.name)
        schema = schema_of(f.check) if schema is None else copy.deepcopy(schema)
        if f.default is None:
            schema = or_null(schema)
        meta: Schema = {"title": f.name}
        if f.doc:
            meta["description"] = f.doc
        if not f.required:
            meta["default"] = copy.deepcopy(f.default)
        properties[f.name] = {**meta, **{k: v for k, v in schema.items() if k not in meta}}
    out: Schema = {"type": "object", "properties": properties}
    required = [f.name for f in fields if f.required]
    if required:
        out["required"] = required
    out["additionalProperties"] = False
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


@schema_hint({"type": "boolean"})
def boolean(value: Any, path: str) -> bool:
    """A JSON boolean."""
    if not isinstance(value, bool):
        raise DefinitionError(path, f"must be true or false, got {type_name(value)}")
    return value


def integer(low: int | None = None, high: int | None = None) -> Checker:
    """An integer within ``low..high`` (inclusive; either bound may be open)."""
    schema: Schema = {"type": "integer"}
    if low is not None:
        schema["minimum"] = low
    if high is not None:
        schema["maximum"] = high

    @schema_hint(schema)
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
    schema: Schema = {"type": "string"}
    if max_length is not None:
        schema["maxLength"] = max_length
    if pattern and re.fullmatch(r"[A-Za-z0-9_ ]+", pattern):
        schema = {"const": pattern}  # a literal: editors offer it
    elif pattern:
        schema["pattern"] = full_match(pattern)

    @schema_hint(schema)
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

    @schema_hint({"enum": list(choices)})
    def check(value: Any, path: str) -> Any:
        for choice in choices:
            if value == choice and type(value) is type(choice):
                return value
        listed = ", ".join(repr(c) if isinstance(c, str) else str(c) for c in choices)
        raise DefinitionError(path, f"must be one of {listed}")

    return check


#: How deeply a JSON value in a definition may nest (arrays and objects).
MAX_VALUE_DEPTH = 64


@schema_hint({})
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


@schema_hint({"type": ["string", "number"], "pattern": "^[^\\r\\n\\x00]*$"})
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


@schema_hint(lambda: {"type": "array", "items": section_schema(_HEADER_FIELDS)})
def header_list(value: Any, path: str) -> list[dict[str, str]]:
    """A list of response/request headers ``[{"name": ..., "value": ...}]``."""
    if not isinstance(value, list):
        raise DefinitionError(path, f"must be an array, got {type_name(value)}")
    return [check_section(item, _HEADER_FIELDS, join(path, i)) for i, item in enumerate(value)]
