"""Real servers on 127.0.0.1, one subprocess each, stopped with SIGTERM: uvicorn, gunicorn
(sync and gthread, two workers, SQLite store), waitress and hypercorn."""

from __future__ import annotations

import json
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hostcheck import (
    AUTH,
    KEY,
    PAID,
    Server,
    check_host,
    check_seed,
    free_port,
    httpx_send,
    seed,
    serve,
    stop,
)

httpx = pytest.importorskip("httpx")

WEBHOOK = f"/api/webhook:trigger/{KEY}"


def _client(server: Server) -> httpx.Client:
    return httpx.Client(base_url=server.base, timeout=10)


def _stopped_cleanly(server: Server, *, lifespan: bool = False) -> None:
    """Stopped by SIGTERM without an error; ``lifespan``: the shutdown event was answered.
    uvicorn re-raises the signal after a graceful shutdown, and waitress has no handler for
    it, so -SIGTERM is a clean exit too."""
    code = stop(server)
    output = server.output()
    assert code in (0, -signal.SIGTERM), output
    assert "Traceback" not in output, output
    if lifespan:
        assert "Application shutdown complete" in output, output


def _executions(store: str) -> int:
    from webhook_workflow import Engine

    engine = Engine(store)
    try:
        return len(engine.executions(KEY, limit=1000))
    finally:
        engine.close()


def test_uvicorn_behind_root_path(tmp_path: Path) -> None:
    """``--root-path /site`` (a proxy strips /site); ``--lifespan on`` fails if the door
    mishandles lifespan."""
    pytest.importorskip("uvicorn")
    port = free_port()
    argv = ["uvicorn", "examples.hosts.plain_asgi:app", "--port", str(port),
            "--root-path", "/site", "--lifespan", "on"]
    with serve(argv, port, tmp_path / "log") as server, _client(server) as client:
        send = httpx_send(client)
        check_seed(send, WEBHOOK)
        check_host(send, f"{server.base}/site{WEBHOOK}")
        _stopped_cleanly(server, lifespan=True)


def test_uvicorn_django_asgi(tmp_path: Path) -> None:
    """Django raises on lifespan: the door answers it, so ``--lifespan on`` still starts."""
    pytest.importorskip("uvicorn")
    pytest.importorskip("django")
    port = free_port()
    argv = ["uvicorn", "examples.hosts.django_site.asgi:application", "--port", str(port),
            "--lifespan", "on"]
    with serve(argv, port, tmp_path / "log", ready="/health/") as server, \
            _client(server) as client:
        send = httpx_send(client)
        check_seed(send, WEBHOOK)
        check_host(send, f"{server.base}{WEBHOOK}", suffix="/")
        _stopped_cleanly(server, lifespan=True)


def test_uvicorn_fastapi_mount_behind_root_path(tmp_path: Path) -> None:
    pytest.importorskip("uvicorn")
    pytest.importorskip("fastapi")
    port = free_port()
    argv = ["uvicorn", "examples.hosts.fastapi_mount:app", "--port", str(port),
            "--root-path", "/site", "--lifespan", "on"]
    with serve(argv, port, tmp_path / "log") as server, _client(server) as client:
        send = httpx_send(client)
        check_seed(send, f"/hooks/{KEY}")
        check_host(send, f"{server.base}/site/hooks/{KEY}")
        _stopped_cleanly(server, lifespan=True)


def _gunicorn(tmp_path: Path, *options: str, env: dict[str, str] | None = None,
              prefix: str = "", requests: int = 16) -> None:
    """Two worker processes sharing one SQLite store: the seed requests, then ``requests``
    concurrent deliveries, every one answered and recorded once."""
    pytest.importorskip("gunicorn")
    store = f"sqlite:///{tmp_path / 'hooks.db'}"
    port = free_port()
    argv = ["gunicorn", "-w", "2", *options, "-b", f"127.0.0.1:{port}",
            "--graceful-timeout", "5", "examples.hosts.plain_wsgi:app"]
    env = {"WEBHOOK_WORKFLOW_STORE": store, **(env or {})}
    with serve(argv, port, tmp_path / "log", ready=f"{prefix}/health", env=env) as server, \
            _client(server) as client:
        send = httpx_send(client)
        check_seed(send, f"{prefix}{WEBHOOK}")
        check_host(send, f"{server.base}{prefix}{WEBHOOK}", prefix=prefix)

        def paid(n: int) -> tuple[int, str]:
            request = seed(f"{prefix}{WEBHOOK}")
            request.headers["X-Request-Id"] = f"r-{n}"
            with _client(server) as own:
                response = own.post(request.url, headers=request.headers, content=request.body)
            return response.status_code, response.text

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(paid, range(requests)))
        assert [a for a in answers if a[0] != 200] == []
        _stopped_cleanly(server)
    assert _executions(store) == 2 + requests  # paid and open of check_seed, then the rest


def test_gunicorn_sync_two_workers_sqlite(tmp_path: Path) -> None:
    _gunicorn(tmp_path, "-k", "sync")


def test_gunicorn_gthread_two_workers_sqlite_script_name(tmp_path: Path) -> None:
    """gthread workers (4 threads each), mounted at /site through gunicorn's SCRIPT_NAME."""
    _gunicorn(tmp_path, "-k", "gthread", "--threads", "4", env={"SCRIPT_NAME": "/site"},
              prefix="/site")


def test_gunicorn_preload_two_workers_sqlite(tmp_path: Path) -> None:
    """``--preload`` builds the engine before the fork; both workers then share its ids."""
    _gunicorn(tmp_path, "-k", "gthread", "--threads", "4", "--preload", requests=32)


def test_waitress_url_prefix_and_chunked_body(tmp_path: Path) -> None:
    pytest.importorskip("waitress")
    port = free_port()
    argv = ["waitress", f"--listen=127.0.0.1:{port}", "--url-prefix=/site",
            "examples.hosts.plain_wsgi:app"]
    with serve(argv, port, tmp_path / "log", ready="/site/health") as server, \
            _client(server) as client:
        send = httpx_send(client)
        check_seed(send, f"/site{WEBHOOK}")
        check_host(send, f"{server.base}/site{WEBHOOK}", prefix="/site")
        # waitress de-chunks and sets wsgi.input_terminated: a chunked body is read.
        response = client.post(f"/site{WEBHOOK}", params={"source": "shop"},
                               headers={"Authorization": AUTH, "X-Request-Id": "r-9",
                                        "Content-Type": "application/json"},
                               content=iter([PAID[:10], PAID[10:]]))
        assert response.status_code == 200
        assert response.json() == {"ok": True, "id": "A1", "request": "r-9"}
        _stopped_cleanly(server)


def test_hypercorn_quart(tmp_path: Path) -> None:
    pytest.importorskip("hypercorn")
    pytest.importorskip("quart")
    port = free_port()
    argv = ["hypercorn", "examples.hosts.quart_app:app", "--bind", f"127.0.0.1:{port}",
            "--graceful-timeout", "5"]
    with serve(argv, port, tmp_path / "log") as server, _client(server) as client:
        send = httpx_send(client)
        check_seed(send, WEBHOOK)
        check_host(send, f"{server.base}{WEBHOOK}")
        found = send(seed(WEBHOOK))
        assert json.loads(found.body)["id"] == "A1"
        _stopped_cleanly(server)
