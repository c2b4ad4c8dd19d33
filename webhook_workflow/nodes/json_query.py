"""``json-query``: query a JSON value with JSONPath, JMESPath or JSONata.

JSONPath (engine ids ``jsonpathplus`` and ``jsonpath``) is always available
(:mod:`.jsonpath_engines`); JMESPath and JSONata come with the optional extras ``jmespath`` and
``jsonata``. A definition naming an engine whose package is missing is refused at registration.
"""

from __future__ import annotations

import copy
import importlib
import json
import math
import sys
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from ..errors import DefinitionError
from ..fields import (
    Field,
    check_section,
    join,
    json_value,
    one_of,
    schema_hint,
    section_schema,
    string,
    type_name,
)
from ..records import Job
from ..status import Status
from ..variables.paths import MISSING, Path, compile_path
from ..variables.templates import Template, compile_template, to_text
from .base import Call, CompiledNode, NodeType, Outcome, RunContext
from .jsonata_errors import JsonataError, error_log, jsonata_fields
from .jsonpath_engines import MAX_EXPRESSION_LENGTH, QueryError, compile_jsonpath, quoted

__all__ = ["ENGINES", "NOCOBASE_DEFAULT_ENGINE", "OPTIONAL_ENGINES", "JsonQueryNode"]

#: The engine ids, first the default of native definitions.
ENGINES: Final = ("jsonpathplus", "jsonpath", "jmespath", "jsonata")
#: NocoBase's own default, which applies to its flat export form when ``engine`` is absent.
NOCOBASE_DEFAULT_ENGINE: Final = "jmespath"
#: Engines that need an optional package: engine -> (import name, PyPI package, extra).
OPTIONAL_ENGINES: Final = {
    "jmespath": ("jmespath", "jmespath", "jmespath"),
    "jsonata": ("jsonata", "jsonata-python", "jsonata"),
}
#: JSONata evaluations stop after this long (or at the execution's deadline, if sooner)...
JSONATA_TIMEOUT_MS: Final = 5000
#: ...or when its call stack is this deep (runaway recursion).
JSONATA_MAX_DEPTH: Final = 200
#: Largest result (values counted with repeats), so a result built from shared references
#: cannot grow past what can be stored and sent.
MAX_RESULT_VALUES: Final = 1_000_000

#: A compiled query: ``(data, seconds left or None) -> result``.
Query = Callable[[Any, float | None], Any]
Compiler = Callable[[str], Query]


class _Unavailable(Exception):
    """The engine's optional package is not installed."""


def _compiler(engine: str) -> Compiler:
    """The expression compiler of ``engine``; imports its package (raises _Unavailable)."""
    if engine not in OPTIONAL_ENGINES:
        return _jsonpath
    module_name, package, extra = OPTIONAL_ENGINES[engine]
    limit = sys.getrecursionlimit()
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise _Unavailable(f"engine {engine!r} needs the package {package}: "
                           f"pip install 'webhook-workflow[{extra}]'") from None
    finally:
        # jsonata-python sets the interpreter's recursion limit to 10000 when it is first
        # imported. That limit is the host's, not an engine's; JSONata's depth is bounded by
        # the time box (JSONATA_MAX_DEPTH), which the default limit leaves room for.
        sys.setrecursionlimit(limit)
    if engine == "jmespath":
        return _jmespath(module)
    if not hasattr(module, "Jsonata") or not hasattr(module, "Timebox"):
        raise _Unavailable(f"the installed {module_name!r} module is not {package}: "
                           f"pip install 'webhook-workflow[{extra}]'")
    return _jsonata(module)


def _jsonpath(text: str) -> Query:
    path = compile_jsonpath(text)
    return lambda data, _seconds: path.query(data)


def _jmespath(module: Any) -> Compiler:
    functions = module.functions

    def to_string(self: Any, arg: Any) -> str:
        # JMESPath's own to_string serialises without limit; a result built from shared
        # references ([@, @] nested) would take exponential time.
        return arg if isinstance(arg, str) else json.dumps(_plain(arg), separators=(",", ":"))

    base = functions.Functions
    bounded = type(base)("BoundedFunctions", (base,), {
        "_func_to_string": functions.signature({"types": []})(to_string)})
    options = module.Options(custom_functions=bounded())

    def compile_(text: str) -> Query:
        try:
            parsed = module.compile(text)
        except Exception as exc:  # JMESPathError; RecursionError on deep nesting
            raise QueryError(f"invalid JMESPath {quoted(text)}: {exc}") from None
        return lambda data, _seconds: parsed.search(data, options=options)

    return compile_


def _jsonata(module: Any) -> Compiler:
    def compile_(text: str) -> Query:
        prefix = f"invalid JSONata {quoted(text)}: "
        try:
            expr = module.Jsonata(text)
        except Exception as exc:  # JException, and parser bugs on odd input
            fields = jsonata_fields(exc, text)
            if fields is not None:
                raise JsonataError(fields, prefix) from None
            raise QueryError(f"{prefix}{exc}") from None
        if expr.errors:
            raise QueryError(f"{prefix}{expr.errors[0]}")

        def run(data: Any, seconds: float | None) -> Any:
            limit = JSONATA_TIMEOUT_MS if seconds is None else min(
                JSONATA_TIMEOUT_MS, max(1, int(seconds * 1000)))
            frame = module.Jsonata.Frame(None)
            # A fresh time box per run: its clock starts now and its depth counter is ours.
            module.Timebox(frame, limit, JSONATA_MAX_DEPTH)
            try:
                return copy.copy(expr).evaluate(data, frame)
            except Exception as exc:
                # JSONata's own error object (code, position, token ...), read from the
                # traceback before it is dropped.
                fields = jsonata_fields(exc, text)
                if fields is None:
                    raise
                raise JsonataError(fields) from None

        return run

    return compile_


def _plain(value: Any) -> Any:
    """A plain JSON copy of an engine's result (lists for tuples and engine list types,
    None for non-finite floats); QueryError when it is too large or not JSON."""
    left = MAX_RESULT_VALUES
    holder: list[Any] = [None]
    stack: list[tuple[Any, Any, Any]] = [(value, holder, 0)]
    while stack:
        item, target, key = stack.pop()
        left -= 1
        if left < 0:
            raise QueryError(f"the result holds more than {MAX_RESULT_VALUES} values")
        if isinstance(item, Mapping):
            out: dict[str, Any] = {}
            target[key] = out
            for name, child in item.items():
                if not isinstance(name, str):
                    raise QueryError("the result has an object key that is not a string")
                out[name] = None  # keeps the key order
                stack.append((child, out, name))
        elif isinstance(item, list | tuple):
            items: list[Any] = [None] * len(item)
            target[key] = items
            stack.extend((child, items, i) for i, child in enumerate(item))
        elif isinstance(item, float):
            target[key] = item if math.isfinite(item) else None
        elif item is None or isinstance(item, str | int | date):
            target[key] = item
        else:
            raise QueryError(f"the result holds a {type(item).__name__}, not a JSON value")
    return holder[0]


# -- config ----------------------------------------------------------------------------------


@schema_hint({"type": ["string", "null"]})
def _optional_text(value: Any, path: str) -> str | None:
    return None if value is None else string()(value, path)


_MODEL_FIELDS = (
    Field("path", string(), doc="where the value is in each result object"),
    Field("alias", _optional_text, None, "output key; default: the path with '.' -> '_'"),
    Field("label", _optional_text, None, "display name only"),
)


def _model_key(item: Mapping[str, Any]) -> str:
    return str(item["alias"] or item["path"].replace(".", "_"))


@schema_hint(lambda: {"type": "array", "items": section_schema(_MODEL_FIELDS)})
def _model(value: Any, path: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise DefinitionError(path, f"must be an array, got {type_name(value)}")
    out: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(value):
        item = check_section(raw, _MODEL_FIELDS, join(path, i))
        try:
            compile_path(item["path"])
        except ValueError as exc:
            raise DefinitionError(join(join(path, i), "path"), str(exc)) from None
        key = _model_key(item)
        if key in seen:
            raise DefinitionError(join(path, i), f"output key {key!r} is already the key of "
                                  f"{join(path, seen[key])}")
        seen[key] = i
        out.append(item)
    return out


@schema_hint({"type": "string", "maxLength": MAX_EXPRESSION_LENGTH, "pattern": r"\S"})
def _expression(value: Any, path: str) -> str:
    text: str = string(max_length=MAX_EXPRESSION_LENGTH)(value, path)
    if not text.strip():
        raise DefinitionError(path, "must not be empty")
    return text


@dataclass(frozen=True, slots=True)
class _Prepared:
    engine: str
    compiler: Compiler
    source: Template
    expression: Template
    #: The compiled query when the expression has no placeholder, else None (compiled per run).
    query: Query | None
    model: tuple[tuple[str, Path], ...]


class JsonQueryNode(NodeType):
    """Query ``source`` with ``expression`` and optionally map the result through ``model``."""

    type_name = "json-query"
    summary = "queries a JSON value with JSONPath, JMESPath or JSONata"
    fields = (
        Field("engine", one_of(*ENGINES), "jsonpathplus",
              "`jsonpathplus`/`jsonpath` (JSONPath); `jmespath`, `jsonata` with their extras"),
        Field("source", json_value, doc="the value to query; templates allowed, usually "
              "`{{$jobsMapByNodeKey.<key>}}` or `{{$context.body}}`"),
        Field("expression", _expression, doc="the query; placeholders are spliced in as text "
              f"before it is compiled; at most {MAX_EXPRESSION_LENGTH} characters"),
        Field("model", _model, [], "`[{path, alias?, label?}]`: map each result object to "
              "`{alias or path with '.' -> '_': value at path}`"),
    )

    def prepare(self, config: dict[str, Any], path: str) -> _Prepared:
        engine = config["engine"]
        try:
            compiler = _compiler(engine)
        except _Unavailable as exc:
            raise DefinitionError(join(path, "engine"), str(exc)) from None
        templates: dict[str, Template] = {}
        for name in ("source", "expression"):
            try:
                templates[name] = compile_template(config[name])
            except ValueError as exc:
                raise DefinitionError(join(path, name), str(exc)) from None
        query = None
        if templates["expression"].is_static:
            try:
                query = compiler(config["expression"])
            except QueryError as exc:
                raise DefinitionError(join(path, "expression"), str(exc)) from None
        model = tuple((_model_key(item), compile_path(item["path"])) for item in config["model"])
        return _Prepared(engine, compiler, templates["source"], templates["expression"], query,
                         model)

    def run(self, node: CompiledNode, prev: Job | None,
            proc: RunContext) -> Generator[Any, Any, Outcome]:
        prepared: _Prepared = node.prepared
        text: str = node.config["expression"]
        try:
            data = proc.render(prepared.source)
            if prepared.query is None:
                text = to_text(proc.render(prepared.expression))
            seconds = None if proc.deadline is None else proc.deadline - proc.clock.monotonic()
            # Evaluation is CPU work that may take a while: under ASGI it runs in a thread.
            result = yield Call(_execute, (prepared, text, data, seconds))
        except Exception as exc:
            # NocoBase's shape: result null, the error's fields in the job's log.
            return Job(Status.ERROR, None, error_log(exc))
        return Job(Status.RESOLVED, result)


def _execute(prepared: _Prepared, text: str, data: Any, seconds: float | None) -> Any:
    query = prepared.query
    if query is None:
        if len(text) > MAX_EXPRESSION_LENGTH:
            raise QueryError(f"the expression is longer than {MAX_EXPRESSION_LENGTH} "
                             "characters once its placeholders are filled in")
        query = prepared.compiler(text)
    result = _plain(query(data, seconds))
    if prepared.model:
        if isinstance(result, list):
            return [_map_item(item, prepared.model) for item in result]
        if isinstance(result, dict):
            return _map_item(result, prepared.model)
    return result


def _map_item(item: Any, model: tuple[tuple[str, Path], ...]) -> dict[str, Any]:
    """``{key: value at path}`` for one result item; a scalar item maps to ``{}`` as in
    NocoBase."""
    if not isinstance(item, dict | list):
        return {}
    out: dict[str, Any] = {}
    for key, path in model:
        found = path.get(item)
        out[key] = None if found is MISSING else found
    return out
