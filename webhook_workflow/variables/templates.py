"""``{{ path }}`` templates: compiled once at registration, rendered per execution.

The rules follow NocoBase's ``json-templates``: a string that is exactly one placeholder
yields the value with its type; otherwise each placeholder is spliced in as text. Dict keys
and values, and list elements, are templates too; anything else passes through. Compiling
builds a tree of small closures, so rendering does no parsing and never uses ``eval``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final

from ..errors import DefinitionError, TemplateError
from ..fields import join
from ..jsoncodec import iso_datetime, json_default, json_safe
from .lookups import Render, dict_render, list_render, lookup_render, splice_render
from .paths import MISSING, Path, compile_path

__all__ = [
    "ALIAS",
    "ROOTS",
    "Template",
    "compile_template",
    "find_placeholders",
    "template",
    "to_text",
]

#: The variable roots a placeholder may start with.
ROOTS: Final = frozenset({"$context", "$jobsMapByNodeKey", "$scopes", "$system", "$env",
                          "$execution"})
# The roots the template being compiled may use (compile_template's ``roots``).
_ROOTS: ContextVar[frozenset[str]] = ContextVar("webhook_workflow_template_roots",
                                                default=ROOTS)

#: NocoBase 2.0 also exposes the scope as ``ctx``: ``{{ctx.$context.x}}`` is ``{{$context.x}}``.
ALIAS: Final = "ctx."

# NocoBase's placeholder characters plus ``[`` and ``]``, since our paths accept ``[n]``.
# Text such as ``{{#each}}`` or ``{{ "x" }}`` does not match and stays literal, as there.
_PLACEHOLDER: Final = re.compile(r"\{\{([\w\s:+,@/()?=*$.\-\[\]]+)\}\}")


def find_placeholders(text: str) -> list[tuple[int, int, str, str | None]]:
    """Every placeholder of ``text`` as ``(start, end, path, default)``.

    The text between the braces is trimmed, then split at its first ``:``: the path (trimmed)
    and the default, kept exactly as written (None without ``:``). Paths are not checked here.
    """
    found: list[tuple[int, int, str, str | None]] = []
    for match in _PLACEHOLDER.finditer(text):
        inner = match.group(1).strip()
        path, colon, default = inner.partition(":")
        found.append((match.start(), match.end(), path.rstrip(), default if colon else None))
    return found


def _compile_placeholder_path(text: str) -> Path:
    """Compile a placeholder's path, dropping the ``ctx.`` alias and checking the root."""
    if not text:
        raise TemplateError("empty placeholder {{}}")
    if text.startswith(ALIAS):
        text = text[len(ALIAS) :]
    try:
        path = compile_path(text)
    except ValueError as exc:
        raise TemplateError(f"invalid placeholder {{{{{text}}}}}: {exc}") from None
    root = path.segments[0]
    roots = _ROOTS.get()
    if root not in roots:
        expected = ", ".join(sorted(roots))
        raise TemplateError(
            f"unknown variable {root!r} in {{{{{text}}}}}; a path starts with one of {expected}"
        )
    return path


# --- text conversion ------------------------------------------------------------------------


def _js_number(value: float) -> str:
    """A float as JavaScript's ``Number.prototype.toString`` writes it."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value.is_integer() and abs(value) < 2.0**53:
        return str(int(value))  # exact below 2**53; also turns -0.0 into "0" as JS does
    sign = "-" if value < 0 else ""
    # repr gives the shortest round-tripping digits, the same digits JS picks; only the
    # layout (where the point goes, when to use an exponent) differs, so redo the layout.
    mantissa, _, exp_text = repr(abs(value)).partition("e")
    exponent = int(exp_text) if exp_text else 0
    int_part, _, frac_part = mantissa.partition(".")
    if int_part != "0":
        point = len(int_part) + exponent
        digits = int_part + frac_part
    else:
        stripped = frac_part.lstrip("0")
        point = exponent - (len(frac_part) - len(stripped))
        digits = stripped
    digits = digits.rstrip("0") or "0"
    count = len(digits)
    if count <= point <= 21:
        return sign + digits + "0" * (point - count)
    if 0 < point <= 21:
        return f"{sign}{digits[:point]}.{digits[point:]}"
    if -6 < point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    power = point - 1
    head = digits[0] + (f".{digits[1:]}" if count > 1 else "")
    return f"{sign}{head}e{'+' if power >= 0 else '-'}{abs(power)}"


def _lenient_default(value: Any) -> Any:
    # Splicing must not fail on a stray non-JSON object inside a container.
    if isinstance(value, date):
        return json_default(value)
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, set | frozenset):
        return list(value)
    return to_text(value)


def _compact_json(value: Any) -> str:
    options: dict[str, Any] = {
        "separators": (",", ":"),
        "ensure_ascii": False,
        "default": _lenient_default,
    }
    try:
        return json.dumps(value, allow_nan=False, **options)
    except (ValueError, TypeError):
        # Rare (NaN, a cycle, a non-text key): sanitise once rather than fail the render.
        return json.dumps(json_safe(value), **options)


def to_text(value: Any) -> str:
    """How a value is spliced into a string: the text conversion of templates.

    None and MISSING -> ``""``; ``str`` as is; ``bool`` -> ``true``/``false``; numbers as
    JavaScript writes them; datetime -> ISO 8601 UTC with milliseconds and ``Z``; date -> ISO
    date; dict/list -> compact JSON (datetimes inside in the same ISO form); else ``str()``.
    """
    if isinstance(value, str):
        return value
    if value is None or value is MISSING:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        try:
            return int.__repr__(value)  # int subclasses (IntEnum) as their number
        except ValueError:  # over Python's int-to-text digit limit: JS would hold a float
            try:
                return _js_number(float(value))
            except OverflowError:
                return "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, float):
        return _js_number(value)
    if isinstance(value, datetime):
        return iso_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping | list | tuple):
        return _compact_json(value)
    return str(value)


# --- compiled templates ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class Template:
    """A compiled template: immutable and safe to share between threads.

    ``render(scope)`` renders it against ``scope`` (keys are the root names, ``"$context"``
    ...). A static template returns the original value itself; a templated container is
    rebuilt, sharing its static parts. Treat the result as read-only. ``render`` is the
    compiled function itself, not a method, so that a render costs no extra call.

    ``is_static`` is true when no placeholder occurs anywhere; ``paths`` lists every
    placeholder path (``ctx.`` alias removed, first occurrence order, without repeats).
    Build one with :func:`compile_template`.
    """

    source: Any
    is_static: bool
    paths: tuple[str, ...]
    render: Render = field(repr=False)


def _constant(value: Any) -> Render:
    def render(scope: Mapping[str, Any]) -> Any:
        return value

    return render


def compile_template(value: Any, roots: frozenset[str] | None = None) -> Template:
    """Compile any JSON-like value; raise TemplateError on a bad placeholder.

    The message starts with where the placeholder sits inside ``value`` when it is nested
    (``items[0].name: unknown variable ...``). ``roots`` replaces the allowed variable roots
    (trigger guards see ``$context`` and ``$headers`` only).
    """
    paths: dict[str, None] = {}  # an ordered set
    token = _ROOTS.set(roots) if roots is not None else None
    try:
        render = _compile(value, "", paths)
    finally:
        if token is not None:
            _ROOTS.reset(token)
    if render is None:
        return Template(value, True, tuple(paths), _constant(value))
    return Template(value, False, tuple(paths), render)


def _located(where: str, exc: TemplateError) -> TemplateError:
    return TemplateError(exc.reason, where) if where else exc


def _compile(value: Any, where: str, paths: dict[str, None]) -> Render | None:
    """A render function for ``value``, or None when it holds no placeholder."""
    if isinstance(value, str):
        try:
            return _compile_string(value, paths, typed=True)
        except TemplateError as exc:
            raise _located(where, exc) from None
    if isinstance(value, dict):
        return _compile_dict(value, where, paths)
    if isinstance(value, list):
        return _compile_list(value, where, paths)
    return None


def _compile_string(text: str, paths: dict[str, None], *, typed: bool) -> Render | None:
    if "{{" not in text:
        return None
    spots = find_placeholders(text)
    if not spots:
        return None
    lookups: list[Render] = []
    for _start, _end, path_text, default in spots:
        path = _compile_placeholder_path(path_text)
        paths.setdefault(path.text)
        lookups.append(lookup_render(path, default))
    if len(spots) == 1 and spots[0][0] == 0 and spots[0][1] == len(text):
        # The whole string: the lookup itself is the render (typed), or its text (keys).
        only = lookups[0]
        return only if typed else lambda scope: to_text(only(scope))
    literals: list[str] = []
    cursor = 0
    for start, end, _path, _default in spots:
        literals.append(text[cursor:start])
        cursor = end
    tail = text[cursor:]
    return splice_render(literals[0], list(zip(lookups, [*literals[1:], tail], strict=True)),
                         to_text)


def _compile_dict(value: dict[Any, Any], where: str, paths: dict[str, None]) -> Render | None:
    entries: list[tuple[Any, Render | None, Any, Render | None]] = []
    dynamic = False
    for key, item in value.items():
        inner = f"{where}.{key}" if where else str(key)
        key_render = None
        if isinstance(key, str):
            try:
                # Keys are always text (JSON object keys are strings).
                key_render = _compile_string(key, paths, typed=False)
            except TemplateError as exc:
                raise _located(inner, exc) from None
        item_render = _compile(item, inner, paths)
        dynamic = dynamic or key_render is not None or item_render is not None
        entries.append((key, key_render, item, item_render))
    return dict_render(entries) if dynamic else None


def _compile_list(value: list[Any], where: str, paths: dict[str, None]) -> Render | None:
    entries = [(item, _compile(item, f"{where}[{i}]", paths)) for i, item in enumerate(value)]
    if all(render is None for _item, render in entries):
        return None
    return list_render(entries)


def template(value: Any, path: str, roots: frozenset[str] | None = None) -> Template:
    """Compile ``value`` as a template; a bad placeholder is a :class:`DefinitionError` at the
    exact field path (``nodes[0].config.body.items[1]``)."""
    try:
        return compile_template(value, roots)
    except TemplateError as exc:
        where = exc.where
        full = path if not where else (path + where if where.startswith("[") else
                                       join(path, where))
        raise DefinitionError(full, exc.reason) from None
    except RecursionError:
        raise DefinitionError(path, "nests too deeply") from None
