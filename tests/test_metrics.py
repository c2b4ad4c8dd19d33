"""Prometheus metrics (``Engine(metrics=True)``), read with ``prometheus_client.parser``: the
counters move as requests and executions happen, the queue gauges under a backlog, store
errors; ``/metrics`` of ``webhook-workflow serve`` (built-in server and uvicorn) and of
gunicorn with several workers (``PROMETHEUS_MULTIPROC_DIR``); without the extras the package
imports and serves, and imports neither."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("prometheus_client")

from prometheus_client.parser import text_string_to_metric_families
from store_urls import store_url

from webhook_workflow import Engine, Execution, Status, StoreUnavailable
from webhook_workflow.store.memory import MemoryStore
from webhook_workflow.store.open import open_store
from webhook_workflow.testing import WebhookClient

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    """Every sample of an exposition: (name, sorted labels) -> value."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def read(engine: Engine) -> Samples:
    assert engine.metrics is not None
    body, content_type = engine.metrics.exposition()
    assert content_type.startswith("text/plain")
    return samples(body.decode())


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def test_counters_move_as_requests_and_executions_happen() -> None:
    engine = Engine(metrics=True)
    calls: list[int] = []

    def flaky(config: dict[str, Any], ctx: Any) -> str:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the first attempt fails")
        return "ok"

    engine.register_node("flaky", flaky)
    try:
        engine.add_workflow({"key": "sync", "sync": True, "nodes": [
            {"key": "c", "type": "calculation",
             "config": {"engine": "math.js", "expression": "1 + 1"}},
            {"key": "r", "type": "response", "config": {"statusCode": 201}}]})
        engine.add_workflow({"key": "async", "nodes": [
            {"key": "f", "type": "flaky",
             "retry": {"maxAttempts": 2, "backoff": "fixed", "delay": 1, "jitter": False}},
            {"key": "stop", "type": "end", "config": {"endStatus": -1}}]})
        client = WebhookClient(engine)
        before = read(engine)
        assert value(before, "webhook_workflow_requests_total", workflow="sync", code="201") == 0
        for _ in range(3):
            assert client.post("sync", json={}).status == 201
        assert client.post("async", json={}).status == 200
        assert client.post("nobody", json={}).status == 404
        assert client.request("GET", "sync").status == 405
        engine.drain()
        # A delayed retry of an async run waits durably: let its second attempt run.
        wait_until(lambda: value(read(engine), "webhook_workflow_executions_ended_total",
                                 workflow="async", status="failed") == 1)
        after = read(engine)
    finally:
        engine.close()
    assert value(after, "webhook_workflow_requests_total", workflow="sync", code="201") == 3
    assert value(after, "webhook_workflow_requests_total", workflow="sync", code="405") == 1
    assert value(after, "webhook_workflow_requests_total", workflow="async", code="200") == 1
    # An unknown key is no label of its own: any path may be asked for.
    assert value(after, "webhook_workflow_requests_total", workflow="", code="404") == 1
    assert value(after, "webhook_workflow_acknowledgement_seconds_count", workflow="sync") == 4
    assert value(after, "webhook_workflow_acknowledgement_seconds_sum", workflow="sync") > 0
    assert value(after, "webhook_workflow_executions_started_total", workflow="sync") == 3
    assert value(after, "webhook_workflow_executions_started_total", workflow="async") == 1
    assert value(after, "webhook_workflow_executions_ended_total", workflow="sync",
                 status="resolved") == 3
    assert value(after, "webhook_workflow_node_duration_seconds_count", type="calculation") == 3
    assert value(after, "webhook_workflow_node_duration_seconds_count", type="flaky") == 2
    assert value(after, "webhook_workflow_node_retries_total", workflow="async",
                 type="flaky") == 1
    assert value(after, "webhook_workflow_queue_depth") == 0
    assert value(after, "webhook_workflow_queue_oldest_age_seconds") == 0


def test_queue_depth_and_age_under_a_backlog() -> None:
    engine = Engine(metrics=True, workers=1)
    release = threading.Event()
    engine.register_node("blocked", lambda config, ctx: release.wait(10))
    try:
        engine.add_workflow({"key": "slow", "nodes": [{"key": "b", "type": "blocked"}]})
        client = WebhookClient(engine)
        for _ in range(6):
            assert client.post("slow", json={}).status == 200
        # One runs on the only worker; the other five wait.
        wait_until(lambda: value(read(engine), "webhook_workflow_queue_depth") == 5)
        time.sleep(0.3)
        backlog = read(engine)
        assert value(backlog, "webhook_workflow_queue_oldest_age_seconds") >= 0.3
        assert value(backlog, "webhook_workflow_executions_started_total", workflow="slow") == 1
        release.set()
        assert engine.drain(10)
        drained = read(engine)
    finally:
        release.set()
        engine.close()
    assert value(drained, "webhook_workflow_queue_depth") == 0
    assert value(drained, "webhook_workflow_queue_oldest_age_seconds") == 0
    assert value(drained, "webhook_workflow_executions_ended_total", workflow="slow",
                 status="resolved") == 6


class _Down(MemoryStore):
    """A store that cannot record deliveries."""

    def add(self, execution: Execution, idempotency: Any = None) -> Any:
        raise StoreUnavailable("the disk is full")


def test_store_errors_are_counted() -> None:
    engine = Engine(_Down(), metrics=True)
    try:
        engine.add_workflow({"key": "hook", "nodes": []})
        assert WebhookClient(engine).post("hook", json={}).status == 503
        found = read(engine)
    finally:
        engine.close()
    assert value(found, "webhook_workflow_store_errors_total", operation="add") == 1
    assert value(found, "webhook_workflow_requests_total", workflow="hook", code="503") == 1


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgres"])
def test_the_oldest_queued_execution_of_each_store(kind: str, tmp_path: Path,
                                                   request: pytest.FixtureRequest) -> None:
    store = open_store(store_url(kind, tmp_path, request))
    try:
        assert store.oldest_queued_at() is None  # type: ignore[attr-defined]
        old = Execution("a", 1, {}, created_at=time.time() - 60)
        store.add(old)
        store.add(Execution("b", 1, {}, created_at=time.time() - 120))
        store.add(Execution("a", 1, {}, created_at=time.time() - 10))
        # The memory store reads the time from the id, drawn as the execution was made.
        expected = {"a": old.created_at.timestamp(), None: time.time() - 120}
        if kind == "memory":
            expected = {"a": time.time(), None: time.time()}
        for keys, at in expected.items():
            found = store.oldest_queued_at(None if keys is None else [keys])  # type: ignore[attr-defined]
            assert found is not None and abs(found - at) < 2, (keys, found, at)
        assert store.oldest_queued_at(["c"]) is None  # type: ignore[attr-defined]
        claimed = store.claim("me", ["a", "b"])
        assert claimed is not None and claimed.status == Status.STARTED
    finally:
        store.close()


# -- served -------------------------------------------------------------------------------
class Served:
    """A server subprocess printing ``serving on http://127.0.0.1:PORT`` (text or JSON)."""

    def __init__(self, command: list[str], cwd: Path, env: dict[str, str] | None = None,
                 ready: str = "serving on ") -> None:
        self.proc = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
        assert self.proc.stdout is not None
        self.lines: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"the server exited early: {self.lines}")
            self.lines.append(line)
            text = line
            if line.startswith("{"):
                text = json.loads(line)["message"]
            if ready in text:
                self.base = text.split(ready, 1)[1].split()[0].rstrip("/")
                if not self.base.startswith("http"):
                    self.base = f"http://{self.base}"
                return
        raise AssertionError(f"the server did not start: {self.lines}")

    def get(self, path: str) -> tuple[int, str, str]:
        with urllib.request.urlopen(self.base + path, timeout=10) as answer:
            return answer.status, answer.headers["Content-Type"], answer.read().decode()

    def post(self, path: str, body: Any = None) -> int:
        data = json.dumps(body or {}).encode()
        call = urllib.request.Request(self.base + path, data=data, method="POST",
                                      headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(call, timeout=10) as answer:
            return int(answer.status)

    def stop(self) -> list[str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=30)
        self.lines.extend(out.splitlines(keepends=True))
        return self.lines


@pytest.fixture
def definitions(tmp_path: Path) -> Path:
    folder = tmp_path / "defs"
    folder.mkdir()
    (folder / "echo.json").write_text(json.dumps({"key": "echo", "sync": True, "nodes": [
        {"key": "r", "type": "response", "config": {"body": "{{$context.body}}"}}]}))
    return folder


@pytest.fixture
def stopping() -> Iterator[list[Served]]:
    started: list[Served] = []
    yield started
    for server in started:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.communicate(timeout=30)


@pytest.mark.parametrize("server", ["threaded", "uvicorn"])
def test_serve_metrics_path(server: str, definitions: Path, tmp_path: Path,
                            stopping: list[Served]) -> None:
    if server == "uvicorn":
        pytest.importorskip("uvicorn")
    served = Served([sys.executable, "-m", "webhook_workflow", "serve", str(definitions),
                     "--port", "0", "--store", "memory", "--server", server,
                     "--metrics", "/metrics"], tmp_path)
    stopping.append(served)
    status, content_type, text = served.get("/metrics")
    assert status == 200 and content_type.startswith("text/plain")
    assert value(samples(text), "webhook_workflow_requests_total", workflow="echo",
                 code="200") == 0
    for _ in range(4):
        assert served.post("/api/webhook:trigger/echo", {"n": 1}) == 200
    after = samples(served.get("/metrics")[2])
    assert value(after, "webhook_workflow_requests_total", workflow="echo", code="200") == 4
    assert value(after, "webhook_workflow_executions_ended_total", workflow="echo",
                 status="resolved") == 4
    with pytest.raises(urllib.error.HTTPError) as refused:
        served.get("/other")
    assert refused.value.code == 404
    served.stop()


GUNICORN_APP = '''
import os
from webhook_workflow import Engine
from webhook_workflow.wsgi import WebhookMiddleware

engine = Engine(os.environ["WW_STORE"], metrics=True)
engine.add_workflow({"key": "echo", "sync": True, "nodes": [
    {"key": "r", "type": "response", "config": {"body": {"pid": os.getpid()}}}]})
metrics = engine.metrics.wsgi_app()

def webhooks(environ, start_response):
    start_response("404 Not Found", [("Content-Length", "0")])
    return [b""]

hooks = WebhookMiddleware(webhooks, engine=engine)

def app(environ, start_response):
    if environ["PATH_INFO"] == "/metrics":
        return metrics(environ, start_response)
    return hooks(environ, start_response)
'''


def test_gunicorn_workers_add_up_in_multiprocess_mode(tmp_path: Path,
                                                      stopping: list[Served]) -> None:
    pytest.importorskip("gunicorn")
    (tmp_path / "gunicorn_app.py").write_text(GUNICORN_APP)
    counts = tmp_path / "prometheus"
    counts.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(counts), "WW_STORE": f"sqlite:///{tmp_path}/s.db",
           "PYTHONPATH": str(tmp_path)}
    served = Served([sys.executable, "-m", "gunicorn", "--workers", "2", "--bind",
                     "127.0.0.1:0", "gunicorn_app:app"], tmp_path, env, ready="Listening at: ")
    stopping.append(served)
    pids = set()
    for _ in range(20):
        call = urllib.request.Request(served.base + "/api/webhook:trigger/echo", data=b"{}",
                                      method="POST", headers={"Content-Type": "application/json",
                                                              "Connection": "close"})
        with urllib.request.urlopen(call, timeout=10) as answer:
            pids.add(json.loads(answer.read())["pid"])
    # Whichever worker answers the scrape, it counts every worker's requests.
    for _ in range(3):
        found = samples(served.get("/metrics")[2])
        assert value(found, "webhook_workflow_requests_total", workflow="echo",
                     code="200") == 20
        assert value(found, "webhook_workflow_executions_ended_total", workflow="echo",
                     status="resolved") == 20
        assert value(found, "webhook_workflow_queue_depth") == 0
    assert len(list(counts.glob("*.db"))) >= len(pids) >= 1
    served.stop()


NO_EXTRAS = '''
import sys
for name in ("opentelemetry", "prometheus_client"):
    sys.modules[name] = None  # "import opentelemetry" now raises ImportError
import webhook_workflow
from webhook_workflow import Engine
from webhook_workflow.testing import WebhookClient

engine = Engine()
engine.add_workflow({"key": "echo", "sync": True, "nodes": [
    {"key": "r", "type": "response", "config": {"body": "{{$context.body}}"}}]})
answer = WebhookClient(engine).post("echo", json={"ok": 1})
assert answer.status == 200 and answer.json == {"ok": 1}, answer
engine.close()
for option in ("metrics", "tracing"):
    try:
        Engine(**{option: True})
    except ImportError as exc:
        print(option, "refused:", exc)
extras = ("opentelemetry", "prometheus_client")
loaded = sorted(n for n in sys.modules if n.split(".")[0] in extras and sys.modules[n])
print("extras loaded:", loaded)
ours = ("webhook_workflow.tracing", "webhook_workflow.metrics")
print("observability modules:", sorted(n for n in sys.modules if n in ours))
'''


def test_without_the_extras_the_package_imports_and_serves(tmp_path: Path) -> None:
    script = tmp_path / "no_extras.py"
    script.write_text(textwrap.dedent(NO_EXTRAS))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "metrics refused: metrics need prometheus-client: pip install " \
        "'webhook-workflow[prometheus]'" in lines
    assert "tracing refused: tracing needs the OpenTelemetry API: pip install " \
        "'webhook-workflow[otel]'" in lines
    assert "extras loaded: []" in lines
    assert "observability modules: ['webhook_workflow.metrics', 'webhook_workflow.tracing']" \
        in lines  # imported only when asked for, by the two refused engines


def test_serve_refuses_metrics_without_the_extra(definitions: Path, tmp_path: Path) -> None:
    script = ("import sys; sys.modules['prometheus_client'] = None\n"
              "from webhook_workflow.cli import main\n"
              f"sys.exit(main(['serve', {str(definitions)!r}, '--metrics', '/metrics', "
              "'--store', 'memory']))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert done.returncode == 2
    assert "needs the [prometheus] extra" in done.stderr
    done = subprocess.run([sys.executable, "-m", "webhook_workflow", "serve", str(definitions),
                           "--metrics", "metrics", "--store", "memory"], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 2 and "a path starting with /" in done.stderr


def test_install_adds_what_an_engine_lacks_once() -> None:
    pytest.importorskip("opentelemetry.sdk")
    from webhook_workflow.instruments import parts
    from webhook_workflow.metrics import Metrics
    from webhook_workflow.observe import install
    from webhook_workflow.tracing import Tracing

    engine = Engine(metrics=True)
    try:
        collector = engine.metrics
        for _ in range(2):  # what it has is kept: the second time adds nothing
            install(engine, metrics=True, tracing=True)
            assert engine.metrics is collector
            assert [type(p) for p in parts(engine.instruments)] == [Metrics, Tracing]
            assert engine.dispatcher.instruments is engine.instruments
    finally:
        engine.close()
