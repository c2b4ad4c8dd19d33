"""The console at a million executions: list and execution pages, SQLite and PostgreSQL.

``python -m bench.console [--count 1000000] [--repeat 30] [--postgres URL] [--no-postgres]``
fills a store with ``--count`` executions (five workflows, statuses mostly RESOLVED with
some FAILED, ERROR, queued and waiting ones, spread over 30 days, two jobs each), written by
the database itself from a number series (seconds, not minutes), then times the console's
sans-IO core answering each page ``--repeat`` times: the rendered HTML, store reads
included, as a door would serve it. PostgreSQL is the URL given, else
``WEBHOOK_WORKFLOW_TEST_POSTGRES``, under a table prefix of its own that is dropped after.

It also measures what the indexes the pages need cost a webhook: ``store.add`` of queued
executions per second with the migrations' indexes and with the page indexes dropped, and
checks that serving webhooks imports nothing of the console. Figures, not assertions.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from webhook_workflow import Engine, Execution
from webhook_workflow.console import Console, ConsoleRequest

TOKEN = "bench-console-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}
DAYS = 30
#: The indexes the pages added (migration 9 of both stores), dropped to see what they cost.
PAGE_INDEXES = ("executions_by_created", "executions_by_key_created",
                "executions_by_status_created", "executions_by_key_status_created",
                "executions_by_replay")

# Status by x % 100: 1 FAILED, 1 ERROR, 1 queued, 1 waiting, the rest RESOLVED.
_STATUS = ("CASE x % 100 WHEN 0 THEN -1 WHEN 1 THEN -2 WHEN 2 THEN NULL WHEN 3 THEN 0 "
           "ELSE 1 END")


def _sqlite_fill(path: Path, count: int) -> None:
    import sqlite3

    from webhook_workflow.store.sqlite import SQLiteStore

    SQLiteStore(str(path)).close()  # the schema, by the store's own migrations
    conn = sqlite3.connect(path)
    now = time.time()
    step = DAYS * 86400 / count
    series = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
              f"WHERE x < {count})")
    with conn:
        conn.execute(
            f"{series} INSERT INTO executions (id, workflow_key, version, status, sync, "
            "context, created_at, started_at, finished_at, reason) "
            f"SELECT printf('%018d', 700000000000000000 + x), 'w' || (x % 5), 1, {_STATUS}, "
            "0, '{\"headers\":{},\"query\":{},\"body\":{\"order\":' || x || '}}', "
            f"{now} - ({count} - x) * {step}, {now} - ({count} - x) * {step}, "
            f"CASE WHEN x % 100 IN (2, 3) THEN NULL ELSE {now} - ({count} - x) * {step} "
            "+ 0.004 END, CASE WHEN x % 100 IN (0, 1) THEN 'node:b' END FROM c")
        conn.execute(
            f"{series} INSERT INTO jobs (id, execution_id, node_key, status, result, meta, "
            "started_at, finished_at) "
            "SELECT printf('%018d', 800000000000000000 + 2 * x + n), "
            "printf('%018d', 700000000000000000 + x), CASE n WHEN 0 THEN 'a' ELSE 'b' END, "
            "CASE WHEN n = 1 AND x % 100 = 0 THEN -1 WHEN n = 1 AND x % 100 = 1 THEN -2 "
            "ELSE 1 END, '{\"n\":' || n || '}', '{\"seq\":' || n || '}', "
            f"{now} - ({count} - x) * {step} + n * 0.002, "
            f"{now} - ({count} - x) * {step} + n * 0.002 + 0.002 "
            "FROM c, (SELECT 0 AS n UNION ALL SELECT 1)")
    conn.execute("ANALYZE")
    conn.close()


def _postgres_fill(url: str, count: int) -> None:
    import psycopg

    from webhook_workflow.store.postgres import PostgresStore, parse_url

    PostgresStore.from_url(url).close()  # the schema, by the store's own migrations
    conninfo, options = parse_url(url)
    p = options.get("prefix", "")
    step = DAYS * 86400 / count
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            f"INSERT INTO {p}executions (id, workflow_key, version, status, sync, context, "
            "created_at, started_at, finished_at, reason) "
            "SELECT (700000000000000000 + x)::text, 'w' || (x % 5), 1, "
            f"({_STATUS})::smallint, false, "
            "json_build_object('headers', '{}'::json, 'query', '{}'::json, 'body', "
            "json_build_object('order', x)), "
            f"now() - ({count} - x) * interval '{step} seconds', "
            f"now() - ({count} - x) * interval '{step} seconds', "
            "CASE WHEN x % 100 IN (2, 3) THEN NULL ELSE now() - "
            f"({count} - x) * interval '{step} seconds' + interval '4 ms' END, "
            "CASE WHEN x % 100 IN (0, 1) THEN 'node:b' END "
            f"FROM generate_series(1, {count}) x")
        conn.execute(
            f"INSERT INTO {p}jobs (id, execution_id, node_key, status, result, meta, "
            "started_at, finished_at) "
            "SELECT (800000000000000000 + 2 * x + n)::text, (700000000000000000 + x)::text, "
            "CASE n WHEN 0 THEN 'a' ELSE 'b' END, "
            "CASE WHEN n = 1 AND x % 100 = 0 THEN -1 WHEN n = 1 AND x % 100 = 1 THEN -2 "
            "ELSE 1 END, json_build_object('n', n), json_build_object('seq', n), "
            f"now() - ({count} - x) * interval '{step} seconds', "
            f"now() - ({count} - x) * interval '{step} seconds' + interval '2 ms' "
            f"FROM generate_series(1, {count}) x, generate_series(0, 1) n")
        conn.execute(f"VACUUM ANALYZE {p}executions")
        conn.execute(f"VACUUM ANALYZE {p}jobs")


def _time(call: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Median and 95th percentile of ``call`` in milliseconds (after one warm-up)."""
    call()
    took = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        took.append((time.perf_counter() - start) * 1000)
    took.sort()
    return statistics.median(took), took[min(len(took) - 1, int(len(took) * 0.95))]


def pages(console: Console, count: int) -> list[tuple[str, str]]:
    """The requests timed: ``(what, path?query)``."""
    newest = f"{700000000000000000 + count}"
    deep = f"{700000000000000000 + count // 2}"
    return [
        ("list, newest", "/"),
        ("list, status FAILED", "/?status=failed"),
        ("list, workflow w3", "/?workflow=w3"),
        ("list, workflow w1 and ERROR", "/?workflow=w1&status=error"),
        ("list, last 24 hours", "/?since=24h"),
        ("list, a 1-hour window 10 days ago", f"/?since={time.time() - 10 * 86400}"
                                               f"&until={time.time() - 10 * 86400 + 3600}"),
        ("list, page after the middle (keyset)", f"/?before={deep}"),
        ("list, FAILED after the middle", f"/?status=failed&before={deep}"),
        ("list, by id", f"/?q={deep}"),
        ("API list, newest 50", "/api/executions"),
        ("execution page", f"/executions/{newest}"),
        ("execution page, a FAILED one", f"/executions/{700000000000000000 + count - 100}"),
        ("API execution", f"/api/executions/{deep}"),
        ("workflows, 24 h counts", "/workflows"),
    ]


def measure(store: Any, count: int, repeat: int) -> list[tuple[str, float, float]]:
    """Each page's median and p95 (ms)."""
    engine = Engine(store)
    console = Console(engine, token=TOKEN)
    out = []
    try:
        for what, target in pages(console, count):
            path, _, query = target.partition("?")
            request = ConsoleRequest("GET", path, query, AUTH)
            answer = console.handle(request)
            assert answer.status == 200, (what, answer.status, answer.body[:300])
            median, p95 = _time(lambda r=request: console.handle(r), repeat)
            out.append((what, median, p95))
    finally:
        engine.close()
    return out


def add_rate(make: Callable[[], Any], drop: Callable[[Any], None] | None,
             batched: bool = False) -> float:
    """Queued executions added per second (indexes dropped first by ``drop``): ``store.add``
    one commit each, or ``add_later`` with many in flight (committed in batches, as the
    webhook path does under load)."""
    store = make()
    n = 9000 if batched else 3000  # under the queue's bound of 10 000
    try:
        if drop is not None:
            drop(store)
        executions = [Execution("w0", 1, {"body": {"n": i}}) for i in range(n)]
        start = time.perf_counter()
        if batched:
            for future in [store.add_later(e) for e in executions]:
                future.result()
        else:
            for execution in executions:
                store.add(execution)
        return n / (time.perf_counter() - start)
    finally:
        store.close()


def _drop_sqlite(store: Any) -> None:
    for name in PAGE_INDEXES:
        store.pragma(f"DROP INDEX IF EXISTS {name}")


def webhooks_import_no_console() -> bool:
    """Whether serving webhooks through both doors leaves the console unimported."""
    import subprocess

    code = ("import sys; from webhook_workflow import Engine; "
            "from webhook_workflow.asgi import WebhookMiddleware as A; "
            "from webhook_workflow.wsgi import WebhookMiddleware as W; "
            "e = Engine(); A(engine=e); W(engine=e); "
            "print(any(m.startswith('webhook_workflow.console') for m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    return done.stdout.strip() == "False"


@contextmanager
def _postgres(url: str) -> Iterator[str]:
    from webhook_workflow.store.postgres import drop_tables

    prefixed = f"{url}{'&' if '?' in url else '?'}prefix=bench{uuid.uuid4().hex[:8]}_"
    try:
        yield prefixed
    finally:
        drop_tables(prefixed)


def _table(title: str, rows: list[tuple[str, float, float]]) -> str:
    lines = [f"### {title}", "", "| page | median ms | p95 ms |", "|---|---:|---:|"]
    lines += [f"| {what} | {median:.1f} | {p95:.1f} |" for what, median, p95 in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print Markdown tables."""
    parser = argparse.ArgumentParser(prog="python -m bench.console")
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--postgres", default=os.environ.get("WEBHOOK_WORKFLOW_TEST_POSTGRES"))
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args(argv)
    print(f"# The console at {args.count:,} executions\n")
    from webhook_workflow.store.sqlite import SQLiteStore

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "store.db"
        start = time.perf_counter()
        _sqlite_fill(path, args.count)
        print(f"SQLite filled in {time.perf_counter() - start:.1f} s\n")
        print(_table("SQLite", measure(SQLiteStore(str(path)), args.count, args.repeat)))
        # Interleaved, the best of three each: the machine is shared and noisy.
        for batched in (False, True):
            rates: dict[bool, list[float]] = {True: [], False: []}
            for i in range(3):
                for indexed in (True, False):
                    db = Path(folder) / f"add-{batched}-{indexed}-{i}.db"
                    rates[indexed].append(add_rate(lambda db=db: SQLiteStore(str(db)),
                                                   None if indexed else _drop_sqlite,
                                                   batched))
            with_indexes, without = max(rates[True]), max(rates[False])
            how = "add_later, in batches" if batched else "store.add, one commit each"
            print(f"SQLite {how}: {with_indexes:,.0f}/s with the page indexes, "
                  f"{without:,.0f}/s without them ({with_indexes / without:.2f} times)\n")
    if args.postgres and not args.no_postgres:
        from webhook_workflow.store.postgres import PostgresStore

        with _postgres(args.postgres) as url:
            start = time.perf_counter()
            _postgres_fill(url, args.count)
            print(f"PostgreSQL filled in {time.perf_counter() - start:.1f} s\n")
            print(_table("PostgreSQL", measure(PostgresStore.from_url(url), args.count,
                                               args.repeat)))
    print(f"Serving webhooks imports the console: {not webhooks_import_no_console()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
