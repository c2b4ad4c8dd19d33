"""Once acknowledged, never lost: SQLite-backed executions across crashes and processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import JSON, ROOT
from doors import Door, Request
from test_servers import free_port, wait_for_port

from webhook_workflow import Engine, Status
from webhook_workflow.store.sqlite import SQLiteStore

TIMEOUT = httpx.Timeout(10.0)


def delayed(key: str = "slow", seconds: int = 1) -> dict[str, Any]:
    return {"key": key, "nodes": [
        {"key": "wait", "type": "delay", "config": {"duration": seconds, "unit": 1000}},
        {"key": "rec", "type": "record"}]}


class Server:
    """A ``webhook-workflow serve`` process on the durable test app (tests/durable_app.py);
    tests/test_postgres.py uses it too."""

    def __init__(self, tmp: Path, definition: Path, store: str, record: Path,
                 lease: float = 30, workers: int = 4, *, server: str = "threaded",
                 wait: bool = True) -> None:
        self.port = free_port()
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "WW_STORE": store,
               "WW_RECORD_FILE": str(record), "WW_LEASE": str(lease),
               "WW_WORKERS": str(workers),
               "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"),
                                              os.environ.get("PYTHONPATH", "")])}
        self.log = (tmp / f"server-{self.port}.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "webhook_workflow", "serve", str(definition), "--port",
             str(self.port), "--app", "durable_app:make", "--server", server],
            cwd=tmp, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.url = f"http://127.0.0.1:{self.port}"
        if wait:
            self.wait()

    def wait(self) -> Server:
        """Block (bounded) until the server listens."""
        wait_for_port(self.port, None, 30)
        return self

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


def wait_until(check: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def all_resolved(store: SQLiteStore, key: str, count: int) -> bool:
    rows = store.list(key, limit=count + 10)
    return len(rows) == count and all(r.status == Status.RESOLVED for r in rows)


def test_killed_server_loses_no_acknowledged_execution(tmp_path: Path,
                                                       servers: list[Server]) -> None:
    definition = tmp_path / "slow.json"
    definition.write_text(json.dumps(delayed(seconds=2)))
    db, record = tmp_path / "crash.db", tmp_path / "record.txt"
    store_url = f"sqlite:///{db}"
    first = Server(tmp_path, definition, store_url, record, lease=1)
    servers.append(first)
    acknowledged = []
    with httpx.Client(timeout=TIMEOUT) as client:
        for i in range(30):
            answer = client.post(f"{first.url}/api/webhook:trigger/slow", json={"i": i})
            assert answer.status_code == 200 and answer.text == "ok"
            acknowledged.append(i)
    first.kill()  # every execution is still waiting on its 2 s timer
    assert not record.exists() or record.read_text() == ""
    second = Server(tmp_path, definition, store_url, record, lease=1)
    servers.append(second)
    store = SQLiteStore(str(db))
    wait_until(lambda: all_resolved(store, "slow", 30), timeout=40)
    runs = Counter(line.split()[0] for line in record.read_text().splitlines())
    executions = store.list("slow", limit=100)
    assert len(acknowledged) == 30
    assert sorted(runs) == sorted(e.id for e in executions)
    assert set(runs.values()) == {1}  # exactly once each
    bodies = sorted(e.context["body"]["i"] for e in executions)
    assert bodies == list(range(30))
    store.close()


def test_two_processes_share_one_database(tmp_path: Path, servers: list[Server]) -> None:
    definition = tmp_path / "fast.json"
    definition.write_text(json.dumps({"key": "fast", "nodes": [{"key": "rec",
                                                                "type": "record"}]}))
    db, record = tmp_path / "shared.db", tmp_path / "record.txt"
    store_url = f"sqlite:///{db}"
    pair = [Server(tmp_path, definition, store_url, record, workers=2) for _ in range(2)]
    servers.extend(pair)
    errors: list[BaseException] = []

    def send(server: Server, start: int) -> None:
        try:
            with httpx.Client(timeout=TIMEOUT) as client:
                for i in range(start, 200, 2):
                    answer = client.post(f"{server.url}/api/webhook:trigger/fast", json={"i": i})
                    assert answer.status_code == 200
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(server, n)) for n, server in enumerate(pair)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    store = SQLiteStore(str(db))
    wait_until(lambda: all_resolved(store, "fast", 200), timeout=60)
    runs = Counter(line.split()[0] for line in record.read_text().splitlines())
    assert len(runs) == 200 and set(runs.values()) == {1}
    store.close()


# -- in process ------------------------------------------------------------------------------------
@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'engine.db'}"


def test_async_webhook_is_committed_before_the_answer(db: str, tmp_path: Path) -> None:
    engine = Engine(db)
    engine.add_workflow({"key": "hook", "nodes": []})
    engine.dispatcher.start = lambda: None  # type: ignore[method-assign]  # keep it queued
    answer = Door("wsgi", engine).call(Request(body=b'{"a": 1}', headers=[JSON]))
    assert answer.status == 200
    reader = SQLiteStore(str(tmp_path / "engine.db"))  # another connection sees it
    [row] = reader.list("hook", status="queued")
    assert row.context["body"] == {"a": 1}
    reader.close()
    engine.store.close()


def test_version_survives_a_restart_that_registers_only_a_newer_one(db: str) -> None:
    first = Engine(db)
    first.add_workflow({"key": "v", "nodes": [
        {"key": "wait", "type": "delay", "config": {"duration": 1}},
        {"key": "o", "type": "output", "config": {"value": "one"}}]})
    Door("wsgi", first).call(Request(path="/api/webhook:trigger/v"))
    first.close(timeout=1)  # the execution waits on its timer
    second = Engine(db)
    workflow = second.add_workflow({"key": "v", "nodes": [
        {"key": "o", "type": "output", "config": {"value": "two"}}]})
    assert workflow.version == 2
    second.start()
    wait_until(lambda: second.executions("v")[0].status == Status.RESOLVED, 15)
    [execution] = second.executions("v")
    assert (execution.version, execution.output) == (1, "one")
    second.close()


def test_interrupted_run_resumes_after_its_last_saved_job(db: str, tmp_path: Path) -> None:
    calls: list[str] = []
    engine = Engine(db, lease=0.2)
    engine.register_node("count", lambda config, ctx: calls.append(ctx.node_key) or "ran")
    engine.add_workflow({"key": "r", "nodes": [
        {"key": "a", "type": "count"}, {"key": "b", "type": "count"},
        {"key": "c", "type": "count"}]})
    # A crashed process left this execution STARTED after saving job "a" (lease expired).
    from webhook_workflow import Execution, Job

    crashed = Execution("r", 1, {"headers": {}, "query": {}, "body": {}})
    engine.store.add(crashed)
    claimed = engine.store.claim("dead", ["r"], lease=0.1)
    assert claimed is not None
    job = Job(Status.RESOLVED, "ran", node_key="a", meta={"seq": 1})
    claimed.jobs.append(job)
    engine.store.save_jobs(claimed, [job])
    time.sleep(0.2)
    assert engine.drain(10)
    wait_until(lambda: engine.get_execution(crashed.id).status == Status.RESOLVED, 10)
    assert calls == ["b", "c"]  # "a" was saved, so it does not run again
    done = engine.get_execution(crashed.id)
    assert done is not None
    assert [j.node_key for j in done.jobs] == ["a", "b", "c"]
    engine.close()


def test_resume_inside_a_loop_restores_its_scope(db: str) -> None:
    pytest.importorskip("webhook_workflow.nodes.conditions")
    seen: list[Any] = []
    engine = Engine(db, lease=0.2)
    engine.register_node("see", lambda config, ctx: seen.append(config["item"]) or "ok")
    from webhook_workflow.nodes.loop import LoopNode

    if "loop" not in engine._node_types:
        engine._node_types["loop"] = LoopNode()
    engine.add_workflow({"key": "l", "nodes": [
        {"key": "each", "type": "loop", "config": {"target": "{{$context.body.items}}"},
         "branches": {"0": [{"key": "s", "type": "see",
                             "config": {"item": "{{$scopes.each.item}}"}}]}}]})
    from webhook_workflow import Execution, Job

    crashed = Execution("l", 1, {"headers": {}, "query": {}, "body": {"items": ["x", "y", "z"]}})
    engine.store.add(crashed)
    claimed = engine.store.claim("dead", ["l"], lease=0.1)
    assert claimed is not None
    loop_job = Job(Status.PENDING, {"looped": 1, "done": 1}, node_key="each",
                   meta={"seq": 3, "branch": 0})
    first = Job(Status.RESOLVED, "ok", node_key="s", meta={"seq": 2})
    claimed.jobs.extend([loop_job, first])
    for job in claimed.jobs:
        engine.store.save_jobs(claimed, [job])
    time.sleep(0.2)
    engine.start()
    wait_until(lambda: engine.get_execution(crashed.id).status == Status.RESOLVED, 10)
    assert seen == ["y", "z"]  # iteration 2 (item "y") had started; "x" is not run again
    assert engine.get_execution(crashed.id).jobs[0].result == {"looped": 3, "done": 3}
    engine.close()


def test_store_failure_answers_503_and_records_nothing(db: str, tmp_path: Path,
                                                      door_kind: str) -> None:
    engine = Engine(db)
    engine.add_workflow({"key": "hook", "nodes": []})
    engine.add_workflow({"key": "sync", "sync": True, "nodes": []})
    door = Door(door_kind, engine)
    store = engine.store
    assert isinstance(store, SQLiteStore)
    store.pragma("PRAGMA query_only = 1")  # a read-only database refuses every write
    for path in ("/api/webhook:trigger/hook", "/api/webhook:trigger/sync"):
        answer = door.call(Request(path=path, body=b'{"x": 1}', headers=[JSON]))
        assert answer.status == 503
        assert answer.header("Retry-After")
    store.pragma("PRAGMA query_only = 0")
    assert engine.executions() == []
    assert door.call(Request(path="/api/webhook:trigger/hook")).status == 200
    engine.close()


def test_delete_execution_on_status_and_retention_with_sqlite(db: str) -> None:
    engine = Engine(db, retention={"max_count": 2})
    engine.add_workflow({"key": "gone", "options": {"deleteExecutionOnStatus": [1]},
                         "nodes": []})
    engine.add_workflow({"key": "kept", "nodes": []})
    assert engine.execute("gone").status == Status.RESOLVED
    for _ in range(4):
        engine.execute("kept")
    assert engine.executions("gone") == []
    assert engine.store.prune(max_count=2) == 2  # type: ignore[attr-defined]
    assert len(engine.executions("kept")) == 2
    engine.close()


def test_retention_needs_a_durable_store() -> None:
    with pytest.raises(ValueError, match="durable"):
        Engine(retention={"max_age": 60})
    with pytest.raises(ValueError, match="max_age"):
        Engine("sqlite:///:memory:", retention={"days": 1})


def test_credentials_never_reach_the_store_or_the_log(tmp_path: Path, door_kind: str,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    import base64
    import logging

    caplog.set_level(logging.DEBUG)
    path = tmp_path / "secret.db"
    engine = Engine(f"sqlite:///{path}", env={"PASS": "env-s3cret-pw"})
    engine.add_workflow({"key": "lit", "sync": True, "config": {
        "basicAuthentication": {"username": "shop", "password": "literal-s3cret-pw"},
        "request": {"headers": [{"key": "X-Request-Id"}]}}, "nodes": [
        {"key": "r", "type": "response", "config": {"body": "{{$context}}"}}]})
    engine.add_workflow({"key": "env", "config": {
        "basicAuthentication": {"username": "shop", "password": "{{$env.PASS}}"}},
        "nodes": [{"key": "o", "type": "output", "config": {"value": "{{$context}}"}}]})
    door = Door(door_kind, engine)
    for key, password in (("lit", "literal-s3cret-pw"), ("env", "env-s3cret-pw")):
        token = base64.b64encode(f"shop:{password}".encode()).decode()
        for auth in (f"Basic {token}", "Basic " + base64.b64encode(b"shop:wrong").decode()):
            door.call(Request(path=f"/api/webhook:trigger/{key}", body=b'{"a": 1}',
                              headers=[JSON, ("Authorization", auth), ("Cookie", "sid=c00kie"),
                                       ("X-Request-Id", "r-1"), ("X-Other", "unlisted")]))
    assert engine.drain(10)
    engine.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("secret.db"))
    for secret in (b"literal-s3cret-pw", b"env-s3cret-pw", b"c00kie", b"unlisted",
                   base64.b64encode(b"shop:literal-s3cret-pw")):
        assert secret not in raw
        assert secret.decode() not in caplog.text
    assert b"r-1" in raw  # configured headers are kept
