"""SVG pictures made in Python: a workflow's graph, and an execution's jobs as a waterfall.

The graph is laid out as the NocoBase canvas draws it (and as :mod:`webhook_workflow.graph`
describes it): the trigger on top, the main chain below, each branching node's branches side
by side under it, flowing back together into the node after it, down to "End". Colours and
fonts come from ``console.css`` through class names: the Content-Security-Policy of the
console allows no inline style. Every text is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..graph import TERMINAL_TYPES, branch_labels
from ..records import Job
from ..status import status_name
from .render import esc

__all__ = ["graph_svg", "waterfall_svg"]

BOX_W, BOX_H, GAP_X, GAP_Y, PAD = 180, 40, 24, 34, 16
#: Branches nested deeper than this are drawn as one box saying so.
MAX_NESTING = 24
_LABEL = 26


def _short(text: str, width: int = _LABEL) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _branches(node: Mapping[str, Any]) -> list[tuple[str, list[Any]]]:
    """The labelled branches a node draws, with their chains (empty ones too)."""
    if node.get("type") in TERMINAL_TYPES:
        return []
    raw = node.get("branches")
    present: dict[int, list[Any]] = {}
    if isinstance(raw, Mapping):
        for name, chain in raw.items():
            try:
                present[int(name)] = chain if isinstance(chain, list) else []
            except (TypeError, ValueError):
                index = {"true": 1, "false": 0, "otherwise": 0}.get(str(name))
                if index is not None:
                    present[index] = chain if isinstance(chain, list) else []
    return [(label, present.get(index, [])) for index, label in branch_labels(node)]


@dataclass
class _Canvas:
    parts: list[str]

    def box(self, cx: float, y: float, node: Mapping[str, Any]) -> None:
        kind = str(node.get("type", "?"))
        key = str(node.get("key", "?"))
        title = str(node.get("title") or key)
        shape = "decision" if kind in ("condition", "multi-conditions") else \
            "fan" if kind in ("parallel", "loop") else "end-node" if kind in TERMINAL_TYPES \
            else "node"
        x = cx - BOX_W / 2
        self.parts.append(
            f'<g class="{shape}" data-node="{esc(key)}"><title>{esc(title)} ({esc(kind)})'
            f'</title><rect x="{x:.0f}" y="{y:.0f}" width="{BOX_W}" height="{BOX_H}" rx="6"/>'
            f'<text x="{cx:.0f}" y="{y + 16:.0f}" class="t1">{esc(_short(title))}</text>'
            f'<text x="{cx:.0f}" y="{y + 31:.0f}" class="t2">{esc(_short(kind))}</text></g>')

    def line(self, points: Sequence[tuple[float, float]], label: str | None = None) -> None:
        path = " ".join(f"{x:.0f},{y:.0f}" for x, y in points)
        self.parts.append(f'<polyline class="edge" points="{path}"/>')
        if label:
            x, y = points[-1]
            self.parts.append(f'<text class="edge-label" x="{x + 4:.0f}" y="{y - 6:.0f}">'
                              f'{esc(_short(label, 18))}</text>')


class _Layout:
    """Sizes of chains (memoised by identity: the definition does not change meanwhile)."""

    def __init__(self) -> None:
        self._width: dict[int, float] = {}
        self._height: dict[int, float] = {}

    def chain_width(self, chain: Sequence[Any], depth: int) -> float:
        if not chain:
            return BOX_W * 0.6
        known = self._width.get(id(chain))
        if known is None:
            known = self._width[id(chain)] = max(self.node_width(n, depth) for n in chain)
        return known

    def node_width(self, node: Any, depth: int) -> float:
        branches = _branches(node) if isinstance(node, Mapping) and depth < MAX_NESTING \
            else []
        if not branches:
            return BOX_W
        inner = sum(self.chain_width(c, depth + 1) for _, c in branches)
        return max(BOX_W, inner + GAP_X * (len(branches) - 1))

    def chain_height(self, chain: Sequence[Any], depth: int) -> float:
        if not chain:
            return 0.0
        known = self._height.get(id(chain))
        if known is None:
            known = sum(self.node_height(n, depth) for n in chain) + GAP_Y * (len(chain) - 1)
            self._height[id(chain)] = known
        return known

    def node_height(self, node: Any, depth: int) -> float:
        branches = _branches(node) if isinstance(node, Mapping) and depth < MAX_NESTING \
            else []
        if not branches:
            return BOX_H
        return BOX_H + 2 * GAP_Y + max(self.chain_height(c, depth + 1) for _, c in branches)


def _draw_chain(canvas: _Canvas, sizes: _Layout, chain: Sequence[Any], cx: float, y: float,
                depth: int) -> float:
    """Draw ``chain`` centred at ``cx`` from ``y``; the y where it ends."""
    for i, node in enumerate(chain):
        if i:
            canvas.line([(cx, y), (cx, y + GAP_Y)])
            y += GAP_Y
        y = _draw_node(canvas, sizes, node if isinstance(node, Mapping) else {}, cx, y, depth)
    return y


def _draw_node(canvas: _Canvas, sizes: _Layout, node: Mapping[str, Any], cx: float, y: float,
               depth: int) -> float:
    if depth >= MAX_NESTING:
        canvas.box(cx, y, {"key": "…", "title": "(nested deeper: see the definition)",
                           "type": str(node.get("type", "?"))})
        return y + BOX_H
    canvas.box(cx, y, node)
    branches = _branches(node)
    if not branches:
        return y + BOX_H
    total = sizes.node_width(node, depth)
    inner = sum(sizes.chain_width(c, depth + 1) for _, c in branches) + \
        GAP_X * (len(branches) - 1)
    left = cx - min(total, inner) / 2
    top = y + BOX_H + GAP_Y
    bottom = top + max(sizes.chain_height(c, depth + 1) for _, c in branches) + GAP_Y
    for label, chain in branches:
        width = sizes.chain_width(chain, depth + 1)
        bx = left + width / 2
        canvas.line([(cx, y + BOX_H), (cx, y + BOX_H + GAP_Y / 2), (bx, y + BOX_H + GAP_Y / 2),
                     (bx, top)], label)
        end = _draw_chain(canvas, sizes, chain, bx, top, depth + 1) if chain else top
        if node.get("type") == "loop":
            canvas.line([(bx, end), (bx, bottom - GAP_Y / 2), (cx, bottom - GAP_Y / 2)])
        else:
            canvas.line([(bx, end), (bx, bottom), (cx, bottom)])
        left += width + GAP_X
    return bottom


def graph_svg(definition: Mapping[str, Any]) -> str:
    """A workflow's graph as an ``<svg>`` element (class ``graph``)."""
    main = definition.get("nodes")
    chain: list[Any] = main if isinstance(main, list) else []
    sizes = _Layout()
    width = sizes.chain_width(chain, 0) + 2 * PAD
    canvas = _Canvas([])
    cx = width / 2
    mode = "sync" if definition.get("sync") else "async"
    canvas.box(cx, PAD, {"key": "trigger", "title": str(definition.get("title")
                                                         or definition.get("key") or "webhook"),
                         "type": f"webhook, {mode}"})
    y: float = PAD + BOX_H
    canvas.line([(cx, y), (cx, y + GAP_Y)])
    y = _draw_chain(canvas, sizes, chain, cx, y + GAP_Y, 0) if chain else y + GAP_Y
    if chain:
        canvas.line([(cx, y), (cx, y + GAP_Y)])
        y += GAP_Y
    canvas.parts.append(f'<g class="finish"><circle cx="{cx:.0f}" cy="{y + 16:.0f}" r="16"/>'
                        f'<text x="{cx:.0f}" y="{y + 20:.0f}" class="t2">End</text></g>')
    height = y + 32 + PAD
    return (f'<svg class="graph" xmlns="http://www.w3.org/2000/svg" role="img" '
            f'aria-label="workflow graph" viewBox="0 0 {width:.0f} {height:.0f}" '
            f'width="{width:.0f}" height="{height:.0f}">{"".join(canvas.parts)}</svg>')


def waterfall_svg(jobs: Sequence[Job], start: datetime | None,
                  end: datetime | None) -> str:
    """The jobs as bars on one time axis: where each started and how long it took."""
    times = [t for j in jobs for t in (j.started_at, j.finished_at) if t is not None]
    if start is not None:
        times.append(start)
    if end is not None:
        times.append(end)
    if not jobs or not times:
        return ""
    origin, last = min(times), max(times)
    span = max((last - origin).total_seconds(), 1e-6)
    row, label_w, bar_w = 22, 220, 560
    parts = []
    for i, job in enumerate(jobs):
        y = i * row + 4
        begin = job.started_at or job.finished_at or origin
        finish = job.finished_at or last
        x = label_w + (begin - origin).total_seconds() / span * bar_w
        w = max(2.0, (finish - begin).total_seconds() / span * bar_w)
        name = "PENDING" if int(job.status) == 0 else status_name(int(job.status))
        attempt = int(job.meta.get("attempt", 1)) if isinstance(job.meta, dict) else 1
        text = f"{job.node_key or '(engine)'}" + (f" #{attempt}" if attempt > 1 else "")
        took = (finish - begin).total_seconds() * 1000
        parts.append(
            f'<g class="job s-{esc(name.lower())}"><title>{esc(text)}: {esc(name)}, '
            f'{took:.1f} ms</title><text x="4" y="{y + 13}" class="t3">{esc(_short(text, 30))}'
            f'</text><rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row - 8}" rx="3"/></g>')
    height = len(jobs) * row + 8
    axis = f'<text x="{label_w}" y="{height + 10}" class="t3">0 ms</text>' \
        f'<text x="{label_w + bar_w}" y="{height + 10}" class="t3 end">{span * 1000:.1f} ms' \
        '</text>'
    return (f'<svg class="waterfall" xmlns="http://www.w3.org/2000/svg" role="img" '
            f'aria-label="job timeline" viewBox="0 0 {label_w + bar_w + 8} {height + 16}" '
            f'width="{label_w + bar_w + 8}" height="{height + 16}">{"".join(parts)}{axis}</svg>')
