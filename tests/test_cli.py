"""The command line: validate, paths, run (serve runs for real in test_servers.py)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLE, ROOT

from webhook_workflow.cli import main

AUTH = "Authorization: Basic c2hvcDpzM2NyZXQ="  # shop:s3cret


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), out, err)
    return code, out.getvalue(), err.getvalue()


def test_python_dash_m_and_help() -> None:
    done = subprocess.run([sys.executable, "-m", "webhook_workflow", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0
    for command in ("serve", "validate", "paths", "run"):
        assert command in done.stdout


def test_validate_ok_and_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"key": "x", "nodes": [{"key": "r", "type": "response"}]}))
    broken = tmp_path / "broken.json"
    broken.write_text("{nope")
    code, out, err = run_cli("validate", str(EXAMPLE), str(bad), str(broken))
    assert code == 1
    assert out.splitlines() == [f"ok {EXAMPLE}"]
    assert f"{bad}: nodes[0].type: a 'response' node is only allowed in sync workflows" in err
    assert f"{broken}:" in err and "invalid JSON" in err


def test_validate_a_folder(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('{"key": "a"}')
    (tmp_path / "b.yaml").write_text("key: b\nsync: true\n")
    (tmp_path / "notes.txt").write_text("ignored")
    code, out, _ = run_cli("validate", str(tmp_path))
    assert code == 0
    assert out.splitlines() == [f"ok {tmp_path / 'a.json'}", f"ok {tmp_path / 'b.yaml'}"]


def test_validate_missing_path_is_a_usage_error() -> None:
    code, _, err = run_cli("validate", "/nonexistent/x.json")
    assert code == 2 and "no such file" in err


def test_paths_from_url_and_body() -> None:
    code, out, _ = run_cli("paths", "--url", "https://x.test/hook?query[0][a]=1&query[0][b]=2&x=3")
    assert (code, out.split()) == (0, ["query", "query[0]", "query[0].a", "query[0].b", "x"])
    code, out, _ = run_cli("paths", "--body", '{"a":1,"b":{"c":2}}')
    assert (code, out.split()) == (0, ["a", "b", "b.c"])
    code, _, err = run_cli("paths", "--body", "{nope")
    assert code == 2 and "invalid JSON" in err


def test_run_prints_the_execution_as_json() -> None:
    code, out, _ = run_cli("run", str(EXAMPLE), "--body", '{"order":{"id":"A1","status":"paid"}}',
                           "--query", "source=cli", "--header", AUTH,
                           "--header", "X-Request-Id: r-5")
    assert code == 0
    data = json.loads(out)
    assert data["response"] == {"status": 200, "headers": [["Content-Type", "application/json"],
                                                           ["X-Order", "A1"]],
                                "body": {"ok": True, "id": "A1", "request": "r-5"}}
    execution = data["execution"]
    assert execution["status"] == 1 and execution["workflow_key"] == "payment-callback"
    assert [j["node_key"] for j in execution["jobs"]] == ["paid", "ok"]
    assert execution["context"]["query"] == {"source": "cli"}


def test_run_text_trace_and_exit_status_for_refused_requests() -> None:
    code, out, _ = run_cli("run", str(EXAMPLE), "--body", "{}", "--format", "text")
    assert code == 1
    assert "no execution" in out and "response: 401" in out
    code, out, _ = run_cli("run", str(EXAMPLE), "--body", '{"order":{"status":"open"}}',
                           "--header", AUTH, "--format", "text")
    assert code == 0  # the failure branch's Response node ends the run RESOLVED
    assert "paid" in out and "bad" in out and "response: 400" in out


def test_run_async_workflow_with_env(tmp_path: Path) -> None:
    definition = tmp_path / "async.json"
    definition.write_text(json.dumps({"key": "a", "nodes": [
        {"key": "o", "type": "output",
         "config": {"value": "{{$env.GREETING}} {{$context.body.n}}"}},
        {"key": "e", "type": "end", "config": {"endStatus": -1}}]}))
    env_file = tmp_path / ".env"
    env_file.write_text("# comment\nexport GREETING='hello'\n")
    code, out, _ = run_cli("run", str(definition), "--body", '{"n": 7}', "--env-file",
                           str(env_file))
    data = json.loads(out)
    assert code == 1  # the run ended FAILED
    assert data["response"]["body"] == "ok"
    assert data["execution"]["output"] == "hello 7"
    assert data["execution"]["status"] == -1


def test_run_with_app_engine_and_custom_node(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "hostapp.py").write_text(
        "from webhook_workflow import Engine\n"
        "def make():\n"
        "    engine = Engine(env={'WHO': 'app'})\n"
        "    engine.register_node('shout', lambda config, ctx: config['text'].upper())\n"
        "    return engine\n")
    definition = tmp_path / "wf.json"
    definition.write_text(json.dumps({"key": "s", "sync": True, "nodes": [
        {"key": "n", "type": "shout", "config": {"text": "hi {{$env.WHO}}"}},
        {"key": "r", "type": "response", "config": {"body": "{{$jobsMapByNodeKey.n}}"}}]}))
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli("run", str(definition), "--app", "hostapp:make")
    assert code == 0
    assert json.loads(out)["response"]["body"] == "HI APP"
    code, _, err = run_cli("run", str(definition), "--app", "hostapp:missing")
    assert code == 2 and "--app" in err


@pytest.mark.parametrize("args, message", [
    (["--env", "NOEQUALS"], "expected NAME=value"),
    (["--header", "no-colon"], "expected Name: value"),
])
def test_run_usage_errors(args: list[str], message: str) -> None:
    code, _, err = run_cli("run", str(EXAMPLE), *args)
    assert code == 2 and message in err


def test_serve_refuses_unknown_or_unreachable_stores() -> None:
    code, _, err = run_cli("serve", str(EXAMPLE), "--store", "redis://x")
    assert code == 2 and "unknown store" in err
    code, _, err = run_cli("executions", "--store", "postgresql://nowhere.invalid/db")
    assert code in (1, 2) and "Traceback" not in err and "store" in err


def test_custom_node_example_runs() -> None:
    done = subprocess.run([sys.executable, "examples/custom_node.py"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["status"] == 200
    assert json.loads(answer["body"])["slug"] == "hello-webhook-world"
    code, out, _ = run_cli("run", str(ROOT / "examples" / "custom-node.json"), "--app",
                           "examples.custom_node:make_engine", "--body", '{"title": "A B"}')
    assert code == 0
    assert json.loads(out)["response"]["body"]["slug"] == "a-b"


def test_migrate_refuses_sqlite_and_reports_postgres() -> None:
    code, _, err = run_cli("migrate", "--store", "sqlite:///x.db")
    assert code == 2 and "PostgreSQL" in err
    url = os.environ.get("WEBHOOK_WORKFLOW_TEST_POSTGRES")
    if not url:
        pytest.skip("set WEBHOOK_WORKFLOW_TEST_POSTGRES to run against PostgreSQL")
    from webhook_workflow.store.postgres import drop_tables

    target = url + ("&" if "?" in url else "?") + "prefix=wwclitest_"
    try:
        code, out, _ = run_cli("migrate", "--store", target)
        assert code == 0 and "schema created at version" in out
        code, out, _ = run_cli("migrate", "--store", target)
        assert code == 0 and "up to date" in out
    finally:
        drop_tables(target)
