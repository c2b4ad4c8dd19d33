"""The sync and async drivers: they perform the effects a run yields, as its door requires.

An effect (:class:`~webhook_workflow.nodes.base.Call`) is work the processor cannot do itself.

The processor is a generator. Pure nodes run inline; a node that must block (a custom node's
function, later an HTTP call) yields an effect. The sync driver performs it in the calling
thread; the async driver awaits it without blocking the event loop (``asyncio.to_thread`` for
blocking work). The run loop is therefore written once for both doors.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
import time
from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

from ..nodes.base import Call

__all__ = ["drive_async", "drive_sync", "start"]

T = TypeVar("T")


def start(steps: Generator[Call, Any, Any]) -> Call | None:
    """Run a processor generator up to its first effect; None when it ended without one.

    Most runs of a sync workflow never yield (their nodes are pure), so an async caller that
    starts the run itself only needs a coroutine for the runs that do.
    """
    try:
        return next(steps)
    except StopIteration:
        return None


def _run_awaitable(awaitable: Awaitable[Any]) -> Any:
    async def wrapper() -> Any:
        return await awaitable

    return asyncio.run(wrapper())


def _perform(effect: Call) -> Any:
    value = effect.fn(*effect.args)
    if inspect.isawaitable(value):
        value = _run_awaitable(value)
    return value


def _perform_until(effect: Call, deadline: float, now: Callable[[], float]) -> Any:
    """Perform in a helper thread, giving up at ``deadline``: the work may go on in its
    thread, but the run no longer waits for it (its result is discarded)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = _perform(effect)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="webhook-workflow-effect", daemon=True)
    thread.start()
    thread.join(max(0.0, deadline - now()))
    if thread.is_alive():
        raise TimeoutError("the execution's time limit was reached while a node was running")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def drive_sync(steps: Generator[Call, Any, T], deadline: float | None = None,
               now: Callable[[], float] = time.monotonic) -> T:
    """Run a processor generator to completion, performing effects in this thread (or, with
    a ``deadline``, in a helper thread this one stops waiting for at the deadline); ``now``
    reads the clock the deadline is on (the engine's)."""
    try:
        effect = next(steps)
        while True:
            try:
                value = (_perform(effect) if deadline is None
                         else _perform_until(effect, deadline, now))
            except Exception as exc:  # handed back to the node, which turns it into a job
                effect = steps.throw(exc)
            else:
                effect = steps.send(value)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def _perform_async(effect: Call) -> Any:
    if inspect.iscoroutinefunction(effect.fn):
        return await effect.fn(*effect.args)
    value = await asyncio.to_thread(effect.fn, *effect.args)
    if inspect.isawaitable(value):
        value = await value
    return value


async def _perform_async_until(effect: Call, deadline: float,
                               now: Callable[[], float]) -> Any:
    """Like :func:`_perform_until` for the event loop: the blocking work runs in its own daemon
    thread (not the loop's executor, whose shutdown would wait for work nobody awaits)."""
    if inspect.iscoroutinefunction(effect.fn):
        return await asyncio.wait_for(effect.fn(*effect.args),
                                      max(0.0, deadline - now()))
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(value: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)

    def target() -> None:
        try:
            value, error = _perform(effect), None
        except BaseException as exc:
            value, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop is gone; nobody waits any more
            loop.call_soon_threadsafe(settle, value, error)

    threading.Thread(target=target, name="webhook-workflow-effect", daemon=True).start()
    return await asyncio.wait_for(future, max(0.0, deadline - now()))


async def drive_async(steps: Generator[Call, Any, T], deadline: float | None = None, *,
                      first: Call | None = None, now: Callable[[], float] = time.monotonic
                      ) -> T:
    """Run a processor generator on the running event loop; blocking effects go to a thread.
    With a ``deadline`` the loop stops waiting for an effect at that moment. ``first`` is the
    effect the generator already yielded, when the caller started it (see :func:`start`);
    ``now`` reads the clock the deadline is on."""
    try:
        effect = next(steps) if first is None else first
        while True:
            try:
                if deadline is None:
                    value = await _perform_async(effect)
                else:
                    try:
                        value = await _perform_async_until(effect, deadline, now)
                    except TimeoutError:
                        raise TimeoutError("the execution's time limit was reached while a "
                                           "node was running") from None
            except Exception as exc:
                effect = steps.throw(exc)
            else:
                effect = steps.send(value)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
