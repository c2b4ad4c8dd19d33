"""Log records of the library carry ``execution_id``, ``workflow_key`` and ``node_key`` (None
where unknown); the library configures no handler and leaves the root logger alone;
``webhook-workflow serve --log-format json`` writes one JSON object per line, access log
included, on both servers."""

from __future__ import annotations

import importlib
import io
import json
import logging
import pkgutil
import sys
from pathlib import Path
from typing import Any

import pytest
from test_metrics import Served

import webhook_workflow
from webhook_workflow import Engine
from webhook_workflow.logs import FIELDS, Fields, JsonFormatter
from webhook_workflow.nodes.calculation import CalculationNode
from webhook_workflow.testing import WebhookClient


def _library_loggers() -> list[logging.Logger]:
    for module in pkgutil.walk_packages(webhook_workflow.__path__, "webhook_workflow."):
        if module.name.endswith("__main__"):  # it runs the command line
            continue
        try:
            importlib.import_module(module.name)
        except ImportError:  # an extra this machine lacks: its module logs nothing then
            continue
    return [logger for name, logger in logging.root.manager.loggerDict.items()
            if name.split(".")[0] == "webhook_workflow" and isinstance(logger, logging.Logger)]


def test_every_library_logger_gives_its_records_the_fields() -> None:
    loggers = _library_loggers()
    assert {"webhook_workflow", "webhook_workflow.processor"} <= {lg.name for lg in loggers}
    missing = [lg.name for lg in loggers if not any(isinstance(f, Fields) for f in lg.filters)]
    assert missing == [], f"add these to webhook_workflow.logs.LOGGERS: {missing}"
    # Only filters: no handler, no level of the library's own, the root logger untouched.
    assert all(lg.handlers == [] for lg in loggers)
    assert all(lg.level == logging.NOTSET for lg in loggers)


def test_the_root_logger_is_left_alone() -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    engine = Engine()
    try:
        engine.add_workflow({"key": "hook", "sync": True, "nodes": []})
        WebhookClient(engine).post("hook", json={})
    finally:
        engine.close()
    assert root.handlers == handlers and root.level == level


def _boom(*args: Any) -> None:
    raise RuntimeError("kaput")


BROKEN = {"key": "breaks", "sync": True, "nodes": [
    {"key": "explode", "type": "calculation", "config": {"expression": "1"}}]}


def test_records_of_a_run_name_its_execution_workflow_and_node(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    # A node type with a bug: what it raises is logged by the run loop.
    monkeypatch.setattr(CalculationNode, "run", _boom)
    engine = Engine()
    try:
        engine.add_workflow(BROKEN)
        engine.add_workflow({"key": "bad-answer", "nodes": [], "config": {"response": {
            "statusCode": 200, "headers": [{"name": "X-A", "value": "{{$context.body.v}}"}]}}})
        client = WebhookClient(engine)
        with caplog.at_level(logging.INFO, logger="webhook_workflow"):
            answer = client.post("breaks", json={})
            refused = client.post("bad-answer", json={"v": "a\r\nb"})
    finally:
        engine.close()
    assert answer.status == 500 and refused.status == 500
    raised = [r for r in caplog.records if "raised RuntimeError" in r.getMessage()]
    assert len(raised) == 1
    assert (raised[0].execution_id, raised[0].workflow_key, raised[0].node_key) == (  # type: ignore[attr-defined]
        answer.execution_id, "breaks", "explode")
    unrendered = [r for r in caplog.records if "cannot be rendered" in r.getMessage()]
    assert [(r.execution_id, r.workflow_key, r.node_key) for r in unrendered] == [  # type: ignore[attr-defined]
        (None, "bad-answer", None)]
    # Every record of the library has the three fields, None where the call did not know.
    for record in caplog.records:
        if record.name.startswith("webhook_workflow"):
            assert all(hasattr(record, name) for name in FIELDS), record
    # And a stdlib format string may name them.
    line = logging.Formatter("%(execution_id)s %(node_key)s %(message)s").format(raised[0])
    assert line.startswith(f"{answer.execution_id} explode execution ")


def test_the_json_formatter_writes_one_object_a_line() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("webhook_workflow.processor")
    logger.addHandler(handler)
    try:
        try:
            raise ValueError("inner\nproblem")
        except ValueError:
            logger.exception("execution %s: broke", "42",
                             extra={"execution_id": "42", "workflow_key": "k"})
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["message"] == "execution 42: broke" and entry["level"] == "ERROR"
    assert (entry["execution_id"], entry["workflow_key"], entry["node_key"]) == ("42", "k", None)
    assert "ValueError: inner\nproblem" in entry["exception"]
    assert entry["time"].endswith("Z") and entry["logger"] == "webhook_workflow.processor"


APP = '''
from webhook_workflow import Engine
from webhook_workflow.nodes.calculation import CalculationNode

def boom(*args):
    raise RuntimeError("kaput")

def make():
    CalculationNode.run = boom  # a node type with a bug
    return Engine("memory")
'''


@pytest.mark.parametrize("server", ["threaded", "uvicorn"])
def test_serve_log_format_json(server: str, tmp_path: Path) -> None:
    if server == "uvicorn":
        pytest.importorskip("uvicorn")
    (tmp_path / "log_app.py").write_text(APP)
    defs = tmp_path / "defs"
    defs.mkdir()
    (defs / "breaks.json").write_text(json.dumps(BROKEN))
    served = Served([sys.executable, "-m", "webhook_workflow", "serve", str(defs), "--port",
                     "0", "--server", server, "--app", "log_app:make", "--log-format", "json"],
                    tmp_path, {"PYTHONPATH": str(tmp_path)})
    try:
        import urllib.error

        with pytest.raises(urllib.error.HTTPError) as failed:
            served.post("/api/webhook:trigger/breaks")
        assert failed.value.code == 500
    finally:
        lines = served.stop()
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    raised = [e for e in entries if "raised RuntimeError" in e["message"]]
    assert len(raised) == 1
    assert raised[0]["workflow_key"] == "breaks" and raised[0]["node_key"] == "explode"
    execution_id = raised[0]["execution_id"]
    assert execution_id
    access = [e for e in entries if e.get("status") == 500]
    assert len(access) == 1
    assert access[0]["request"].startswith("POST /api/webhook:trigger/breaks HTTP/1.1")
    assert access[0]["execution_id"] == execution_id
    assert any(e["message"].startswith("serving on ") for e in entries)
