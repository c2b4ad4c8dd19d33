"""The in-process client: a request through the WSGI or ASGI door, and its answer.

The door names the execution a request starts in a context variable (the access log of the
built-in server reads it too); the client reads it around each call, so the answer knows its
execution without a second look at the store's newest entries.
"""

from __future__ import annotations

import asyncio
import io
import json as jsonlib
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

from multidict import CIMultiDict, CIMultiDictProxy

from ..asgi import WebhookMiddleware as ASGIMiddleware
from ..engine import Engine
from ..records import Execution
from ..runs import current_execution
from ..wsgi import WebhookMiddleware as WSGIMiddleware

__all__ = ["UNSET", "WebhookClient", "WebhookResponse", "body_bytes", "json_body"]

Headers = Mapping[str, str] | Iterable[tuple[str, str]]
Query = str | Mapping[str, Any] | Iterable[tuple[str, Any]]


class _Unset:
    """The marker of an argument not given (``None`` is a value a test may expect)."""

    def __repr__(self) -> str:
        return "<unset>"


UNSET: Any = _Unset()


def json_body(value: Any) -> bytes:
    """The bytes ``WebhookClient.post(json=value)`` sends (and ``sign_request`` signs)."""
    return jsonlib.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def body_bytes(body: Any) -> bytes:
    """A body as the bytes sent: bytes as they are, text as UTF-8, any other value as JSON."""
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    return json_body(body)


class WebhookResponse:
    """The answer to one request, and the execution it started (if any)."""

    def __init__(self, engine: Engine, status: int, headers: list[tuple[str, str]],
                 body: bytes, execution_id: str | None) -> None:
        self.engine = engine
        #: The HTTP status code.
        self.status = status
        #: The answer's headers; names are case-insensitive, a repeated name keeps each value.
        self.headers: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict(headers))
        #: The raw body.
        self.body = body
        #: The id of the execution the request started; None when it started none (refused,
        #: filtered out, answered from an earlier delivery with the same idempotency key).
        self.execution_id = execution_id

    @property
    def text(self) -> str:
        """The body as UTF-8 text."""
        return self.body.decode("utf-8", "replace")

    @property
    def json(self) -> Any:
        """The body parsed as JSON (``ValueError`` when it is not JSON)."""
        try:
            return jsonlib.loads(self.body)
        except ValueError:
            raise ValueError(f"the {self.status} answer's body is not JSON: "
                             f"{self.body[:200]!r}") from None

    @property
    def execution(self) -> Execution | None:
        """The execution as the store holds it now: read again each time, so an async one is
        queued right after the answer and finished after ``engine.drain()`` (or :meth:`wait`).
        None when the request started none, or the store no longer keeps it."""
        if self.execution_id is None:
            return None
        return self.engine.get_execution(self.execution_id)

    def wait(self, timeout: float = 10.0) -> Execution | None:
        """Wait until no execution is queued or running (``engine.drain``), then return
        :attr:`execution`; ``TimeoutError`` when that takes longer than ``timeout`` seconds."""
        if not self.engine.drain(timeout):
            raise TimeoutError(f"executions still queued or running after {timeout} s")
        return self.execution

    def __repr__(self) -> str:
        return f"<WebhookResponse {self.status} execution={self.execution_id}>"


class WebhookClient:
    """Calls an engine's door in process: ``door`` is ``"wsgi"`` (the default) or ``"asgi"``.

    ``app`` is a host application the door wraps (a WSGI app for ``"wsgi"``, an ASGI app for
    ``"asgi"``); paths outside the webhooks go to it, as when mounted.
    """

    def __init__(self, engine: Engine, *, door: str = "wsgi", app: Any = None) -> None:
        if door not in ("wsgi", "asgi"):
            raise ValueError(f"door must be 'wsgi' or 'asgi', got {door!r}")
        self.engine = engine
        self.door = door
        self.app: Any = (WSGIMiddleware(app, engine=engine) if door == "wsgi"
                         else ASGIMiddleware(app, engine=engine))
        self._other: WebhookClient | None = None

    @property
    def wsgi(self) -> WebhookClient:
        """A client of the same engine through the WSGI door."""
        return self if self.door == "wsgi" else self._switched()

    @property
    def asgi(self) -> WebhookClient:
        """A client of the same engine through the ASGI door."""
        return self if self.door == "asgi" else self._switched()

    def _switched(self) -> WebhookClient:
        # The other door, made once; ``app`` is a WSGI or an ASGI app, so it is not carried.
        if self._other is None:
            self._other = WebhookClient(self.engine, door="asgi" if self.door == "wsgi"
                                        else "wsgi")
            self._other._other = self
        return self._other

    def post(self, target: str, *, json: Any = UNSET, body: bytes | str | None = None,
             headers: Headers | None = None, query: Query | None = None,
             client: str = "127.0.0.1") -> WebhookResponse:
        """POST to a workflow: ``target`` is its key or a path (starting with ``/``, relative
        to the mount point, a ``?query`` allowed).

        ``json`` is sent as :func:`json_body` with ``Content-Type: application/json`` (unless
        ``headers`` name one); ``body`` is sent as given (text as UTF-8), with only the
        headers given. ``query`` is a query string or a mapping or pairs to encode; ``client``
        the peer address (for ``config.ipAllowlist``).
        """
        return self.request("POST", target, json=json, body=body, headers=headers,
                            query=query, client=client)

    def request(self, method: str, target: str, *, json: Any = UNSET,
                body: bytes | str | None = None, headers: Headers | None = None,
                query: Query | None = None, client: str = "127.0.0.1") -> WebhookResponse:
        """Any method (``OPTIONS`` for CORS, ``GET`` for the 405), as :meth:`post`."""
        call = self._prepare(method, target, json, body, headers, query, client)
        if self.door == "wsgi":
            return self._wsgi(call)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self._asgi(call))
        raise RuntimeError("an event loop is running here: use 'await client.apost(...)'")

    async def apost(self, target: str, *, json: Any = UNSET, body: bytes | str | None = None,
                    headers: Headers | None = None, query: Query | None = None,
                    client: str = "127.0.0.1") -> WebhookResponse:
        """:meth:`post` for async tests: the ASGI door is awaited in the running loop, the
        WSGI door is called in a thread."""
        call = self._prepare("POST", target, json, body, headers, query, client)
        if self.door == "asgi":
            return await self._asgi(call)
        return await asyncio.to_thread(self._wsgi, call)

    # -- the two doors ---------------------------------------------------------------------
    def _prepare(self, method: str, target: str, json: Any, body: bytes | str | None,
                 headers: Headers | None, query: Query | None, client: str) -> _Call:
        if json is not UNSET and body is not None:
            raise TypeError("give json or body, not both")
        pairs = list(headers.items() if isinstance(headers, Mapping) else headers or ())
        raw = b"" if body is None else body_bytes(body)
        if json is not UNSET:
            raw = json_body(json)
            if not any(name.lower() == "content-type" for name, _ in pairs):
                pairs.append(("Content-Type", "application/json"))
        path, _, query_string = (target if target.startswith("/")
                                 else self._path_of(target)).partition("?")
        if query is not None:
            extra = query if isinstance(query, str) else urlencode(
                list(query.items() if isinstance(query, Mapping) else query), doseq=True)
            query_string = f"{query_string}&{extra}" if query_string else extra
        return _Call(method.upper(), path, query_string, pairs, raw, client)

    def _path_of(self, key: str) -> str:
        workflow = self.engine.get_workflow(key)
        return workflow.url_path if workflow is not None else f"{self.engine.base_path}/{key}"

    def _wsgi(self, call: _Call) -> WebhookResponse:
        environ: dict[str, Any] = {
            "REQUEST_METHOD": call.method, "SCRIPT_NAME": "",
            # PEP 3333: the path's UTF-8 bytes, carried as a latin-1 str.
            "PATH_INFO": call.path.encode("utf-8").decode("latin-1"),
            "QUERY_STRING": call.query, "SERVER_NAME": "testserver", "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.version": (1, 0), "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(call.body), "wsgi.errors": io.StringIO(),
            "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
            "REMOTE_ADDR": call.client, "CONTENT_LENGTH": str(len(call.body)),
        }
        for name, value in call.headers:
            upper = name.upper().replace("-", "_")
            if upper in ("CONTENT_TYPE", "CONTENT_LENGTH"):  # CGI keys, never HTTP_*
                environ[upper] = value
            else:  # a server joins a repeated field with commas (PEP 3333)
                key = f"HTTP_{upper}"
                environ[key] = f"{environ[key]},{value}" if key in environ else value
        seen: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]],
                           exc_info: Any = None) -> Any:
            seen["status"], seen["headers"] = int(status.split()[0]), headers
            return lambda data: None

        # The door names the execution it starts in this context variable (the access log
        # reads it too); a fresh value per call keeps an earlier request's id out.
        token = current_execution.set(None)
        try:
            result = self.app(environ, start_response)
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            execution_id = current_execution.get()
        finally:
            current_execution.reset(token)
        return WebhookResponse(self.engine, seen["status"], list(seen["headers"]), body,
                               execution_id)

    async def _asgi(self, call: _Call) -> WebhookResponse:
        headers = [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in call.headers]
        if not any(name == b"content-length" for name, _ in headers):
            headers.append((b"content-length", str(len(call.body)).encode("ascii")))
        scope = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1", "method": call.method, "scheme": "http",
            "path": call.path, "raw_path": call.path.encode("utf-8"), "root_path": "",
            "query_string": call.query.encode("latin-1"),
            "headers": headers, "client": (call.client, 50000), "server": ("testserver", 80),
        }
        messages = [{"type": "http.request", "body": call.body, "more_body": False}]
        answered = asyncio.Event()
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop(0)
            await answered.wait()  # a real client stays connected until it has the answer
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                answered.set()

        token = current_execution.set(None)
        try:
            await self.app(scope, receive, send)
            execution_id = current_execution.get()
        finally:
            current_execution.reset(token)
        start = next(m for m in sent if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        answer = [(bytes(n).decode("latin-1"), bytes(v).decode("latin-1"))
                  for n, v in start.get("headers", ())]
        return WebhookResponse(self.engine, start["status"], answer, body, execution_id)


class _Call:
    """One request, as both doors need it."""

    __slots__ = ("body", "client", "headers", "method", "path", "query")

    def __init__(self, method: str, path: str, query: str, headers: list[tuple[str, str]],
                 body: bytes, client: str) -> None:
        self.method, self.path, self.query = method, path, query
        self.headers, self.body, self.client = headers, body, client
