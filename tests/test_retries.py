"""Per-node retry policies: validation, the backoff schedule, attempts as jobs, durable waits
between attempts (async) and waits within the budget (sync)."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from conftest import JSON
from doors import Door
from hypothesis import given
from hypothesis import strategies as st
from store_urls import store_url

from webhook_workflow import DefinitionError, Engine, Execution, NodeContext, Status
from webhook_workflow.nodes.retry import RetryPolicy, merge_retry

FAST = {"maxAttempts": 3, "backoff": "fixed", "delay": 50, "jitter": False}


# -- the schedule ----------------------------------------------------------------------------
@given(attempt=st.integers(1, 100), delay=st.integers(0, 10**7), cap=st.integers(0, 10**7),
       draw=st.floats(0, 1))
def test_exponential_waits_double_up_to_the_cap(attempt: int, delay: int, cap: int,
                                                draw: float) -> None:
    policy = RetryPolicy(100, "exponential", delay, cap, False, frozenset({-1}))
    assert policy.wait_ms(attempt) == min(delay * 2 ** (attempt - 1), cap)
    jittered = RetryPolicy(100, "exponential", delay, cap, True, frozenset({-1}))
    assert 0 <= jittered.wait_ms(attempt, lambda: draw) <= policy.wait_ms(attempt)
    assert jittered.wait_ms(attempt, lambda: draw) == draw * policy.wait_ms(attempt)


@given(attempt=st.integers(1, 100), delay=st.integers(0, 10**7), cap=st.integers(0, 10**7))
def test_fixed_waits_stay_the_same(attempt: int, delay: int, cap: int) -> None:
    policy = RetryPolicy(100, "fixed", delay, cap, False, frozenset({-1}))
    assert policy.wait_ms(attempt) == min(delay, cap)


def test_defaults_and_merging() -> None:
    assert merge_retry(None, None) is None
    assert merge_retry({"maxAttempts": 1}, None) is None
    policy = merge_retry({"maxAttempts": 4, "delay": 10}, {"backoff": "fixed"})
    assert policy == RetryPolicy(4, "fixed", 10, 300_000, True, frozenset({-1, -2}))
    assert merge_retry({"maxAttempts": 4}, {"maxAttempts": 1}) is None  # a node opts out
    assert policy is not None and policy.retries(-1, 3) and not policy.retries(-1, 4)
    assert not policy.retries(-3, 1)  # ABORTED (a request timeout) only when listed


@pytest.mark.parametrize(("retry", "path", "message"), [
    ({"maxAttempts": 0}, "nodes[0].retry.maxAttempts", "1..100"),
    ({"maxAttempts": 101}, "nodes[0].retry.maxAttempts", "1..100"),
    ({"backoff": "linear"}, "nodes[0].retry.backoff", "fixed"),
    ({"delay": -1}, "nodes[0].retry.delay", ""),
    ({"jitter": "yes"}, "nodes[0].retry.jitter", ""),
    ({"on": ["RESOLVED"]}, "nodes[0].retry.on[0]", "failing status"),
    ({"on": []}, "nodes[0].retry.on", "non-empty"),
    ({"tries": 3}, "nodes[0].retry.tries", "unknown"),
    ("3", "nodes[0].retry", "object"),
])
def test_a_bad_policy_is_refused_naming_the_field(retry: Any, path: str, message: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        Engine().add_workflow({"key": "w", "nodes": [
            {"key": "a", "type": "output", "retry": retry}]})
    assert caught.value.path == path and message in str(caught.value)


def test_a_bad_workflow_default_is_refused_naming_the_field() -> None:
    with pytest.raises(DefinitionError) as caught:
        Engine().add_workflow({"key": "w", "options": {"retry": {"maxAttempts": "3"}}})
    assert caught.value.path == "options.retry.maxAttempts"


def test_no_retry_keeps_the_version_of_a_definition_written_before() -> None:
    engine = Engine()
    plain = engine.add_workflow({"key": "w", "nodes": [{"key": "a", "type": "output"}]})
    assert "retry" not in plain.definition["options"]
    assert "retry" not in plain.definition["nodes"][0]


# -- attempts ----------------------------------------------------------------------------------
class Flaky:
    """A node that fails its first ``config.fails`` runs of each execution, then succeeds."""

    def __init__(self) -> None:
        self.runs: dict[str, list[float]] = {}
        self.lock = threading.Lock()

    def __call__(self, config: dict[str, Any], ctx: NodeContext) -> Any:
        with self.lock:
            runs = self.runs.setdefault(ctx.execution_id, [])
            runs.append(time.monotonic())
            count = len(runs)
        if count <= config.get("fails", 0):
            raise RuntimeError(f"run {count} fails")
        return {"run": count}


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    eng = Engine(store_url(request.param, tmp_path, request))
    yield eng
    eng.close(timeout=10)


def ended(engine: Engine, execution_id: str) -> Execution:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = engine.get_execution(execution_id)
        if found is not None and found.finished:
            return found
        time.sleep(0.02)
    raise AssertionError(f"execution {execution_id} did not end")


def attempts(execution: Execution, key: str) -> list[tuple[int, int]]:
    return [(int(j.status), j.meta["attempt"]) for j in execution.jobs if j.node_key == key]


def post(engine: Engine, key: str, body: bytes = b"{}") -> str:
    answer = Door("wsgi", engine).call(path=f"/api/webhook:trigger/{key}", body=body,
                                       headers=[JSON])
    assert answer.status == 200, answer.body
    execution = engine.executions(key, limit=1)[0]
    return execution.id


def test_an_async_node_is_attempted_until_it_succeeds(engine: Engine) -> None:
    flaky = Flaky()
    engine.register_node("flaky", flaky)
    engine.add_workflow({"key": "pay", "nodes": [
        {"key": "charge", "type": "flaky", "config": {"fails": 2}, "retry": FAST},
        {"key": "out", "type": "output", "config": {"value": "{{$jobsMapByNodeKey.charge}}"}}]})
    done = ended(engine, post(engine, "pay"))
    assert done.status == Status.RESOLVED and done.reason is None
    assert attempts(done, "charge") == [(-2, 1), (-2, 2), (1, 3)]
    failed = next(j for j in done.jobs if j.node_key == "charge")
    assert failed.result == {"message": "run 1 fails"}
    assert done.output == {"run": 3}  # $jobsMapByNodeKey holds the last attempt
    runs = flaky.runs[done.id]
    assert all(b - a >= 0.045 for a, b in itertools.pairwise(runs))


def test_the_last_attempt_failing_ends_the_execution(engine: Engine) -> None:
    engine.register_node("flaky", Flaky())
    engine.add_workflow({"key": "pay", "options": {"retry": FAST}, "nodes": [
        {"key": "charge", "type": "flaky", "config": {"fails": 5}}, {"key": "out",
                                                                    "type": "output"}]})
    done = ended(engine, post(engine, "pay"))
    assert done.status == Status.ERROR and done.reason == "node:charge"
    assert attempts(done, "charge") == [(-2, 1), (-2, 2), (-2, 3)]
    assert "out" not in {j.node_key for j in done.jobs}


def test_only_listed_statuses_are_retried(engine: Engine) -> None:
    engine.register_node("flaky", Flaky())
    engine.add_workflow({"key": "pay", "nodes": [
        {"key": "charge", "type": "flaky", "config": {"fails": 2},
         "retry": {**FAST, "on": ["FAILED"]}}]})
    done = ended(engine, post(engine, "pay"))
    assert done.status == Status.ERROR and attempts(done, "charge") == [(-2, 1)]


def test_a_retry_inside_a_parallel_lets_the_other_branch_run(engine: Engine) -> None:
    engine.register_node("flaky", Flaky())
    engine.add_workflow({"key": "par", "nodes": [
        {"key": "p", "type": "parallel", "branches": {
            "0": [{"key": "charge", "type": "flaky", "config": {"fails": 1},
                   "retry": {**FAST, "delay": 300}}],
            "1": [{"key": "quick", "type": "output", "config": {"value": 1}}]}}]})
    done = ended(engine, post(engine, "par"))
    assert done.status == Status.RESOLVED
    order = [j.node_key for j in sorted(done.jobs, key=lambda j: j.started_at)]
    assert order.index("quick") < len(order) - 1  # ran during the retry wait
    assert attempts(done, "charge") == [(-2, 1), (1, 2)]


def test_a_canceled_retry_wait_ends_canceled(engine: Engine) -> None:
    engine.register_node("flaky", Flaky())
    engine.add_workflow({"key": "pay", "nodes": [
        {"key": "charge", "type": "flaky", "config": {"fails": 1},
         "retry": {**FAST, "delay": 5000}}]})
    ident = post(engine, "pay")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = engine.get_execution(ident)
        if found is not None and len(found.jobs) == 2:
            break
        time.sleep(0.02)
    assert engine.cancel(ident, by="ops")
    done = ended(engine, ident)
    assert done.status == Status.CANCELED and done.reason == "manual_cancel:ops"
    assert attempts(done, "charge") == [(-2, 1), (int(Status.CANCELED), 2)]


def test_a_flat_export_reads_the_policy_from_the_config() -> None:
    engine = Engine()
    engine.register_node("flaky", Flaky())
    engine.add_workflow({"data": {"id": 1, "key": "flat", "type": "webhook", "sync": True,
                                  "current": True, "config": {}, "nodes": [
        {"id": 1, "key": "charge", "type": "flaky", "upstreamId": None,
         "config": {"fails": 1, "retry": FAST}}]}})
    done = engine.execute("flat", {"body": {}})
    assert done.status == Status.RESOLVED and attempts(done, "charge") == [(-2, 1), (1, 2)]


# -- sync: within the budget -----------------------------------------------------------------
def test_a_sync_run_retries_within_its_request(door_kind: str) -> None:
    engine = Engine()
    engine.register_node("flaky", Flaky())
    engine.add_workflow({"key": "s", "sync": True, "nodes": [
        {"key": "charge", "type": "flaky", "config": {"fails": 2}, "retry": FAST},
        {"key": "reply", "type": "response", "config": {
            "statusCode": 201, "body": "{{$jobsMapByNodeKey.charge.run}}"}}]})
    answer = Door(door_kind, engine).call(path="/api/webhook:trigger/s", body=b"{}",
                                          headers=[JSON])
    assert (answer.status, answer.body) == (201, b"3")
    done = engine.executions("s")[0]
    assert attempts(done, "charge") == [(-2, 1), (-2, 2), (1, 3)]
    engine.close()


def test_a_sync_attempt_that_cannot_start_before_the_timeout_is_not_started() -> None:
    engine = Engine()
    flaky = Flaky()
    engine.register_node("flaky", flaky)
    engine.add_workflow({"key": "s", "sync": True, "options": {"timeout": 400}, "nodes": [
        {"key": "charge", "type": "flaky", "config": {"fails": 5},
         "retry": {"maxAttempts": 5, "backoff": "fixed", "delay": 150, "jitter": False}}]})
    begun = time.monotonic()
    answer = Door("wsgi", engine).call(path="/api/webhook:trigger/s", body=b"{}",
                                       headers=[JSON])
    took = time.monotonic() - begun
    done = engine.executions("s")[0]
    # Attempts at about 0, 150 and 300 ms; a fourth at 450 ms would pass the 400 ms budget.
    assert attempts(done, "charge") == [(-2, 1), (-2, 2), (-2, 3)]
    assert done.status == Status.ERROR and answer.status == 500
    assert took < 2.5
    engine.close()


# -- a request node against a flaky server ----------------------------------------------------
class _FlakyHandler(BaseHTTPRequestHandler):
    keys: ClassVar[list[str | None]] = []

    def log_message(self, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        self.keys.append(self.headers.get("Idempotency-Key"))
        status = 503 if len(self.keys) <= 2 else 200
        body = b'{"ok": true}' if status == 200 else b'{"down": true}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_a_request_to_a_flaky_api_succeeds_on_its_third_attempt(tmp_path: Path) -> None:
    _FlakyHandler.keys = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FlakyHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    engine = Engine(f"sqlite:///{tmp_path / 'r.db'}")
    try:
        engine.add_workflow({"key": "crm", "nodes": [
            {"key": "push", "type": "request", "retry": FAST, "config": {
                "url": f"http://127.0.0.1:{server.server_port}/contacts",
                "data": {"name": "{{$context.body.name}}"}, "timeout": 2000}}]})
        done = ended(engine, post(engine, "crm", b'{"name": "ada"}'))
    finally:
        engine.close(timeout=10)
        server.shutdown()
    assert done.status == Status.RESOLVED
    assert attempts(done, "push") == [(-1, 1), (-1, 2), (1, 3)]
    assert len(_FlakyHandler.keys) == 3 and set(_FlakyHandler.keys) == {f"{done.id}:push"}
