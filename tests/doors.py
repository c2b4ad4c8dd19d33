"""Call the WSGI and ASGI doors in process with one request description."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from wsgiref.validate import validator

from webhook_workflow import Engine
from webhook_workflow.asgi import WebhookMiddleware as ASGIMiddleware
from webhook_workflow.wsgi import WebhookMiddleware as WSGIMiddleware


@dataclass
class Answer:
    """What a client sees."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    starts: int = 1

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def json(self) -> Any:
        import json

        return json.loads(self.body)


@dataclass
class Request:
    method: str = "POST"
    path: str = "/api/webhook:trigger/hook"
    query: str = ""
    headers: Sequence[tuple[str, str]] = ()
    body: bytes = b""
    chunks: Sequence[bytes] | None = None  # ASGI: body split into messages
    content_length: bool = True
    root: str = ""  # SCRIPT_NAME / root_path
    extra_environ: dict[str, Any] = field(default_factory=dict)
    # wsgiref's validator rejects some malformed environs outright; those requests go to the
    # door directly.
    validate: bool = True
    client: str = "127.0.0.1"


def call_wsgi(app: Callable[..., Any], req: Request) -> Answer:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": req.method,
        "SCRIPT_NAME": req.root,
        "PATH_INFO": req.path.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": req.query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(req.body),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "REMOTE_ADDR": req.client,
    }
    if req.content_length:
        environ["CONTENT_LENGTH"] = str(len(req.body))
    for name, value in req.headers:
        if name.lower() == "content-type":
            environ["CONTENT_TYPE"] = value
        elif name.lower() == "content-length":
            environ["CONTENT_LENGTH"] = value
        else:
            key = "HTTP_" + name.upper().replace("-", "_")
            environ[key] = f"{environ[key]},{value}" if key in environ else value
    environ.update(req.extra_environ)
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen["status"] = int(status.split()[0])
        seen["headers"] = headers
        seen["starts"] = seen.get("starts", 0) + 1
        return lambda data: None

    result = (validator(app) if req.validate else app)(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return Answer(seen["status"], seen["headers"], body, seen["starts"])


def call_asgi(app: Callable[..., Any], req: Request) -> Answer:
    headers = [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in req.headers]
    if req.content_length and not any(n == b"content-length" for n, _ in headers):
        headers.append((b"content-length", str(len(req.body)).encode()))
    scope = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1", "method": req.method, "scheme": "http",
        "path": req.root + req.path, "raw_path": (req.root + req.path).encode("utf-8"),
        "root_path": req.root, "query_string": req.query.encode("latin-1"),
        "headers": headers, "client": (req.client, 50000), "server": ("127.0.0.1", 80),
    }
    chunks = list(req.chunks) if req.chunks is not None else [req.body]
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
                for i, c in enumerate(chunks)]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await asyncio.sleep(0)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    starts = [m for m in sent if m["type"] == "http.response.start"]
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    start = starts[0]
    return Answer(start["status"], [(n.decode(), v.decode()) for n, v in start["headers"]], body,
                  len(starts))


class Door:
    """One door around one engine; ``call`` sends a request through it."""

    def __init__(self, kind: str, engine: Engine, app: Any = None) -> None:
        self.kind = kind
        self.engine = engine
        if kind == "wsgi":
            self.app: Any = WSGIMiddleware(app, engine=engine)
        else:
            self.app = ASGIMiddleware(app, engine=engine)

    def call(self, req: Request | None = None, **kw: Any) -> Answer:
        req = req or Request(**kw)
        return call_wsgi(self.app, req) if self.kind == "wsgi" else call_asgi(self.app, req)
