"""Retry policies of nodes: the ``retry`` field, validated once, and the backoff schedule.

A node (or ``options.retry``, the workflow's default for every node) may say
``{"maxAttempts", "backoff", "delay", "maxDelay", "jitter", "on"}``. The wait before attempt
``n + 1``, after attempt ``n`` failed, is ``delay`` (``fixed``) or ``delay * 2 ** (n - 1)``
(``exponential``), capped at ``maxDelay``; with ``jitter`` it is drawn uniformly from
``[0, that]`` ("full jitter", which spreads the retries of many executions that failed
together).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import DefinitionError
from ..fields import (
    Field,
    boolean,
    caseless,
    check_section,
    integer,
    join,
    one_of,
    schema_hint,
    type_name,
)
from ..status import Status

__all__ = ["RETRY_FIELDS", "RetryPolicy", "check_retry", "merge_retry"]

#: The longest wait a policy may ask for (ms): 180 days, as ``options.timeout``.
MAX_WAIT_MS = 180 * 24 * 3600 * 1000
_RETRYABLE = {s.name: int(s) for s in Status if int(s) < 0}


@schema_hint(lambda: {"type": "array", "minItems": 1, "items": {"anyOf": [
    {"type": "string", "pattern": "^(?:" + "|".join(map(caseless, _RETRYABLE)) + ")$"},
    {"type": "integer", "maximum": -1}]}})
def _statuses(value: Any, path: str) -> list[str | int]:
    if not isinstance(value, list) or not value:
        raise DefinitionError(path, f"must be a non-empty array of statuses, got "
                              f"{type_name(value)}")
    out: list[str | int] = []
    for i, item in enumerate(value):
        if isinstance(item, str) and item.upper() in _RETRYABLE:
            out.append(item.upper())
        elif isinstance(item, int) and not isinstance(item, bool) and item < 0:
            out.append(item)
        else:
            names = ", ".join(_RETRYABLE)
            raise DefinitionError(join(path, i), f"must be a failing status ({names}) or a "
                                  f"negative number, got {item!r}")
    return out


RETRY_FIELDS = (
    Field("maxAttempts", integer(1, 100), 1, "attempts in all, the first included (1..100); "
          "1 = no retry"),
    Field("backoff", one_of("fixed", "exponential"), "exponential",
          "fixed: every wait is `delay`; exponential: `delay * 2^(attempt-1)`"),
    Field("delay", integer(0, MAX_WAIT_MS), 1000, "ms: the first wait"),
    Field("maxDelay", integer(0, MAX_WAIT_MS), 300_000, "ms: no wait is longer"),
    Field("jitter", boolean, True, "draw each wait uniformly from 0 to its value (full "
          "jitter)"),
    Field("on", _statuses, ["FAILED", "ERROR"], "the job statuses that are retried (names or "
          "numbers below 0; a `request` timeout is ABORTED)"),
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """A checked retry policy: how often a node is attempted and how long to wait between."""

    max_attempts: int
    backoff: str
    delay_ms: int
    max_delay_ms: int
    jitter: bool
    on: frozenset[int]

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RetryPolicy:
        """The policy of a checked ``retry`` section (see :data:`RETRY_FIELDS`)."""
        return cls(config["maxAttempts"], config["backoff"], config["delay"],
                   config["maxDelay"], config["jitter"],
                   frozenset(_RETRYABLE[s] if isinstance(s, str) else s for s in config["on"]))

    def retries(self, status: int, attempt: int) -> bool:
        """True when a job that ended ``status`` on attempt ``attempt`` (1-based) is tried
        again."""
        return attempt < self.max_attempts and int(status) in self.on

    def ceiling_ms(self, attempt: int) -> float:
        """The wait after attempt ``attempt`` failed, before jitter (ms)."""
        if self.backoff == "fixed":
            return float(min(self.delay_ms, self.max_delay_ms))
        # 2 ** 100 is far past any cap: no overflow, min() settles it.
        return float(min(self.delay_ms * 2 ** (attempt - 1), self.max_delay_ms))

    def wait_ms(self, attempt: int, draw: Callable[[], float] = random.random) -> float:
        """The wait after attempt ``attempt`` failed (ms): the ceiling, or a uniform draw
        from ``[0, ceiling]`` with jitter."""
        ceiling = self.ceiling_ms(attempt)
        return draw() * ceiling if self.jitter else ceiling


def check_retry(value: Any, path: str) -> dict[str, Any] | None:
    """Check a ``retry`` section as written (fields left out stay out); None when absent."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise DefinitionError(path, f"must be an object, got {type_name(value)}")
    checked = check_section(value, RETRY_FIELDS, path)
    return {name: checked[name] for name in value}


def merge_retry(workflow: Mapping[str, Any] | None,
                node: Mapping[str, Any] | None) -> RetryPolicy | None:
    """The policy of one node: its own fields over the workflow's ``options.retry`` over the
    defaults; None when neither asks for more than one attempt."""
    if not workflow and not node:
        return None
    defaults = {f.name: f.default for f in RETRY_FIELDS}
    policy = RetryPolicy.from_config({**defaults, **(workflow or {}), **(node or {})})
    return policy if policy.max_attempts > 1 else None
