"""Child executions: what a ``subflow`` node runs, recorded like any execution."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from .records import Execution
from .status import Status

if TYPE_CHECKING:
    from .clock import Clock
    from .definition.compile import CompiledWorkflow
    from .runtime.catalog import Catalog
    from .runtime.processor import Processor
    from .store.base import Store

__all__ = ["SpawnHost", "spawn_child"]


class SpawnHost(Protocol):
    """What starting a child execution needs of the engine (which satisfies it)."""

    @property
    def catalog(self) -> Catalog:
        """The registered workflows: the child runs the current version of its key."""

    @property
    def store(self) -> Store:
        """Where the child is recorded."""

    @property
    def clock(self) -> Clock:
        """Where the child's start is read."""

    def processor(self, workflow: CompiledWorkflow, execution: Execution) -> Processor:
        """A processor that runs ``execution`` of ``workflow``."""

    def finish(self, workflow: CompiledWorkflow, execution: Execution) -> None:
        """Store the execution's end (or drop it when its status is not kept)."""


def spawn_child(host: SpawnHost, key: str, context: dict[str, Any],
                parent: Processor) -> Processor:
    """Start a child execution of workflow ``key`` for a ``subflow`` node of ``parent``.

    Raises ``LookupError`` for an unknown workflow and ``RecursionError`` when the child's
    ``options.stackLimit`` is reached. The child ends by its parent's deadline at the latest.
    """
    workflow = host.catalog.current.get(key)
    if workflow is None:
        raise LookupError(f"workflow {key!r} is not registered")
    stack = [*parent.execution.stack, parent.execution.workflow_key]
    if stack.count(key) >= workflow.stack_limit:
        raise RecursionError(f"workflow {key!r} is already running {stack.count(key)} "
                             f"time(s) in this chain (options.stackLimit "
                             f"{workflow.stack_limit})")
    child = Execution(workflow.key, workflow.version, context, status=Status.STARTED,
                      sync=True, started_at=host.clock.time(), parent_id=parent.execution.id,
                      stack=stack)
    if parent.watch is not None:
        parent.watch.spawned(child)
    host.store.add(child)
    proc = host.processor(workflow, child)
    proc.on_finish = lambda done: host.finish(workflow, done.execution)
    if parent.deadline is not None:
        proc.deadline = parent.deadline if proc.deadline is None else min(
            proc.deadline, parent.deadline)
    return proc
