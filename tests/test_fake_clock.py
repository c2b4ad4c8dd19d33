"""The injectable clock and webhook_workflow.testing.FakeClock: delays, durable retry waits,
throttles, debounces, callback timeouts, idempotency keys and sync budgets (retry waits,
options.timeout, syncWait) elapse when the clock is advanced, at once and always alike."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from webhook_workflow import Engine, Status
from webhook_workflow.clock import SYSTEM_CLOCK, Clock
from webhook_workflow.resume import resume_url
from webhook_workflow.testing import FakeClock, WebhookClient, assert_execution

RETRY = {"maxAttempts": 3, "delay": 10_000, "backoff": "fixed", "jitter": False}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_700_000_000.0)


@pytest.fixture
def engine(clock: FakeClock) -> Iterator[Engine]:
    engine = Engine(clock=clock)
    yield engine
    engine.close()


@pytest.fixture
def client(engine: Engine) -> WebhookClient:
    return WebhookClient(engine)


def _flaky(clock: FakeClock, calls: list[float], fails: int) -> Any:
    def run(config: Any, ctx: Any) -> str:
        calls.append(clock.moved)
        if len(calls) <= fails:
            raise RuntimeError("down")
        return "up"
    return run


def test_the_system_clock_is_the_time_module() -> None:
    assert SYSTEM_CLOCK.time is time.time
    assert SYSTEM_CLOCK.monotonic is time.monotonic
    assert isinstance(SYSTEM_CLOCK, Clock) and isinstance(FakeClock(), Clock)
    assert Engine().clock is SYSTEM_CLOCK


def test_a_fake_clock_stands_still_until_advanced(clock: FakeClock) -> None:
    start, mono = clock.time(), clock.monotonic()
    time.sleep(0.01)
    assert (clock.time(), clock.monotonic()) == (start, mono)
    clock.advance(2.5)
    assert (clock.time() - start, clock.monotonic() - mono, clock.moved) == (2.5, 2.5, 2.5)
    with pytest.raises(ValueError, match="seconds >= 0"):
        clock.advance(-1)


def test_another_clock_needs_the_memory_store(tmp_path: Any) -> None:
    with pytest.raises(ValueError, match="needs the memory store"):
        Engine(f"sqlite:///{tmp_path}/x.db", clock=FakeClock())
    with pytest.raises(TypeError, match="give a Clock"):
        Engine(clock=object())


def test_a_delay_ends_when_the_clock_reaches_it(engine: Engine, client: WebhookClient,
                                                clock: FakeClock) -> None:
    engine.add_workflow({"key": "d", "nodes": [
        {"key": "wait", "type": "delay", "config": {"duration": 5, "unit": 60_000}},
        {"key": "o", "type": "output", "config": {"value": "{{$system.now}}"}}]})
    answer = client.post("d", json={})
    engine.drain()
    started = time.monotonic()
    clock.advance(299)
    assert_execution(engine.get_execution(answer.execution_id), Status.STARTED,
                     nodes={"wait": Status.PENDING})
    clock.advance(1)
    done = assert_execution(engine.get_execution(answer.execution_id), Status.RESOLVED,
                            nodes={"wait": Status.RESOLVED, "o": Status.RESOLVED})
    assert time.monotonic() - started < 2  # five minutes, at once
    assert done.output.timestamp() == clock.time()  # $system.now reads the clock too
    assert done.jobs[0].started_at.timestamp() == 1_700_000_000.0


def test_one_advance_runs_every_due_time_on_the_way(engine: Engine, client: WebhookClient,
                                                    clock: FakeClock) -> None:
    engine.add_workflow({"key": "dd", "nodes": [
        {"key": "a", "type": "delay", "config": {"duration": 10}},
        {"key": "b", "type": "delay", "config": {"duration": 20}},
        {"key": "o", "type": "output", "config": {"value": 1}}]})
    answer = client.post("dd", json={})
    engine.drain()
    clock.advance(3600)
    done = assert_execution(engine.get_execution(answer.execution_id), Status.RESOLVED)
    jobs = {job.node_key: job for job in done.jobs}
    assert jobs["b"].started_at.timestamp() - jobs["a"].started_at.timestamp() == \
        pytest.approx(10, abs=1e-5)
    assert done.finished_at.timestamp() == pytest.approx(1_700_000_030.0, abs=1e-5)


def test_durable_retry_waits(engine: Engine, client: WebhookClient, clock: FakeClock) -> None:
    calls: list[float] = []
    engine.register_node("flaky", _flaky(clock, calls, fails=2))
    engine.add_workflow({"key": "r", "nodes": [{"key": "f", "type": "flaky", "retry": RETRY}]})
    answer = client.post("r", json={})
    engine.drain()
    waiting = engine.get_execution(answer.execution_id)
    assert waiting is not None and waiting.status == Status.STARTED
    assert waiting.jobs[-1].meta["retryAt"] == 1_700_000_010.0
    clock.advance(9.9)
    assert calls == [0.0]
    clock.advance(0.1)
    assert calls == [0.0, pytest.approx(10.0)]
    clock.advance(10)
    done = assert_execution(engine.get_execution(answer.execution_id), Status.RESOLVED,
                            results={"f": "up"})
    assert [job.meta.get("attempt") for job in done.jobs] == [1, 2, 3]
    assert calls == pytest.approx([0.0, 10.0, 20.0], abs=1e-5)


def test_sync_retry_waits_move_the_clock_by_themselves(engine: Engine, client: WebhookClient,
                                                       clock: FakeClock) -> None:
    calls: list[float] = []
    engine.register_node("flaky", _flaky(clock, calls, fails=2))
    engine.add_workflow({"key": "s", "sync": True,
                         "nodes": [{"key": "f", "type": "flaky", "retry": RETRY}]})
    started = time.monotonic()
    answer = client.post("s", json={})
    assert answer.status == 200
    assert calls == [0.0, 10.0, 20.0]
    assert clock.moved == 20.0 and time.monotonic() - started < 2


def test_options_timeout_of_a_sync_run(engine: Engine, client: WebhookClient,
                                       clock: FakeClock) -> None:
    calls: list[float] = []
    engine.register_node("flaky", _flaky(clock, calls, fails=5))
    engine.add_workflow({"key": "t", "sync": True, "options": {"timeout": 15_000},
                         "nodes": [{"key": "f", "type": "flaky",
                                    "retry": {**RETRY, "maxAttempts": 5}}]})
    answer = client.post("t", json={})
    # The second attempt (at 10 s) fails; a third could not start before 15 s: its failure
    # stands, and the clock did not move past it.
    assert answer.status == 500
    assert calls == [0.0, 10.0]
    assert_execution(answer, Status.ERROR)


def test_sync_wait_answers_202_when_the_budget_passes(engine: Engine, client: WebhookClient,
                                                      clock: FakeClock) -> None:
    calls: list[float] = []
    engine.register_node("flaky", _flaky(clock, calls, fails=2))
    engine.add_workflow({"key": "w", "sync": True, "options": {"syncWait": 15_000},
                         "nodes": [{"key": "f", "type": "flaky", "retry": RETRY}]})
    for door in (client, client.asgi):
        calls.clear()
        answer = door.post("w", json={})
        assert answer.status == 202, answer.text
        engine.drain()
        assert calls == [pytest.approx(c) for c in (calls[0], calls[0] + 10, calls[0] + 20)]
        assert_execution(engine.get_execution(answer.json["executionId"]), Status.RESOLVED)


def test_sync_wait_answers_the_run_within_the_budget(engine: Engine, client: WebhookClient,
                                                     clock: FakeClock) -> None:
    calls: list[float] = []
    engine.register_node("flaky", _flaky(clock, calls, fails=1))
    engine.add_workflow({"key": "w2", "sync": True, "options": {"syncWait": 15_000},
                         "nodes": [{"key": "f", "type": "flaky", "retry": RETRY},
                                   {"key": "r", "type": "response",
                                    "config": {"statusCode": 201}}]})
    assert client.post("w2", json={}).status == 201


def test_throttle_starts_one_per_period(engine: Engine, client: WebhookClient,
                                        clock: FakeClock) -> None:
    engine.add_workflow({"key": "th", "options": {"throttle": {"limit": 1, "period": 60_000}},
                         "nodes": [{"key": "o", "type": "output", "config": {"value": 1}}]})
    ids = [client.post("th", json={"n": n}).execution_id for n in range(3)]
    clock.advance(0)  # (not drain: the throttle holds two in the queue until the clock moves)

    def resolved() -> int:
        return sum(engine.get_execution(i).status == Status.RESOLVED for i in ids)  # type: ignore[union-attr]

    assert resolved() == 1
    clock.advance(59)
    assert resolved() == 1
    clock.advance(1)
    assert resolved() == 2
    clock.advance(60)
    assert resolved() == 3


def test_debounce_runs_the_last_of_a_burst(engine: Engine, client: WebhookClient,
                                           clock: FakeClock) -> None:
    engine.add_workflow({"key": "db", "options": {"debounce": {"period": 2000}},
                         "nodes": [{"key": "o", "type": "output",
                                    "config": {"value": "{{$context.body.n}}"}}]})
    ids = [client.post("db", json={"n": n}).execution_id for n in range(3)]
    clock.advance(1.9)
    assert engine.get_execution(ids[-1]).status is None  # type: ignore[union-attr]
    clock.advance(0.1)
    assert [engine.get_execution(i).status for i in ids] == [  # type: ignore[union-attr]
        Status.CANCELED, Status.CANCELED, Status.RESOLVED]
    assert engine.get_execution(ids[-1]).output == 2  # type: ignore[union-attr]


@pytest.mark.parametrize(("on_timeout", "status"), [("continue", Status.RESOLVED),
                                                     ("fail", Status.ABORTED)])
def test_a_callback_times_out_when_the_clock_passes_it(engine: Engine, client: WebhookClient,
                                                       clock: FakeClock, on_timeout: str,
                                                       status: Status) -> None:
    engine.add_workflow({"key": "cb", "nodes": [
        {"key": "w", "type": "callback",
         "config": {"timeout": 600_000, "onTimeout": on_timeout}}]})
    answer = client.post("cb", json={})
    engine.drain()
    clock.advance(599)
    assert engine.get_execution(answer.execution_id).status == Status.STARTED  # type: ignore[union-attr]
    url = engine.get_execution(answer.execution_id).jobs  # type: ignore[union-attr]
    assert url[0].status == Status.PENDING
    clock.advance(1)
    assert_execution(engine.get_execution(answer.execution_id), status,
                     nodes={"w": Status.RESOLVED if on_timeout == "continue"
                            else Status.ABORTED})


def test_a_resume_url_expires_by_the_clock(engine: Engine, client: WebhookClient,
                                           clock: FakeClock) -> None:
    engine.add_workflow({"key": "cu", "nodes": [
        {"key": "w", "type": "callback", "config": {"timeout": 60_000}},
        {"key": "o", "type": "output", "config": {"value": "{{$jobsMapByNodeKey.w.body}}"}}]})
    first = client.post("cu", json={})
    engine.drain()
    execution = engine.get_execution(first.execution_id)
    assert execution is not None
    url = resume_url(engine, execution, "w")
    path = url.split("//", 1)[1].split("/", 1)[1]
    clock.advance(30)
    assert client.post("/" + path, json={"ok": 1}).status == 200
    clock.advance(0)
    assert_execution(engine.get_execution(first.execution_id), Status.RESOLVED,
                     results={"o": {"ok": 1}})
    second = client.post("cu", json={})
    engine.drain()
    late = engine.get_execution(second.execution_id)
    assert late is not None
    path = resume_url(engine, late, "w").split("//", 1)[1].split("/", 1)[1]
    clock.advance(61)
    assert client.post("/" + path, json={}).status == 410
    assert_execution(engine.get_execution(late.id), Status.ABORTED, nodes={"w": Status.ABORTED})


def test_idempotency_keys_expire_by_the_clock(engine: Engine, client: WebhookClient,
                                              clock: FakeClock) -> None:
    engine.add_workflow({"key": "i", "config": {"idempotency": {
        "key": "{{$headers.x-id}}", "ttl": 60}},
        "nodes": [{"key": "o", "type": "output", "config": {"value": 1}}]})
    for _ in range(2):
        assert client.post("i", json={}, headers={"X-Id": "a"}).status == 200
    clock.advance(59)
    assert client.post("i", json={}, headers={"X-Id": "a"}).status == 200
    assert len(engine.executions("i")) == 1  # redeliveries within the key's 60 s
    clock.advance(2)
    assert client.post("i", json={}, headers={"X-Id": "a"}).status == 200
    assert len(engine.executions("i")) == 2
