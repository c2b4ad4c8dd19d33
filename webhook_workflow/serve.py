"""``webhook-workflow serve``: the built-in HTTP/1.1 server (:mod:`.http_server`), or uvicorn."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from typing import Any, TextIO

from .engine import Engine
from .http_server import DEFAULT_MAX_CONNECTIONS, DEFAULT_READ_TIMEOUT, Server, listen

__all__ = ["DEFAULT_GRACE", "DEFAULT_MAX_CONNECTIONS", "DEFAULT_READ_TIMEOUT", "seconds",
           "serve", "slots"]

DEFAULT_GRACE = 30.0


def seconds(text: str) -> float:
    """An argparse type: a number of seconds, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected 0 or more seconds, got {text!r}")
    return value


def slots(text: str) -> int:
    """An argparse type: a count of 1 or more."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more, got {text!r}")
    return int(text)


def serve(engine: Engine, *, host: str, port: int, server: str, out: TextIO,
          read_timeout: float = DEFAULT_READ_TIMEOUT,
          max_connections: int = DEFAULT_MAX_CONNECTIONS, grace: float = DEFAULT_GRACE) -> int:
    """Serve ``engine`` until SIGINT/SIGTERM, then stop gracefully and close it.

    The port is bound before anything is printed or started: ``OSError`` when it cannot be
    (in use, out of range, unknown host). On a signal the server stops accepting, lets the
    requests in progress finish within ``grace`` seconds, then closes the engine with what is
    left of the grace period (a second signal skips the wait).
    """
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
        return _serve_uvicorn(engine, sock, host, port, base, out, max_connections, grace)
    httpd = Server(engine, sock, out=out, read_timeout=read_timeout,
                   max_connections=max_connections)
    started = time.monotonic()
    try:
        engine.start()
        _announce(engine, base, out)

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
        print("stopped", file=out, flush=True)
    return 0


def _announce(engine: Engine, base: str, out: TextIO) -> None:
    for workflow in engine.workflows():
        mode = "sync" if workflow.sync else "async"
        state = "" if workflow.enabled else " (disabled)"
        print(f"{workflow.key} v{workflow.version} ({mode}){state}: {base}{workflow.url_path}",
              file=out, flush=True)
    print(f"serving on {base} (Ctrl+C to stop)", file=out, flush=True)


def _serve_uvicorn(engine: Engine, sock: Any, host: str, port: int, base: str, out: TextIO,
                   max_connections: int, grace: float) -> int:
    import uvicorn

    from .asgi import WebhookMiddleware

    # proxy_headers=False: uvicorn would otherwise take the client address from
    # X-Forwarded-For of any local sender; the engine's trusted_proxies decide that.
    config = uvicorn.Config(WebhookMiddleware(engine=engine), host=host, port=port,
                            lifespan="on", log_level="info", proxy_headers=False,
                            limit_concurrency=max_connections,
                            timeout_graceful_shutdown=max(1, round(grace)))
    _announce(engine, base, out)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
    return 0
