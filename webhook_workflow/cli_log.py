"""The execution-log subcommands (executions ... retry, recover, resume), and run traces.

The readable trace of a run is the one ``run --format text`` prints too."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any, TextIO

from .cli_common import UsageError, engine_from_args, store_engine
from .errors import DefinitionError, NotRetryable, RequestRejected
from .http.response import CoreResponse
from .jsoncodec import json_default
from .records import Execution
from .resume import resume_by_hand, waiting_callbacks
from .status import Status, execution_status_name, status_from_value, status_name

__all__ = ["cmd_execution", "cmd_executions", "cmd_recover", "cmd_replay", "cmd_resume",
           "cmd_retry", "response_body", "trace"]


def response_body(response: CoreResponse) -> Any:
    """An answer's body: parsed when it is JSON, else text."""
    text = response.body.decode("utf-8", "replace")
    content_type = next((v for n, v in response.headers if n.lower() == "content-type"), "")
    if "json" in content_type:
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _short(value: Any, width: int = 60) -> str:
    text = json.dumps(value, default=json_default, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= width else text[: width - 1] + "…"


def trace(execution: Execution | None, answer: dict[str, Any] | None, out: TextIO,
          logs: bool = False) -> None:
    """A readable account of a run: node by node, then the output and the answer."""
    if execution is None:
        print("no execution (the request was refused)", file=out)
    else:
        status = execution_status_name(execution.status)
        took = ""
        if execution.started_at and execution.finished_at:
            ms = (execution.finished_at - execution.started_at).total_seconds() * 1000
            took = f" in {ms:.1f} ms"
        print(f"execution {execution.id}  {execution.workflow_key} v{execution.version}  "
              f"{status}{took}", file=out)
        width = max((len(j.node_key) for j in execution.jobs), default=4)
        print(f"  context: {_short(execution.context, 100)}", file=out)
        for job in execution.jobs:
            took = ""
            if job.started_at and job.finished_at:
                took = f"{(job.finished_at - job.started_at).total_seconds() * 1000:.1f} ms"
            # A failure's message is the reason to look: shown whole, never cut.
            failed = job.status in (Status.FAILED, Status.ERROR)
            result = _short(job.result, 1 << 62) if failed else _short(job.result)
            print(f"  {job.node_key:<{width}}  {status_name(job.status):<9} {took:>9}  "
                  f"{result}", file=out)
            if logs and job.log:
                for line in job.log.rstrip().splitlines():
                    print(f"      | {line}", file=out)
        if execution.output is not None:
            print(f"output: {_short(execution.output)}", file=out)
    if answer is not None:
        print(f"response: {answer['status']} {_short(answer['body'])}", file=out)


def stored_answer(execution: Execution) -> dict[str, Any] | None:
    """A recorded execution's stored answer, its body parsed as ``run`` shows a live one."""
    answer = execution.response
    if answer is None:
        return None
    stored = CoreResponse(answer["status"], [tuple(h) for h in answer["headers"]],
                          str(answer["body"]).encode("utf-8"))
    return {**answer, "body": response_body(stored)}


def cmd_executions(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    engine = store_engine(args.store)
    status: Any = args.status
    if status is not None and status.lower() != "queued":
        try:
            status = status_from_value(status)
        except ValueError as exc:
            raise UsageError(f"--status: {exc}") from None
    elif status is not None:
        status = "queued"
    rows = engine.executions(args.workflow, status=status, limit=args.limit)
    if args.format == "json":
        json.dump([r.to_dict() for r in rows], out, default=json_default, ensure_ascii=False,
                  indent=2)
        out.write("\n")
    else:
        for row in rows:
            took = ""
            if row.started_at and row.finished_at:
                took = f"{(row.finished_at - row.started_at).total_seconds() * 1000:.0f} ms"
            print(f"{row.id}  {row.created_at:%Y-%m-%d %H:%M:%S}  {row.workflow_key} "
                  f"v{row.version}  {execution_status_name(row.status):<8} "
                  f"{'sync' if row.sync else 'async'}  {len(row.jobs)} jobs  {took}".rstrip(),
                  file=out)
    engine.store.close()
    return 0


def cmd_execution(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    engine = store_engine(args.store)
    execution = engine.get_execution(args.id)
    callbacks = [] if execution is None else waiting_callbacks(engine, execution)
    engine.store.close()
    if execution is None:
        print(f"no execution {args.id} in {args.store}", file=err)
        return 1
    if args.format == "json":
        json.dump(execution.to_dict(), out, default=json_default, ensure_ascii=False, indent=2)
        out.write("\n")
    else:
        trace(execution, stored_answer(execution), out, logs=True)
        for key, url, left in callbacks:
            print(f"waiting at {key} for a callback to {url} ({left:.0f} s left)", file=out)
    return 0


def cmd_replay(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if not getattr(args, "app", None):
        args.store = args.store or "sqlite:///webhook-workflow.db"
    engine = engine_from_args(args, must_exist=True)
    try:
        execution = engine.replay(args.id)
    except KeyError as exc:
        print(f"cannot replay {args.id}: {exc.args[0]} is not in the store", file=err)
        engine.close()
        return 1
    except DefinitionError as exc:
        print(f"cannot replay {args.id}: its workflow does not compile here: {exc}", file=err)
        engine.close()
        return 1
    if execution.status is None:
        engine.drain(timeout=args.timeout)
        execution = engine.get_execution(execution.id) or execution
    engine.close()
    if args.format == "json":
        json.dump(execution.to_dict(), out, default=json_default, ensure_ascii=False, indent=2)
        out.write("\n")
    else:
        trace(execution, stored_answer(execution), out)
    return 0 if execution.status == Status.RESOLVED else 1




def _settled(engine: Any, execution: Execution, timeout: float) -> Execution:
    """The execution once it ended (run here, or by any process on the store), or as it is
    after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not execution.finished and time.monotonic() < deadline:
        engine.drain(timeout=min(0.5, max(0.0, deadline - time.monotonic())))
        execution = engine.get_execution(execution.id) or execution
        if not execution.finished:
            time.sleep(0.05)
    return execution


def cmd_retry(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if not getattr(args, "app", None):
        args.store = args.store or "sqlite:///webhook-workflow.db"
    engine = engine_from_args(args, must_exist=True)
    try:
        execution = engine.retry(args.id)
    except KeyError:
        print(f"cannot retry {args.id}: no such execution in the store", file=err)
        engine.close()
        return 1
    except NotRetryable as exc:
        print(f"cannot retry {args.id}: {exc}", file=err)
        engine.close()
        return 1
    if args.timeout:
        execution = _settled(engine, execution, args.timeout)
    engine.close()
    if args.format == "json":
        json.dump(execution.to_dict(), out, default=json_default, ensure_ascii=False, indent=2)
        out.write("\n")
    else:
        trace(execution, stored_answer(execution), out)
    if not args.timeout:
        return 0
    return 0 if execution.status == Status.RESOLVED else 1


def cmd_recover(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if not getattr(args, "app", None):
        args.store = args.store or "sqlite:///webhook-workflow.db"
    engine = engine_from_args(args, must_exist=True)
    try:
        statuses = [status_from_value(s) for s in (args.status or
                                                   ["FAILED", "ERROR", "ABORTED"])]
        ids = engine.recover(workflow_key=args.workflow, statuses=statuses, since=args.since,
                             until=args.until, limit=args.limit, dry_run=args.dry_run)
    except ValueError as exc:
        engine.close()
        raise UsageError(f"--status: {exc}") from None
    engine.close()
    for ident in ids:
        print(ident, file=out)
    verb = "would retry" if args.dry_run else "retried"
    print(f"{verb} {len(ids)} execution{'' if len(ids) == 1 else 's'}", file=err)
    return 0


def cmd_resume(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if not getattr(args, "app", None):
        args.store = args.store or "sqlite:///webhook-workflow.db"
    try:
        data = json.loads(args.data)
    except ValueError as exc:
        raise UsageError(f"--data: not JSON: {exc}") from None
    engine = engine_from_args(args, must_exist=True)
    try:
        execution_id, node_key = resume_by_hand(engine, args.target, data)
    except RequestRejected as exc:
        print(f"cannot resume: {exc.message} ({exc.status})", file=err)
        return 1
    finally:
        engine.close()
    print(f"called back node {node_key} of execution {execution_id}", file=out)
    return 0

