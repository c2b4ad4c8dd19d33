"""Litestar: the door mounted with ``@asgi("/hooks", is_mount=True)``."""

from __future__ import annotations

import pytest

pytest.importorskip("litestar")

from hostcheck import KEY, Sent, check_host, check_seed, httpx_send


def test_litestar_mount() -> None:
    from litestar.testing import TestClient

    from examples.hosts import litestar_app

    with TestClient(litestar_app.app) as client:
        assert litestar_app.engine.dispatcher.started  # Litestar(lifespan=[engine.lifespan])
        send = httpx_send(client)
        check_seed(send, f"/hooks/{KEY}")
        check_seed(send, f"/hooks/{KEY}/")
        check_host(send, f"http://testserver.local/hooks/{KEY}")
        assert send(Sent("GET", "/nowhere")).status == 404
    assert not litestar_app.engine.dispatcher.started
