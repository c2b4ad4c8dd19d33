"""JSON answers serialised once: the static text of a templated body, with slots.

A Response body such as ``{"ok": true, "id": "{{$context.body.order.id}}"}`` is JSON whose
shape is fixed by the definition; only its templated leaves change per request. Encoding
the whole structure for every request would rebuild and walk it each time, so the body is
encoded once at registration with a marker in place of each templated leaf, and a request
encodes only the leaf values and joins them with the static text. The result is the JSON
of the rendered structure: the same encoder writes each leaf, and object key order is the
definition's.
"""

from __future__ import annotations

import json.encoder
from collections.abc import Callable, Mapping
from typing import Any

from ..jsoncodec import BACKEND, dumps_bytes
from ..variables.templates import Template, compile_template

__all__ = ["JsonPlan", "plan_json"]

_Render = Callable[[Mapping[str, Any]], Any]

# Text is most of what slots hold; with the stdlib backend its encoding is this one C
# function (the encoder's own choice for ``ensure_ascii=False``), without the encoder's
# Python-level ``encode`` around it. orjson is one call for any value anyway.
_QUOTE: Callable[[str], str] | None = (
    json.encoder.encode_basestring if BACKEND == "stdlib" else None)


class JsonPlan:
    """Static JSON text around slots; :meth:`render` gives the body bytes for one scope."""

    __slots__ = ("_head", "_pieces")

    def __init__(self, chunks: list[bytes], slots: list[_Render]) -> None:
        self._head = chunks[0]
        self._pieces = tuple(zip(slots, chunks[1:], strict=True))

    def render(self, scope: Mapping[str, Any]) -> bytes:
        """The encoded body for ``scope``."""
        out = [self._head]
        append = out.append
        for slot, chunk in self._pieces:
            value = slot(scope)
            if _QUOTE is not None and value.__class__ is str:
                append(_QUOTE(value).encode("utf-8"))  # what the stdlib encoder does for text
            else:
                append(dumps_bytes(value))
            append(chunk)
        return b"".join(out)


def plan_json(value: Any, roots: frozenset[str] | None = None) -> JsonPlan | None:
    """A plan for a dict or list body with templated leaves; None when there is nothing to
    gain or the shape is not fixed (a templated key, a body that is one template)."""
    if not isinstance(value, dict | list):
        return None
    slots: list[_Render] = []
    try:
        marked = _mark(value, slots, roots)
    except _NoPlan:
        return None
    if not slots:
        return None
    text = dumps_bytes(marked)
    chunks: list[bytes] = []
    rest = text
    for index in range(len(slots)):
        marker = dumps_bytes(_marker(index))
        head, found, rest = rest.partition(marker)
        if not found or marker in rest:
            return None  # the marker text also occurs elsewhere: do not guess
        chunks.append(head)
    chunks.append(rest)
    return JsonPlan(chunks, slots)


class _NoPlan(Exception):
    """The body cannot be planned (a templated object key)."""


def _marker(index: int) -> str:
    # NUL characters are escaped by every JSON encoder, so the encoded marker is a text no
    # static string of a definition is likely to produce; plan_json checks it is unique.
    return f"\x00slot {index}\x00"


def _mark(value: Any, slots: list[_Render], roots: frozenset[str] | None) -> Any:
    if isinstance(value, str):
        compiled: Template = compile_template(value, roots)
        if compiled.is_static:
            return value
        slots.append(compiled.render)
        return _marker(len(slots) - 1)
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if isinstance(key, str) and not compile_template(key, roots).is_static:
                raise _NoPlan
            out[key] = _mark(item, slots, roots)
        return out
    if isinstance(value, list):
        return [_mark(item, slots, roots) for item in value]
    return value
