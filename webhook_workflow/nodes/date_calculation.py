"""``dateCalculation``: start from a date (or a number) and apply steps, each feeding the next.

Steps such as ``add``, ``diff``, ``startOfTime`` or ``format``.

NocoBase's date-calculation node, whose steps are dayjs calls; the arithmetic itself lives in
:mod:`webhook_workflow.variables.dates`. The whole config is a template rendered per run.
Function names, the chain of value kinds and literal arguments are checked at registration;
templated arguments are checked when rendered, and a bad one makes an ERROR job.
"""

from __future__ import annotations

import calendar
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import partial
from typing import Any, Final

from ..errors import DefinitionError, TemplateError
from ..fields import NO_DEFAULT, Field, Schema, join, json_value, one_of, schema_hint, type_name
from ..records import Job
from ..status import Status
from ..variables import dates
from ..variables.dates import DateError
from ..variables.templates import Template, compile_template
from .base import CompiledNode, NodeType, Outcome, RunContext

__all__ = ["FUNCTIONS", "DateCalculationNode"]


# --- argument checks: each returns the value to use or raises DateError -----------------------

# Linear on any text (an optional dot between two digit runs would backtrack quadratically).
_NUMBER_TEXT: Final = re.compile(r"\s*[+-]?(\d+(?:\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*")


def _show(value: Any) -> str:
    if value is None:
        return "null"
    text = ("true" if value else "false") if isinstance(value, bool) else repr(value)
    return f"{type_name(value)} {text[:57] + '...' if len(text) > 60 else text}"


def _number(value: Any) -> int | float:
    # Numeric text is accepted: values from a query string or a form are always text.
    if isinstance(value, str) and _NUMBER_TEXT.fullmatch(value):
        value = dates.plain_number(float(value))
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return dates.plain_number(value)
    raise DateError(f"must be a number, got {_show(value)}")


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise DateError(f"must be true or false, got {_show(value)}")
    return value


def _rounding(value: Any) -> int | None:
    if value is False:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and value in (0, 1, -1):
        return int(value)
    raise DateError("must be false (keep the fraction), 0 (round), 1 (round up) or -1 (round "
                    f"down), got {_show(value)}")


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise DateError(f"must be a string, got {_show(value)}")
    return value


def _zone_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DateError(f"must be a time zone name such as 'Europe/Amsterdam', got {_show(value)}")
    return value  # looked up when the step runs: zone data may differ between machines


def _date(value: Any) -> Any:
    if dates.parse_date(value, UTC) is None:
        raise DateError(f"{_show(value)} is not a valid date")
    return value  # parsed when the step runs, in the zone the calculation is in by then


# --- the functions --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Arg:
    check: Callable[[Any], Any]
    default: Any = NO_DEFAULT


@dataclass(frozen=True, slots=True)
class _Function:
    """What a step function takes (``date`` or ``number``), gives, and its arguments."""

    needs: str
    gives: str
    args: Mapping[str, _Arg]


_UNIT: Final = _Arg(dates.unit_of, "day")
_ROUND: Final = _Arg(_rounding, False)
_TS_UNIT: Final = _Arg(partial(dates.unit_of, allowed=("millisecond", "second")), "millisecond")
# "date" (dayjs's name for the day of the month) is also a unit here.
_GET_UNIT: Final = _Arg(partial(dates.unit_of, allowed=(*dates.UNITS, "date")), "day")
_SHIFT: Final = {"number": _Arg(_number), "unit": _UNIT}

#: The step functions, by name.
FUNCTIONS: Final[Mapping[str, _Function]] = {
    "add": _Function("date", "date", _SHIFT),
    "subtract": _Function("date", "date", _SHIFT),
    "diff": _Function("date", "number", {"date": _Arg(_date), "unit": _UNIT,
                                         "isAbs": _Arg(_flag, False), "round": _ROUND}),
    "get": _Function("date", "number", {"unit": _GET_UNIT}),
    "startOfTime": _Function("date", "date", {"unit": _UNIT}),
    "endOfTime": _Function("date", "date", {"unit": _UNIT}),
    "isLeapYear": _Function("date", "boolean", {}),
    "format": _Function("date", "string", {"format": _Arg(_text, "YYYY-MM-DD")}),
    "transDuration": _Function("number", "number", {"unitBefore": _UNIT, "unitAfter": _UNIT,
                                                    "round": _ROUND}),
    "toTimestamp": _Function("date", "number", {"unit": _TS_UNIT}),
    "tsToDate": _Function("number", "date", {"unit": _TS_UNIT}),
    "changeTimezone": _Function("date", "date", {"timezone": _Arg(_zone_name)}),
}


def _value_of(arg: _Arg, raw: Any) -> Any:
    if raw is None:
        if arg.default is NO_DEFAULT:
            raise DateError("is required")
        raw = arg.default
    return arg.check(raw)


def _rounded(value: float, mode: int | None) -> int | float:
    if mode is None:
        return dates.plain_number(value)
    if mode == 0:
        return dates.js_round(value)
    return math.ceil(value) if mode == 1 else math.floor(value)


def _diff(moment: datetime, args: dict[str, Any]) -> int | float:
    other = dates.parse_date(args["date"], moment.tzinfo or UTC)
    if other is None:
        raise DateError(f"date: {_show(args['date'])} is not a valid date")
    result = dates.diff(moment, other, args["unit"])
    return _rounded(abs(result) if args["isAbs"] else result, args["round"])


_DATE_STEPS: Final[Mapping[str, Callable[[datetime, dict[str, Any]], Any]]] = {
    "add": lambda m, a: dates.add(m, a["number"], a["unit"]),
    "subtract": lambda m, a: dates.add(m, -a["number"], a["unit"]),
    "diff": _diff,
    "get": lambda m, a: dates.get(m, a["unit"]),
    "startOfTime": lambda m, a: dates.start_of(m, a["unit"]),
    "endOfTime": lambda m, a: dates.end_of(m, a["unit"]),
    "isLeapYear": lambda m, a: calendar.isleap(m.year),
    "format": lambda m, a: dates.format_date(m, a["format"]),
    "toTimestamp": lambda m, a: dates.to_ms(m) // (1000 if a["unit"] == "second" else 1),
}


def _apply(name: str, value: Any, args: dict[str, Any], zone: tzinfo) -> tuple[Any, tzinfo]:
    """One step: the new value and the zone later steps compute in."""
    if name == "changeTimezone":
        target = dates.zone_of(args["timezone"])
        return value.astimezone(target), target
    if name == "tsToDate":
        return dates.from_ms(value * (1000 if args["unit"] == "second" else 1), zone), zone
    if name == "transDuration":
        converted = dates.convert_duration(value, args["unitBefore"], args["unitAfter"])
        return _rounded(converted, args["round"]), zone
    return _DATE_STEPS[name](value, args), zone


def _read_input(value: Any, input_type: str, zone: tzinfo) -> Any:
    if input_type == "number":
        try:
            return _number(value)
        except DateError:
            raise DateError(f"Invalid input: {_show(value)} is not a number") from None
    moment = dates.parse_date(value, zone)
    if moment is None:
        raise DateError(f"Invalid input: {_show(value)} is not a date (ISO 8601 text, a "
                        "datetime or epoch milliseconds)")
    return moment


# --- registration ---------------------------------------------------------------------------


def _check_static(value: Any, path: str, check: Callable[[Any], Any]) -> None:
    """Run ``check`` on ``value`` now unless it holds a placeholder (checked when rendered)."""
    try:
        static = compile_template(value).is_static
    except TemplateError as exc:
        raise DefinitionError(path, str(exc)) from None
    if static:
        try:
            check(value)
        except DateError as exc:
            raise DefinitionError(path, str(exc)) from None


def _steps_schema() -> Schema:
    """What :func:`_steps` accepts: each function with its own arguments, the ones without a
    default given (not null)."""
    cases = []
    for name, spec in FUNCTIONS.items():
        needed = [key for key, arg in spec.args.items() if arg.default is NO_DEFAULT]
        arguments: Schema = {"propertyNames": {"enum": list(spec.args)}} if spec.args else {
            "maxProperties": 0}
        then: Schema = {"properties": {"arguments": arguments}}
        if needed:
            arguments.update(type="object", required=needed,
                             properties={key: {"not": {"type": "null"}} for key in needed})
            then["required"] = ["arguments"]
        cases.append({"if": {"properties": {"function": {"const": name}}}, "then": then})
    return {"type": ["array", "null"], "items": {
        "type": "object", "required": ["function"], "additionalProperties": False,
        "properties": {"function": {"enum": list(FUNCTIONS)},
                       "arguments": {"type": ["object", "null"]}},
        "allOf": cases}}


@schema_hint(_steps_schema)
def _steps(value: Any, path: str) -> list[dict[str, Any]]:
    """Check the steps; return them with every argument present (defaults filled in)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise DefinitionError(path, f"must be an array, got {type_name(value)}")
    out = []
    for i, step in enumerate(value):
        where = join(path, i)
        if not isinstance(step, Mapping):
            raise DefinitionError(where, f"must be an object, got {type_name(step)}")
        for key in step:
            if key not in ("function", "arguments"):
                raise DefinitionError(join(where, str(key)), "unknown field (allowed: "
                                      "arguments, function)")
        name = step.get("function")
        if not isinstance(name, str) or name not in FUNCTIONS:
            raise DefinitionError(join(where, "function"), "is required" if name is None else
                                  f"must be one of {', '.join(FUNCTIONS)}, got {_show(name)}")
        given = step.get("arguments") or {}
        if not isinstance(given, Mapping):
            raise DefinitionError(join(where, "arguments"), f"must be an object, got "
                                  f"{type_name(given)}")
        spec = FUNCTIONS[name]
        for key in given:
            if key not in spec.args:
                allowed = ", ".join(spec.args) or "none"
                raise DefinitionError(join(join(where, "arguments"), str(key)),
                                      f"unknown argument of {name!r} (allowed: {allowed})")
        arguments = {}
        for key, arg in spec.args.items():
            raw = given.get(key)
            _check_static(raw, join(join(where, "arguments"), key), partial(_value_of, arg))
            arguments[key] = arg.default if raw is None and arg.default is not NO_DEFAULT else raw
        out.append({"function": name, "arguments": arguments})
    return out


@dataclass(frozen=True, slots=True)
class _Plan:
    template: Template
    input_type: str
    #: True when no input is configured: the calculation starts from the current time.
    from_now: bool


class DateCalculationNode(NodeType):
    """Date arithmetic, differences, getters and formatting, step by step (dayjs semantics)."""

    type_name = "dateCalculation"
    summary = "calculates with dates step by step: add, diff, startOfTime, format ..."
    fields = (
        Field("input", json_value, None, "the date (ISO 8601 text, epoch ms) or number to start "
              "from; `null` is the current time; templates allowed"),
        Field("inputType", one_of("date", "number"), "date",
              "`date`: `input` is a date; `number`: `input` is a number"),
        Field("steps", _steps, [], "`[{function, arguments}]`, applied in order; each result "
              "feeds the next"),
    )

    def prepare(self, config: dict[str, Any], path: str) -> _Plan:
        input_type, value = config["inputType"], config["input"]
        if value is not None:
            _check_static(value, join(path, "input"), lambda v: _read_input(v, input_type, UTC))
        # Each function takes a date or a number, so the chain is checked here once.
        kind, source = input_type, f"the input (inputType {input_type!r})"
        for i, step in enumerate(config["steps"]):
            name = step["function"]
            needs = FUNCTIONS[name].needs
            if needs != kind:
                raise DefinitionError(join(join(join(path, "steps"), i), "function"),
                                      f"{name!r} needs a {needs}, but {source} gives a {kind}")
            kind, source = FUNCTIONS[name].gives, f"steps[{i}] ({name})"
        return _Plan(compile_template(config), input_type, value is None)

    def run(self, node: CompiledNode, prev: Job | None, proc: RunContext) -> Outcome:
        plan: _Plan = node.prepared
        try:
            result = _calculate(plan, proc.render(plan.template), proc.timezone)
        except DateError as exc:
            return Job(Status.ERROR, {"message": str(exc)})
        return Job(Status.RESOLVED, result)


def _calculate(plan: _Plan, config: dict[str, Any], zone_name: str) -> Any:
    try:
        zone = dates.zone_of(zone_name)
    except DateError as exc:
        raise DateError(f"engine time zone: {exc}") from None
    source = datetime.now(UTC) if plan.from_now else config["input"]
    value = _read_input(source, plan.input_type, zone)
    for i, step in enumerate(config["steps"]):
        name = step["function"]
        where = f"steps[{i}] ({name})"
        args = {}
        for key, arg in FUNCTIONS[name].args.items():
            try:
                args[key] = _value_of(arg, step["arguments"][key])
            except DateError as exc:
                raise DateError(f"{where}: {key}: {exc}") from None
        try:
            value, zone = _apply(name, value, args, zone)
        except DateError as exc:
            raise DateError(f"{where}: {exc}") from None
        except (OverflowError, ValueError):
            raise DateError(f"{where}: the date is out of range (years 1..9999)") from None
    return value
