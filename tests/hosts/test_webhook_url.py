"""``webhook_workflow.urls.webhook_url`` on hand-made scopes and environs."""

from __future__ import annotations

from typing import Any

import pytest

from webhook_workflow import Engine
from webhook_workflow.urls import webhook_url


def scope(headers: dict[str, str] | None = None, **values: Any) -> dict[str, Any]:
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1"))
           for k, v in ({"Host": "hooks.test"} if headers is None else headers).items()]
    return {"type": "http", "scheme": "http", "path": "/", "root_path": "", "headers": raw,
            "client": ("203.0.113.9", 4000), "server": ("10.0.0.2", 8000), **values}


def environ(**values: Any) -> dict[str, Any]:
    base = {"wsgi.url_scheme": "http", "SERVER_NAME": "10.0.0.2", "SERVER_PORT": "8000",
            "SCRIPT_NAME": "", "PATH_INFO": "/", "REMOTE_ADDR": "203.0.113.9",
            "HTTP_HOST": "hooks.test", **values}
    return {name: value for name, value in base.items() if value is not None}


@pytest.fixture
def engine() -> Engine:
    return Engine(trusted_proxies=["203.0.113.0/24"])


def test_default_base_path(engine: Engine) -> None:
    assert webhook_url(Engine(), "k", scope=scope()) == \
        "http://hooks.test/api/webhook:trigger/k"
    assert webhook_url(Engine(), "k", environ=environ()) == \
        "http://hooks.test/api/webhook:trigger/k"


def test_mount_argument_for_host_routes() -> None:
    eng = Engine(base_path="")
    assert webhook_url(eng, "k", scope=scope(root_path="/app"), mount="/hooks") == \
        "http://hooks.test/app/hooks/k"
    assert webhook_url(eng, "k", environ=environ(SCRIPT_NAME="/app/"), mount="/hooks") == \
        "http://hooks.test/app/hooks/k"


@pytest.mark.parametrize("bad", [{}, {"scope": {}, "environ": {}}])
def test_needs_exactly_one_request(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="one of them"):
        webhook_url(Engine(), "k", **bad)


@pytest.mark.parametrize("mount", ["hooks", "/hooks/"])
def test_mount_shape(mount: str) -> None:
    with pytest.raises(ValueError, match="mount"):
        webhook_url(Engine(), "k", scope=scope(), mount=mount)


def test_no_host_header_uses_the_server() -> None:
    eng = Engine(base_path="")
    assert webhook_url(eng, "k", scope=scope({})) == "http://10.0.0.2:8000/k"
    assert webhook_url(eng, "k", scope=scope({}, server=("::1", 80))) == "http://[::1]/k"
    assert webhook_url(eng, "k", scope=scope({}, server=None)) == "http://localhost/k"
    assert webhook_url(eng, "k", environ=environ(HTTP_HOST=None)) == "http://10.0.0.2:8000/k"


@pytest.mark.parametrize("host", ["evil.test/x", "a b", "x@y", "", "h:port", "a.test, b.test"])
def test_invalid_host_header_is_ignored(host: str) -> None:
    eng = Engine(base_path="")
    assert webhook_url(eng, "k", scope=scope({"Host": host})) == "http://10.0.0.2:8000/k"


def test_default_ports_are_left_out() -> None:
    eng = Engine(base_path="")
    assert webhook_url(eng, "k", scope=scope({"Host": "h.test:80"})) == "http://h.test/k"
    assert webhook_url(eng, "k", scope=scope({"Host": "h.test:443"}, scheme="https")) == \
        "https://h.test/k"
    assert webhook_url(eng, "k", scope=scope({"Host": "h.test:443"})) == "http://h.test:443/k"
    assert webhook_url(eng, "k", scope=scope(scheme="wss")) == "https://hooks.test/k"


def test_forwarded_headers_from_a_trusted_peer(engine: Engine) -> None:
    forwarded = {"Host": "internal:8000", "X-Forwarded-Proto": "http, https",
                 "X-Forwarded-Host": "spoofed.test, public.test"}
    assert webhook_url(engine, "k", scope=scope(forwarded)) == \
        "https://public.test/api/webhook:trigger/k"
    assert webhook_url(engine, "k", environ=environ(
        HTTP_HOST="internal:8000", HTTP_X_FORWARDED_PROTO="https",
        HTTP_X_FORWARDED_HOST="public.test")) == "https://public.test/api/webhook:trigger/k"


def test_rfc7239_forwarded_header() -> None:
    """With ``forwarded_header="Forwarded"`` only that header is read, and the other way
    round: a client may send the family its proxies do not set."""
    headers = {"Host": "internal", "Forwarded": 'for=1.2.3.4;host="a.test", '
               'for=5.6.7.8;proto=https;host="public.test:8443"',
               "X-Forwarded-Proto": "http", "X-Forwarded-Host": "ignored.test"}
    rfc = Engine(trusted_proxies=["203.0.113.0/24"], forwarded_header="Forwarded")
    assert webhook_url(rfc, "k", scope=scope(headers)) == \
        "https://public.test:8443/api/webhook:trigger/k"
    assert webhook_url(rfc, "k", scope=scope({"Host": "internal",
                                              "X-Forwarded-Host": "x.test"})) == \
        "http://internal/api/webhook:trigger/k"
    xff = Engine(trusted_proxies=["203.0.113.0/24"])
    assert webhook_url(xff, "k", scope=scope(headers)) == \
        "http://ignored.test/api/webhook:trigger/k"


def test_forwarded_headers_from_others_are_ignored(engine: Engine) -> None:
    headers = {"Host": "hooks.test", "X-Forwarded-Proto": "https",
               "X-Forwarded-Host": "evil.test"}
    assert webhook_url(engine, "k", scope=scope(headers, client=("198.51.100.1", 1))) == \
        "http://hooks.test/api/webhook:trigger/k"
    assert webhook_url(Engine(), "k", scope=scope(headers)) == \
        "http://hooks.test/api/webhook:trigger/k"


def test_bad_forwarded_values_are_ignored(engine: Engine) -> None:
    headers = {"Host": "hooks.test", "X-Forwarded-Proto": "gopher",
               "X-Forwarded-Host": "evil.test/path"}
    assert webhook_url(engine, "k", scope=scope(headers)) == \
        "http://hooks.test/api/webhook:trigger/k"


def test_paths_are_percent_encoded() -> None:
    eng = Engine(base_path="/hooks")
    assert webhook_url(eng, "k", scope=scope(root_path="/dé jà", path="/dé jà/hooks/k")) == \
        "http://hooks.test/d%C3%A9%20j%C3%A0/hooks/k"
    # PEP 3333: SCRIPT_NAME carries UTF-8 bytes as latin-1 characters.
    script = "/dé".encode().decode("latin-1")
    assert webhook_url(eng, "k", environ=environ(SCRIPT_NAME=script)) == \
        "http://hooks.test/d%C3%A9/hooks/k"


@pytest.mark.parametrize(("values", "mount"), [
    ({"path": "/k/", "raw_path": b"/hooks/k"}, "/hooks"),  # Litestar mount
    ({"path": "/k/", "raw_path": b"/hooks/k?x=1"}, "/hooks"),  # query left in raw_path
    ({"path": "/k/", "raw_path": b"/hooks/k/", "root_path": "/site"}, "/site/hooks"),
    ({"path": "/k/", "raw_path": b"/site/hooks/k", "root_path": "/site"}, "/site/hooks"),
    ({"path": "/k", "raw_path": b"/k"}, ""),  # nothing cut
    ({"path": "/k", "raw_path": b"/xk"}, ""),  # not at a segment boundary
    ({"path": "/k", "raw_path": "/hooks/k"}, ""),  # not bytes: ignored
    ({"path": "/k"}, ""),  # no raw_path
    ({"path": "/site/hooks/k", "raw_path": b"/hooks/k", "root_path": "/site/hooks"},
     "/site/hooks"),  # uvicorn --root-path + Starlette Mount
])
def test_mount_point_of_asgi_scopes(values: dict[str, Any], mount: str) -> None:
    eng = Engine(base_path="")
    assert webhook_url(eng, "k", scope=scope(**values)) == f"http://hooks.test{mount}/k"
