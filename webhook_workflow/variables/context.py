"""Building ``$context`` (the trigger variables) from a parsed request.

``$context = {"headers": {...}, "query": {...}, "body": ...}``: each configured item
``{key, alias?, _var?}`` stores the value at path ``key`` under ``_var`` when given, else
under ``key`` expanded into nested objects. A section without configured items holds the whole
parsed query or body; headers only ever hold configured items.

This runs for every request, so each builder is compiled into one generated function: items
sharing a prefix read it once (``order.id`` and ``order.status`` read ``body["order"]`` once)
and each section is written as one nested dict display. Its source holds generated names only;
keys, names and paths are passed in as constants. Sections the straight-line form cannot
express exactly (a list created by an index, one item's path inside another's, a repeated
``_var``) keep the generic path-by-path walk.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache, partial
from types import CodeType
from typing import Any, Final

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


_Build = Callable[[Mapping[str, Any], Any, Any], dict[str, Any]]

# Segments beyond which a path is read and written by the generic walk (see _straight).
_MAX_DEPTH: Final = 64


class ContextBuilder:
    """Builds ``$context`` for one workflow; compiled once, cheap per request, thread-safe.

    ``build(headers, query, body)`` returns ``{"headers", "query", "body"}`` for one request.
    ``headers`` is a case-insensitive mapping (any Mapping whose ``get`` ignores case) whose
    repeated headers are already joined; missing headers and paths give None. Unconfigured
    sections share the given query/body object rather than copying it. ``build`` is the
    compiled function itself, not a method, so that a request pays no extra call.
    """

    __slots__ = ("build",)

    build: _Build

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
        header_items = tuple((spec.key, spec.var or spec.key) for spec in headers)
        self.build = _generate(header_items, _compile_section(query), _compile_section(body))


def _written_into(items: tuple[_Item, ...]) -> tuple[bool, ...]:
    """For each item, whether a later item writes inside the place it is stored at.

    Such a value (``a`` before ``a.b``, or ``_var: "a"`` before ``a.x``) is stored as a copy:
    the later write would otherwise go into the parsed request's own object.
    """
    places = [(var,) if var is not None else path.segments for path, var in items]
    return tuple(any(len(later) > len(place) and later[:len(place)] == place
                     for later in places[i + 1:]) for i, place in enumerate(places))


def _tree_copy(value: Any) -> Any:
    """A copy of the dicts and lists of a parsed value (of their types; leaves are kept)."""
    if isinstance(value, dict):
        out = dict.__new__(type(value))  # no __init__: a subclass may want arguments
        dict.update(out, {key: _tree_copy(item) for key, item in value.items()})
        return out
    if isinstance(value, list):
        items = list.__new__(type(value))
        list.extend(items, [_tree_copy(item) for item in value])
        return items
    return value


def _extract(items: tuple[_Item, ...], copied: tuple[bool, ...], source: Any) -> Any:
    """The generic form of a configured section: each item read and stored in turn."""
    out: dict[str, Any] = {}
    for (path, var), copy in zip(items, copied, strict=True):
        # Plain lodash get: a list met on the path is not mapped over.
        value = path.get(source)
        if value is MISSING:
            value = None
        elif copy:
            value = _tree_copy(value)
        if var is None:
            set_path(out, path, value)
        else:
            out[var] = value
    return out


def _step(source: Any, segment: Path) -> Any:
    """One generic read (a list index, another Mapping, a scalar); None when nothing is
    there, which is also what a missing value is stored as."""
    found = segment.get(source)
    return None if found is MISSING else found


@lru_cache(maxsize=1024)
def _segment_path(segment: str) -> Path:
    """The one-segment path of ``segment`` (shared: builders repeat the same few keys)."""
    return compile_path(segment)


def _straight(items: tuple[_Item, ...]) -> bool:
    """Whether reading every path once and writing one display gives what ``_extract`` does.

    It does when ``set_path`` would only ever create dicts and never meet a value it stored
    before: no index after the first segment (that creates a list), no path equal to or
    inside another, and ``_var`` names neither repeated nor equal to a path's first segment.
    Very deep paths keep the generic walk too, which bounds the generated source.
    """
    nested = [path.segments for path, var in items if var is None]
    flat = [var for _path, var in items if var is not None]
    if any(len(path.segments) > _MAX_DEPTH for path, _var in items):
        return False
    if any(seg.isascii() and seg.isdigit() for segments in nested for seg in segments[1:]):
        return False
    if len(set(flat)) < len(flat) or set(flat) & {segments[0] for segments in nested}:
        return False
    unique = set(nested)
    return len(unique) == len(nested) and not any(
        segments[:i] in unique for segments in nested for i in range(1, len(segments))
    )


@dataclass
class _Node:
    """A path prefix: where its value is read into, and its children by segment."""

    read: str
    children: dict[str, _Node] = field(default_factory=dict)


class _Writer:
    """The generated source and the constants (keys, paths, functions) it names."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.constants: dict[str, Any] = {"step": _step}
        self._locals = 0

    def constant(self, value: Any) -> str:
        name = f"c{len(self.constants)}"
        self.constants[name] = value
        return name

    def local(self, prefix: str) -> str:
        self._locals += 1
        return f"{prefix}{self._locals}"

    def emit(self, line: str) -> None:
        self.lines.append("    " + line)


def _section(writer: _Writer, items: tuple[_Item, ...], source: str) -> str:
    """Emit the reads and writes of one section; return the expression of its value."""
    if not items:
        return source
    if not _straight(items):
        return f"{writer.constant(partial(_extract, items, _written_into(items)))}({source})"
    root = _Node(source)
    order = [root]
    leaves: list[_Node] = []
    for path, _var in items:
        node = root
        for segment in path.segments:
            child = node.children.get(segment)
            if child is None:
                child = node.children[segment] = _Node(writer.local("r"))
                order.append(child)
            node = child
        leaves.append(node)
    # Parents come before their children in ``order``, so every value is read before use.
    for node in order:
        if node.children:
            reads = [(child.read, segment) for segment, child in node.children.items()]
            writer.emit(f"if type({node.read}) is dict:")
            for read, segment in reads:
                writer.emit(f"    {read} = {node.read}.get({writer.constant(segment)})")
            writer.emit("else:")
            for read, segment in reads:
                single = writer.constant(_segment_path(segment))
                writer.emit(f"    {read} = step({node.read}, {single})")
    # The written shape: nested paths as nested dicts, ``_var`` items flat at the top, each
    # dict's keys in first-seen order as successive set_path calls leave them.
    top: dict[str, Any] = {}
    for (path, var), leaf in zip(items, leaves, strict=True):
        if var is not None:
            top[var] = leaf.read
            continue
        level = top
        for segment in path.segments[:-1]:
            level = level.setdefault(segment, {})
        level[path.segments[-1]] = leaf.read
    return _display(writer, top)


def _display(writer: _Writer, level: dict[str, Any]) -> str:
    """Emit the dict of ``level`` (values: read names or nested levels) into a local."""
    entries = []
    for key, value in level.items():
        inner = value if isinstance(value, str) else _display(writer, value)
        entries.append(f"{writer.constant(key)}: {inner}")
    name = writer.local("o")
    writer.emit(f"{name} = {{{', '.join(entries)}}}")
    return name


@lru_cache(maxsize=1024)
def _generate(
    headers: tuple[tuple[str, str], ...], query: tuple[_Item, ...], body: tuple[_Item, ...]
) -> _Build:
    """The build function of these items. It holds no state, so workflows configured alike
    (many registered copies of one definition) share one."""
    writer = _Writer()
    if headers:
        writer.emit("get = headers.get")
    pairs = [f"{writer.constant(store)}: get({writer.constant(name)})" for name, store in headers]
    writer.emit(f"found = {{{', '.join(pairs)}}}")
    query_value = _section(writer, query, "query")
    body_value = _section(writer, body, "body")
    writer.emit(f'return {{"headers": found, "query": {query_value}, "body": {body_value}}}')
    source = "def build(headers, query, body):\n" + "\n".join(writer.lines) + "\n"
    namespace = dict(writer.constants)
    exec(_compiled(source), namespace)
    build: _Build = namespace["build"]
    return build


@lru_cache(maxsize=256)
def _compiled(source: str) -> CodeType:
    # Workflows with the same shape of items share one code object.
    return compile(source, "<webhook_workflow context builder>", "exec")
