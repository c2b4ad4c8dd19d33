"""Building ``$context`` (the trigger variables) from a parsed request.

``$context = {"headers": {...}, "query": {...}, "body": ...}``: each configured item
``{key, alias?, _var?}`` stores the value at path ``key`` under ``_var`` when given, else
under ``key`` expanded into nested objects. A section without configured items holds the whole
parsed query or body; headers only ever hold configured items.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .paths import MAX_SET_INDEX, MISSING, Path, compile_path, set_path

__all__ = ["ContextBuilder", "FieldSpec"]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One configured request item: ``{"key": ..., "alias": ..., "_var": ...}``.

    ``key`` is a header name or a path into the query/body; ``alias`` is a display name only;
    ``var`` (``_var``) is the flat name to store the value under instead of ``key``.
    """

    key: str
    alias: str | None = None
    var: str | None = None

    @classmethod
    def from_dict(cls, item: Mapping[str, Any]) -> FieldSpec:
        """Read the definition form; an empty ``alias`` or ``_var`` counts as absent."""
        return cls(key=item["key"], alias=item.get("alias") or None, var=item.get("_var") or None)


# A compiled query/body item: its path, and the flat name to store under (None: store at the
# same path, expanded into nested objects).
_Item = tuple[Path, str | None]


def _compile_section(specs: Sequence[FieldSpec]) -> tuple[_Item, ...]:
    items: list[_Item] = []
    for spec in specs:
        path = compile_path(spec.key)
        if spec.var is None:
            # Checked here so that set_path can never fail while a request is being handled.
            for segment in path.segments:
                if segment.isascii() and segment.isdigit() and int(segment) > MAX_SET_INDEX:
                    raise ValueError(
                        f"invalid key {spec.key!r}: index {segment} is over {MAX_SET_INDEX}"
                    )
        items.append((path, spec.var))
    return tuple(items)


class ContextBuilder:
    """Builds ``$context`` for one workflow; compiled once, cheap per request, thread-safe."""

    __slots__ = ("_body", "_headers", "_query")

    def __init__(
        self,
        headers: Sequence[FieldSpec],
        query: Sequence[FieldSpec],
        body: Sequence[FieldSpec],
    ) -> None:
        """Compile the configured items; raise ValueError on an invalid query/body path."""
        for spec in headers:
            if not isinstance(spec.key, str) or not spec.key:
                raise ValueError("a header item needs a non-empty key")
        # Header names are stored flat, dots and all: they are names, not paths.
        self._headers: tuple[tuple[str, str], ...] = tuple(
            (spec.key, spec.var or spec.key) for spec in headers
        )
        self._query = _compile_section(query)
        self._body = _compile_section(body)

    def build(self, headers: Mapping[str, str], query: dict[str, Any], body: Any) -> dict[str, Any]:
        """Return ``{"headers", "query", "body"}`` for one request.

        ``headers`` is a case-insensitive mapping (``multidict.CIMultiDict``) whose repeated
        headers are already joined; missing headers and paths give None. Unconfigured sections
        share the given query/body object rather than copying it.
        """
        return {
            "headers": {store: headers.get(name) for name, store in self._headers},
            "query": _extract(self._query, query),
            "body": _extract(self._body, body),
        }


def _extract(items: tuple[_Item, ...], source: Any) -> Any:
    if not items:
        return source
    out: dict[str, Any] = {}
    for path, var in items:
        # Plain lodash get: a list met on the path is not mapped over.
        value = path.get(source)
        if value is MISSING:
            value = None
        if var is None:
            set_path(out, path, value)
        else:
            out[var] = value
    return out
