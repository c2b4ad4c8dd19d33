"""What the ``webhook-workflow`` subcommands share: usage errors and building the engine."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .definition.load import DEFINITION_SUFFIXES
from .engine import Engine
from .settings import check_settings
from .store.open import sqlite_path

__all__ = ["UsageError", "definition_files", "engine_from_args", "env_from_args",
           "require_store", "store_engine"]


class UsageError(Exception):
    """A command-line mistake: printed on stderr, exit status 2."""


def definition_files(paths: Sequence[str]) -> list[Path]:
    """The definition files named by ``paths`` (files, or folders of .json/.yaml files)."""
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir()
                                if p.suffix.lower() in DEFINITION_SUFFIXES))
        elif path.exists():
            files.append(path)
        else:
            raise UsageError(f"{name}: no such file or directory")
    return files


def _read_env_file(name: str) -> dict[str, str]:
    env: dict[str, str] = {}
    try:
        lines = Path(name).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"--env-file {name}: {exc.strerror or exc}") from None
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if text.startswith("export "):
            text = text[7:].lstrip()
        key, eq, value = text.partition("=")
        if not eq or not key.strip():
            raise UsageError(f"--env-file {name}:{number}: expected NAME=value")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key.strip()] = value
    return env


def env_from_args(args: argparse.Namespace) -> dict[str, str]:
    """The ``$env`` of ``--env-file`` and ``--env`` (``--env`` wins)."""
    env: dict[str, str] = {}
    if getattr(args, "env_file", None):
        env.update(_read_env_file(args.env_file))
    for item in getattr(args, "env", None) or []:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise UsageError(f"--env {item!r}: expected NAME=value")
        env[key] = value
    return env


def require_store(store: str) -> None:
    """Refuse an SQLite ``store`` whose file does not exist: commands that read the
    execution log never create one (a mistyped ``--store`` would read an empty log)."""
    try:
        path = sqlite_path(store)
    except ValueError as exc:
        raise UsageError(f"--store: {exc}") from None
    if path is not None and path != ":memory:" and not os.path.exists(path):
        raise UsageError(f"no store at {path}")


def store_engine(store: str) -> Engine:
    """An engine on an existing ``store`` for reading the execution log (starts no workers)."""
    require_store(store)
    try:
        return Engine(store)
    except ValueError as exc:
        raise UsageError(f"--store: {exc}") from None


def engine_from_args(args: argparse.Namespace, *, must_exist: bool = False) -> Engine:
    """The engine named by ``--app``, or a new one with ``--store`` and ``--env``;
    ``must_exist`` refuses an SQLite store file that is not there yet."""
    env = env_from_args(args)
    app = getattr(args, "app", None)
    if not app:
        store = getattr(args, "store", None) or "memory"
        if must_exist:
            require_store(store)
        public = getattr(args, "public_url", None)
        try:
            return Engine(store, env=env, **({"public_url": public} if public else {}))
        except ValueError as exc:
            option = "--public-url" if public and "public_url" in str(exc) else "--store"
            raise UsageError(f"{option}: {exc}") from None
    module_name, colon, attr = app.partition(":")
    if not colon or not attr:
        raise UsageError(f"--app {app!r}: expected module:attribute")
    sys.path.insert(0, os.getcwd())
    try:
        target: Any = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"--app {app}: {exc}") from None
    if not isinstance(target, Engine) and callable(target):
        target = target()
    if not isinstance(target, Engine):
        raise UsageError(f"--app {app}: not an Engine (nor a function returning one)")
    if env:
        target.env = {**target.env, **env}
    public = getattr(args, "public_url", None)
    if public:
        try:
            target.public_url = check_settings({"public_url": public})["public_url"]
        except ValueError as exc:
            raise UsageError(f"--public-url: {exc}") from None
    return target


