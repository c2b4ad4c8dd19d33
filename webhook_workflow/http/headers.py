"""Request header fields as the doors receive them, read without copying them all.

Both doors hand the gateway a :class:`RequestHeaders`: a read-only, case-insensitive mapping
whose repeated fields are joined with ``", "`` (the Node.js convention NocoBase users know),
plus the field count and size the header limits check. A request uses a handful of fields
(credentials, length, type, the configured ones), so values are decoded only when read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

__all__ = ["RequestHeaders", "asgi_headers", "environ_headers", "headers_from_pairs"]

# ``name.lower().encode()`` for the names the gateway and definitions ask for; bounded so
# that names coming from requests (``$headers.<any>`` in a guard) cannot grow it forever.
_KEYS: dict[str, bytes] = {}
_MAX_KEYS = 4096


def _key(name: str) -> bytes:
    key = _KEYS.get(name)
    if key is None:
        key = name.lower().encode("latin-1", "replace")
        if len(_KEYS) < _MAX_KEYS:
            _KEYS[name] = key
    return key


class RequestHeaders(Mapping[str, str]):
    """Read-only request headers: names are case-insensitive, repeated fields joined.

    ``count`` is the number of header fields received and ``size`` their size on the wire
    (name, value, ``": "`` and CRLF each), which the header limits (431) check.
    """

    __slots__ = ("_fields", "count", "size")

    def __init__(self, fields: dict[bytes, bytes], count: int, size: int) -> None:
        #: Lowercase latin-1 name -> joined latin-1 value.
        self._fields = fields
        self.count = count
        self.size = size

    def get(self, name: str, default: Any = None) -> Any:
        """The joined value of ``name`` (any case), or ``default``."""
        value = self._fields.get(_key(name))
        return default if value is None else value.decode("latin-1")

    def raw(self, name: str) -> bytes | None:
        """The joined value of ``name`` as bytes (latin-1), or None."""
        return self._fields.get(_key(name))

    def __getitem__(self, name: str) -> str:
        value = self._fields.get(_key(name))
        if value is None:
            raise KeyError(name)
        return value.decode("latin-1")

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _key(name) in self._fields

    def __iter__(self) -> Iterator[str]:
        return (name.decode("latin-1") for name in self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        return f"RequestHeaders({dict(self)!r})"


def _joined(pairs: Iterable[tuple[bytes, bytes]]) -> tuple[dict[bytes, bytes], int, int]:
    fields: dict[bytes, bytes] = {}
    count = size = 0
    for name, value in pairs:
        count += 1
        size += len(name) + len(value) + 4
        low = name.lower()
        old = fields.get(low)
        fields[low] = value if old is None else old + b", " + value
    return fields, count, size


def asgi_headers(raw: list[tuple[bytes, bytes]] | Iterable[Any]) -> RequestHeaders:
    """From an ASGI scope's ``headers``: ``[(name, value), ...]`` byte pairs."""
    if isinstance(raw, list):
        # Servers send lowercase names and rarely repeat one: then the pairs already are
        # the mapping, built and measured at C speed. Anything else takes the loop.
        fields = dict(raw)
        if len(fields) == len(raw):
            names = b"".join(fields)
            if names.islower() or names.lower() == names:  # no uppercase letter
                size = len(names) + len(b"".join(fields.values())) + 4 * len(raw)
                return RequestHeaders(fields, len(raw), size)
    return RequestHeaders(*_joined((bytes(n), bytes(v)) for n, v in raw))


# Carried in CONTENT_TYPE / CONTENT_LENGTH, which win (as they did for CGI scripts).
_CGI_OWN = frozenset({"HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"})


def environ_headers(environ: Mapping[str, Any]) -> RequestHeaders:
    """From a WSGI environ: ``HTTP_*`` keys plus ``CONTENT_TYPE`` and ``CONTENT_LENGTH``.

    The server has already joined repeated fields (with ``,``). Names are rebuilt the CGI way
    (``HTTP_X_REQUEST_ID`` -> ``x-request-id``), values are latin-1 strings (PEP 3333).
    """
    pairs = [(name[5:].replace("_", "-").lower().encode("latin-1"),
              value.encode("latin-1", "replace"))
             for name, value in environ.items()
             if name[:5] == "HTTP_" and name not in _CGI_OWN and isinstance(value, str)]
    content_type = environ.get("CONTENT_TYPE")
    if content_type:
        pairs.append((b"content-type", content_type.encode("latin-1", "replace")))
    content_length = environ.get("CONTENT_LENGTH")
    if content_length:
        pairs.append((b"content-length", content_length.encode("latin-1", "replace")))
    return RequestHeaders(*_joined(pairs))


def headers_from_pairs(pairs: Iterable[tuple[str, str]]) -> RequestHeaders:
    """From ``(name, value)`` text pairs (tests, the CLI's ``run``); repeats are joined."""
    return RequestHeaders(*_joined((n.encode("latin-1", "replace"), v.encode("latin-1", "replace"))
                                   for n, v in pairs))
