"""An engine for the durability tests' server processes.

Its ``record`` node appends ``<execution id> <node key>`` to the file named by
``WW_RECORD_FILE`` (one line per run of the node), so a test can count how often each
execution really ran; its ``flaky`` node records its run too and fails its first
``config.fails`` runs in each execution; its ``pause`` node sleeps ``config.seconds`` (a sync
run that takes a while); ``WW_LEASE`` sets the lease (seconds).
"""

from __future__ import annotations

import os
import time
from typing import Any

from webhook_workflow import Engine, NodeContext


def record(config: dict[str, Any], ctx: NodeContext) -> str:
    line = f"{ctx.execution_id} {ctx.node_key}\n"
    # O_APPEND writes of one short line are atomic, also across processes.
    fd = os.open(os.environ["WW_RECORD_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
    return ctx.execution_id


def flaky(config: dict[str, Any], ctx: NodeContext) -> int:
    """Record this run, then fail while this node has run at most ``config.fails`` times
    in this execution (counted in the record file, so across processes)."""
    record(config, ctx)
    mine = f"{ctx.execution_id} {ctx.node_key}"
    with open(os.environ["WW_RECORD_FILE"]) as lines:
        count = sum(line.strip() == mine for line in lines)
    if count <= int(config.get("fails", 0)):
        raise RuntimeError(f"run {count} fails")
    return count


def pause(config: dict[str, Any], ctx: NodeContext) -> None:
    time.sleep(float(config.get("seconds", 0.1)))


def make() -> Engine:
    engine = Engine(os.environ["WW_STORE"], lease=float(os.environ.get("WW_LEASE", "30")),
                    workers=int(os.environ.get("WW_WORKERS", "4")))
    engine.register_node("record", record)
    engine.register_node("pause", pause)
    engine.register_node("flaky", flaky)
    return engine
