"""``webhook_url`` from the environ/scope the door sees, behind every mount style: the URL it
builds is the one the client used."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from hostcheck import AUTH, KEY, PAID

from examples.hosts import EXAMPLE
from webhook_workflow import Engine
from webhook_workflow.asgi import WebhookMiddleware as AsgiDoor
from webhook_workflow.urls import webhook_url
from webhook_workflow.wsgi import WebhookMiddleware as WsgiDoor

HEADERS = {"Authorization": AUTH, "Content-Type": "application/json", "X-Request-Id": "r-1"}


@pytest.fixture
def engine() -> Iterator[Engine]:
    eng = Engine(base_path="")
    eng.add_workflow(EXAMPLE)
    yield eng
    eng.close(timeout=5)


class WsgiProbe:
    """Records the environ, then hands it to the door unchanged."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seen: list[dict[str, Any]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        self.seen.append(dict(environ))
        result: Iterable[bytes] = self.app(environ, start_response)
        return result


class AsgiProbe:
    """Records the scope, then hands it to the door unchanged."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seen: list[dict[str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.seen.append(dict(scope))
        await self.app(scope, receive, send)


def _site(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"site"]


# -- WSGI ------------------------------------------------------------------------------------------
def _wsgi_post(app: Any, path: str, base_url: str = "http://localhost",
               **environ: Any) -> int:
    from werkzeug.test import EnvironBuilder, run_wsgi_app

    builder = EnvironBuilder(path=path, base_url=base_url, method="POST", headers=HEADERS,
                             data=PAID, query_string="source=shop",
                             environ_overrides=environ or None)
    _, status, _ = run_wsgi_app(app, builder.get_environ())
    return int(status.split()[0])


def test_wsgi_middleware_form(engine: Engine) -> None:
    pytest.importorskip("werkzeug")
    probe = WsgiProbe(WsgiDoor(_site, engine=engine))
    assert _wsgi_post(probe, f"/{KEY}") == 200
    assert webhook_url(engine, KEY, environ=probe.seen[0]) == f"http://localhost/{KEY}"


def test_wsgi_dispatcher_middleware(engine: Engine) -> None:
    pytest.importorskip("werkzeug")
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    probe = WsgiProbe(WsgiDoor(engine=engine))
    app = DispatcherMiddleware(_site, {"/api/hooks": probe})
    assert _wsgi_post(app, f"/api/hooks/{KEY}") == 200
    assert probe.seen[0]["SCRIPT_NAME"] == "/api/hooks"
    assert webhook_url(engine, KEY, environ=probe.seen[0]) == \
        f"http://localhost/api/hooks/{KEY}"


def test_wsgi_server_script_name(engine: Engine) -> None:
    """gunicorn SCRIPT_NAME, waitress --url-prefix, granian --url-path-prefix; UTF-8 prefix."""
    pytest.importorskip("werkzeug")
    probe = WsgiProbe(WsgiDoor(engine=engine))
    assert _wsgi_post(probe, f"/{KEY}", base_url="https://example.org:8443/h%C3%A9") == 200
    assert webhook_url(engine, KEY, environ=probe.seen[0]) == \
        f"https://example.org:8443/h%C3%A9/{KEY}"


def test_wsgi_behind_proxy_fix(engine: Engine) -> None:
    """Werkzeug's ProxyFix rewrites the environ itself: the door's URL follows it."""
    pytest.importorskip("werkzeug")
    from werkzeug.middleware.proxy_fix import ProxyFix

    probe = WsgiProbe(WsgiDoor(engine=engine))
    app = ProxyFix(probe, x_proto=1, x_host=1, x_prefix=1)
    assert _wsgi_post(app, f"/{KEY}", HTTP_X_FORWARDED_PROTO="https",
                      HTTP_X_FORWARDED_HOST="hooks.example.com",
                      HTTP_X_FORWARDED_PREFIX="/edge") == 200
    assert webhook_url(engine, KEY, environ=probe.seen[0]) == \
        f"https://hooks.example.com/edge/{KEY}"


@pytest.mark.parametrize(("trusted", "expected"), [
    ((), f"http://localhost/{KEY}"),
    (("127.0.0.0/8",), f"https://hooks.example.com/{KEY}"),
])
def test_wsgi_forwarded_headers_only_from_trusted_peers(trusted: tuple[str, ...],
                                                        expected: str) -> None:
    pytest.importorskip("werkzeug")
    engine = Engine(base_path="", trusted_proxies=list(trusted))
    engine.add_workflow(EXAMPLE)
    probe = WsgiProbe(WsgiDoor(engine=engine))
    assert _wsgi_post(probe, f"/{KEY}", HTTP_X_FORWARDED_PROTO="https",
                      HTTP_X_FORWARDED_HOST="hooks.example.com",
                      REMOTE_ADDR="127.0.0.1") == 200
    assert webhook_url(engine, KEY, environ=probe.seen[0]) == expected
    engine.close(timeout=5)


# -- ASGI ------------------------------------------------------------------------------------------
def _asgi_call(app: Any, scope: dict[str, Any]) -> int:
    """One POST of the seed body through ``app`` with a hand-made scope (as a server makes it)."""
    messages: list[dict[str, Any]] = []
    body = [{"type": "http.request", "body": PAID, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return body.pop(0) if body else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    headers = [(b"host", b"hooks.test"), *((k.lower().encode(), v.encode())
                                           for k, v in HEADERS.items())]
    full = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "query_string": b"source=shop",
            "headers": headers, "client": ("192.0.2.7", 50000),
            "server": ("hooks.test", 80), "root_path": "", **scope}
    asyncio.run(app(full, receive, send))
    return int(messages[0]["status"])


def _uvicorn_scope(root_path: str, target: str) -> dict[str, Any]:
    """What ``uvicorn --root-path`` makes of a request for ``target``: root in path, not in
    raw_path."""
    return {"path": root_path + target, "raw_path": target.encode(), "root_path": root_path}


def test_asgi_middleware_form_and_root_path(engine: Engine) -> None:
    probe = AsgiProbe(AsgiDoor(engine=engine))
    assert _asgi_call(probe, _uvicorn_scope("", f"/{KEY}")) == 200
    assert _asgi_call(probe, _uvicorn_scope("/site", f"/{KEY}")) == 200
    assert webhook_url(engine, KEY, scope=probe.seen[0]) == f"http://hooks.test/{KEY}"
    assert webhook_url(engine, KEY, scope=probe.seen[1]) == f"http://hooks.test/site/{KEY}"


def test_starlette_mount(engine: Engine) -> None:
    pytest.importorskip("starlette")
    from starlette.applications import Starlette
    from starlette.routing import Mount

    probe = AsgiProbe(AsgiDoor(engine=engine))
    app = Starlette(routes=[Mount("/api", routes=[Mount("/hooks", app=probe)])])
    assert _asgi_call(app, _uvicorn_scope("", f"/api/hooks/{KEY}")) == 200
    assert _asgi_call(app, _uvicorn_scope("/site", f"/api/hooks/{KEY}")) == 200
    assert webhook_url(engine, KEY, scope=probe.seen[0]) == f"http://hooks.test/api/hooks/{KEY}"
    assert webhook_url(engine, KEY, scope=probe.seen[1]) == \
        f"http://hooks.test/site/api/hooks/{KEY}"


def test_starlette_test_client_mount(engine: Engine) -> None:
    pytest.importorskip("starlette")
    from starlette.applications import Starlette
    from starlette.routing import Mount
    from starlette.testclient import TestClient

    probe = AsgiProbe(AsgiDoor(engine=engine))
    with TestClient(Starlette(routes=[Mount("/hooks", app=probe)])) as client:
        response = client.post(f"/hooks/{KEY}?source=shop", headers=HEADERS, content=PAID)
    assert response.status_code == 200
    assert webhook_url(engine, KEY, scope=probe.seen[0]) == f"http://testserver/hooks/{KEY}"


def test_litestar_mount(engine: Engine) -> None:
    """Litestar cuts the prefix from path and leaves root_path: raw_path tells it."""
    pytest.importorskip("litestar")
    from litestar import Litestar
    from litestar.handlers import asgi
    from litestar.types import Receive, Scope, Send

    probe = AsgiProbe(AsgiDoor(engine=engine))

    @asgi("/hooks", is_mount=True, copy_scope=False)
    async def hooks(scope: Scope, receive: Receive, send: Send) -> None:
        await probe(scope, receive, send)

    app = Litestar([hooks])
    assert _asgi_call(app, _uvicorn_scope("", f"/hooks/{KEY}")) == 200
    assert _asgi_call(app, _uvicorn_scope("/site", f"/hooks/{KEY}/")) == 200
    assert probe.seen[0]["path"] == f"/{KEY}/"
    assert probe.seen[0]["root_path"] == ""
    assert webhook_url(engine, KEY, scope=probe.seen[0]) == f"http://hooks.test/hooks/{KEY}"
    assert webhook_url(engine, KEY, scope=probe.seen[1]) == \
        f"http://hooks.test/site/hooks/{KEY}"


def test_hypercorn_dispatcher(engine: Engine) -> None:
    pytest.importorskip("hypercorn")
    from hypercorn.middleware import DispatcherMiddleware

    probe = AsgiProbe(AsgiDoor(engine=engine))
    app = DispatcherMiddleware({"/hooks": probe})
    assert _asgi_call(app, _uvicorn_scope("", f"/hooks/{KEY}")) == 200
    assert probe.seen[0]["root_path"] == "/hooks"
    assert webhook_url(engine, KEY, scope=probe.seen[0]) == f"http://hooks.test/hooks/{KEY}"


@pytest.mark.parametrize(("trusted", "expected"), [
    ((), f"http://hooks.test/{KEY}"),
    (("192.0.2.0/24",), f"https://public.example:8443/{KEY}"),
])
def test_asgi_forwarded_headers_only_from_trusted_peers(trusted: tuple[str, ...],
                                                        expected: str) -> None:
    engine = Engine(base_path="", trusted_proxies=list(trusted))
    engine.add_workflow(EXAMPLE)
    probe = AsgiProbe(AsgiDoor(engine=engine))
    scope = _uvicorn_scope("", f"/{KEY}")
    assert _asgi_call(probe, scope) == 200
    seen = dict(probe.seen[0])
    seen["headers"] = [*seen["headers"], (b"x-forwarded-proto", b"https"),
                       (b"x-forwarded-host", b"public.example:8443")]
    assert webhook_url(engine, KEY, scope=seen) == expected
    engine.close(timeout=5)
