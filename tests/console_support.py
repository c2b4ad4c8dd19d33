"""What the console's tests share: an engine with workflows that resolve, fail until told not
to, and wait for a callback; real servers on 127.0.0.1 (uvicorn for ASGI, a threaded WSGI
server) in threads of the test process; a small HTTP client that keeps cookies."""

from __future__ import annotations

import contextlib
import http.cookiejar
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from webhook_workflow import Engine, Execution, Status

TOKEN = "console-test-token-1234"
#: The hostile values the XSS tests send (and look for, escaped, in the pages).
HOSTILE = {
    "script": "<script>window.__pwned = 1</script>",
    "attr": '"><img src=x onerror="window.__pwned=2">',
    "single": "' onmouseover='window.__pwned=3",
    "long": "<b>" + "x" * 300_000,
}

FLAKY: dict[str, bool] = {"fail": True}


def flaky(config: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """Fails while ``FLAKY["fail"]`` is set (the tests turn it off before a retry)."""
    if FLAKY["fail"]:
        raise RuntimeError("the payment provider is down <b>503</b>")
    return {"charged": True}


ORDERS = {"key": "orders", "title": "Orders <i>in</i>", "sync": False,
          "config": {"request": {"headers": [{"key": "X-Api-Key"}]}},
          "nodes": [{"key": "check", "type": "condition",
                     "config": {"engine": "basic", "calculation": {"group": {
                         "type": "and", "calculations": [{"calculator": "equal", "operands": [
                             "{{$context.body.ok}}", True]}]}}},
                     "branches": {"1": [{"key": "charge", "type": "flaky"}],
                                  "0": [{"key": "stop", "type": "end",
                                         "config": {"endStatus": -1}}]}}]}
ECHO = {"key": "echo", "sync": True,
        "config": {"basicAuthentication": {"username": "shop", "password": "s3cret-pass"}},
        "nodes": [{"key": "answer", "type": "response",
                   "config": {"statusCode": 200, "body": "{{$context.body}}",
                              "headers": [{"name": "X-Api-Key",
                                           "value": "{{$env.API_KEY}}"}]}}]}
WAITS = {"key": "waits", "sync": False,
         "nodes": [{"key": "approval", "type": "callback", "config": {"timeout": 600_000}}]}


def console_engine(store: str = "memory") -> Engine:
    """An engine with the three workflows and the ``flaky`` node type."""
    engine = Engine(store, env={"API_KEY": "key-from-env-987"}, workers=2)
    engine.register_node("flaky", flaky)
    for definition in (ORDERS, ECHO, WAITS):
        engine.add_workflow(definition)
    return engine


def run(engine: Engine, key: str, body: dict[str, Any],
        headers: dict[str, Any] | None = None) -> Execution:
    """Run a workflow to its end in this thread."""
    return engine.execute(key, {"body": body, "headers": headers or {}})


def wait_for(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll ``check`` until it returns something true."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def ended(engine: Engine, execution_id: str) -> Status | None:
    """The status of an execution once it has ended (waits for it)."""
    done = wait_for(lambda: (e := engine.get_execution(execution_id)) is not None
                    and e.finished and e)
    return done.status if done else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Threaded(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serving(app: Any, kind: str) -> Iterator[str]:
    """Serve ``app`` (``kind`` "asgi" on uvicorn, "wsgi" on a threaded wsgiref server) on
    127.0.0.1; yields the base URL."""
    port = free_port()
    if kind == "wsgi":
        server = make_server("127.0.0.1", port, app, server_class=_Threaded,
                             handler_class=_Quiet)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.shutdown()
            server.server_close()
        return
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            lifespan="off")
    userver = uvicorn.Server(config)
    thread = threading.Thread(target=userver.run, daemon=True)
    thread.start()
    wait_for(lambda: userver.started, 10)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        userver.should_exit = True
        thread.join(10)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    text: str

    def csrf(self) -> str:
        """The CSRF token of the page's first form."""
        found = re.search(r'name="csrf" value="([^"]+)"', self.text)
        assert found, self.text[:2000]
        return found.group(1)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Client:
    """HTTP to a real server, with a cookie jar and no redirects followed."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())

    def send(self, method: str, path: str, *, form: dict[str, str] | None = None,
             headers: dict[str, str] | None = None) -> Reply:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers=headers or {})
        if form is not None:
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with self.opener.open(request, timeout=20) as answer:
                return Reply(answer.status, {k.lower(): v for k, v in answer.headers.items()},
                             answer.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            return Reply(exc.code, {k.lower(): v for k, v in exc.headers.items()},
                         exc.read().decode("utf-8"))

    def get(self, path: str, **kw: Any) -> Reply:
        return self.send("GET", path, **kw)

    def post(self, path: str, form: dict[str, str], **kw: Any) -> Reply:
        return self.send("POST", path, form=form, **kw)

    def login(self, prefix: str = "", token: str = TOKEN) -> Reply:
        page = self.get(f"{prefix}/login")
        return self.post(f"{prefix}/login", {"token": token, "csrf": page.csrf(),
                                             "next": "/"})
