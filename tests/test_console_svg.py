"""The console's SVG pictures: a workflow's graph as NocoBase lays it out, a job waterfall."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from webhook_workflow import Job, Status
from webhook_workflow.console.svg import MAX_NESTING, graph_svg, waterfall_svg

SVG = "{http://www.w3.org/2000/svg}"


def _node(key: str, kind: str = "output", **more: Any) -> dict[str, Any]:
    return {"key": key, "type": kind, "config": {}, **more}


def _boxes(svg: str) -> list[str]:
    root = ET.fromstring(svg)  # well-formed XML: every text was escaped
    return [g.get("data-node", "") for g in root.iter(f"{SVG}g") if g.get("data-node")]


def test_branches_are_drawn_side_by_side_with_their_labels() -> None:
    definition = {"key": "w", "title": "Orders", "sync": False, "nodes": [
        _node("split", "multi-conditions", config={"conditions": [{"title": "Big"}, {}]},
              branches={"1": [_node("big")], "2": [_node("small")], "0": []}),
        _node("fan", "parallel", branches={"0": [_node("p1")], "1": [_node("p2")]}),
        _node("each", "loop", branches={"0": [_node("body")]}),
        _node("done", "end")]}
    svg = graph_svg(definition)
    assert _boxes(svg) == ["trigger", "split", "big", "small", "fan", "p1", "p2", "each",
                           "body", "done"]
    labels = re.findall(r'class="edge-label"[^>]*>([^<]*)<', svg)
    assert labels == ["Big", "Condition 2", "Otherwise", "Branch 1", "Branch 2", "Loop"]
    boxes = {m[2]: (float(m[0]), float(m[1])) for m in re.findall(
        r'<rect x="(\d+)" y="(\d+)"[^>]*/><text[^>]*class="t1">([^<]*)<', svg)}
    assert boxes["big"][1] == boxes["small"][1] and boxes["big"][0] < boxes["small"][0]
    assert boxes["p1"][1] == boxes["p2"][1]
    assert boxes["split"][1] < boxes["big"][1] < boxes["fan"][1] < boxes["each"][1]
    assert ">End</text>" in svg


def test_hostile_titles_are_escaped_and_deep_nesting_is_bounded() -> None:
    chain: list[Any] = [_node("leaf", title='"><script>alert(1)</script>')]
    for depth in range(60):
        chain = [_node(f"c{depth}", "condition", branches={"1": chain, "0": []})]
    svg = graph_svg({"key": "deep", "title": "<b>x</b>", "nodes": chain})
    assert "<script>" not in svg and "<b>" not in svg
    assert "nested deeper" in svg
    assert len(_boxes(svg)) <= MAX_NESTING + 3


def test_the_waterfall_places_each_job_on_one_time_axis() -> None:
    start = datetime(2026, 12, 7, tzinfo=UTC)
    jobs = [Job(Status.RESOLVED, None, node_key="a", started_at=start,
                finished_at=start + timedelta(milliseconds=10)),
            Job(Status.FAILED, None, node_key="b<i>", started_at=start + timedelta(
                milliseconds=10), finished_at=start + timedelta(milliseconds=40),
                meta={"attempt": 3})]
    svg = waterfall_svg(jobs, start, start + timedelta(milliseconds=40))
    root = ET.fromstring(svg)
    bars = [(float(r.get("x", 0)), float(r.get("width", 0))) for r in root.iter(f"{SVG}rect")]
    assert bars[0][0] < bars[1][0] and bars[1][1] == pytest.approx(3 * bars[0][1], abs=0.2)
    assert "b&lt;i&gt; #3" in svg and "s-failed" in svg and "40.0 ms" in svg
    assert waterfall_svg([], None, None) == ""
