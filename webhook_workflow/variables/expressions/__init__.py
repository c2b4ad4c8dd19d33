"""The safe expression language of the ``math.js``, ``formula.js`` and ``string`` engines.

An expression is compiled once (:func:`compile_expression`): tokenized, parsed to a small
syntax tree, every name resolved against the engine's function library. Evaluating it walks
that tree; nothing is ever handed to ``eval``, ``compile`` or Python's ``ast``. ``{{ path }}``
placeholders are bound as values, never read as source text, and every evaluation is bounded
in steps, integer size, string and list length (see :mod:`.values`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from ...errors import ExpressionError
from .evaluate import evaluate_tree
from .formulajs import FORMULAJS
from .functions import Library
from .mathjs import MATHJS
from .parser import parse
from .string_engine import compile_text
from .tree import Node
from .values import MAX_SOURCE, truthy

__all__ = ["ENGINES", "LIBRARIES", "Expression", "compile_expression", "truthy"]

#: The engine ids, as NocoBase names them.
ENGINES: Final = ("math.js", "formula.js", "string")
#: The function library of each parsing engine.
LIBRARIES: Final[Mapping[str, Library]] = {"math.js": MATHJS, "formula.js": FORMULAJS}


class Expression:
    """A compiled expression: immutable, safe to share between threads.

    ``tree`` is the syntax tree (None for the ``string`` engine and for an empty source).
    An empty source (blank, for the parsing engines) evaluates to null in every engine.
    """

    __slots__ = ("_run", "engine", "source", "tree")

    engine: str
    source: str
    tree: Node | None
    _run: Callable[[Mapping[str, Any]], Any]

    def __init__(self, engine: str, source: str, tree: Node | None,
                 run: Callable[[Mapping[str, Any]], Any]) -> None:
        object.__setattr__(self, "engine", engine)
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "tree", tree)
        object.__setattr__(self, "_run", run)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("an Expression is immutable")

    def __repr__(self) -> str:
        return f"<Expression {self.engine} {self.source[:60]!r}>"

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        """The value in ``scope`` (the template scope: ``$context``, ``$jobsMapByNodeKey``
        ...); raise :class:`~webhook_workflow.errors.ExpressionError` when it fails."""
        return self._run(scope)


def _null(scope: Mapping[str, Any]) -> None:
    return None


def compile_expression(engine: str, source: str) -> Expression:
    """Compile ``source`` for ``engine`` (one of :data:`ENGINES`).

    Raise :class:`~webhook_workflow.errors.ExpressionError` for a syntax error, an unknown
    function or name, a wrong number of arguments, a source over :data:`~.values.MAX_SOURCE`
    characters or nesting deeper than :data:`~.values.MAX_DEPTH`.
    """
    if not isinstance(source, str):
        raise ExpressionError("an expression must be a string")
    if engine == "string":
        return Expression(engine, source, None, compile_text(source) if source else _null)
    library = LIBRARIES.get(engine)
    if library is None:
        raise ExpressionError(f"unknown engine {engine!r} (engines: {', '.join(ENGINES)})")
    if len(source) > MAX_SOURCE:
        raise ExpressionError(f"expression longer than {MAX_SOURCE} characters")
    tree = parse(source, library)
    if tree is None:
        return Expression(engine, source, None, _null)
    compiled: Node = tree
    return Expression(engine, source, tree, lambda scope: evaluate_tree(compiled, scope))
