"""ASGI-specific behaviour of the door: pass-through, mounting, disconnects, lifespan."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from conftest import JSON
from doors import Door, Request
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from webhook_workflow import Engine, Status
from webhook_workflow.asgi import WebhookMiddleware, route_path


@pytest.fixture
def engine() -> Engine:
    eng = Engine()
    eng.add_workflow({"key": "hook", "sync": True, "nodes": [
        {"key": "r", "type": "response", "config": {"body": "{{$context.body}}"}}]})
    eng.add_workflow({"key": "later", "nodes": [
        {"key": "o", "type": "output", "config": {"value": "{{$context.body}}"}}]})
    yield eng
    eng.close(timeout=5)


def host_app() -> Starlette:
    async def home(request: Any) -> PlainTextResponse:
        return PlainTextResponse("home " + request.scope.get("root_path", ""))

    return Starlette(routes=[Route("/", home), Route("/about", home)])


async def post(app: Any, url: str, body: bytes = b"{}", **kw: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.post(url, content=body, headers={"content-type": "application/json"},
                                 **kw)


def test_route_path_strips_root_path_at_a_segment_boundary() -> None:
    assert route_path({"path": "/hooks/x", "root_path": "/hooks"}) == "/x"
    assert route_path({"path": "/hooks", "root_path": "/hooks"}) == "/"
    assert route_path({"path": "/hooksx/y", "root_path": "/hooks"}) == "/hooksx/y"
    assert route_path({"path": "/x", "root_path": "/hooks"}) == "/x"  # Litestar-style remainder
    assert route_path({"path": "", "root_path": ""}) == "/"


def test_middleware_around_starlette_passes_other_paths(engine: Engine) -> None:
    app = host_app()
    app.add_middleware(WebhookMiddleware, engine=engine)

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/about")).text == "home "
            hook = await client.post("/api/webhook:trigger/hook", json={"a": 1})
            assert hook.json() == {"a": 1}

    asyncio.run(scenario())


def test_mounted_in_starlette_under_a_prefix(engine: Engine) -> None:
    app = Starlette(routes=[Mount("/hooks", app=WebhookMiddleware(engine=engine)),
                            Route("/", lambda r: PlainTextResponse("root"))])
    answer = asyncio.run(post(app, "/hooks/api/webhook:trigger/hook", b'{"m":1}'))
    assert answer.json() == {"m": 1}


def test_litestar_style_remainder_with_trailing_slash(engine: Engine) -> None:
    door = Door("asgi", engine)
    answer = door.call(Request(path="/api/webhook:trigger/hook/", body=b'{"x":1}',
                               headers=[JSON]))
    assert answer.json() == {"x": 1}


def test_scope_is_not_mutated_and_other_scope_types_pass_through(engine: Engine) -> None:
    seen: list[dict[str, Any]] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope)

    app = WebhookMiddleware(inner, engine=engine)
    scope = {"type": "websocket", "path": "/api/webhook:trigger/hook", "headers": []}
    asyncio.run(app(scope, None, None))  # type: ignore[arg-type]
    assert seen == [scope] and seen[0] is scope


def test_standalone_refuses_unknown_scope_types(engine: Engine) -> None:
    app = WebhookMiddleware(engine=engine)
    with pytest.raises(RuntimeError, match="websocket"):
        asyncio.run(app({"type": "websocket", "path": "/"}, None, None))  # type: ignore[arg-type]


def test_disconnect_before_the_body_is_complete_runs_nothing(engine: Engine) -> None:
    app = WebhookMiddleware(engine=engine)
    messages = [{"type": "http.request", "body": b'{"a":', "more_body": True},
                {"type": "http.disconnect"}]
    sent: list[Any] = []

    async def receive() -> Any:
        return messages.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/webhook:trigger/later",
             "root_path": "", "query_string": b"", "headers": [(b"content-type",
                                                                b"application/json")]}
    asyncio.run(app(scope, receive, send))
    assert sent == []
    assert engine.executions() == []


def test_client_gone_while_sending_is_not_an_error(engine: Engine) -> None:
    app = WebhookMiddleware(engine=engine)
    messages = [{"type": "http.request", "body": b"{}", "more_body": False}]

    async def receive() -> Any:
        return messages.pop(0)

    async def send(message: Any) -> None:
        raise OSError("connection closed")

    scope = {"type": "http", "method": "POST", "path": "/api/webhook:trigger/hook",
             "root_path": "", "query_string": b"", "headers": []}
    asyncio.run(app(scope, receive, send))
    [execution] = engine.executions("hook")
    assert execution.status == Status.RESOLVED


async def run_lifespan(app: Any) -> list[str]:
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sent: list[str] = []
    await queue.put({"type": "lifespan.startup"})

    async def receive() -> dict[str, Any]:
        return await queue.get()

    async def send(message: dict[str, Any]) -> None:
        sent.append(message["type"])
        if message["type"] == "lifespan.startup.complete":
            await queue.put({"type": "lifespan.shutdown"})

    await asyncio.wait_for(app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send),
                           timeout=10)
    return sent


def test_standalone_lifespan_starts_and_drains(engine: Engine) -> None:
    assert not engine.dispatcher.started
    sent = asyncio.run(run_lifespan(WebhookMiddleware(engine=engine)))
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert not engine.dispatcher.started  # closed again on shutdown


def test_lifespan_is_forwarded_to_a_wrapped_app(engine: Engine) -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        events.append("host up, engine started=" + str(engine.dispatcher.started))
        yield
        events.append("host down")

    host = Starlette(routes=[], lifespan=lifespan)
    sent = asyncio.run(run_lifespan(WebhookMiddleware(host, engine=engine)))
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert events == ["host up, engine started=True", "host down"]


def test_lifespan_is_answered_when_the_wrapped_app_raises_like_django(engine: Engine) -> None:
    async def django_like(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError("Django can only handle ASGI/HTTP connections, not lifespan.")

    sent = asyncio.run(run_lifespan(WebhookMiddleware(django_like, engine=engine)))
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_lifespan_when_the_wrapped_app_raises_after_receiving_startup(engine: Engine) -> None:
    async def picky(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        raise RuntimeError("no lifespan here")

    sent = asyncio.run(run_lifespan(WebhookMiddleware(picky, engine=engine)))
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_async_execution_survives_the_request_event_loop(engine: Engine) -> None:
    # Each request on a fresh loop (as Django's async_to_sync or per-call asyncio.run do):
    # the background run must not depend on the loop that received the webhook.
    app = WebhookMiddleware(engine=engine)
    for i in range(3):
        answer = asyncio.run(post(app, "/api/webhook:trigger/later", f'{{"n":{i}}}'.encode()))
        assert answer.text == "ok"
    assert engine.drain(5)
    outputs = sorted(e.output["n"] for e in engine.executions("later"))
    assert outputs == [0, 1, 2]


def test_blocking_custom_node_does_not_block_the_event_loop() -> None:
    import threading

    engine = Engine()
    release = threading.Event()
    engine.register_node("wait", lambda config, ctx: release.wait(5))
    engine.add_workflow({"key": "slow", "sync": True, "nodes": [{"key": "w", "type": "wait"}]})
    app = WebhookMiddleware(engine=engine)

    async def scenario() -> int:
        request = asyncio.create_task(post(app, "/api/webhook:trigger/slow"))
        await asyncio.sleep(0.05)
        ticks = 0
        for _ in range(5):  # the loop keeps running while the node blocks in a thread
            await asyncio.sleep(0.01)
            ticks += 1
        release.set()
        answer = await asyncio.wait_for(request, 5)
        return answer.status_code + ticks

    assert asyncio.run(scenario()) == 205
    engine.close()


def test_async_custom_node_runs_on_the_loop() -> None:
    engine = Engine()

    async def node(config: Any, ctx: Any) -> Any:
        await asyncio.sleep(0)
        return {"hello": config["who"]}

    engine.register_node("greet", node)
    engine.add_workflow({"key": "g", "sync": True, "nodes": [
        {"key": "n", "type": "greet", "config": {"who": "{{$context.body.name}}"}},
        {"key": "r", "type": "response", "config": {"body": "{{$jobsMapByNodeKey.n}}"}}]})
    answer = asyncio.run(post(WebhookMiddleware(engine=engine), "/api/webhook:trigger/g",
                              b'{"name":"ada"}'))
    assert answer.json() == {"hello": "ada"}
    engine.close()


def _call(app: Any, scope: dict[str, Any], messages: list[dict[str, Any]]) -> tuple[int, bytes]:
    sent: list[Any] = []

    async def receive() -> Any:
        return messages.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], b"".join(m.get("body", b"") for m in sent[1:])


def _echo_engine() -> Engine:
    eng = Engine()
    eng.add_workflow({
        "key": "echo", "sync": True,
        "config": {"basicAuthentication": {"username": "u", "password": "p:w"},
                   "request": {"headers": [{"key": "X-Tag"}]}},
        "nodes": [{"key": "r", "type": "response",
                   "config": {"body": {"tag": "{{$context.headers.X-Tag}}",
                                       "body": "{{$context.body}}"}}}]})
    return eng


def _scope(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": "/api/webhook:trigger/echo",
            "root_path": "", "query_string": b"", "headers": headers}


AUTH = b"Basic dTpwOnc="  # u:p:w


@pytest.mark.parametrize("auth", [AUTH, b"basic dTpwOnc=", b"BASIC   dTpwOnc=  "])
def test_header_names_in_any_case_and_repeats_joined(auth: bytes) -> None:
    """Servers may send names as received: case-insensitive, repeats joined with ', '."""
    eng = _echo_engine()
    try:
        status, body = _call(WebhookMiddleware(engine=eng), _scope([
            (b"Content-Type", b"application/json"), (b"AUTHORIZATION", auth),
            (b"X-Tag", b"a"), (b"x-tag", b"b")]), [
            {"type": "http.request", "body": b"", "more_body": True},
            {"type": "http.request", "body": b'{"n":', "more_body": True},
            {"type": "http.request", "body": b"1}", "more_body": False}])
        assert (status, json.loads(body)) == (200, {"tag": "a, b", "body": {"n": 1}})
    finally:
        eng.close(timeout=5)


@pytest.mark.parametrize("auth", [None, b"Basic dTpwOnc", b"Basic dTpw", b"Bearer dTpwOnc=",
                                  b"Basic dTpwOnc=x"])
def test_other_credentials_are_refused(auth: bytes | None) -> None:
    eng = _echo_engine()
    headers = [(b"content-type", b"application/json")]
    if auth is not None:
        headers.append((b"authorization", auth))
    try:
        status, _ = _call(WebhookMiddleware(engine=eng), _scope(headers), [
            {"type": "http.request", "body": b"{}", "more_body": False}])
        assert status == 401
        assert eng.executions() == []
    finally:
        eng.close(timeout=5)
