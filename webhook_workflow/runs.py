"""What a door completes after the gateway admitted a webhook: an acknowledgement or a sync run.

An async acknowledgement waits for its commit; a sync run is driven by the door's own driver.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import Future
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol

from .clock import SYSTEM_CLOCK
from .errors import StoreUnavailable
from .http.response import CoreResponse, empty_response, error_response
from .records import Execution
from .runtime.effects import drive_async, drive_sync, start
from .status import Status, execution_status_name
from .store.base import Idempotency, IdempotencyRecord

if TYPE_CHECKING:
    from collections.abc import Callable

    from .definition.compile import CompiledWorkflow
    from .instruments import Instruments
    from .runtime.dispatcher import Dispatcher
    from .runtime.processor import Processor
    from .store.base import Store

__all__ = ["RETRY_AFTER", "Acknowledgement", "RunHost", "SyncRun", "current_execution",
           "unavailable_answer"]

#: The id of the execution the request being answered in this thread/task created (for
#: access logs: the CLI's server appends it to each line).
current_execution: ContextVar[str | None] = ContextVar("webhook_workflow_execution",
                                                       default=None)

logger = logging.getLogger("webhook_workflow")

RETRY_AFTER = ("Retry-After", "5")
_CORS = frozenset({"access-control-allow-origin", "vary"})


class RunHost(Protocol):
    """What a run needs of the engine that admitted it.

    The :class:`~webhook_workflow.engine.Engine` satisfies it and the gateway hands it on:
    runs sit below the engine, so they are given it as this instead of importing it.
    """

    @property
    def store(self) -> Store:
        """Where the execution, its idempotency key and its answer are recorded and read."""

    @property
    def dispatcher(self) -> Dispatcher:
        """Tracks the runs of this process (their leases) and wakes the workers."""

    @property
    def instruments(self) -> Instruments:
        """The observability hooks: told of each execution before it is recorded."""

    @property
    def add_later(self) -> Callable[[Execution, Idempotency | None],
                                    Future[IdempotencyRecord | None]] | None:
        """The store's batched insert when it commits in batches, else None."""

    def processor(self, workflow: CompiledWorkflow, execution: Execution) -> Processor:
        """A processor that runs ``execution`` of ``workflow``."""

    def fail(self, execution: Execution, exc: BaseException) -> None:
        """Record an unexpected error that ended the execution."""

    def finish(self, workflow: CompiledWorkflow, execution: Execution) -> None:
        """Store the execution's end (or drop it when its status is not kept)."""


class _Settled:
    """The outcome of a store call made at once (the memory store): a future's interface
    without its lock and condition."""

    __slots__ = ("error", "value")

    def __init__(self, value: Any, error: BaseException | None) -> None:
        self.value = value
        self.error = error

    def done(self) -> bool:
        return True

    def result(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


def _record(engine: RunHost, execution: Execution,
            idempotency: Idempotency | None) -> Future[IdempotencyRecord | None] | _Settled:
    """Submit the execution (and its idempotency key) to the store; a future of the result."""
    engine.instruments.recording(execution)
    add_later = engine.add_later
    if add_later is not None:  # a store that commits in batches answers later
        future: Future[IdempotencyRecord | None] = add_later(execution, idempotency)
        return future
    try:
        return _Settled(engine.store.add(execution, idempotency), None)
    except Exception as exc:
        return _Settled(None, exc)


async def _settled(future: Future[Any] | _Settled) -> Any:
    """A store call's result, awaited only when it is not settled yet (wrapping a settled
    future would cost an event-loop round trip for nothing)."""
    if isinstance(future, _Settled) or future.done():
        return future.result()
    return await asyncio.wrap_future(future)


def unavailable_answer(exc: BaseException, extra: tuple[tuple[str, str], ...]
                       ) -> CoreResponse:
    """The 503 (``Retry-After``) of a delivery the store cannot record now."""
    # The store's own words stay in the log: they describe the server, not the request.
    if isinstance(exc, StoreUnavailable):
        logger.warning("recording an execution failed: %s", exc)
    else:
        logger.error("recording an execution failed: %r", exc)
    reason = "queue full" if "queue full" in str(exc) else "store unavailable"
    answer = error_response(503, f"cannot record the execution now ({reason}); retry later",
                            [RETRY_AFTER])
    answer.headers.extend(extra)
    return answer


def _refused(engine: RunHost, exc: BaseException, extra: tuple[tuple[str, str], ...]
             ) -> CoreResponse:
    """:func:`unavailable_answer`, the failed store call told to the instruments."""
    engine.instruments.store_error("add", exc)
    return unavailable_answer(exc, extra)


def _replay(answer: dict[str, Any], extra: tuple[tuple[str, str], ...]) -> CoreResponse:
    """The stored answer of an earlier delivery with the same idempotency key."""
    headers = [(str(n), str(v)) for n, v in answer["headers"] if str(n).lower() not in _CORS]
    return CoreResponse(int(answer["status"]), [*headers, *extra],
                        str(answer["body"]).encode("utf-8"))


class Acknowledgement:
    """An async webhook whose execution is being committed; the door waits for the commit
    before it sends :attr:`answer` (or a 503 when the store could not record it)."""

    __slots__ = ("answer", "engine", "extra", "future")

    def __init__(self, engine: RunHost, answer: CoreResponse, execution: Execution,
                 idempotency: Idempotency | None) -> None:
        self.engine = engine
        self.answer = answer
        self.extra = tuple(h for h in answer.headers if h[0].lower() in _CORS)
        self.future = _record(engine, execution, idempotency)
        current_execution.set(execution.id)

    def _done(self, found: IdempotencyRecord | None) -> CoreResponse:
        if found is not None and found.answer is not None:
            return _replay(found.answer, self.extra)
        self.engine.dispatcher.notify()
        return self.answer

    def wait(self) -> CoreResponse:
        """Block until committed (WSGI door, CLI)."""
        try:
            found = self.future.result()
        except Exception as exc:
            return _refused(self.engine, exc, self.extra)
        return self._done(found)

    async def wait_async(self) -> CoreResponse:
        """Await the commit without blocking the event loop (ASGI door)."""
        try:
            found = await _settled(self.future)
        except Exception as exc:
            return _refused(self.engine, exc, self.extra)
        return self._done(found)


class SyncRun:
    """A sync execution admitted by the gateway; the door runs it with its driver."""

    __slots__ = ("_detached", "_ended", "_held", "_lock", "engine", "execution", "extra",
                 "future", "idempotency", "processor", "workflow")

    def __init__(self, engine: RunHost, workflow: CompiledWorkflow, execution: Execution,
                 idempotency: Idempotency | None = None,
                 extra: tuple[tuple[str, str], ...] = ()) -> None:
        self.engine = engine
        self.workflow = workflow
        self.execution = execution
        self.idempotency = idempotency
        self.extra = extra
        self.processor = engine.processor(workflow, execution)
        self.future = _record(engine, execution, idempotency)
        current_execution.set(execution.id)
        self._ended = False
        self._detached = False
        self._held = False

    # -- admission (the store's answer) ---------------------------------------------------
    def _admitted(self, outcome: IdempotencyRecord | BaseException | None
                  ) -> CoreResponse | None:
        """None when the run may start, else the answer to send instead."""
        if isinstance(outcome, BaseException):
            return _refused(self.engine, outcome, self.extra)
        if outcome is None:
            return None
        if outcome.answer is not None:
            return _replay(outcome.answer, self.extra)
        # Still running: in this process until its end is recorded (the memory store shows
        # a run's final status at once, before its answer is stored), elsewhere while the
        # store has it STARTED.
        if outcome.execution_id in self.engine.dispatcher.running:
            return self._still_running()
        first = self.engine.store.get(outcome.execution_id)
        if first is not None and first.status == Status.STARTED:
            return self._still_running()
        # The first delivery ended without an answer: its process died before answering (a
        # run stores its answer before it records its end). Take the key over, atomically:
        # of all copies that saw this, the store lets exactly one run.
        assert self.idempotency is not None
        retry = Idempotency(self.idempotency.workflow_key, self.idempotency.key,
                            self.idempotency.ttl, replaces=outcome.execution_id)
        try:
            taken = self.engine.store.add(self.execution, retry)
        except Exception as exc:
            return _refused(self.engine, exc, self.extra)
        if taken is None:
            return None
        if taken.answer is not None:
            return _replay(taken.answer, self.extra)
        return self._still_running()

    def _still_running(self) -> CoreResponse:
        answer = error_response(409, "a delivery with this idempotency key is still running")
        answer.headers.extend(self.extra)
        return answer

    # -- running --------------------------------------------------------------------------
    def run(self) -> CoreResponse:
        """Run in this thread (WSGI door, CLI) and return the HTTP answer."""
        try:
            outcome: Any = self.future.result()
        except Exception as exc:
            outcome = exc
        refused = self._admitted(outcome)
        if refused is not None:
            return refused
        if self.workflow.guards.sync_wait_ms:
            return self.processor.clock.join(self._start_thread,
                                             self.workflow.guards.sync_wait_ms / 1000,
                                             self._after_wait)
        # Running (its lease renewed) until _answer has recorded its end.
        self.engine.dispatcher.running.add(self.execution.id)
        try:
            drive_sync(self.processor.steps(), self.processor.deadline,
                       self.processor.clock.monotonic)
        except Exception as exc:
            self.engine.fail(self.execution, exc)
        return self._answer()

    async def run_async(self) -> CoreResponse:
        """Run on the event loop; blocking node work goes to threads (ASGI door)."""
        future = self.future
        if isinstance(future, _Settled):  # the memory store: nothing to await
            outcome: Any = future.error or future.value
        else:
            try:
                outcome = await _settled(future)
            except Exception as exc:
                outcome = exc
        refused = self._admitted(outcome)
        if refused is not None:
            return refused
        if self.workflow.guards.sync_wait_ms:
            clock = self.processor.clock
            if clock is SYSTEM_CLOCK:
                thread = self._start_thread()
                await asyncio.to_thread(thread.join, self.workflow.guards.sync_wait_ms / 1000)
                return self._after_wait()
            # Another clock starts the run, ends the wait and decides the answer in a thread.
            return await asyncio.to_thread(clock.join, self._start_thread,
                                           self.workflow.guards.sync_wait_ms / 1000,
                                           self._after_wait)
        self.engine.dispatcher.running.add(self.execution.id)  # until _answer recorded its end
        try:
            steps = self.processor.steps()
            effect = start(steps)
            if effect is not None:
                await drive_async(steps, self.processor.deadline, first=effect,
                                  now=self.processor.clock.monotonic)
        except Exception as exc:
            self.engine.fail(self.execution, exc)
        return self._answer()

    # -- options.syncWait -----------------------------------------------------------------
    def _start_thread(self) -> threading.Thread:
        """Run the execution on its own thread, so it can outlive the request."""
        self._lock = threading.Lock()  # only a run that may outlive its request needs one
        dispatcher = self.engine.dispatcher
        dispatcher.running.add(self.execution.id)
        dispatcher.hold()  # drain() and close() wait for this run, also once detached
        self._held = True

        def target() -> None:
            try:
                drive_sync(self.processor.steps(), self.processor.deadline,
                           self.processor.clock.monotonic)
            except Exception as exc:
                self.engine.fail(self.execution, exc)
            finally:
                with self._lock:
                    self._ended = True
                    detached = self._detached
                # Nobody waits for this run any more: record its end here. Else the request
                # does, once it stored the answer (also when the run ended while its 202 was
                # being stored).
                if detached:
                    self._record_end()

        thread = threading.Thread(target=target, name="webhook-workflow-sync-wait", daemon=True)
        thread.start()
        return thread

    def _after_wait(self) -> CoreResponse:
        with self._lock:
            detaching = not self._ended
        if not detaching:
            return self._answer()
        # Past syncWait: answer 202 and let the run go on, recorded durably from now on. The
        # 202 is stored for the key before the run may record its end: a copy that finds the
        # execution ended and the key unanswered concludes its process died and runs again.
        execution = self.execution
        answer = CoreResponse(202, [("Content-Type", "application/json")],
                              f'{{"executionId":"{execution.id}"}}'.encode())
        try:
            if self.idempotency is not None:
                self.engine.store.remember(self.idempotency.workflow_key,
                                           self.idempotency.key, answer.to_record())
            self.processor.on_flush = lambda jobs: self.engine.store.save_jobs(execution, jobs)
            self.engine.store.detach(execution, self.engine.dispatcher.owner,
                                     self.engine.dispatcher.lease)
        finally:
            with self._lock:
                self._detached = True
                ended = self._ended
            if ended:  # it ended meanwhile and left its end to be recorded here
                self._record_end()
        answer.headers.extend(self.extra)
        return answer

    def _answer(self) -> CoreResponse:
        execution = self.execution
        processor = self.processor
        if processor.timed_out:
            answer = error_response(408, f"execution {execution.id} timed out: "
                                    f"{processor.cap} reached")
        elif processor.response is not None:
            answer = processor.response
        elif execution.status == Status.RESOLVED:
            answer = empty_response(200)
        elif execution.status == Status.STARTED:
            answer = error_response(500, f"execution {execution.id} did not finish")
        else:
            answer = error_response(500, f"execution {execution.id} ended with status "
                                    f"{execution_status_name(execution.status)}")
        # The answer is stored before the end: a copy that finds the execution ended and the
        # key unanswered may then conclude that its process died.
        try:
            if self.idempotency is not None:
                self.engine.store.remember(self.idempotency.workflow_key, self.idempotency.key,
                                           answer.to_record())
        finally:
            self._record_end()
        if self.extra:
            answer.headers.extend(self.extra)
        return answer

    def _record_end(self) -> None:
        """Record the run's end (its answer, if any, is stored by now); from then on it is
        no longer running in this process."""
        dispatcher = self.engine.dispatcher
        try:
            self.engine.finish(self.workflow, self.execution)
        finally:
            dispatcher.running.discard(self.execution.id)
            if self._held:
                dispatcher.release()
