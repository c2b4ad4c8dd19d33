"""``webhook-workflow serve --console PATH``: the console beside the webhooks, on the built-in
server and on uvicorn, its token from ``--console-token`` or the environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from console_support import TOKEN, Client, free_port, wait_for

from webhook_workflow.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "payment-callback.json"


def _serve(tmp_path: Path, server: str, *extra: str,
           env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "webhook_workflow", "serve", str(EXAMPLE), "--port", str(port),
         "--store", f"sqlite:///{tmp_path / 'store.db'}", "--server", server, *extra],
        cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            urllib.request.urlopen(base + "/ops/static/console.css", timeout=1).close()
            return True
        except OSError:
            return proc.poll() is not None

    wait_for(up, 20)
    assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
    return proc, base


def _stop(proc: subprocess.Popen[bytes]) -> str:
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out.decode()


@pytest.mark.parametrize("server", ["threaded", "uvicorn"])
def test_serve_console_beside_the_webhooks(tmp_path: Path, server: str) -> None:
    if server == "uvicorn":
        pytest.importorskip("uvicorn")
    proc, base = _serve(tmp_path, server, "--console", "/ops",
                        env={"WEBHOOK_WORKFLOW_CONSOLE_TOKEN": TOKEN})
    try:
        hook = urllib.request.Request(
            base + "/api/webhook:trigger/payment-callback", method="POST",
            data=json.dumps({"order": {"id": "A1", "status": "paid"}}).encode(),
            headers={"Content-Type": "application/json",
                     "Authorization": "Basic c2hvcDpzM2NyZXQ="})
        with urllib.request.urlopen(hook, timeout=10) as answer:
            assert answer.status == 200
        client = Client(base + "/ops")
        assert client.get("/").status == 303
        assert client.login().status == 303
        page = client.get("/")
        assert page.status == 200 and "payment-callback" in page.text
        assert 'href="/ops/executions/' in page.text
        found = json.loads(client.get("/api/executions").text)["executions"]
        assert found[0]["workflow_key"] == "payment-callback"
        execution = client.get(f"/executions/{found[0]['id']}")
        assert execution.status == 200 and "A1" in execution.text
        confirm = client.get(f"/executions/{found[0]['id']}/replay")
        replayed = client.post(f"/executions/{found[0]['id']}/replay",
                               {"csrf": confirm.csrf()})
        assert replayed.status == 200 and "Replayed as execution" in replayed.text
        assert Client(base).get("/nowhere").status == 404  # outside the console: not ours
        time.sleep(0.1)
    finally:
        out = _stop(proc)
    assert f"console: {base}/ops/" in out


def test_serve_console_needs_a_token(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEBHOOK_WORKFLOW_CONSOLE_TOKEN", raising=False)
    store = f"sqlite:///{tmp_path / 'store.db'}"
    assert main(["serve", str(EXAMPLE), "--store", store, "--console", "/ops"]) == 2
    assert "WEBHOOK_WORKFLOW_CONSOLE_TOKEN" in capsys.readouterr().err
    assert not (tmp_path / "store.db").exists()
    assert main(["serve", str(EXAMPLE), "--store", store, "--console", "/ops",
                 "--console-token", "short"]) == 2
    assert "8 characters" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["serve", str(EXAMPLE), "--console", "ops/"])
