"""Query-string parsing with the nesting rules of the ``qs`` convention (default options).

``a[b][c]=x`` nests, ``a[]=x`` / ``a[0]=x`` build lists, repeated keys collect into lists,
and the ``depth`` / ``array_limit`` / ``parameter_limit`` guards degrade silently.

Hostile input stays linear in time and memory: lists are built sparse (``_Arr``), so a
large index never allocates its holes; a list that outgrew the limit (``_Overflow``)
remembers its highest numeric key rather than rescanning keys on each append; merging
runs on an explicit work list, so a large ``depth`` cannot exhaust the Python stack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote, unquote_to_bytes

from ..variables.paths import paths_from_json

__all__ = ["DEFAULT_ARRAY_LIMIT", "DEFAULT_DEPTH", "DEFAULT_OPTIONS", "DEFAULT_PARAMETER_LIMIT"]
__all__ += ["QueryOptions", "parse_query", "paths_from_url"]

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
    """``int(key)`` or None: overflowed lists order their keys as ``int()`` reads them."""
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
        """Set ``key``, tracking the highest numeric key."""
        if key not in self and (number := _as_int(key)) is not None:
            self.top = number if self.top is None else max(self.top, number)
        self[key] = value

    def append(self, value: Any) -> None:
        """Store ``value`` after the highest numeric key."""
        self.put(str(0 if self.top is None else self.top + 1), value)


def _spill(arr: _Arr) -> _Overflow:
    """Turn a list into a mapping keyed by the indices of its items."""
    out = _Overflow()
    for index in sorted(arr.items):
        out.put(str(index), arr.items[index])
    return out


def _combine(old: Any, value: str, limit: int) -> Any:
    """Add ``value`` after ``old`` (a repeated key): a list, or a mapping once too long."""
    if type(old) is _Overflow:
        old.append(value)
        return old
    arr = old if type(old) is _Arr else _Arr(1, {0: old})
    arr.items[arr.size] = value
    arr.size += 1
    return arr if arr.size <= limit else _spill(arr)


def _unquote(token: str) -> str:
    """Percent-decode as ``urllib.parse.unquote`` does (bad UTF-8 -> U+FFFD)."""
    if token.isascii():
        # Same result for ASCII input, without unquote's per-chunk regex split.
        return unquote_to_bytes(token).decode("utf-8", "replace")
    return unquote(token, errors="replace")


def _pairs(text: str, options: QueryOptions) -> tuple[dict[str, Any], bool, bool]:
    """Decoded key -> value with repeated keys collected; also: may nest? any repeat?"""
    if "%5" in text:
        # Encoded brackets count as brackets; values decode to the same text anyway.
        text = text.replace("%5B", "[").replace("%5b", "[").replace("%5D", "]").replace("%5d", "]")
    closes = "]" in text
    limit = options.parameter_limit
    parts = text.split("&", limit)
    del parts[limit:]
    flat: dict[str, Any] = {}
    repeated = False
    for part in parts:
        if not part:
            continue
        # A "]=" wins over an earlier "=", so "a[=]=x" keeps "=" inside the key.
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
        else:
            flat[key] = _combine(old, value, options.array_limit)
            repeated = True
    return flat, "[" in text, repeated


def _segments(key: str, depth: int) -> list[str]:
    """Split ``a[b][c]`` into ``["a", "[b]", "[c]"]``; past ``depth`` the rest is one group."""
    if depth <= 0:
        return [key]
    start = key.find("[")
    segments = [key[:start]] if start > 0 else []
    groups = 0
    while start >= 0 and groups < depth:
        close = key.find("]", start + 1)
        if close >= 0 and key.find("[", start + 1, close) >= 0:
            # A nested "[" (as in "[a[b]]"): count levels to find the matching "]".
            level, close = 0, -1
            for match in _BRACKET.finditer(key, start):
                level += 1 if match.group() == "[" else -1
                if level == 0:
                    close = match.start()
                    break
        if close < 0:
            break  # unterminated: the remainder below keeps it
        segments.append(key[start : close + 1])
        groups += 1
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
            # Only a bracketed canonical decimal ("7"; not "07", "+7", " 7") is an index;
            # int() gives None past its digit limit, so such a run stays a key.
            digits = name.isdigit() and name.isascii() and (name[0] != "0" or len(name) == 1)
            index = _as_int(name) if digits and name is not segment else -1
            if index is not None and 0 <= index < array_limit:
                node = _Arr(index + 1, {index: leaf})
            else:
                node = {name: leaf}
        leaf = node
    return leaf


def _step(target: Any, source: Any, limit: int, work: list[tuple[Any, Any, Any]]) -> Any:
    """Merge ``source`` into ``target`` one level deep; deeper merges go on ``work``."""
    if type(source) is str:
        if type(target) is _Arr or type(target) is _Overflow:
            return _combine(target, source, limit)
        if type(target) is dict and source == "":
            return target  # an empty value adds nothing to a mapping
        return _Arr(2, {0: target, 1: source})  # clashing shapes: keep both, in order
    if type(source) is _Arr:
        if type(target) is _Arr:
            items, deeper = target.items, []
            for index in sorted(source.items):
                value = source.items[index]
                if index not in items:
                    items[index] = value
                    target.size = max(target.size, index + 1)
                elif type(items[index]) in (dict, _Overflow) and type(value) in (dict, _Overflow):
                    deeper.append(index)
                else:  # a taken slot: the new item goes to the end
                    items[target.size] = value
                    target.size += 1
            result: Any = target if target.size <= limit else _spill(target)
            for index in deeper:
                slot: Any = index if result is target else str(index)
                work.append((result, slot, source.items[index]))
            return result
        if type(target) is str:
            shifted = {index + 1: value for index, value in source.items.items()}
            shifted[0] = target
            arr = _Arr(source.size + 1, shifted)
            return arr if arr.size <= limit else _spill(arr)
        source = dict(_spill(source))
    elif type(target) is _Arr:
        target = _spill(target) if type(source) is _Overflow else dict(_spill(target))
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
    """Put ``first`` at "0", then the numeric keys of ``source`` shifted up by one."""
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
    for key, value in flat.items():
        if "[" not in key:
            if key in box[0]:
                _merge(box[0], key, value, limit)
            else:
                box[0][key] = value
        else:
            _merge(box, 0, _build(_segments(key, options.depth), value, limit), limit)
    return _finish(box[0])


def _text(query: bytes | str) -> str:
    """The query as text: UTF-8 with U+FFFD for bad bytes; a str carries bytes as latin-1."""
    if not isinstance(query, str):
        raw = bytes(query)
    elif query.isascii():
        return query
    elif max(query) <= "\xff":
        raw = query.encode("latin-1")
    else:
        raw = query.encode("utf-8", "surrogatepass")  # lone surrogates become U+FFFD
    return raw.decode("utf-8", "replace")


def parse_query(query: bytes | str, options: QueryOptions = DEFAULT_OPTIONS) -> dict[str, Any]:
    """Parse a raw query string (a leading ``?`` is kept) into nested dicts/lists/str.

    ``query`` is percent-encoded as on the wire: ``bytes`` from ASGI, or a ``str`` from
    WSGI carrying those bytes as latin-1 (a str with characters above U+00FF is taken as
    text). Percent-decoded bytes that are not UTF-8 become U+FFFD. Never raises on any
    input; the result is built fresh on every call.
    """
    if not query:
        return {}
    text = _text(query)
    if "&" not in text and "%" not in text and "+" not in text and "[" not in text \
            and "]" not in text:
        # One plain pair (``source=shop``), the usual webhook query: nothing to decode,
        # split or nest.
        key, _, value = text.partition("=")
        return {key: value} if key else {}
    flat, nested, repeated = _pairs(text, options)
    if nested:
        return _nest(flat, options)
    return _finish(flat) if repeated else flat


def paths_from_url(url_or_query: str) -> list[str]:
    """Every path of the query string of a sample URL (or of a bare query string).

    Accepts ``https://host/p?a=1``, ``/p?a=1``, ``?a=1`` or ``a=1``; a URL without ``?`` has
    no query. The query is parsed with the same rules as live requests, so
    ``?query[0][a]=1&query[0][b]=2&x=3`` -> ``query``, ``query[0]``, ``query[0].a``,
    ``query[0].b``, ``x``.
    """
    text = url_or_query.strip().split("#", 1)[0]
    if "?" in text:
        query = text.split("?", 1)[1]
    elif "://" in text or text.startswith("/"):
        query = ""
    else:
        query = text
    return paths_from_json(parse_query(query))
