"""The command line's store, serve and graph refusals, run as real subprocesses."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLE, ROOT

from webhook_workflow import Engine


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m webhook_workflow ARGS`` in ``cwd``; the timeout is a hang guard."""
    return subprocess.run([sys.executable, "-m", "webhook_workflow", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=30)


def test_serve_in_a_missing_folder_names_the_folder(tmp_path: Path) -> None:
    done = cli("serve", str(EXAMPLE), "--store", "sqlite:///no/such/folder/x.db", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == ("webhook-workflow serve: --store: cannot open no/such/folder/x.db: "
                           "no such folder\n")


def test_engine_refuses_a_path_that_cannot_be_a_database(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    (tmp_path / "notes.txt").write_text("not a database")
    cases = [(f"sqlite:///{tmp_path}/no/x.db", "ValueError: cannot open .* no such folder"),
             (f"sqlite:///{tmp_path}/file/x.db", "ValueError: .* is not a folder"),
             (f"sqlite:///{tmp_path}", "ValueError: .*: it is a folder"),
             (f"sqlite:///{tmp_path}/notes.txt",
              "StoreUnavailable: cannot open .*notes.txt: file is not a database")]
    code = ("import sys\n"
            "from webhook_workflow import Engine\n"
            "try:\n"
            "    Engine(sys.argv[1])\n"
            "except Exception as exc:\n"
            "    print(f'{type(exc).__name__}: {exc}')\n")
    for url, reason in cases:
        # A subprocess: before the constructor refused such paths, it hung forever.
        done = subprocess.run([sys.executable, "-c", code, url], cwd=ROOT, capture_output=True,
                              text=True, timeout=30)
        assert re.fullmatch(reason, done.stdout.strip()), (url, done.stdout, done.stderr)


def test_the_writer_fails_waiting_writes_when_it_cannot_connect() -> None:
    code = ("import sqlite3\n"
            "from webhook_workflow.store.sqlite_writer import Writer\n"
            "from webhook_workflow.errors import StoreUnavailable\n"
            "def connect():\n"
            "    raise sqlite3.OperationalError('unable to open database file')\n"
            "w = Writer(connect)\n"
            "for _ in range(2):\n"
            "    try:\n"
            "        w.run(lambda conn: 1)\n"
            "    except StoreUnavailable as exc:\n"
            "        print(exc)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=30)
    assert done.stdout.splitlines() == ["sqlite: unable to open database file"] * 2


@pytest.mark.parametrize("command", [["executions"], ["execution", "1"], ["replay", "1"]])
def test_reading_commands_never_create_a_store(tmp_path: Path, command: list[str]) -> None:
    done = cli(*command, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().endswith("no store at webhook-workflow.db")
    done = cli(*command, "--store", "sqlite:///nosuch.db", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == f"webhook-workflow {command[0]}: no store at nosuch.db\n"
    assert list(tmp_path.iterdir()) == []


def test_serve_with_an_invalid_file_leaves_no_store_and_names_it(tmp_path: Path) -> None:
    folder = tmp_path / "defs"
    folder.mkdir()
    (folder / "a.json").write_text(EXAMPLE.read_text())
    bad = folder / "b.json"
    bad.write_text(json.dumps({"key": "x", "nodes": [{"key": "r", "type": "response"}]}))
    done = cli("serve", "defs", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr == ("error: defs/b.json: nodes[0].type: a 'response' node is only "
                           "allowed in sync workflows\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["defs"]


@pytest.mark.parametrize("command", ["validate", "serve"])
def test_an_empty_folder_is_the_same_answer_for_validate_and_serve(tmp_path: Path,
                                                                    command: str) -> None:
    (tmp_path / "empty").mkdir()
    done = cli(command, "empty", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == f"webhook-workflow {command}: no workflow definitions found\n"


def test_serve_on_a_busy_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = cli("serve", str(EXAMPLE), "--store", "memory", "--port", str(port),
                   cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == f"webhook-workflow serve: 127.0.0.1:{port} is already in use\n"


@pytest.mark.parametrize(("args", "message"), [
    (["serve", str(EXAMPLE), "--port", "70000"], "--port: 70000 is out of range 0-65535"),
    (["serve", str(EXAMPLE), "--port", "x"], "--port: 'x' is not a port number"),
    (["executions", "--limit", "-1"], "--limit: -1 is negative"),
    (["run", str(EXAMPLE), "--timeout", "-1"], "--timeout: -1 is not 0 or more seconds"),
    (["replay", "1", "--timeout", "nan"], "--timeout: nan is not 0 or more seconds"),
])
def test_option_ranges_are_checked(tmp_path: Path, args: list[str], message: str) -> None:
    done = cli(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_version_and_defaults_in_help(tmp_path: Path) -> None:
    done = cli("--version", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.startswith("webhook-workflow 0.")
    text = cli("serve", "--help", cwd=tmp_path).stdout
    assert "(default: 127.0.0.1)" in text and "(default: 13000)" in text
    assert "(default: 50)" in cli("executions", "--help", cwd=tmp_path).stdout


def test_graph_needs_no_secrets(tmp_path: Path) -> None:
    definition = json.loads(EXAMPLE.read_text())
    definition["config"]["basicAuthentication"] = {"username": "{{$env.USER_NAME}}",
                                                   "password": "{{$env.SECRET}}"}
    path = tmp_path / "secret.json"
    path.write_text(json.dumps(definition))
    done = cli("graph", str(path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("flowchart")
    assert cli("validate", str(path), cwd=tmp_path).returncode == 1


def test_a_failed_job_shows_its_whole_message(tmp_path: Path) -> None:
    path = tmp_path / "fails.json"
    path.write_text(json.dumps({"key": "fails", "nodes": [
        {"key": "calc", "type": "calculation",
         "config": {"engine": "math.js", "expression": "{{$context.body.x}} * 2"}}]}))
    long = "a string value that is long enough to push the message past sixty characters"
    done = cli("run", str(path), "--format", "text", "--body", json.dumps({"x": long}),
               cwd=tmp_path)
    assert done.returncode == 1
    line = next(x for x in done.stdout.splitlines() if x.strip().startswith("calc"))
    assert "ERROR" in line and line.endswith("as a number\"}") and "…" not in line


def test_execution_and_replay_show_a_stored_answer_and_a_failure_the_same_way(
        tmp_path: Path) -> None:
    engine = Engine(f"sqlite:///{tmp_path / 'webhook-workflow.db'}")
    engine.add_workflow(EXAMPLE)
    answered = engine.execute("payment-callback", {
        "headers": {"X-Request-Id": "r-2"}, "query": {"source": "shop"},
        "body": {"order": {"id": "A-1002", "status": "open"}}})
    long = "a string value that is long enough to push the message past sixty characters"
    engine.add_workflow({"key": "fails", "sync": True, "nodes": [
        {"key": "calc", "type": "calculation",
         "config": {"engine": "math.js", "expression": "{{$context.body.x}} * 2"}}]})
    failed = engine.execute("fails", {"body": {"x": long}})
    engine.close()

    def response_line(*args: str) -> str:
        done = cli(*args, cwd=tmp_path)
        return next(x for x in done.stdout.splitlines() if x.startswith("response:"))

    assert response_line("execution", answered.id) == 'response: 400 {"ok":false}'
    assert response_line("replay", answered.id) == 'response: 400 {"ok":false}'
    shown = cli("execution", failed.id, cwd=tmp_path).stdout.splitlines()
    line = next(x for x in shown if x.strip().startswith("calc"))
    message = failed.jobs[0].result["message"]
    assert "ERROR" in line and message in line and "…" not in line
    stored = json.loads(cli("execution", failed.id, "--format", "json", cwd=tmp_path).stdout)
    assert stored["jobs"][0]["result"] == failed.jobs[0].result
