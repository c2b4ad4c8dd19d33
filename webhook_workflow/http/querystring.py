"""Query-string parsing with the nesting rules of the ``qs`` convention.

``a[b][c]=x`` nests, ``a[]=x`` and ``a[0]=x`` build lists, repeated keys collect into
lists, and the ``depth`` / ``array_limit`` / ``parameter_limit`` guards degrade
silently instead of failing. The results (merge rules for conflicting keys included)
are those of ``qs`` with default options.

Two representations keep hostile input linear in time and memory: lists are built
sparse (``_Arr``), so ``a[999999]=x`` never allocates its holes even with a large
``array_limit``, and a list that outgrew the limit (``_Overflow``) remembers its
highest numeric key instead of rescanning all keys on every append. Merging runs
on an explicit work list, so a large ``depth`` cannot exhaust the Python stack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote, unquote_to_bytes

__all__ = [
    "DEFAULT_ARRAY_LIMIT",
    "DEFAULT_DEPTH",
    "DEFAULT_OPTIONS",
    "DEFAULT_PARAMETER_LIMIT",
    "QueryOptions",
    "parse_query",
]

DEFAULT_DEPTH: Final = 5
DEFAULT_ARRAY_LIMIT: Final = 20
DEFAULT_PARAMETER_LIMIT: Final = 1000


@dataclass(frozen=True, slots=True)
class QueryOptions:
    """Limits applied while parsing a query string.

    ``depth``: bracket groups split off a key; the rest stays one literal key.
    ``array_limit``: an index at or above it makes a mapping instead of a list,
    and a list longer than it becomes a mapping with string indices.
    ``parameter_limit``: ``&``-separated pairs read; later ones are ignored.
    """

    depth: int = DEFAULT_DEPTH
    array_limit: int = DEFAULT_ARRAY_LIMIT
    parameter_limit: int = DEFAULT_PARAMETER_LIMIT

    def __post_init__(self) -> None:
        """Reject a parameter limit that would read nothing."""
        if self.parameter_limit < 1:
            raise ValueError("parameter_limit must be a positive integer")


DEFAULT_OPTIONS: Final = QueryOptions()

_BRACKET: Final = re.compile(r"[\[\]]")


class _Arr:
    """A list being built: index -> item plus a length, so holes cost nothing."""

    __slots__ = ("items", "size")

    def __init__(self, size: int, items: dict[int, Any]) -> None:
        self.size = size
        self.items = items


def _as_int(key: str) -> int | None:
    """``int(key)`` or None; the overflow rules compare keys as ``int()`` reads them."""
    try:
        return int(key)
    except ValueError:
        return None


class _Overflow(dict[str, Any]):
    """A list that outgrew ``array_limit``: a mapping that scalars still append to."""

    __slots__ = ("top",)

    def __init__(self) -> None:
        super().__init__()
        self.top: int | None = None  # highest numeric key, kept so appends stay O(1)

    def put(self, key: str, value: Any) -> None:
        """Set ``key``, tracking the highest numeric key seen."""
        if key not in self:
            number = _as_int(key)
            if number is not None and (self.top is None or number > self.top):
                self.top = number
        self[key] = value

    def append(self, value: Any) -> None:
        """Store ``value`` after the highest numeric key."""
        self.put(str(0 if self.top is None else self.top + 1), value)


def _spill(arr: _Arr) -> _Overflow:
    """Turn an over-long list into a mapping keyed by the indices of its items."""
    out = _Overflow()
    items = arr.items
    for index in sorted(items):
        out[str(index)] = items[index]
    out.top = max(items) if items else None
    return out


def _unquote(token: str) -> str:
    """Percent-decode as ``urllib.parse.unquote`` does (bad UTF-8 -> U+FFFD)."""
    if token.isascii():
        # Same result for ASCII input, without unquote's per-chunk regex split.
        return unquote_to_bytes(token).decode("utf-8", "replace")
    return unquote(token, errors="replace")


def _pairs(text: str, options: QueryOptions) -> tuple[dict[str, Any], bool, bool]:
    """Split ``text`` into decoded key -> value, collecting repeated keys.

    Also returns whether any key may nest and whether a list became an ``_Overflow``.
    """
    if "%5" in text:
        # Encoded brackets in keys act as brackets; values are unaffected because
        # percent-decoding would produce the same character anyway.
        text = text.replace("%5B", "[").replace("%5b", "[").replace("%5D", "]").replace("%5d", "]")
    closes = "]" in text
    limit = options.parameter_limit
    array_limit = options.array_limit
    parts = text.split("&", limit)
    if len(parts) > limit:
        del parts[limit:]
    flat: dict[str, Any] = {}
    overflowed = False
    for part in parts:
        if not part:
            continue
        # A "]=" wins over an earlier "=" so that "a[=]=x" keeps "=" inside the key.
        cut = part.find("]=") + 1 if closes else 0
        if cut <= 0:
            cut = part.find("=")
        if cut < 0:
            key, value = part, ""
        else:
            key, value = part[:cut], part[cut + 1 :]
            if not key:
                continue
            if "+" in value:
                value = value.replace("+", " ")
            if "%" in value:
                value = _unquote(value)
        if "+" in key:
            key = key.replace("+", " ")
        if "%" in key:
            key = _unquote(key)
        old = flat.get(key)
        if old is None:
            flat[key] = value
        elif type(old) is str:
            pair = [old, value]
            if len(pair) > array_limit:
                flat[key] = _spill(_Arr(2, dict(enumerate(pair))))
                overflowed = True
            else:
                flat[key] = pair
        elif type(old) is list:
            if len(old) >= array_limit:
                old.append(value)
                flat[key] = _spill(_Arr(len(old), dict(enumerate(old))))
                overflowed = True
            else:
                old.append(value)
        else:
            old.append(value)
    return flat, "[" in text, overflowed


def _balanced_close(key: str, start: int) -> int:
    """Index of the "]" closing the "[" at ``start`` (nested pairs count), or -1."""
    level = 0
    for match in _BRACKET.finditer(key, start):
        level += 1 if match.group() == "[" else -1
        if level == 0:
            return match.start()
    return -1


def _segments(key: str, depth: int) -> list[str]:
    """Split ``a[b][c]`` into ``["a", "[b]", "[c]"]``; past ``depth`` the rest is one group."""
    if depth <= 0:
        return [key]
    start = key.find("[")
    segments = [key[:start]] if start > 0 else []
    count = 0
    while start >= 0 and count < depth:
        close = key.find("]", start + 1)
        if close >= 0 and key.find("[", start + 1, close) >= 0:
            close = _balanced_close(key, start)
        if close < 0:
            break  # unterminated: the remainder below keeps it
        segments.append(key[start : close + 1])
        count += 1
        start = key.find("[", close + 1)  # text between groups is dropped, as in qs
    if start >= 0:
        segments.append("[" + key[start:] + "]")
    return segments


def _build(segments: list[str], leaf: Any, array_limit: int) -> Any:
    """Wrap ``leaf`` in one container per key segment, innermost first."""
    for segment in reversed(segments):
        node: Any
        if segment == "[]":
            # "[]" around a list adds no level: the list itself is the value.
            node = leaf if type(leaf) is _Arr or type(leaf) is _Overflow else _Arr(1, {0: leaf})
            if type(node) is _Arr and node.size > array_limit:
                node = _spill(node)
        else:
            name = segment[1:-1] if segment[0] == "[" and segment[-1] == "]" else segment
            index = -1
            # Only a bracketed canonical decimal ("7", not "07" or "+7") is an index.
            if (
                name is not segment
                and name.isdigit()
                and name.isascii()
                and (name[0] != "0" or len(name) == 1)
            ):
                number = _as_int(name)  # None past int()'s digit limit: stays a key
                index = -1 if number is None else number
            node = _Arr(index + 1, {index: leaf}) if 0 <= index < array_limit else {name: leaf}
        leaf = node
    return leaf


_MAPS: Final = (dict, _Overflow)


def _step(target: Any, source: Any, limit: int, work: list[tuple[Any, Any, Any]]) -> Any:
    """Merge ``source`` into ``target`` one level deep; deeper merges go on ``work``."""
    if type(source) is str:
        if type(target) is _Arr:
            if target.size + 1 > limit:
                spilled = _spill(target)
                spilled.put(str(target.size), source)
                return spilled
            target.items[target.size] = source
            target.size += 1
            return target
        if type(target) is _Overflow:
            target.append(source)
            return target
        if type(target) is dict and source == "":
            return target
        return _Arr(2, {0: target, 1: source})
    if type(source) is _Arr:
        if type(target) is _Arr:
            items = target.items
            deeper: list[int] = []
            for index in sorted(source.items):
                value = source.items[index]
                if index not in items:
                    items[index] = value
                    target.size = max(target.size, index + 1)
                elif type(items[index]) in _MAPS and type(value) in _MAPS:
                    deeper.append(index)
                else:
                    items[target.size] = value
                    target.size += 1
            result: Any = target if target.size <= limit else _spill(target)
            for index in deeper:
                key: Any = index if result is target else str(index)
                work.append((result, key, source.items[index]))
            return result
        if type(target) is str:
            shifted = {index + 1: value for index, value in source.items.items()}
            shifted[0] = target
            arr = _Arr(source.size + 1, shifted)
            return arr if arr.size <= limit else _spill(arr)
        source = {str(index): source.items[index] for index in sorted(source.items)}
    elif type(target) is _Arr:
        converted: dict[str, Any] = _Overflow() if type(source) is _Overflow else {}
        for index in sorted(target.items):
            converted[str(index)] = target.items[index]
        if type(converted) is _Overflow:
            converted.top = max(target.items) if target.items else None
        target = converted
    elif type(target) is str:
        if type(source) is _Overflow:
            return _prepend(target, source)
        arr = _Arr(2, {0: target, 1: source})
        return arr if arr.size <= limit else _spill(arr)
    for key, value in source.items():
        if key in target:
            work.append((target, key, value))
        elif type(target) is _Overflow:
            target.put(key, value)
        else:
            target[key] = value
    return target


def _prepend(first: str, source: _Overflow) -> _Overflow:
    """Put ``first`` at "0" and shift the numeric keys of ``source`` up by one."""
    numbered = sorted(
        ((number, key) for key in source if (number := _as_int(key)) is not None),
        key=lambda pair: pair[0],
    )
    out = _Overflow()
    out.put("0", first)
    for number, key in numbered:
        out.put(str(number + 1), source[key])
    numeric = {key for _, key in numbered}
    for key, value in source.items():
        if key not in numeric:
            out.put(key, value)
    return out


def _merge(holder: Any, slot: Any, source: Any, limit: int) -> None:
    """Merge ``source`` into ``holder[slot]`` (which exists), in place."""
    work: list[tuple[Any, Any, Any]] = [(holder, slot, source)]
    while work:
        holder, slot, source = work.pop()
        store = holder.items if type(holder) is _Arr else holder
        store[slot] = _step(store[slot], source, limit, work)


def _finish(root: dict[str, Any]) -> dict[str, Any]:
    """Replace the build-time containers with plain lists and dicts, in place."""
    stack: list[Any] = [root]
    while stack:
        node = stack.pop()
        for key, value in node.items() if type(node) is dict else enumerate(node):
            if type(value) is _Arr:
                value = node[key] = [value.items[index] for index in sorted(value.items)]
            elif type(value) is _Overflow:
                value = node[key] = dict(value)
            if type(value) is dict or type(value) is list:
                stack.append(value)
    return root


def _nest(flat: dict[str, Any], options: QueryOptions) -> dict[str, Any]:
    """Build the nested result from the decoded pairs, in first-seen key order."""
    limit = options.array_limit
    box: list[Any] = [{}]
    out: dict[str, Any] = box[0]
    for key, value in flat.items():
        if type(value) is list:
            value = _Arr(len(value), dict(enumerate(value)))
        if "[" not in key:
            if key in out:
                _merge(out, key, value, limit)
            else:
                out[key] = value
            continue
        _merge(box, 0, _build(_segments(key, options.depth), value, limit), limit)
    return _finish(box[0])


def _text(query: bytes | str) -> str:
    """The query as text: UTF-8 with U+FFFD for bad bytes; a str carries bytes as latin-1."""
    if isinstance(query, str):
        if query.isascii():
            return query
        try:
            raw = query.encode("latin-1")
        except UnicodeEncodeError:
            # Lone surrogates must not raise; they come out as U+FFFD below.
            raw = query.encode("utf-8", "surrogatepass")
        return raw.decode("utf-8", "replace")
    return bytes(query).decode("utf-8", "replace")


def parse_query(query: bytes | str, options: QueryOptions = DEFAULT_OPTIONS) -> dict[str, Any]:
    """Parse a raw query string (no leading ``?`` stripping) into nested dicts/lists/str.

    ``query`` is the percent-encoded query as on the wire: ``bytes`` from ASGI, or a
    ``str`` from WSGI carrying those bytes as latin-1 (a str with characters above
    U+00FF is taken as already-decoded text). Percent-decoded bytes that are not UTF-8
    become U+FFFD. Never raises on any input; the result shares nothing between calls.
    """
    if not query:
        return {}
    flat, nested, overflowed = _pairs(_text(query), options)
    if not nested:
        if overflowed:
            for key, value in flat.items():
                if type(value) is _Overflow:
                    flat[key] = dict(value)
        return flat
    return _nest(flat, options)
