"""Response bodies serialised once with slots give the JSON of the rendered body."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webhook_workflow import jsoncodec
from webhook_workflow.http import json_plan
from webhook_workflow.http.json_plan import plan_json
from webhook_workflow.variables.templates import compile_template

BACKENDS = ["stdlib"] + (["orjson"] if jsoncodec.HAVE_ORJSON else [])

BODY = {"ok": True, "id": "{{$context.x}}", "request": "r-{{$context.y}}",
        "items": [1, "{{$context.x}}", {"deep": "{{$context.y}}", "n": None}], "s": "plain"}

leaves = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
)
values = st.recursive(leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=4)),
    max_leaves=12)


def _dumps(backend: str) -> Callable[[Any], bytes]:
    name = "_stdlib_dumps_bytes" if backend == "stdlib" else "_orjson_dumps_bytes"
    dumps: Callable[[Any], bytes] = getattr(jsoncodec, name)
    return dumps


def _same_json(left: bytes, right: bytes) -> bool:
    def norm(value: Any) -> Any:  # NaN never equals itself; both sides write null anyway
        return None if isinstance(value, float) and math.isnan(value) else value
    return bool(json.loads(left, parse_constant=norm) == json.loads(right, parse_constant=norm))


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=150, deadline=None)
@given(x=values, y=values)
def test_plan_matches_encoding_the_rendered_body(backend: str, x: Any, y: Any) -> None:
    """Each backend as the library would pick it at import: its encoder for the static text
    and the slots, and (stdlib) the C text quoting for text slots."""
    dumps = _dumps(backend)
    quote = json.encoder.encode_basestring if backend == "stdlib" else None
    with mock.patch.object(json_plan, "dumps_bytes", dumps), \
            mock.patch.object(json_plan, "_QUOTE", quote):
        plan = plan_json(BODY)
        assert plan is not None
        scope = {"$context": {"x": x, "y": y}}
        got = plan.render(scope)
    expected = dumps(compile_template(BODY).render(scope))
    assert _same_json(got, expected), (got, expected)
    if backend == "stdlib":
        assert got == expected  # same encoder, same bytes


def test_bodies_that_are_not_planned() -> None:
    assert plan_json("{{$context.x}}") is None  # the rendered value picks the content type
    assert plan_json({"{{$context.k}}": 1}) is None  # templated key: shape not fixed
    assert plan_json({"a": "static"}) is None  # nothing to fill in
    # A static string that encodes like a slot marker is not mistaken for one.
    assert plan_json({"a": "\x00slot 0\x00", "b": "{{$context.x}}"}) is None
