"""Warnings of definitions that are valid but almost certainly wrong (:class:`DefinitionWarning`).

A ``{{`` that never closes is literal text, not a placeholder; a ``$jobsMapByNodeKey.<key>``
of a node that does not run before the node reading it reads nothing; a definition file
without a ``key`` gets a new URL each time it is loaded. None of these is refused (NocoBase
accepts them too), but each is worth telling the author.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

from ..errors import DefinitionWarning
from ..fields import join
from ..nodes.base import CompiledNode
from .compile import CompiledWorkflow
from .nocobase import from_flat, is_flat

__all__ = ["definition_warnings", "warn_definition"]

# A node's results as templates and expressions name them: ``$jobsMapByNodeKey.<key>``.
_JOB_REFERENCE = re.compile(r"\$jobsMapByNodeKey\.([A-Za-z0-9_-]+)")


def definition_warnings(compiled: CompiledWorkflow, data: Any,
                        file: str | None = None) -> list[DefinitionWarning]:
    """The warnings of a compiled definition; ``data`` is the definition as given and
    ``file`` the file it was read from, if any."""
    found: list[DefinitionWarning] = []
    if file is not None and isinstance(data, Mapping):
        given = from_flat(data) if is_flat(data) else data
        if given.get("key") is None:
            found.append(DefinitionWarning(
                "key", f"the file has no key: it gets a new one ({compiled.key} now) and so a "
                "new URL each time it is loaded; give it a key", file))
    definition = compiled.definition
    for section in ("config", "options"):
        for path, text in _strings(definition.get(section), section):
            found.extend(_unclosed(path, text, file))
    for node in compiled.nodes.values():
        before: set[str] | None = None
        for path, text in _strings(node.config, join(node.path, "config")):
            found.extend(_unclosed(path, text, file))
            for key in dict.fromkeys(_JOB_REFERENCE.findall(text)):
                if key not in compiled.nodes:
                    found.append(DefinitionWarning(
                        path, f"$jobsMapByNodeKey.{key} names no node of this workflow "
                        "(it reads nothing)", file))
                    continue
                if before is None:
                    before = _runs_before(node)
                if key not in before:
                    found.append(DefinitionWarning(
                        path, f"$jobsMapByNodeKey.{key} names a node that does not run "
                        f"before node {node.key!r} (not upstream of it): it reads nothing "
                        "or an earlier run's result", file))
    return found


def warn_definition(compiled: CompiledWorkflow, data: Any, file: str | None = None,
                    stacklevel: int = 2) -> None:
    """Issue each of :func:`definition_warnings` with :func:`warnings.warn`;
    ``stacklevel`` counts from the caller of this function."""
    for warning in definition_warnings(compiled, data, file):
        warnings.warn(warning, stacklevel=stacklevel + 1)


def _unclosed(path: str, text: str, file: str | None) -> list[DefinitionWarning]:
    # A "{{" after the last "}}" opens a placeholder that never closes: it stays literal text.
    opened = text.rfind("{{")
    if opened < 0 or text.rfind("}}") > opened:
        return []
    return [DefinitionWarning(path, f"'{{{{' without its '}}}}' (at character {opened}): it "
                              "is literal text, not a placeholder", file)]


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string of a JSON value (keys too) with its field path, depth first."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            yield where, item
        elif isinstance(item, list):
            stack.extend((v, join(where, i)) for i, v in reversed(list(enumerate(item))))
        elif isinstance(item, Mapping):
            for k, v in reversed(list(item.items())):
                stack.append((v, join(where, str(k))))
                if isinstance(k, str) and "{{" in k:
                    stack.append((k, where))


def _descendants(node: CompiledNode) -> Iterator[CompiledNode]:
    """The nodes inside the branches of ``node``, at every depth."""
    stack = list(node.branches.values())
    while stack:
        current = stack.pop()
        yield current
        stack.extend(current.branches.values())
        if current.downstream is not None:
            stack.append(current.downstream)


def _runs_before(node: CompiledNode) -> set[str]:
    """Keys of the nodes whose results a node can read: the nodes before it in its chain and
    in the chains of the nodes around it (with whatever ran in their branches), and the nodes
    around it (their own jobs are saved when a branch starts)."""
    keys: set[str] = set()
    current: CompiledNode | None = node
    while current is not None:
        earlier = current.upstream
        while earlier is not None:
            keys.add(earlier.key)
            keys.update(d.key for d in _descendants(earlier))
            earlier = earlier.upstream
        current = current.parent
        if current is not None:
            keys.add(current.key)
    return keys
