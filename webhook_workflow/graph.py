"""Draw a workflow as a Mermaid flowchart (``webhook-workflow graph PATH``).

The drawing follows the NocoBase workflow canvas: the trigger on top, the main chain below
it, each branching node fanning out into its branches, and every branch flowing back into
the node that follows its branching node, down to one "End". It shows structure, not run-time
outcomes: a failing status that ends an execution early is not drawn. Two things are:

- a ``response`` or ``end`` node ends the whole execution, so its only edge goes to "End";
- a ``loop`` branch flows back into its loop node, and the loop node flows on when done.

Branch edges carry NocoBase's labels: condition "Yes" (branch 1) / "No" (branch 0);
multi-conditions the title of condition *i* (branch *i + 1*, "Condition *i + 1*" without a
title) and "Otherwise" (branch 0); parallel "Branch 1".."Branch n"; loop "Loop". A branch
without nodes is an edge with its label straight to where the branch would flow on.

:func:`to_mermaid` works on the canonical definition (``engine.add_workflow(...).definition``)
and never recurses, so a deeply nested definition cannot exhaust the stack.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["branch_labels", "to_mermaid"]

#: Node types that end the whole execution: their only edge goes to "End".
TERMINAL_TYPES = frozenset({"response", "end"})
_DECISIONS = frozenset({"condition", "multi-conditions"})
_FAN_OUT = frozenset({"parallel", "loop"})

_ESCAPES = (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;"), ("&", "#amp;"),
            ("|", "#124;"), ("`", "#96;"), ("\r", " "), ("\n", " "), ("\t", " "))


def _text(value: str) -> str:
    """Label text safe inside a quoted Mermaid label."""
    for old, new in _ESCAPES:
        value = value.replace(old, new)
    return value


def _as_dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _branches(node: Mapping[str, Any]) -> dict[int, list[Any]]:
    """A node's branches by integer index (canonical keys are decimal strings)."""
    out: dict[int, list[Any]] = {}
    for name, chain in _as_dict(node.get("branches")).items():
        try:
            index = int(name)
        except (TypeError, ValueError):
            index = {"true": 1, "false": 0, "otherwise": 0}.get(str(name), -1)
        if index >= 0 and isinstance(chain, list):
            out[index] = chain
    return out


def branch_labels(node: Mapping[str, Any]) -> list[tuple[int, str]]:
    """The labelled branches a node shows, in canvas order, as ``(index, label)``.

    A condition or multi-conditions node with branches shows all its outcomes, also those
    whose branch holds no node; other nodes show the branches they hold.
    """
    kind = node.get("type")
    present = _branches(node)
    if not present:
        return []
    if kind == "condition":
        return [(1, "Yes"), (0, "No")]
    if kind == "multi-conditions":
        conditions = _as_dict(node.get("config")).get("conditions")
        titles = [_as_dict(c).get("title") for c in conditions] \
            if isinstance(conditions, list) else []
        count = max(len(titles), max(present))
        labels = []
        for i in range(count):
            title = titles[i] if i < len(titles) else None
            labels.append((i + 1, str(title) if title else f"Condition {i + 1}"))
        return [*labels, (0, "Otherwise")]
    if kind == "parallel":
        return [(i, f"Branch {i + 1}") for i in sorted(present)]
    if kind == "loop":
        return [(i, "Loop") for i in sorted(present)]
    return [(i, f"Branch {i}") for i in sorted(present)]


def _shape(node_id: str, node: Mapping[str, Any]) -> str:
    kind = str(node.get("type", "?"))
    title = node.get("title")
    label = _text(str(title) if title else f"{node.get('key', '?')}: {kind}")
    if kind in _DECISIONS:
        return f'{node_id}{{"{label}"}}'
    if kind in _FAN_OUT:
        return f'{node_id}{{{{"{label}"}}}}'
    return f'{node_id}["{label}"]'


@dataclass(slots=True)
class _Chain:
    """A chain of nodes to draw and where its last node flows on to."""

    nodes: Sequence[Any]
    then: str


def _preorder(chains: list[_Chain]) -> Iterator[tuple[Mapping[str, Any], _Chain, int]]:
    """Every node with its chain and position: a node, then its branches, then its successor.

    ``chains`` is a work stack the caller may push branch chains onto while iterating; they
    are drawn before the rest of the current chain, which keeps node numbers in canvas order.
    """
    stack: list[tuple[_Chain, int]] = [(chain, 0) for chain in reversed(chains)]
    chains.clear()
    while stack:
        chain, position = stack.pop()
        if position >= len(chain.nodes):
            continue
        stack.append((chain, position + 1))
        yield _as_dict(chain.nodes[position]), chain, position
        stack.extend((pushed, 0) for pushed in reversed(chains))
        chains.clear()


def to_mermaid(definition: Mapping[str, Any]) -> str:
    """A Mermaid ``flowchart TD`` of a workflow definition, one statement per line.

    Nodes are labelled with their ``title``, or ``key: type`` without one; ids are ``trigger``,
    ``n1``, ``n2`` ... in canvas order and ``finish`` ("End").
    """
    title = definition.get("title") or definition.get("key") or "workflow"
    mode = "sync" if definition.get("sync") else "async"
    main = definition.get("nodes")
    main = main if isinstance(main, list) else []

    # Nodes are numbered first, so that ids follow the canvas order; a node is known by its
    # chain (a list of the definition, alive throughout) and its position in it.
    ids: dict[tuple[int, int], str] = {}
    pending: list[_Chain] = [_Chain(main, "finish")]
    for number, (node, chain, position) in enumerate(_preorder(pending), 1):
        ids[id(chain.nodes), position] = f"n{number}"
        present = _branches(node)
        if node.get("type") not in TERMINAL_TYPES:
            pending.extend(_Chain(present[i], "") for i, _ in branch_labels(node)
                           if present.get(i))

    shapes = [f'trigger(["{_text(f"{title}: webhook, {mode}")}"])']
    edges: list[str] = []

    def edge(source: str, target: str, label: str | None = None) -> None:
        edges.append(f'{source} -->|"{_text(label)}"| {target}' if label is not None
                     else f"{source} --> {target}")

    edge("trigger", ids[id(main), 0] if main else "finish")
    pending = [_Chain(main, "finish")]
    for node, chain, position in _preorder(pending):
        me = ids[id(chain.nodes), position]
        shapes.append(_shape(me, node))
        then = ids[id(chain.nodes), position + 1] if position + 1 < len(chain.nodes) \
            else chain.then
        if node.get("type") in TERMINAL_TYPES:
            edge(me, "finish")
            continue
        labels = branch_labels(node)
        if not labels:
            edge(me, then)
            continue
        present = _branches(node)
        is_loop = node.get("type") == "loop"
        for index, label in labels:
            branch = present.get(index)
            if branch:
                edge(me, ids[id(branch), 0], label)
                pending.append(_Chain(branch, me if is_loop else then))
            else:
                edge(me, then, label)
        if is_loop:
            edge(me, then)
    shapes.append('finish(("End"))')
    return "\n".join(["flowchart TD", *(f"    {line}" for line in [*shapes, *edges])]) + "\n"
