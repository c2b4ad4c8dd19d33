"""What every node type is made of: the compiled node, the node-type base class and the
outcomes a node hands back to the processor.

A node type validates and prepares its config once (:meth:`NodeType.compile`, at registration)
and then runs many times (:meth:`NodeType.run`). ``run`` returns one of:

- a :class:`~webhook_workflow.Job`: saved; RESOLVED continues with the next node of the chain,
  any other status ends the chain and goes to the enclosing branching node's ``resume``;
- :class:`RunBranch`: the node's own job is saved and the given branch starts;
- :class:`Stop`: the node's job is saved and the whole execution ends with ``status``;
- a generator that yields effects (blocking or async work the driver performs) and finally
  returns one of the above.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ..definition.fields import Field, check_section
from ..errors import DefinitionError
from ..runtime.records import Job
from ..runtime.status import Status

if TYPE_CHECKING:
    from ..runtime.processor import Processor

__all__ = ["MAX_BRANCH_INDEX", "CompiledNode", "NodeType", "Outcome", "RunBranch", "Stop"]

#: The highest branch index a node with open branches accepts.
MAX_BRANCH_INDEX = 1000


@dataclass(slots=True)
class RunBranch:
    """Save ``job`` (the branching node's own job) and start branch ``index`` with it as input."""

    job: Job
    index: int


@dataclass(slots=True)
class Stop:
    """Save ``job`` and end the whole execution at once with ``status``."""

    job: Job
    status: Status


Outcome = Job | RunBranch | Stop


class CompiledNode:
    """A validated node of a compiled workflow; immutable once the workflow is compiled.

    ``branches`` maps a branch index to the first node of that branch's chain; ``downstream``
    is the next node in the same chain; ``parent`` is the branching node whose branch holds
    this node (``None`` on the main chain).
    """

    __slots__ = ("branches", "config", "downstream", "impl", "key", "parent", "path",
                 "prepared", "title", "type")

    def __init__(self, key: str, type_: str, title: str | None, config: dict[str, Any],
                 prepared: Any, impl: NodeType, path: str) -> None:
        self.key = key
        self.type = type_
        self.title = title
        self.config = config
        self.prepared = prepared
        self.impl = impl
        self.path = path
        self.branches: dict[int, CompiledNode] = {}
        self.downstream: CompiledNode | None = None
        self.parent: CompiledNode | None = None

    def __repr__(self) -> str:
        return f"<CompiledNode {self.key} ({self.type})>"


class NodeType:
    """Base class of the built-in node types.

    Subclasses set :attr:`type_name` and :attr:`fields` (the config table), may restrict the
    branch indexes they accept, and implement :meth:`run` (and :meth:`resume` if they branch).
    """

    type_name: ClassVar[str] = ""
    #: One line for the docs and ``--help`` texts.
    summary: ClassVar[str] = ""
    fields: ClassVar[tuple[Field, ...]] = ()
    #: Allowed branch indexes; ``None`` means the node holds no branches (unless
    #: :attr:`open_branches`).
    branch_indexes: ClassVar[frozenset[int] | None] = None
    #: True when any index 0..:data:`MAX_BRANCH_INDEX` is a branch (parallel, loop ...).
    open_branches: ClassVar[bool] = False
    #: Branch names accepted besides the numbers, e.g. ``{"true": 1, "false": 0}``.
    branch_aliases: ClassVar[Mapping[str, int]] = {}
    #: ``"sync"``/``"async"`` when the node only makes sense in that kind of workflow.
    only_in: ClassVar[str | None] = None

    def compile(self, config: Any, path: str) -> tuple[dict[str, Any], Any]:
        """Validate ``config`` (its field path is ``path``); return it with defaults filled in
        and the prepared (compiled) form :meth:`run` uses."""
        checked = check_section(config if config is not None else {}, self.fields, path)
        return checked, self.prepare(checked, path)

    def prepare(self, config: dict[str, Any], path: str) -> Any:
        """Compile templates and expressions of a checked config; the default keeps it as is."""
        return config

    def link(self, node: CompiledNode, nodes: Mapping[str, CompiledNode]) -> None:
        """Check references to other nodes once the whole workflow is compiled (e.g. a
        ``variable`` node assigning to an earlier one); raise :class:`DefinitionError`."""

    def wake_at(self, node: CompiledNode, job: Job) -> float | None:
        """For a node that leaves its job PENDING: when (epoch seconds) to resume it."""
        return None

    def restore(self, node: CompiledNode, job: Job, proc: Processor) -> None:
        """Rebuild what nodes inside this node's branches see (``$scopes``) when an
        interrupted run resumes inside one of them; ``job`` is this node's own job."""

    def run(self, node: CompiledNode, prev: Job | None, proc: Processor) -> Outcome | Generator[
            Any, Any, Outcome]:
        """Run the node; ``prev`` is the upstream job (``None`` for the first node)."""
        raise NotImplementedError

    def resume(self, node: CompiledNode, job: Job | None, proc: Processor) -> Outcome | Generator[
            Any, Any, Outcome]:
        """Called with the last job of one of this node's branches when that branch ends."""
        raise DefinitionError(node.path, f"node type {self.type_name!r} has no branches")
