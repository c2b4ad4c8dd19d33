"""Trigger guards through both doors: filter, idempotency, network, CORS, bodies, syncWait,
signatures (end to end), replay."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import threading
import time
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from conftest import JSON
from doors import Door, Request

from webhook_workflow import Engine, Status
from webhook_workflow.cli import main as cli_main


def echo(key: str, extra: dict[str, Any] | None = None, **config: Any) -> dict[str, Any]:
    """A sync workflow answering with its $context."""
    return {"key": key, "sync": True, "config": config, **(extra or {}), "nodes": [
        {"key": "r", "type": "response", "config": {"body": "{{$context}}"}}]}


@pytest.fixture
def engine() -> Iterator[Engine]:
    eng = Engine(trusted_proxies=["10.0.0.1", "192.168.0.0/16"])
    yield eng
    eng.close(timeout=5)


def post(door: Door, key: str, body: bytes = b"{}", headers: list[tuple[str, str]] | None = None,
         **kw: Any) -> Any:
    return door.call(Request(path=f"/api/webhook:trigger/{key}", body=body,
                             headers=[JSON, *(headers or [])], **kw))


# -- filter (row 12) ------------------------------------------------------------------------------
def test_filter_false_answers_filter_response_and_runs_nothing(engine: Engine,
                                                               door_kind: str) -> None:
    engine.add_workflow(echo("f", filter={"group": {"type": "and", "calculations": [
        {"calculator": "equal", "operands": ["{{$context.body.type}}", "paid"]},
        {"calculator": "notEqual", "operands": ["{{$headers.x-test}}", "1"]}]}}))
    door = Door(door_kind, engine)
    skipped = post(door, "f", b'{"type": "other"}')
    assert (skipped.status, skipped.body) == (200, b"ignored")
    assert post(door, "f", b'{"type": "paid"}', [("X-Test", "1")]).body == b"ignored"
    assert post(door, "f", b'{"type": "paid"}').status == 200
    assert len(engine.executions("f")) == 1


def test_custom_filter_response(engine: Engine, door_kind: str) -> None:
    engine.add_workflow({"key": "f", "config": {
        "filter": {"group": {"type": "and", "calculations": [
            {"calculator": "equal", "operands": ["{{$context.body.ok}}", True]}]}},
        "filterResponse": {"statusCode": 202, "body": {"skipped": "{{$context.body.id}}"}}},
        "nodes": []})
    answer = post(Door(door_kind, engine), "f", b'{"ok": false, "id": 7}')
    assert (answer.status, answer.json()) == (202, {"skipped": 7})
    assert engine.executions("f") == []


# -- idempotency (row 13) ------------------------------------------------------------------------
def test_async_redelivery_gets_the_same_acknowledgement(engine: Engine, door_kind: str) -> None:
    engine.add_workflow({"key": "a", "config": {
        "idempotency": {"key": "{{$headers.webhook-id}}"},
        "response": {"statusCode": 202, "body": {"first": "{{$context.body.n}}"}}},
        "nodes": []})
    door = Door(door_kind, engine)
    first = post(door, "a", b'{"n": 1}', [("webhook-id", "msg_1")])
    again = post(door, "a", b'{"n": 2}', [("Webhook-ID", "msg_1")])
    other = post(door, "a", b'{"n": 3}', [("webhook-id", "msg_2")])
    assert (first.status, first.json()) == (202, {"first": 1})
    assert (again.status, again.json()) == (202, {"first": 1})
    assert other.json() == {"first": 3}
    assert engine.drain(5)
    assert len(engine.executions("a")) == 2


def test_missing_or_empty_key_means_no_deduplication(engine: Engine, door_kind: str) -> None:
    engine.add_workflow({"key": "a", "config": {"idempotency": {
        "key": "{{$context.body.id}}"}}, "nodes": []})
    door = Door(door_kind, engine)
    for body in (b"{}", b"{}", b'{"id": ""}', b'{"id": null}'):
        assert post(door, "a", body).status == 200
    assert engine.drain(5)
    assert len(engine.executions("a")) == 4


def test_sync_redelivery_gets_the_stored_answer_or_409(engine: Engine, door_kind: str) -> None:
    release = threading.Event()
    engine.register_node("hold", lambda config, ctx: release.wait(5) and "held")
    engine.add_workflow({"key": "s", "sync": True, "config": {
        "idempotency": {"key": "{{$context.body.id}}", "ttl": 60}}, "nodes": [
        {"key": "h", "type": "hold"},
        {"key": "r", "type": "response", "config": {"statusCode": 201,
                                                    "body": {"id": "{{$context.body.id}}"}}}]})
    door = Door(door_kind, engine)
    answers: list[Any] = []
    first = threading.Thread(target=lambda: answers.append(post(door, "s", b'{"id": "x"}')))
    first.start()
    deadline = time.monotonic() + 5
    while not engine.executions("s") and time.monotonic() < deadline:
        time.sleep(0.01)
    while_running = post(door, "s", b'{"id": "x"}')
    release.set()
    first.join(5)
    after = post(door, "s", b'{"id": "x"}')
    assert while_running.status == 409
    assert (answers[0].status, answers[0].json()) == (201, {"id": "x"})
    assert (after.status, after.json()) == (201, {"id": "x"})
    assert len(engine.executions("s")) == 1


def test_idempotency_survives_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    definition = {"key": "a", "config": {"idempotency": {"key": "{{$headers.webhook-id}}"}},
                  "nodes": []}
    first = Engine(url)
    first.add_workflow(definition)
    assert post(Door("wsgi", first), "a", headers=[("webhook-id", "k1")]).status == 200
    first.close()
    second = Engine(url)
    second.add_workflow(definition)
    assert post(Door("asgi", second), "a", headers=[("webhook-id", "k1")]).body == b"ok"
    assert second.drain(5)
    assert len(second.executions("a")) == 1
    second.close()


# -- network (rows 3 and 5) ------------------------------------------------------------------------
@pytest.mark.parametrize("peer, forwarded, status", [
    ("203.0.113.7", None, 200),
    ("203.0.113.8", None, 403),
    ("203.0.113.8", ("X-Forwarded-For", "203.0.113.7"), 403),  # spoofed, peer not trusted
    ("10.0.0.1", ("X-Forwarded-For", "203.0.113.7"), 200),
    ("10.0.0.1", ("X-Forwarded-For", "203.0.113.7, 192.168.1.5"), 200),  # two trusted hops
    ("10.0.0.1", ("X-Forwarded-For", "203.0.113.7, 198.51.100.1"), 403),
    ("10.0.0.1", ("X-Forwarded-For", "203.0.113.7:8080"), 200),
    ("10.0.0.1", ("Forwarded", "for=203.0.113.7"), 403),  # not the header the proxy sets
    ("10.0.0.1", None, 403),
    ("::ffff:203.0.113.7", None, 200),
])
def test_ip_allowlist(engine: Engine, door_kind: str, peer: str,
                      forwarded: tuple[str, str] | None, status: int) -> None:
    engine.add_workflow(echo("ip", ipAllowlist=["203.0.113.7", "2001:db8::/32"]))
    door = Door(door_kind, engine)
    headers = [forwarded] if forwarded else []
    answer = post(door, "ip", headers=headers, extra_environ={"REMOTE_ADDR": peer},
                  client=peer)
    assert answer.status == status
    if status == 403:
        assert answer.json()["errors"][0]["message"] == "client address not allowed"


def test_forwarded_header_when_the_proxy_sets_it(door_kind: str) -> None:
    engine = Engine(trusted_proxies=["10.0.0.1"], forwarded_header="Forwarded")
    engine.add_workflow(echo("ip", ipAllowlist=["2001:db8::/32"]))
    door = Door(door_kind, engine)

    def status(headers: list[tuple[str, str]]) -> int:
        return int(post(door, "ip", headers=headers, extra_environ={"REMOTE_ADDR": "10.0.0.1"},
                        client="10.0.0.1").status)

    assert status([("Forwarded", 'for="[2001:db8::5]:443";proto=https')]) == 200
    assert status([("X-Forwarded-For", "2001:db8::5")]) == 403  # a client's own header
    engine.close()
    with pytest.raises(ValueError, match="forwarded_header"):
        Engine(forwarded_header="X-Real-IP")
    with pytest.raises(ValueError, match="list"):
        Engine(trusted_proxies="10.0.0.1")


def test_cors(engine: Engine, door_kind: str) -> None:
    engine.add_workflow(echo("c", cors={"origins": ["https://app.example"],
                                        "headers": ["content-type", "x-token"]}))
    door = Door(door_kind, engine)
    pre = door.call(Request(method="OPTIONS", path="/api/webhook:trigger/c",
                            headers=[("Origin", "https://app.example")]))
    assert pre.status == 204
    assert pre.header("Access-Control-Allow-Origin") == "https://app.example"
    assert pre.header("Access-Control-Allow-Methods") == "POST"
    assert pre.header("Access-Control-Allow-Headers") == "content-type, x-token"
    assert pre.header("Access-Control-Max-Age") == "600"
    other = door.call(Request(method="OPTIONS", path="/api/webhook:trigger/c",
                              headers=[("Origin", "https://evil.example")]))
    assert other.status == 405 and other.header("Access-Control-Allow-Origin") is None
    ok = post(door, "c", headers=[("Origin", "https://app.example")])
    assert ok.status == 200 and ok.header("Access-Control-Allow-Origin") == "https://app.example"
    plain = post(door, "c", headers=[("Origin", "https://evil.example")])
    assert plain.status == 200 and plain.header("Access-Control-Allow-Origin") is None


# -- bodies ----------------------------------------------------------------------------------------
def test_form_bodies(engine: Engine, door_kind: str) -> None:
    engine.add_workflow(echo("form", request={"form": True, "strictContentType": True}))
    answer = door_kind and Door(door_kind, engine).call(Request(
        path="/api/webhook:trigger/form", body=b"a[b]=1&c=x+y&c=z",
        headers=[("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")]))
    assert answer.json()["body"] == {"a": {"b": "1"}, "c": ["x y", "z"]}
    text = Door(door_kind, engine).call(Request(path="/api/webhook:trigger/form", body=b"hi",
                                                headers=[("Content-Type", "text/plain")]))
    assert text.status == 415


def test_raw_body_is_exposed_and_stored_only_when_asked(engine: Engine, door_kind: str) -> None:
    engine.add_workflow(echo("raw", request={"raw": True}))
    engine.add_workflow(echo("plain"))
    door = Door(door_kind, engine)
    answer = post(door, "raw", b'{"a": 1, "bad": "\xff"}', [("Content-Type", "text/plain")])
    assert answer.json()["raw"] == '{"a": 1, "bad": "\ufffd"}'
    assert engine.executions("raw")[0].context["raw"].startswith('{"a": 1')
    assert "raw" not in post(door, "plain", b'{"a": 1}').json()


# -- syncWait --------------------------------------------------------------------------------------
@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_sync_wait_answers_202_and_the_run_goes_on(tmp_path: Path, door_kind: str,
                                                   store: str) -> None:
    url = "memory" if store == "memory" else f"sqlite:///{tmp_path / 'sw.db'}"
    engine = Engine(url)
    release = threading.Event()
    engine.register_node("slow", lambda config, ctx: release.wait(5) and "done")
    engine.add_workflow({"key": "sw", "sync": True, "options": {"syncWait": 100}, "nodes": [
        {"key": "s", "type": "slow"},
        {"key": "r", "type": "response", "config": {"body": "late"}}]})
    engine.add_workflow({"key": "quick", "sync": True, "options": {"syncWait": 2000},
                         "nodes": [{"key": "r", "type": "response", "config": {"body": "now"}}]})
    door = Door(door_kind, engine)
    assert post(door, "quick").body == b"now"
    answer = post(door, "sw")
    assert answer.status == 202
    execution_id = answer.json()["executionId"]
    running = engine.get_execution(execution_id)
    assert running is not None and running.status == Status.STARTED and not running.sync
    release.set()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        done = engine.get_execution(execution_id)
        if done is not None and done.status == Status.RESOLVED:
            break
        time.sleep(0.02)
    assert done is not None and done.status == Status.RESOLVED
    assert [j.node_key for j in done.jobs] == ["s", "r"]
    engine.close()


# -- signatures end to end -------------------------------------------------------------------------
def test_github_signature_through_the_door(engine: Engine, door_kind: str) -> None:
    engine.add_workflow(echo("gh", signature={"scheme": "github", "secrets": ["It's a Secret"]}))
    door = Door(door_kind, engine)
    body = b'{"action": "opened"}'
    good = "sha256=" + hmac.new(b"It's a Secret", body, hashlib.sha256).hexdigest()
    assert post(door, "gh", body, [("X-Hub-Signature-256", good)]).status == 200
    bad = post(door, "gh", body + b" ", [("X-Hub-Signature-256", good)])
    assert bad.status == 401 and bad.header("WWW-Authenticate") is None
    assert "It's a Secret" not in bad.body.decode() and good not in bad.body.decode()
    assert post(door, "gh", body).status == 401
    assert len(engine.executions("gh")) == 1


def test_standard_webhooks_signature_through_the_door(engine: Engine, door_kind: str) -> None:
    secret = base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
    engine.add_workflow(echo("sw", signature={"scheme": "standard-webhooks",
                                              "secrets": ["whsec_" + secret]}))
    body = b'{"type": "invoice.paid"}'
    stamp = str(int(time.time()))
    signed = f"msg_1.{stamp}.".encode() + body
    signature = base64.b64encode(hmac.new(base64.b64decode(secret), signed,
                                          hashlib.sha256).digest()).decode()
    headers = [("webhook-id", "msg_1"), ("webhook-timestamp", stamp),
               ("webhook-signature", f"v1,{signature}")]
    door = Door(door_kind, engine)
    assert post(door, "sw", body, headers).status == 200
    stale = [("webhook-id", "msg_1"), ("webhook-timestamp", str(int(stamp) - 1000)),
             ("webhook-signature", f"v1,{signature}")]
    assert post(door, "sw", body, stale).status == 401


# -- replay ----------------------------------------------------------------------------------------
def test_replay_runs_the_same_context_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'replay.db'}"
    engine = Engine(url)
    engine.add_workflow(echo("e", request={"headers": [{"key": "X-Id"}]}))
    engine.add_workflow({"key": "later", "nodes": [
        {"key": "o", "type": "output", "config": {"value": "{{$context.body.n}}"}}]})
    first = post(Door("wsgi", engine), "e", b'{"n": 1}', [("X-Id", "abc")])
    assert first.status == 200
    original = engine.executions("e")[0]
    again = engine.replay(original.id)
    assert again.replay_of == original.id and again.id != original.id
    assert again.status == Status.RESOLVED and again.context == original.context
    post(Door("asgi", engine), "later", b'{"n": 5}')
    assert engine.drain(5)
    queued = engine.replay(engine.executions("later")[0].id)
    assert queued.status is None
    assert engine.drain(5)
    assert engine.get_execution(queued.id).output == 5  # type: ignore[union-attr]
    with pytest.raises(KeyError):
        engine.replay("nope")
    engine.close()
    # The CLI replays from the store alone (the workflow comes from its stored version).
    out = io.StringIO()
    with redirect_stdout(out):
        code = cli_main(["replay", original.id, "--store", url, "--format", "json"], out)
    data = json.loads(out.getvalue())
    assert code == 0 and data["replay_of"] == original.id and data["status"] == 1
