"""``$system``: the built-in system variables, and the check of the ones an engine adds."""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any

from ..clock import SYSTEM_CLOCK, Clock
from ..ids import instance_id, snowflake
from .date_ranges import date_range_functions
from .dates import zone_of

__all__ = ["check_system_variable", "system_scope"]


def system_scope(timezone: Callable[[], str], clock: Clock = SYSTEM_CLOCK) -> dict[str, Any]:
    """``$system``: values, or functions the template renderer calls; ``now`` reads
    ``clock``."""
    return {
        # The real clock's own function: no extra call on the path of every $system.now.
        "now": (lambda: datetime.now(UTC)) if clock is SYSTEM_CLOCK
        else lambda: datetime.fromtimestamp(clock.time(), UTC),
        "epoch": 1605024000,
        "instanceId": instance_id,
        "genSnowflakeId": lambda: str(snowflake()),
        "dateRange": date_range_functions(lambda: zone_of(timezone())),
    }


def check_system_variable(name: Any, fn: Any, builtin: Collection[str]) -> None:
    """Refuse a system variable an engine cannot add: ``ValueError`` for a bad or built-in
    ``name``, ``TypeError`` when ``fn`` is not a function of no arguments."""
    if not isinstance(name, str) or not (name.isascii() and name.isidentifier()):
        raise ValueError(f"a system variable name is letters, digits and _, not {name!r}")
    if name in builtin:
        raise ValueError(f"$system.{name} is built in")
    if not callable(fn) or isinstance(fn, type):
        raise TypeError(f"$system.{name}: give a function of no arguments")
