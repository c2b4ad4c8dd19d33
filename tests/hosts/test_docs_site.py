"""The documentation site builds with ``mkdocs build --strict`` (every page in the nav is
found, every link resolves, the API reference renders from the docstrings)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hostcheck import ROOT

pytest.importorskip("mkdocs")
pytest.importorskip("material")
pytest.importorskip("mkdocstrings")
pytest.importorskip("mkdocstrings_handlers.python")


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    for page in ("index.html", "hosts/flask/index.html", "reference/engine/index.html",
                 "reference/graph/index.html", "console/index.html",
                 "console/execution.png"):
        assert (tmp_path / page).is_file(), page
    flask = (tmp_path / "hosts/flask/index.html").read_text()
    assert "DispatcherMiddleware" in flask  # the example files are included as they are
