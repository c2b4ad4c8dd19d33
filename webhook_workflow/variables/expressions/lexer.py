"""The tokenizer: expression source text to a list of tokens.

Placeholders (``{{ path }}``) are found first with the template module's rules; each becomes
one ``var`` token (or one part of a string literal), so its value is never read as source.
Everything else must be a number, a string, a name, or an operator of the language; any other
character is an error that says where it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from ...errors import ExpressionError
from ..templates import find_placeholders
from .values import MAX_INT_BITS, MAX_SOURCE

__all__ = ["Slot", "Token", "position", "tokenize"]

_NUMBER: Final = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NAME_CHAR: Final = re.compile(r"[A-Za-z0-9_]")
_HEX4: Final = re.compile(r"[0-9A-Fa-f]{4}")
_HEX2: Final = re.compile(r"[0-9A-Fa-f]{2}")

# Operators and spellings from other languages, tried in this order (longest first): the
# canonical operator the parser sees, or the message that refuses the spelling.
_OPERATORS: Final[tuple[tuple[str, str], ...]] = (
    ("===", "'===' is not an operator; compare with '=='"),
    ("!==", "'!==' is not an operator; compare with '!='"),
    ("<>", "'<>' is not an operator; use '!='"),
    ("**", "'**' is not an operator; use '^' for powers"),
    ("==", "=="), ("!=", "!="), ("<=", "<="), (">=", ">="), ("&&", "and"), ("||", "or"),
    ("+", "+"), ("-", "-"), ("*", "*"), ("/", "/"), ("%", "%"), ("^", "^"), ("(", "("),
    (")", ")"), ("[", "["), ("]", "]"), (",", ","), ("?", "?"), (":", ":"), ("<", "<"),
    (">", ">"), ("!", "not"), ("&", "&"),
    ("=", "'=' is not an operator; compare with '=='"),
    ("|", "'|' is not an operator; use 'or'"),
    (".", "attribute access ('.') is not supported; read values with {{ path.to.value }}"),
    ("$", "variables are written as placeholders: {{ $context.body.name }}"),
    ("{", "'{' starts nothing here; placeholders are written {{ path }}"),
)
_CANONICAL: Final = frozenset({"==", "!=", "<=", ">=", "and", "or", "+", "-", "*", "/", "%",
                               "^", "(", ")", "[", "]", ",", "?", ":", "<", ">", "not", "&"})
_ESCAPES: Final = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}


@dataclass(frozen=True, slots=True)
class Slot:
    """A placeholder's source text, ``{{ path }}``."""

    text: str


@dataclass(frozen=True, slots=True)
class Token:
    """One token: ``kind`` is ``num``, ``str``, ``name``, ``op``, ``var`` or ``end``.

    ``value``: the number; the string's parts (text and :class:`Slot`); the name; the
    canonical operator; the placeholder :class:`Slot`; None at the end.
    """

    kind: str
    value: Any
    pos: int


def position(source: str, pos: int) -> str:
    """``column N`` (1-based), with the line when the source has several."""
    line = source.count("\n", 0, pos)
    column = pos - (source.rfind("\n", 0, pos) + 1) + 1
    return f"line {line + 1}, column {column}" if "\n" in source else f"column {column}"


def tokenize(source: str, *, concat_operator: bool = False) -> list[Token]:
    """The tokens of ``source``; ``concat_operator`` allows ``&`` (formula.js)."""
    if len(source) > MAX_SOURCE:
        raise ExpressionError(f"expression longer than {MAX_SOURCE} characters")
    slots = {start: Slot(source[start:end]) for start, end, _p, _d in find_placeholders(source)}
    tokens: list[Token] = []
    i, n = 0, len(source)

    def fail(message: str, at: int) -> ExpressionError:
        return ExpressionError(f"{message} at {position(source, at)}")

    while i < n:
        ch = source[i]
        if ch.isspace():
            i += 1
        elif i in slots:
            tokens.append(Token("var", slots[i], i))
            i += len(slots[i].text)
        elif ch in "\"'":
            parts, end = _string(source, i, slots, fail)
            tokens.append(Token("str", parts, i))
            i = end
        elif (match := _NUMBER.match(source, i)) is not None:
            text = match.group()
            if _NAME_CHAR.match(source, match.end()):
                raise fail(f"invalid number {source[i:match.end() + 1]!r}", i)
            tokens.append(Token("num", _number(text, lambda m, at=i: fail(m, at)), i))
            i = match.end()
        elif (match := _NAME.match(source, i)) is not None:
            tokens.append(Token("name", match.group(), i))
            i = match.end()
        else:
            for spelling, meaning in _OPERATORS:
                if source.startswith(spelling, i):
                    if meaning not in _CANONICAL:
                        raise fail(meaning, i)
                    if meaning == "&" and not concat_operator:
                        raise fail("'&' concatenates text only in formula.js; use '+' or "
                                   "concat()", i)
                    tokens.append(Token("op", meaning, i))
                    i += len(spelling)
                    break
            else:
                raise fail(f"unexpected character {ch!r}", i)
    tokens.append(Token("end", None, n))
    return tokens


def _number(text: str, fail: Any) -> int | float:
    if "." in text or "e" in text or "E" in text:
        value = float(text)
        if value == float("inf"):
            raise fail(f"number {text[:20]!r} is too large")
        return value
    if len(text) > 1300 or int(text).bit_length() > MAX_INT_BITS:
        raise fail(f"number {text[:20]!r}... is larger than {MAX_INT_BITS} bits")
    return int(text)


def _string(source: str, start: int, slots: dict[int, Slot],
            fail: Any) -> tuple[tuple[str | Slot, ...], int]:
    """Scan the string literal at ``start``; return its parts and the index after it."""
    quote = source[start]
    parts: list[str | Slot] = []
    buf: list[str] = []
    i, n = start + 1, len(source)
    while i < n:
        ch = source[i]
        if ch == quote:
            if buf or not parts:
                parts.append("".join(buf))
            return tuple(parts), i + 1
        if i in slots:
            if buf:
                parts.append("".join(buf))
                buf = []
            parts.append(slots[i])
            i += len(slots[i].text)
        elif ch == "\\":
            text, i = _escape(source, i, fail)
            buf.append(text)
        else:
            buf.append(ch)
            i += 1
    raise fail("unterminated string", start)


def _escape(source: str, i: int, fail: Any) -> tuple[str, int]:
    """Decode the escape sequence at ``i`` (a backslash); return it and the index after it."""
    if i + 1 >= len(source):
        raise fail("unterminated string", i)
    code = source[i + 1]
    if code in _ESCAPES:
        return _ESCAPES[code], i + 2
    if code == "x":
        if not _HEX2.match(source, i + 2):
            raise fail("invalid \\x escape", i)
        return chr(int(source[i + 2:i + 4], 16)), i + 4
    if code != "u":
        return code, i + 2  # \\ \' \" \{ and any other character stand for themselves
    if not _HEX4.match(source, i + 2):
        raise fail("invalid \\u escape", i)
    unit = int(source[i + 2:i + 6], 16)
    if 0xD800 <= unit < 0xDC00 and source.startswith("\\u", i + 6) and _HEX4.match(source, i + 8):
        low = int(source[i + 8:i + 12], 16)
        if 0xDC00 <= low < 0xE000:
            return chr(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)), i + 12
    if 0xD800 <= unit < 0xE000:
        raise fail("invalid \\u escape (unpaired surrogate)", i)
    return chr(unit), i + 6
