"""The ``webhook-workflow`` command: its parser and the serve, validate, paths, run, graph commands.

The execution-log commands are in :mod:`.cli_log`."""

from __future__ import annotations

import argparse
import errno
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from . import __version__, cli_args
from .cli_check import cmd_validate, compiled_or_report, located
from .cli_common import UsageError, definition_files, engine_from_args, env_from_args
from .cli_log import (
    cmd_execution,
    cmd_executions,
    cmd_recover,
    cmd_replay,
    cmd_resume,
    cmd_retry,
    response_body,
    trace,
)
from .engine import Engine
from .errors import DefinitionError, StoreUnavailable
from .gateway import Acknowledgement, SyncRun
from .http.headers import headers_from_pairs
from .http.querystring import paths_from_url
from .http.response import CoreResponse
from .jsoncodec import json_default
from .records import Execution
from .status import Status
from .variables.paths import paths_from_json

__all__ = ["main"]


# -- commands ----------------------------------------------------------------------------------
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


def _registered(args: argparse.Namespace, err: TextIO) -> tuple[Engine, Any] | None:
    """The engine of the command line and the workflow of ``args.path`` registered in it;
    None (after saying why on ``err``) when the definition is invalid."""
    engine = engine_from_args(args)
    try:
        return engine, engine.add_workflow(args.path)
    except DefinitionError as exc:
        print(located(args.path, exc), file=err)
        return None


def cmd_run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    registered = _registered(args, err)
    if registered is None:
        return 1
    engine, workflow = registered
    body = args.body
    if body.startswith("@"):
        try:
            body = Path(body[1:]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"--body {body}: cannot read: {exc}") from None
    pairs: list[tuple[str, str]] = []
    for item in args.header or []:
        name, colon, value = item.partition(":")
        if not colon or not name.strip():
            raise UsageError(f"--header {item!r}: expected Name: value")
        if name.strip().lower() != "content-length":
            pairs.append((name.strip(), value.strip()))
    data = body.encode("utf-8")
    if not any(name.lower() == "content-type" for name, _ in pairs):
        pairs.append(("Content-Type", "application/json"))
    pairs.append(("Content-Length", str(len(data))))
    headers = headers_from_pairs(pairs)
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
              "body": response_body(response)}
    if args.format == "json":
        record = execution.to_dict() if execution is not None else None
        json.dump({"execution": record, "response": answer}, out, default=json_default,
                  ensure_ascii=False, indent=2)
        out.write("\n")
    else:
        trace(execution, answer, out)
    return 0 if execution is not None and execution.status == Status.RESOLVED else 1


def _listen_error(host: str, port: int, exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return f"{host}:{port} is already in use"
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return f"cannot listen on {host}:{port}: {reason}"


def cmd_serve(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from . import serve as serving
    from .serve import serve

    files = definition_files(args.paths)
    if not files:
        raise UsageError("no workflow definitions found")
    try:
        serving.check_observability(args)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    # Every definition compiles before the store is opened: a bad file leaves no database
    # (nor -wal/-shm files) behind. Without --app no custom node types exist, so a memory
    # engine with the same env judges the files exactly as the real one.
    app = getattr(args, "app", None)
    if not app and compiled_or_report(Engine(env=env_from_args(args)), files, err) is None:
        return 1
    engine = engine_from_args(args)
    # Warned of once: by the first pass, or here when --app skipped it.
    if compiled_or_report(engine, files, err, warn=bool(app)) is None:
        engine.close()
        return 1
    serving.observe_engine(engine, args)
    try:
        return serve(engine, host=args.host, port=args.port, server=args.server, out=out,
                     read_timeout=args.read_timeout, max_connections=args.max_connections,
                     grace=args.grace, metrics_path=args.metrics, log_format=args.log_format,
                     **serving.console_options(args))
    except (OSError, OverflowError) as exc:  # binding the listening socket
        engine.close()
        raise UsageError(_listen_error(args.host, args.port, exc)) from None


def cmd_migrate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if not args.store.startswith(("postgresql:", "postgres:")):
        raise UsageError("--store: migrate manages PostgreSQL schemas (postgresql://...); "
                         "the SQLite store migrates itself when it is opened")
    try:
        from .store.postgres import migrate
    except ImportError:
        raise UsageError("the PostgreSQL store needs: pip install "
                         "'webhook-workflow[postgres]'") from None
    try:
        print(migrate(args.store), file=out)
    except ValueError as exc:
        raise UsageError(f"--store: {exc}") from None
    return 0


class _AnyEnv(dict[str, Any]):
    """``$env`` for drawing: names not given read as a placeholder. Compiling a credential
    written as ``{{$env.NAME}}`` needs its value, but drawing needs no secrets."""

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key, "unset-in-graph")

    def __bool__(self) -> bool:  # compile reads ``env or {}``: an empty one must still answer
        return True


def cmd_graph(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .graph import to_mermaid

    engine = engine_from_args(args)
    engine.env = _AnyEnv(engine.env)
    try:
        workflow = engine.add_workflow(args.path)
    except DefinitionError as exc:
        print(located(args.path, exc), file=err)
        return 1
    out.write(to_mermaid(workflow.definition))
    return 0


# -- parser --------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="webhook-workflow",
        description="Run NocoBase-style webhook workflows.",
        epilog="exit status: 0 success; 1 a run or definition failed, or the store is "
        "unavailable; 2 a usage mistake (see docs/cli.md)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def engine_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--app", metavar="MODULE:ATTR",
                       help="an Engine (or a function returning one) to start from "
                       "(default: a new Engine)")
        p.add_argument("--env", action="append", metavar="NAME=VALUE",
                       help="a value templates see as $env.NAME (repeatable; default: none)")
        p.add_argument("--env-file", metavar="FILE",
                       help="NAME=value lines for $env (default: none)")
        p.add_argument("--public-url", metavar="URL",
                       help="public base URL of resume URLs, e.g. https://hooks.example.com "
                       "(default: where each webhook was served)")

    p = sub.add_parser("serve", help="serve workflows over HTTP")
    p.add_argument("paths", nargs="+", metavar="PATH", help="definition file or folder")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on "
                   "(default: %(default)s)")
    p.add_argument("--port", type=cli_args.port, default=13000,
                   help="port to listen on, 0 for any free one (default: %(default)s)")
    p.add_argument("--store", default="sqlite:///webhook-workflow.db",
                   help="store URL: sqlite:///path.db (default: sqlite:///webhook-workflow.db) "
                   "or memory")
    p.add_argument("--server", choices=("threaded", "uvicorn"), default="threaded",
                   help="threaded: stdlib server (default); uvicorn: needs the [server] extra")
    from . import serve as serving  # the serve options' types and defaults

    p.add_argument("--read-timeout", type=cli_args.seconds, default=serving.DEFAULT_READ_TIMEOUT,
                   metavar="SECONDS", help="threaded: seconds a request head (and each part "
                   "of a body) may take to arrive, else 408 (default: %(default)g)")
    p.add_argument("--max-connections", type=cli_args.slots,
                   default=serving.DEFAULT_MAX_CONNECTIONS, metavar="N",
                   help="connections served at once; more get 503 (default: %(default)d)")
    p.add_argument("--grace", type=cli_args.seconds, default=serving.DEFAULT_GRACE,
                   metavar="SECONDS", help="on SIGTERM/Ctrl+C, seconds for requests in "
                   "progress and runs to finish (default: %(default)g)")
    serving.add_observability(p)
    serving.add_console(p)
    engine_options(p)
    p.set_defaults(func=cmd_serve)

    default_store = "sqlite:///webhook-workflow.db"
    p = sub.add_parser("executions", help="list recorded executions, newest first")
    p.add_argument("--store", default=default_store, help=f"store URL (default: {default_store})")
    p.add_argument("--workflow", metavar="KEY", help="only this workflow (default: all)")
    p.add_argument("--status", metavar="S", help="a status name or number, or 'queued' "
                   "(default: all)")
    p.add_argument("--limit", type=cli_args.count, default=50, metavar="N",
                   help="at most this many executions (default: %(default)s)")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="output format (default: %(default)s)")
    p.set_defaults(func=cmd_executions)

    p = sub.add_parser("execution", help="show one execution, node by node")
    p.add_argument("id", metavar="ID", help="the execution's id")
    p.add_argument("--store", default=default_store, help=f"store URL (default: {default_store})")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="output format (default: %(default)s)")
    p.set_defaults(func=cmd_execution)

    p = sub.add_parser("replay", help="run a recorded execution's context again")
    p.add_argument("id", metavar="ID", help="the execution's id")
    p.add_argument("--store", default=default_store, help=f"store URL (default: {default_store})")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="output format (default: %(default)s)")
    p.add_argument("--timeout", type=cli_args.seconds, default=30.0, metavar="SECONDS",
                   help="seconds to wait for an async workflow (default: %(default)g)")
    engine_options(p)
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("retry", help="retry a failed execution from the node that failed")
    p.add_argument("id", metavar="ID", help="the execution's id")
    p.add_argument("--store", default=default_store, help=f"store URL (default: {default_store})")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="output format (default: %(default)s)")
    p.add_argument("--timeout", type=cli_args.seconds, default=30.0, metavar="SECONDS",
                   help="seconds to wait for it to end; 0 = do not wait (default: %(default)g)")
    engine_options(p)
    p.set_defaults(func=cmd_retry)

    p = sub.add_parser("recover", help="retry every failed execution that matches, once")
    p.add_argument("--store", default=default_store, help=f"store URL (default: {default_store})")
    p.add_argument("--workflow", metavar="KEY", help="only this workflow (default: all)")
    p.add_argument("--status", metavar="S", action="append", help="a final status to retry: "
                   "FAILED, ERROR or ABORTED; repeat for more (default: all three)")
    p.add_argument("--since", type=cli_args.moment, metavar="WHEN", help="only executions "
                   "that came in since WHEN: 30m, 2h, 7d ago, or an ISO 8601 time")
    p.add_argument("--until", type=cli_args.moment, metavar="WHEN",
                   help="only executions that came in before WHEN (same forms)")
    p.add_argument("--limit", type=cli_args.count, default=1000, metavar="N",
                   help="at most this many (default: %(default)s)")
    p.add_argument("--dry-run", action="store_true", help="list them, retry none")
    engine_options(p)
    p.set_defaults(func=cmd_recover)

    p = sub.add_parser("resume", help="call back a waiting callback node by hand")
    p.add_argument("target", metavar="URL_OR_TOKEN", help="its resume URL, or the token at "
                   "the end of it")
    p.add_argument("--data", default="{}", help="the JSON body of the callback (default: "
                   "%(default)s)")
    p.add_argument("--store", default=default_store, help=f"store URL (default: {default_store})")
    engine_options(p)
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("validate", help="check definition files")
    p.add_argument("paths", nargs="+", metavar="PATH", help="definition file or folder")
    engine_options(p)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("paths", help="list variable paths of a sample URL or JSON body")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--url", help="a sample URL or query string (this or --body)")
    group.add_argument("--body", help="a sample JSON body (this or --url)")
    p.set_defaults(func=cmd_paths)

    p = sub.add_parser("run", help="run one workflow on a request, in process")
    p.add_argument("path", metavar="PATH", help="definition file")
    p.add_argument("--body", default="{}", help="JSON body, or @file (default: %(default)s)")
    p.add_argument("--query", help="query string, e.g. 'source=shop&x=1' (default: none)")
    p.add_argument("--header", action="append", metavar="NAME:VALUE",
                   help="a request header (repeatable; default: Content-Type: "
                   "application/json)")
    p.add_argument("--format", choices=("json", "text"), default="json",
                   help="output format (default: %(default)s)")
    p.add_argument("--timeout", type=cli_args.seconds, default=30.0, metavar="SECONDS",
                   help="seconds to wait for an async workflow (default: %(default)g)")
    engine_options(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("migrate", help="create or update a PostgreSQL store's schema")
    p.add_argument("--store", required=True,
                   help="postgresql://user@host/db[?prefix=ww_] (required)")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("graph", help="print a workflow as a Mermaid flowchart")
    p.add_argument("path", metavar="PATH", help="definition file")
    engine_options(p)
    p.set_defaults(func=cmd_graph)

    from .definition.schema import cmd_schema  # the schema of definitions, from their tables

    p = sub.add_parser("schema", help="print the JSON Schema of workflow definitions")
    p.set_defaults(func=cmd_schema)
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
