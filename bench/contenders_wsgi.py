"""WSGI contenders for the reference job (see :mod:`bench.job`), each a zero-argument factory.

gunicorn serves them as ``bench.contenders_wsgi:<name>()``. The bare one does honestly what
the job needs (route, method, constant-time Basic auth, bounded body read, JSON parse, header
and query read, JSON answer); Flask is written as its docs teach. The floor answers ``ok``
without reading anything.

Each factory builds its contender for the JSON variant of the process (:mod:`bench.variants`):
the stdlib ``json``, or orjson (for Flask through a JSON provider, as Flask's docs teach).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from . import job, variants
from .contenders_asgi import _basic_ok, _error_body

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_STATUS = {200: "200 OK", 400: "400 Bad Request", 401: "401 Unauthorized",
           404: "404 Not Found", 405: "405 Method Not Allowed", 413: "413 Content Too Large"}


def _bare_app(variant: str) -> WSGIApp:
    """The bare WSGI callable, parsing and answering with ``variant``'s JSON functions."""
    loads, dumps_bytes = variants.codec(variant)

    def answer(start_response: StartResponse, status: int, body: Any,
               *extra: tuple[str, str]) -> list[bytes]:
        data = dumps_bytes(body)
        start_response(_STATUS[status], [("Content-Type", "application/json"), *extra,
                                         ("Content-Length", str(len(data)))])
        return [data]

    def bare(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != job.ROUTE:
            return answer(start_response, 404, {"errors": [{"message": "not found"}]})
        method = environ["REQUEST_METHOD"]
        if method != "POST":
            return answer(start_response, 405, job.not_allowed(method), ("Allow", "POST"))
        if not _basic_ok(environ.get("HTTP_AUTHORIZATION", "").encode("latin-1")):
            return answer(start_response, 401, job.UNAUTHORIZED,
                          ("WWW-Authenticate", job.REALM))
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return answer(start_response, 400, {"errors": [{"message": "bad length"}]})
        if length > job.MAX_BODY:
            return answer(start_response, 413, {"errors": [{"message": "body too large"}]})
        try:
            # orjson.JSONDecodeError is a ValueError too.
            data = loads(environ["wsgi.input"].read(length))
        except ValueError:
            return answer(start_response, 400, {"errors": [{"message": "invalid JSON"}]})
        query = dict(parse_qsl(environ.get("QUERY_STRING", "")))
        order = data.get("order") if isinstance(data, dict) else None
        if not isinstance(order, dict) or order.get("status") != "paid":
            return answer(start_response, 400, {"ok": False})
        query.get("source")  # the job keeps query.source; nothing in the answer uses it
        return answer(start_response, 200, {"ok": True, "id": order.get("id"),
                                            "request": environ.get("HTTP_X_REQUEST_ID")},
                      ("X-Order", str(order.get("id"))))

    return bare


def _floor(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


def bare() -> WSGIApp:
    """A bare WSGI callable doing the job by hand."""
    return _bare_app(variants.current())


def floor() -> WSGIApp:
    """The floor: answers ``ok`` without reading the request."""
    return _floor


def _orjson_provider() -> type[Any]:
    """A Flask JSON provider on orjson: ``request.get_json`` and ``jsonify`` go through it."""
    import orjson
    from flask import Response
    from flask.json.provider import JSONProvider

    class ORJSONProvider(JSONProvider):
        """orjson for Flask; keys are not sorted (the answers compare as JSON values)."""

        def dumps(self, obj: Any, **kwargs: Any) -> str:
            return orjson.dumps(obj).decode()

        def loads(self, s: str | bytes, **kwargs: Any) -> Any:
            return orjson.loads(s)

        def response(self, *args: Any, **kwargs: Any) -> Response:
            # The bytes go out as they are, without a round trip through str.
            obj = self._prepare_response_obj(args, kwargs)
            return Response(orjson.dumps(obj), mimetype="application/json")

    return ORJSONProvider


def flask() -> WSGIApp:
    """Flask: one POST view, ``request.authorization``, one ``errorhandler`` for 401/405."""
    from flask import Flask, abort, jsonify, request
    from werkzeug.exceptions import HTTPException

    app = Flask("bench_flask")
    if variants.current() == "orjson":
        app.json = _orjson_provider()(app)

    @app.errorhandler(HTTPException)
    def errors(exc: HTTPException) -> Any:
        status = exc.code or 500
        if status == 401:
            headers = {"WWW-Authenticate": job.REALM}
        else:
            headers = {k: v for k, v in exc.get_headers() if k.lower() == "allow"}
        return jsonify(_error_body(status, request.method)), status, headers

    @app.post(job.ROUTE, provide_automatic_options=False)
    def hook() -> Any:
        auth = request.authorization
        if auth is None or auth.type != "basic":
            abort(401)
        user_ok = hmac.compare_digest((auth.username or "").encode(), job.USER)
        password_ok = hmac.compare_digest((auth.password or "").encode(), job.PASSWORD)
        if not (user_ok and password_ok):
            abort(401)
        data = request.get_json()
        request.args.get("source")
        order = data.get("order") or {}
        if order.get("status") != "paid":
            return jsonify(ok=False), 400
        return (jsonify(ok=True, id=order["id"], request=request.headers.get("X-Request-Id")),
                {"X-Order": str(order["id"])})

    return app


def door() -> WSGIApp:
    """webhook_workflow's WSGI door: ``Engine()`` (memory store) with the seed example."""
    from webhook_workflow import Engine
    from webhook_workflow.wsgi import WebhookMiddleware

    engine = Engine()
    engine.add_workflow(job.EXAMPLE)
    # The library picked its codec at import; a door on the wrong one must not be timed.
    variants.check_library(variants.current())
    return WebhookMiddleware(engine=engine)


#: name -> (label, factory); the first is the bare same-job contender the others compare to.
CONTENDERS: dict[str, tuple[str, Callable[[], WSGIApp]]] = {
    "bare": ("bare WSGI callable", bare),
    "floor": ("floor: WSGI 'ok'", floor),
    "flask": ("Flask", flask),
    "door": ("webhook_workflow WSGI door", door),
}
