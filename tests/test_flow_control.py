"""Flow control of async workflows (options.concurrency, throttle, debounce), on every store:
at most n runs of a key at once, at most n starts of a key per period, only the last of a
burst; nothing is dropped."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import JSON
from doors import Door
from store_urls import store_url

from webhook_workflow import DefinitionError, Engine, Execution, NodeContext, Status


class Gauge:
    """A node that counts how many of its runs overlap, per key, and when each started."""

    def __init__(self, seconds: float = 0.15) -> None:
        self.seconds = seconds
        self.lock = threading.Lock()
        self.now: dict[str, int] = {}
        self.most: dict[str, int] = {}
        self.starts: list[tuple[str, float]] = []

    def __call__(self, config: dict[str, Any], ctx: NodeContext) -> str:
        key = str(config["key"])
        with self.lock:
            self.now[key] = self.now.get(key, 0) + 1
            self.most[key] = max(self.most.get(key, 0), self.now[key])
            self.starts.append((key, time.monotonic()))
        time.sleep(self.seconds)
        with self.lock:
            self.now[key] -= 1
        return key


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    eng = Engine(store_url(request.param, tmp_path, request), workers=6)
    yield eng
    eng.close(timeout=20)


def deliver(engine: Engine, body: bytes) -> None:
    answer = Door("wsgi", engine).call(path="/api/webhook:trigger/flow", body=body,
                                       headers=[JSON])
    assert answer.status == 200, answer.body


def all_ended(engine: Engine, count: int) -> list[Execution]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = engine.executions("flow", limit=count + 10)
        if len(found) == count and all(e.finished for e in found):
            return found
        time.sleep(0.05)
    raise AssertionError("not every execution ended")


def gauge_workflow(engine: Engine, gauge: Gauge, **options: Any) -> None:
    engine.register_node("gauge", gauge)
    engine.add_workflow({"key": "flow", "options": options, "nodes": [
        {"key": "g", "type": "gauge", "config": {"key": "{{$context.body.customer}}"}}]})


def test_concurrency_holds_each_key_to_its_limit(engine: Engine) -> None:
    gauge = Gauge()
    gauge_workflow(engine, gauge, concurrency={"limit": 2, "key": "{{$context.body.customer}}"})
    for _ in range(6):
        deliver(engine, b'{"customer": "a"}')
        deliver(engine, b'{"customer": "b"}')
    done = all_ended(engine, 12)
    assert {e.status for e in done} == {Status.RESOLVED}
    assert gauge.most == {"a": 2, "b": 2}  # never more than 2 of a key; both ran side by side
    # First in, first out per key: the first two of "a" started before the last two.
    runs = sorted((e for e in done if e.context["body"]["customer"] == "a"),
                  key=lambda e: e.created_at)
    assert max(e.started_at for e in runs[:2]) < min(e.started_at for e in runs[-2:])


def test_concurrency_without_a_key_holds_the_whole_workflow(engine: Engine) -> None:
    gauge = Gauge(0.1)
    engine.register_node("gauge", gauge)
    engine.add_workflow({"key": "flow", "options": {"concurrency": {"limit": 1}}, "nodes": [
        {"key": "g", "type": "gauge", "config": {"key": "all"}}]})
    for _ in range(4):
        deliver(engine, b"{}")
    all_ended(engine, 4)
    assert gauge.most == {"all": 1}


def test_throttle_spreads_starts_over_periods(engine: Engine) -> None:
    gauge = Gauge(0.01)
    gauge_workflow(engine, gauge, throttle={"limit": 2, "period": 600,
                                            "key": "{{$context.body.customer}}"})
    begun = time.monotonic()
    for _ in range(5):
        deliver(engine, b'{"customer": "a"}')
    done = all_ended(engine, 5)
    assert {e.status for e in done} == {Status.RESOLVED}  # delayed, never dropped
    starts = sorted(t for _, t in gauge.starts)
    for i, start in enumerate(starts):  # no 600 ms window holds more than 2 starts
        assert sum(start <= t < start + 0.59 for t in starts[i:]) <= 2, starts
    assert starts[-1] - begun >= 1.1  # the fifth waited for the third period


def test_debounce_runs_only_the_last_of_a_burst(engine: Engine) -> None:
    gauge = Gauge(0.01)
    gauge_workflow(engine, gauge, debounce={"period": 400, "key": "{{$context.body.customer}}"})
    for n in range(3):
        deliver(engine, b'{"customer": "a", "n": %d}' % n)
    deliver(engine, b'{"customer": "b", "n": 9}')
    done = all_ended(engine, 4)
    by_n = {e.context["body"]["n"]: e for e in done}
    last = by_n[2]
    assert last.status == Status.RESOLVED and by_n[9].status == Status.RESOLVED
    for n in (0, 1):  # each canceled by the delivery that came after it
        assert by_n[n].status == Status.CANCELED
        assert by_n[n].reason == f"debounced:{by_n[n + 1].id}" and by_n[n].jobs == []
    assert last.started_at is not None and (last.started_at - last.created_at
                                            ).total_seconds() >= 0.38


@pytest.mark.parametrize(("options", "path", "message"), [
    ({"concurrency": {"limit": 0}}, "options.concurrency.limit", "1..10000"),
    ({"concurrency": {"limit": 2, "key": 3}}, "options.concurrency.key", "template"),
    ({"concurrency": {"key": "x"}}, "options.concurrency.limit", "required"),
    ({"throttle": {"limit": 1}}, "options.throttle.period", "required"),
    ({"debounce": {"period": 0}}, "options.debounce.period", "1..86400000"),
    ({"debounce": {"period": 10, "wait": 1}}, "options.debounce.wait", "unknown"),
])
def test_bad_flow_options_are_refused_naming_the_field(options: dict[str, Any], path: str,
                                                       message: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        Engine().add_workflow({"key": "w", "options": options})
    assert caught.value.path == path and message in str(caught.value)


@pytest.mark.parametrize("name", ["concurrency", "throttle", "debounce"])
def test_flow_control_is_refused_on_sync_workflows(name: str) -> None:
    spec = {"limit": 1, "period": 10} if name == "throttle" else (
        {"period": 10} if name == "debounce" else {"limit": 1})
    with pytest.raises(DefinitionError) as caught:
        Engine().add_workflow({"key": "w", "sync": True, "options": {name: spec}})
    assert caught.value.path == f"options.{name}" and "async" in str(caught.value)
