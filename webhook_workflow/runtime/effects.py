"""Effects: work the processor cannot do itself, and the two drivers that perform it.

The processor is a generator. Pure nodes run inline; a node that must block (a custom node's
function, later an HTTP call) yields an effect. The sync driver performs it in the calling
thread; the async driver awaits it without blocking the event loop (``asyncio.to_thread`` for
blocking work). The run loop is therefore written once for both doors.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["Call", "drive_async", "drive_sync"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Call:
    """Call ``fn(*args)``; it may block, or return an awaitable (``async def``)."""

    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()


def _run_awaitable(awaitable: Awaitable[Any]) -> Any:
    async def wrapper() -> Any:
        return await awaitable

    return asyncio.run(wrapper())


def drive_sync(steps: Generator[Call, Any, T]) -> T:
    """Run a processor generator to completion, performing effects in this thread."""
    try:
        effect = next(steps)
        while True:
            try:
                value = effect.fn(*effect.args)
                if inspect.isawaitable(value):
                    value = _run_awaitable(value)
            except Exception as exc:  # handed back to the node, which turns it into a job
                effect = steps.throw(exc)
            else:
                effect = steps.send(value)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def drive_async(steps: Generator[Call, Any, T]) -> T:
    """Run a processor generator on the running event loop; blocking effects go to a thread."""
    try:
        effect = next(steps)
        while True:
            try:
                if inspect.iscoroutinefunction(effect.fn):
                    value = await effect.fn(*effect.args)
                else:
                    value = await asyncio.to_thread(effect.fn, *effect.args)
                    if inspect.isawaitable(value):
                        value = await value
            except Exception as exc:
                effect = steps.throw(exc)
            else:
                effect = steps.send(value)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
