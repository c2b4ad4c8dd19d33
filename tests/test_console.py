"""The console through both doors on real servers (uvicorn, a threaded WSGI server), mounted
below a prefix: access rules, CSRF, headers, pages, actions and the JSON API."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from console_support import (
    FLAKY,
    HOSTILE,
    TOKEN,
    Client,
    console_engine,
    ended,
    run,
    serving,
    wait_for,
)

from webhook_workflow import Engine, Status
from webhook_workflow.console import Console, ConsoleRequest

PREFIX = "/ops"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def _mounted(console: Console, kind: str) -> Any:
    """The console's door below PREFIX, as a host's router would mount it."""
    if kind == "wsgi":
        inner = console.wsgi

        def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
            path = environ.get("PATH_INFO", "")
            if path == PREFIX or path.startswith(PREFIX + "/"):
                environ = {**environ, "SCRIPT_NAME": PREFIX, "PATH_INFO": path[len(PREFIX):]}
                return inner(environ, start_response)
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"host 404"]

        return wsgi
    inner_asgi = console.asgi

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        # As Starlette's Mount does: the full path stays, root_path grows.
        await inner_asgi({**scope, "root_path": PREFIX}, receive, send)

    return asgi


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    made = console_engine()
    yield made
    made.close(timeout=5)


@pytest.fixture(scope="module", params=["wsgi", "asgi"])
def base(request: pytest.FixtureRequest, engine: Engine) -> Iterator[str]:
    console = Console(engine, token=TOKEN, title="Ops <console>")
    with serving(_mounted(console, request.param), request.param) as url:
        yield url + PREFIX


def test_without_access_configured_every_page_and_the_api_answer_403(engine: Engine) -> None:
    for kind in ("wsgi", "asgi"):
        with serving(_mounted(Console(engine), kind), kind) as url:
            client = Client(url + PREFIX)
            page = client.get("/", headers=BEARER)
            assert page.status == 403
            assert "WEBHOOK_WORKFLOW_CONSOLE_TOKEN" in page.text and "authorize=" in page.text
            assert "unsafe-inline" not in page.headers["content-security-policy"]
            api = client.get("/api/executions")
            assert api.status == 403
            assert json.loads(api.text) == {"errors": [{"message": "access to the console "
                                                        "is not configured"}]}
            assert client.post("/executions/x/retry", {}).status == 403


def test_a_token_is_asked_for_and_a_bearer_header_or_a_login_lets_in(base: str) -> None:
    client = Client(base)
    page = client.get("/?status=failed")
    assert page.status == 303
    assert page.headers["location"] == f"{PREFIX}/login?next=%2F%3Fstatus%3Dfailed"
    api = client.get("/api/executions")
    assert api.status == 401 and api.headers["www-authenticate"].startswith("Bearer")
    assert client.get("/api/executions", headers=BEARER).status == 200
    assert client.get("/", headers={"Authorization": "Bearer wrong-token-0000"}).status == 303
    form = client.get("/login")
    wrong = client.post("/login", {"token": "nope", "csrf": form.csrf(), "next": "/"})
    assert wrong.status == 401 and "not the console" in wrong.text
    done = client.post("/login", {"token": TOKEN, "csrf": form.csrf(),
                                  "next": "//evil.example/"})
    assert done.status == 303 and done.headers["location"] == f"{PREFIX}/"
    cookie = done.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and f"Path={PREFIX}" in cookie
    assert client.get("/").status == 200  # the session cookie
    out = client.get("/")
    logout = client.post("/logout", {"csrf": out.csrf()})
    assert logout.status == 303
    assert client.get("/").status == 303


def test_every_answer_has_the_security_headers(base: str) -> None:
    client = Client(base)
    for path in ("/", "/login", "/static/console.css", "/nowhere", "/api/workflows"):
        headers = client.get(path, headers=BEARER).headers
        csp = headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
    css = client.get("/static/console.css")
    assert css.status == 200 and css.headers["content-type"].startswith("text/css")
    assert "fetch" in client.get("/static/console.js").text
    page = client.get("/", headers=BEARER).text
    assert "<script>" not in page and " style=" not in page and "<style" not in page
    assert f'src="{PREFIX}/static/console.js?v=1"' in page
    assert "Ops &lt;console&gt;" in page


def test_posts_need_the_csrf_token_unless_they_bear_the_token(base: str,
                                                              engine: Engine) -> None:
    execution = run(engine, "echo", {"n": 1})
    client = Client(base)
    client.login()
    assert client.post(f"/executions/{execution.id}/replay", {}).status == 403
    assert client.post(f"/executions/{execution.id}/replay", {"csrf": "forged"}).status == 403
    confirm = client.get(f"/executions/{execution.id}/replay")
    assert confirm.status == 200 and 'method="post"' in confirm.text
    done = client.post(f"/executions/{execution.id}/replay", {"csrf": confirm.csrf()})
    assert done.status == 200 and "Replayed as execution" in done.text
    api = Client(base).send("POST", f"/api/executions/{execution.id}/replay", headers=BEARER)
    assert api.status == 200
    assert json.loads(api.text)["replay"]["replay_of"] == execution.id


def test_the_list_is_newest_first_filtered_and_paged_by_keyset(base: str,
                                                               engine: Engine) -> None:
    FLAKY["fail"] = True
    failed = [run(engine, "orders", {"ok": True}).id for _ in range(3)]
    client = Client(base)
    rows = json.loads(client.get("/api/executions?workflow=orders&status=error&limit=2",
                                 headers=BEARER).text)
    assert [r["id"] for r in rows["executions"]] == failed[::-1][:2]
    assert rows["next"] == failed[1]
    following = json.loads(client.get(f"/api/executions?workflow=orders&status=error&limit=2"
                                      f"&before={rows['next']}", headers=BEARER).text)
    assert following["executions"][0]["id"] == failed[0]
    page = client.get("/?workflow=orders&status=error&limit=2", headers=BEARER)
    listed = re.findall(r'href="/ops/executions/(\d+)"', page.text)
    assert listed == failed[::-1][:2]
    assert f"before={failed[1]}" in page.text and "Older" in page.text
    assert "data-live" in page.text
    older = client.get(f"/?workflow=orders&status=error&limit=2&before={failed[1]}",
                       headers=BEARER)
    assert failed[0] in older.text and "data-live" not in older.text
    assert client.get("/?status=bogus", headers=BEARER).status == 400
    found = client.get(f"/?q={failed[0]}", headers=BEARER)
    assert re.findall(r'href="/ops/executions/(\d+)"', found.text) == [failed[0]]
    since = client.get("/api/executions?since=1h&until=2999-01-01", headers=BEARER)
    assert since.status == 200
    assert client.get("/api/executions?since=yesterday", headers=BEARER).status == 400


def test_an_execution_page_shows_context_jobs_errors_and_retries_it(base: str,
                                                                    engine: Engine) -> None:
    FLAKY["fail"] = True
    execution = run(engine, "orders", {"ok": True}, {"X-Api-Key": "k-1"})
    assert execution.status == Status.ERROR
    client = Client(base)
    client.login()
    page = client.get(f"/executions/{execution.id}")
    assert page.status == 200
    assert "the payment provider is down &lt;b&gt;503&lt;/b&gt;" in page.text
    assert 'class="waterfall"' in page.text and "charge" in page.text
    assert "<details" in page.text and "Retry from the failed node" in page.text
    confirm = client.get(f"/executions/{execution.id}/retry")
    FLAKY["fail"] = False
    try:
        done = client.post(f"/executions/{execution.id}/retry", {"csrf": confirm.csrf()})
        assert done.status == 200 and "goes on from the node that failed" in done.text
        assert ended(engine, execution.id) == Status.RESOLVED
    finally:
        FLAKY["fail"] = True
    after = client.get(f"/executions/{execution.id}")
    assert "attempt 2" in after.text and "RESOLVED" in after.text
    again = client.post(f"/executions/{execution.id}/retry",
                        {"csrf": client.get(f"/executions/{execution.id}").csrf()})
    assert again.status == 409
    api = json.loads(client.get(f"/api/executions/{execution.id}").text)
    assert api["status_name"] == "RESOLVED" and api["jobs"][-1]["attempt"] == 2


def test_hostile_values_are_escaped_and_secrets_redacted(base: str, engine: Engine) -> None:
    nested: Any = {"end": HOSTILE["script"]}
    for _ in range(60):
        nested = {"deeper": nested}
    body = {**HOSTILE, "nested": nested, "cookie": "session=abc",
            "password": "hunter2-hunter2", "echo": "key-from-env-987"}
    execution = run(engine, "echo", body)
    client = Client(base)
    page = client.get(f"/executions/{execution.id}", headers=BEARER).text
    for value in ("<script>window", "<img src=x", "' onmouseover='", "<b>xxx"):
        assert value not in page
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in page
    assert "&gt;&lt;img src=x onerror=" in page
    assert "more characters: see the API" in page  # very long: cut, the API has it whole
    for secret in ("session=abc", "hunter2-hunter2", "key-from-env-987"):
        assert secret not in page
    assert "[redacted]" in page
    api = client.get(f"/api/executions/{execution.id}", headers=BEARER).text
    assert "key-from-env-987" not in api
    assert json.loads(api)["context"]["body"]["password"] == "[redacted]"
    definition = client.get("/workflows/echo", headers=BEARER).text
    assert "s3cret-pass" not in definition and 'class="graph"' in definition


def test_workflows_show_counts_graphs_and_guards(base: str, engine: Engine) -> None:
    run(engine, "echo", {"n": 2})
    client = Client(base)
    listed = client.get("/workflows", headers=BEARER).text
    assert "Orders &lt;i&gt;in&lt;/i&gt;" in listed and "basic auth" in listed
    assert "/api/webhook:trigger/orders" in listed and "RESOLVED" in listed
    graph = client.get("/workflows/orders", headers=BEARER).text
    assert graph.count('<g class="node"') + graph.count('<g class="end-node"') >= 2
    assert ">Yes</text>" in graph and ">No</text>" in graph
    data = json.loads(client.get("/api/workflows", headers=BEARER).text)
    echo = next(w for w in data["workflows"] if w["key"] == "echo")
    assert echo["sync"] is True and echo["last_24h"]["RESOLVED"] >= 1
    assert client.get("/workflows/nope", headers=BEARER).status == 404


def test_a_waiting_callback_shows_its_url_and_time_left_and_is_resumed(
        base: str, engine: Engine) -> None:
    execution = engine.execute("waits", {})
    client = Client(base)
    client.login()
    page = client.get(f"/executions/{execution.id}").text
    assert "/resume/" in page and re.search(r"\d+ s left", page)
    api = json.loads(client.get(f"/api/executions/{execution.id}").text)
    assert api["waiting"][0]["node_key"] == "approval"
    assert 590 < api["waiting"][0]["seconds_left"] <= 600
    confirm = client.get(f"/executions/{execution.id}/resume?node=approval")
    done = client.post(f"/executions/{execution.id}/resume",
                       {"csrf": confirm.csrf(), "node": "approval",
                        "result": '{"approved": true}'})
    assert done.status == 200, done.text
    assert ended(engine, execution.id) == Status.RESOLVED
    finished = engine.get_execution(execution.id)
    assert finished is not None and finished.jobs[-1].result["body"] == {"approved": True}


def test_cancel_and_recover_with_a_dry_run_first(base: str, engine: Engine) -> None:
    waiting = engine.execute("waits", {})
    client = Client(base)
    client.login()
    confirm = client.get(f"/executions/{waiting.id}/cancel")
    assert client.post(f"/executions/{waiting.id}/cancel",
                       {"csrf": confirm.csrf()}).status == 200
    assert engine.get_execution(waiting.id).status == Status.CANCELED  # type: ignore[union-attr]
    FLAKY["fail"] = True
    broken = [run(engine, "orders", {"ok": True}).id for _ in range(2)]
    form = client.get("/recover")
    dry = client.post("/recover", {"csrf": form.csrf(), "workflow": "orders", "error": "1",
                                   "since": "10m", "dry_run": "1"})
    assert dry.status == 200 and all(i in dry.text for i in broken)
    assert engine.get_execution(broken[0]).status == Status.ERROR  # type: ignore[union-attr]
    FLAKY["fail"] = False
    try:
        token = re.findall(r'name="csrf" value="([^"]+)"', dry.text)[-1]
        fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">',
                                 dry.text.split("Retry these")[0].rsplit("<form", 1)[1]))
        real = client.post("/recover", {**fields, "csrf": token})
        assert real.status == 200 and "Retried" in real.text
        for ident in broken:
            assert ended(engine, ident) == Status.RESOLVED
    finally:
        FLAKY["fail"] = True


def test_metrics_are_served_by_the_console_when_the_engine_has_them() -> None:
    pytest.importorskip("prometheus_client")
    engine = console_engine()
    try:
        from webhook_workflow.observe import install

        install(engine, metrics=True)
        run(engine, "echo", {"n": 3})
        console = Console(engine, token=TOKEN)
        answer = console.handle(ConsoleRequest("GET", "/metrics", headers={
            "authorization": f"Bearer {TOKEN}"}))
        assert answer.status == 200
        assert b"webhook_workflow_executions_ended_total" in answer.body
        refused = console.handle(ConsoleRequest("GET", "/metrics"))
        assert refused.status == 303  # same access rules as every page
        page = console.handle(ConsoleRequest("GET", "/", headers={
            "authorization": f"Bearer {TOKEN}"}))
        assert b'href="/metrics"' in page.body
    finally:
        engine.close(timeout=5)


def test_authorize_decides_with_method_path_and_headers() -> None:
    engine = console_engine()
    seen: list[tuple[str, str]] = []

    def authorize(method: str, path: str, headers: Any) -> bool:
        seen.append((method, path))
        return headers.get("x-user") == "ops"

    try:
        console = Console(engine, authorize=authorize)
        assert console.handle(ConsoleRequest("GET", "/workflows")).status == 403
        assert console.handle(ConsoleRequest("GET", "/workflows",
                                             headers={"x-user": "ops"})).status == 200
        assert ("GET", "/workflows") in seen
        posted = console.handle(ConsoleRequest("POST", "/recover", headers={
            "x-user": "ops", "content-type": "application/x-www-form-urlencoded"}))
        assert posted.status == 403  # a host's cookie may ride along: CSRF still holds
        with pytest.raises(ValueError):
            Console(engine, token="short")
        wait_for(lambda: True)
    finally:
        engine.close(timeout=5)


def test_a_store_that_is_down_answers_503_and_a_broken_page_500() -> None:
    engine = console_engine()
    console = Console(engine, token=TOKEN)
    auth = {"authorization": f"Bearer {TOKEN}"}
    try:
        from webhook_workflow import StoreUnavailable

        def down(*args: object, **kwargs: object) -> None:
            raise StoreUnavailable("database unreachable")

        engine.store.page = down  # type: ignore[attr-defined]
        answer = console.handle(ConsoleRequest("GET", "/", headers=auth))
        assert answer.status == 503 and ("Retry-After", "5") in answer.headers
        engine.store.get = lambda *a: 1 / 0  # type: ignore[assignment,method-assign]
        broken = console.handle(ConsoleRequest("GET", "/executions/1", headers=auth))
        assert broken.status == 500
        assert any(n == "Content-Security-Policy" for n, _ in broken.headers)
    finally:
        engine.close(timeout=5)


class _Approval:
    """A custom node that waits (PENDING) until it is resumed with a decision."""

    def run(self, config: dict[str, Any], ctx: Any) -> Any:
        from webhook_workflow import Job

        return Job(status=Status.PENDING)

    def resume(self, job: Any, ctx: Any) -> Any:
        return {"decision": job.result}


def test_a_custom_node_that_waits_is_resumed_by_hand() -> None:
    engine = Engine(workers=1)
    engine.register_node("approval", _Approval())
    engine.add_workflow({"key": "manual", "nodes": [{"key": "ask", "type": "approval"}]})
    console = Console(engine, token=TOKEN)
    auth = {"authorization": f"Bearer {TOKEN}"}
    try:
        from webhook_workflow import Execution

        waiting = Execution("manual", 1, {"headers": {}, "query": {}, "body": {}})
        engine.store.add(waiting)  # queued, as an async webhook would leave it
        engine.start()
        engine.dispatcher.notify()
        assert wait_for(lambda: (e := engine.get_execution(waiting.id)) is not None
                        and e.jobs and int(e.jobs[-1].status) == 0)
        page = console.handle(ConsoleRequest("GET", f"/executions/{waiting.id}", headers=auth))
        assert b"waits to be resumed" in page.body
        done = console.handle(ConsoleRequest(
            "POST", f"/executions/{waiting.id}/resume", headers={
                **auth, "content-type": "application/x-www-form-urlencoded"},
            body=b"node=ask&result=%22yes%22"))
        assert done.status == 200, done.body
        assert ended(engine, waiting.id) == Status.RESOLVED
        finished = engine.get_execution(waiting.id)
        assert finished is not None and finished.jobs[-1].result == {"decision": "yes"}
    finally:
        engine.close(timeout=5)


def test_cookies_are_secure_over_https_also_behind_a_trusted_proxy() -> None:
    engine = Engine(trusted_proxies=["10.0.0.0/8"])
    console = Console(engine, token=TOKEN)
    try:
        def login_cookies(**kw: Any) -> list[str]:
            page = console.handle(ConsoleRequest("GET", "/login", **kw))
            return [v for n, v in page.headers if n == "Set-Cookie"]

        assert all("Secure" in c for c in login_cookies(secure=True))
        proxied = {"x-forwarded-proto": "https"}
        assert all("Secure" in c for c in login_cookies(headers=proxied, client="10.1.2.3"))
        assert not any("Secure" in c for c in login_cookies(headers=proxied,
                                                             client="203.0.113.9"))
        assert not any("Secure" in c for c in login_cookies(client="10.1.2.3"))
    finally:
        engine.close(timeout=5)


def test_too_many_wrong_tokens_from_one_client_answer_429() -> None:
    engine = Engine()
    console = Console(engine, token=TOKEN)
    try:
        form = console.handle(ConsoleRequest("GET", "/login", client="198.51.100.1"))
        cookie = next(v for n, v in form.headers if n == "Set-Cookie").split(";")[0]
        token = re.search(rb'name="csrf" value="([^"]+)"', form.body).group(1)  # type: ignore[union-attr]

        def attempt(typed: str, client: str = "198.51.100.1") -> int:
            body = f"token={typed}&csrf={token.decode()}".encode()
            return console.handle(ConsoleRequest("POST", "/login", headers={
                "cookie": cookie, "content-type": "application/x-www-form-urlencoded"},
                body=body, client=client)).status

        assert [attempt("wrong") for _ in range(10)] == [401] * 10
        assert attempt(TOKEN) == 429  # even the right one, for a minute
        assert attempt(TOKEN, client="198.51.100.2") == 303
    finally:
        engine.close(timeout=5)
