"""docs/architecture.md lists every module with the first line of its docstring, and the
import contracts hold (the same check CI runs with ``lint-imports``)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "architecture.md"
START, END = "<!-- modules -->", "<!-- /modules -->"


def _markdown(text: str) -> str:
    # reST roles and literals read as Markdown code: :class:`~a.B` -> `B`, ``x`` -> `x`.
    text = re.sub(r":\w+:`~?([^`]+)`", lambda m: f"`{m.group(1).rsplit('.', 1)[-1]}`", text)
    return text.replace("``", "`")


def module_table() -> str:
    """The table the page must hold: one row per module of the package."""
    rows = ["| module | what it holds |", "|---|---|"]
    for path in sorted((ROOT / "webhook_workflow").rglob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        rows.append(f"| `{'.'.join(parts)}` | {_markdown(doc.splitlines()[0] if doc else '')} |")
    return "\n".join(rows)


def test_every_module_has_a_one_line_summary() -> None:
    missing = []
    for path in sorted((ROOT / "webhook_workflow").rglob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        lines = doc.splitlines()
        # The summary is one line: a blank line (or nothing) follows it.
        if not lines or not lines[0].strip() or (len(lines) > 1 and lines[1].strip()):
            missing.append(str(path.relative_to(ROOT)))
    assert missing == [], f"module docstrings without a one-line summary: {missing}"


def test_the_architecture_page_lists_every_module_as_its_docstring_says() -> None:
    text = PAGE.read_text()
    table = text.split(START, 1)[1].split(END, 1)[0].strip()
    assert table == module_table(), (
        "docs/architecture.md is stale: python tests/test_architecture.py")


def test_the_import_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    if not lint.exists():
        pytest.fail("lint-imports is missing: pip install -e '.[dev]'")
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "2 kept, 0 broken" in done.stdout


if __name__ == "__main__":
    head, rest = PAGE.read_text().split(START, 1)
    tail = rest.split(END, 1)[1]
    PAGE.write_text(f"{head}{START}\n{module_table()}\n{END}{tail}")
