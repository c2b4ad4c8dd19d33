"""NocoBase's flat node form: conversion, validation and a round trip."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from conftest import JSON, example
from doors import Door, Request

from webhook_workflow import DefinitionError, Engine, Status
from webhook_workflow.definition.nocobase import from_flat, is_flat, to_flat

# A workflow as NocoBase's API returns it (workflows:get?appends[]=nodes), trimmed of nothing.
EXPORTED: dict[str, Any] = {"data": {
    "id": 42, "key": "1hfmkioou0d", "title": "Order paid", "type": "webhook", "enabled": True,
    "current": True, "sync": True, "triggerTitle": None, "executed": 3, "allExecuted": 5,
    "createdAt": "2026-10-01T10:00:00.000Z", "updatedAt": "2026-10-02T10:00:00.000Z",
    "categories": [], "description": None,
    "stats": {"key": "1hfmkioou0d", "executed": 5}, "versionStats": {"id": 42, "executed": 3},
    "config": {"basicAuthentication": False, "request": {
        "headers": [{"key": "x-request-id"}],
        "body": [{"key": "order.status", "alias": "Status", "_var": "body_$0"},
                 {"key": "order.id", "_var": "body_$1"}]}},
    "options": {"deleteExecutionOnStatus": [], "stackLimit": 1},
    "nodes": [
        {"id": 7, "key": "ok", "title": "Success", "type": "response", "workflowId": 42,
         "upstreamId": 5, "downstreamId": None, "branchIndex": 1,
         "config": {"statusCode": 200, "body": {"id": "{{$context.body.body_$1}}"}},
         "createdAt": "2026-10-01T10:00:00.000Z", "updatedAt": "2026-10-01T10:00:00.000Z"},
        {"id": 5, "key": "paid", "title": "Paid?", "type": "condition", "workflowId": 42,
         "upstreamId": None, "downstreamId": 9, "branchIndex": None,
         "config": {"rejectOnFalse": False, "calculation": {"group": {"type": "and",
                    "calculations": [{"calculator": "equal",
                                      "operands": ["{{$context.body.body_$0}}", "paid"]}]}}}},
        {"id": 8, "key": "bad", "title": "Refuse", "type": "response", "workflowId": 42,
         "upstreamId": 5, "downstreamId": None, "branchIndex": 0,
         "config": {"statusCode": 400, "body": {"ok": False}}},
        {"id": 9, "key": "fallback", "title": "Fallback", "type": "output", "workflowId": 42,
         "upstreamId": 5, "downstreamId": None, "branchIndex": None,
         "config": {"value": "unreachable"}},
    ]}}


def test_flat_form_is_detected_and_converted() -> None:
    assert is_flat(EXPORTED) and not is_flat(example())
    nested = from_flat(EXPORTED)
    assert set(nested) == {"key", "title", "type", "enabled", "sync", "config", "options",
                           "nodes"}
    [paid, fallback] = nested["nodes"]
    assert (paid["key"], fallback["key"]) == ("paid", "fallback")
    assert paid["config"]["engine"] == "basic"
    assert [n["key"] for n in paid["branches"]["1"]] == ["ok"]
    assert [n["key"] for n in paid["branches"]["0"]] == ["bad"]
    assert "id" not in paid and "upstreamId" not in paid


@pytest.mark.parametrize("status, code, body", [("paid", 200, {"id": "A1"}),
                                                 ("open", 400, {"ok": False})])
def test_exported_workflow_runs_as_in_nocobase(status: str, code: int,
                                               body: dict[str, Any]) -> None:
    engine = Engine()
    workflow = engine.add_workflow(copy.deepcopy(EXPORTED))
    assert workflow.key == "1hfmkioou0d"
    door = Door("wsgi", engine)
    answer = door.call(Request(path=workflow.url_path, headers=[JSON],
                               body=json.dumps({"order": {"id": "A1", "status": status}}).encode()))
    assert (answer.status, answer.json()) == (code, body)
    [execution] = engine.executions()
    assert execution.status == Status.RESOLVED
    assert execution.context["body"] == {"body_$0": status, "body_$1": "A1"}


def test_round_trip_nested_flat_nested() -> None:
    nested = from_flat(EXPORTED)
    again = from_flat(to_flat(nested))
    assert again == nested
    engine = Engine()
    assert engine.add_workflow(nested).digest == engine.add_workflow(to_flat(nested)).digest
    seed = example()
    assert from_flat(to_flat(seed)) == seed


@pytest.mark.parametrize("mutate, message", [
    (lambda nodes: nodes[1].update(upstreamId=None) or nodes[0].update(upstreamId=None),
     "one head node"),
    (lambda nodes: nodes[1].update(downstreamId=99), "missing node 99"),
    (lambda nodes: nodes[1].update(downstreamId=None), "not linked"),
    (lambda nodes: nodes[3].update(id=5), "duplicate node id"),
])
def test_broken_flat_links_are_refused(mutate: Any, message: str) -> None:
    data = copy.deepcopy(EXPORTED["data"])
    mutate(data["nodes"])
    with pytest.raises(DefinitionError, match=message):
        Engine().add_workflow(data)
