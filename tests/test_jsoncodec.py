"""Both JSON backends give the same bytes and the same values (orjson is an optional speed-up)."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime
from typing import Any

import pytest

from webhook_workflow import jsoncodec

orjson = pytest.importorskip("orjson")

SAMPLES: list[Any] = [
    {"a": 1, "b": [1.5, "x", None, True], "c": {"d": "é✓"}},
    [],
    {"big": 10**30, "neg": -(2**70)},
    {"when": datetime(2026, 11, 28, 1, 18, 48, 123456, tzinfo=UTC), "day": date(2026, 1, 2)},
    {"nested": [[[{"k": "v"}]]]},
    "text",
    1e300,
]


@pytest.mark.parametrize("value", SAMPLES)
def test_encoders_agree(value: Any) -> None:
    fast, plain = jsoncodec._orjson_dumps_bytes(value), jsoncodec._stdlib_dumps_bytes(value)
    assert json.loads(fast) == json.loads(plain)
    if not isinstance(value, float):  # 1e300 vs 1e+300: both JSON, same number
        assert fast == plain


@pytest.mark.parametrize("text", [
    b'{"a": 1, "b": [true, false, null], "c": "\\u00e9"}', b"[1e300]",
    b'{"dup": 1, "dup": 2}', b"  [1, 2]  ",
])
def test_decoders_agree(text: bytes) -> None:
    assert jsoncodec._orjson_loads(text) == jsoncodec._stdlib_loads(text)


@pytest.mark.parametrize("text", [b'{"a": NaN}', b"[Infinity]", b"{", b"[1,]", b'"\\ud800"x'])
def test_decoders_refuse_the_same_input(text: bytes) -> None:
    with pytest.raises(ValueError):
        jsoncodec._stdlib_loads(text)
    with pytest.raises(ValueError):
        jsoncodec._orjson_loads(text)


def test_integers_beyond_64_bits() -> None:
    text = b'{"n": ' + b"9" * 40 + b"}"
    assert jsoncodec._stdlib_loads(text) == {"n": int("9" * 40)}  # exact
    assert jsoncodec._orjson_loads(text) == {"n": 1e40}  # a float, as in JavaScript


def test_datetimes_are_iso_utc_with_milliseconds() -> None:
    when = datetime(2026, 11, 28, 2, 18, 48, 123999, tzinfo=UTC)
    assert jsoncodec.dumps({"t": when}) == '{"t":"2026-11-28T02:18:48.123Z"}'
    assert not math.isnan(jsoncodec.loads(b"[1.5]")[0])
