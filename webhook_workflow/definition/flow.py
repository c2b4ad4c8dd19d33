"""Flow control of async workflows: ``options.concurrency``, ``throttle`` and ``debounce``.

Each is checked and compiled here; its ``key`` template is rendered when a delivery is
acknowledged (it sees ``$context`` and ``$headers``, as the idempotency key does), and the
execution carries the result as a :class:`~webhook_workflow.records.FlowMark`. The stores
hold the rules when they hand queued executions to workers, across every process and host
that shares them:

- concurrency: at most ``limit`` executions with the same key run at once (claimed by a
  worker; one that waits on a timer does not count); the others stay queued, oldest first;
- throttle: at most ``limit`` executions with the same key start per ``period``; the others
  start later, never dropped;
- debounce: a delivery waits ``period`` before it may start; a later delivery with the same
  key cancels the earlier ones that have not started (CANCELED, reason
  ``debounced:<id of the later one>``), so only the last of a burst runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import DefinitionError
from ..fields import Field, check_section, integer, join, schema_hint, section_schema, type_name
from ..records import FlowMark
from ..variables.templates import Template, template, to_text

__all__ = ["CONCURRENCY_FIELDS", "DEBOUNCE_FIELDS", "THROTTLE_FIELDS", "FlowControl",
           "check_flow", "compile_flow"]

#: What key templates see: the trigger variables and every request header.
_ROOTS = frozenset({"$context", "$headers"})
_DAY_MS = 86_400_000


@schema_hint({"type": ["string", "null"]})
def _key(value: Any, path: str) -> Any:
    if value is None or isinstance(value, str):
        return value
    raise DefinitionError(path, f"must be a template string, got {type_name(value)}")


CONCURRENCY_FIELDS = (
    Field("limit", integer(1, 10_000), doc="executions with one key that run at once"),
    Field("key", _key, None, "template of the key (e.g. `{{$context.body.customer}}`); none: "
          "one key for the whole workflow"),
)
THROTTLE_FIELDS = (
    Field("limit", integer(1, 1_000_000), doc="executions with one key that start per period"),
    Field("period", integer(1, _DAY_MS), doc="ms"),
    Field("key", _key, None, "template of the key; none: one key for the whole workflow"),
)
DEBOUNCE_FIELDS = (
    Field("period", integer(1, _DAY_MS), doc="ms of quiet before the last delivery of a key "
          "runs; earlier ones that have not started end CANCELED"),
    Field("key", _key, None, "template of the key; none: one key for the whole workflow"),
)
_FIELDS = {"concurrency": CONCURRENCY_FIELDS, "throttle": THROTTLE_FIELDS,
           "debounce": DEBOUNCE_FIELDS}


def check_flow(name: str) -> Any:
    """The checker of ``options.<name>``: null, or its section."""
    fields = _FIELDS[name]

    @schema_hint(lambda: section_schema(fields))
    def check(value: Any, path: str) -> Any:
        if value is None:
            return None
        return check_section(value, fields, path)

    return check


@dataclass(frozen=True, slots=True)
class FlowControl:
    """The compiled flow control of one workflow version."""

    concurrency: tuple[Template | None, int] | None
    throttle: tuple[Template | None, int, float] | None
    debounce: tuple[Template | None, float] | None

    def mark(self, scope: dict[str, Any], now: float) -> FlowMark:
        """The flow mark of one delivery: its keys rendered against ``scope``."""
        conc_key = conc_limit = throttle_key = throttle_limit = period = None
        debounce_key = not_before = None
        if self.concurrency is not None:
            conc_key, conc_limit = _render(self.concurrency[0], scope), self.concurrency[1]
        if self.throttle is not None:
            throttle_key = _render(self.throttle[0], scope)
            throttle_limit, period = self.throttle[1], self.throttle[2]
        if self.debounce is not None:
            debounce_key = _render(self.debounce[0], scope)
            not_before = now + self.debounce[1]
        return FlowMark(conc_key, conc_limit, throttle_key, throttle_limit, period,
                        debounce_key, not_before)


def _render(key: Template | None, scope: dict[str, Any]) -> str:
    if key is None:
        return ""
    value = key.render(scope)
    return "" if value is None else to_text(value)


def compile_flow(options: dict[str, Any], sync: bool) -> FlowControl | None:
    """The flow control of checked ``options``; None when there is none."""
    present = [name for name in _FIELDS if options.get(name) is not None]
    if not present:
        return None
    if sync:
        raise DefinitionError(f"options.{present[0]}", "is for async workflows only (a sync "
                              "request cannot wait in a queue)")

    def key(name: str) -> Template | None:
        text = options[name]["key"]
        return None if text is None else template(text, join(f"options.{name}", "key"),
                                                  _ROOTS)

    concurrency = throttle = debounce = None
    if options.get("concurrency") is not None:
        concurrency = (key("concurrency"), int(options["concurrency"]["limit"]))
    if options.get("throttle") is not None:
        spec = options["throttle"]
        throttle = (key("throttle"), int(spec["limit"]), spec["period"] / 1000)
    if options.get("debounce") is not None:
        debounce = (key("debounce"), options["debounce"]["period"] / 1000)
    return FlowControl(concurrency, throttle, debounce)
