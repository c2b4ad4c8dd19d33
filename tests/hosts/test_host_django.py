"""Django: ``application`` wrapped in ``wsgi.py`` and in ``asgi.py``, with CSRF and
APPEND_SLASH on (webhook requests never reach them)."""

from __future__ import annotations

import pytest

pytest.importorskip("django")

from hostcheck import KEY, Sent, check_host, check_seed, httpx_send, werkzeug_send

URL = f"/api/webhook:trigger/{KEY}"


def test_django_wsgi() -> None:
    from werkzeug.test import Client

    from examples.hosts.django_site.wsgi import application

    send = werkzeug_send(Client(application))
    check_seed(send, URL)  # no CSRF token, no trailing slash: still answered
    check_host(send, f"http://localhost{URL}", suffix="/")
    # Django's own behaviour is untouched: APPEND_SLASH redirects its routes.
    redirect = send(Sent("GET", "/health"))
    assert redirect.status == 301
    assert redirect.headers["location"].endswith("/health/")


def test_django_wsgi_under_script_name() -> None:
    """Mounted by the server at /site (gunicorn SCRIPT_NAME, waitress --url-prefix)."""
    from werkzeug.test import EnvironBuilder, run_wsgi_app

    from examples.hosts.django_site.wsgi import application

    builder = EnvironBuilder(path=URL, base_url="http://localhost/site", method="POST",
                             headers={"Authorization": "Basic c2hvcDpzM2NyZXQ=",
                                      "X-Request-Id": "r-2"},
                             json={"order": {"id": "B2", "status": "paid"}},
                             query_string="source=shop")
    body, status, _ = run_wsgi_app(application, builder.get_environ())
    assert status.startswith("200")
    assert b"".join(body) == b'{"ok":true,"id":"B2","request":"r-2"}'
    builder = EnvironBuilder(path="/webhook-url/", base_url="http://localhost/site")
    body, status, _ = run_wsgi_app(application, builder.get_environ())
    assert status.startswith("200")
    assert b"".join(body) == b'{"url": "http://localhost/site/api/webhook:trigger/' \
        + KEY.encode() + b'"}'


def test_django_asgi_with_lifespan() -> None:
    from starlette.testclient import TestClient

    from examples.hosts.django_site.asgi import application
    from examples.hosts.django_site.hooks import engine

    # The client sends lifespan events; Django raises on them and the door answers instead.
    with TestClient(application) as client:
        assert engine.dispatcher.started
        send = httpx_send(client)
        check_seed(send, URL)
        check_host(send, f"http://testserver{URL}", suffix="/")
        assert send(Sent("GET", "/health/")).status == 200
