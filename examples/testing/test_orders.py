"""Tests of orders.json and order-events.json, with the webhook_workflow pytest plugin."""

import time

from webhook_workflow import Engine, Status
from webhook_workflow.testing import WebhookClient, assert_execution, sign_request


def test_a_large_order_is_reviewed(webhook_engine: Engine, webhook_client: WebhookClient
                                   ) -> None:
    order = {"quantity": 3, "price": 40}
    headers = sign_request("github", webhook_engine.env["ORDERS_SECRET"], order)
    answer = webhook_client.post("orders", json=order, headers=headers)
    assert (answer.status, answer.json) == (201, {"total": 120})
    assert_execution(answer, Status.RESOLVED,
                     nodes={"total": Status.RESOLVED, "review": Status.RESOLVED},
                     results={"total": 120}, output={"review": True})


def test_a_small_order_is_not(webhook_engine: Engine, webhook_client: WebhookClient) -> None:
    order = {"quantity": 1, "price": 5}
    headers = sign_request("github", webhook_engine.env["ORDERS_SECRET"], order)
    answer = webhook_client.asgi.post("orders", json=order, headers=headers)  # the ASGI door
    assert answer.json == {"total": 5}
    assert_execution(answer, "resolved", nodes={"large": "resolved", "review": None})


def test_an_unsigned_order_is_refused(webhook_client: WebhookClient) -> None:
    answer = webhook_client.post("orders", json={"quantity": 1, "price": 5})
    assert answer.status == 401
    assert answer.json == {"errors": [{"message": "missing header X-Hub-Signature-256"}]}
    assert answer.execution is None


def test_an_event_runs_after_the_answer(webhook_engine: Engine,
                                        webhook_client: WebhookClient) -> None:
    event = {"type": "order.shipped", "id": "o_1"}
    headers = sign_request("standard-webhooks", webhook_engine.env["EVENTS_SECRET"], event)
    answer = webhook_client.post("order-events", json=event, headers=headers)
    assert answer.status == 200  # async: answered before the run
    assert_execution(answer.wait(), "resolved", output="order.shipped")


def test_a_replayed_event_is_refused(webhook_engine: Engine,
                                     webhook_client: WebhookClient) -> None:
    event = {"type": "order.shipped", "id": "o_1"}
    ten_minutes_ago = time.time() - 600
    headers = sign_request("standard-webhooks", webhook_engine.env["EVENTS_SECRET"], event,
                           timestamp=ten_minutes_ago)
    answer = webhook_client.post("order-events", json=event, headers=headers)
    assert (answer.status, answer.json["errors"][0]["message"]) == (401, "stale timestamp")
