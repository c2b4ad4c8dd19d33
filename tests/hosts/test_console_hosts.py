"""The console mounted at ``/ops`` in real host frameworks, exactly as examples/console/ (and
docs/console.md) tell users to: Starlette Mount, FastAPI mount, Flask DispatcherMiddleware,
Django URL routing, Litestar mount. Each: 403 before a token is set; then a webhook through
the host, the login form, the list, an execution page and a replay (CSRF included)."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hostcheck import ROOT

TOKEN = "host-console-token-42"
_DJANGO_CHILD = "WEBHOOK_WORKFLOW_TEST_DJANGO_CHILD"
PAID = {"order": {"id": "H1", "status": "paid"}}
BASIC = {"Authorization": "Basic c2hvcDpzM2NyZXQ=", "X-Request-Id": "h-1"}


def _load(name: str, monkeypatch: pytest.MonkeyPatch, token: str | None) -> Any:
    if token is None:
        monkeypatch.delenv("WEBHOOK_WORKFLOW_CONSOLE_TOKEN", raising=False)
    else:
        monkeypatch.setenv("WEBHOOK_WORKFLOW_CONSOLE_TOKEN", token)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    module = sys.modules.get(f"examples.console.{name}")
    return importlib.reload(module) if module else importlib.import_module(
        f"examples.console.{name}")


def _csrf(text: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', text)
    assert found, text[:1000]
    return found.group(1)


def _walk(get: Callable[[str], Any], post: Callable[[str, dict[str, str]], Any],
          status: Callable[[Any], int], text: Callable[[Any], str],
          header: Callable[[Any, str], str]) -> None:
    """The walk every host must support, through its own test client (cookies kept)."""
    first = get("/ops/executions")
    assert status(first) == 303 and header(first, "location").startswith("/ops/login?next=")
    login = get("/ops/login")
    assert status(login) == 200
    done = post("/ops/login", {"token": TOKEN, "csrf": _csrf(text(login)), "next": "/"})
    assert status(done) == 303 and header(done, "location") == "/ops/"
    listed = get("/ops/")
    assert status(listed) == 200, text(listed)
    assert 'href="/ops/static/console.css?v=1"' in text(listed)
    ids = re.findall(r'href="/ops/executions/(\d+)"', text(listed))
    assert ids, "the webhook's execution is listed"
    page = get(f"/ops/executions/{ids[0]}")
    assert status(page) == 200 and "H1" in text(page)
    assert "unsafe-inline" not in header(page, "content-security-policy")
    confirm = get(f"/ops/executions/{ids[0]}/replay")
    replayed = post(f"/ops/executions/{ids[0]}/replay", {"csrf": _csrf(text(confirm))})
    assert status(replayed) == 200 and "Replayed as execution" in text(replayed)
    assert status(post(f"/ops/executions/{ids[0]}/replay", {})) == 403  # no CSRF token
    css = get("/ops/static/console.css")
    assert status(css) == 200


def _httpx_walk(client: Any) -> None:
    _walk(lambda p: client.get(p), lambda p, f: client.post(p, data=f),
          lambda r: r.status_code, lambda r: r.text, lambda r, n: r.headers.get(n, ""))


@pytest.fixture(params=["starlette_mount", "fastapi_mount", "litestar_mount"])
def asgi_example(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_asgi_hosts(asgi_example: str, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("httpx")
    if asgi_example == "litestar_mount":
        pytest.importorskip("litestar")
        from litestar.testing import TestClient as LitestarClient

        def client_of(app: Any) -> Any:
            client = LitestarClient(app)
            client.follow_redirects = False
            return client
    else:
        pytest.importorskip("starlette")
        from starlette.testclient import TestClient

        def client_of(app: Any) -> Any:
            return TestClient(app, follow_redirects=False)

    closed = _load(asgi_example, monkeypatch, None)
    with client_of(closed.app) as client:
        refused = client.get("/ops/")
        assert refused.status_code == 403
        # FastAPI's example has a rule of its own: it refuses, the others are unconfigured.
        assert ("WEBHOOK_WORKFLOW_CONSOLE_TOKEN" in refused.text) == (
            asgi_example != "fastapi_mount")
    module = _load(asgi_example, monkeypatch, TOKEN)
    with client_of(module.app) as client:
        hook = client.post("/hooks/payment-callback", json=PAID, headers=BASIC)
        assert hook.status_code == 200
        _httpx_walk(client)
        if asgi_example == "fastapi_mount":  # the host's own rule lets the proxy's user in
            fresh = client_of(module.app)
            assert fresh.get("/ops/workflows").status_code == 303
            assert fresh.get("/ops/workflows",
                             headers={"X-Forwarded-Groups": "ops"}).status_code == 200


def test_flask_dispatcher_middleware(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("flask")
    module = _load("flask_dispatch", monkeypatch, TOKEN)
    client = module.app.test_client()
    hook = client.post("/hooks/payment-callback", json=PAID, headers=BASIC)
    assert hook.status_code == 200
    _walk(lambda p: client.get(p), lambda p, f: client.post(p, data=f),
          lambda r: r.status_code, lambda r: r.get_data(as_text=True),
          lambda r, n: r.headers.get(n, ""))
    assert client.get("/health").status_code == 200  # Flask's own routes are untouched


def test_django_url_routing(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("django")
    if os.environ.get(_DJANGO_CHILD) != "1":
        # The example configures Django's process-wide settings itself (a site in one file),
        # which would leave every later Django test in this process on its routes: the walk
        # runs in a pytest of its own.
        child = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
             f"{__file__}::test_django_url_routing"],
            env={**os.environ, _DJANGO_CHILD: "1"}, cwd=ROOT, capture_output=True,
            text=True, timeout=300, check=False)
        assert child.returncode == 0, child.stdout[-4000:] + child.stderr[-2000:]
        assert "1 passed" in child.stdout
        return
    from werkzeug.test import Client

    module = _load("django_urls", monkeypatch, TOKEN)
    import django
    from django.core.handlers.wsgi import WSGIHandler
    from django.test.utils import override_settings

    django.setup()
    # Another test may have configured Django first: route to the example's patterns.
    with override_settings(ROOT_URLCONF=module.__name__, ALLOWED_HOSTS=["*"]):
        client = Client(WSGIHandler())
        module.engine.execute("payment-callback", {"body": PAID,
                                                   "headers": {"X-Request-Id": "h"}})
        _walk(lambda p: client.get(p), lambda p, f: client.post(p, data=f),
              lambda r: r.status_code, lambda r: r.get_data(as_text=True),
              lambda r, n: r.headers.get(n, ""))
        fresh = Client(WSGIHandler())
        cookies = [v for k, v in fresh.get("/ops/login").headers.items()
                   if k.lower() == "set-cookie"]
        assert cookies and all("HttpOnly" in c and "SameSite=Strict" in c for c in cookies)


@pytest.fixture(autouse=True)
def _closed_engines() -> Iterator[None]:
    yield
    for name in ("starlette_mount", "fastapi_mount", "litestar_mount", "flask_dispatch",
                 "django_urls"):
        module = sys.modules.get(f"examples.console.{name}")
        if module is not None:
            module.engine.close(timeout=5)
