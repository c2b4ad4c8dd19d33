"""``webhook-workflow serve``: a zero-dependency threaded server, or uvicorn."""

from __future__ import annotations

import signal
import sys
import threading
from socketserver import ThreadingMixIn
from typing import Any, TextIO
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from .engine import Engine
from .runs import current_execution

__all__ = ["serve"]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    # The stdlib default backlog (5) drops connections of bursty senders, who then retry
    # after seconds.
    request_queue_size = 256


def _handler(out: TextIO) -> type[WSGIRequestHandler]:
    lock = threading.Lock()

    class AccessLogHandler(WSGIRequestHandler):
        """One access-log line per request on the serve command's output."""

        def log_message(self, format: str, *args: Any) -> None:
            # Common Log Format, then the execution the request created ("-": none).
            execution = current_execution.get() or "-"
            with lock:
                print(f"{self.address_string()} - - [{self.log_date_time_string()}] "
                      f"{format % args} {execution}", file=out, flush=True)

        def handle(self) -> None:
            current_execution.set(None)  # a kept-alive connection serves several requests
            super().handle()

    return AccessLogHandler


def serve(engine: Engine, *, host: str, port: int, server: str, out: TextIO) -> int:
    """Serve ``engine`` until interrupted (SIGINT/SIGTERM); drain it before returning."""
    base = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
    if server == "uvicorn":
        return _serve_uvicorn(engine, host, port, base, out)
    from .wsgi import WebhookMiddleware

    httpd = make_server(host, port, WebhookMiddleware(engine=engine),
                        server_class=_ThreadingServer, handler_class=_handler(out))
    engine.start()
    _announce(engine, base, out)

    def stop(signum: int, frame: Any) -> None:
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        httpd.serve_forever(poll_interval=0.2)
    finally:
        httpd.server_close()
        engine.close()
        print("stopped", file=out, flush=True)
    return 0


def _announce(engine: Engine, base: str, out: TextIO) -> None:
    for workflow in engine.workflows():
        mode = "sync" if workflow.sync else "async"
        state = "" if workflow.enabled else " (disabled)"
        print(f"{workflow.key} v{workflow.version} ({mode}){state}: {base}{workflow.url_path}",
              file=out, flush=True)
    print(f"serving on {base} (Ctrl+C to stop)", file=out, flush=True)


def _serve_uvicorn(engine: Engine, host: str, port: int, base: str, out: TextIO) -> int:
    try:
        import uvicorn
    except ImportError:
        print("--server uvicorn needs uvicorn: pip install 'webhook-workflow[server]'",
              file=sys.stderr)
        return 2
    from .asgi import WebhookMiddleware

    _announce(engine, base, out)
    uvicorn.run(WebhookMiddleware(engine=engine), host=host, port=port, lifespan="on",
                log_level="info")
    return 0
