"""FastAPI and Starlette: ``add_middleware``, ``app.mount`` and ``Mount`` with the engine's
lifespan."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")

from hostcheck import KEY, Sent, check_host, check_seed, httpx_send
from starlette.testclient import TestClient


def test_fastapi_add_middleware() -> None:
    from examples.hosts import fastapi_app

    with TestClient(fastapi_app.app) as client:
        assert fastapi_app.engine.dispatcher.started  # lifespan startup reached the door
        send = httpx_send(client)
        check_seed(send, f"/api/webhook:trigger/{KEY}")
        check_host(send, f"http://testserver/api/webhook:trigger/{KEY}")
        assert send(Sent("GET", "/docs")).status == 200  # FastAPI's own pages


def test_fastapi_mount_with_engine_lifespan() -> None:
    from examples.hosts import fastapi_mount

    with TestClient(fastapi_mount.app) as client:
        assert fastapi_mount.engine.dispatcher.started  # engine.lifespan() entered
        send = httpx_send(client)
        check_seed(send, f"/hooks/{KEY}")
        check_seed(send, f"/hooks/{KEY}/")
        check_host(send, f"http://testserver/hooks/{KEY}")
        # Mount matches only below the prefix: the bare prefix is Starlette's redirect.
        bare = client.post("/hooks", follow_redirects=False)
        assert bare.status_code == 307
    assert not fastapi_mount.engine.dispatcher.started  # closed at shutdown


def test_starlette_mount() -> None:
    from examples.hosts import starlette_app

    with TestClient(starlette_app.app) as client:
        assert starlette_app.engine.dispatcher.started
        send = httpx_send(client)
        check_seed(send, f"/hooks/{KEY}")
        check_host(send, f"http://testserver/hooks/{KEY}")
        assert send(Sent("GET", "/nowhere")).status == 404
