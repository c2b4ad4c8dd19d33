"""The render functions compiled templates are made of: lookups, splices, dicts and lists.

Rendering runs on every request, so each piece is specialised once, when its template is
compiled. A placeholder lookup walks plain dicts in straight-line code and hands anything else
(a list to map over, another Mapping, a missing key) to the generic :meth:`Path.get` walk,
resumed where it stopped. A templated dict or list is one dict or list display.

The straight-line functions are generated Python. Their source depends on a shape only (how
many segments, which entries are templated), never on keys, values or paths: those reach the
generated factory as arguments, so no definition text is ever compiled. Each shape is compiled
once and cached.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any, Final

from .paths import MISSING, Path

__all__ = ["Render", "dict_render", "list_render", "lookup_render", "splice_render"]

#: A compiled template part: the scope (root names -> values) in, the rendered value out.
Render = Callable[[Mapping[str, Any]], Any]

# Beyond these sizes plain loops are used: such templates are rare, and the bound keeps the
# generated source (and its compile time) small.
_MAX_SEGMENTS: Final = 16
_MAX_ENTRIES: Final = 64


def _finish(found: Any, default: str | None) -> Any:
    """The value a placeholder renders to once its path has been read."""
    # Functions are called, which is how {{$system.now}} works; classes are not.
    if callable(found) and not isinstance(found, type):
        found = found()
    if found is None or found is MISSING:
        return default
    return found


@lru_cache(maxsize=512)
def _factory(source: str) -> Callable[..., Any]:
    """The ``make`` function defined by ``source`` (generated here from a shape only)."""
    namespace: dict[str, Any] = {"MISSING": MISSING, "finish": _finish}
    exec(compile(source, "<webhook_workflow template render>", "exec"), namespace)
    factory: Callable[..., Any] = namespace["make"]
    return factory


def _names(prefix: str, count: int) -> str:
    """``"p0, p1, ..., "``: the left side that unpacks a factory's tuple argument."""
    return "".join(f"{prefix}{i}, " for i in range(count))


# --- placeholder lookups ---------------------------------------------------------------------


def lookup_render(path: Path, default: str | None) -> Render:
    """The render of one placeholder: the value at ``path`` (lists mapped over, functions
    called) or ``default`` when that is missing or None."""
    count = len(path.segments)
    if count > _MAX_SEGMENTS:
        get = path.get

        def lookup(scope: Mapping[str, Any]) -> Any:
            return _finish(get(scope, map_lists=True), default)

        return lookup
    built: Render = _factory(_lookup_source(count))(path.segments, default, _resume(path, default))
    return built


def _resume(path: Path, default: str | None) -> Callable[[Any, int], Any]:
    """Finishes a lookup the plain-dict walk gave up on at segment ``start``."""
    # The rest of the path from each segment, made when first needed: most lookups only
    # ever meet plain dicts, and compiling stays cheap.
    tails: list[Callable[..., Any] | None] = [None] * len(path.segments)

    def resume(found: Any, start: int) -> Any:
        if found is MISSING:
            return default
        get = tails[start]
        if get is None:
            get = tails[start] = path.tail(start).get
        return _finish(get(found, map_lists=True), default)

    return resume


@lru_cache(maxsize=512)
def _lookup_source(count: int) -> str:
    # Each step is one type check and one dict.get; whatever is not a plain dict (MISSING
    # included) leaves for ``resume``. Subclasses of dict leave too: only the generic walk
    # decides how they are read.
    lines = [
        "def make(keys, default, resume):",
        f"    {_names('k', count)}= keys",
        "    def lookup(scope):",
        "        cur = scope",
    ]
    for i in range(count):
        lines += [
            "        if type(cur) is not dict:",
            f"            return resume(cur, {i})",
            f"        cur = cur.get(k{i}, MISSING)",
        ]
    lines += [
        "        if cur is None or cur is MISSING:",
        "            return default",
        "        if callable(cur):",
        "            return finish(cur, default)",
        "        return cur",
        "    return lookup",
    ]
    return "\n".join(lines) + "\n"


# --- splices and containers ------------------------------------------------------------------


def splice_render(
    head: str, pieces: Sequence[tuple[Render, str]], text: Callable[[Any], str]
) -> Render:
    """The render of a string with placeholders: ``head``, then each lookup's value as
    ``text`` followed by its literal, joined."""
    if len(pieces) > _MAX_ENTRIES:
        frozen = tuple(pieces)

        def splice(scope: Mapping[str, Any]) -> str:
            out = [head]
            for lookup, literal in frozen:
                out.append(text(lookup(scope)))
                out.append(literal)
            return "".join(out)

        return splice
    lookups = tuple(lookup for lookup, _literal in pieces)
    literals = tuple(literal for _lookup, literal in pieces)
    built: Render = _factory(_splice_source(len(pieces)))(head, lookups, literals, text)
    return built


@lru_cache(maxsize=512)
def _splice_source(count: int) -> str:
    # Text is the common value: it skips the conversion call.
    lines = [
        "def make(head, lookups, literals, text):",
        f"    {_names('l', count)}= lookups",
        f"    {_names('s', count)}= literals",
        "    def splice(scope):",
    ]
    for i in range(count):
        lines += [
            f"        v{i} = l{i}(scope)",
            f"        if type(v{i}) is not str:",
            f"            v{i} = text(v{i})",
        ]
    joined = "".join(f"v{i}, s{i}, " for i in range(count))
    lines += [f"        return ''.join((head, {joined}))", "    return splice"]
    return "\n".join(lines) + "\n"


def dict_render(entries: Sequence[tuple[Any, Render | None, Any, Render | None]]) -> Render:
    """The render of a dict given ``(key, key render, value, value render)`` per entry, a
    render being None for a static part."""
    templated_keys = any(key_render is not None for _key, key_render, _item, _r in entries)
    if templated_keys or len(entries) > _MAX_ENTRIES:
        # A display would render a templated key before its value, the loop renders the
        # value first: keep that order, which functions such as genSnowflakeId can observe.
        frozen = tuple(entries)

        def render_dict(scope: Mapping[str, Any]) -> dict[Any, Any]:
            # A templated key may repeat another: the later value wins, as in any dict.
            out: dict[Any, Any] = {}
            for key, key_render, item, item_render in frozen:
                out[key if key_render is None else key_render(scope)] = (
                    item if item_render is None else item_render(scope)
                )
            return out

        return render_dict
    shape = tuple(render is not None for _key, _key_render, _item, render in entries)
    parts = tuple(
        part
        for key, _key_render, item, render in entries
        for part in (key, item if render is None else render)
    )
    built: Render = _factory(_display_source(shape, "{", "}"))(parts)
    return built


def list_render(entries: Sequence[tuple[Any, Render | None]]) -> Render:
    """The render of a list given ``(value, render)`` per element (None when static)."""
    if len(entries) > _MAX_ENTRIES:
        frozen = tuple(entries)

        def render_list(scope: Mapping[str, Any]) -> list[Any]:
            return [item if render is None else render(scope) for item, render in frozen]

        return render_list
    shape = tuple(render is not None for _item, render in entries)
    parts = tuple(item if render is None else render for item, render in entries)
    built: Render = _factory(_display_source(shape, "[", "]"))(parts)
    return built


@lru_cache(maxsize=512)
def _display_source(shape: tuple[bool, ...], open_: str, close: str) -> str:
    # One display, in entry order: a dict's parts are (key, value) pairs, a list's are its
    # values; a templated value is called with the scope where it sits.
    width = 2 if open_ == "{" else 1
    items = []
    for i, templated in enumerate(shape):
        value = f"c{width * i + width - 1}" + ("(scope)" if templated else "")
        items.append(f"c{width * i}: {value}" if width == 2 else value)
    return (
        "def make(parts):\n"
        f"    {_names('c', width * len(shape))}= parts\n"
        "    def render(scope):\n"
        f"        return {open_}{', '.join(items)}{close}\n"
        "    return render\n"
    )
