"""``delay`` (async workflows): wait, then go on (``endStatus`` 1) or fail (-1).

The job is saved PENDING with the wait in milliseconds as its result; the execution is
handed back to the store with a wake-up time (``started_at`` + wait), which a durable store
keeps across restarts. A worker then claims it again and resumes the job.
"""

from __future__ import annotations

from typing import Any

from ..fields import Field, join, one_of, schema_hint
from ..records import Job
from ..status import Status
from ..variables.templates import Template, template
from .base import CompiledNode, NodeType, Outcome, RunContext

__all__ = ["DelayNode"]

#: NocoBase's unit multipliers (milliseconds).
UNITS = (1000, 60_000, 3_600_000, 86_400_000, 604_800_000)


@schema_hint({"type": ["number", "string"], "minimum": 1})
def _duration(value: Any, path: str) -> Any:
    from ..errors import DefinitionError

    if isinstance(value, str):
        return value  # a template; checked when rendered
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 1:
        raise DefinitionError(path, "must be a number >= 1 or a template")
    return value


class DelayNode(NodeType):
    """A durable timer."""

    type_name = "delay"
    summary = "waits duration x unit, then continues (or fails with endStatus -1)"
    only_in = "async"
    fields = (
        Field("duration", _duration, 1, "how many units to wait (>= 1; templates allowed)"),
        Field("unit", one_of(*UNITS), 1000, "milliseconds per unit: 1000 s, 60000 min, "
              "3600000 h, 86400000 day, 604800000 week"),
        Field("endStatus", one_of(1, -1), 1, "1: continue after the wait; -1: fail"),
    )

    def prepare(self, config: dict[str, Any], path: str) -> Template:
        return template(config["duration"], join(path, "duration"))

    def run(self, node: CompiledNode, prev: Job | None, proc: RunContext) -> Outcome:
        if proc.execution.sync:
            raise ValueError("a delay cannot wait in a manual run (engine.execute) or a "
                             "subflow; it waits only in webhook-triggered async runs")
        duration = proc.render(node.prepared)
        try:
            number = float(duration)
        except (TypeError, ValueError):
            raise ValueError(f"delay duration must be a number, got {duration!r}") from None
        if number < 1 or number != number:
            raise ValueError(f"delay duration must be >= 1, got {duration!r}")
        return Job(Status.PENDING, int(number * node.config["unit"]))

    def wake_at(self, node: CompiledNode, job: Job) -> float | None:
        if job.started_at is None or not isinstance(job.result, int | float):
            return None
        return job.started_at.timestamp() + job.result / 1000

    def resume(self, node: CompiledNode, job: Job | None, proc: RunContext) -> Outcome:
        own = proc.job_of(node)
        if own is None:
            raise ValueError("delay resumed without its job")
        own.status = Status(node.config["endStatus"])
        return own
