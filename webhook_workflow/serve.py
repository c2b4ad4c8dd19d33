"""``webhook-workflow serve``: the built-in HTTP/1.1 server (:mod:`.http_server`), or uvicorn."""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from . import cli_args
from .asgi import route_path
from .console import Console, ConsoleRequest
from .engine import Engine
from .http.headers import RequestHeaders
from .http.response import CoreResponse
from .http_server import DEFAULT_MAX_CONNECTIONS, DEFAULT_READ_TIMEOUT, Server, listen
from .logs import JsonFormatter, fields
from .runs import current_execution

__all__ = ["CONSOLE_TOKEN_VARIABLE", "DEFAULT_GRACE", "DEFAULT_MAX_CONNECTIONS",
           "DEFAULT_READ_TIMEOUT", "LOG_FORMATS", "add_console", "add_observability",
           "check_observability", "console_options", "observe_engine", "serve"]

#: The variable ``--console`` reads the console's token from when ``--console-token`` is
#: not given (a token on the command line shows in ``ps``).
CONSOLE_TOKEN_VARIABLE = "WEBHOOK_WORKFLOW_CONSOLE_TOKEN"

#: The values of ``--log-format``.
LOG_FORMATS = ("text", "json")

DEFAULT_GRACE = 30.0


def add_observability(parser: argparse.ArgumentParser) -> None:
    """The serve command's ``--metrics``, ``--tracing`` and ``--log-format`` options."""
    parser.add_argument("--metrics", metavar="PATH", help="answer GET PATH (e.g. /metrics) "
                        "with Prometheus metrics; needs the [prometheus] extra (default: none)")
    parser.add_argument("--tracing", action="store_true", help="OpenTelemetry spans of "
                        "requests, executions and nodes, exported as the SDK is set up (e.g. "
                        "by opentelemetry-instrument); needs the [otel] extra")
    parser.add_argument("--log-format", choices=LOG_FORMATS, default="text",
                        help="text: the access log in the Common Log Format (default); json: "
                        "one JSON object per line, access log and library records")


def add_console(parser: argparse.ArgumentParser) -> None:
    """The serve command's ``--console`` and ``--console-token`` options."""
    parser.add_argument("--console", metavar="PATH", type=cli_args.mount_path,
                        help="serve the operations console at PATH (e.g. /ops), beside the "
                        "webhooks (default: no console)")
    parser.add_argument("--console-token", metavar="TOKEN",
                        help="the console's token, for its login form and Bearer header "
                        f"(default: the {CONSOLE_TOKEN_VARIABLE} variable)")


def console_options(args: argparse.Namespace) -> dict[str, Any]:
    """``console_path`` and ``console_token`` of :func:`serve`, from the options."""
    path = getattr(args, "console", None)
    token = getattr(args, "console_token", None) or os.environ.get(CONSOLE_TOKEN_VARIABLE)
    return {"console_path": path, "console_token": token if path else None}


def check_observability(args: argparse.Namespace) -> None:
    """Refuse (``ValueError``) a ``--metrics`` that is no path, an extra not installed, or a
    ``--console`` without a token: before any store is opened."""
    console = console_options(args)
    if console["console_path"] is not None and not console["console_token"]:
        raise ValueError(f"--console needs a token: --console-token TOKEN or the "
                         f"{CONSOLE_TOKEN_VARIABLE} variable (8 characters or more)")
    if console["console_token"] is not None and len(console["console_token"]) < 8:
        raise ValueError("the console's token needs 8 characters or more")
    path = getattr(args, "metrics", None)
    if path is not None and (not path.startswith("/") or "?" in path):
        raise ValueError(f"--metrics {path!r}: a path starting with /, such as /metrics")
    for wanted, module, extra in ((path is not None, "prometheus_client", "prometheus"),
                                  (getattr(args, "tracing", False), "opentelemetry.trace",
                                   "otel")):
        if wanted and importlib.util.find_spec(module.split(".")[0]) is None:
            raise ValueError(f"needs the [{extra}] extra: pip install "
                             f"'webhook-workflow[{extra}]'")


def observe_engine(engine: Engine, args: argparse.Namespace) -> None:
    """Give ``engine`` the metrics and tracing the options ask for (an ``--app`` engine may
    have them already)."""
    metrics, tracing = getattr(args, "metrics", None) is not None, getattr(args, "tracing", False)
    if metrics or tracing:
        from .observe import install

        install(engine, metrics=metrics, tracing=tracing)


def serve(engine: Engine, *, host: str, port: int, server: str, out: TextIO,
          read_timeout: float = DEFAULT_READ_TIMEOUT,
          max_connections: int = DEFAULT_MAX_CONNECTIONS, grace: float = DEFAULT_GRACE,
          metrics_path: str | None = None, log_format: str = "text",
          console_path: str | None = None, console_token: str | None = None) -> int:
    """Serve ``engine`` until SIGINT/SIGTERM, then stop gracefully and close it.

    The port is bound before anything is printed or started: ``OSError`` when it cannot be
    (in use, out of range, unknown host). On a signal the server stops accepting, lets the
    requests in progress finish within ``grace`` seconds, then closes the engine with what is
    left of the grace period (a second signal skips the wait). ``metrics_path`` answers GET
    with ``engine.metrics`` (which must exist); ``log_format="json"`` writes the access log
    and the library's log records to ``out`` as one JSON object per line.
    ``console_path`` serves the operations console there, with ``console_token``.
    """
    if metrics_path is not None and engine.metrics is None:
        raise ValueError("metrics_path needs an engine with metrics (Engine(metrics=True))")
    console = Console(engine, token=console_token) if console_path is not None else None
    if server == "uvicorn":
        try:
            import uvicorn  # noqa: F401
        except ImportError:
            print("--server uvicorn needs uvicorn: pip install 'webhook-workflow[server]'",
                  file=sys.stderr)
            return 2
    sock = listen(host, port)
    port = sock.getsockname()[1]  # the port chosen when asked for 0
    base = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
    if server == "uvicorn":
        return _serve_uvicorn(engine, sock, host, port, base, out, max_connections, grace,
                              metrics_path, log_format, console, console_path)
    json_lines = log_format == "json"
    undo = _log_json(out) if json_lines else None
    routes = {metrics_path: engine.metrics.response} \
        if metrics_path is not None and engine.metrics is not None else None
    mounts = {console_path: _core(console)} \
        if console is not None and console_path is not None else None
    httpd = Server(engine, sock, out=out, read_timeout=read_timeout,
                   max_connections=max_connections, routes=routes, mounts=mounts,
                   access_log=_access_json if json_lines else None)
    started = time.monotonic()
    try:
        engine.start()
        _announce(engine, base, out, json_lines, console_path)

        def stop(signum: int, frame: Any) -> None:
            if httpd.stopping:
                httpd.force()
            else:
                httpd.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        httpd.serve_forever()
        started = time.monotonic()
        left = httpd.wait(grace)
        if left:
            print(f"serve: {left} connection(s) still open after the grace period",
                  file=sys.stderr, flush=True)
    finally:
        httpd.close()
        engine.close(timeout=max(0.0, grace - (time.monotonic() - started)))
        _say(out, "stopped", json_lines)
        if undo is not None:
            undo()
    return 0


def _say(out: TextIO, text: str, json_lines: bool) -> None:
    """A line of the command's own on ``out``: as it is, or as a JSON log record."""
    if json_lines:
        record = logging.LogRecord("webhook_workflow.serve", logging.INFO, __file__, 0, text,
                                   (), None)
        record.__dict__.update(fields())
        text = _JSON.format(record)
    print(text, file=out, flush=True)


def _core(console: Console) -> Callable[..., CoreResponse]:
    """The console as the built-in server's mounts call it (plain values in)."""

    def answer(method: str, path: str, query: str, headers: RequestHeaders, body: bytes,
               root: str, client: str) -> CoreResponse:
        return console.handle(ConsoleRequest(method, path, query, headers, body, root,
                                             client=client))

    return answer


def _with_console(console: Console, prefix: str, rest: Any) -> Any:
    """An ASGI app: ``prefix`` and below to the console (as Starlette's ``Mount`` would
    give it: the path kept, ``root_path`` grown), everything else to ``rest``."""
    inner = console.asgi

    async def app(scope: Any, receive: Any, send: Any) -> None:
        route = route_path(scope) if scope["type"] == "http" else ""
        if route == prefix or route.startswith(prefix + "/"):
            await inner({**scope, "root_path": scope.get("root_path", "") + prefix},
                        receive, send)
            return
        await rest(scope, receive, send)

    return app


def _announce(engine: Engine, base: str, out: TextIO, json_lines: bool = False,
              console_path: str | None = None) -> None:
    for workflow in engine.workflows():
        mode = "sync" if workflow.sync else "async"
        state = "" if workflow.enabled else " (disabled)"
        _say(out, f"{workflow.key} v{workflow.version} ({mode}){state}: "
             f"{base}{workflow.url_path}", json_lines)
    if console_path is not None:
        _say(out, f"console: {base}{console_path}/", json_lines)
    _say(out, f"serving on {base} (Ctrl+C to stop)", json_lines)


def _serve_uvicorn(engine: Engine, sock: Any, host: str, port: int, base: str, out: TextIO,
                   max_connections: int, grace: float, metrics_path: str | None,
                   log_format: str, console: Console | None = None,
                   console_path: str | None = None) -> int:
    import uvicorn

    from .asgi import WebhookMiddleware

    inner = engine.metrics.asgi_app(metrics_path) \
        if metrics_path is not None and engine.metrics is not None else None
    options: dict[str, Any] = {}
    undo = None
    if log_format == "json":
        undo = _log_json(out)
        options["log_config"] = _uvicorn_json(out)
    # proxy_headers=False: uvicorn would otherwise take the client address from
    # X-Forwarded-For of any local sender; the engine's trusted_proxies decide that.
    app: Any = WebhookMiddleware(inner, engine=engine)
    if console is not None and console_path is not None:
        app = _with_console(console, console_path, app)
    config = uvicorn.Config(app, host=host, port=port,
                            lifespan="on", log_level="info", proxy_headers=False,
                            limit_concurrency=max_connections,
                            timeout_graceful_shutdown=max(1, round(grace)), **options)
    _announce(engine, base, out, log_format == "json", console_path)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        if undo is not None:
            undo()
    return 0


# -- --log-format json ---------------------------------------------------------------------
_JSON = JsonFormatter()


def _log_json(out: TextIO) -> Callable[[], None]:
    """The library's records as JSON lines on ``out``, INFO and up, until the function
    returned is called. Only the library's own logger is given a handler (and stops
    propagating, so no line is written twice): the root logger stays as it was."""
    handler = logging.StreamHandler(out)
    handler.setFormatter(_JSON)
    library = logging.getLogger("webhook_workflow")
    level, propagate = library.level, library.propagate
    library.addHandler(handler)
    library.setLevel(logging.INFO)
    library.propagate = False

    def undo() -> None:
        library.removeHandler(handler)
        library.setLevel(level)
        library.propagate = propagate

    return undo


def _access_json(entry: dict[str, object]) -> str:
    """One access-log line of the built-in server as JSON."""
    record = logging.LogRecord("webhook_workflow.access", logging.INFO, __file__, 0,
                               '%s "%s" %s %s', (entry["client"], entry["request"],
                                                 entry["status"], entry["size"]), None)
    execution = entry["execution_id"]
    record.__dict__.update(fields(execution if isinstance(execution, str) else None))
    record.__dict__.update({k: v for k, v in entry.items() if k != "execution_id"})
    return _JSON.format(record)


class _UvicornAccess(logging.Filter):
    """uvicorn's access records with the fields of the built-in server's JSON lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:  # client, method, path, version, status
            client, method, path, version, status = args
            record.__dict__.update(client=client, request=f"{method} {path} HTTP/{version}",
                                   status=status)
        record.__dict__.update(fields(current_execution.get()))
        return True


def _uvicorn_json(out: TextIO) -> dict[str, Any]:
    """uvicorn's ``log_config`` for JSON lines on ``out``."""
    handler = {"class": "logging.StreamHandler", "formatter": "json",
               "stream": out, "filters": ["access"]}
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "filters": {"access": {"()": _UvicornAccess}},
        "handlers": {"json": handler},
        "loggers": {name: {"handlers": ["json"], "level": "INFO", "propagate": False}
                    for name in ("uvicorn", "uvicorn.error", "uvicorn.access")},
    }
