"""Lodash-style paths: ``b.c``, ``query[0].a``, ``items.0``, ``$context.headers.x-signature``.

A path is compiled once (:func:`compile_path`) and then read with :meth:`Path.get` or written
with :func:`set_path`. :func:`paths_from_json` lists the paths of a sample value, as the
"parse" button of the NocoBase webhook trigger does (``paths_from_url``, for a sample URL's
query, is in :mod:`webhook_workflow.http.querystring`).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "MAX_SET_INDEX",
    "MISSING",
    "Path",
    "compile_path",
    "paths_from_json",
    "set_path",
]


class _Missing(enum.Enum):
    """Type of :data:`MISSING` (an enum so that type checkers know it is a singleton)."""

    MISSING = "MISSING"

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "MISSING"


#: "No value at that path" -- distinct from ``None``, which is a stored JSON ``null``.
MISSING: Final = _Missing.MISSING

#: Largest list index :func:`set_path` will create; lodash pads without limit, but a path
#: such as ``a[1000000000]`` in a definition would then allocate gigabytes per request.
MAX_SET_INDEX: Final = 10_000

# Characters that end a key segment; everything else (``-``, ``$``, ``@``, spaces ...) is part
# of a key, as in lodash.
_DELIMITERS: Final = frozenset(".[]")


def _list_index(segment: str) -> int | None:
    """The list index a segment denotes, or None.

    ``"01"`` is not an index: a JS array has no property ``"01"``, so lodash misses it too.
    """
    if segment.isascii() and segment.isdigit() and (segment == "0" or segment[0] != "0"):
        return int(segment)
    return None


@dataclass(frozen=True, slots=True)
class Path:
    """A compiled path: its source ``text`` and its ``segments`` (``"a[0].b"`` -> a, 0, b)."""

    text: str
    segments: tuple[str, ...]
    # One (key, list index or None, all digits) triple per segment, computed once so that
    # ``get`` does no string work at run time.
    _steps: tuple[tuple[str, int | None, bool], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        steps = tuple(
            (seg, _list_index(seg), seg.isascii() and seg.isdigit()) for seg in self.segments
        )
        object.__setattr__(self, "_steps", steps)

    def __str__(self) -> str:
        return self.text

    def tail(self, start: int) -> Path:
        """The rest of this path once its first ``start`` segments have been read.

        ``get`` on the tail continues a walk exactly where ``get`` on this path would be
        after ``start`` steps, since each step depends on its own segment only.
        """
        segments = self.segments[start:]
        if not segments:
            raise ValueError(f"path {self.text!r} has no segment after {start}")
        text = "".join(
            f"[{seg}]" if seg.isascii() and seg.isdigit() else f".{seg}" for seg in segments
        )
        return Path(text.removeprefix("."), segments)

    def get(self, value: Any, *, map_lists: bool = False) -> Any:
        """Return the value at this path in ``value``, or :data:`MISSING` when there is none.

        A segment is a key on a mapping (``"0"`` too) and an index on a list when it is a
        non-negative integer. With ``map_lists`` a non-numeric segment that meets a list is
        looked up in every element and the results are flattened one level, as NocoBase's
        ``appendArrayColumn`` does; the rest of the path then continues on that flat list.
        """
        cur = value
        for key, index, digits in self._steps:
            if isinstance(cur, dict):
                cur = cur.get(key, MISSING)
                if cur is MISSING:
                    return MISSING
            elif isinstance(cur, list | tuple):
                if index is not None:
                    if index >= len(cur):
                        return MISSING
                    cur = cur[index]
                elif map_lists and not digits:
                    cur = _column(cur, key)
                else:
                    return MISSING
            elif isinstance(cur, Mapping):
                # Scopes may be lazy mappings; plain dicts take the fast branch above.
                cur = cur.get(key, MISSING)
                if cur is MISSING:
                    return MISSING
            else:
                return MISSING
        return cur


def _column(items: list[Any] | tuple[Any, ...], key: str) -> list[Any]:
    """``key`` of every element, flattened one level; an element without it gives None.

    None keeps the result aligned with the source list (NocoBase keeps ``undefined`` there,
    which becomes ``null`` in JSON).
    """
    out: list[Any] = []
    for item in items:
        found = item.get(key) if isinstance(item, Mapping) else None
        if isinstance(found, list | tuple):
            out.extend(found)
        else:
            out.append(found)
    return out


def compile_path(text: str) -> Path:
    """Parse ``text`` into a :class:`Path`; raise ValueError when it is not a valid path.

    Keys are separated by ``.``; ``[n]`` (a non-negative integer) may follow a key or
    another ``[n]``, or start the path (``[0].a`` reads the first element of a list).
    """
    if not isinstance(text, str):
        raise ValueError(f"path must be a string, not {type(text).__name__}")
    if not text:
        raise ValueError("empty path")
    segments: list[str] = []
    length = len(text)
    i = 0
    after_dot = False
    while i < length:
        char = text[i]
        if char == "[":
            if after_dot:
                raise ValueError(f"invalid path {text!r}: '[' right after '.'")
            close = text.find("]", i + 1)
            if close < 0:
                raise ValueError(f"invalid path {text!r}: unclosed '['")
            inner = text[i + 1 : close]
            if not (inner.isascii() and inner.isdigit()):
                raise ValueError(
                    f"invalid path {text!r}: [{inner}] must hold a non-negative integer"
                )
            segments.append(inner)
            i = close + 1
        elif char == ".":
            if after_dot or not segments:
                raise ValueError(f"invalid path {text!r}: empty segment")
            after_dot = True
            i += 1
            continue
        elif char == "]":
            raise ValueError(f"invalid path {text!r}: unexpected ']'")
        else:
            if segments and not after_dot:
                raise ValueError(f"invalid path {text!r}: expected '.' or '[' after ']'")
            end = i
            while end < length and text[end] not in _DELIMITERS:
                end += 1
            segments.append(text[i:end])
            i = end
        after_dot = False
    if after_dot:
        raise ValueError(f"invalid path {text!r}: empty segment at the end")
    return Path(text, tuple(segments))


def set_path(target: dict[str, Any], path: Path, value: Any) -> None:
    """Store ``value`` at ``path`` in ``target``, creating containers as lodash ``set`` does.

    A missing or scalar intermediate becomes a list when the next segment is a list index
    (``a[0]`` -> ``{"a": [value]}``) and a dict otherwise; lists are padded with None.
    Existing dicts are reused (and written into); an existing list is reused only when the
    next segment is an index, otherwise it is replaced by a dict (a Python list cannot carry
    named properties as a JS array can). Raises ValueError for an index over
    :data:`MAX_SET_INDEX`.
    """
    steps = path._steps
    container: Any = target
    last = len(steps) - 1
    for pos, (key, index, _digits) in enumerate(steps):
        if pos == last:
            _store(container, key, index, value)
            return
        next_index = steps[pos + 1][1]
        child = _child(container, key, index)
        if not (isinstance(child, dict) or (isinstance(child, list) and next_index is not None)):
            child = [] if next_index is not None else {}
            _store(container, key, index, child)
        container = child


def _child(container: Any, key: str, index: int | None) -> Any:
    if isinstance(container, list):
        return container[index] if index is not None and index < len(container) else MISSING
    return container.get(key, MISSING)


def _store(container: Any, key: str, index: int | None, value: Any) -> None:
    # A list container only ever arrives here with an index: set_path creates or reuses a
    # list only when the segment that follows is an index.
    if isinstance(container, list):
        assert index is not None
        if index > MAX_SET_INDEX:
            raise ValueError(f"list index {index} is over the limit of {MAX_SET_INDEX}")
        if index >= len(container):
            container.extend([None] * (index + 1 - len(container)))
        container[index] = value
    else:
        container[key] = value


def paths_from_json(value: Any) -> list[str]:
    """Every path of a sample value, parents before children, in document order.

    ``{"a": 1, "b": {"c": 2}}`` -> ``["a", "b", "b.c"]``. Lists are explored element by
    element but a path is listed once per *shape* (its text with every index read as 0), under
    the first element that has it: ``{"items": [{"sku": 1}, {"sku": 2, "qty": 3}]}`` ->
    ``items``, ``items[0]``, ``items[0].sku``, ``items[1].qty``. So the keys of all elements
    are merged, and every listed path resolves on the sample. Keys that a path cannot spell
    (empty, or holding ``.``, ``[`` or ``]``) are skipped with their subtree.
    """
    out: list[str] = []
    seen: set[tuple[str | int, ...]] = set()
    # An explicit stack: sample bodies may nest deeper than Python's recursion limit.
    stack: list[tuple[Any, str, tuple[str | int, ...]]] = [(value, "", ())]
    while stack:
        node, prefix, shape = stack.pop()
        children: list[tuple[Any, str, tuple[str | int, ...]]] = []
        if isinstance(node, Mapping):
            for key, child in node.items():
                if not isinstance(key, str) or not key or not _DELIMITERS.isdisjoint(key):
                    continue
                children.append((child, f"{prefix}.{key}" if prefix else key, (*shape, key)))
        elif isinstance(node, list | tuple):
            # int 0 marks "some list element": dict keys are str, so the two never collide.
            children = [(child, f"{prefix}[{i}]", (*shape, 0)) for i, child in enumerate(node)]
        for child in reversed(children):
            stack.append(child)
        if shape and shape not in seen:
            seen.add(shape)
            out.append(prefix)
    return out
