"""The bad-input corpus (``tests/corpus/*.http``) through both doors in process and over real
servers on 127.0.0.1: the CLI's threaded ``serve`` and uvicorn serving the ASGI door.

Every answer is checked against ``tests/corpus/expected.json``: the status, the error body
``{"errors":[{"message": ...}]}`` where the door refused the request, the challenge headers,
strict JSON, no traceback, and that no execution was created for a refused request. Rows a
server answers on its own (before any door) are marked ``"server": true`` there: their body is
the server's, so only the status is checked. After the whole corpus each engine still serves
a good request.
"""

from __future__ import annotations

import concurrent.futures
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from corpus.expect import (
    CORPUS,
    EXPECTED,
    FILES,
    TIER_PARENT,
    allowed,
    check_answer,
    expectation,
    raw,
    should_execute,
    strict_json,
)
from corpus.rawhttp import (
    DoorAnswer,
    asgi_call,
    free_port,
    parse_raw,
    send_raw,
    wait_for_port,
    wsgi_call,
)

from webhook_workflow import Engine
from webhook_workflow.asgi import WebhookMiddleware as ASGIMiddleware
from webhook_workflow.wsgi import WebhookMiddleware as WSGIMiddleware

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = CORPUS / "workflows"
SEED = ROOT / "examples" / "payment-callback.json"
DOOR_FILES = [f for f in FILES if EXPECTED[f].get("door", True)]

#: Per request: long enough for any answer on a loaded machine, short enough to stop a hang.
REQUEST_TIMEOUT = 4.0
#: The whole corpus over one server.
TIER_BUDGET = 240.0

GOOD_CREDENTIALS = "c2hvcDpzM2NyZXQ="  # base64 of shop:s3cret
#: One pool thread runs each in-process call, so that a hang fails the test instead of it.
_CALLER = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="corpus")


def load_engine(engine: Engine) -> Engine:
    engine.add_workflow(SEED)
    engine.load_directory(WORKFLOWS)
    return engine


def count(engine: Engine) -> int:
    return len(engine.executions(limit=1_000_000))


# -- the corpus itself -------------------------------------------------------------------------


def test_corpus_is_complete() -> None:
    files = sorted(p.name for p in CORPUS.glob("*.http"))
    assert files == FILES, "every .http file has one expectation and vice versa"
    assert len(files) >= 80
    for file in files:
        spec = EXPECTED[file]
        assert spec.get("why"), file
        for tier in TIER_PARENT:
            assert allowed(expectation(file, tier)), (file, tier)
    assert any(EXPECTED[f].get("executes") for f in FILES)


@pytest.mark.parametrize("file", [f for f in FILES if f not in DOOR_FILES])
def test_rows_no_door_sees_say_what_each_server_does(file: str) -> None:
    """A row marked ``door: false`` (no server hands it on as it is) is checked on the servers
    only, so it must say what each of them answers."""
    row = EXPECTED[file]
    assert "threaded" in row and "uvicorn" in row, file
    assert parse_raw(raw(file)) is None or file.split("-", 1)[1].startswith(
        ("line-", "method-", "header-", "chunked-")), file


# -- in process: both doors ---------------------------------------------------------------------


@dataclass
class DoorRun:
    """One engine behind one door, fed the whole corpus."""

    kind: str
    engine: Engine
    app: Any
    statuses: dict[str, int | None] = field(default_factory=dict)

    def send(self, file: str) -> tuple[DoorAnswer | None, int]:
        """The door's answer (None: no answer) and how many executions the request created.

        An exception escaping the door becomes a 500 answer that names it: a server would
        answer 500 on its own, without our error body.
        """
        request = parse_raw(raw(file))
        assert request is not None, f"{file} does not parse as a request"
        before = count(self.engine)
        answer: DoorAnswer | None
        call = wsgi_call if self.kind == "wsgi" else asgi_call
        future = _CALLER.submit(call, self.app, request)
        try:
            answer = future.result(timeout=REQUEST_TIMEOUT)
        except concurrent.futures.TimeoutError:
            answer = DoorAnswer(0, [], b"", problems=[f"no answer within {REQUEST_TIMEOUT} s"])
        except Exception as exc:
            answer = DoorAnswer(500, [], b"", problems=[
                f"the door raised {type(exc).__name__}: {exc}"])
        self.statuses[file] = None if answer is None else answer.status
        return answer, count(self.engine) - before


@pytest.fixture(scope="module", params=["wsgi", "asgi"])
def door_run(request: pytest.FixtureRequest) -> Iterator[DoorRun]:
    engine = load_engine(Engine())
    kind = str(request.param)
    app = WSGIMiddleware(engine=engine) if kind == "wsgi" else ASGIMiddleware(engine=engine)
    yield DoorRun(kind, engine, app)
    engine.close(timeout=10)


@pytest.mark.parametrize("file", DOOR_FILES)
def test_door_answers_corpus_request(door_run: DoorRun, file: str) -> None:
    spec = expectation(file, door_run.kind)
    started = time.monotonic()
    answer, created = door_run.send(file)
    elapsed = time.monotonic() - started
    problems: list[str] = []
    if answer is None:
        problems += check_answer(spec, None, [], b"")
    else:
        problems += check_answer(spec, answer.status, answer.headers, answer.body)
        problems += answer.problems
        if spec.get("unread") and answer.consumed:
            problems.append(f"read {answer.consumed} body bytes before answering 413")
    status = None if answer is None else answer.status
    wanted = 1 if should_execute(spec, status) else 0
    if created != wanted:
        problems.append(f"{created} execution(s) created, expected {wanted}")
    if elapsed > REQUEST_TIMEOUT:
        problems.append(f"took {elapsed:.1f} s")
    assert not problems, f"{door_run.kind} {file} ({EXPECTED[file]['why']}):\n  " + \
        "\n  ".join(problems)


def test_door_still_serves_after_the_corpus(door_run: DoorRun) -> None:
    """After every corpus request the engine holds exactly the executions of the accepted
    ones, and a good request still gets its 200."""
    for file in DOOR_FILES:
        if file not in door_run.statuses:
            door_run.send(file)
    accepted = sum(should_execute(expectation(f, door_run.kind), status)
                   for f, status in door_run.statuses.items())
    recorded = count(door_run.engine)
    assert recorded == accepted, f"{recorded} executions recorded, {accepted} requests accepted"
    answer, created = door_run.send("001-good-seed.http")
    assert answer is not None and answer.status == 200
    assert strict_json(answer.body) == {"ok": True, "id": "A1", "request": "r-1"}
    assert created == 1
    assert door_run.engine.drain(10)


# -- over real servers ---------------------------------------------------------------------------


@dataclass
class Tier:
    name: str
    port: int
    count: Callable[[], int]


def run_tier(tier: Tier) -> list[str]:
    """Send the whole corpus; return the mismatches (per request, then in total)."""
    mismatches: list[str] = []
    first = tier.count()
    accepted = 0
    started = time.monotonic()
    for file in FILES:
        if time.monotonic() - started > TIER_BUDGET:
            mismatches.append(f"stopped at {file}: the corpus took over {TIER_BUDGET} s")
            break
        spec = expectation(file, tier.name)
        head = bool(spec.get("head"))
        before = tier.count()
        answer = send_raw(tier.port, raw(file), timeout=REQUEST_TIMEOUT,
                          half_close=bool(spec.get("half_close")), head=head)
        problems = check_answer(spec, answer.status, answer.headers, answer.body, head=head)
        if answer.outcome == "timeout":
            problems.append(f"no answer within {REQUEST_TIMEOUT} s")
        created = tier.count() - before
        wanted = 1 if should_execute(spec, answer.status) else 0
        accepted += wanted
        if created != wanted:
            problems.append(f"{created} execution(s) created, expected {wanted}")
        if problems:
            mismatches.append(f"{file} ({EXPECTED[file]['why']}): " + "; ".join(problems))
    if tier.count() - first != accepted:
        mismatches.append(f"{tier.count() - first} executions in the store after the corpus, "
                          f"expected {accepted}")
    return mismatches


def check_still_serves(tier: Tier) -> None:
    before = tier.count()
    answer = send_raw(tier.port, raw("001-good-seed.http"), timeout=REQUEST_TIMEOUT)
    assert answer.status == 200, answer
    assert strict_json(answer.body) == {"ok": True, "id": "A1", "request": "r-1"}
    assert tier.count() == before + 1


def report(tier: str, mismatches: list[str]) -> str:
    return f"{len(mismatches)} corpus request(s) answered wrongly by {tier}:\n" + \
        "\n".join(f"- {m}" for m in mismatches)


@pytest.fixture(scope="module")
def uvicorn_tier() -> Iterator[tuple[Tier, Engine]]:
    import uvicorn

    engine = load_engine(Engine())
    port = free_port()
    config = uvicorn.Config(ASGIMiddleware(engine=engine), host="127.0.0.1", port=port,
                            log_level="critical", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for_port(port, alive=thread.is_alive)
        yield Tier("uvicorn", port, lambda: count(engine)), engine
    finally:
        server.should_exit = True
        thread.join(15)
        engine.close(timeout=10)


def test_uvicorn_answers_the_corpus(uvicorn_tier: tuple[Tier, Engine]) -> None:
    tier, engine = uvicorn_tier
    mismatches = run_tier(tier)
    check_still_serves(tier)
    assert engine.drain(10)
    assert not mismatches, report("uvicorn", mismatches)


@dataclass
class Served:
    """The CLI server process and the file its output (the access log) goes to."""

    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def threaded_tier(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Tier, Served]]:
    folder = tmp_path_factory.mktemp("serve")
    store = f"sqlite:///{folder / 'corpus.db'}"
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log = folder / "serve.log"
    with log.open("wb") as out:  # a file, not a pipe: a full pipe would stall the server
        proc = subprocess.Popen(
            [sys.executable, "-m", "webhook_workflow", "serve", str(SEED), str(WORKFLOWS),
             "--port", str(port), "--store", store],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)
    served = Served(proc, log)
    reader = Engine(store=store)  # looks only: never starts workers
    try:
        wait_for_port(port, alive=lambda: proc.poll() is None)
        yield Tier("threaded", port, lambda: count(reader)), served
    finally:
        served.stop()
        reader.close(timeout=5)


def test_threaded_serve_answers_the_corpus(threaded_tier: tuple[Tier, Served]) -> None:
    tier, served = threaded_tier
    mismatches = run_tier(tier)
    check_still_serves(tier)
    output = served.stop()
    assert served.proc.returncode == 0, output[-2000:]
    assert "s3cret" not in output and GOOD_CREDENTIALS not in output
    assert not mismatches, report("the threaded server", mismatches)


# -- fuzzing, briefly ----------------------------------------------------------------------------


def test_fuzz_the_wsgi_request_path_briefly(tmp_path: Path) -> None:
    """``python -m fuzz`` for 10 s (atheris when installed, else the built-in fuzzer),
    seeded with this corpus: no input may break the door's invariants."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "fuzz", "--seconds", "10", "--artifacts", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=90)
    assert time.monotonic() - started < 60
    noise = ("#", "INFO", "WARNING", "MS:", "\t")
    lines = [line for line in (done.stdout + done.stderr).splitlines()
             if line.strip() and not line.startswith(noise)]
    assert done.returncode == 0, "\n".join(lines[-40:])
