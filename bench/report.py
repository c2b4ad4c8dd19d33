"""Markdown helpers shared by the sections."""

from __future__ import annotations

from collections.abc import Sequence


def table(header: Sequence[str], rows: Sequence[Sequence[object]],
          numeric: Sequence[int] = ()) -> str:
    """A Markdown table; the columns whose index is in ``numeric`` are right-aligned."""
    align = ["---:" if i in numeric else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def verdict(ok: bool | None) -> str:
    """The pass/fail cell of a target (``None``: not measured)."""
    if ok is None:
        return "n/a"
    return "pass" if ok else "**fail**"


def target(label: str, ok: bool | None) -> str:
    """``label: pass`` (or fail) for a targets column."""
    return f"{label}: {verdict(ok)}"


def ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def micros(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.1f}" if value < 1000 else f"{value:,.0f}"

X = "\N{MULTIPLICATION SIGN}"  # "times", in table headers and targets
