"""``json-variable-mapping``: name values found at paths of a JSON object or array.

Each variable ``{key, path}`` (or NocoBase's ``{key, paths: [segments], name?}``) becomes one
entry ``{key: value}`` of the result. Paths are compiled once, at registration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from ..definition.fields import (
    Field,
    boolean,
    check_section,
    join,
    json_value,
    string,
    type_name,
)
from ..errors import DefinitionError
from ..runtime.records import Job
from ..runtime.status import Status
from ..variables.paths import MISSING, compile_path
from ..variables.templates import Template, compile_template
from .base import CompiledNode, NodeType, Outcome

if TYPE_CHECKING:
    from ..runtime.processor import Processor

__all__ = ["ARRAY_SEGMENT", "NOT_A_CONTAINER", "JsonVariableMappingNode"]

#: The segment NocoBase writes into ``paths`` where the sample had an array level.
ARRAY_SEGMENT: Final = "___arr$___"
#: The FAILED job's message when ``dataSource`` is neither an object nor an array.
NOT_A_CONTAINER: Final = "The input data is not an object nor an array"


@dataclass(frozen=True, slots=True)
class _Step:
    key: str
    #: The list index the segment denotes (``"0"``, not ``"01"``), or None.
    index: int | None
    #: True for :data:`ARRAY_SEGMENT`.
    array: bool


@dataclass(frozen=True, slots=True)
class _Variable:
    key: str
    steps: tuple[_Step, ...]
    #: ``paths`` form: only :data:`ARRAY_SEGMENT` maps over a list (as NocoBase generates
    #: them); ``path`` form: any segment that meets a list maps over it.
    explicit: bool


def _step(segment: str) -> _Step:
    digits = segment.isascii() and segment.isdigit() and (segment == "0" or segment[0] != "0")
    return _Step(segment, int(segment) if digits else None, segment == ARRAY_SEGMENT)


def _optional_text(value: Any, path: str) -> str | None:
    return None if value is None else string()(value, path)


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
        Field("parseArray", boolean, False, "true: numeric segments index lists; false: a "
              "list met on the path maps the rest of the path over its items"),
    )

    def prepare(self, config: dict[str, Any], path: str) -> tuple[Template, tuple[_Variable, ...]]:
        try:
            source = compile_template(config["dataSource"])
        except ValueError as exc:
            raise DefinitionError(join(path, "dataSource"), str(exc)) from None
        return source, tuple(_compile_variable(item) for item in config["variables"])

    def run(self, node: CompiledNode, prev: Job | None, proc: Processor) -> Outcome:
        source, variables = node.prepared
        data = proc.render(source)
        if not isinstance(data, Mapping | list | tuple):
            return Job(Status.FAILED, {"message": NOT_A_CONTAINER})
        parse_array: bool = node.config["parseArray"]
        result: dict[str, Any] = {}
        for variable in variables:
            found = _walk(data, variable.steps, 0, parse_array, variable.explicit)
            result[variable.key] = None if found is MISSING else found
        return Job(Status.RESOLVED, result)


def _walk(value: Any, steps: tuple[_Step, ...], at: int, parse_array: bool,
          explicit: bool) -> Any:
    """The value at ``steps[at:]`` in ``value``, or MISSING.

    Mapping over a list gives the list of what the rest of the path finds in each item.
    Items where it finds nothing are left out (as in NocoBase); falsy values that are there
    (0, "", false, null) are kept, where NocoBase drops them too. An item that is itself a
    list is mapped in turn and its values join the same flat list.
    """
    while at < len(steps):
        step = steps[at]
        if isinstance(value, list | tuple):
            if parse_array:
                if step.array:  # NocoBase's marker before an index: nothing to do
                    at += 1
                    continue
                if step.index is None:
                    return MISSING
                if step.index >= len(value):
                    return MISSING
                value = value[step.index]
            elif step.array or not explicit:
                rest = at + 1 if step.array else at
                return _map(value, steps, rest, parse_array, explicit)
            else:
                return MISSING  # explicit paths read a list only through the marker
        elif isinstance(value, Mapping) and not step.array:
            value = value.get(step.key, MISSING)
            if value is MISSING:
                return MISSING
        else:
            return MISSING
        at += 1
    return value


def _map(items: list[Any] | tuple[Any, ...], steps: tuple[_Step, ...], at: int,
         parse_array: bool, explicit: bool) -> list[Any]:
    if at == len(steps):
        return list(items)
    out: list[Any] = []
    for item in items:
        found = _walk(item, steps, at, parse_array, explicit)
        if found is MISSING:
            continue
        if isinstance(item, list | tuple):
            # A nested list level was mapped too (found is a list): its values join this
            # flat list.
            out.extend(found)
        else:
            out.append(found)
    return out
