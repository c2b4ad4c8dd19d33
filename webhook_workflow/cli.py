"""The ``webhook-workflow`` command: ``serve``, ``validate``, ``paths`` and ``run``."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from multidict import CIMultiDict

from .definition.load import DEFINITION_SUFFIXES
from .engine import Engine
from .errors import DefinitionError, StoreUnavailable
from .gateway import Acknowledgement, SyncRun
from .http.response import CoreResponse
from .runtime.records import Execution
from .runtime.status import Status, execution_status_name, status_from_value
from .variables.paths import paths_from_json, paths_from_url
from .variables.templates import json_default

__all__ = ["main"]


class UsageError(Exception):
    """A command-line mistake: printed on stderr, exit status 2."""


def _definition_files(paths: Sequence[str]) -> list[Path]:
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir()
                                if p.suffix.lower() in DEFINITION_SUFFIXES))
        elif path.exists():
            files.append(path)
        else:
            raise UsageError(f"{name}: no such file or directory")
    return files


def _read_env_file(name: str) -> dict[str, str]:
    env: dict[str, str] = {}
    try:
        lines = Path(name).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"--env-file {name}: {exc.strerror or exc}") from None
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if text.startswith("export "):
            text = text[7:].lstrip()
        key, eq, value = text.partition("=")
        if not eq or not key.strip():
            raise UsageError(f"--env-file {name}:{number}: expected NAME=value")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key.strip()] = value
    return env


def _env(args: argparse.Namespace) -> dict[str, str]:
    env: dict[str, str] = {}
    if getattr(args, "env_file", None):
        env.update(_read_env_file(args.env_file))
    for item in getattr(args, "env", None) or []:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise UsageError(f"--env {item!r}: expected NAME=value")
        env[key] = value
    return env


def _engine(args: argparse.Namespace) -> Engine:
    """The engine named by ``--app``, or a new one with ``--store`` and ``--env``."""
    env = _env(args)
    app = getattr(args, "app", None)
    if not app:
        store = getattr(args, "store", None) or "memory"
        try:
            return Engine(store, env=env)
        except ValueError as exc:
            raise UsageError(f"--store: {exc}") from None
    module_name, colon, attr = app.partition(":")
    if not colon or not attr:
        raise UsageError(f"--app {app!r}: expected module:attribute")
    sys.path.insert(0, os.getcwd())
    try:
        target: Any = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"--app {app}: {exc}") from None
    if not isinstance(target, Engine) and callable(target):
        target = target()
    if not isinstance(target, Engine):
        raise UsageError(f"--app {app}: not an Engine (nor a function returning one)")
    if env:
        target.env = {**target.env, **env}
    return target


def _load(engine: Engine, paths: Sequence[str]) -> list[Any]:
    return [engine.add_workflow(file) for file in _definition_files(paths)]


# -- commands ----------------------------------------------------------------------------------
def _located(file: Any, exc: DefinitionError) -> str:
    """``file: message`` unless the message already starts with the file's name."""
    text = str(exc)
    return text if text.startswith(str(file)) else f"{file}: {text}"


def cmd_validate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    engine = _engine(args)
    failed = False
    for file in _definition_files(args.paths):
        try:
            engine.add_workflow(file)
        except DefinitionError as exc:
            failed = True
            print(_located(file, exc), file=err)
        else:
            print(f"ok {file}", file=out)
    return 1 if failed else 0


def cmd_paths(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.url is not None:
        paths = paths_from_url(args.url)
    else:
        try:
            value = json.loads(args.body)
        except ValueError as exc:
            raise UsageError(f"--body: invalid JSON: {exc}") from None
        paths = paths_from_json(value)
    for path in paths:
        print(path, file=out)
    return 0


def cmd_run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    engine = _engine(args)
    try:
        workflow = engine.add_workflow(args.path)
    except DefinitionError as exc:
        print(_located(args.path, exc), file=err)
        return 1
    body = args.body
    if body.startswith("@"):
        try:
            body = Path(body[1:]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"--body {body}: cannot read: {exc}") from None
    headers: CIMultiDict[str] = CIMultiDict()
    for item in args.header or []:
        name, colon, value = item.partition(":")
        if not colon or not name.strip():
            raise UsageError(f"--header {item!r}: expected Name: value")
        headers.add(name.strip(), value.strip())
    data = body.encode("utf-8")
    headers.setdefault("Content-Type", "application/json")
    headers["Content-Length"] = str(len(data))
    query = (args.query or "").lstrip("?").encode("utf-8")
    engine.set_enabled(workflow.key, True)  # ``run`` exercises a file, enabled or not
    gateway = engine.gateway
    url = f"{workflow.url_path}?{query.decode()}" if query else workflow.url_path
    admitted = gateway.begin("POST", workflow.key, len(url), query, headers)
    execution: Execution | None = None
    if isinstance(admitted, CoreResponse):
        response = admitted
    elif len(data) > admitted.max_body:
        response = gateway.too_large(admitted)
    else:
        result = gateway.accept(admitted, data)
        if isinstance(result, SyncRun):
            response = result.run()
            execution = engine.get_execution(result.execution.id)
        else:
            response = result.wait() if isinstance(result, Acknowledgement) else result
            engine.drain(timeout=args.timeout)
            found = engine.executions(workflow.key, limit=1)
            execution = found[0] if found and response.status < 300 else None
    engine.close()
    answer = {"status": response.status, "headers": [list(h) for h in response.headers],
              "body": _body(response)}
    if args.format == "json":
        record = execution.to_dict() if execution is not None else None
        json.dump({"execution": record, "response": answer}, out, default=json_default,
                  ensure_ascii=False, indent=2)
        out.write("\n")
    else:
        _trace(execution, answer, out)
    return 0 if execution is not None and execution.status == Status.RESOLVED else 1


def _body(response: CoreResponse) -> Any:
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


def _trace(execution: Execution | None, answer: dict[str, Any] | None, out: TextIO,
           logs: bool = False) -> None:
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
            print(f"  {job.node_key:<{width}}  {Status(job.status).name:<9} {took:>9}  "
                  f"{_short(job.result)}", file=out)
            if logs and job.log:
                for line in job.log.rstrip().splitlines():
                    print(f"      | {line}", file=out)
        if execution.output is not None:
            print(f"output: {_short(execution.output)}", file=out)
    if answer is not None:
        print(f"response: {answer['status']} {_short(answer['body'])}", file=out)


def _store_engine(args: argparse.Namespace) -> Engine:
    """An engine on ``--store`` for reading the execution log (starts no workers)."""
    try:
        return Engine(args.store)
    except ValueError as exc:
        raise UsageError(f"--store: {exc}") from None


def cmd_executions(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    engine = _store_engine(args)
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
    engine = _store_engine(args)
    execution = engine.get_execution(args.id)
    engine.store.close()
    if execution is None:
        print(f"no execution {args.id} in {args.store}", file=err)
        return 1
    if args.format == "json":
        json.dump(execution.to_dict(), out, default=json_default, ensure_ascii=False, indent=2)
        out.write("\n")
    else:
        answer = execution.response
        if answer is not None:
            stored = CoreResponse(answer["status"], [tuple(h) for h in answer["headers"]],
                                  str(answer["body"]).encode("utf-8"))
            answer = {**answer, "body": _body(stored)}
        _trace(execution, answer, out, logs=True)
    return 0


def cmd_replay(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if not getattr(args, "app", None):
        args.store = args.store or "sqlite:///webhook-workflow.db"
    engine = _engine(args)
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
        _trace(execution, execution.response, out)
    return 0 if execution.status == Status.RESOLVED else 1


def cmd_serve(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .serve import serve

    engine = _engine(args)
    try:
        workflows = _load(engine, args.paths)
    except DefinitionError as exc:
        print(f"error: {exc}", file=err)
        return 1
    if not workflows:
        raise UsageError("no workflow definitions found")
    return serve(engine, host=args.host, port=args.port, server=args.server, out=out)


def cmd_graph(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .graph import to_mermaid

    engine = _engine(args)
    try:
        workflow = engine.add_workflow(args.path)
    except DefinitionError as exc:
        print(_located(args.path, exc), file=err)
        return 1
    out.write(to_mermaid(workflow.definition))
    return 0


# -- parser --------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="webhook-workflow",
        description="Run NocoBase-style webhook workflows.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def engine_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--app", metavar="MODULE:ATTR",
                       help="an Engine (or a function returning one) to start from")
        p.add_argument("--env", action="append", metavar="NAME=VALUE",
                       help="a value templates see as $env.NAME (repeatable)")
        p.add_argument("--env-file", metavar="FILE", help="NAME=value lines for $env")

    p = sub.add_parser("serve", help="serve workflows over HTTP")
    p.add_argument("paths", nargs="+", metavar="PATH", help="definition file or folder")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=13000)
    p.add_argument("--store", default="sqlite:///webhook-workflow.db",
                   help="store URL: sqlite:///path.db (default: sqlite:///webhook-workflow.db) "
                   "or memory")
    p.add_argument("--server", choices=("threaded", "uvicorn"), default="threaded",
                   help="threaded: stdlib server (default); uvicorn: needs the [server] extra")
    engine_options(p)
    p.set_defaults(func=cmd_serve)

    default_store = "sqlite:///webhook-workflow.db"
    p = sub.add_parser("executions", help="list recorded executions, newest first")
    p.add_argument("--store", default=default_store, help=f"store URL (default: {default_store})")
    p.add_argument("--workflow", metavar="KEY", help="only this workflow")
    p.add_argument("--status", metavar="S", help="a status name or number, or 'queued'")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_executions)

    p = sub.add_parser("execution", help="show one execution, node by node")
    p.add_argument("id", metavar="ID")
    p.add_argument("--store", default=default_store, help=f"store URL (default: {default_store})")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_execution)

    p = sub.add_parser("replay", help="run a recorded execution's context again")
    p.add_argument("id", metavar="ID")
    p.add_argument("--store", default=default_store, help=f"store URL (default: {default_store})")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--timeout", type=float, default=30.0,
                   help="seconds to wait for an async workflow (default 30)")
    engine_options(p)
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("validate", help="check definition files")
    p.add_argument("paths", nargs="+", metavar="PATH")
    engine_options(p)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("paths", help="list variable paths of a sample URL or JSON body")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--url", help="a sample URL or query string")
    group.add_argument("--body", help="a sample JSON body")
    p.set_defaults(func=cmd_paths)

    p = sub.add_parser("run", help="run one workflow on a request, in process")
    p.add_argument("path", metavar="PATH", help="definition file")
    p.add_argument("--body", default="{}", help="JSON body (or @file)")
    p.add_argument("--query", help="query string, e.g. 'source=shop&x=1'")
    p.add_argument("--header", action="append", metavar="NAME:VALUE")
    p.add_argument("--format", choices=("json", "text"), default="json")
    p.add_argument("--timeout", type=float, default=30.0,
                   help="seconds to wait for an async workflow (default 30)")
    engine_options(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("graph", help="print a workflow as a Mermaid flowchart")
    p.add_argument("path", metavar="PATH", help="definition file")
    engine_options(p)
    p.set_defaults(func=cmd_graph)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None,
         err: TextIO | None = None) -> int:
    """Run the command line; return the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args, out, err))
    except UsageError as exc:
        print(f"webhook-workflow {args.command}: {exc}", file=err)
        return 2
    except StoreUnavailable as exc:
        print(f"webhook-workflow {args.command}: the store is unavailable: {exc}", file=err)
        return 1
