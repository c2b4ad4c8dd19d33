"""``webhook_workflow.graph.to_mermaid`` and ``webhook-workflow graph``."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from hostcheck import ROOT

from examples.custom_node import make_engine
from webhook_workflow import Engine
from webhook_workflow.cli import main
from webhook_workflow.graph import branch_labels, to_mermaid

EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
_SHAPE = re.compile(r'(trigger|finish|n\d+)(\(\[|\(\(|\{\{|\{|\[)"[^"]*"(\]\)|\)\)|\}\}|\}|\])')
_EDGE = re.compile(r'(trigger|n\d+) -->(\|"[^"|]*"\|)? (finish|n\d+)')

PAYMENT = """flowchart TD
    trigger(["Payment callback: webhook, sync"])
    n1{"paid: condition"}
    n2["ok: response"]
    n3["bad: response"]
    finish(("End"))
    trigger --> n1
    n1 -->|"Yes"| n2
    n1 -->|"No"| n3
    n2 --> finish
    n3 --> finish
"""


def canonical(definition: dict[str, Any], engine: Engine | None = None) -> dict[str, Any]:
    return (engine or Engine()).add_workflow(definition).definition


def parse(chart: str) -> tuple[dict[str, str], list[tuple[str, str | None, str]]]:
    """Check every line's syntax; return the node ids with their lines and the edges."""
    lines = chart.splitlines()
    assert lines[0] == "flowchart TD"
    shapes: dict[str, str] = {}
    edges: list[tuple[str, str | None, str]] = []
    for line in lines[1:]:
        assert line.startswith("    ")
        text = line.strip()
        if (shape := _SHAPE.fullmatch(text)) is not None:
            assert shape.group(1) not in shapes, f"declared twice: {text}"
            shapes[shape.group(1)] = text
        elif (edge := _EDGE.fullmatch(text)) is not None:
            label = edge.group(2)[2:-2] if edge.group(2) else None
            edges.append((edge.group(1), label, edge.group(3)))
        else:
            raise AssertionError(f"not a Mermaid statement: {text!r}")
    for source, _, target in edges:
        assert source in shapes and target in shapes, (source, target)
    return shapes, edges


def all_nodes(nodes: list[Any]) -> list[dict[str, Any]]:
    found = []
    for node in nodes:
        found.append(node)
        for chain in node.get("branches", {}).values():
            found.extend(all_nodes(chain))
    return found


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example(path: Path) -> None:
    engine = make_engine()  # knows the custom node types of examples/custom-node.json
    definition = engine.add_workflow(path).definition
    chart = to_mermaid(definition)
    shapes, edges = parse(chart)
    nodes = all_nodes(definition["nodes"])
    assert len(shapes) == len(nodes) + 2  # + trigger and End
    assert any(target == "finish" for _, _, target in edges)
    for node in nodes:
        assert f'"{node.get("title") or node["key"] + ": " + node["type"]}"' in chart


def test_payment_callback_exactly() -> None:
    assert to_mermaid(canonical_example("payment-callback.json")) == PAYMENT


def canonical_example(name: str) -> dict[str, Any]:
    return make_engine().add_workflow(ROOT / "examples" / name).definition


@pytest.mark.parametrize("page", ["docs/reference/graph.md", "docs/hosts/index.md"])
def test_docs_show_the_current_graphs(page: str) -> None:
    text = (ROOT / page).read_text()
    blocks = re.findall(r"```mermaid\n(.*?)```", text, re.S)
    assert blocks
    charts = {to_mermaid(canonical_example(p.name)) for p in EXAMPLES}
    for block in blocks:
        assert block in charts, f"{page}: a graph no example draws:\n{block}"


def test_branch_labels_and_flow() -> None:
    definition = canonical({"key": "big", "nodes": [
        {"key": "mc", "type": "multi-conditions", "config": {
            "continueOnNoMatch": True,
            "conditions": [{"title": 'Big "order" | <vip> #1', "engine": "math.js",
                            "expression": "1"},
                           {"engine": "math.js", "expression": "0"}]},
         "branches": {
             "1": [{"key": "par", "type": "parallel", "branches": {
                 "0": [{"key": "a", "type": "output", "config": {"value": 1}}],
                 "1": [{"key": "lp", "type": "loop", "config": {"target": 3},
                        "branches": {"0": [{"key": "v", "type": "output",
                                            "config": {"value": 2}}]}}]}}],
             "otherwise": [{"key": "stop", "type": "end", "config": {"endStatus": -1}}]}},
        {"key": "c", "type": "condition",
         "config": {"engine": "math.js", "expression": "1", "rejectOnFalse": False},
         "branches": {"true": [{"key": "yes", "type": "output", "title": "Say yes",
                                "config": {"value": 1}}]}},
        {"key": "last", "type": "output", "config": {"value": 3}}]})
    chart = to_mermaid(definition)
    shapes, edges = parse(chart)
    ids = {re.search(r'"([^":]+)', line).group(1): node  # type: ignore[union-attr]
           for node, line in shapes.items()}
    mc, par, a, lp, v, stop, c, yes, last = (ids[k] for k in (
        "mc", "par", "a", "lp", "v", "stop", "c", "Say yes", "last"))
    assert shapes[mc] == f'{mc}{{"mc: multi-conditions"}}'
    assert shapes[par] == f'{par}{{{{"par: parallel"}}}}'
    assert set(edges) == {
        ("trigger", None, mc),
        (mc, "Big #quot;order#quot; #124; #lt;vip#gt; #35;1", par),
        (mc, "Condition 2", c),  # an empty branch flows on
        (mc, "Otherwise", stop),
        (par, "Branch 1", a), (par, "Branch 2", lp),
        (a, None, c),  # parallel branches flow on to the node after the parallel node
        (lp, "Loop", v), (v, None, lp), (lp, None, c),  # loop back, then on
        (stop, None, "finish"),  # end ends the execution
        (c, "Yes", yes), (c, "No", last), (yes, None, last),
        (last, None, "finish"),
    }
    # Canvas order: a node, its branches, then what follows it.
    assert list(shapes)[1:10] == [mc, par, a, lp, v, stop, c, yes, last]
    assert [mc, par, a, lp, v, stop, c, yes, last] == [f"n{i}" for i in range(1, 10)]


def test_branch_labels() -> None:
    assert branch_labels({"type": "condition", "branches": {"0": [{}]}}) == \
        [(1, "Yes"), (0, "No")]
    assert branch_labels({"type": "condition"}) == []
    assert branch_labels({"type": "parallel", "branches": {"2": [], "0": [], "10": []}}) == \
        [(0, "Branch 1"), (2, "Branch 3"), (10, "Branch 11")]
    assert branch_labels({"type": "multi-conditions", "config": {"conditions": []},
                          "branches": {"2": []}}) == \
        [(1, "Condition 1"), (2, "Condition 2"), (0, "Otherwise")]
    assert branch_labels({"type": "my-node", "branches": {"3": [{}]}}) == [(3, "Branch 3")]


def test_empty_workflow_and_condition_without_branches() -> None:
    assert to_mermaid(canonical({"key": "empty", "title": "Nothing"})) == (
        'flowchart TD\n    trigger(["Nothing: webhook, async"])\n    finish(("End"))\n'
        "    trigger --> finish\n")
    definition = canonical({"key": "gate", "nodes": [
        {"key": "check", "type": "condition", "config": {"engine": "math.js",
                                                         "expression": "1"}},
        {"key": "out", "type": "output", "config": {"value": 1}}]})
    _, edges = parse(to_mermaid(definition))
    assert edges == [("trigger", None, "n1"), ("n1", None, "n2"), ("n2", None, "finish")]


def test_deep_nesting_does_not_recurse() -> None:
    node: dict[str, Any] = {"key": "leaf", "type": "output"}
    for depth in range(5000):
        node = {"key": f"c{depth}", "type": "condition", "branches": {"1": [node]}}
    shapes, edges = parse(to_mermaid({"key": "deep", "nodes": [node]}))
    assert len(shapes) == 5003
    assert len(edges) == 1 + 2 * 5000 + 1


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), out, err)
    return code, out.getvalue(), err.getvalue()


def test_cli_graph(tmp_path: Path) -> None:
    code, out, err = run_cli("graph", str(ROOT / "examples" / "payment-callback.json"))
    assert (code, out, err) == (0, PAYMENT, "")
    custom = str(ROOT / "examples" / "custom-node.json")
    code, out, err = run_cli("graph", custom)
    assert code == 1
    assert "unknown node type 'slugify'" in err
    code, out, _ = run_cli("graph", custom, "--app", "examples.custom_node:make_engine")
    assert code == 0
    assert out == to_mermaid(canonical_example("custom-node.json"))
