"""Flask: the door around ``app.wsgi_app``, and mounted with ``DispatcherMiddleware``."""

from __future__ import annotations

import pytest

pytest.importorskip("flask")

from hostcheck import KEY, Sent, check_host, check_seed, werkzeug_send


def test_flask_middleware() -> None:
    from examples.hosts import flask_app

    send = werkzeug_send(flask_app.app.test_client())
    check_seed(send, f"/api/webhook:trigger/{KEY}")
    check_host(send, f"http://localhost/api/webhook:trigger/{KEY}")
    # Outside the door's paths Flask answers, 404s included.
    assert send(Sent("GET", "/nowhere")).status == 404


def test_flask_dispatcher_middleware() -> None:
    from examples.hosts import flask_dispatch

    send = werkzeug_send(flask_dispatch.app.test_client())
    check_seed(send, f"/hooks/{KEY}")
    check_seed(send, f"/hooks/{KEY}/")
    check_host(send, f"http://localhost/hooks/{KEY}")
    # The bare prefix reaches the door with PATH_INFO "": not a webhook, the door's 404.
    bare = send(Sent("POST", "/hooks"))
    assert bare.status == 404
    assert bare.json() == {"errors": [{"message": "not found"}]}
    outside = send(Sent("POST", f"/{KEY}"))  # not below /hooks: Flask's own 404 page
    assert outside.status == 404
    assert outside.headers["content-type"].startswith("text/html")
