"""The Engine API: versions, the workflow table, execute, the execution log, workers, settings."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from webhook_workflow import (
    DefinitionError,
    Engine,
    Execution,
    Status,
    StoreUnavailable,
    Workflow,
)
from webhook_workflow.http.headers import headers_from_pairs
from webhook_workflow.runs import Acknowledgement

DEADLINE = 5.0


@pytest.fixture
def engine() -> Iterator[Engine]:
    eng = Engine(workers=2)
    yield eng
    eng.close(timeout=DEADLINE)


def output_workflow(key: str, value: Any = "done", **extra: Any) -> dict[str, Any]:
    return {"key": key, "nodes": [{"key": "out", "type": "output", "config": {"value": value}}],
            **extra}


def failing_workflow(key: str) -> dict[str, Any]:
    return {"key": key, "nodes": [{"key": "stop", "type": "end", "config": {"endStatus": -1}}]}


def wait_for(predicate: Callable[[], bool], timeout: float = DEADLINE) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def is_aware_utc(value: datetime | None) -> bool:
    return value is not None and value.utcoffset() == timedelta(0)


def queue(engine: Engine, key: str, body: Any = None) -> Execution:
    """Record a queued execution of the current version of ``key`` (as an async door does)."""
    wf = engine.get_workflow(key)
    assert wf is not None
    execution = Execution(key, wf.version, {"headers": {}, "query": {}, "body": body or {}})
    engine.store.add(execution)
    return execution


# --- versions ------------------------------------------------------------------------------

def test_identical_body_is_the_same_version_even_with_a_different_enabled(
        engine: Engine) -> None:
    first = engine.add_workflow(output_workflow("w"))
    again = engine.add_workflow(output_workflow("w", enabled=False))
    assert first.version == again.version == 1
    assert first.digest == again.digest
    assert again.enabled is False
    assert "w" not in engine.routes
    back = engine.add_workflow(output_workflow("w", enabled=True))
    assert back.version == 1 and back.enabled is True
    assert engine.routes["w"].version == 1


def test_different_body_is_the_next_version_and_becomes_enabled(engine: Engine) -> None:
    engine.add_workflow(output_workflow("w", "one", enabled=False))
    second = engine.add_workflow(output_workflow("w", "two"))
    assert second.version == 2
    assert second.enabled is True
    assert engine.routes["w"].version == 2
    current = engine.get_workflow("w")
    assert current is not None and current.version == 2
    assert engine.execute("w").output == "two"
    assert engine.execute("w").version == 2


def test_going_back_to_an_older_body_is_a_new_version(engine: Engine) -> None:
    engine.add_workflow(output_workflow("w", "a"))
    engine.add_workflow(output_workflow("w", "b"))
    third = engine.add_workflow(output_workflow("w", "a"))
    assert third.version == 3
    assert engine.execute("w").output == "a"


def test_digest_is_stable_under_key_order(engine: Engine) -> None:
    ordered = {
        "key": "w", "title": "T", "sync": True,
        "config": {"request": {"body": [{"key": "a", "alias": "A"}], "strictContentType": True}},
        "options": {"stackLimit": 2, "timeout": 0},
        "nodes": [{"key": "r", "type": "response",
                   "config": {"statusCode": 201, "body": {"x": 1, "y": [1, 2]}}}],
    }
    reordered = {
        "nodes": [{"config": {"body": {"y": [1, 2], "x": 1}, "statusCode": 201},
                   "type": "response", "key": "r"}],
        "options": {"timeout": 0, "stackLimit": 2},
        "config": {"request": {"strictContentType": True, "body": [{"alias": "A", "key": "a"}]}},
        "sync": True, "title": "T", "key": "w",
    }
    a = engine.add_workflow(ordered)
    b = engine.add_workflow(reordered)
    assert a.digest == b.digest
    assert b.version == 1


def test_defaults_written_out_are_the_same_version(engine: Engine) -> None:
    short = engine.add_workflow({"key": "w"})
    explicit = engine.add_workflow({
        "key": "w", "type": "webhook", "enabled": True, "sync": False,
        "config": {"basicAuthentication": False,
                   "response": {"statusCode": 200, "headers": [], "body": "ok"}},
        "options": {"timeout": 0, "stackLimit": 1, "deleteExecutionOnStatus": []},
        "nodes": []})
    assert short.digest == explicit.digest
    assert explicit.version == 1


def test_digest_changes_with_the_body(engine: Engine) -> None:
    a = engine.add_workflow(output_workflow("w", 1))
    b = engine.add_workflow(output_workflow("w", "1"))
    assert a.digest != b.digest
    assert len(a.digest) == 64


def test_registered_workflow_is_not_changed_by_mutating_the_given_dict(engine: Engine) -> None:
    definition = output_workflow("w", {"a": 1})
    wf = engine.add_workflow(definition)
    definition["nodes"][0]["config"]["value"]["a"] = 2
    definition["nodes"].append({"key": "x", "type": "end", "config": {"endStatus": -1}})
    execution = engine.execute("w")
    assert execution.status == Status.RESOLVED
    assert execution.output == {"a": 1}
    assert wf.definition["nodes"][0]["config"]["value"] == {"a": 1}
    assert engine.add_workflow(output_workflow("w", {"a": 1})).version == 1


# --- the workflow table --------------------------------------------------------------------

def test_workflows_and_get_workflow(engine: Engine) -> None:
    engine.add_workflow(output_workflow("a"))
    engine.add_workflow({**output_workflow("b"), "title": "Bee", "enabled": False})
    listed = engine.workflows()
    assert {w.key for w in listed} == {"a", "b"}
    assert all(isinstance(w, Workflow) for w in listed)
    b = engine.get_workflow("b")
    assert b is not None
    assert (b.title, b.enabled, b.sync, b.version) == ("Bee", False, False, 1)
    assert b.url_path == "/api/webhook:trigger/b"
    assert engine.get_workflow("missing") is None


def test_url_path_follows_base_path() -> None:
    for base, expected in (("", "/k"), ("/hooks", "/hooks/k")):
        eng = Engine(base_path=base)
        try:
            assert eng.add_workflow({"key": "k"}).url_path == expected
        finally:
            eng.close(timeout=DEADLINE)


def test_remove_workflow(engine: Engine) -> None:
    engine.add_workflow(output_workflow("a"))
    engine.add_workflow(output_workflow("a", "v2"))
    assert "a" in engine.routes
    assert engine.remove_workflow("a") is True
    assert "a" not in engine.routes
    assert engine.get_workflow("a") is None
    assert engine.workflows() == []
    assert engine.remove_workflow("a") is False
    with pytest.raises(KeyError):
        engine.execute("a")
    # The store remembers the versions it recorded executions for: registering again goes on
    # counting (the latest recorded body was v2, so the v1 body comes back as v3).
    assert engine.add_workflow(output_workflow("a")).version == 3


def test_set_enabled(engine: Engine) -> None:
    engine.add_workflow(output_workflow("a"))
    off = engine.set_enabled("a", False)
    assert off.enabled is False and "a" not in engine.routes
    got = engine.get_workflow("a")
    assert got is not None and got.enabled is False
    on = engine.set_enabled("a", True)
    assert on.enabled is True and engine.routes["a"].version == 1
    with pytest.raises(KeyError):
        engine.set_enabled("missing", True)


def test_load_directory_json_and_yaml_sorted(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text("key: bee\nnodes: []\n", encoding="utf-8")
    (tmp_path / "a.json").write_text(json.dumps({"key": "ay"}), encoding="utf-8")
    (tmp_path / "c.yml").write_text("key: cee\nsync: true\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a workflow", encoding="utf-8")
    (tmp_path / "README.md").write_text("# docs", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.json").write_text(json.dumps({"key": "dee"}), encoding="utf-8")
    loaded = engine.load_directory(tmp_path)
    assert [w.key for w in loaded] == ["ay", "bee", "cee"]
    assert {w.key for w in engine.workflows()} == {"ay", "bee", "cee"}
    assert engine.load_directory(str(tmp_path))[2].sync is True


def test_load_directory_error_names_the_file(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps({"key": "ay"}), encoding="utf-8")
    (tmp_path / "b.json").write_text(
        json.dumps({"key": "bee", "nodes": [{"key": "n", "type": "nope"}]}), encoding="utf-8")
    with pytest.raises(DefinitionError) as info:
        engine.load_directory(tmp_path)
    assert info.value.path.startswith("b.json")
    assert str(info.value).startswith("b.json: nodes[0].type: unknown node type 'nope'")


def test_load_directory_unreadable_file_names_it(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    with pytest.raises(DefinitionError) as info:
        engine.load_directory(tmp_path)
    assert "bad.json" in str(info.value)
    assert "invalid JSON" in str(info.value)


def test_load_directory_needs_a_directory(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="not a directory"):
        engine.load_directory(tmp_path / "missing")


# --- execute -------------------------------------------------------------------------------

def test_execute_runs_an_async_workflow_synchronously(engine: Engine) -> None:
    engine.add_workflow(output_workflow("a", "{{$context.body.x}}"))
    execution = engine.execute("a", {"body": {"x": [1, 2]}})
    assert execution.status == Status.RESOLVED
    assert execution.output == [1, 2]
    assert execution.finished_at is not None
    assert [j.node_key for j in execution.jobs] == ["out"]


def test_execute_runs_a_disabled_workflow(engine: Engine) -> None:
    engine.add_workflow(output_workflow("a", enabled=False))
    execution = engine.execute("a")
    assert execution.status == Status.RESOLVED
    assert execution.output == "done"


def test_execute_fills_missing_context_parts(engine: Engine) -> None:
    engine.add_workflow(output_workflow("a"))
    assert engine.execute("a").context == {"headers": {}, "query": {}, "body": {}}
    got = engine.execute("a", {"query": {"q": "1"}}).context
    assert got == {"headers": {}, "query": {"q": "1"}, "body": {}}


def test_execute_refuses_unknown_context_parts(engine: Engine) -> None:
    engine.add_workflow(output_workflow("a"))
    with pytest.raises(ValueError, match="raw"):
        engine.execute("a", {"body": {}, "raw": "x"})


def test_execute_unknown_workflow_is_a_key_error(engine: Engine) -> None:
    with pytest.raises(KeyError):
        engine.execute("missing")


def test_execute_records_the_execution(engine: Engine) -> None:
    engine.add_workflow(output_workflow("a"))
    execution = engine.execute("a")
    stored = engine.get_execution(execution.id)
    assert stored is not None
    assert (stored.workflow_key, stored.version, stored.status) == ("a", 1, Status.RESOLVED)
    assert stored.output == "done"


# --- the execution log ---------------------------------------------------------------------

def test_executions_newest_first_with_filters_and_limit(engine: Engine) -> None:
    engine.add_workflow(output_workflow("ok"))
    engine.add_workflow(failing_workflow("bad"))
    runs = [engine.execute("ok"), engine.execute("bad"), engine.execute("ok"),
            engine.execute("bad")]
    ids = [r.id for r in runs]
    assert [e.id for e in engine.executions()] == ids[::-1]
    assert [e.id for e in engine.executions("ok")] == [ids[2], ids[0]]
    assert [e.id for e in engine.executions(limit=2)] == [ids[3], ids[2]]
    for status in (Status.FAILED, -1, "-1", "failed", "FAILED"):
        assert [e.id for e in engine.executions(status=status)] == [ids[3], ids[1]], status
    resolved = engine.executions("ok", status=Status.RESOLVED, limit=1)
    assert [e.id for e in resolved] == [ids[2]]
    assert engine.executions(status="queued") == []
    assert engine.executions("missing") == []
    # Rows carry their jobs too.
    assert [j.node_key for j in engine.executions("bad", limit=1)[0].jobs] == ["stop"]


def test_executions_unknown_status_name_is_refused(engine: Engine) -> None:
    with pytest.raises(ValueError):
        engine.executions(status="finished")


def test_queued_executions_are_listed_with_status_none() -> None:
    eng = Engine()
    try:
        eng.add_workflow(output_workflow("a"))
        queued = queue(eng, "a")
        listed = eng.executions(status="queued")
        assert [e.id for e in listed] == [queued.id]
        assert listed[0].status is None
        assert eng.executions(status=Status.RESOLVED) == []
        assert not eng.dispatcher.started
    finally:
        eng.close(timeout=DEADLINE)


def test_get_execution_jobs_and_times(engine: Engine) -> None:
    engine.add_workflow({"key": "a", "nodes": [
        {"key": "check", "type": "condition", "config": {"rejectOnFalse": False},
         "branches": {"1": [{"key": "inner", "type": "output", "config": {"value": 1}}]}},
        {"key": "last", "type": "output", "config": {"value": 2}}]})
    execution = engine.execute("a")
    got = engine.get_execution(execution.id)
    assert got is not None
    assert [(j.node_key, j.status, j.result) for j in got.jobs] == [
        ("check", Status.RESOLVED, True), ("inner", Status.RESOLVED, 1),
        ("last", Status.RESOLVED, 2)]
    for job in got.jobs:
        assert is_aware_utc(job.started_at) and is_aware_utc(job.finished_at)
        assert job.started_at is not None and job.finished_at is not None
        assert job.started_at <= job.finished_at
        assert job.id
    assert len({j.id for j in got.jobs}) == 3
    assert is_aware_utc(got.created_at)
    assert is_aware_utc(got.started_at) and is_aware_utc(got.finished_at)
    assert got.jobs[0].started_at is not None and got.started_at is not None
    assert got.started_at <= got.jobs[0].started_at
    assert engine.get_execution("0") is None


def test_get_execution_returns_a_copy(engine: Engine) -> None:
    engine.add_workflow(output_workflow("a", {"k": "v"}))
    execution = engine.execute("a")
    got = engine.get_execution(execution.id)
    assert got is not None
    got.output["k"] = "changed"
    got.jobs.clear()
    again = engine.get_execution(execution.id)
    assert again is not None
    assert again.output == {"k": "v"} and len(again.jobs) == 1


# --- memory store bounds -------------------------------------------------------------------

def test_max_executions_drops_the_oldest_finished() -> None:
    eng = Engine(max_executions=3)
    try:
        eng.add_workflow(output_workflow("a"))
        ids = [eng.execute("a").id for _ in range(5)]
        assert [e.id for e in eng.executions()] == ids[:1:-1]
        assert eng.get_execution(ids[0]) is None
        assert eng.get_execution(ids[1]) is None
        assert eng.get_execution(ids[4]) is not None
    finally:
        eng.close(timeout=DEADLINE)


def test_max_executions_counts_a_canceled_execution_once() -> None:
    eng = Engine(max_executions=2)
    try:
        eng.add_workflow(output_workflow("a"))
        canceled = queue(eng, "a")
        assert eng.cancel(canceled.id) is True
        ran = eng.execute("a")
        # Two finished executions and room for two: both are kept.
        assert eng.get_execution(canceled.id) is not None
        assert {e.id for e in eng.executions()} == {canceled.id, ran.id}
    finally:
        eng.close(timeout=DEADLINE)


def test_max_queue_refuses_more_queued_executions() -> None:
    eng = Engine(max_queue=2)
    try:
        eng.add_workflow(output_workflow("a"))
        queue(eng, "a")
        queue(eng, "a")
        with pytest.raises(StoreUnavailable, match="queue full"):
            queue(eng, "a")
        assert len(eng.executions(status="queued")) == 2
        # A started (sync) execution does not take a queue slot.
        eng.store.add(Execution("a", 1, {}, status=Status.STARTED, sync=True))
    finally:
        eng.close(timeout=1)


def test_a_canceled_execution_frees_its_queue_slot() -> None:
    eng = Engine(max_queue=1)
    try:
        eng.add_workflow(output_workflow("a"))
        first = queue(eng, "a")
        assert eng.cancel(first.id) is True
        second = queue(eng, "a")  # nothing is queued any more
        assert [e.id for e in eng.executions(status="queued")] == [second.id]
    finally:
        eng.close(timeout=DEADLINE)


# --- cancel --------------------------------------------------------------------------------

def test_cancel_a_queued_execution() -> None:
    eng = Engine()
    try:
        eng.add_workflow(output_workflow("a"))
        queued = queue(eng, "a")
        assert eng.cancel(queued.id) is True
        got = eng.get_execution(queued.id)
        assert got is not None
        assert got.status == Status.CANCELED
        assert is_aware_utc(got.finished_at)
        assert got.jobs == []
        assert eng.cancel(queued.id) is False
        assert not eng.dispatcher.started
        # Workers never run a canceled execution.
        assert eng.drain(DEADLINE) is True
        after = eng.get_execution(queued.id)
        assert after is not None and after.status == Status.CANCELED and after.jobs == []
        assert [e.id for e in eng.executions(status=Status.CANCELED)] == [queued.id]
    finally:
        eng.close(timeout=DEADLINE)


def test_cancel_unknown_or_finished_is_false(engine: Engine) -> None:
    engine.add_workflow(output_workflow("a"))
    finished = engine.execute("a")
    assert engine.cancel(finished.id) is False
    assert engine.cancel("123") is False
    got = engine.get_execution(finished.id)
    assert got is not None and got.status == Status.RESOLVED


# --- workers -------------------------------------------------------------------------------

def test_workers_are_not_started_by_construction_or_read_only_calls() -> None:
    eng = Engine()
    try:
        assert eng.dispatcher.started is False
        eng.add_workflow(output_workflow("a"))
        queued = queue(eng, "a")
        eng.executions()
        eng.executions("a", status="queued")
        eng.get_execution(queued.id)
        eng.workflows()
        eng.get_workflow("a")
        assert eng.dispatcher.started is False
        got = eng.get_execution(queued.id)
        assert got is not None and got.status is None
    finally:
        eng.close(timeout=DEADLINE)
    assert eng.dispatcher.started is False


def test_close_without_start_does_not_start_workers() -> None:
    eng = Engine()
    eng.close(timeout=DEADLINE)
    assert eng.dispatcher.started is False


def test_async_request_through_the_gateway_runs_on_the_workers() -> None:
    eng = Engine(workers=2)
    try:
        eng.add_workflow(output_workflow("a", {"got": "{{$context.body.x}}"}))
        headers = headers_from_pairs([("Content-Type", "application/json")])
        admission = eng.gateway.begin("POST", "a", 30, b"", headers)
        assert not hasattr(admission, "status"), admission
        pending = eng.gateway.accept(admission, b'{"x": 5}')  # type: ignore[arg-type]
        answer = pending.wait() if isinstance(pending, Acknowledgement) else pending
        assert getattr(answer, "status", None) == 200
        assert getattr(answer, "body", None) == b"ok"
        assert eng.dispatcher.started
        assert eng.drain(DEADLINE) is True
        [execution] = eng.executions("a")
        assert execution.status == Status.RESOLVED
        assert execution.output == {"got": 5}
        assert execution.response is None
    finally:
        eng.close(timeout=DEADLINE)


def test_start_runs_queued_executions() -> None:
    eng = Engine(workers=2)
    try:
        eng.add_workflow(output_workflow("a", "{{$context.body.n}}"))
        queued = [queue(eng, "a", {"n": n}) for n in range(5)]
        assert not eng.dispatcher.started
        eng.start()
        assert eng.dispatcher.started

        def all_done() -> bool:
            got = [eng.get_execution(q.id) for q in queued]
            return all(g is not None and g.status == Status.RESOLVED for g in got)

        assert wait_for(all_done)
        outputs = sorted(g.output for q in queued if (g := eng.get_execution(q.id)))
        assert outputs == [0, 1, 2, 3, 4]
    finally:
        eng.close(timeout=DEADLINE)
    assert eng.dispatcher.started is False


def test_drain_starts_workers_and_waits(engine: Engine) -> None:
    engine.add_workflow(failing_workflow("bad"))
    queued = queue(engine, "bad")
    assert engine.drain(DEADLINE) is True
    assert engine.dispatcher.started
    got = engine.get_execution(queued.id)
    assert got is not None and got.status == Status.FAILED
    assert [j.node_key for j in got.jobs] == ["stop"]


def test_close_drains_queued_executions() -> None:
    eng = Engine(workers=1)
    eng.add_workflow(output_workflow("a"))
    eng.start()
    queued = [queue(eng, "a") for _ in range(3)]
    eng.dispatcher.notify()
    eng.close(timeout=DEADLINE)
    assert eng.dispatcher.started is False
    for q in queued:
        got = eng.get_execution(q.id)
        assert got is not None and got.status == Status.RESOLVED


def test_drain_is_not_blocked_by_executions_no_worker_can_claim() -> None:
    eng = Engine(workers=1)
    try:
        eng.add_workflow(output_workflow("a"))
        queue(eng, "a")
        eng.remove_workflow("a")  # its queued execution can never run in this engine
        started = time.monotonic()
        assert eng.drain(1.0) is True
        assert time.monotonic() - started < 1.0
    finally:
        eng.close(timeout=0.5)


def test_lifespan_starts_and_closes() -> None:
    eng = Engine(workers=1)
    eng.add_workflow(output_workflow("a", "ran"))
    seen: dict[str, Any] = {}

    async def main() -> None:
        assert not eng.dispatcher.started
        async with eng.lifespan():
            seen["started"] = eng.dispatcher.started
            queued = queue(eng, "a")
            seen["id"] = queued.id
            eng.dispatcher.notify()
            seen["drained"] = await asyncio.to_thread(eng.drain, DEADLINE)

    asyncio.run(asyncio.wait_for(main(), DEADLINE * 2))
    assert seen["started"] is True and seen["drained"] is True
    assert eng.dispatcher.started is False
    got = eng.get_execution(seen["id"])
    assert got is not None and got.output == "ran"


def test_lifespan_accepts_an_app_argument() -> None:
    eng = Engine(workers=1)

    async def main() -> bool:
        async with eng.lifespan(object()):
            return eng.dispatcher.started

    assert asyncio.run(asyncio.wait_for(main(), DEADLINE)) is True
    assert eng.dispatcher.started is False


# --- deleteExecutionOnStatus ---------------------------------------------------------------

def test_delete_execution_on_status_drops_those_finished_executions(engine: Engine) -> None:
    engine.add_workflow(output_workflow("ok", options={"deleteExecutionOnStatus": [1]}))
    engine.add_workflow({**failing_workflow("bad"),
                         "options": {"deleteExecutionOnStatus": [1]}})
    dropped = engine.execute("ok")
    assert dropped.status == Status.RESOLVED  # the caller still gets the result
    assert dropped.output == "done"
    assert engine.get_execution(dropped.id) is None
    kept = engine.execute("bad")
    assert engine.get_execution(kept.id) is not None
    assert [e.id for e in engine.executions()] == [kept.id]


def test_delete_execution_on_status_for_background_runs(engine: Engine) -> None:
    engine.add_workflow({**failing_workflow("bad"),
                         "options": {"deleteExecutionOnStatus": [-1]}})
    queued = queue(engine, "bad")
    assert engine.drain(DEADLINE) is True
    assert engine.get_execution(queued.id) is None
    assert engine.executions() == []


# --- settings ------------------------------------------------------------------------------

def test_unknown_engine_setting_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="max_bodysize"):
        Engine(max_bodysize=10)


@pytest.mark.parametrize(("name", "value"), [
    ("max_body_size", -1), ("max_body_size", 0), ("max_json_depth", "100"),
    ("max_url_length", None), ("max_header_count", True), ("loop_limit", 0),
    ("max_node_runs", -5), ("max_executions", 0), ("max_queue", 0), ("workers", 0),
    ("lease", -1.0)])
def test_bad_engine_setting_values_are_value_errors(name: str, value: Any) -> None:
    with pytest.raises(ValueError, match=name):
        Engine(**{name: value})


def test_retention_is_refused() -> None:
    with pytest.raises(ValueError, match="retention"):
        Engine(retention={"max_age": 60, "max_count": 10})


@pytest.mark.parametrize("base_path", ["api", "/api/", "/"])
def test_bad_base_path_is_refused(base_path: str) -> None:
    with pytest.raises(ValueError, match="base_path"):
        Engine(base_path=base_path)


def test_settings_are_applied() -> None:
    eng = Engine(max_body_size=2048, workers=1, max_queue=7)
    try:
        assert eng.settings["max_body_size"] == 2048
        assert eng.limits.max_body_size == 2048
        assert eng.settings["loop_limit"] == 10_000  # defaults stay
    finally:
        eng.close(timeout=DEADLINE)


# --- custom node types are per engine ------------------------------------------------------

def test_engines_do_not_share_custom_node_types() -> None:
    first, second = Engine(), Engine()
    try:
        first.register_node("shout", lambda config, ctx: "HI")
        definition = {"key": "s", "nodes": [{"key": "n", "type": "shout"}]}
        assert first.add_workflow(definition).version == 1
        with pytest.raises(DefinitionError, match="unknown node type 'shout'"):
            second.add_workflow(definition)
        assert first.execute("s").jobs[0].result == "HI"
    finally:
        first.close(timeout=DEADLINE)
        second.close(timeout=DEADLINE)
