"""The ``string`` engine: the expression text with each placeholder spliced in as text.

It is NocoBase's text substitution: null, NaN and infinities become ``""``; any other value is
written as templates write it (numbers as JavaScript does, lists and objects as JSON). The
result is always a string; nothing is parsed or evaluated.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from ...errors import ExpressionError, TemplateError
from ..templates import Template, compile_template, find_placeholders, to_text
from .values import MAX_SOURCE, check_length

__all__ = ["compile_text"]


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return to_text(value)


def compile_text(source: str) -> Callable[[Mapping[str, Any]], str]:
    """A function rendering ``source`` against a scope; raise ExpressionError on a bad
    placeholder or a source over the size bound."""
    if len(source) > MAX_SOURCE:
        raise ExpressionError(f"expression longer than {MAX_SOURCE} characters")
    literals: list[str] = []
    lookups: list[Template] = []
    cursor = 0
    for start, end, _path, _default in find_placeholders(source):
        literals.append(source[cursor:start])
        try:
            lookups.append(compile_template(source[start:end]))
        except TemplateError as exc:
            raise ExpressionError(exc.reason) from None
        cursor = end
    tail = source[cursor:]
    pieces = tuple(zip(literals, lookups, strict=True))

    def render(scope: Mapping[str, Any]) -> str:
        out: list[str] = []
        size = len(tail)
        for literal, lookup in pieces:
            text = _text(lookup.render(scope))
            size += len(literal) + len(text)
            check_length(size)
            out.append(literal)
            out.append(text)
        out.append(tail)
        return "".join(out)

    return render
