"""Ids: 63-bit snowflakes (41 bits of milliseconds, 10 of instance number, 12 of sequence),
strictly increasing in a process, and instance numbers claimed in durable stores so that
processes (and hosts) sharing one never make the same id."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from store_urls import store_url

from webhook_workflow import Engine, StoreUnavailable
from webhook_workflow.errors import InstanceNumbersExhausted
from webhook_workflow.ids import (
    EPOCH_MS,
    MAX_INSTANCE,
    IdGenerator,
    id_parts,
    instance_id,
    new_id,
    snowflake,
)
from webhook_workflow.store.base import Store
from webhook_workflow.store.instance_claims import StoreClaims, claims_of
from webhook_workflow.store.instances import valid_for
from webhook_workflow.store.open import open_store

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_796_646_716_896  # 2026-12-07T12:31:56.896Z, in milliseconds since 1970


class Clock:
    """Milliseconds that stay at each value for ``reads`` reads, then move on by one."""

    def __init__(self, start: int, reads: int) -> None:
        self.now, self.reads, self.left = start, reads, reads
        self.count = 0

    def __call__(self) -> int:
        self.count += 1
        if self.left == 0:
            self.now, self.left = self.now + 1, self.reads
        self.left -= 1
        return self.now


# -- the layout ------------------------------------------------------------------------------------
def test_ids_are_63_bit_strings_of_18_or_19_digits_ordered_by_time() -> None:
    before = time.time_ns() // 1_000_000
    ids = [new_id() for _ in range(2000)]
    after = time.time_ns() // 1_000_000
    numbers = [int(i) for i in ids]
    assert all(i.isdigit() and len(i) in (18, 19) for i in ids)
    assert all(0 < n < 2**63 for n in numbers)
    assert numbers == sorted(set(numbers))  # strictly increasing
    ms, instance, _ = id_parts(ids[0])
    assert before <= ms <= after + 1  # an id may borrow the next millisecond
    assert instance == instance_id() and 0 <= instance <= MAX_INSTANCE
    assert isinstance(snowflake(), int)


@pytest.mark.parametrize("instance", [0, 1, 512, MAX_INSTANCE])
def test_the_instance_number_is_bits_12_to_21(instance: int) -> None:
    gen = IdGenerator(instance, clock=lambda: T0)
    first, second = gen.next(), gen.next()
    assert id_parts(first) == (T0, instance, 0)
    assert id_parts(second) == (T0, instance, 1)
    assert first == ((T0 - EPOCH_MS) << 22) | (instance << 12)


def test_the_layout_holds_until_2090_and_not_after() -> None:
    last = EPOCH_MS + 2**41 - 1
    gen = IdGenerator(MAX_INSTANCE, clock=lambda: last)
    assert gen.next() == 2**63 - 1 - 4095  # the largest time and instance, sequence 0
    with pytest.raises(OverflowError):
        IdGenerator(0, clock=lambda: last + 1).next()


@pytest.mark.parametrize("bad", [-1, 1024, 5000])
def test_instance_numbers_outside_0_to_1023_are_refused(bad: int) -> None:
    with pytest.raises(ValueError, match=r"0\.\.1023"):
        IdGenerator(bad)
    with pytest.raises(ValueError):
        IdGenerator(0).grant(bad, float("inf"))


def test_id_parts_refuses_what_is_no_63_bit_id() -> None:
    with pytest.raises(ValueError):
        id_parts(2**63)
    with pytest.raises(ValueError):
        id_parts("-1")


# -- ordering within a process ---------------------------------------------------------------------
def test_4096_ids_in_one_millisecond_then_the_next_waits_for_the_clock() -> None:
    clock = Clock(T0, reads=5000)  # the clock stays at T0 for 5000 reads
    gen = IdGenerator(7, clock=clock)
    ids = [gen.next() for _ in range(4100)]
    assert ids == sorted(set(ids))
    assert [id_parts(i) for i in ids[4094:4098]] == [
        (T0, 7, 4094), (T0, 7, 4095), (T0 + 1, 7, 0), (T0 + 1, 7, 1)]
    # It waited (read the clock until it moved) rather than run ahead of it.
    assert clock.count >= 5001


def test_a_block_of_ids_follows_the_same_rules_as_one_at_a_time() -> None:
    clock = Clock(T0, reads=5000)
    gen = IdGenerator(9, clock=clock)
    first = gen.next()
    block = gen.many(4100)  # one millisecond's sequence runs out inside the block
    later = gen.next()
    ids = [first, *block, later]
    assert ids == sorted(set(ids)) and len(ids) == 4102
    assert id_parts(block[0]) == (T0, 9, 1)
    assert [id_parts(i) for i in block[4093:4096]] == [
        (T0, 9, 4094), (T0, 9, 4095), (T0 + 1, 9, 0)]
    assert gen.many(0) == []


def test_give_ids_gives_only_the_jobs_without_one() -> None:
    from webhook_workflow import Job, Status
    from webhook_workflow.ids import give_ids

    kept = Job(Status.RESOLVED, None, id="123")
    fresh = [Job(Status.RESOLVED, None) for _ in range(3)]
    give_ids([kept, *fresh])
    assert kept.id == "123"
    numbers = [int(job.id) for job in fresh]
    assert numbers == sorted(set(numbers))


def test_a_clock_stepping_back_is_not_followed() -> None:
    readings = iter([T0 + 10] + [T0] * 9000 + [T0 + 11] * 10)
    gen = IdGenerator(3, clock=lambda: next(readings))
    ids = [gen.next() for _ in range(5000)]
    assert ids == sorted(set(ids))
    parts = [id_parts(i) for i in ids]
    assert parts[0] == (T0 + 10, 3, 0)
    assert min(ms for ms, _, _ in parts) == T0 + 10  # never back to T0
    # 4096 ids used T0 + 10 up, so the next go on from T0 + 11 (the clock still says T0).
    assert parts[4095] == (T0 + 10, 3, 4095) and parts[4096] == (T0 + 11, 3, 0)


def test_ids_of_many_threads_are_unique_and_each_thread_sees_them_increase() -> None:
    gen = IdGenerator(9)
    seen: list[list[int]] = [[] for _ in range(8)]

    def make(out: list[int]) -> None:
        out.extend(gen.next() for _ in range(5000))

    threads = [threading.Thread(target=make, args=(out,)) for out in seen]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(out == sorted(out) for out in seen)
    assert len({i for out in seen for i in out}) == 8 * 5000


def test_ids_of_a_number_taken_over_start_after_its_previous_holder() -> None:
    gen = IdGenerator(5, clock=lambda: T0)
    gen.grant(6, float("inf"), floor_ms=T0 + 100)  # the previous holder's lease ran to there
    assert id_parts(gen.next()) == (T0 + 101, 6, 0)


# -- a number that lapses --------------------------------------------------------------------
class Keeper:
    """Grants ``number`` for ``valid`` seconds at each refresh, or refuses with ``error``."""

    def __init__(self, gen: IdGenerator, number: int, error: Exception | None = None) -> None:
        self.gen, self.number, self.error, self.calls = gen, number, error, 0

    def refresh(self) -> None:
        self.calls += 1
        if self.error is not None:
            raise self.error
        self.gen.grant(self.number, time.monotonic() + 60)


def test_a_lapsed_number_is_claimed_again_before_the_next_id() -> None:
    gen = IdGenerator(1, clock=lambda: T0)
    gen.keeper = keeper = Keeper(gen, 2)
    gen.grant(1, time.monotonic() - 1)  # lapsed
    assert id_parts(gen.next())[1] == 2 and keeper.calls == 1
    gen.next()
    assert keeper.calls == 1  # granted for a minute: no more calls


def test_ids_are_refused_while_no_number_can_be_had() -> None:
    gen = IdGenerator(1)
    gen.keeper = Keeper(gen, 2, StoreUnavailable("database down"))
    gen.revoke()
    with pytest.raises(StoreUnavailable, match="database down"):
        gen.next()
    with pytest.raises(StoreUnavailable):
        gen.instance()


# -- claims in a store -----------------------------------------------------------------------
@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return store_url(str(request.param), tmp_path, request)


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    """The store a URL names, without a claim of this process: the tests claim as holders
    of their own."""
    opened = open_store(url)
    yield opened
    opened.close()


def claims(store: Store) -> StoreClaims:
    found = claims_of(store)
    assert found is not None
    return found


def rows(store: Store) -> dict[int, tuple[str, float]]:
    """number -> (holder, seconds until its lease ends)."""
    kind = type(store).__name__
    if kind == "SQLiteStore":
        found = store._conn().execute(  # type: ignore[attr-defined]
            "SELECT number, holder, expires_at - ? FROM instances", (time.time(),)).fetchall()
    else:
        found = store._read(lambda conn: conn.execute(  # type: ignore[attr-defined]
            "SELECT number, holder, extract(epoch FROM expires_at - clock_timestamp())::float8"
            f" FROM {store.prefix}instances").fetchall())  # type: ignore[attr-defined]
    return {int(n): (str(h), float(left)) for n, h, left in found}


def test_processes_claim_different_numbers_lowest_first(store: Store) -> None:
    one = claims(store)
    assert one.claim("a", None, (), 30) == (0, 0)
    assert one.claim("b", None, (), 30) == (1, 0)
    assert one.claim("c", 7, (), 30) == (7, 0)  # the number it had before, when free
    assert one.claim("d", 0, (), 30) == (2, 0)  # 0 is a's: the lowest free instead
    assert one.claim("a", 0, (), 30) == (0, 0)  # a claiming again keeps its own
    assert {n: h for n, (h, _) in rows(store).items()} == {0: "a", 1: "b", 7: "c", 2: "d"}
    assert all(25 < left <= 30 for _, left in rows(store).values())


def test_a_stale_claim_is_claimed_again_and_its_ids_come_after(store: Store) -> None:
    one = claims(store)
    assert one.claim("dead", None, (), 0.2)[0] == 0
    assert one.claim("other", 0, (), 30)[0] == 1  # still live
    time.sleep(0.3)
    number, floor = one.claim("new", 0, (), 30)  # type: ignore[misc]
    assert number == 0
    # The new holder's ids start after the moment the dead one's lease ended.
    assert abs(floor - (time.time() - 0.1) * 1000) < 150
    assert rows(store)[0][0] == "new"
    assert one.renew("dead", 0, 30) is False  # the dead one lost it


def test_renew_and_release(store: Store) -> None:
    one = claims(store)
    assert one.claim("a", None, (), 1)[0] == 0
    assert one.renew("a", 0, 30) is True and rows(store)[0][1] > 25
    assert one.renew("b", 0, 30) is False
    one.release("b", 0, 0)  # not b's: nothing happens
    assert rows(store)[0][1] > 25
    one.release("a", 0, time.time_ns() // 1_000_000)
    assert rows(store)[0][1] <= 0.01
    time.sleep(0.02)
    assert one.claim("b", 0, (), 30)[0] == 0


def fill(store: Store, numbers: range) -> None:
    """Claims of other live processes on ``numbers``."""
    if type(store).__name__ == "SQLiteStore":
        store._write(lambda conn: conn.executemany(  # type: ignore[attr-defined]
            "INSERT INTO instances VALUES (?, ?, ?)",
            [(n, f"p{n}", time.time() + 60) for n in numbers]))
    else:
        store._read(lambda conn: conn.execute(  # type: ignore[attr-defined]
            f"INSERT INTO {store.prefix}instances SELECT n, 'p' || n, "  # type: ignore[attr-defined]
            "clock_timestamp() + interval '1 minute' FROM generate_series(%s::int, %s::int) AS n",
            (numbers.start, numbers.stop - 1)))


def test_when_all_1024_are_held_opening_an_engine_says_so(url: str, store: Store) -> None:
    fill(store, range(1024))
    with pytest.raises(InstanceNumbersExhausted, match="all 1024 instance numbers") as caught:
        Engine(url)
    assert isinstance(caught.value, StoreUnavailable)  # a door would answer 503
    assert claims(store).claim("x", None, (), 30) is None


def test_the_last_free_number_is_found(url: str, store: Store) -> None:
    fill(store, range(1023))
    engine = Engine(url)
    try:
        assert rows(store)[1023][0] != "p1022" and instance_id() == 1023
    finally:
        engine.close()


# -- engines ---------------------------------------------------------------------------------------
def test_an_engine_claims_the_process_number_and_close_releases_it(url: str) -> None:
    engine = Engine(url)
    number = instance_id()
    left = rows(engine.store)[number][1]
    assert 20 < left <= 30  # the lease setting (30 s)
    other = Engine(url)  # a second engine of this process: the same number
    assert instance_id() == number and set(rows(engine.store)) == {number}
    other.close()
    assert rows(engine.store)[number][1] > 20  # still held for the first engine
    ids = [int(new_id()) for _ in range(100)]
    assert {id_parts(i)[1] for i in ids} == {number}
    engine.close()
    reader = open_store(url)
    try:
        assert rows(reader)[number][1] <= 0.01  # released
        time.sleep(0.02)
        assert claims(reader).claim("next", number, (), 30)[0] == number
    finally:
        reader.close()


def test_the_claim_is_renewed_while_the_workers_run(url: str) -> None:
    engine = Engine(url, lease=0.6)
    try:
        engine.start()
        number = instance_id()
        time.sleep(1.2)  # two leases: renewed meanwhile (every 0.2 s)
        left = rows(engine.store)[number][1]
        assert 0 < left <= 0.6  # unrenewed, it would have ended 0.6 s ago
        assert id_parts(new_id())[1] == number
    finally:
        engine.close()


HOLD = """
import json, sys
from webhook_workflow import Engine
from webhook_workflow.ids import instance_id, new_id
engine = Engine(sys.argv[1])
print(json.dumps({"instance": instance_id(), "ids": [new_id() for _ in range(2000)]}), flush=True)
sys.stdin.readline()
engine.close()
"""


def _child(url: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", HOLD, url], cwd=ROOT, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def _line(proc: subprocess.Popen[str]) -> dict[str, Any]:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 60)
    assert ready, "the other process did not answer"
    answer: dict[str, Any] = json.loads(proc.stdout.readline())
    return answer


def test_two_processes_on_one_store_get_different_numbers_and_ids(url: str) -> None:
    first, second = _child(url), _child(url)
    try:
        one, two = _line(first), _line(second)
        engine = Engine(url)
        try:
            mine = instance_id()
            numbers = {one["instance"], two["instance"], mine}
            assert len(numbers) == 3
            ids = [*one["ids"], *two["ids"], *(new_id() for _ in range(2000))]
            assert len(set(ids)) == 6000
            assert {id_parts(i)[1] for i in one["ids"]} == {one["instance"]}
            assert {n: h for n, (h, _) in rows(engine.store).items()}.keys() == numbers
        finally:
            engine.close()
    finally:
        for proc in (first, second):
            proc.communicate("\n", timeout=30)
    assert all(proc.returncode == 0 for proc in (first, second))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_claims_its_own_number_before_its_first_id(tmp_path: Path) -> None:
    engine = Engine(f"sqlite:///{tmp_path / 'fork.db'}")
    parent = instance_id()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first id, with the number it claimed
        try:
            os.write(write, json.dumps([new_id(), instance_id()]).encode())
        finally:
            os._exit(0)
    os.close(write)
    try:
        ready, _, _ = select.select([read], [], [], 60)
        assert ready, "the forked child did not answer"
        child_id, child_number = json.loads(os.read(read, 1000))
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    try:
        assert child_number != parent and id_parts(child_id)[1] == child_number
        assert id_parts(new_id())[1] == parent
        assert set(rows(engine.store)) == {parent, child_number}
    finally:
        engine.close()


def test_the_memory_store_uses_a_number_of_this_process() -> None:
    engine = Engine()
    try:
        engine.add_workflow({"key": "m", "nodes": [{"key": "o", "type": "output",
                                                    "config": {"value": 1}}]})
        execution = engine.execute("m")
        assert id_parts(execution.id)[1] == instance_id()
        assert id_parts(execution.jobs[0].id)[1] == instance_id()
    finally:
        engine.close()


def test_a_lease_is_used_for_less_than_it_lasts() -> None:
    assert valid_for(30) == 25 and valid_for(0.4) == pytest.approx(0.3)
    assert all(0 < valid_for(lease) < lease for lease in (0.01, 1, 2, 30, 600))
