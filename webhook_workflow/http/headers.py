"""Request header fields as the doors receive them, read without copying them all.

Both doors hand the gateway a :class:`RequestHeaders`: a read-only, case-insensitive mapping
whose repeated fields are joined with ``", "`` (the Node.js convention NocoBase users know),
plus the field count and size the header limits check. A request uses a handful of fields
(credentials, length, type, the configured ones), so values are decoded only when read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

__all__ = ["LENGTH_AND_CODING", "REPEATED_LENGTH", "RequestHeaders", "asgi_headers",
           "environ_headers", "headers_from_pairs"]

#: The two framings RFC 9112 6.3 calls ambiguous; a door refuses them before anything else
#: (400), so that a proxy and the server cannot disagree on where this request ends.
REPEATED_LENGTH = "more than one Content-Length"
LENGTH_AND_CODING = "both Content-Length and Transfer-Encoding"

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

    def framing_problem(self) -> str | None:
        """Why the body's framing is ambiguous, or None (the usual answer, in one lookup).

        ``Content-Length`` repeated (joined, its values hold a comma; identical repeats too)
        or sent together with ``Transfer-Encoding``: a proxy in front may have framed the
        request the other way, so the bytes after it cannot be trusted to be a request.
        """
        fields = self._fields
        length = fields.get(b"content-length")
        if length is None:
            return None
        if b"," in length:
            return REPEATED_LENGTH
        if b"transfer-encoding" in fields:
            return LENGTH_AND_CODING
        return None


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


# The CGI names of the fields a WSGI environ carries outside ``HTTP_*`` (they win over an
# ``HTTP_`` twin, as they did for CGI scripts).
_CGI_OWN = {"content-type": "CONTENT_TYPE", "content-length": "CONTENT_LENGTH"}
_CGI_VALUES = frozenset(_CGI_OWN.values())
_CGI_KEYS: dict[str, str] = {}


def _cgi_key(name: str) -> str:
    key = _CGI_KEYS.get(name)
    if key is None:
        low = name.lower()
        key = _CGI_OWN.get(low) or "HTTP_" + low.upper().replace("-", "_")
        if len(_CGI_KEYS) < _MAX_KEYS:
            _CGI_KEYS[name] = key
    return key


class _EnvironHeaders(RequestHeaders):
    """The header fields of a WSGI environ, read in place (values are latin-1 text)."""

    __slots__ = ("_environ",)

    def __init__(self, environ: Mapping[str, Any]) -> None:
        names = [name for name in environ if name[:5] == "HTTP_"]
        for name in _SHADOWED:
            if name in environ:
                names.remove(name)
        count = len(names)
        # The wire name is as long as the CGI name without "HTTP_"; ": " and CRLF add 4.
        size = sum(map(len, names)) + sum(map(len, map(environ.__getitem__, names))) - count
        for name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            value = environ.get(name)
            if value:
                count += 1
                size += len(name) + 4 + len(value)
        super().__init__({}, count, size)
        self._environ = environ

    def get(self, name: str, default: Any = None) -> Any:
        key = _cgi_key(name)
        value = self._environ.get(key)
        # An empty CONTENT_TYPE/CONTENT_LENGTH means "not sent"; an empty HTTP_* was sent.
        if value is None or (not value and key in _CGI_VALUES):
            return default
        return value

    def raw(self, name: str) -> bytes | None:
        value = self.get(name)
        return None if value is None else str(value).encode("latin-1", "replace")

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return str(value)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def framing_problem(self) -> str | None:
        """As for ASGI; the server has joined repeats into one ``CONTENT_LENGTH`` already."""
        environ = self._environ
        length = environ.get("CONTENT_LENGTH")
        if not length:
            return None
        if "," in length:
            return REPEATED_LENGTH
        if "HTTP_TRANSFER_ENCODING" in environ:
            return LENGTH_AND_CODING
        return None

    def _names(self) -> list[str]:
        names = [name[5:].replace("_", "-").lower() for name in self._environ
                 if name[:5] == "HTTP_" and name not in _SHADOWED]
        names += [low for low, key in _CGI_OWN.items() if self._environ.get(key)]
        return names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())


_SHADOWED = frozenset({"HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"})


def environ_headers(environ: Mapping[str, Any]) -> RequestHeaders:
    """From a WSGI environ: ``HTTP_*`` keys plus ``CONTENT_TYPE`` and ``CONTENT_LENGTH``.

    The server has already joined repeated fields (with ``,``). Names are read the CGI way
    (``x-request-id`` is ``HTTP_X_REQUEST_ID``); values are latin-1 strings (PEP 3333).
    """
    return _EnvironHeaders(environ)


def headers_from_pairs(pairs: Iterable[tuple[str, str]]) -> RequestHeaders:
    """From ``(name, value)`` text pairs (tests, the CLI's ``run``); repeats are joined."""
    return RequestHeaders(*_joined((n.encode("latin-1", "replace"), v.encode("latin-1", "replace"))
                                   for n, v in pairs))
