"""Every definition error at once (DefinitionError.errors; add_workflow, load_directory, the
validate and serve commands naming each file) and the warnings of valid but likely wrong
definitions (DefinitionWarning, filterable; validate prints them and exits 0)."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from webhook_workflow import DefinitionError, DefinitionWarning, Engine
from webhook_workflow.cli import main


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), out, err)
    return code, out.getvalue(), err.getvalue()


#: Four mistakes in four places: a top-level field, the trigger's request, a node's config, and
#: a node inside a branch.
BROKEN: dict[str, Any] = {
    "key": "broken", "title": 5,
    "config": {"request": {"strictContentType": "yes"}},
    "nodes": [
        {"key": "a", "type": "output", "config": {"value": 1, "extra": True}},
        {"key": "c", "type": "condition", "config": {"engine": "math.js", "expression": "1"},
         "branches": {"true": [{"key": "d", "type": "delay", "config": {"duration": 0}}]}},
    ],
}

BROKEN_ERRORS = [
    ("title", "must be a string, got number"),
    ("config.request.strictContentType", "must be true or false, got string"),
    ("nodes[0].config.extra", "unknown field (allowed: value)"),
    ("nodes[1].branches.true[0].config.duration", "must be a number >= 1 or a template"),
]


@pytest.fixture
def engine() -> Engine:
    return Engine()


def test_every_error_of_a_definition_in_one_pass(engine: Engine) -> None:
    with pytest.raises(DefinitionError) as caught:
        engine.add_workflow(BROKEN)
    exc = caught.value
    assert exc.errors == BROKEN_ERRORS
    assert (exc.path, exc.reason) == BROKEN_ERRORS[0]
    assert str(exc).splitlines() == [f"{p}: {r}" for p, r in BROKEN_ERRORS]
    assert engine.get_workflow("broken") is None


def test_one_error_reads_as_it_always_did(engine: Engine) -> None:
    with pytest.raises(DefinitionError) as caught:
        engine.add_workflow({"key": "one", "nodes": [{"key": "r", "type": "nope"}]})
    exc = caught.value
    assert len(exc.errors) == 1
    assert exc.path == "nodes[0].type"
    assert str(exc) == f"nodes[0].type: {exc.reason}"
    assert exc.reason.startswith("unknown node type 'nope'")


def test_every_field_of_a_section_and_every_node_is_checked(engine: Engine) -> None:
    definition = {"key": "k", "zz": 1, "sync": "no", "options": {"timeout": -1, "stackLimit": 0},
                  "nodes": [{"key": "x", "type": "nope"}, {"key": "x", "type": "output"},
                            {"type": "output"}]}
    with pytest.raises(DefinitionError) as caught:
        engine.add_workflow(definition)
    paths = [path for path, _ in caught.value.errors]
    assert paths == ["zz", "sync", "options.timeout", "options.stackLimit", "nodes[0].type",
                     "nodes[2].key"]


def test_within_prefixes_every_path() -> None:
    exc = DefinitionError("", "", [("a", "bad"), ("[0].b", "worse"), ("", "whole")])
    assert exc.within("cfg").errors == [("cfg.a", "bad"), ("cfg[0].b", "worse"),
                                        ("cfg", "whole")]
    assert DefinitionError.of([exc, DefinitionError("z", "last")]).errors[-1] == ("z", "last")


def _folder(tmp_path: Path) -> Path:
    (tmp_path / "a-good.json").write_text(json.dumps({"key": "good"}))
    (tmp_path / "b-broken.json").write_text(json.dumps(BROKEN))
    (tmp_path / "c-unreadable.json").write_text("{not json")
    (tmp_path / "d-bad.json").write_text(json.dumps({"key": "bad", "sync": 1}))
    return tmp_path


def test_load_directory_reports_every_file_and_registers_none(tmp_path: Path,
                                                              engine: Engine) -> None:
    folder = _folder(tmp_path)
    with pytest.raises(DefinitionError) as caught:
        engine.load_directory(folder)
    errors = caught.value.errors
    assert errors[:4] == [(f"b-broken.json: {p}", r) for p, r in BROKEN_ERRORS]
    assert errors[4][0] == "" and errors[4][1].startswith(f"{folder / 'c-unreadable.json'}: "
                                                          "invalid JSON")
    assert errors[5] == ("d-bad.json: sync", "must be true or false, got number")
    assert engine.workflows() == []  # not even the good file


def test_validate_names_the_file_of_each_error(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    code, out, err = run_cli("validate", str(folder))
    assert code == 1
    assert f"ok {folder / 'a-good.json'}" in out
    broken = folder / "b-broken.json"
    for path, reason in BROKEN_ERRORS:
        assert f"{broken}: {path}: {reason}\n" in err
    assert f"{folder / 'd-bad.json'}: sync: must be true or false, got number" in err
    assert f"{folder / 'c-unreadable.json'}: invalid JSON" in err


def test_serve_names_every_invalid_file(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    code, _, err = run_cli("serve", str(folder), "--port", "0")
    assert code == 1
    lines = err.splitlines()
    assert f"error: {folder / 'b-broken.json'}: title: must be a string, got number" in lines
    assert f"error: {folder / 'd-bad.json'}: sync: must be true or false, got number" in lines
    assert sum(line.startswith("error: ") for line in lines) == 6


# -- warnings ---------------------------------------------------------------------------------

def _warnings_of(engine: Engine, definition: Any) -> list[DefinitionWarning]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        engine.add_workflow(definition)
    found = [w.message for w in caught if isinstance(w.message, DefinitionWarning)]
    assert all(w.category is DefinitionWarning for w in caught)
    return found


def test_an_unclosed_placeholder_is_warned_of(engine: Engine) -> None:
    found = _warnings_of(engine, {"key": "u", "nodes": [
        {"key": "o", "type": "output", "config": {"value": {"t": "id {{$context.body.id"}}}]})
    assert [(w.path, w.reason) for w in found] == [(
        "nodes[0].config.value.t",
        "'{{' without its '}}' (at character 3): it is literal text, not a placeholder")]
    assert str(found[0]).startswith("nodes[0].config.value.t: '{{' without")


def test_closed_placeholders_are_not_warned_of(engine: Engine) -> None:
    assert _warnings_of(engine, {"key": "c", "config": {"response": {"body": "{{$context.x}}"}},
                                 "nodes": [{"key": "o", "type": "output",
                                            "config": {"value": "a {{$context.x}} b"}}]}) == []


def test_job_references_of_no_node_or_a_later_one(engine: Engine) -> None:
    found = _warnings_of(engine, {"key": "j", "nodes": [
        {"key": "first", "type": "output", "config": {"value": "{{$jobsMapByNodeKey.later}}"}},
        {"key": "par", "type": "parallel", "branches": {
            "0": [{"key": "left", "type": "output", "config": {"value": 1}}],
            "1": [{"key": "right", "type": "output",
                   "config": {"value": "{{$jobsMapByNodeKey.left}} {{$jobsMapByNodeKey.par}}"}}]}},
        {"key": "later", "type": "output", "config": {
            "value": ["{{$jobsMapByNodeKey.nobody.x}}", "{{$jobsMapByNodeKey.left}}",
                      "{{$jobsMapByNodeKey.first}}"]}},
    ]})
    assert [(w.path, w.reason.split(" (")[0].split(":")[0]) for w in found] == [
        ("nodes[0].config.value", "$jobsMapByNodeKey.later names a node that does not run "
         "before node 'first'"),
        ("nodes[1].branches.1[0].config.value", "$jobsMapByNodeKey.left names a node that "
         "does not run before node 'right'"),
        ("nodes[2].config.value[0]", "$jobsMapByNodeKey.nobody names no node of this workflow"),
    ]


def test_a_file_without_a_key_is_warned_of_a_dict_is_not(tmp_path: Path,
                                                         engine: Engine) -> None:
    file = tmp_path / "nokey.json"
    file.write_text(json.dumps({"nodes": []}))
    found = _warnings_of(engine, file)
    assert len(found) == 1 and found[0].path == "key" and found[0].file == str(file)
    assert str(found[0]).startswith(f"{file}: key: the file has no key")
    assert _warnings_of(engine, {"nodes": []}) == []


def test_warnings_can_be_made_errors_or_silenced(engine: Engine) -> None:
    definition = {"key": "w", "nodes": [{"key": "o", "type": "output",
                                         "config": {"value": "{{ oops"}}]}
    with warnings.catch_warnings():
        warnings.simplefilter("error", DefinitionWarning)
        with pytest.raises(DefinitionWarning, match="without its"):
            engine.add_workflow(definition)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=DefinitionWarning)
        engine.add_workflow(definition)
    assert caught == []
    with pytest.warns(DefinitionWarning) as record:
        engine.add_workflow(definition)
    assert record[0].filename == __file__  # points at the caller of add_workflow


def test_load_directory_warns_with_each_file_name(tmp_path: Path, engine: Engine) -> None:
    (tmp_path / "a.json").write_text(json.dumps({"nodes": []}))
    with pytest.warns(DefinitionWarning, match=r"^a\.json: key: the file has no key"):
        engine.load_directory(tmp_path)


def test_validate_prints_warnings_and_exits_0(tmp_path: Path) -> None:
    file = tmp_path / "w.json"
    file.write_text(json.dumps({"nodes": [{"key": "o", "type": "output",
                                           "config": {"value": "{{$context.body"}}]}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # printed, never issued
        code, out, err = run_cli("validate", str(file))
    assert code == 0
    assert out == f"ok {file}\n"
    assert err.splitlines() == [
        f"warning: {file}: key: the file has no key: it gets a new one "
        f"({err.split('new one (')[1].split(' ')[0]} now) and so a new URL each time it is "
        "loaded; give it a key",
        f"warning: {file}: nodes[0].config.value: '{{{{' without its '}}}}' (at character 0): "
        "it is literal text, not a placeholder"]
