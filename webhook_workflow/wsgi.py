"""The WSGI door (PEP 3333): ``WebhookMiddleware(app=None, *, engine)``.

Translates ``environ`` into the gateway's plain values and the gateway's answer into
``start_response`` + one body chunk. Paths outside the engine's ``base_path`` go to the
wrapped app untouched (its iterable, and so its ``close()``, is returned as it is).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from .engine import Engine
from .gateway import Acknowledgement, Admission, SyncRun
from .http.headers import environ_headers
from .http.response import CoreResponse, error_response
from .instruments import NO_INSTRUMENTS

__all__ = ["WebhookMiddleware"]

logger = logging.getLogger("webhook_workflow")

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_READ_CHUNK = 64 * 1024


def _status_line(status: int) -> str:
    line = _STATUS_LINES.get(status)
    if line is None:
        try:
            line = f"{status} {HTTPStatus(status).phrase}"
        except ValueError:
            line = f"{status} Status {status}"
        _STATUS_LINES[status] = line  # statuses are 100..599: the cache stays small
    return line


_STATUS_LINES: dict[int, str] = {}


class WebhookMiddleware:
    """Serve the engine's webhooks; hand every other path to ``app`` (404 when ``app`` is None).

    ``app`` is the wrapped WSGI application (positional, as Flask's ``app.wsgi_app = ...`` and
    Django's wrappers use it); ``engine`` is keyword-only.
    """

    def __init__(self, app: WSGIApp | None = None, *, engine: Engine) -> None:
        self.app = app
        self.engine = engine
        self.gateway = engine.gateway

    def __call__(self, environ: dict[str, Any],
                 start_response: StartResponse) -> Iterable[bytes]:
        raw_path = environ.get("PATH_INFO", "") or "/"
        try:
            # PEP 3333 carries the decoded path as latin-1 "bytes in a str"; recover UTF-8.
            route = raw_path.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            route = raw_path
        key = self.gateway.key_of(route)
        if key is None:
            if self.app is not None:
                return self.app(environ, start_response)
            return self._send(start_response, error_response(404, "not found"))
        instruments = self.engine.instruments
        watch = None if instruments is NO_INSTRUMENTS else instruments.request(
            environ.get("REQUEST_METHOD", "GET"), environ.get("wsgi.url_scheme", "http"),
            environ.get("SCRIPT_NAME", "") + raw_path, key, environ_headers(environ))
        try:
            response = self._handle(environ, key, raw_path)
        except Exception:
            logger.exception("unexpected error answering %s %s", environ.get("REQUEST_METHOD"),
                             raw_path)
            response = error_response(500, "internal error")
        if watch is not None:
            watch.answered(response.status)
        return self._send(start_response, response)

    def _handle(self, environ: dict[str, Any], key: str, raw_path: str) -> CoreResponse:
        query = environ.get("QUERY_STRING", "")
        headers = environ_headers(environ)
        problem = headers.framing_problem()
        if problem is not None:
            # No Connection header: PEP 3333 leaves hop-by-hop fields to the server, which
            # must choose the WSGI servers that frame these requests safely (docs/mounting.md).
            return error_response(400, problem)
        uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        url_length = len(uri) if uri else len(raw_path) + (len(query) + 1 if query else 0)
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        terminated = bool(environ.get("wsgi.input_terminated"))
        admitted = self.gateway.begin(
            environ.get("REQUEST_METHOD", "GET"), key, url_length,
            query.encode("latin-1", "replace"), headers,
            chunked_unterminated=chunked and not terminated,
            client=environ.get("REMOTE_ADDR"), origin=lambda: _origin(environ))
        if isinstance(admitted, CoreResponse):
            return admitted
        body = self._read_body(environ, admitted, terminated)
        if isinstance(body, CoreResponse):
            return body
        result = self.gateway.accept(admitted, body)
        if isinstance(result, SyncRun):
            return result.run()
        if isinstance(result, Acknowledgement):
            result = result.wait()
        if environ.get("wsgi.run_once"):
            # CGI-style servers end the process after this request: finish the run first.
            self.engine.drain()
        return result

    def _read_body(self, environ: dict[str, Any], admitted: Admission,
                   terminated: bool) -> bytes | CoreResponse:
        stream = environ["wsgi.input"]
        length = admitted.content_length
        if length is not None:
            # Never read past CONTENT_LENGTH (PEP 3333); short reads happen, so loop.
            parts: list[bytes] = []
            remaining = length
            while remaining > 0:
                chunk = stream.read(min(remaining, _READ_CHUNK))
                if not chunk:
                    return error_response(400, "body shorter than Content-Length")
                parts.append(chunk)
                remaining -= len(chunk)
            return b"".join(parts)
        if not terminated:
            return b""  # no length and no terminated input: there is no body to read safely
        parts = []
        total = 0
        while True:
            chunk = stream.read(_READ_CHUNK)
            if not chunk:
                return b"".join(parts)
            total += len(chunk)
            if total > admitted.max_body:
                return self.gateway.too_large(admitted)
            parts.append(chunk)

    @staticmethod
    def _send(start_response: StartResponse, response: CoreResponse) -> list[bytes]:
        headers = [*response.headers, ("Content-Length", str(len(response.body)))]
        start_response(_status_line(response.status), headers)
        return [response.body]


def _origin(environ: dict[str, Any]) -> str:
    """``scheme://host`` and mount point of a request: the base of its resume URLs."""
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST")
    if not host:
        name, port = environ.get("SERVER_NAME", "localhost"), str(environ.get("SERVER_PORT", ""))
        host = name if port in ("", "80", "443") else f"{name}:{port}"
    return f"{scheme}://{host}{environ.get('SCRIPT_NAME', '')}"

