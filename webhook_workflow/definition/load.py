"""Read definitions from dicts, JSON files and YAML files (YAML needs the ``yaml`` extra)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ..errors import DefinitionError

__all__ = ["DEFINITION_SUFFIXES", "compile_directory", "copy_tree", "load_definition"]

_T = TypeVar("_T")

DEFINITION_SUFFIXES = (".json", ".yaml", ".yml")


def load_definition(source: dict[str, Any] | str | os.PathLike[str]) -> dict[str, Any]:
    """Return the definition dict from a dict (as is) or a ``.json``/``.yaml``/``.yml`` file."""
    if isinstance(source, dict):
        return source
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix not in DEFINITION_SUFFIXES:
        raise DefinitionError("", f"{path}: a definition file ends in .json, .yaml or .yml")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DefinitionError("", f"{path}: cannot read: {exc}") from None
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DefinitionError("", f"{path}: invalid JSON at line {exc.lineno} column "
                                  f"{exc.colno}: {exc.msg}") from None
        except RecursionError:
            raise DefinitionError("", f"{path}: the JSON nests too deeply") from None
    else:
        data = _load_yaml(text, path)
    if not isinstance(data, dict):
        raise DefinitionError("", f"{path}: a definition is an object at the top level")
    return data


def _load_yaml(text: str, path: Path) -> Any:
    try:
        import yaml
    except ImportError:
        raise DefinitionError("", f"{path}: YAML definitions need PyYAML: pip install "
                              "'webhook-workflow[yaml]'") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DefinitionError("", f"{path}: invalid YAML: {exc}") from None
    except RecursionError:
        raise DefinitionError("", f"{path}: the YAML nests too deeply") from None


def copy_tree(value: Any) -> Any:
    """A deep copy of nested dicts and lists (other values shared), without recursion, so a
    definition nested thousands of levels deep is copied and then refused with its path."""
    def fresh(item: Any) -> Any:
        if isinstance(item, dict):
            return {}
        if isinstance(item, list):
            return [None] * len(item)
        return item

    root = fresh(value)
    stack: list[tuple[Any, Any]] = [(value, root)] if root is not value else []
    while stack:
        source, target = stack.pop()
        pairs = source.items() if isinstance(source, dict) else enumerate(source)
        for key, item in pairs:
            copied = fresh(item)
            target[key] = copied
            if copied is not item:
                stack.append((item, copied))
    return root


def compile_directory(path: str | os.PathLike[str], compile: Callable[[dict[str, Any]], _T]
                      ) -> list[tuple[Path, dict[str, Any], _T]]:
    """Load and ``compile`` every ``.json``/``.yaml``/``.yml`` file of a folder (sorted by
    name): ``(file, definition, compiled)`` each. Every file is checked; the errors of all of
    them are raised at once, each field path led by its file's name (``a.json: nodes[0]``)."""
    folder = Path(path)
    if not folder.is_dir():
        raise DefinitionError("", f"{folder}: not a directory")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in DEFINITION_SUFFIXES)
    out: list[tuple[Path, dict[str, Any], _T]] = []
    errors: list[DefinitionError] = []
    for file in files:
        try:
            data = copy_tree(load_definition(file))
            out.append((file, data, compile(data)))
        except DefinitionError as exc:
            # A reading error names its file already; a field path gets the file's name.
            errors.append(DefinitionError("", "", [
                (f"{file.name}: {where}" if where else where, reason)
                for where, reason in exc.errors]))
    if errors:
        raise DefinitionError.of(errors)
    return out
