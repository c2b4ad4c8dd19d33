"""The request path shared by both doors, without I/O.

A door calls :meth:`Gateway.begin` with the request head, reads the body within the limit
the returned :class:`Admission` gives, then calls :meth:`Gateway.accept`. ``accept`` answers
async workflows at once (after the execution is recorded) and returns a :class:`SyncRun` for
sync workflows, which the door drives with its own driver (thread or event loop).
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING

from multidict import CIMultiDict

from .errors import RequestRejected, StoreUnavailable
from .http.querystring import parse_query
from .http.request import body_limit, check_head, check_limits, header_value, parse_body
from .http.response import CoreResponse, HeaderInjection, empty_response, error_response
from .runtime.effects import drive_async, drive_sync
from .runtime.records import Execution, utcnow
from .runtime.status import Status, execution_status_name
from .variables.headers import JoinedHeaders

if TYPE_CHECKING:
    from .definition.compile import CompiledWorkflow
    from .engine import Engine
    from .runtime.processor import Processor

__all__ = ["Acknowledgement", "Admission", "Gateway", "SyncRun"]

logger = logging.getLogger("webhook_workflow")

RETRY_AFTER = ("Retry-After", "5")


@dataclass(slots=True)
class Admission:
    """A request that passed the head checks; the door now reads up to ``max_body`` bytes."""

    workflow: CompiledWorkflow
    headers: CIMultiDict[str]
    query_string: bytes
    max_body: int
    content_length: int | None


class Gateway:
    """Routes ``{base_path}/{key}`` and runs the checks of SPEC §1 in order."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.prefix = engine.base_path + "/"

    def key_of(self, route_path: str) -> str | None:
        """The workflow key in a path relative to the mount point; None when not ours.

        With a non-empty ``base_path`` every path below it is ours (unknown keys answer 404);
        with ``base_path=""`` only paths naming a registered workflow are.
        """
        prefix = self.prefix
        if not route_path.startswith(prefix):
            if route_path == self.engine.base_path and self.engine.base_path:
                return ""
            return None
        key = route_path[len(prefix):]
        if key.endswith("/"):
            key = key[:-1]  # hosts such as Litestar append one slash to mounted paths
        if not self.engine.base_path and key not in self.engine.routes:
            return None
        return key

    def begin(self, method: str, key: str, url_length: int, query_string: bytes,
              headers: CIMultiDict[str], *, chunked_unterminated: bool = False
              ) -> Admission | CoreResponse:
        """Rows 1-8: answer now, or admit the request so the door reads its body."""
        engine = self.engine
        if not engine.dispatcher.started:
            engine.start()
        try:
            check_limits(url_length, headers, engine.limits)
            workflow = engine.routes.get(key)
            if workflow is None:
                raise RequestRejected(404, "no enabled workflow at this URL")
            limit = body_limit(workflow.max_body_size, engine.limits)
            length = check_head(method, headers, workflow.auth, limit)
            if length is None and chunked_unterminated:
                raise RequestRejected(411, "chunked request bodies need a server that sets "
                                      "wsgi.input_terminated; send Content-Length")
        except RequestRejected as exc:
            return error_response(exc.status, exc.message, exc.headers)
        return Admission(workflow, headers, query_string, limit, length)

    @staticmethod
    def too_large(admission: Admission) -> CoreResponse:
        """Row 7 found while reading: the body passed the limit."""
        return error_response(413, f"body larger than {admission.max_body} bytes")

    def accept(self, admission: Admission, body: bytes
               ) -> CoreResponse | SyncRun | Acknowledgement:
        """Rows 10-15 for a fully read body."""
        engine = self.engine
        workflow = admission.workflow
        headers = admission.headers
        try:
            content_type = header_value(headers, "content-type")
            parsed = parse_body(content_type, body, strict=workflow.strict_content_type,
                                max_depth=engine.limits.max_json_depth)
        except RequestRejected as exc:
            return error_response(exc.status, exc.message, exc.headers)
        query = parse_query(admission.query_string, workflow.query_options) \
            if admission.query_string else {}
        context = workflow.context.build(JoinedHeaders(headers), query, parsed)
        if workflow.sync:
            execution = Execution(workflow.key, workflow.version, context, status=Status.STARTED,
                                  sync=True, started_at=utcnow())
            try:
                engine.store.add(execution)
            except StoreUnavailable as exc:
                return error_response(503, f"cannot record the execution: {exc}", [RETRY_AFTER])
            return SyncRun(engine, workflow, execution)
        assert workflow.response is not None
        try:
            answer = workflow.response.render({"$context": context, "$system": engine.system,
                                               "$env": engine.env})
        except (HeaderInjection, ValueError) as exc:
            logger.error("workflow %s: config.response cannot be rendered: %s", workflow.key, exc)
            return error_response(500, "the workflow's response cannot be rendered")
        execution = Execution(workflow.key, workflow.version, context)
        add_later = getattr(engine.store, "add_later", None)
        if add_later is not None:
            # The store commits in batches: the door waits for the commit (a thread blocks,
            # the event loop awaits), then acknowledges.
            try:
                return Acknowledgement(engine, answer, add_later(execution))
            except StoreUnavailable as exc:
                return error_response(503, f"cannot record the execution: {exc}",
                                      [RETRY_AFTER])
        try:
            engine.store.add(execution)  # recorded before the acknowledgement leaves
        except StoreUnavailable as exc:
            return error_response(503, f"cannot record the execution: {exc}", [RETRY_AFTER])
        engine.dispatcher.notify()
        return answer


class Acknowledgement:
    """An async webhook whose execution is being committed; the door waits for the commit
    before it sends :attr:`answer` (or a 503 when the store could not record it)."""

    __slots__ = ("answer", "engine", "future")

    def __init__(self, engine: Engine, answer: CoreResponse, future: Future[None]) -> None:
        self.engine = engine
        self.answer = answer
        self.future = future

    def _done(self, error: BaseException | None) -> CoreResponse:
        if error is not None:
            if not isinstance(error, StoreUnavailable):
                logger.error("recording an execution failed: %r", error)
            return error_response(503, f"cannot record the execution: {error}", [RETRY_AFTER])
        self.engine.dispatcher.notify()
        return self.answer

    def wait(self) -> CoreResponse:
        """Block until committed (WSGI door, CLI)."""
        try:
            self.future.result()
        except Exception as exc:
            return self._done(exc)
        return self._done(None)

    async def wait_async(self) -> CoreResponse:
        """Await the commit without blocking the event loop (ASGI door)."""
        try:
            await asyncio.wrap_future(self.future)
        except Exception as exc:
            return self._done(exc)
        return self._done(None)


class SyncRun:
    """A sync execution admitted by the gateway; the door runs it with its driver."""

    __slots__ = ("engine", "execution", "processor", "workflow")

    def __init__(self, engine: Engine, workflow: CompiledWorkflow, execution: Execution) -> None:
        self.engine = engine
        self.workflow = workflow
        self.execution = execution
        self.processor: Processor = engine.processor(workflow, execution)

    def run(self) -> CoreResponse:
        """Run in this thread (WSGI door, CLI) and return the HTTP answer."""
        running = self.engine.dispatcher.running
        running.add(self.execution.id)  # its lease is renewed while it runs
        try:
            drive_sync(self.processor.steps(), self.processor.deadline)
        except Exception as exc:
            self.engine.fail(self.execution, exc)
        finally:
            running.discard(self.execution.id)
        return self._answer()

    async def run_async(self) -> CoreResponse:
        """Run on the event loop; blocking node work goes to threads (ASGI door)."""
        running = self.engine.dispatcher.running
        running.add(self.execution.id)
        try:
            await drive_async(self.processor.steps(), self.processor.deadline)
        except Exception as exc:
            self.engine.fail(self.execution, exc)
        finally:
            running.discard(self.execution.id)
        return self._answer()

    def _answer(self) -> CoreResponse:
        execution = self.execution
        self.engine.finish(self.workflow, execution)
        if self.processor.timed_out:
            return error_response(408, f"execution {execution.id} timed out "
                                  f"(options.timeout {self.workflow.timeout_ms} ms)")
        if self.processor.response is not None:
            return self.processor.response
        status = execution.status
        if status == Status.RESOLVED:
            return empty_response(200)
        if status == Status.STARTED:
            message = f"execution {execution.id} did not finish"
        else:
            message = f"execution {execution.id} ended with status " \
                      f"{execution_status_name(status)}"
        return error_response(500, message)


