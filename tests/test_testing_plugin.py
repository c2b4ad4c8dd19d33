"""webhook_workflow.testing and its pytest plugin: the fixtures in an inner pytest run (through
``-p`` and through the pyproject entry point), signed requests of every scheme against real
workflows, and assert_execution's verdicts and messages."""

from __future__ import annotations

import asyncio
import sys
import textwrap
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from webhook_workflow import Engine, Status
from webhook_workflow.testing import (
    WebhookClient,
    assert_execution,
    json_body,
    sign_request,
)

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = "webhook_workflow.pytest_plugin"

INNER = '''
import time
from webhook_workflow import Status
from webhook_workflow.testing import assert_execution

FINISHED = []
SEEN = {}

def slow(config, ctx):
    time.sleep(0.3)
    FINISHED.append(ctx.execution_id)
    return "slept"

def test_async_run(webhook_engine, webhook_client):
    webhook_engine.register_node("slow", slow)
    webhook_engine.add_workflow({"key": "later", "nodes": [{"key": "nap", "type": "slow"}]})
    answer = webhook_client.post("later", json={"n": 1})
    assert answer.status == 200 and answer.text == "ok"
    assert FINISHED == []  # the run goes on after the answer, in a worker
    SEEN["engine"], SEEN["id"] = webhook_engine, answer.execution_id

def test_the_teardown_waited_for_it():
    # test_async_run's engine was drained and closed before this test began.
    assert FINISHED == [SEEN["id"]]
    assert_execution(SEEN["engine"].get_execution(SEEN["id"]), Status.RESOLVED,
                     nodes={"nap": "resolved"}, results={"nap": "slept"})

def test_sync_through_both_doors(webhook_engine, webhook_client):
    webhook_engine.add_workflow({"key": "echo", "sync": True, "nodes": [
        {"key": "r", "type": "response",
         "config": {"statusCode": 201, "body": {"got": "{{$context.body.n}}"}}}]})
    for client in (webhook_client, webhook_client.asgi):
        answer = client.post("echo", json={"n": 7})
        assert (answer.status, answer.json) == (201, {"got": 7})
        assert_execution(answer, "RESOLVED", nodes={"r": 1})
'''


def _run_inner(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_inner=INNER)
    return pytester.runpytest("-p", PLUGIN, *args)


def test_the_fixtures_in_a_test_run_and_the_teardown_drains(pytester: pytest.Pytester) -> None:
    result = _run_inner(pytester)
    result.assert_outcomes(passed=3)


def test_a_conftest_overrides_the_engine_options(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('''
        import pytest

        @pytest.fixture
        def webhook_engine_options():
            return {"env": {"SECRET": "from-env"}, "base_path": "/hooks"}
    ''')
    pytester.makepyfile('''
        from webhook_workflow.testing import sign_request

        def test_env_and_base_path(webhook_engine, webhook_client):
            webhook_engine.add_workflow({"key": "gh", "config": {"signature": {
                "scheme": "github", "secrets": ["{{$env.SECRET}}"]}}, "nodes": []})
            headers = sign_request("github", "from-env", {"a": 1})
            assert webhook_client.post("/hooks/gh", json={"a": 1}, headers=headers).status == 200
    ''')
    pytester.runpytest("-p", PLUGIN).assert_outcomes(passed=1)


def test_an_execution_still_running_fails_the_teardown(pytester: pytest.Pytester) -> None:
    pytester.makepyfile('''
        import time
        import webhook_workflow.pytest_plugin as plugin

        def test_slow(monkeypatch, webhook_engine, webhook_client):
            # monkeypatch is set up first, so it is undone after webhook_engine's teardown.
            monkeypatch.setattr(plugin, "DRAIN_TIMEOUT", 0.05)
            webhook_engine.register_node("slow", lambda config, ctx: time.sleep(0.5))
            webhook_engine.add_workflow({"key": "s", "nodes": [{"key": "n", "type": "slow"}]})
            assert webhook_client.post("s", json={}).status == 200
    ''')
    result = pytester.runpytest("-p", PLUGIN)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*webhook_engine: executions still queued or running after "
                                 "0.05 s*"])


CLOCKED = '''
import time
from webhook_workflow import Status
from webhook_workflow.testing import FakeClock, assert_execution

CALLS = []

def flaky(config, ctx):
    CALLS.append(ctx.execution_id)
    if len(CALLS) < 3:
        raise RuntimeError("down")
    return "up"

def test_the_engine_is_on_the_clock(webhook_engine, webhook_clock):
    assert isinstance(webhook_clock, FakeClock) and webhook_engine.clock is webhook_clock

def test_a_delay(webhook_engine, webhook_client, webhook_clock):
    webhook_engine.add_workflow({"key": "d", "nodes": [
        {"key": "wait", "type": "delay", "config": {"duration": 1, "unit": 86400000}},
        {"key": "o", "type": "output", "config": {"value": "done"}}]})
    answer = webhook_client.post("d", json={})
    webhook_engine.drain()
    started = time.monotonic()
    webhook_clock.advance(86399)
    assert webhook_engine.get_execution(answer.execution_id).status == Status.STARTED
    webhook_clock.advance(1)
    assert_execution(webhook_engine.get_execution(answer.execution_id), Status.RESOLVED,
                     results={"o": "done"})
    assert time.monotonic() - started < 5  # a day, at once

def test_retry_waits(webhook_engine, webhook_client, webhook_clock):
    webhook_engine.register_node("flaky", flaky)
    webhook_engine.add_workflow({"key": "r", "nodes": [{"key": "f", "type": "flaky",
        "retry": {"maxAttempts": 3, "delay": 60000, "backoff": "exponential",
                  "jitter": False}}]})
    answer = webhook_client.post("r", json={})
    webhook_engine.drain()
    assert len(CALLS) == 1
    webhook_clock.advance(60)
    assert len(CALLS) == 2
    webhook_clock.advance(120)
    assert_execution(webhook_engine.get_execution(answer.execution_id), Status.RESOLVED,
                     results={"f": "up"})

def test_a_throttled_execution_left_queued_does_not_hang_the_teardown(
        webhook_engine, webhook_client, webhook_clock):
    webhook_engine.add_workflow({"key": "t", "options": {
        "throttle": {"limit": 1, "period": 3600000}}, "nodes": []})
    for _ in range(2):
        webhook_client.post("t", json={})
    webhook_clock.advance(0)
    assert len(webhook_engine.executions("t", status="queued")) == 1

def test_without_the_clock_fixture_the_clock_is_real(webhook_engine):
    from webhook_workflow.clock import SYSTEM_CLOCK
    assert webhook_engine.clock is SYSTEM_CLOCK
'''


def test_the_fake_clock_fixture_with_delay_and_retry(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_clocked=CLOCKED)
    started = time.monotonic()
    result = pytester.runpytest("-p", PLUGIN, "--durations=0")
    result.assert_outcomes(passed=5)
    assert time.monotonic() - started < 20  # a day of delay and three minutes of retries


def test_the_entry_point_loads_the_plugin_without_p(pytester: pytest.Pytester) -> None:
    # What installing the package declares, from pyproject.toml, as installed metadata next
    # to the inner run (the editable install here may predate the entry point).
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())
    entry_points = declared["project"]["entry-points"]["pytest11"]
    assert entry_points == {PLUGIN: PLUGIN}
    info = pytester.path / "webhook_workflow_plugin_check-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: webhook-workflow-plugin-check"
                                   "\nVersion: 0\n")
    (info / "entry_points.txt").write_text(
        "[pytest11]\n" + "".join(f"{name} = {target}\n" for name, target in entry_points.items()))
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    # And -p beside the entry point is the same plugin, not a second one.
    pytester.runpytest_subprocess("-p", PLUGIN, "-p", "no:cacheprovider").assert_outcomes(
        passed=3)


def test_importing_the_package_and_testing_never_imports_pytest() -> None:
    import subprocess

    code = ("import sys, webhook_workflow, webhook_workflow.testing; "
            "print('pytest' in sys.modules, '_pytest' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=ROOT)
    assert done.stdout.split() == ["False", "False"]


# -- the client ------------------------------------------------------------------------------

@pytest.fixture
def engine() -> Iterator[Engine]:
    engine = Engine()
    engine.add_workflow({"key": "sync", "sync": True, "nodes": [
        {"key": "sum", "type": "calculation",
         "config": {"engine": "math.js", "expression": "{{$context.body.a}} + 1"}},
        {"key": "r", "type": "response", "config": {
            "statusCode": 201, "headers": [{"name": "X-Q", "value": "{{$context.query.q}}"}],
            "body": {"sum": "{{$jobsMapByNodeKey.sum}}"}}}]})
    engine.add_workflow({"key": "async", "nodes": [
        {"key": "o", "type": "output", "config": {"value": "{{$context.body.a}}"}}]})
    yield engine
    engine.close()


@pytest.fixture(params=["wsgi", "asgi"])
def client(request: pytest.FixtureRequest, engine: Engine) -> WebhookClient:
    return WebhookClient(engine, door=request.param)


def test_post_answers_with_status_headers_body_and_the_execution(client: WebhookClient) -> None:
    answer = client.post("sync", json={"a": 41}, query={"q": "x y"})
    assert (answer.status, answer.json, answer.headers["x-q"]) == (201, {"sum": 42}, "x y")
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.text == '{"sum":42}'
    execution = assert_execution(answer, Status.RESOLVED, nodes={"sum": "RESOLVED", "r": 1},
                                 results={"sum": 42})
    assert execution.id == answer.execution_id and execution.sync
    assert execution.context["query"] == {"q": "x y"}


def test_an_async_execution_is_the_one_recorded_for_the_request(client: WebhookClient) -> None:
    first = client.post("async", json={"a": 1})
    second = client.post("/api/webhook:trigger/async?z=1", body=json_body({"a": 2}),
                         headers={"Content-Type": "application/json"})
    assert (first.status, first.text) == (200, "ok")
    assert first.execution_id != second.execution_id
    assert_execution(second.wait(), "resolved", output=2)
    assert_execution(first.execution, "resolved", output=1)
    assert second.execution is not None and second.execution.context["query"] == {"z": "1"}


def test_a_refused_request_started_no_execution(client: WebhookClient) -> None:
    answer = client.post("nowhere", json={})
    assert (answer.status, answer.execution_id, answer.execution) == (404, None, None)
    assert answer.json == {"errors": [{"message": "no enabled workflow at this URL"}]}
    assert client.request("GET", "sync").status == 405
    with pytest.raises(AssertionError, match="no execution"):
        assert_execution(answer, "resolved")


def test_json_and_body_together_are_refused(client: WebhookClient) -> None:
    with pytest.raises(TypeError, match="json or body"):
        client.post("sync", json={}, body=b"{}")


def test_apost_in_a_running_loop(client: WebhookClient) -> None:
    async def main() -> tuple[int, Any]:
        answer = await client.apost("sync", json={"a": 1})
        return answer.status, answer.json

    assert asyncio.run(main()) == (201, {"sum": 2})


def test_post_of_the_asgi_door_inside_a_loop_points_to_apost(engine: Engine) -> None:
    async def main() -> None:
        WebhookClient(engine, door="asgi").post("sync", json={"a": 1})

    with pytest.raises(RuntimeError, match="apost"):
        asyncio.run(main())


def test_the_door_is_chosen_by_name_or_property(engine: Engine) -> None:
    client = WebhookClient(engine)
    assert (client.door, client.asgi.door, client.asgi.wsgi.door) == ("wsgi", "asgi", "wsgi")
    with pytest.raises(ValueError, match="door must be"):
        WebhookClient(engine, door="http")


# -- signatures ------------------------------------------------------------------------------

SECRETS = {"standard-webhooks": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
           "stripe": "whsec_3kXb8tG2cLr7pQ1vZs9yWm4n", "slack": "8f742231b10e8888abcd99yyyzzz85a5",
           "github": "It's a Secret to Everybody", "hmac": "shpss_5e8f0c7a1b2d"}
HMAC_VARIANTS: list[dict[str, str]] = [
    {}, {"header": "X-Shopify-Hmac-Sha256", "encoding": "base64"},
    {"algorithm": "sha512", "prefix": "sha512="}, {"algorithm": "sha1", "encoding": "hex"}]
CASES = [(scheme, {}) for scheme in SECRETS if scheme != "hmac"] + [
    ("hmac", options) for options in HMAC_VARIANTS]
TIMESTAMPED = {"standard-webhooks", "stripe", "slack"}


@pytest.fixture(params=CASES, ids=lambda case: "-".join([case[0], *case[1].values()]))
def signed(request: pytest.FixtureRequest, client: WebhookClient
           ) -> tuple[WebhookClient, str, dict[str, str]]:
    scheme, options = request.param
    client.engine.add_workflow({"key": "signed", "sync": True, "config": {"signature": {
        "scheme": scheme, "secrets": [SECRETS[scheme]], **options}}, "nodes": [
        {"key": "r", "type": "response", "config": {"body": "{{$context.body.n}}"}}]})
    return client, scheme, options


def test_sign_request_is_accepted(signed: tuple[WebhookClient, str, dict[str, str]]) -> None:
    client, scheme, options = signed
    payload = {"n": 1, "text": "grüße"}
    answer = client.post("signed", json=payload,
                         headers=sign_request(scheme, SECRETS[scheme], payload, **options))
    assert (answer.status, answer.text) == (200, "1")
    assert_execution(answer, "resolved")
    raw = b'{"n": 2}\n'  # any exact bytes, not only json_body's
    answer = client.post("signed", body=raw, headers={
        "Content-Type": "application/json", **sign_request(scheme, SECRETS[scheme], raw,
                                                           **options)})
    assert (answer.status, answer.text) == (200, "2")


def test_a_tampered_body_is_refused(signed: tuple[WebhookClient, str, dict[str, str]]) -> None:
    client, scheme, options = signed
    headers = sign_request(scheme, SECRETS[scheme], {"n": 1}, **options)
    answer = client.post("signed", json={"n": 2}, headers=headers)
    assert (answer.status, answer.json, answer.execution) == (
        401, {"errors": [{"message": "signature mismatch"}]}, None)


def test_a_wrong_secret_is_refused(signed: tuple[WebhookClient, str, dict[str, str]]) -> None:
    client, scheme, options = signed
    wrong = "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB" if scheme == "standard-webhooks" \
        else "not the secret"
    answer = client.post("signed", json={"n": 1},
                         headers=sign_request(scheme, wrong, {"n": 1}, **options))
    assert (answer.status, answer.json["errors"][0]["message"]) == (401, "signature mismatch")


def test_an_expired_timestamp_is_refused(signed: tuple[WebhookClient, str, dict[str, str]]
                                         ) -> None:
    client, scheme, options = signed
    if scheme not in TIMESTAMPED:
        with pytest.raises(TypeError, match="take no timestamp"):
            sign_request(scheme, SECRETS[scheme], b"", timestamp=0, **options)
        return
    now = time.time()
    for stamp, message in ((now - 301, "stale timestamp"),
                           (now + 400, "timestamp too far in the future")):
        headers = sign_request(scheme, SECRETS[scheme], {"n": 1}, timestamp=stamp)
        answer = client.post("signed", json={"n": 1}, headers=headers)
        assert (answer.status, answer.json["errors"][0]["message"]) == (401, message)
    headers = sign_request(scheme, SECRETS[scheme], {"n": 1}, timestamp=now - 290)
    assert client.post("signed", json={"n": 1}, headers=headers).status == 200


def test_sign_request_headers_and_options() -> None:
    headers = sign_request("standard-webhooks", SECRETS["standard-webhooks"], b"{}",
                           timestamp=1700000000, msg_id="msg_1")
    assert headers["webhook-id"] == "msg_1" and headers["webhook-timestamp"] == "1700000000"
    assert headers["webhook-signature"].startswith("v1,")
    assert sign_request("stripe", "s", b"", timestamp=5)["Stripe-Signature"].startswith("t=5,v1=")
    assert list(sign_request("slack", "s", b"")) == ["X-Slack-Request-Timestamp",
                                                     "X-Slack-Signature"]
    assert sign_request("hmac", "s", "x", prefix="sha256=")["X-Signature"].startswith("sha256=")
    with pytest.raises(ValueError, match="unknown signature scheme 'gitlab'"):
        sign_request("gitlab", "s", b"")
    with pytest.raises(TypeError, match="github signatures take no header, msg_id"):
        sign_request("github", "s", b"", header="X", msg_id="m")
    with pytest.raises(ValueError, match="algorithm must be"):
        sign_request("hmac", "s", b"", algorithm="md5")


# -- assert_execution ------------------------------------------------------------------------

def test_assert_execution_passes_and_returns_the_execution(engine: Engine) -> None:
    execution = engine.execute("sync", {"body": {"a": 1}})
    assert assert_execution(execution) is execution
    assert_execution(execution, 1, nodes={"sum": Status.RESOLVED, "r": "resolved",
                                          "absent": None}, results={"sum": 2})
    assert_execution(engine.execute("async", {"body": {"a": [1]}}), "RESOLVED", output=[1])


def test_assert_execution_says_every_difference(engine: Engine) -> None:
    execution = engine.execute("sync", {"body": {"a": 1}})
    with pytest.raises(AssertionError) as caught:
        assert_execution(execution, Status.FAILED,
                         nodes={"sum": "failed", "r": None, "later": Status.RESOLVED},
                         results={"sum": 3}, output={"big": list(range(30))})
    message = str(caught.value)
    assert message.splitlines()[0] == (f"execution {execution.id} of 'sync' (RESOLVED) does "
                                       "not match:")
    for line in ("  - status: expected FAILED, got RESOLVED",
                 "  - node 'sum': expected FAILED, got RESOLVED",
                 "  - node 'r': expected not to run, got RESOLVED",
                 "  - node 'later': expected RESOLVED, did not run",
                 "  - result of 'sum': expected 3, got 2",
                 "  - output differs:", "      --- expected", "      +None",
                 "  jobs, in order:", "    sum  RESOLVED  2"):
        assert line in message.splitlines(), message


def test_assert_execution_names_a_failing_node_and_its_log(engine: Engine) -> None:
    def broken(config: dict[str, Any], ctx: Any) -> Any:
        raise RuntimeError("the ledger is closed")

    engine.register_node("broken", broken)
    engine.add_workflow({"key": "fails", "nodes": [{"key": "post", "type": "broken"}]})
    execution = engine.execute("fails")
    assert_execution(execution, "error", nodes={"post": Status.ERROR})
    with pytest.raises(AssertionError) as caught:
        assert_execution(execution, "resolved", nodes={"post": "resolved"})
    message = str(caught.value)
    assert "status: expected RESOLVED, got ERROR (reason node:post)" in message
    assert "node 'post': expected RESOLVED, got ERROR: RuntimeError: the ledger is closed" \
        in message


def test_assert_execution_of_a_queued_execution(engine: Engine) -> None:
    from webhook_workflow import Execution

    queued = Execution("async", 1, {"headers": {}, "query": {}, "body": {}})
    assert_execution(queued, "queued")
    with pytest.raises(AssertionError, match="status: expected RESOLVED, got QUEUED"):
        assert_execution(queued, Status.RESOLVED)


def test_the_inner_run_shows_a_readable_failure(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(textwrap.dedent('''
        from webhook_workflow.testing import assert_execution

        def test_wrong(webhook_engine, webhook_client):
            webhook_engine.add_workflow({"key": "k", "sync": True, "nodes": [
                {"key": "o", "type": "output", "config": {"value": 1}}]})
            assert_execution(webhook_client.post("k", json={}), output=2)
    '''))
    result = pytester.runpytest("-p", PLUGIN)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*assert_execution(webhook_client.post(*",
                                 "E*AssertionError: execution * of 'k' (RESOLVED) does not match:",
                                 "E*- output: expected 2, got 1"])


# -- the documentation's examples ------------------------------------------------------------

PAGE = ROOT / "docs" / "testing.md"


def test_the_documented_test_files_pass(pytester: pytest.Pytester) -> None:
    for path in (ROOT / "examples" / "testing").iterdir():
        if path.suffix in (".py", ".json"):
            (pytester.path / path.name).write_text(path.read_text())
    pytester.runpytest("-p", PLUGIN).assert_outcomes(passed=5)


def test_the_page_includes_the_example_files() -> None:
    text = PAGE.read_text()
    for name in ("orders.json", "order-events.json", "conftest.py", "test_orders.py"):
        assert f'--8<-- "examples/testing/{name}"' in text


def test_the_pages_python_sessions_run() -> None:
    import doctest

    failed, tried = doctest.testfile(str(PAGE), module_relative=False,
                                     optionflags=doctest.ELLIPSIS)
    assert (failed, tried > 5) == (0, True)


def test_the_documented_failure_message_is_the_real_one() -> None:
    text = PAGE.read_text()
    assert ('```python\nassert_execution(answer, "resolved", nodes={"review": "resolved"}, '
            'results={"total": 50})\n```') in text
    shown = text.split("```text\nAssertionError: ", 1)[1].split("\n```", 1)[0]
    engine = Engine(env={"ORDERS_SECRET": "s"})
    try:
        engine.add_workflow(ROOT / "examples" / "testing" / "orders.json")
        order = {"quantity": 1, "price": 5}
        answer = WebhookClient(engine).post("orders", json=order,
                                            headers=sign_request("github", "s", order))
        with pytest.raises(AssertionError) as caught:
            assert_execution(answer, "resolved", nodes={"review": "resolved"},
                             results={"total": 50})
    finally:
        engine.close()
    real = str(caught.value).replace(str(answer.execution_id), "<id>")
    assert real == shown.replace(shown.split()[1], "<id>", 1)


def test_sign_request_agrees_with_the_senders_own_libraries() -> None:
    # GitHub's documented example of X-Hub-Signature-256.
    assert sign_request("github", "It's a Secret to Everybody", "Hello, World!") == {
        "X-Hub-Signature-256":
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"}
    standardwebhooks = pytest.importorskip("standardwebhooks")
    secret, body = SECRETS["standard-webhooks"], json_body({"ü": [1, 2]})
    headers = sign_request("standard-webhooks", secret, body, msg_id="msg_2")
    assert standardwebhooks.Webhook(secret).verify(body, headers) == {"ü": [1, 2]}
