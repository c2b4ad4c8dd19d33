"""The console's WSGI door: ``environ`` and body in, the core's answer out."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from ..http.headers import environ_headers
from ..http.response import CoreResponse, error_response
from .request import MAX_FORM_BYTES, ConsoleRequest, Handler

__all__ = ["ConsoleWSGI"]


def _text(value: str) -> str:
    """PEP 3333's latin-1 "bytes in a str" back to the UTF-8 text it carries."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


class ConsoleWSGI:
    """A WSGI app serving ``console`` (a :class:`~.core.Console`) below ``SCRIPT_NAME``."""

    def __init__(self, console: Handler) -> None:
        self.console = console

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        length_text = environ.get("CONTENT_LENGTH") or "0"
        length = int(length_text) if length_text.isdigit() else 0
        if length > MAX_FORM_BYTES:
            response = error_response(413, "body too large")
        else:
            body = environ["wsgi.input"].read(length) if length else b""
            request = ConsoleRequest(
                method=environ.get("REQUEST_METHOD", "GET"),
                path=_text(environ.get("PATH_INFO", "")) or "/",
                query=environ.get("QUERY_STRING", ""), headers=environ_headers(environ),
                body=body, root=_text(environ.get("SCRIPT_NAME", "")).rstrip("/"),
                secure=environ.get("wsgi.url_scheme") == "https",
                client=environ.get("REMOTE_ADDR"))
            response = self.console.handle(request)
            if request.method == "HEAD":
                response = CoreResponse(response.status, response.headers, b"")
        status = f"{response.status} {HTTPStatus(response.status).phrase}"
        start_response(status, [*response.headers,
                                ("Content-Length", str(len(response.body)))])
        return [response.body]
