"""SPEC §1 through both doors: every answer of the check table that this version implements."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from conftest import AUTH, JSON, PAID, basic, example
from doors import Door, Request

from webhook_workflow import Engine, Status

SEED = "/api/webhook:trigger/payment-callback"


@pytest.fixture
def engine() -> Engine:
    eng = Engine(workers=2)
    eng.add_workflow(example())
    eng.add_workflow({"key": "async-hook", "config": {"response": {
        "statusCode": 202, "headers": [{"name": "X-Source", "value": "{{$context.query.src}}"}],
        "body": {"accepted": True, "source": "{{$context.query.src}}"}}},
        "nodes": [{"key": "out", "type": "output", "config": {"value": "{{$context}}"}}]})
    eng.add_workflow({"key": "plain-async", "nodes": []})
    eng.add_workflow({"key": "strict", "sync": True, "config": {"request": {
        "strictContentType": True, "maxBodySize": 100}}, "nodes": []})
    eng.add_workflow({"key": "colon", "sync": True, "config": {
        "basicAuthentication": {"username": "u", "password": "a:b:c"}}, "nodes": []})
    eng.add_workflow({"key": "off", "enabled": False, "nodes": []})
    eng.add_workflow({"key": "fails", "sync": True, "nodes": [
        {"key": "c", "type": "condition", "config": {"calculation": {"group": {
            "type": "and", "calculations": [
                {"calculator": "equal", "operands": ["{{$context.body.x}}", 1]}]}}}}]})
    eng.add_workflow({"key": "inject", "sync": True, "nodes": [
        {"key": "r", "type": "response", "config": {"headers": [
            {"name": "X-Echo", "value": "{{$context.body.v}}"}], "body": "hi"}}]})
    yield eng
    eng.close(timeout=5)


def seed(door: Door, body: bytes = PAID, **kw: Any) -> Any:
    headers = kw.pop("headers", [AUTH, JSON, ("X-Request-Id", "r-1")])
    return door.call(Request(path=SEED, body=body, headers=headers, **kw))


# -- the seed example -----------------------------------------------------------------------------
def test_paid_order_answers_the_success_response(door: Door) -> None:
    answer = seed(door, query="source=bench")
    assert answer.status == 200
    assert answer.json() == {"ok": True, "id": "A1", "request": "r-1"}
    assert answer.header("X-Order") == "A1"
    assert answer.header("Content-Type") == "application/json"
    assert answer.header("Content-Length") == str(len(answer.body))
    assert answer.starts == 1
    [execution] = door.engine.executions("payment-callback")
    assert execution.status == Status.RESOLVED
    assert execution.context == {"headers": {"X-Request-Id": "r-1"},
                                 "query": {"source": "bench"},
                                 "body": {"order": {"id": "A1", "status": "paid"}}}
    assert [j.node_key for j in execution.jobs] == ["paid", "ok"]
    assert execution.response is not None and execution.response["status"] == 200


def test_unpaid_order_answers_400_from_the_failure_branch(door: Door) -> None:
    answer = seed(door, body=b'{"order": {"id": "B2", "status": "open"}}')
    assert (answer.status, answer.json()) == (400, {"ok": False})
    [execution] = door.engine.executions("payment-callback")
    assert execution.status == Status.RESOLVED  # a Response node ends the run RESOLVED


def test_trailing_slash_after_the_key_is_ignored(door: Door) -> None:
    answer = door.call(Request(path=SEED + "/", body=PAID, headers=[AUTH, JSON]))
    assert answer.status == 200


# -- order of the checks --------------------------------------------------------------------------
@pytest.mark.parametrize("path", [
    "/api/webhook:trigger/nope", "/api/webhook:trigger/off", "/api/webhook:trigger",
    "/api/webhook:trigger/", "/api/webhook:trigger/payment-callback/extra",
])
def test_unknown_disabled_or_malformed_keys_answer_404(door: Door, path: str) -> None:
    answer = door.call(Request(path=path, method="GET"))
    assert answer.status == 404
    assert answer.json() == {"errors": [{"message": answer.json()["errors"][0]["message"]}]}
    assert door.engine.executions() == []


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"])
def test_other_methods_answer_405_with_allow_before_auth(door: Door, method: str) -> None:
    answer = door.call(Request(path=SEED, method=method))  # no credentials: 405 comes first
    assert answer.status == 405
    assert answer.header("Allow") == "POST"
    if method != "HEAD":
        assert "POST" in answer.json()["errors"][0]["message"]


@pytest.mark.parametrize("authorization", [
    None,
    basic("shop", "wrong"),
    basic("other", "s3cret"),
    basic("shop", ""),
    basic("", "s3cret"),
    "Bearer abc",
    "Basic !!!not-base64!!!",
    "Basic " + "c2hvcHMzY3JldA==",  # "shops3cret": no colon
    "Basic",
    basic("shop", "s3cret") + "x",
])
def test_missing_or_wrong_credentials_answer_401(door: Door, authorization: str | None) -> None:
    headers = [JSON] + ([("Authorization", authorization)] if authorization is not None else [])
    answer = door.call(Request(path=SEED, body=PAID, headers=headers))
    assert answer.status == 401
    assert answer.header("WWW-Authenticate") == 'Basic realm="webhook"'
    assert "s3cret" not in answer.body.decode()
    assert door.engine.executions() == []


@pytest.mark.parametrize("scheme", ["Basic", "basic", "BASIC", "bAsIc"])
def test_auth_scheme_is_case_insensitive(door: Door, scheme: str) -> None:
    value = scheme + basic("shop", "s3cret")[5:]
    assert door.call(Request(path=SEED, body=PAID, headers=[("Authorization", value), JSON])
                     ).status == 200


def test_password_may_contain_colons(door: Door) -> None:
    ok = door.call(Request(path="/api/webhook:trigger/colon",
                           headers=[("Authorization", basic("u", "a:b:c"))]))
    bad = door.call(Request(path="/api/webhook:trigger/colon",
                            headers=[("Authorization", basic("u", "a:b"))]))
    assert (ok.status, bad.status) == (200, 401)


def test_authorization_is_ignored_without_auth(door: Door) -> None:
    answer = door.call(Request(path="/api/webhook:trigger/plain-async",
                               headers=[("Authorization", "Bearer whatever")]))
    assert answer.status == 200


def test_404_comes_before_405_and_405_before_401(door: Door) -> None:
    assert door.call(Request(path="/api/webhook:trigger/nope", method="GET")).status == 404
    assert door.call(Request(path=SEED, method="GET")).status == 405


# -- body size ------------------------------------------------------------------------------------
def test_declared_length_over_the_limit_answers_413_unread(door: Door) -> None:
    answer = door.call(Request(path="/api/webhook:trigger/strict", body=b"{" + b" " * 200 + b"}",
                               headers=[JSON]))
    assert answer.status == 413
    assert door.engine.executions() == []


def test_engine_limit_applies_without_workflow_limit() -> None:
    engine = Engine(max_body_size=64)
    engine.add_workflow({"key": "hook", "nodes": []})
    for kind in ("wsgi", "asgi"):
        door = Door(kind, engine)
        assert door.call(Request(body=b"[" + b"1," * 40 + b"1]", headers=[JSON])).status == 413
        assert door.call(Request(body=b"[1]", headers=[JSON])).status == 200
    engine.close()


def test_streamed_asgi_body_over_the_limit_answers_413(engine: Engine) -> None:
    door = Door("asgi", engine)
    chunks = [b'{"a":"', b"x" * 60, b"x" * 60, b'"}']
    answer = door.call(Request(path="/api/webhook:trigger/strict", chunks=chunks,
                               headers=[JSON], content_length=False))
    assert answer.status == 413
    small = door.call(Request(path="/api/webhook:trigger/strict", chunks=[b'{"a"', b":1}"],
                              headers=[JSON], content_length=False))
    assert small.status == 200


def test_invalid_content_length_answers_400(door: Door) -> None:
    answer = door.call(Request(path="/api/webhook:trigger/plain-async",
                               headers=[("Content-Length", "12x")], content_length=False,
                               validate=False))
    assert answer.status == 400


# -- media types and JSON --------------------------------------------------------------
@pytest.mark.parametrize("body, reason", [
    (b"{bad", "invalid JSON"),
    (b'"just a string"', "object or an array"),
    (b"42", "object or an array"),
    (b'{"a": NaN}', "invalid JSON"),
    (b'{"a": "\xff"}', "UTF-8"),
    (b"[" * 101 + b"]" * 101, "deeper than 100"),
    (b'{"a":' * 101 + b"1" + b"}" * 101, "deeper than 100"),
    (b"[" * 5000 + b"]" * 5000, "deeper than 100"),
])
def test_bad_json_answers_400(door: Door, body: bytes, reason: str) -> None:
    answer = door.call(Request(path="/api/webhook:trigger/plain-async", body=body,
                               headers=[JSON]))
    assert answer.status == 400
    assert reason in answer.json()["errors"][0]["message"]
    assert door.engine.executions() == []


def test_json_nesting_at_the_limit_is_accepted(door: Door) -> None:
    body = b"[" * 100 + b"]" * 100
    answer = door.call(Request(path="/api/webhook:trigger/plain-async", body=body,
                               headers=[JSON]))
    assert answer.status == 200


@pytest.mark.parametrize("content_type", [
    "application/json", "application/json; charset=utf-8", "APPLICATION/JSON",
    "application/vnd.api+json", "application/merge-patch+json ; charset=UTF-8",
])
def test_json_media_types_are_parsed(door: Door, content_type: str) -> None:
    answer = door.call(Request(path="/api/webhook:trigger/async-hook", body=b'{"k": [1, 2]}',
                               headers=[("Content-Type", content_type)]))
    assert answer.status == 202
    assert door.engine.drain(5)
    [execution] = door.engine.executions("async-hook")
    assert execution.output["body"] == {"k": [1, 2]}


@pytest.mark.parametrize("content_type, body", [
    ("text/plain", b"hello"), ("application/x-www-form-urlencoded", b"a=1"),
    (None, b"{\"ignored\": true}"), ("application/xml", b"<a/>"), ("application/json", b""),
    ("application/json", b"  \n"),
])
def test_non_json_or_empty_bodies_become_an_empty_object(door: Door, content_type: str | None,
                                                         body: bytes) -> None:
    headers = [("Content-Type", content_type)] if content_type else []
    answer = door.call(Request(path="/api/webhook:trigger/async-hook", body=body,
                               headers=headers))
    assert answer.status == 202
    assert door.engine.drain(5)
    [execution] = door.engine.executions("async-hook")
    assert execution.output["body"] == {}


@pytest.mark.parametrize("content_type, body, status", [
    ("text/plain", b"hello", 415),
    (None, b"{}", 415),
    ("application/x-www-form-urlencoded", b"a=1", 415),
    (None, b"", 200),
    ("application/json", b"{}", 200),
    ("application/problem+json", b"{}", 200),
])
def test_strict_content_type(door: Door, content_type: str | None, body: bytes,
                             status: int) -> None:
    headers = [("Content-Type", content_type)] if content_type else []
    answer = door.call(Request(path="/api/webhook:trigger/strict", body=body, headers=headers))
    assert answer.status == status


def test_413_comes_before_415_and_400(door: Door) -> None:
    answer = door.call(Request(path="/api/webhook:trigger/strict", body=b"x" * 500,
                               headers=[("Content-Type", "text/plain")]))
    assert answer.status == 413


# -- limits of row 1 ------------------------------------------------------------------------------
def test_overlong_url_answers_414(door: Door) -> None:
    answer = door.call(Request(path="/api/webhook:trigger/plain-async", query="a=" + "x" * 9000))
    assert answer.status == 414


def test_too_many_or_too_large_headers_answer_431(door: Door) -> None:
    many = [(f"X-H{i}", "v") for i in range(120)]
    assert door.call(Request(path="/api/webhook:trigger/plain-async", headers=many)
                     ).status == 431
    big = [("X-Big", "v" * 17000)]
    assert door.call(Request(path="/api/webhook:trigger/plain-async", headers=big)
                     ).status == 431


# -- async answers --------------------------------------------------------------------------------
def test_async_default_answer_is_200_ok_text(door: Door) -> None:
    answer = door.call(Request(path="/api/webhook:trigger/plain-async"))
    assert (answer.status, answer.body) == (200, b"ok")
    assert answer.header("Content-Type") == "text/plain; charset=utf-8"


def test_async_answer_is_rendered_and_the_execution_recorded(door: Door) -> None:
    answer = door.call(Request(path="/api/webhook:trigger/async-hook", query="src=shop&x[]=1",
                               body=b'{"a": 1}', headers=[JSON, ("X-Ignored", "1")]))
    assert answer.status == 202
    assert answer.json() == {"accepted": True, "source": "shop"}
    assert answer.header("X-Source") == "shop"
    assert door.engine.drain(5)
    [execution] = door.engine.executions("async-hook")
    assert execution.status == Status.RESOLVED
    assert execution.output == {"headers": {}, "query": {"src": "shop", "x": ["1"]},
                                "body": {"a": 1}}


def test_full_queue_answers_503_with_retry_after(door_kind: str) -> None:
    release = threading.Event()
    engine = Engine(workers=1, max_queue=1)
    engine.register_node("block", lambda config, ctx: release.wait(5))
    engine.add_workflow({"key": "hook", "nodes": [{"key": "b", "type": "block"}]})
    door = Door(door_kind, engine)
    try:
        assert door.call(Request()).status == 200
        deadline = threading.Event()
        for _ in range(100):  # wait until the worker holds the first execution
            if engine.store.queued_count() == 0:
                break
            deadline.wait(0.02)
        assert door.call(Request()).status == 200
        refused = door.call(Request())
        assert refused.status == 503
        assert refused.header("Retry-After")
    finally:
        release.set()
        assert engine.drain(5)
        engine.close()
    assert len(engine.executions("hook")) == 2


# -- sync answers without a Response node --------------------------------------------------------
def test_sync_without_response_node_answers_200_empty_or_500(door: Door) -> None:
    ok = door.call(Request(path="/api/webhook:trigger/fails", body=b'{"x": 1}', headers=[JSON]))
    assert (ok.status, ok.body) == (200, b"")
    failed = door.call(Request(path="/api/webhook:trigger/fails", body=b'{"x": 2}',
                               headers=[JSON]))
    assert failed.status == 500
    assert "FAILED" in failed.json()["errors"][0]["message"]


def test_templated_header_with_crlf_is_never_sent(door: Door) -> None:
    answer = door.call(Request(path="/api/webhook:trigger/inject",
                               body=json.dumps({"v": "a\r\nSet-Cookie: x=1"}).encode(),
                               headers=[JSON]))
    assert answer.status == 500
    assert answer.header("Set-Cookie") is None and answer.header("X-Echo") is None
    [execution] = door.engine.executions("inject")
    assert execution.status == Status.ERROR
    safe = door.call(Request(path="/api/webhook:trigger/inject", body=b'{"v": "fine"}',
                             headers=[JSON]))
    assert (safe.status, safe.header("X-Echo"), safe.body) == (200, "fine", b"hi")


# -- headers and query --------------------------------------------------------------------------
def test_repeated_headers_are_joined_and_lookup_is_case_insensitive(door_kind: str) -> None:
    engine = Engine()
    engine.add_workflow({"key": "hook", "sync": True, "config": {"request": {"headers": [
        {"key": "x-tag"}, {"key": "X-Missing"}]}}, "nodes": [
        {"key": "r", "type": "response", "config": {"body": "{{$context.headers}}"}}]})
    answer = Door(door_kind, engine).call(Request(headers=[("X-Tag", "a"), ("X-TAG", "b")]))
    # A WSGI server has already folded repeated headers into one value (with ","); the ASGI
    # door sees each field and joins them with ", ".
    joined = "a,b" if door_kind == "wsgi" else "a, b"
    assert answer.json() == {"x-tag": joined, "X-Missing": None}
    engine.close()


def test_query_string_follows_the_qs_rules(door_kind: str) -> None:
    engine = Engine()
    engine.add_workflow({"key": "hook", "sync": True, "nodes": [
        {"key": "r", "type": "response", "config": {"body": "{{$context.query}}"}}]})
    door = Door(door_kind, engine)
    query = "a[b][c]=x&l[]=1&l[]=2&r=1&r=2&d.e=f&bare&s=%E2%9C%93+ok&%5Bk%5D=v&z[1]=b&z[0]=a"
    answer = door.call(Request(query=query))
    assert answer.json() == {"a": {"b": {"c": "x"}}, "l": ["1", "2"], "r": ["1", "2"],
                             "d.e": "f", "bare": "", "s": "\u2713 ok", "k": "v",
                             "z": ["a", "b"]}
    engine.close()


def test_query_options_per_workflow(door_kind: str) -> None:
    engine = Engine()
    engine.add_workflow({"key": "hook", "sync": True, "config": {"request": {
        "queryOptions": {"depth": 1, "arrayLimit": 2, "parameterLimit": 3}}}, "nodes": [
        {"key": "r", "type": "response", "config": {"body": "{{$context.query}}"}}]})
    answer = Door(door_kind, engine).call(Request(query="a[b][c]=1&l[5]=x&p=1&q=2"))
    assert answer.json() == {"a": {"b": {"[c]": "1"}}, "l": {"5": "x"}, "p": "1"}
    engine.close()


def test_hostile_nesting_is_refused_quickly(door: Door) -> None:
    import time

    body = b"[" * 1_000_000  # just under the 1 MiB default limit
    started = time.monotonic()
    answer = door.call(Request(path="/api/webhook:trigger/plain-async", body=body,
                               headers=[JSON]))
    assert answer.status == 400
    assert time.monotonic() - started < 5  # generous guard against a pathological parse
    assert door.engine.executions() == []
