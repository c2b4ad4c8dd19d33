"""The built-in node types, listed explicitly (no import-time registration, no plugins).

Each :class:`~webhook_workflow.Engine` copies this table and may extend its copy with
``engine.register_node``; engines never share custom node types.
"""

from __future__ import annotations

from .base import NodeType
from .calculation import CalculationNode
from .callback import CallbackNode
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
from .request import RequestNode
from .response import ResponseNode
from .subflow import SubflowNode
from .variable import VariableNode

__all__ = ["BUILTIN_NODES", "NOCOBASE_ONLY_NODES", "builtin_nodes"]

BUILTIN_NODES: tuple[type[NodeType], ...] = (
    CalculationNode, CallbackNode, ConditionNode, DateCalculationNode, DelayNode, EndNode,
    JsonQueryNode, JsonVariableMappingNode, LoopNode, MultiConditionsNode, OutputNode,
    ParallelNode, RequestNode, ResponseNode, SubflowNode, VariableNode,
)

#: NocoBase node types that act on NocoBase itself (its collections, users, AI services, user
#: tasks); they have no meaning outside it, so a definition using one is refused with a
#: message that says so rather than "unknown node type".
NOCOBASE_ONLY_NODES = frozenset({
    "create", "update", "destroy", "query", "aggregate", "sql", "script", "mailer",
    "notification", "llm", "ai-employee", "manual", "approval", "cc", "response-message",
})


def builtin_nodes() -> dict[str, NodeType]:
    """A fresh table of the built-in node types, keyed by type id."""
    return {cls.type_name: cls() for cls in BUILTIN_NODES}
