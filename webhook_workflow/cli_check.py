"""The commands that check definition files: ``validate``, and the check ``serve`` makes first.

Every error of every file is printed, one a line led by the file's name; warnings are printed
as ``warning:`` lines and do not change the exit status."""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from .cli_common import UsageError, definition_files, engine_from_args
from .engine import Engine
from .errors import DefinitionError, DefinitionWarning

__all__ = ["added", "cmd_validate", "compiled_or_report", "located"]


def located(file: Any, exc: DefinitionError) -> str:
    """Each error of ``exc`` on a line of its own, led by ``file`` (unless its message names
    the file already, as reading errors do)."""
    lines = []
    for path, reason in exc.errors:
        text = f"{path}: {reason}" if path else reason
        lines.append(text if text.startswith(str(file)) else f"{file}: {text}")
    return "\n".join(lines)


def added(engine: Engine, file: Any, err: TextIO | None) -> Any:
    """``engine.add_workflow(file)``, its warnings printed on ``err`` as ``warning: ...``
    lines (each led by the file) rather than issued; dropped when ``err`` is None."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DefinitionWarning)
        try:
            return engine.add_workflow(file)
        finally:
            for item in caught:
                if isinstance(item.message, DefinitionWarning):
                    if err is not None:
                        print(f"warning: {item.message}", file=err)
                else:  # not ours: issued again as it came
                    warnings.warn_explicit(item.message, item.category, item.filename,
                                           item.lineno)


def cmd_validate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Check definition files: `ok FILE`, or every error of the file; 1 if any failed."""
    files = definition_files(args.paths)
    if not files:
        raise UsageError("no workflow definitions found")
    engine = engine_from_args(args)
    failed = False
    for file in files:
        try:
            added(engine, file, err)
        except DefinitionError as exc:
            failed = True
            print(located(file, exc), file=err)
        else:
            print(f"ok {file}", file=out)
    return 1 if failed else 0


def compiled_or_report(engine: Engine, files: Sequence[Path], err: TextIO, *,
                       warn: bool = True) -> list[Any] | None:
    """``files`` registered in ``engine`` in order (their warnings printed on ``err``, or
    not at all without ``warn``); None after naming every invalid file with each of its
    errors on ``err`` (every file is checked)."""
    workflows = []
    failed = False
    for file in files:
        try:
            workflows.append(added(engine, file, err if warn else None))
        except DefinitionError as exc:
            failed = True
            for line in located(file, exc).splitlines():
                print(f"error: {line}", file=err)
    return None if failed else workflows
