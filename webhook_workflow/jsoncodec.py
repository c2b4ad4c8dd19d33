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

import contextlib
import json
import math
import os
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

__all__ = ["BACKEND", "dumps", "dumps_bytes", "iso_datetime", "json_default", "json_safe", "loads"]


def iso_datetime(value: datetime) -> str:
    """``2026-11-28T01:18:48.123Z`` (JS ``toISOString``); a naive datetime is taken as UTC."""
    if value.utcoffset() is not None:
        # datetime.max with a negative offset cannot move to UTC: keep its wall time then.
        with contextlib.suppress(OverflowError):
            value = value.astimezone(UTC)
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:"
        f"{value.minute:02d}:{value.second:02d}.{value.microsecond // 1000:03d}Z"
    )


def json_default(value: Any) -> Any:
    """``default=`` hook for :func:`json.dumps`: datetimes and dates as ISO text."""
    if isinstance(value, datetime):
        return iso_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def json_safe(value: Any, active: frozenset[int] = frozenset()) -> Any:
    """A copy that strict JSON accepts: non-finite floats, integers too large to write (over
    Python's digit limit; JavaScript would hold Infinity) and cycles become None (as
    ``JSON.stringify`` writes ``null`` for NaN and Infinity)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 14_000:
        return None
    if not isinstance(value, Mapping | list | tuple):
        return value
    if id(value) in active:
        return None
    inner = active | {id(value)}
    if isinstance(value, Mapping):
        return {str(k): json_safe(v, inner) for k, v in value.items()}
    return [json_safe(v, inner) for v in value]


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
