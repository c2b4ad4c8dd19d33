"""Ambiguous request framing (RFC 9112 6.3) through both doors in process: ``Content-Length``
with ``Transfer-Encoding``, and ``Content-Length`` repeated, are refused before anything runs.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import AUTH, JSON, PAID, example
from doors import Door, Request

from webhook_workflow import Engine
from webhook_workflow.asgi import WebhookMiddleware

URL = "/api/webhook:trigger/payment-callback"


@pytest.fixture
def engine(engine: Engine) -> Engine:
    engine.add_workflow(example())
    return engine


def _refused(door: Door, req: Request, message: str) -> None:
    answer = door.call(req)
    assert answer.status == 400, answer.body
    assert answer.json() == {"errors": [{"message": message}]}
    if door.kind == "asgi":
        assert answer.header("Connection") == "close"
    else:  # PEP 3333: hop-by-hop fields are the server's
        assert answer.header("Connection") is None
    assert door.engine.executions(limit=10) == []


def test_the_seed_request_still_runs(engine: Engine, door_kind: str) -> None:
    door = Door(door_kind, engine)
    answer = door.call(Request(path=URL, headers=[AUTH, JSON], body=PAID))
    assert answer.status == 200, answer.body
    assert answer.header("Connection") is None
    assert len(engine.executions(limit=10)) == 1


def test_asgi_length_with_transfer_encoding_is_refused_and_closed(engine: Engine) -> None:
    # As h11 (uvicorn, hypercorn) passes it on: both fields, the body already dechunked.
    _refused(Door("asgi", engine), Request(
        path=URL, headers=[AUTH, JSON, ("Transfer-Encoding", "chunked"),
                           ("Content-Length", str(len(PAID)))], body=PAID),
        "both Content-Length and Transfer-Encoding")


@pytest.mark.parametrize("lengths", [("8", "2"), (str(len(PAID)), str(len(PAID)))],
                         ids=["different", "identical"])
def test_asgi_repeated_length_is_refused_and_closed(engine: Engine,
                                                    lengths: tuple[str, str]) -> None:
    _refused(Door("asgi", engine), Request(
        path=URL, headers=[AUTH, JSON, *(("Content-Length", n) for n in lengths)], body=PAID),
        "more than one Content-Length")


def test_asgi_refuses_before_the_other_checks(engine: Engine) -> None:
    """No credentials and an unknown workflow: the framing is still the answer (400)."""
    _refused(Door("asgi", engine), Request(
        path="/api/webhook:trigger/nope", headers=[("Transfer-Encoding", "chunked")], body=b""),
        "both Content-Length and Transfer-Encoding")


@pytest.mark.parametrize("length", ["8, 2", "8,2", f"{len(PAID)}, {len(PAID)}"])
def test_wsgi_joined_length_is_refused(engine: Engine, length: str) -> None:
    """A server that joins repeated fields hands the door one comma list."""
    _refused(Door("wsgi", engine), Request(
        path=URL, headers=[AUTH, JSON], body=PAID, extra_environ={"CONTENT_LENGTH": length},
        validate=False), "more than one Content-Length")


@pytest.mark.parametrize("terminated", [False, True])
def test_wsgi_length_with_transfer_encoding_is_refused(engine: Engine,
                                                       terminated: bool) -> None:
    _refused(Door("wsgi", engine), Request(
        path=URL, headers=[AUTH, JSON, ("Transfer-Encoding", "chunked")], body=PAID,
        extra_environ={"wsgi.input_terminated": terminated}, validate=False),
        "both Content-Length and Transfer-Encoding")


def test_wsgi_chunked_without_length_is_still_read(engine: Engine) -> None:
    answer = Door("wsgi", engine).call(Request(
        path=URL, headers=[AUTH, JSON, ("Transfer-Encoding", "chunked")], body=PAID,
        content_length=False, extra_environ={"wsgi.input_terminated": True}, validate=False))
    assert answer.status == 200, answer.body


def test_asgi_http2_answer_has_no_connection_field(engine: Engine) -> None:
    """HTTP/2 forbids connection-specific fields; the 400 alone is the answer there."""
    import asyncio

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": PAID, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "http_version": "2", "method": "POST", "path": URL,
             "raw_path": URL.encode(), "root_path": "", "query_string": b"",
             "headers": [(b"content-length", b"8"), (b"content-length", b"2")],
             "client": ("127.0.0.1", 5000)}
    asyncio.run(WebhookMiddleware(engine=engine)(scope, receive, send))
    assert sent[0]["status"] == 400
    assert all(name != b"connection" for name, _ in sent[0]["headers"])
