"""JSONata's error objects (code, position, token, value, message) for jsonata-python errors.

JSONata (the JavaScript library NocoBase runs) throws plain objects such as ``{code: "T2002",
position: 3, token: "+", value: "a", message: ...}``, and NocoBase's ``json-query`` node logs
their fields. jsonata-python raises ``JException`` with the same codes but its own argument
order, often without a position, and with reworded messages. :func:`jsonata_fields` rebuilds
the JavaScript object: the raise site's arguments named as JSONata names them, the position
and token JSONata adds while the error leaves a binary operator or a function call (read from
the traceback's frames), and the message from JSONata's own templates. The package is never
imported here: exceptions and frames are read by their attributes.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from types import FrameType
from typing import Any, Final

from ..variables.templates import to_text
from .jsonata_messages import MESSAGES
from .jsonpath_engines import QueryError

__all__ = ["JsonataError", "error_log", "jsonata_fields"]

#: The longest text of one field; a field holding request data could be megabytes.
MAX_FIELD_TEXT: Final = 500
#: The longest message in a log.
MAX_MESSAGE_TEXT: Final = 2000

# jsonata-python's JException(code, location, current, expected, extra): what JSONata calls
# each of the three arguments, per code (from the raise sites of both implementations).
_ARGUMENTS: Final[dict[str, tuple[str, ...]]] = {
    "S0103": ("token",), "S0201": ("token",), "S0202": ("value", "token"),
    "S0203": ("value", "token"), "S0204": ("token",), "S0205": ("token",), "S0206": ("token",),
    "S0208": ("token",), "S0211": ("token",), "S0212": ("token",), "S0213": ("value",),
    "S0214": ("token",), "S0217": ("token",), "D1001": ("value",), "D1002": ("token", "value"),
    "T1003": ("value",), "D1009": ("value",), "T1005": ("token",), "T1006": ("token",),
    "T1007": ("token",), "T1008": ("token",), "T2001": ("token", "value"),
    "T2002": ("token", "value"), "T2003": ("value",), "T2004": ("value",), "T2006": ("value",),
    "T2007": ("value", "value2"), "T2008": ("value",), "T2009": ("value", "value2", "token"),
    "T2010": ("token", "value"), "T2011": ("value",), "T2012": ("value",), "D2014": ("value",),
    "T0410": ("index", "token"), "T0411": ("value", "index"),
    "T0412": ("index", "token", "type"), "D1012": ("value",), "D3040": ("value",),
    "D3060": ("value",), "D3061": ("value", "exp"), "D3137": ("message",),
    "D3141": ("message",),
}
# Fields JSONata's function sets at the raise site that jsonata-python leaves out.
_FIXED: Final[dict[str, dict[str, Any]]] = {
    "D3010": {"index": 2, "value": ""}, "D3011": {"index": 4}, "D3020": {"index": 3},
    "D3030": {"index": 1}, "D3040": {"index": 3}, "D3050": {"index": 1}, "D3060": {"index": 1},
    "D3061": {"index": 1}, "D3070": {"index": 1}, "S0207": {"token": "(end)"},
}
# Codes whose position JSONata gives where it raises them (the parser's, and the nodes that
# know their place); any other position comes from the operator or call the error leaves.
_POSITIONED: Final = frozenset({"D1002", "T1003", "D1004", "D1009", "D1013", "T1005", "T1006",
                                "T1007", "T1008", "T2006", "T2007", "T2008", "T2011", "T2012"})
_ARRAY_TYPES: Final = {"a": "arrays", "b": "booleans", "f": "functions", "n": "numbers",
                       "o": "objects", "s": "strings"}
# Failures jsonata-python leaves to Python where JSONata raises its own error:
# (function frame, exception type) -> (code, {field: local variable of that frame}).
_NATIVE: Final[dict[tuple[str, type[BaseException]], tuple[str, dict[str, str]]]] = {
    ("number", ValueError): ("D3030", {"value": "arg"}),
    ("datetime_to_millis", ValueError): ("D3110", {"value": "timestamp"}),
    ("power", OverflowError): ("D3061", {"value": "arg", "exp": "exp"}),
    ("sort", TypeError): ("D3070", {}),
}
# JSONata's number literal, for the token of S0102 (a number out of range).
_NUMBER: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[Ee][-+]?[0-9]+)?")
# Values jsonata-python does not pass on: JSONata's ``value`` is this local variable of the
# function that raised.
_LOCAL_VALUE: Final = {"D3010": "pattern", "D3011": "limit", "D3020": "limit"}
_BY_MESSAGE: Final = {text: code for code, text in MESSAGES.items() if "{{" not in text}
_CODE: Final = re.compile(r"[STD][0-9]{4}\Z")
_FIELDS_ORDER: Final = ("code", "position", "token", "value", "value2", "index", "type", "exp",
                        "functionName", "error")


class JsonataError(QueryError):
    """A JSONata error with its fields, in the order :func:`jsonata_fields` gives them; its
    text is ``prefix`` and the message, with the code, position and token."""

    def __init__(self, fields: dict[str, Any], prefix: str = "") -> None:
        self.fields = fields
        details = ", ".join(f"{name} {_string(fields[name])}" for name in
                            ("code", "position", "token") if name in fields)
        super().__init__(f"{prefix}{fields['message']} ({details})")


def error_log(exc: BaseException) -> str:
    """The job log of a failed query, as NocoBase's ``getErrorLog`` writes it: one
    ``key: value`` line per field of a JSONata error (JavaScript's ``stack`` aside), else the
    ``name`` and ``message`` of the exception."""
    fields = exc.fields if isinstance(exc, JsonataError) else {
        "name": type(exc).__name__, "message": str(exc)}
    return "\n".join(f"{key}: {_cut(value, MAX_MESSAGE_TEXT)}" if key == "message" else
                     f"{key}: {_string(value)}" for key, value in fields.items())


def jsonata_fields(exc: BaseException, source: str = "") -> dict[str, Any] | None:
    """The fields of the error JSONata would throw for ``exc`` (raised compiling or
    evaluating the expression ``source``), ``message`` last; None when ``exc`` is no JSONata
    error (a Python failure of the package, or one of its messages without a code)."""
    frames = _frames(exc)
    found = _raised(exc, frames)
    if found is None:
        return None
    code, fields = found
    if code == "S0102" and "token" not in fields and isinstance(fields.get("position"), int):
        number = _NUMBER.match(source, fields["position"])
        if number is not None:
            fields["token"] = number.group(0)
    if frames and frames[-1].f_code.co_name == "throw_validation_error":
        _signature_mismatch(fields, frames[-1])
    elif code == "T0412" and frames and "arg" in frames[-1].f_locals:
        fields["value"] = frames[-1].f_locals["arg"]
    elif code in _LOCAL_VALUE and frames and _LOCAL_VALUE[code] in frames[-1].f_locals:
        fields["value"] = frames[-1].f_locals[_LOCAL_VALUE[code]]
    _attribute(fields, frames)
    ordered: dict[str, Any] = {name: fields[name] for name in _FIELDS_ORDER if name in fields}
    ordered["message"] = _message(code, fields)
    return ordered


def _frames(exc: BaseException) -> list[FrameType]:
    """The traceback's frames inside the jsonata package, outermost first."""
    out: list[FrameType] = []
    tb = exc.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if isinstance(module, str) and module.split(".")[0] == "jsonata":
            out.append(tb.tb_frame)
        tb = tb.tb_next
    return out


def _raised(exc: BaseException, frames: list[FrameType]) -> tuple[str, dict[str, Any]] | None:
    """The code and the fields known where ``exc`` was raised."""
    error = getattr(exc, "error", None)
    if isinstance(exc, RecursionError) and any(f.f_code.co_name == "_eval" for f in frames):
        return "D1011", {"code": "D1011"}  # Python's stack ran out before the time box's
    if not isinstance(error, str):
        if not frames:
            return None
        innermost = frames[-1]
        for (function, kind), (code, names) in _NATIVE.items():
            if innermost.f_code.co_name == function and isinstance(exc, kind):
                local = innermost.f_locals
                found = {"code": code, **_FIXED.get(code, {})}
                found.update({name: local[var] for name, var in names.items() if var in local})
                return code, found
        return None
    known = error if _CODE.match(error) else _BY_MESSAGE.get(error)
    if known is None:
        return None
    code = known
    args = [getattr(exc, "current", None), getattr(exc, "expected", None),
            getattr(exc, "extra", None)]
    location = getattr(exc, "location", None)
    if code == "S0301" and args[0] is not None:
        code = "S0103"  # jsonata-python's code for an unsupported escape sequence
    fields: dict[str, Any] = {"code": code, **_FIXED.get(code, {})}
    for name, arg in zip(_ARGUMENTS.get(code, ()), args, strict=False):
        if arg is not None:
            fields[name] = arg
    if code == "T2006":
        fields.setdefault("value", None)  # JSONata writes the key even when it is undefined
    if code == "T0412" and "type" in fields:
        fields["type"] = _ARRAY_TYPES.get(str(fields["type"]), fields["type"])
    if code == "T2008" and isinstance(args[0], str | int | float) and args[1] is not None:
        fields["value"] = args[1]  # JSONata names the operand that is neither
    if isinstance(location, int) and not isinstance(location, bool):
        if code == "D3138":
            fields["index"] = location  # jsonata-python passes it as the location
        elif code == "D3100":
            fields["value"] = location
        elif code.startswith("S") and location >= 0:
            fields["position"] = location
        elif code in _POSITIONED and location > 0:
            # jsonata-python records no position for prefix operators ("-", "[", "{"): 0
            # there means unknown.
            fields["position"] = location
    if code in ("D3120", "D3121") and exc.__context__ is not None:
        inner = jsonata_fields(exc.__context__)
        fields["value"] = inner["message"] if inner else str(exc.__context__)
        fields["error"] = inner or {}
    if code == "S0208":
        for frame in reversed(frames):  # the parameter's number, from the parser's loop
            arg, arguments = frame.f_locals.get("arg"), getattr(
                frame.f_locals.get("self"), "arguments", None)
            if arg is not None and isinstance(arguments, list) and arg in arguments:
                fields["value"] = arguments.index(arg) + 1
                break
    return code, fields


def _signature_mismatch(fields: dict[str, Any], frame: FrameType) -> None:
    """T0410's argument as JSONata finds it: the first whose signature prefix fails to match
    the start of the arguments' signature (jsonata-python matches whole texts instead)."""
    local = frame.f_locals
    args, signature = local.get("bad_args"), local.get("bad_sig")
    params = getattr(local.get("self"), "_params", None)
    if not isinstance(args, list | tuple) or not isinstance(signature, str) or not params:
        return
    pattern, good_to = "^", 0
    for param in params:
        pattern += param.regex
        match = re.match(pattern, signature)
        if match is None:
            break
        good_to = match.end()
    fields["index"] = good_to + 1
    fields["value"] = args[good_to] if good_to < len(args) else None  # None: undefined


def _attribute(fields: dict[str, Any], frames: list[FrameType]) -> None:
    """Add the position and token JSONata adds as the error leaves operators and calls.

    From the innermost frame out: a binary operator whose own operation failed sets both;
    applying a function sets the position to its call's (the token only when there is none
    yet); a call's catch fills in what is still missing.
    """
    for i in range(len(frames) - 1, -1, -1):
        frame, name = frames[i], frames[i].f_code.co_name
        callee = frames[i + 1].f_code.co_name if i + 1 < len(frames) else ""
        local = frame.f_locals
        if name == "evaluate_binary" and callee not in ("eval", "_eval", ""):
            expr = local.get("expr")
            fields["position"] = getattr(expr, "position", None)
            fields["token"] = str(getattr(expr, "value", ""))
        elif name == "apply" and callee == "apply_inner":
            result = local.get("result")
            if "next" in local and result is not None:  # a tail call of the trampoline
                procedure = result.body.procedure
                if getattr(procedure, "type", None) == "variable":
                    fields.setdefault("token", procedure.value)
                fields["position"] = procedure.position or fields.get("position")
            else:
                proc = local.get("proc")
                if getattr(proc, "_jsonata_lambda", False) is True:
                    if getattr(proc, "token", None) is not None:
                        fields.setdefault("token", getattr(proc, "token", None))
                    fields["position"] = getattr(proc, "position", 0) or fields.get("position")
                else:
                    fields["builtin_call"] = True  # its call's position, set below
        elif name == "evaluate_function" and callee == "apply":
            expr = local.get("expr")
            if fields.pop("builtin_call", False) or not fields.get("position"):
                fields["position"] = getattr(expr, "position", None) or fields.get("position")
            if fields.get("token") is None and local.get("proc_name") is not None:
                fields["token"] = local["proc_name"]
    fields.pop("builtin_call", None)
    if fields.get("position") is None:
        fields.pop("position", None)


def _message(code: str, fields: Mapping[str, Any]) -> str:
    """JSONata's message: ``{{{name}}}`` is the field's text, ``{{name}}`` its JSON."""
    template = MESSAGES.get(code, code)
    text = re.sub(r"\{\{\{(\w+)\}\}\}", lambda m: _string(fields.get(m.group(1))), template)
    return re.sub(r"\{\{(\w+)\}\}", lambda m: _json(fields.get(m.group(1))), text)


def _cut(text: str, limit: int = MAX_FIELD_TEXT) -> str:
    text = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates cannot be stored
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _is_null(value: Any) -> bool:
    return type(value).__name__ == "NullValue"  # jsonata-python's JSON null (None is undefined)


def _string(value: Any) -> str:
    """JavaScript's ``String(value)``, as NocoBase writes each field into the log."""
    if value is None:
        return "undefined"
    if _is_null(value):
        return "null"
    if isinstance(value, str | bool | int | float):
        return _cut(to_text(value) if not isinstance(value, float) or math.isfinite(value)
                    else ("NaN" if value != value else "Infinity" if value > 0 else "-Infinity"))
    if isinstance(value, list | tuple):
        parts = ("" if item is None or _is_null(item) else _string(item)
                 for item in value[:MAX_FIELD_TEXT])
        return _cut(",".join(parts))
    return "[object Object]"


def _json(value: Any) -> str:
    """JavaScript's ``JSON.stringify(value)``, as JSONata writes a value into a message."""
    if value is None:
        return "undefined"
    return _cut(_json_text(value, 0))


def _json_text(value: Any, depth: int) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return to_text(value) if math.isfinite(value) else "null"
    if value is None or _is_null(value) or depth > 20:
        return "null"
    if isinstance(value, list | tuple):
        items = value[:MAX_FIELD_TEXT]  # the text is cut to this length anyway
        return "[" + ",".join(_json_text(item, depth + 1) for item in items) + "]"
    if isinstance(value, Mapping):
        pairs = list(value.items())[:MAX_FIELD_TEXT]
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:"
                              f"{_json_text(v, depth + 1)}" for k, v in pairs
                              if v is not None) + "}"
    return "{}"  # a function or another object of the engine
