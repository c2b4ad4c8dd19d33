"""The parser: tokens to a syntax tree, by precedence climbing (a Pratt parser).

Precedence, loosest first: ``c ? a : b``; ``or``; ``and``; comparisons (which do not chain);
``&`` (formula.js); ``+ -``; ``* / %``; prefix ``- + not``; ``^`` (right-associative, so
``-2^2`` is ``-(2^2)`` and ``2^3^2`` is ``2^(3^2)``, as in math.js). Names are resolved here:
a call must name a function of the engine's library with a fitting number of arguments, and a
bare name must be one of its constants, so mistakes surface when the workflow is registered.
"""

from __future__ import annotations

from ...errors import ExpressionError, TemplateError
from ..templates import Template, compile_template
from .functions import Library
from .lexer import Slot, Token, position, tokenize
from .tree import (
    BINDING,
    COMPARE,
    COMPARISONS,
    COND,
    UNARY,
    Binary,
    Call,
    Chain,
    Cond,
    Interp,
    ListOf,
    Lit,
    Node,
    Unary,
    Var,
    children,
)
from .values import MAX_DEPTH

__all__ = ["parse"]

_KEYWORDS = {"true": True, "false": False, "null": None}


def parse(source: str, library: Library) -> Node | None:
    """The tree of ``source`` (None when it is empty or blank); raise ExpressionError."""
    return _Parser(source, library).parse()


class _Parser:
    __slots__ = ("depths", "i", "level", "library", "source", "templates", "tokens")

    def __init__(self, source: str, library: Library) -> None:
        self.source = source
        self.library = library
        self.tokens = tokenize(source, concat_operator=library.concat_operator)
        self.i = 0
        self.level = 0
        #: Nesting depth of each node built so far (by id), to refuse deep trees as they grow.
        self.depths: dict[int, int] = {}
        self.templates: dict[str, Template] = {}

    # -- helpers -----------------------------------------------------------------------------
    def peek(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def error(self, message: str, token: Token) -> ExpressionError:
        return ExpressionError(f"{message} at {position(self.source, token.pos)}")

    def unexpected(self, token: Token) -> ExpressionError:
        if token.kind == "end":
            return ExpressionError("unexpected end of expression")
        shown = {"str": "string", "num": "number", "var": "placeholder"}.get(token.kind)
        return self.error(f"unexpected {shown or repr(token.value)}", token)

    def expect(self, op: str) -> None:
        token = self.advance()
        if token.kind != "op" or token.value != op:
            raise self.unexpected(token) from None

    def is_op(self, op: str) -> bool:
        token = self.peek()
        return token.kind == "op" and token.value == op

    def node(self, node: Node) -> Node:
        """Record ``node``'s depth; refuse it when it nests deeper than MAX_DEPTH."""
        depth = 1 + max((self.depths[id(c)] for c in children(node)), default=0)
        if depth > MAX_DEPTH:
            raise ExpressionError(f"expression nests deeper than {MAX_DEPTH} levels")
        self.depths[id(node)] = depth
        return node

    def var(self, slot: Slot, token: Token) -> Var:
        template = self.templates.get(slot.text)
        if template is None:
            try:
                template = compile_template(slot.text)
            except TemplateError as exc:
                raise self.error(exc.reason, token) from None
            self.templates[slot.text] = template
        return Var(slot.text, template)

    def infix_op(self, token: Token) -> str | None:
        if token.kind == "op" and token.value in BINDING:
            return str(token.value)
        if token.kind == "name":
            word = self.library.keyword(token.value)
            if word in ("and", "or"):
                return word
        return None

    # -- grammar -----------------------------------------------------------------------------
    def parse(self) -> Node | None:
        if self.peek().kind == "end":
            return None
        tree = self.expression(0)
        token = self.peek()
        if token.kind != "end":
            raise self.unexpected(token)
        return tree

    def expression(self, rbp: int) -> Node:
        self.level += 1
        if self.level > MAX_DEPTH:
            raise ExpressionError(f"expression nests deeper than {MAX_DEPTH} levels")
        try:
            left = self.prefix()
            while True:
                token = self.peek()
                if token.kind == "op" and token.value == "[":
                    raise self.error("indexing with [...] is not supported; read items with "
                                     "{{ path.0 }}", token)
                if token.kind == "op" and token.value == "(":
                    raise self.error("only function names can be called", token)
                op = self.infix_op(token)
                if op is None or BINDING[op] <= rbp:
                    return left
                left = self.infix(left, op)
        finally:
            self.level -= 1

    def infix(self, left: Node, op: str) -> Node:
        self.advance()
        bp = BINDING[op]
        if op == "?":
            then = self.expression(0)
            self.expect(":")
            return self.node(Cond(left, then, self.expression(COND - 1)))
        if op in COMPARISONS:
            node = self.node(Binary(op, left, self.expression(COMPARE)))
            following = self.infix_op(self.peek())
            if following in COMPARISONS:
                raise self.error("comparisons do not chain; combine them with 'and'",
                                 self.peek())
            return node
        if op == "^":
            return self.node(Binary(op, left, self.expression(UNARY)))
        rest = [(op, self.expression(bp))]
        while (more := self.infix_op(self.peek())) is not None and BINDING[more] == bp:
            self.advance()
            rest.append((more, self.expression(bp)))
        return self.node(Chain(left, tuple(rest)))

    def prefix(self) -> Node:
        token = self.advance()
        kind, value = token.kind, token.value
        if kind == "num":
            return self.node(Lit(value))
        if kind == "str":
            if all(isinstance(p, str) for p in value):
                return self.node(Lit("".join(value)))
            parts = tuple(self.var(p, token) if isinstance(p, Slot) else p for p in value)
            return self.node(Interp(parts))
        if kind == "var":
            return self.node(self.var(value, token))
        if kind == "op":
            if value == "(":
                inner = self.expression(0)
                self.expect(")")
                return inner
            if value == "[":
                return self.node(ListOf(self.arguments("]")))
            if value in ("-", "+", "not"):
                return self.node(Unary(value, self.expression(UNARY)))
            raise self.unexpected(token)
        if kind == "name":
            return self.name(token)
        raise self.unexpected(token)

    def name(self, token: Token) -> Node:
        name: str = token.value
        word = self.library.keyword(name)
        if word in _KEYWORDS:
            return self.node(Lit(_KEYWORDS[word]))
        if word == "not":
            return self.node(Unary("not", self.expression(UNARY)))
        if self.is_op("("):
            function = self.library.function(name)
            if function is None:
                raise self.error(f"unknown function {name!r} in {self.library.name}", token)
            self.advance()
            args = self.arguments(")")
            problem = function.arity_error(len(args))
            if problem:
                raise self.error(problem, token)
            return self.node(Call(function.name, args, function))
        if word in ("and", "or"):
            raise self.unexpected(token)
        found, value = self.library.constant(name)
        if found:
            return self.node(Lit(value))
        hint = " (a function? call it with parentheses)" if self.library.function(name) else (
            "; variables are written as placeholders: {{ $context.body.name }}")
        raise self.error(f"unknown name {name!r}{hint}", token)

    def arguments(self, closing: str) -> tuple[Node, ...]:
        """Comma-separated expressions up to ``closing`` (consumed)."""
        items: list[Node] = []
        if self.is_op(closing):
            self.advance()
            return ()
        while True:
            items.append(self.expression(0))
            if self.is_op(","):
                self.advance()
                continue
            self.expect(closing)
            return tuple(items)
