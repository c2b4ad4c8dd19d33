"""The built-in node types, listed explicitly (no import-time registration, no plugins).

Each :class:`~webhook_workflow.Engine` copies this table and may extend its copy with
``engine.register_node``; engines never share custom node types.
"""

from __future__ import annotations

from .base import NodeType
from .calculation import CalculationNode
from .condition import ConditionNode
from .date_calculation import DateCalculationNode
from .delay import DelayNode
from .end import EndNode
from .json_query import JsonQueryNode
from .json_variable_mapping import JsonVariableMappingNode
from .loop import LoopNode
from .multi_conditions import MultiConditionsNode
from .output import OutputNode
from .parallel import ParallelNode
from .response import ResponseNode
from .subflow import SubflowNode
from .variable import VariableNode

__all__ = ["BUILTIN_NODES", "PLANNED_NODES", "builtin_nodes"]

BUILTIN_NODES: tuple[type[NodeType], ...] = (
    CalculationNode, ConditionNode, DateCalculationNode, DelayNode, EndNode, JsonQueryNode,
    JsonVariableMappingNode, LoopNode, MultiConditionsNode, OutputNode, ParallelNode,
    ResponseNode, SubflowNode, VariableNode,
)

#: NocoBase node types this version does not run yet; a definition using one is refused with
#: a message that names it (rather than "unknown node type").
PLANNED_NODES = frozenset({
    "request",
})


def builtin_nodes() -> dict[str, NodeType]:
    """A fresh table of the built-in node types, keyed by type id."""
    return {cls.type_name: cls() for cls in BUILTIN_NODES}
