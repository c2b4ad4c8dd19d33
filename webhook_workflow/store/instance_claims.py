"""The table of instance numbers in a durable store: claim, renew and release, each atomic.

A row is ``number`` (0..1023), ``holder`` (a token of one process incarnation) and
``expires_at``. SQLite claims run on the store's writer, inside its ``BEGIN IMMEDIATE``;
PostgreSQL claims run in one transaction on a pooled connection, serialised by an advisory
lock and committed durably (a claim lost in a crash could hand a number out twice).
"""

from __future__ import annotations

import hashlib
import math
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterable
from typing import Any, Protocol

from ..errors import StoreUnavailable
from ..ids import MAX_INSTANCE
from .base import Store
from .sqlite import SQLiteStore

__all__ = ["ALL_NUMBERS", "ClaimsGone", "Row", "StoreClaims", "choose", "claims_of"]

#: (number, holder, still live, expires_at in epoch seconds): a row of the table.
Row = tuple[int, str, bool, float]
#: Every instance number.
ALL_NUMBERS: frozenset[int] = frozenset(range(MAX_INSTANCE + 1))


class ClaimsGone(StoreUnavailable):
    """The store has no table of claims (its tables were dropped): it holds no number."""


def choose(rows: Iterable[Row], holder: str, prefer: int | None,
           exclude: Collection[int] = ()) -> tuple[int, int] | None:
    """The number ``holder`` should claim (``prefer`` when it is free, else the lowest free
    one) and the millisecond its ids must start after; None when none is free."""
    taken: set[int] = set()
    others: dict[int, float] = {}
    for number, owner, live, expires_at in rows:
        if owner == holder:
            continue  # ours still: nobody took it over, so nobody used it since
        others[number] = expires_at
        if live:
            taken.add(number)
    if prefer is not None and prefer not in taken and prefer not in exclude:
        chosen = prefer
    else:
        free = (n for n in range(MAX_INSTANCE + 1) if n not in taken and n not in exclude)
        found = next(free, None)
        if found is None:
            return None
        chosen = found
    floor = others.get(chosen)
    return chosen, 0 if floor is None else math.ceil(floor * 1000)


class StoreClaims(Protocol):
    """The claims of one store: the SQL of the table for that kind of store."""

    #: Names the database (two stores on one database have the same).
    database: str

    def claim(self, holder: str, prefer: int | None, exclude: Collection[int],
              lease: float) -> tuple[int, int] | None:
        """Claim a number (see :func:`choose`) for ``lease`` seconds, atomically; return it
        with the floor of its ids, or None when every allowed number is held."""

    def renew(self, holder: str, number: int, lease: float) -> bool:
        """Extend the lease; False when the number is no longer ``holder``'s."""

    def release(self, holder: str, number: int, last_ms: int) -> None:
        """End the lease now (not before ``last_ms``, the time of the last id made)."""

    def closed(self) -> bool:
        """True once the store is closed (its claims are gone with it)."""

    def blocks_here(self) -> bool:
        """True when waiting for the store from this thread would wait for ourselves."""


class _SQLiteClaims:
    """Claims in an SQLite store."""

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store
        self.database = f"sqlite:{os.path.realpath(store.path)}" \
            if store.path != ":memory:" else f"sqlite:memory:{id(store)}"

    def claim(self, holder: str, prefer: int | None, exclude: Collection[int],
              lease: float) -> tuple[int, int] | None:
        def claim(conn: sqlite3.Connection) -> tuple[int, int] | None:
            now = time.time()
            rows = [(int(n), str(h), float(e) > now, float(e)) for n, h, e in
                    conn.execute("SELECT number, holder, expires_at FROM instances")]
            chosen = choose(rows, holder, prefer, exclude)
            if chosen is not None:
                conn.execute("INSERT INTO instances VALUES (?, ?, ?) ON CONFLICT (number) DO "
                             "UPDATE SET holder = excluded.holder, "
                             "expires_at = excluded.expires_at", (chosen[0], holder, now + lease))
            return chosen

        result: tuple[int, int] | None = self._write(claim)
        return result

    def renew(self, holder: str, number: int, lease: float) -> bool:
        return bool(self._write(lambda conn: conn.execute(
            "UPDATE instances SET expires_at = ? WHERE number = ? AND holder = ?",
            (time.time() + lease, number, holder)).rowcount == 1))

    def release(self, holder: str, number: int, last_ms: int) -> None:
        self._write(lambda conn: conn.execute(
            "UPDATE instances SET expires_at = ? WHERE number = ? AND holder = ?",
            (max(time.time(), last_ms / 1000), number, holder)))

    def _write(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        def write(conn: sqlite3.Connection) -> Any:
            try:
                return fn(conn)
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    raise ClaimsGone(f"sqlite: {exc}") from exc
                raise

        return self.store._write(write)

    def closed(self) -> bool:
        return bool(self.store._writer._closed)

    def blocks_here(self) -> bool:
        # A job's id is drawn when the writer saves it: that thread cannot wait for itself.
        return threading.current_thread() is self.store._writer._thread


class _PostgresClaims:
    """Claims in a PostgreSQL store."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.table = f"{store.prefix}instances"
        self.database = f"postgresql:{store.conninfo}#{store.prefix}"
        digest = hashlib.sha256(f"webhook_workflow:{store.prefix}:instances".encode()).digest()
        self.lock_key = int.from_bytes(digest[:8], "big", signed=True)

    def _run(self, fn: Callable[[Any], Any]) -> Any:
        def transaction(conn: Any) -> Any:
            try:
                with conn.transaction():
                    conn.execute("SET LOCAL synchronous_commit TO on")
                    return fn(conn)
            except Exception as exc:
                if type(exc).__name__ == "UndefinedTable":  # psycopg is imported lazily
                    raise ClaimsGone(f"postgresql: {exc}") from exc
                raise

        return self.store._read(transaction)

    def claim(self, holder: str, prefer: int | None, exclude: Collection[int],
              lease: float) -> tuple[int, int] | None:
        def claim(conn: Any) -> tuple[int, int] | None:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (self.lock_key,))
            rows = [(int(n), str(h), bool(live), float(e)) for n, h, live, e in conn.execute(
                "SELECT number, holder, expires_at > clock_timestamp(), "
                f"extract(epoch FROM expires_at)::float8 FROM {self.table}").fetchall()]
            chosen = choose(rows, holder, prefer, exclude)
            if chosen is not None:
                conn.execute(
                    f"INSERT INTO {self.table} VALUES (%s, %s, clock_timestamp() + "
                    "make_interval(secs => %s)) ON CONFLICT (number) DO UPDATE SET "
                    "holder = excluded.holder, expires_at = excluded.expires_at",
                    (chosen[0], holder, float(lease)))
            return chosen

        result: tuple[int, int] | None = self._run(claim)
        return result

    def renew(self, holder: str, number: int, lease: float) -> bool:
        return bool(self._run(lambda conn: conn.execute(
            f"UPDATE {self.table} SET expires_at = clock_timestamp() + make_interval(secs => %s)"
            " WHERE number = %s AND holder = %s", (float(lease), number, holder)).rowcount == 1))

    def release(self, holder: str, number: int, last_ms: int) -> None:
        self._run(lambda conn: conn.execute(
            f"UPDATE {self.table} SET expires_at = greatest(clock_timestamp(), to_timestamp(%s))"
            " WHERE number = %s AND holder = %s", (last_ms / 1000, number, holder)))

    def closed(self) -> bool:
        return bool(self.store._closed)

    def blocks_here(self) -> bool:
        return False  # claims use the pool, never the writer threads


def claims_of(store: Store) -> StoreClaims | None:
    """The claims of a durable store, or None (the memory store and custom stores: the
    process's number is its own)."""
    if isinstance(store, SQLiteStore):
        return _SQLiteClaims(store)
    # Looked up, not imported: psycopg is optional, and a PostgresStore means it is loaded.
    postgres = sys.modules.get("webhook_workflow.store.postgres")
    if postgres is not None and isinstance(store, postgres.PostgresStore):
        return _PostgresClaims(store)
    return None
