"""The PostgreSQL store: hosts sharing one database, a host killed, the database restarted.

Runs on the server named by ``WEBHOOK_WORKFLOW_TEST_POSTGRES``
(e.g. ``postgresql://postgres@127.0.0.1:5432/test``); without it every test that needs a
database is skipped. Each test works under its own table prefix and drops its tables after.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

pytest.importorskip("psycopg")
pytest.importorskip("psycopg_pool")

import httpx
from conftest import JSON
from doors import Door, Request
from test_durability import Server

from webhook_workflow import Engine, Execution, Job, Status, StoreUnavailable
from webhook_workflow.records import utcnow
from webhook_workflow.store.base import Idempotency
from webhook_workflow.store.postgres import PostgresStore, drop_tables, migrate, parse_url
from webhook_workflow.store.postgres_schema import SCHEMA_VERSION

POSTGRES = os.environ.get("WEBHOOK_WORKFLOW_TEST_POSTGRES", "")
NEEDS = "set WEBHOOK_WORKFLOW_TEST_POSTGRES=postgresql://user@host/db to run this test"
TIMEOUT = httpx.Timeout(10.0)


def with_prefix(url: str, prefix: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}prefix={prefix}"


@pytest.fixture
def url() -> Iterator[str]:
    """A store URL with a table prefix of its own; its tables are dropped after the test."""
    if not POSTGRES:
        pytest.skip(NEEDS)
    made = with_prefix(POSTGRES, f"t{uuid.uuid4().hex[:12]}_")
    yield made
    drop_tables(made)


@pytest.fixture
def stores(url: str) -> Iterator[Callable[..., PostgresStore]]:
    """Open stores on the test's tables (one per simulated host); all closed after."""
    opened: list[PostgresStore] = []

    def open_store(**settings: Any) -> PostgresStore:
        store = PostgresStore.from_url(url, **settings)
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        store.close()


def queued(key: str = "w", **kw: Any) -> Execution:
    return Execution(key, 1, {"headers": {}, "query": {}, "body": {"n": 1}}, **kw)


def wait_until(check: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"not reached in {timeout} s: {what or check}")


# -- the URL ------------------------------------------------------------------------------------
def test_url_options_are_checked_and_the_rest_goes_to_libpq() -> None:
    conninfo, options = parse_url(
        "postgres://u:pw@db.example:6432/app?prefix=ww_&sslmode=require&writers=3"
        "&options=-c%20statement_timeout%3D5000")
    assert options == {"prefix": "ww_", "writers": "3"}
    assert conninfo.startswith("postgresql://u:pw@db.example:6432/app?")
    assert "sslmode=require" in conninfo
    assert "options=-c%20statement_timeout%3D5000" in conninfo
    for bad in ("prefix=Bad-Name", "prefix=1x", "pool_size=0", "writers=x",
                "synchronous_commit=maybe"):
        with pytest.raises(ValueError):
            parse_url(f"postgresql://h/db?{bad}")
    with pytest.raises(ValueError):
        parse_url("mysql://h/db")


def test_engine_opens_both_spellings(url: str) -> None:
    for spelling in (url, url.replace("postgresql://", "postgres://", 1)):
        engine = Engine(spelling)
        assert isinstance(engine.store, PostgresStore)
        engine.close()


# -- schema ----------------------------------------------------------------------------------------
def test_hosts_starting_at_once_migrate_once(url: str) -> None:
    opened: list[PostgresStore] = []
    errors: list[BaseException] = []
    gate = threading.Barrier(6)

    def start() -> None:
        try:
            gate.wait(5)
            opened.append(PostgresStore.from_url(url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert sorted(s.migrated_from for s in opened) == [0] + [SCHEMA_VERSION] * 5  # one created it
    assert "up to date" in migrate(url)
    for store in opened:
        store.close()


def test_migrate_creates_then_reports_up_to_date(url: str) -> None:
    assert "schema created at version" in migrate(url)
    assert "up to date" in migrate(url)
    import psycopg

    conninfo, options = parse_url(url)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"UPDATE {options['prefix']}schema_version SET version = 99")
    with pytest.raises(StoreUnavailable, match="newer"):
        PostgresStore.from_url(url)


def test_prefixes_keep_stores_apart(url: str) -> None:
    other = url.replace("prefix=t", "prefix=u", 1)
    one, two = PostgresStore.from_url(url), PostgresStore.from_url(other)
    try:
        one.add(queued())
        assert (one.queued_count(), two.queued_count()) == (1, 0)
    finally:
        one.close()
        two.close()
        drop_tables(other)


# -- many hosts ---------------------------------------------------------------------------------
def test_hosts_claim_each_execution_once(stores: Callable[..., PostgresStore]) -> None:
    hosts = [stores(), stores()]
    added = [queued() for _ in range(300)]
    for future in [hosts[0].add_later(e) for e in added]:
        assert future.result() is None
    claimed: list[str] = []
    lock = threading.Lock()

    def worker(store: PostgresStore, name: str) -> None:
        while (execution := store.claim(name, ["w"], 30)) is not None:
            assert execution.status == Status.STARTED
            with lock:
                claimed.append(execution.id)

    threads = [threading.Thread(target=worker, args=(hosts[i % 2], f"worker-{i}"))
               for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(claimed) == sorted(e.id for e in added)  # each exactly once
    assert hosts[1].queued_count() == 0


def test_expired_lease_moves_to_another_host(stores: Callable[..., PostgresStore]) -> None:
    one, two = stores(), stores()
    execution = queued()
    one.add(execution)
    claimed = one.claim("dead-host", ["w"], lease=0.3)
    assert claimed is not None
    job = Job(Status.RESOLVED, "ran", node_key="a", meta={"seq": 1})
    claimed.jobs.append(job)
    one.save_jobs(claimed, [job])
    assert two.claim("live-host", ["w"], lease=30) is None  # the lease still holds
    time.sleep(0.4)
    again = two.claim("live-host", ["w"], lease=30)
    assert again is not None and again.id == execution.id
    assert [j.node_key for j in again.jobs] == ["a"]  # it resumes after its saved job
    one.renew("dead-host", [execution.id], 30)  # the old owner cannot extend it any more
    assert two.claim("third", ["w"], lease=30) is None


def test_idempotency_keys_are_atomic_across_hosts(stores: Callable[..., PostgresStore]) -> None:
    one, two = stores(), stores()
    outcomes: dict[str, list[Any]] = {}
    gate = threading.Barrier(2)

    def deliver(store: PostgresStore, name: str) -> None:
        gate.wait(5)
        for n in range(40):
            execution = queued()
            found = store.add(execution, Idempotency("w", f"key-{n}", 60, {"status": 202}))
            outcomes.setdefault(f"key-{n}", []).append(
                (name, execution.id, None if found is None else found.execution_id))

    threads = [threading.Thread(target=deliver, args=(s, n)) for n, s in (("a", one),
                                                                          ("b", two))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for key, results in outcomes.items():
        assert len(results) == 2
        added = [r for r in results if r[2] is None]
        seen = [r for r in results if r[2] is not None]
        assert len(added) == 1 and len(seen) == 1, key  # one delivery won, the other saw it
        assert seen[0][2] == added[0][1]
    assert one.queued_count() == 40


def test_idempotency_ttl_and_replace(stores: Callable[..., PostgresStore]) -> None:
    store = stores()
    first = queued()
    assert store.add(first, Idempotency("w", "k", 0.3)) is None
    again = store.add(queued(), Idempotency("w", "k", 0.3))
    assert again is not None and again.execution_id == first.id and again.answer is None
    assert again.expires_at > time.time()
    store.remember("w", "k", {"status": 200, "headers": [], "body": "ok"})
    answered = store.add(queued(), Idempotency("w", "k", 0.3))
    assert answered is not None and answered.answer == {"status": 200, "headers": [],
                                                         "body": "ok"}
    died = queued()
    assert store.add(died, Idempotency("w", "k2", 60)) is None
    retry = queued()
    assert store.add(retry, Idempotency("w", "k2", 60, replaces=died.id)) is None
    taken = store.add(queued(), Idempotency("w", "k2", 60))
    assert taken is not None and taken.execution_id == retry.id
    expired = Idempotency("w", "short", 0.2)
    assert store.add(queued(), expired) is None
    time.sleep(0.3)
    assert store.add(queued(), expired) is None  # the key expired: a new delivery


def test_a_failing_write_fails_alone_in_its_batch(stores: Callable[..., PostgresStore]) -> None:
    store = stores(max_queue=100_000)
    twin = queued()
    store.add(twin)
    others = [queued() for _ in range(200)]
    futures = [store.add_later(e) for e in others[:100]]
    duplicate = store.add_later(twin)  # same id: refused by the database
    futures += [store.add_later(e) for e in others[100:]]
    with pytest.raises(StoreUnavailable, match="duplicate"):
        duplicate.result(10)
    assert all(f.result(10) is None for f in futures)
    assert store.queued_count() == 201


def test_queue_bound(stores: Callable[..., PostgresStore]) -> None:
    store = stores(max_queue=3)
    for _ in range(3):
        store.add(queued())
    with pytest.raises(StoreUnavailable, match="queue full"):
        store.add(queued())
    assert store.claim("me", ["w"]) is not None
    time.sleep(1.1)  # the count is refreshed each second
    store.add(queued())


# -- waking workers -------------------------------------------------------------------------------
def test_other_hosts_are_woken_by_new_work_and_due_timers(
        stores: Callable[..., PostgresStore]) -> None:
    worker_host, web_host = stores(), stores()
    woken: list[float] = []
    unsubscribe = worker_host.subscribe(lambda: woken.append(time.time()))
    time.sleep(0.3)  # the listener connects (and wakes once, for anything missed)
    woken.clear()
    web_host.add(queued())
    wait_until(lambda: bool(woken), 5, "a subscriber woken by a queued execution")
    claimed = worker_host.claim("me", ["w"], 30)
    assert claimed is not None
    woken.clear()
    due = time.time() + 0.6
    claimed.jobs.append(Job(Status.PENDING, None, node_key="wait", meta={"seq": 1}))
    web_host.release(claimed, due)
    wait_until(lambda: any(t >= due for t in woken), 5, "woken when the timer is due")
    assert next(t for t in woken if t >= due) - due < 0.5
    assert worker_host.claim("me", ["w"], 30) is not None
    assert worker_host.wait_for_work(0.05) is False
    threading.Timer(0.2, lambda: web_host.add(queued())).start()
    assert worker_host.wait_for_work(5) is True
    unsubscribe()


# -- restarts, sync executions ----------------------------------------------------------
def test_reopening_keeps_everything_and_aborts_orphaned_sync(url: str) -> None:
    first = PostgresStore.from_url(url, lease=0.1)
    execution = queued()
    first.add(execution)
    first.save_version("w", "d", {"key": "w", "nodes": []})
    running = Execution("w", 1, {}, status=Status.STARTED, sync=True, started_at=utcnow())
    first.add(running)
    first.close()  # the process "dies" with the sync execution STARTED
    time.sleep(0.2)
    second = PostgresStore.from_url(url)
    try:
        assert second.get(execution.id) is not None
        assert second.save_version("w", "d", {"key": "w", "nodes": []}) == 1
        assert second.load_version("w", 1) == {"key": "w", "nodes": []}
        assert second.queued_count() == 1
        aborted = second.get(running.id)
        assert aborted is not None and aborted.status == Status.ABORTED
    finally:
        second.close()


def test_json_is_kept_as_written(stores: Callable[..., PostgresStore]) -> None:
    store = stores()
    body = {"z": 1, "a": [1.5, None, "\u0000 é"], "big": 2**70}
    execution = Execution("w", 1, {"headers": {}, "query": {}, "body": body})
    store.add(execution)
    got = store.get(execution.id)
    assert got is not None
    assert list(got.context["body"]) == ["z", "a", "big"]  # key order kept
    assert got.context["body"]["a"] == [1.5, None, "\u0000 é"]


# -- the engine on PostgreSQL ---------------------------------------------------------------------
def test_engine_runs_webhooks_through_both_doors(url: str, door_kind: str) -> None:
    engine = Engine(url, lease=1)
    engine.add_workflow({"key": "hook", "nodes": [
        {"key": "o", "type": "output", "config": {"value": "{{$context.body.a}}"}}]})
    engine.add_workflow({"key": "sync", "sync": True, "nodes": [
        {"key": "r", "type": "response", "config": {"body": {"got": "{{$context.body.a}}"}}}]})
    door = Door(door_kind, engine)
    for n in range(5):
        answer = door.call(Request(body=json.dumps({"a": n}).encode(), headers=[JSON]))
        assert answer.status == 200
    answer = door.call(Request(path="/api/webhook:trigger/sync", body=b'{"a": 7}',
                               headers=[JSON]))
    assert (answer.status, answer.json()) == (200, {"got": 7})
    assert engine.drain(15)
    done = engine.executions("hook")
    assert sorted(e.output for e in done) == [0, 1, 2, 3, 4]
    assert {e.status for e in done} == {Status.RESOLVED}
    engine.close()


def test_delay_resumes_on_another_engine(url: str) -> None:
    first = Engine(url, lease=0.5)
    definition = {"key": "d", "nodes": [
        {"key": "wait", "type": "delay", "config": {"duration": 1, "unit": 1000}},
        {"key": "o", "type": "output", "config": {"value": "after"}}]}
    first.add_workflow(definition)
    assert Door("wsgi", first).call(Request(path="/api/webhook:trigger/d")).status == 200
    wait_until(lambda: bool(first.executions("d")) and bool(first.executions("d")[0].jobs),
               10, "the delay started")
    first.close(timeout=1)  # the execution waits on its durable timer
    second = Engine(url)
    second.add_workflow(definition)
    second.start()
    wait_until(lambda: second.executions("d")[0].status == Status.RESOLVED, 15)
    assert second.executions("d")[0].output == "after"
    second.close()


def test_a_waiting_custom_node_is_resumed_by_another_engine(url: str) -> None:
    def approval(config: dict[str, Any], ctx: Any) -> Job:
        return Job(status=Status.PENDING, result={"asked": "ada"})

    definition = {"key": "a", "nodes": [
        {"key": "ask", "type": "approval"},
        {"key": "done", "type": "output", "config": {"value": "{{$jobsMapByNodeKey.ask}}"}}]}
    first, second = Engine(url), Engine(url)
    for engine in (first, second):
        engine.register_node("approval", approval)
        engine.add_workflow(definition)
    assert Door("wsgi", first).call(Request(path="/api/webhook:trigger/a")).status == 200
    wait_until(lambda: any(j.status == Status.PENDING for e in first.executions("a")
                           for j in e.jobs), 10, "the node waits")
    [waiting] = first.executions("a")
    first.close(timeout=1)
    assert second.resume(waiting.id, "ask", {"approved": True}) is True
    assert second.resume(waiting.id, "ask", {"approved": False}) is False  # not waiting now
    wait_until(lambda: second.executions("a")[0].status == Status.RESOLVED, 10)
    assert second.executions("a")[0].output == {"approved": True}
    second.close()


# -- processes: the Server helper and fixture of test_durability -----------------------


def definitions(tmp: Path, *workflows: dict[str, Any]) -> Path:
    folder = tmp / "workflows"
    folder.mkdir()
    for workflow in workflows:
        (folder / f"{workflow['key']}.json").write_text(json.dumps(workflow))
    return folder


def record_counts(record: Path) -> Counter[str]:
    if not record.exists():
        return Counter()
    return Counter(line.split()[0] for line in record.read_text().splitlines())


def test_killed_host_loses_nothing_and_runs_everything_once(
        url: str, tmp_path: Path, servers: list[Server]) -> None:
    folder = definitions(
        tmp_path,
        {"key": "slow", "nodes": [
            {"key": "wait", "type": "delay", "config": {"duration": 4, "unit": 1000}},
            {"key": "rec", "type": "record"}]},
        {"key": "idem", "config": {
            "idempotency": {"key": "{{$headers.webhook-id}}"},
            "response": {"statusCode": 202, "body": {"first": "{{$context.body.n}}"}}},
         "nodes": [{"key": "rec", "type": "record"}]})
    record = tmp_path / "record.txt"
    hosts = [Server(tmp_path, folder, url, record, lease=1, server=kind, wait=False)
             for kind in ("threaded", "uvicorn", "threaded")]
    servers.extend(hosts)
    for host in hosts:
        host.wait()
    victim = hosts[0]
    with httpx.Client(timeout=TIMEOUT) as client:  # a key the victim will have seen
        first = client.post(f"{victim.url}/api/webhook:trigger/idem", json={"n": "pre"},
                            headers={"webhook-id": "pre"})
        assert (first.status_code, first.json()) == (202, {"first": "pre"})
    acknowledged: dict[int, int] = {}
    lock = threading.Lock()
    started = time.monotonic()
    killed = threading.Event()
    errors: list[BaseException] = []

    def send(lane: int) -> None:
        try:
            with httpx.Client(timeout=TIMEOUT) as client:
                for i in range(lane, 600, 12):
                    for attempt in range(3):  # a request the dead host dropped goes elsewhere
                        host = hosts[(i + attempt) % 3]
                        if host is victim and killed.is_set():
                            continue
                        try:
                            answer = client.post(f"{host.url}/api/webhook:trigger/slow",
                                                 json={"i": i})
                        except httpx.TransportError:
                            continue
                        assert answer.status_code == 200, answer.text
                        with lock:
                            acknowledged[i] = hosts.index(host)
                        break
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(lane,)) for lane in range(12)]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(acknowledged) >= 300 or time.monotonic() - started > 2.5, 30)
    victim.kill()  # midway, while every acknowledged execution waits on its 4 s timer
    killed.set()
    assert sum(record_counts(record).values()) <= 1  # at most the "pre" delivery ran so far
    for thread in threads:
        thread.join(60)
    assert not errors
    assert sorted(acknowledged) == list(range(600))
    assert Counter(acknowledged.values())[0] > 0  # the victim acknowledged some itself
    # An idempotent redelivery reaches another host: the same answer, no second execution.
    with httpx.Client(timeout=TIMEOUT) as client:
        again = client.post(f"{hosts[1].url}/api/webhook:trigger/idem", json={"n": "other"},
                            headers={"webhook-id": "pre"})
        assert (again.status_code, again.json()) == (202, {"first": "pre"})
        for n in range(10):
            answers = [client.post(f"{host.url}/api/webhook:trigger/idem", json={"n": n},
                                   headers={"webhook-id": f"k{n}"}) for host in hosts[1:]]
            assert [a.json() for a in answers] == [{"first": n}, {"first": n}]
    reader = PostgresStore.from_url(url)
    try:
        def slow_done() -> bool:
            rows = reader.list("slow", limit=2000)
            return len(rows) >= 600 and all(r.status == Status.RESOLVED for r in rows)

        wait_until(slow_done, 60, "every acknowledged execution resolved")
        executions = reader.list("slow", limit=2000)
        idem = reader.list("idem", limit=100)
        wait_until(lambda: all(r.status == Status.RESOLVED
                               for r in reader.list("idem", limit=100)), 15)
    finally:
        reader.close()
    assert {e.context["body"]["i"] for e in executions} == set(range(600))
    assert len(idem) == 11  # "pre" and k0..k9, each once
    runs = record_counts(record)
    assert {e.id for e in executions} | {e.id for e in idem} == set(runs)
    assert set(runs.values()) == {1}, [r for r in runs.items() if r[1] > 1]  # exactly once


def _local_cluster(conninfo: str) -> list[str] | None:
    """``[version, name]`` of the local pg_ctlcluster cluster serving ``conninfo``."""
    if not shutil.which("pg_lsclusters") or not shutil.which("pg_ctlcluster"):
        return None
    parts = urlsplit(conninfo)
    if parts.hostname not in (None, "", "127.0.0.1", "localhost", "::1"):
        return None
    port = str(parts.port or 5432)
    listing = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True,
                             check=False).stdout
    for line in listing.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2] == port and fields[3] == "online":
            return fields[:2]
    return None


def test_database_restart_answers_503_then_resumes(url: str, tmp_path: Path,
                                                   servers: list[Server]) -> None:
    cluster = _local_cluster(parse_url(url)[0])
    if cluster is None:
        pytest.skip("restarting the database needs a local pg_ctlcluster cluster")
    folder = definitions(tmp_path, {"key": "fast", "nodes": [{"key": "rec",
                                                              "type": "record"}]})
    record = tmp_path / "record.txt"
    hosts = [Server(tmp_path, folder, url, record, lease=2, server=kind, wait=False)
             for kind in ("threaded", "uvicorn")]
    servers.extend(hosts)
    for host in hosts:
        host.wait()
    acknowledged: list[int] = []
    statuses: Counter[int] = Counter()
    phase = {"now": "before"}
    after_restart: list[int] = []
    stop = threading.Event()
    lock = threading.Lock()
    counter = iter(range(10**9))

    def send() -> None:
        with httpx.Client(timeout=TIMEOUT) as client:
            while not stop.is_set():
                with lock:
                    i = next(counter)
                try:
                    answer = client.post(f"{hosts[i % 2].url}/api/webhook:trigger/fast",
                                         json={"i": i})
                except httpx.TransportError:
                    with lock:
                        statuses[0] += 1
                    continue
                with lock:
                    statuses[answer.status_code] += 1
                    if answer.status_code == 200:
                        acknowledged.append(i)
                        if phase["now"] == "after":
                            after_restart.append(i)
                    elif answer.status_code == 503:
                        assert answer.headers.get("Retry-After")
                time.sleep(0.01)

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)
        subprocess.run(["pg_ctlcluster", *cluster, "stop", "-m", "fast"], check=True,
                       timeout=30)
        time.sleep(1.5)  # webhooks meanwhile: 503
        subprocess.run(["pg_ctlcluster", *cluster, "start"], check=True, timeout=60)
        phase["now"] = "after"
        wait_until(lambda: len(after_restart) >= 50, 30, "acknowledgements after the restart")
    finally:
        if _local_cluster(parse_url(url)[0]) is None:  # never leave the database down
            subprocess.run(["pg_ctlcluster", *cluster, "start"], check=False, timeout=60)
        stop.set()
        for thread in threads:
            thread.join(30)
    assert statuses[503] > 0 and statuses[200] > 100, statuses
    assert set(statuses) <= {200, 503}, statuses
    reader = PostgresStore.from_url(url)
    try:
        def all_ran() -> bool:
            rows = reader.list("fast", limit=len(acknowledged) + 1000)
            bodies = {r.context["body"]["i"] for r in rows if r.status == Status.RESOLVED}
            return set(acknowledged) <= bodies

        wait_until(all_ran, 40, "every acknowledged execution resolved after the restart")
        rows = reader.list("fast", limit=len(acknowledged) + 1000)
    finally:
        reader.close()
    runs = record_counts(record)
    ran = {r.id for r in rows if r.context["body"]["i"] in set(acknowledged)}
    assert ran <= set(runs)  # each acknowledged execution ran (at least once)
