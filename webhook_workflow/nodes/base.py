"""What a node type is made of, and all it may know of the run it is part of.

The compiled node, the node-type base class, what a node may ask of its run
(:class:`RunContext`), the effects it may yield and the outcomes it hands back to the processor.

A node type validates and prepares its config once (:meth:`NodeType.compile`, at registration)
and then runs many times (:meth:`NodeType.run`). ``run`` returns one of:

- a :class:`~webhook_workflow.Job`: saved; RESOLVED continues with the next node of the chain,
  any other status ends the chain and goes to the enclosing branching node's ``resume``;
- :class:`RunBranch`: the node's own job is saved and the given branch starts;
- :class:`Stop`: the node's job is saved and the whole execution ends with ``status``;
- a generator that yields effects (:class:`Call`: blocking or async work the driver
  performs) and finally returns one of the above.

Nodes see their run only through :class:`RunContext`, a Protocol the processor implements:
node types depend on this module, never on the runtime that runs them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from ..errors import DefinitionError
from ..fields import Field, check_section
from ..records import Execution, Job
from ..status import Status

if TYPE_CHECKING:
    from ..clock import Clock
    from ..http.response import CoreResponse
    from .retry import RetryPolicy

__all__ = ["MAX_BRANCH_INDEX", "Call", "ChildRun", "CompiledNode", "NodeType", "Outcome",
           "RunBranch", "RunContext", "Stop"]

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


@dataclass(frozen=True, slots=True)
class Call:
    """The effect a node yields: call ``fn(*args)``; it may block, or return an awaitable
    (``async def``). The driver performs it and sends its value back into the node."""

    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()


class CompiledNode:
    """A validated node of a compiled workflow; immutable once the workflow is compiled.

    ``branches`` maps a branch index to the first node of that branch's chain; ``downstream``
    is the next node in the same chain; ``parent`` is the branching node whose branch holds
    this node (``None`` on the main chain) and ``branch`` that branch's index; ``upstream``
    the node before it in its chain (``None`` for a chain's first node). ``retry`` is its
    retry policy, or ``None`` for one attempt.
    """

    __slots__ = ("branch", "branches", "config", "downstream", "impl", "key", "parent", "path",
                 "prepared", "retry", "title", "type", "upstream")

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
        self.branch: int | None = None
        self.upstream: CompiledNode | None = None
        self.retry: RetryPolicy | None = None

    def __repr__(self) -> str:
        return f"<CompiledNode {self.key} ({self.type})>"


class ChildRun(Protocol):
    """A child execution a ``subflow`` node drives (what :meth:`RunContext.spawn` returns)."""

    @property
    def execution(self) -> Execution:
        """The child's execution record."""

    @property
    def timed_out(self) -> bool:
        """True once the child was ABORTED by its deadline."""

    @property
    def on_finish(self) -> Callable[[Any], None] | None:
        """Records the child's end; called with the child when its steps are done."""

    def steps(self) -> Generator[Call, Any, Status]:
        """The child's run loop, driven by the parent node (``yield from``)."""


class RunContext(Protocol):
    """What a node may ask of the run it is part of; the processor implements it.

    The scope a template renders against, the node's last job and the jobs it saves, the
    branch scopes (``$scopes``), the deadline it must respect, and the ways to leave the
    chain: a Response node's answer, a child run (``subflow``). Waiting (suspending) is a
    PENDING job a node returns; branching is :class:`RunBranch`.
    """

    #: The HTTP answer a Response node chose (sync workflows), else None.
    response: CoreResponse | None

    @property
    def execution(self) -> Execution:
        """The execution being run (its id, workflow key, context ...)."""

    @property
    def scope(self) -> dict[str, Any]:
        """The variables templates see: ``$context``, ``$jobsMapByNodeKey``, ``$scopes``,
        ``$system``, ``$env``."""

    @property
    def scopes(self) -> dict[str, Any]:
        """``$scopes``: what branching nodes expose to the nodes in their branches."""

    @property
    def deadline(self) -> float | None:
        """Monotonic time by which the execution must end (``options.timeout``), or None."""

    @property
    def clock(self) -> Clock:
        """The engine's clock; :attr:`deadline` is on its ``monotonic()``."""

    @property
    def settings(self) -> Mapping[str, Any]:
        """The engine settings (``loop_limit``, ``request_policy`` ...), read-only."""

    @property
    def timezone(self) -> str:
        """The engine's time zone name, for date nodes."""

    @property
    def logger(self) -> logging.Logger:
        """Where node messages go."""

    @property
    def spawn(self) -> Callable[..., ChildRun] | None:
        """``spawn(workflow_key, context, parent)``: start a child execution (``subflow``);
        None when the run has no engine to start one."""

    def render(self, template: Any) -> Any:
        """Render a compiled template against :attr:`scope`."""

    def job_of(self, node: CompiledNode) -> Job | None:
        """The latest job of ``node`` in this execution."""

    def save_job(self, node: CompiledNode, job: Job, branch: int | None = None) -> Job:
        """Record ``job`` as the latest job of ``node``; ``branch``: that branch starts next."""

    def node(self, key: str) -> CompiledNode:
        """The compiled node with ``key`` in the workflow being run."""


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
    #: True when a branch that waits hands control back to this node (``resume`` with the
    #: waiting PENDING job), so its other branches go on meanwhile (``parallel``).
    runs_while_waiting: ClassVar[bool] = False
    #: True when this node's PENDING job is handed to the branching node around it as the
    #: branch's job (NocoBase's instructions that *return* a pending job, as custom ones do),
    #: so a ``parallel`` records the branch as 0 (PENDING); a ``delay``, a loop or a parallel
    #: that waits leaves it ``null``, as in NocoBase.
    reports_waiting: ClassVar[bool] = False

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

    def restore(self, node: CompiledNode, job: Job, proc: RunContext) -> None:
        """Rebuild what nodes inside this node's branches see (``$scopes``) when an
        interrupted run resumes inside one of them; ``job`` is this node's own job."""

    def reopen(self, node: CompiledNode, own: Job, inner: CompiledNode) -> None:
        """Undo what this node did when a branch failed, so the branch can be retried
        (``Engine.retry``): ``own`` is this node's job, ``inner`` the node of that branch's
        chain the failure came through. The default waits again for the branch."""
        own.status = Status.PENDING

    def run(self, node: CompiledNode, prev: Job | None, proc: RunContext) -> Outcome | Generator[
            Any, Any, Outcome]:
        """Run the node; ``prev`` is the upstream job (``None`` for the first node)."""
        raise NotImplementedError

    def resume(self, node: CompiledNode, job: Job | None, proc: RunContext) -> Outcome | Generator[
            Any, Any, Outcome]:
        """Called with the last job of one of this node's branches when that branch ends."""
        raise DefinitionError(node.path, f"node type {self.type_name!r} has no branches")
