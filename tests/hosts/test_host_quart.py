"""Quart: the door around ``app.asgi_app``, lifespan included."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("quart")

from hostcheck import KEY, Answer, Sent, check_host, check_seed, httpx_send, lower


def test_quart_middleware() -> None:
    from examples.hosts import quart_app

    loop = asyncio.new_event_loop()
    test_app = quart_app.app.test_app()
    loop.run_until_complete(test_app.startup())  # lifespan through the door
    try:
        assert quart_app.engine.dispatcher.started
        client = test_app.test_client()

        def send(request: Sent) -> Answer:
            async def go() -> Answer:
                response = await client.open(request.url, method=request.method,
                                             headers=request.headers, data=request.body)
                return Answer(response.status_code, lower(response.headers),
                              await response.get_data())

            return loop.run_until_complete(go())

        check_seed(send, f"/api/webhook:trigger/{KEY}")
        check_host(send, f"http://localhost/api/webhook:trigger/{KEY}")
        assert send(Sent("GET", "/nowhere")).status == 404
    finally:
        loop.run_until_complete(test_app.shutdown())
        loop.close()
    assert not quart_app.engine.dispatcher.started


def test_quart_beside_the_door_with_hypercorn_dispatcher() -> None:
    """hypercorn's DispatcherMiddleware mounts the door at /hooks beside a Quart app and
    fans the lifespan events out to both."""
    pytest.importorskip("hypercorn")
    from hypercorn.middleware import DispatcherMiddleware
    from starlette.testclient import TestClient

    from examples.hosts import EXAMPLE, quart_app
    from webhook_workflow import Engine
    from webhook_workflow.asgi import WebhookMiddleware

    engine = Engine(base_path="")
    engine.add_workflow(EXAMPLE)
    app = DispatcherMiddleware({"/hooks": WebhookMiddleware(engine=engine), "": quart_app.app})
    with TestClient(app) as client:
        assert engine.dispatcher.started
        send = httpx_send(client)
        check_seed(send, f"/hooks/{KEY}")
        assert send(Sent("GET", "/health")).json() == {"status": "up"}
    assert not engine.dispatcher.started
