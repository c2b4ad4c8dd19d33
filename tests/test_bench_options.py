"""The benchmark's ``--json`` option: which JSON variants a run selects."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The benchmark package lives next to the library, not inside it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import variants
from bench.__main__ import parse_args


@pytest.fixture
def no_orjson(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(variants, "have_orjson", lambda: False)


@pytest.fixture
def with_orjson(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(variants, "have_orjson", lambda: True)


@pytest.mark.usefixtures("with_orjson")
def test_default_is_both_with_orjson() -> None:
    args = parse_args([])
    assert args.json == "both"
    assert args.variants == ("stdlib", "orjson")


@pytest.mark.usefixtures("no_orjson")
def test_default_is_stdlib_without_orjson() -> None:
    args = parse_args(["--quick"])
    assert args.json == "stdlib"
    assert args.variants == ("stdlib",)


@pytest.mark.usefixtures("with_orjson")
@pytest.mark.parametrize(("choice", "expected"), [
    ("stdlib", ("stdlib",)), ("orjson", ("orjson",)), ("both", ("stdlib", "orjson"))])
def test_explicit_choice(choice: str, expected: tuple[str, ...]) -> None:
    assert parse_args(["--json", choice, "--only", "inprocess"]).variants == expected


@pytest.mark.usefixtures("no_orjson")
@pytest.mark.parametrize("choice", ["orjson", "both"])
def test_orjson_without_orjson_is_a_clear_error(
        choice: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        parse_args(["--json", choice])
    assert stopped.value.code == 2
    assert "needs orjson, which is not installed" in capsys.readouterr().err


def test_unknown_choice_is_refused() -> None:
    with pytest.raises(SystemExit):
        parse_args(["--json", "ujson"])


@pytest.mark.parametrize(("value", "expected"), [
    ("stdlib", "stdlib"), ("STDLIB", "stdlib"), ("orjson", "orjson"), (None, "orjson")])
def test_current_reads_the_environment_as_the_library_does(
        monkeypatch: pytest.MonkeyPatch, value: str | None, expected: str) -> None:
    monkeypatch.setattr(variants, "have_orjson", lambda: True)
    if value is None:
        monkeypatch.delenv(variants.ENV, raising=False)
    else:
        monkeypatch.setenv(variants.ENV, value)
    assert variants.current() == expected


def test_current_is_stdlib_without_orjson(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(variants, "have_orjson", lambda: False)
    monkeypatch.setenv(variants.ENV, "orjson")
    assert variants.current() == "stdlib"


def test_codec_answers_alike() -> None:
    value = {"ok": True, "id": "Ä1", "n": [1, 2.5, None]}
    loads, dumps = variants.codec("stdlib")
    assert dumps(value) == '{"ok":true,"id":"Ä1","n":[1,2.5,null]}'.encode()
    assert loads(dumps(value)) == value
    if variants.have_orjson():
        orjson_loads, orjson_dumps = variants.codec("orjson")
        assert orjson_dumps(value) == dumps(value)
        assert orjson_loads(dumps(value)) == value
