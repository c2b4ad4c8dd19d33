"""JSON in and out, in one place: the stdlib by default, orjson with the ``speed`` extra.

Every request body is decoded and most answers are encoded here, so the codec objects are
built once (``json.dumps(..., separators=...)`` would build a new encoder on every call).
With orjson installed (``pip install 'webhook-workflow[speed]'``) it is used for both
directions; ``WEBHOOK_WORKFLOW_JSON=stdlib`` in the environment keeps the stdlib (the
benchmark compares both). A body orjson refuses is decoded again by the stdlib, which has
the last word on errors. One difference remains: orjson reads an integer beyond 64 bits as a
float, as JavaScript (and so NocoBase) does; the stdlib keeps it exact.
"""

from __future__ import annotations

import json
import os
from typing import Any

from .variables.templates import json_default, json_safe

__all__ = ["BACKEND", "dumps", "dumps_bytes", "loads"]


def _no_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity; JSON does not.
    raise ValueError(f"{name} is not valid JSON")


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=json_default,
                            allow_nan=False)
_DECODER = json.JSONDecoder(parse_constant=_no_constant)


def _stdlib_dumps_bytes(value: Any) -> bytes:
    try:
        return _ENCODER.encode(value).encode("utf-8")
    except ValueError:
        # NaN, Infinity or an integer too long to write: strict JSON has no such values,
        # so they are written as null, as JSON.stringify (and orjson) do.
        return _ENCODER.encode(json_safe(value)).encode("utf-8")


def _stdlib_loads(text: str | bytes) -> Any:
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return _DECODER.decode(text)


try:
    import orjson

    HAVE_ORJSON = True
except ImportError:  # the speed extra is not installed
    HAVE_ORJSON = False

if HAVE_ORJSON:
    # Datetimes go through json_default, so both backends write the same ISO form.
    _OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME

    def _orjson_dumps_bytes(value: Any) -> bytes:
        try:
            return bytes(orjson.dumps(value, default=json_default, option=_OPTIONS))
        except (TypeError, orjson.JSONEncodeError):
            # Values orjson refuses (integers beyond 64 bits ...) take the stdlib path.
            return _stdlib_dumps_bytes(value)

    def _orjson_loads(text: str | bytes) -> Any:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            return _stdlib_loads(text)


if HAVE_ORJSON and os.environ.get("WEBHOOK_WORKFLOW_JSON", "").lower() != "stdlib":
    dumps_bytes = _orjson_dumps_bytes
    loads = _orjson_loads
    BACKEND = "orjson"
else:
    dumps_bytes = _stdlib_dumps_bytes
    loads = _stdlib_loads
    BACKEND = "stdlib"


def dumps(value: Any) -> str:
    """Compact JSON text (UTF-8, no ASCII escaping, datetimes as ISO 8601)."""
    return dumps_bytes(value).decode("utf-8")
