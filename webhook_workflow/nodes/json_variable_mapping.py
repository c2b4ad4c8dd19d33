"""``json-variable-mapping``: name values found at paths of a JSON object or array.

Each variable ``{key, path}`` (or NocoBase's ``{key, paths: [segments], name?}``) becomes one
entry ``{key: value}`` of the result. Paths are compiled once, at registration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ..errors import DefinitionError
from ..fields import (
    Field,
    boolean,
    check_section,
    join,
    json_value,
    schema_hint,
    section_schema,
    string,
    type_name,
)
from ..records import Job
from ..status import Status
from ..variables.expressions.values import truthy
from ..variables.paths import MISSING, compile_path
from ..variables.templates import Template, compile_template
from .base import CompiledNode, NodeType, Outcome, RunContext

__all__ = ["ARRAY_SEGMENT", "NOT_A_CONTAINER", "JsonVariableMappingNode"]

#: The segment NocoBase writes into ``paths`` where the sample had an array level.
ARRAY_SEGMENT: Final = "___arr$___"
#: The FAILED job's message when ``dataSource`` is neither an object nor an array.
NOT_A_CONTAINER: Final = "The input data is not an object nor an array"


@dataclass(frozen=True, slots=True)
class _Step:
    key: str
    #: The array index the segment denotes in JavaScript (``"0"``, not ``"01"`` or
    #: ``"-1"``), or None.
    index: int | None
    #: True for :data:`ARRAY_SEGMENT`.
    array: bool


@dataclass(frozen=True, slots=True)
class _Variable:
    key: str
    steps: tuple[_Step, ...]
    #: ``paths`` form, read as NocoBase reads it: only :data:`ARRAY_SEGMENT` maps over a
    #: list; ``path`` form: any name segment that meets a list maps over it.
    explicit: bool


# JavaScript array indices stop below 2**32 - 1; a longer digit run is an ordinary key.
_MAX_INDEX: Final = 2**32 - 2


def _step(segment: str) -> _Step:
    digits = (segment.isascii() and segment.isdigit() and len(segment) <= 10
              and (segment == "0" or segment[0] != "0"))
    index = int(segment) if digits else None
    return _Step(segment, index if index is not None and index <= _MAX_INDEX else None,
                 segment == ARRAY_SEGMENT)


@schema_hint({"type": ["string", "null"]})
def _optional_text(value: Any, path: str) -> str | None:
    return None if value is None else string()(value, path)


@schema_hint({"type": ["array", "null"], "minItems": 1, "items": {"type": ["string", "integer"]}})
def _segments(value: Any, path: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise DefinitionError(path, f"must be an array of path segments, got {type_name(value)}")
    if not value:
        raise DefinitionError(path, "must not be empty")
    out: list[str] = []
    for i, segment in enumerate(value):
        if isinstance(segment, bool) or not isinstance(segment, str | int):
            raise DefinitionError(join(path, i), "must be a string (or a list index)")
        out.append(str(segment))
    return out


_VARIABLE_FIELDS = (
    Field("key", string(r"[^.\[\]]+", what="a non-empty key without '.', '[' or ']' (a "
                        "template could not reach it)"), doc="the result key"),
    Field("path", _optional_text, None, "dot path such as `a.b.0.c`"),
    Field("paths", _segments, None, "NocoBase's segment list; wins over `path`"),
    Field("name", _optional_text, None, "display name only"),
)


# Each item names where its value is: `paths` or, without them, `path`.
@schema_hint(lambda: {"type": "array", "items": {**section_schema(_VARIABLE_FIELDS), "anyOf": [
    {"required": ["path"], "properties": {"path": {"type": "string"}}},
    {"required": ["paths"], "properties": {"paths": {"type": "array"}}}]}})
def _variables(value: Any, path: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise DefinitionError(path, f"must be an array, got {type_name(value)}")
    out: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(value):
        where = join(path, i)
        item = check_section(raw, _VARIABLE_FIELDS, where)
        if item["key"] in seen:
            raise DefinitionError(join(where, "key"), f"{item['key']!r} is already the key "
                                  f"of {join(path, seen[item['key']])}")
        seen[item["key"]] = i
        if item["paths"] is None:
            if item["path"] is None:
                raise DefinitionError(where, "needs `path` (or NocoBase's `paths`)")
            try:
                compile_path(item["path"])
            except ValueError as exc:
                raise DefinitionError(join(where, "path"), str(exc)) from None
        out.append(item)
    return out


def _compile_variable(item: Mapping[str, Any]) -> _Variable:
    if item["paths"] is not None:
        return _Variable(item["key"], tuple(_step(s) for s in item["paths"]), True)
    segments = compile_path(item["path"]).segments
    return _Variable(item["key"], tuple(_step(s) for s in segments), False)


class JsonVariableMappingNode(NodeType):
    """Map paths of ``dataSource`` (an object or array) to the named results ``variables``."""

    type_name = "json-variable-mapping"
    summary = "maps paths of a JSON value to named results"
    fields = (
        Field("dataSource", json_value, doc="the object or array to read; templates allowed, "
              "usually `{{$jobsMapByNodeKey.<key>}}`"),
        Field("variables", _variables, [], "`[{key, path}]` or NocoBase's `[{key, paths, "
              "name?}]`; the result is `{key: value at path}`"),
        Field("parseArray", boolean, False, "false: the `___arr$___` marker (and, in the "
              "`path` form, a name segment) maps the rest of the path over a list's items; "
              "true: markers are skipped and nothing maps; numeric segments index lists "
              "either way"),
    )

    def prepare(self, config: dict[str, Any], path: str) -> tuple[Template, tuple[_Variable, ...]]:
        try:
            source = compile_template(config["dataSource"])
        except ValueError as exc:
            raise DefinitionError(join(path, "dataSource"), str(exc)) from None
        return source, tuple(_compile_variable(item) for item in config["variables"])

    def run(self, node: CompiledNode, prev: Job | None, proc: RunContext) -> Outcome:
        source, variables = node.prepared
        data = proc.render(source)
        if not isinstance(data, Mapping | list | tuple):
            return Job(Status.FAILED, {"message": NOT_A_CONTAINER})
        parse_array: bool = node.config["parseArray"]
        result: dict[str, Any] = {}
        for variable in variables:
            if variable.explicit:
                found = _nocobase_value(data, variable.steps, 0, parse_array)
            else:
                found = _walk(data, variable.steps, 0, parse_array)
            result[variable.key] = None if found is MISSING else found
        return Job(Status.RESOLVED, result)


def _get(value: Any, step: _Step) -> Any:
    """``value[step.key]`` as JavaScript reads a property of a JSON value, or MISSING.

    An object's own key; on an array a canonical index (``"0"``, ``"12"``) in range, or
    ``length``; on a string the same, by UTF-16 code units as JavaScript counts them.
    Anything else, numbers and booleans included, has no such property.
    """
    if isinstance(value, Mapping):
        return value.get(step.key, MISSING)
    if isinstance(value, list | tuple):
        if step.index is not None:
            return value[step.index] if step.index < len(value) else MISSING
        return len(value) if step.key == "length" else MISSING
    if isinstance(value, str):
        if value.isascii() or all(ord(c) <= 0xFFFF for c in value):
            units: Any = value
        else:
            units = value.encode("utf-16-le")
        count = len(units) if units is value else len(units) // 2
        if step.index is not None:
            if step.index >= count:
                return MISSING
            if units is value:
                return value[step.index]
            unit = units[2 * step.index:2 * step.index + 2].decode("utf-16-le", "replace")
            return unit  # half of a surrogate pair: U+FFFD, as JSON cannot carry it
        return count if step.key == "length" else MISSING
    return MISSING


def _nocobase_value(value: Any, steps: tuple[_Step, ...], at: int, parse_array: bool) -> Any:
    """NocoBase's ``getVaule`` for the ``paths`` form: the value at ``steps[at:]``, or MISSING.

    Each segment is a JavaScript property read (:func:`_get`), so numeric segments index
    arrays whatever ``parseArray`` says; only the array marker depends on it: without
    ``parseArray`` it maps the rest of the path over a list (an empty list on anything
    else), with it the marker is skipped.
    """
    if at < len(steps) and steps[at].array:
        at += 1
        if not parse_array:
            return _nocobase_map(value, steps, at)
    if at == len(steps):
        return MISSING  # a marker as the last segment: JavaScript reads ``value[undefined]``
    found = _get(value, steps[at])
    if at + 1 == len(steps) or found is MISSING:
        return found
    if not truthy(found):
        # NocoBase returns a falsy value met before the end of the path as the result
        # ({"a": 0} at a.b gives 0); nothing is there, so nothing is found.
        return MISSING
    return _nocobase_value(found, steps, at + 1, parse_array)


def _nocobase_map(items: Any, steps: tuple[_Step, ...], at: int) -> list[Any]:
    """NocoBase's ``getArrValue``: the rest of the path read in each item of a list.

    Items where nothing is found are left out, as in NocoBase; falsy values that are there
    (0, "", false, null) are kept, where NocoBase drops them too. An item that is itself a
    list at a further marker is mapped in turn and its values join the same list (NocoBase
    keeps only the last such item's values). Without a next segment nothing is read.
    """
    if not isinstance(items, list | tuple) or at == len(steps):
        return []
    step, out = steps[at], []
    for item in items:
        if at + 1 == len(steps):
            found = _get(item, step)
        elif step.array and isinstance(item, list | tuple):
            out.extend(_nocobase_map(item, steps, at + 1))
            continue
        else:
            found = _get(item, step)
            if found is not MISSING:
                found = _nocobase_value(found, steps, at + 1, False) if truthy(found) else (
                    MISSING)
        if found is not MISSING:
            out.append(found)
    return out


def _maps(step: _Step) -> bool:
    """Whether ``step`` maps over a list in the ``path`` form (an index or ``length`` reads
    the list itself)."""
    return step.array or (step.index is None and step.key != "length")


def _walk(value: Any, steps: tuple[_Step, ...], at: int, parse_array: bool) -> Any:
    """The value at ``steps[at:]`` in ``value`` for the native ``path`` form, or MISSING.

    Segments are read as :func:`_get` reads them. Without ``parseArray``, a name segment
    that meets a list maps the rest of the path over its items instead, giving the list of
    what it finds in each: items where it finds nothing are left out, falsy values are kept,
    and an item that is itself a list is mapped in turn, its values joining the same list.
    """
    while at < len(steps):
        step = steps[at]
        if isinstance(value, list | tuple) and not parse_array and _maps(step):
            return _map(value, steps, at + 1 if step.array else at)
        if not step.array:  # a marker before an index, or with nothing to map: skipped
            value = _get(value, step)
            if value is MISSING:
                return MISSING
        at += 1
    return value


def _map(items: list[Any] | tuple[Any, ...], steps: tuple[_Step, ...], at: int) -> list[Any]:
    if at == len(steps):
        return list(items)
    out: list[Any] = []
    for item in items:
        found = _walk(item, steps, at, False)
        if found is MISSING:
            continue
        if isinstance(item, list | tuple) and _maps(steps[at]):
            out.extend(found)  # a nested list level, mapped too: its values join this list
        else:
            out.append(found)
    return out
