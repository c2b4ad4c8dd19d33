"""The absolute webhook URL of a workflow, as a caller outside the host sees it.

``{scheme}://{host}{mount point}{base_path}/{key}``, built from a request that reached the
door (or a host route that shares the door's mount point):

- The mount point is ``SCRIPT_NAME`` (WSGI) or ``root_path`` (ASGI), never the request path.
  One ASGI host strips its mount prefix from ``path`` without adding it to ``root_path``
  (Litestar's ``@asgi(..., is_mount=True)``); there the prefix is recovered from
  ``raw_path``, which keeps the path as the client sent it.
- Scheme and host come from the request (``wsgi.url_scheme`` / ``scope["scheme"]`` and the
  ``Host`` header, else the server's name and port). When the peer is in
  ``engine.trusted_proxies``, the header family the engine's ``forwarded_header`` names
  replaces them: ``X-Forwarded-Proto`` and ``X-Forwarded-Host`` with ``X-Forwarded-For``
  (the default), the ``proto=`` and ``host=`` of ``Forwarded`` with ``Forwarded``; the other
  family is ignored, as a client could send it. The value the nearest proxy added (the last
  one) wins; a host value that is not a valid ``host[:port]`` is ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from multidict import CIMultiDict

from .http.guards import in_networks
from .http.request import header_value

if TYPE_CHECKING:
    from .engine import Engine

__all__ = ["webhook_url"]

_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])"
                   r"(?::[0-9]{1,5})?")
_DEFAULT_PORTS = {"http": "80", "https": "443"}
# Characters a path segment may hold as they are (RFC 3986 pchar, plus "/").
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def _valid_host(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value if _HOST.fullmatch(value) else None


def _last(value: str | None) -> str | None:
    """The last item of a comma-separated header value (the one the nearest proxy added)."""
    if not value:
        return None
    return value.rsplit(",", 1)[-1].strip() or None


def _forwarded(headers: CIMultiDict[str], family: str) -> tuple[str | None, str | None]:
    """``(proto, host)`` a trusted proxy reported in the header family it sets."""
    if family.lower() == "forwarded":
        pairs = {}
        for pair in (_last(header_value(headers, "forwarded")) or "").split(";"):
            name, _, value = pair.strip().partition("=")
            pairs[name.strip().lower()] = value.strip().strip('"')
        return pairs.get("proto"), pairs.get("host")
    return (_last(header_value(headers, "x-forwarded-proto")),
            _last(header_value(headers, "x-forwarded-host")))


def _authority(scheme: str, host: str | None, server: tuple[str, Any] | None) -> str:
    if host is None and server is not None:
        name, port = server
        name = f"[{name}]" if ":" in str(name) else str(name)
        host = name if port in (None, "") else f"{name}:{port}"
    host = host or "localhost"
    default = _DEFAULT_PORTS.get(scheme)
    if default and host.endswith(f":{default}"):
        host = host[: -len(default) - 1]
    return host


def _asgi_mount(scope: Mapping[str, Any]) -> str:
    """The door's mount point in an ASGI scope: ``root_path``, or the prefix the host cut."""
    root: str = scope.get("root_path") or ""
    path: str = scope.get("path") or "/"
    if root and path.startswith(root) and (len(path) == len(root) or path[len(root)] == "/"):
        return root  # the host kept the full path (ASGI spec, Starlette, uvicorn, hypercorn)
    raw = scope.get("raw_path")
    if not isinstance(raw, bytes | bytearray):
        return root
    # Some test transports leave the query string in raw_path.
    sent = unquote(bytes(raw).split(b"?", 1)[0].decode("latin-1"), errors="replace")
    sent, rest = sent.rstrip("/"), path.rstrip("/")
    if not rest or not sent.endswith(rest) or len(sent) == len(rest):
        return root
    cut = sent[: len(sent) - len(rest)]
    if not cut.startswith("/") or cut.endswith("/"):
        return root  # not at a segment boundary: no prefix was cut
    if root and (cut == root or cut.startswith(root + "/")):
        return cut  # the server's raw_path already holds root_path
    return root + cut


def _wsgi_text(value: str) -> str:
    """A PEP 3333 environ string (latin-1 "bytes in a str") as the UTF-8 text it carries."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def webhook_url(engine: Engine, key: str, *, scope: Mapping[str, Any] | None = None,
                environ: Mapping[str, Any] | None = None, mount: str = "") -> str:
    """The absolute URL at which ``engine`` serves the workflow ``key``.

    Args:
        engine: the engine whose ``base_path`` and ``trusted_proxies`` apply.
        key: a workflow key (it need not be registered yet).
        scope: the ASGI scope of a request that reached the door, or of a host route at the
            same mount point (middleware forms).
        environ: the WSGI environ of such a request (give ``scope`` or ``environ``).
        mount: where the door is mounted relative to that request's mount point, for calls
            from a host route when the door is mounted beside the host's routes
            (``DispatcherMiddleware``, ``app.mount("/hooks", ...)``, a Litestar mount):
            ``"/hooks"``. Empty for a request that went through the door itself.

    Raises:
        ValueError: neither or both of ``scope`` and ``environ`` given, or ``mount`` not
            ``""`` nor a path starting with ``/``.
    """
    if (scope is None) == (environ is None):
        raise ValueError("give the request's ASGI scope or its WSGI environ (one of them)")
    if mount and (not mount.startswith("/") or mount.endswith("/")):
        raise ValueError("mount is '' or starts with '/' and has no trailing '/'")
    headers: CIMultiDict[str] = CIMultiDict()
    server: tuple[str, Any] | None
    if scope is not None:
        for name, value in scope.get("headers") or ():
            headers.add(name.decode("latin-1"), value.decode("latin-1"))
        scheme = str(scope.get("scheme") or "http")
        scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
        found = scope.get("server")
        server = (str(found[0]), found[1]) if found else None
        client = scope.get("client")
        peer = str(client[0]) if client else None
        prefix = _asgi_mount(scope)
    else:
        assert environ is not None
        for name, value in environ.items():
            if name.startswith("HTTP_"):
                headers.add(name[5:].replace("_", "-"), value)
        scheme = str(environ.get("wsgi.url_scheme") or "http")
        server = (str(environ.get("SERVER_NAME") or "localhost"), environ.get("SERVER_PORT"))
        peer = environ.get("REMOTE_ADDR")
        prefix = _wsgi_text(environ.get("SCRIPT_NAME") or "")
    host = _valid_host(header_value(headers, "host"))
    if engine.trusted_proxies and in_networks(peer, engine.trusted_proxies):
        proto, forwarded_host = _forwarded(headers, engine.forwarded_header)
        if proto and proto.lower() in _DEFAULT_PORTS:
            scheme = proto.lower()
        host = _valid_host(forwarded_host) or host
    path = f"{prefix.rstrip('/')}{mount}{engine.base_path}/{key}"
    return f"{scheme}://{_authority(scheme, host, server)}{quote(path, safe=_PATH_SAFE)}"
