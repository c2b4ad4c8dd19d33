"""The syntax tree of an expression, its operator precedence, and printing it back to source.

Left-associative operators of one precedence level form one flat :class:`Chain`
(``a + b - c`` is ``Chain(a, (("+", b), ("-", c)))``), so a long sum is a wide tree, not a
deep one. :func:`to_source` prints a tree with the fewest parentheses that parse back to the
same tree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from ..templates import Template
from .functions import Function

__all__ = [
    "BINDING",
    "COMPARISONS",
    "Binary",
    "Call",
    "Chain",
    "Cond",
    "Interp",
    "ListOf",
    "Lit",
    "Node",
    "Unary",
    "Var",
    "children",
    "to_source",
]

# Binding powers, loosest first.
COND, OR, AND, COMPARE, CONCAT, ADD, MUL, UNARY, POWER, ATOM = range(1, 11)
#: Binding power of each infix operator (canonical spelling).
BINDING: Final[dict[str, int]] = {
    "?": COND, "or": OR, "and": AND,
    "==": COMPARE, "!=": COMPARE, "<": COMPARE, "<=": COMPARE, ">": COMPARE, ">=": COMPARE,
    "&": CONCAT, "+": ADD, "-": ADD, "*": MUL, "/": MUL, "%": MUL, "^": POWER,
}
COMPARISONS: Final = frozenset(op for op, bp in BINDING.items() if bp == COMPARE)


@dataclass(frozen=True, slots=True)
class Lit:
    """A literal: number, string, ``true``/``false``, ``null`` (or a named constant)."""

    value: Any


@dataclass(frozen=True, slots=True)
class Var:
    """A ``{{ path }}`` placeholder, bound to its value (typed) when evaluated."""

    text: str
    template: Template = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Interp:
    """A string literal holding placeholders: literal parts and placeholders spliced as text."""

    parts: tuple[str | Var, ...]


@dataclass(frozen=True, slots=True)
class ListOf:
    """A list literal ``[a, b, c]``."""

    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Unary:
    """``-a``, ``+a``, ``not a``."""

    op: str
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary:
    """A comparison or a power (the operators that do not chain left to right)."""

    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Chain:
    """``first op1 x1 op2 x2 ...`` for operators of one left-associative level."""

    first: Node
    rest: tuple[tuple[str, Node], ...]


@dataclass(frozen=True, slots=True)
class Cond:
    """``test ? then : other``."""

    test: Node
    then: Node
    other: Node


@dataclass(frozen=True, slots=True)
class Call:
    """A call of a library function (resolved when parsed)."""

    name: str
    args: tuple[Node, ...]
    function: Function = field(compare=False, repr=False)


Node = Lit | Var | Interp | ListOf | Unary | Binary | Chain | Cond | Call


def _binding(node: Node) -> int:
    if isinstance(node, Cond):
        return COND
    if isinstance(node, Chain):
        return BINDING[node.rest[0][0]]
    if isinstance(node, Binary):
        return BINDING[node.op]
    if isinstance(node, Unary):
        return UNARY
    return ATOM


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-expressions of ``node``."""
    if isinstance(node, ListOf):
        return node.items
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, Chain):
        return (node.first, *(x for _op, x in node.rest))
    if isinstance(node, Cond):
        return (node.test, node.then, node.other)
    if isinstance(node, Call):
        return node.args
    return ()


_ESCAPES: Final = {"\\": "\\\\", '"': '\\"', "{": "\\{", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _quote(text: str) -> str:
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch < " " or ch == "\x7f":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


def _literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{_quote(value)}"'
    return repr(value)


def to_source(node: Node) -> str:
    """Source text that parses back to ``node``."""

    def wrapped(child: Node, tighter_than: int) -> str:
        text = to_source(child)
        return text if _binding(child) > tighter_than else f"({text})"

    if isinstance(node, Lit):
        return _literal(node.value)
    if isinstance(node, Var):
        return node.text
    if isinstance(node, Interp):
        inner = "".join(p.text if isinstance(p, Var) else _quote(p) for p in node.parts)
        return f'"{inner}"'
    if isinstance(node, ListOf):
        return "[" + ", ".join(to_source(item) for item in node.items) + "]"
    if isinstance(node, Unary):
        sign = "not " if node.op == "not" else node.op
        return sign + wrapped(node.operand, UNARY - 1)
    if isinstance(node, Binary):
        if node.op == "^":
            return f"{wrapped(node.left, POWER)} ^ {wrapped(node.right, UNARY - 1)}"
        return f"{wrapped(node.left, COMPARE)} {node.op} {wrapped(node.right, COMPARE)}"
    if isinstance(node, Chain):
        level = BINDING[node.rest[0][0]]
        parts = [wrapped(node.first, level)]
        parts.extend(f"{op} {wrapped(x, level)}" for op, x in node.rest)
        return " ".join(parts)
    if isinstance(node, Cond):
        return f"{wrapped(node.test, COND)} ? {to_source(node.then)} : {to_source(node.other)}"
    return node.name + "(" + ", ".join(to_source(a) for a in node.args) + ")"
