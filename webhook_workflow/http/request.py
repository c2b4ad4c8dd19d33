"""The HTTP checks of one webhook request, in the contract's order, with no I/O.

The doors call :func:`check_head` once the headers are known (rows 1, 4, 6, 7, 8 of the
contract), read the body within the limit it returns, then call :func:`parse_body`
(rows 10, 11). Each failed check raises :class:`~webhook_workflow.errors.RequestRejected`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from multidict import CIMultiDict

from ..errors import RequestRejected
from ..jsoncodec import BACKEND, loads
from .auth import WWW_AUTHENTICATE, check_basic

__all__ = ["Limits", "body_limit", "check_head", "header_value", "is_form", "is_json",
           "parse_body",
           "parse_content_length"]

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """Engine-wide request limits (a workflow may lower ``max_body_size``)."""

    max_body_size: int = MiB
    max_json_depth: int = 100
    max_json_items: int = 100_000
    max_url_length: int = 8 * 1024
    max_header_count: int = 100
    max_header_bytes: int = 16 * 1024


def header_value(headers: CIMultiDict[str], name: str) -> str | None:
    """A header's value, repeated headers joined with ``", "``; None when absent."""
    values = headers.getall(name, None)
    if values is None:
        return None
    return values[0] if len(values) == 1 else ", ".join(values)


def parse_content_length(value: str | None) -> int | None:
    """``Content-Length`` as an int; None when absent; ``RequestRejected(400)`` when invalid."""
    if value is None or value == "":
        return None
    text = value.strip()
    if not text.isdigit() or not text.isascii():
        raise RequestRejected(400, "invalid Content-Length")
    # int() refuses more than 4300 digits; anything that long is over every limit anyway.
    return int(text) if len(text) <= 18 else 10**18


def check_limits(url_length: int, headers: CIMultiDict[str], limits: Limits) -> None:
    """Row 1: request line and header limits (414 / 431)."""
    if url_length > limits.max_url_length:
        raise RequestRejected(414, f"URL longer than {limits.max_url_length} bytes")
    if len(headers) > limits.max_header_count:
        raise RequestRejected(431, f"more than {limits.max_header_count} header fields")
    size = 0
    for name, value in headers.items():
        size += len(name) + len(value) + 4  # ": " and CRLF, as on the wire
    if size > limits.max_header_bytes:
        raise RequestRejected(431, f"header fields larger than {limits.max_header_bytes} bytes")


def body_limit(workflow_limit: int | None, limits: Limits) -> int:
    """The body limit of a workflow: its own ``maxBodySize`` or the engine's."""
    return limits.max_body_size if workflow_limit is None else workflow_limit


def check_head(headers: CIMultiDict[str], auth: tuple[bytes, bytes] | None,
               max_body: int) -> int | None:
    """Rows 6 and 7 (401 / 413 by ``Content-Length``); return the declared length."""
    if auth is not None and not check_basic(header_value(headers, "authorization"), auth):
        raise RequestRejected(401, "authentication required", [WWW_AUTHENTICATE])
    length = parse_content_length(header_value(headers, "content-length"))
    if length is not None and length > max_body:
        raise RequestRejected(413, f"body larger than {max_body} bytes")
    return length


def is_json(content_type: str | None) -> bool:
    """True for ``application/json`` and ``application/*+json`` (parameters allowed)."""
    if content_type == "application/json":
        return True  # what nearly every sender writes
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json":
        return True
    return media.startswith("application/") and media.endswith("+json")


def is_form(content_type: str | None) -> bool:
    """True for ``application/x-www-form-urlencoded`` (parameters allowed)."""
    if not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() == "application/x-www-form-urlencoded"


def parse_body(content_type: str | None, body: bytes, *, strict: bool, max_depth: int,
               max_items: int | None = None, accepted: str = "application/json") -> Any:
    """Rows 10 and 11: the parsed JSON body, ``{}`` for empty or non-JSON bodies.

    ``max_items`` bounds the values (containers and scalars) of the document, read from the
    text before it is parsed: a megabyte of ``[{},{},...]`` would take ~37 times its size.
    """
    if not is_json(content_type):
        if strict and (body or content_type):
            raise RequestRejected(415, f"Content-Type must be {accepted}")
        return {}
    # Same test as ``not body.strip()`` (ASCII whitespace incl. \v and \f), without a copy.
    if not body or body.isspace():
        return {}
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]  # RFC 8259 lets a parser ignore a UTF-8 byte order mark
    # Every escape starts with a backslash; most bodies have none, and memchr says so at once.
    escaped = b"\\" in body
    if max_items is not None and _text_items_exceed(body, max_items, escaped):
        raise RequestRejected(413, f"JSON body has more than {max_items} items")
    try:
        value = loads(_document(body))
    except RecursionError:
        raise RequestRejected(400, f"JSON nests deeper than {max_depth} levels") from None
    except ValueError as exc:
        reason = str(exc.args[0] if exc.args else exc)
        if "digits" in reason and "int" in reason:  # Python's int-parsing limit, in its words
            reason = "a number has too many digits"
        raise RequestRejected(400, f"invalid JSON: {reason}") from None
    if not isinstance(value, dict | list):
        raise RequestRejected(400, "JSON body must be an object or an array")
    if escaped and _SURROGATE_ESCAPE.search(body) is not None and not _utf8_clean(value):
        raise RequestRejected(400, "invalid JSON: a \\u escape is a lone surrogate (not text)")
    # The text bounds the value's depth from above (duplicate keys may drop containers), so
    # only bodies the text puts over the limit need the exact walk of the parsed value.
    if _text_depth_exceeds(body, max_depth, escaped) and _depth_exceeds(value, max_depth):
        raise RequestRejected(400, f"JSON nests deeper than {max_depth} levels")
    return value


# The stdlib decoder wants text, so the body is decoded once and handed over as str; orjson
# reads bytes and would only have to encode a str back.
_LOADS_TEXT = BACKEND == "stdlib"


def _document(body: bytes) -> str | bytes:
    """What ``loads`` is given: ``RequestRejected(400)`` when ``body`` is not UTF-8."""
    if not _LOADS_TEXT and body.isascii():
        return body  # ASCII is UTF-8, and the check is far cheaper than a decode
    try:
        # orjson refuses such bytes too, but its stdlib fallback would call them invalid JSON.
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestRejected(400, "body is not valid UTF-8") from None
    return text if _LOADS_TEXT else body


# Escapes of UTF-16 surrogates (\ud800-\udfff): legal JSON, but only in pairs do they make
# text. Python clients escape every emoji this way, so the exact check runs only then.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
# The regex engine finds this pair faster than ``in`` does (a common last byte slows that).
_ESCAPED_QUOTE = re.compile(rb'\\"')

# The skeleton of a JSON text: its brackets, opening ones as "(" and closing ones as ")"
# (valid JSON pairs them by kind, so the kind no longer matters), and its quotes.
_SKELETON = bytes.maketrans(b"{[}]", b"(())")
_NOT_SKELETON = bytes(sorted(set(range(256)) - set(b'{}[]"')))


# A skeleton for counting values: brackets, commas, quotes, and ``x`` where a scalar
# (number, true, false, null) starts, so that a container holding only scalars is not empty.
_ITEMS = bytes.maketrans(b"{[}]-0123456789tfn", b"(())xxxxxxxxxxxxxx")
_NOT_ITEMS = bytes(sorted(set(range(256)) - set(b'{}[]",-0123456789tfn')))


def _outside_strings(skeleton: bytes) -> bytes:
    """The characters of a skeleton (brackets, commas and quotes) that lie outside strings."""
    bare = skeleton.translate(None, b'"')
    quotes = len(skeleton) - len(bare)
    # Counted without overlap, adjacent pairs cover every quote exactly when each run of
    # quotes between two structure characters is even: none of them lies inside a string.
    if not quotes or 2 * skeleton.count(b'""') == quotes:
        return bare
    # Removing adjacent quotes keeps what lies outside strings where it was; the rest
    # alternates: outside, string, outside ...
    return b"".join(skeleton.replace(b'""', b"").split(b'"')[::2])


def _unescaped(body: bytes, escaped: bool) -> bytes:
    """``body`` without escaped quotes (which do not end strings) and escaped backslashes."""
    if escaped and _ESCAPED_QUOTE.search(body) is not None:
        # Backslashes pair up from the left in a run, so dropping the escaped backslashes
        # first leaves only the escapes of quotes.
        return body.replace(b"\\\\", b"").replace(b'\\"', b"")
    return body


def _text_items_exceed(body: bytes, max_items: int, escaped: bool) -> bool:
    """True when the JSON text ``body`` holds more than ``max_items`` values.

    A document of n values has 1 + (commas) + (non-empty containers) of them, counting only
    what lies outside strings. Commas and brackets inside strings only raise the first,
    cheap count, so most bodies are decided by it; each step runs in C over bytes.
    """
    if len(body) < 2 * max_items:
        return False  # every value but the last takes two bytes at least (``0,``)
    if 1 + body.count(b",") + body.count(b"[") + body.count(b"{") <= max_items:
        return False
    skeleton = _unescaped(body, escaped).translate(_ITEMS, _NOT_ITEMS)
    # Each string becomes one ``x``: what lies outside strings alternates with them.
    outside = b"x".join(skeleton.split(b'"')[::2]) if b'"' in skeleton else skeleton
    opened = outside.count(b"(")
    if opened != len(outside) - len(outside.translate(None, b")")):
        # Not JSON at all; telling so costs less than parsing it.
        raise RequestRejected(400, "invalid JSON: brackets do not match")
    return 1 + outside.count(b",") + opened - outside.count(b"()") > max_items


def _text_depth_exceeds(body: bytes, max_depth: int, escaped: bool) -> bool:
    """True when the brackets of the valid JSON text ``body`` nest deeper than ``max_depth``.

    The brackets outside strings are the containers as written, so their depth is the
    parsed value's unless duplicate keys dropped some. Each step runs in C over bytes.
    """
    if len(body) <= 2 * max_depth:
        return False  # each level takes two brackets
    skeleton = _unescaped(body, escaped).translate(_SKELETON, _NOT_SKELETON)
    brackets = skeleton.translate(None, b'"')
    if brackets.count(b"(") <= max_depth:
        return False  # even counting the brackets inside strings, there are not enough
    brackets = _outside_strings(skeleton)
    for peeled in range(max_depth):
        if len(brackets) <= 2 * (max_depth - peeled):
            return False
        # Each pass removes every innermost pair, that is one level of the deepest nesting.
        brackets = brackets.replace(b"()", b"")
    return bool(brackets)


def _utf8_clean(value: Any) -> bool:
    """True when every string in ``value`` can be written as UTF-8 (no lone surrogates)."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, ValueError, TypeError):
        return False
    return True


def _depth_exceeds(value: Any, max_depth: int) -> bool:
    """True when the parsed ``value`` nests deeper than ``max_depth`` (``{}`` is 1 level)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            return True
        children = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, dict | list) and child:
                stack.append((child, depth + 1))
            elif isinstance(child, dict | list) and depth + 1 > max_depth:
                return True
    return False
