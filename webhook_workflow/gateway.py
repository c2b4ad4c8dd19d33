"""The request path shared by both doors, without I/O.

A door calls :meth:`Gateway.begin` with the request head, reads the body within the limit
the returned :class:`Admission` gives, then calls :meth:`Gateway.accept`. ``accept`` returns
an answer, an :class:`~webhook_workflow.runs.Acknowledgement` (async: the door waits for the
commit, then acknowledges) or a :class:`~webhook_workflow.runs.SyncRun` (sync: the door runs
it with its own driver, thread or event loop). The checks run in the order of the HTTP
contract; guards that a workflow does not configure cost nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .errors import RequestRejected, StoreUnavailable
from .http.auth import WWW_AUTHENTICATE, check_basic_raw
from .http.guards import PublicHeaders, client_address, cors_headers, in_networks, preflight
from .http.headers import RequestHeaders
from .http.querystring import parse_query
from .http.request import Limits, is_form, parse_body, parse_content_length
from .http.response import CoreResponse, HeaderInjection, error_response
from .logs import fields
from .records import Execution
from .resume import PREFIX as RESUME_PREFIX
from .resume import ResumeHost, ResumeTarget, accept_callback, begin_callback
from .runs import RETRY_AFTER, Acknowledgement, RunHost, SyncRun, unavailable_answer
from .status import Status
from .store.base import Idempotency
from .variables.templates import to_text

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from .definition.compile import CompiledWorkflow
    from .http.guards import Network
    from .runtime.catalog import Catalog

__all__ = ["Acknowledgement", "Admission", "Gateway", "GatewayHost", "SyncRun"]

logger = logging.getLogger("webhook_workflow")


class GatewayHost(RunHost, ResumeHost, Protocol):
    """What the gateway needs of the engine, besides what the runs it admits need.

    The :class:`~webhook_workflow.engine.Engine` satisfies it and passes itself: the gateway
    sits below the engine, so it is given the engine as this instead of importing it.
    """

    @property
    def base_path(self) -> str:
        """Where webhook URLs live below the mount point ("" for the mount point itself)."""

    @property
    def routes(self) -> Mapping[str, CompiledWorkflow]:
        """Enabled workflows by key: which paths are ours when ``base_path`` is ""."""

    @property
    def catalog(self) -> Catalog:
        """The registered workflows; its ``routes`` are the ones a request may reach."""

    @property
    def limits(self) -> Limits:
        """The request limits (URL, headers, body, JSON) of the HTTP contract."""

    @property
    def trusted_proxies(self) -> Sequence[Network]:
        """Proxies whose forwarded-for header is believed (ipAllowlist)."""

    @property
    def forwarded_header(self) -> str:
        """The header trusted proxies report the client in."""

    @property
    def system(self) -> Mapping[str, Any]:
        """``$system`` for rendering configured answers."""

    @property
    def env(self) -> Mapping[str, Any]:
        """``$env`` for rendering configured answers."""

    def start(self) -> None:
        """Start the background workers (the first request does, if nobody did)."""


@dataclass(slots=True)
class Admission:
    """A request that passed the head checks; the door now reads up to ``max_body`` bytes."""

    workflow: CompiledWorkflow
    headers: RequestHeaders
    query_string: bytes
    max_body: int
    content_length: int | None
    #: Headers every answer to this request carries (CORS for an allowed origin).
    extra: tuple[tuple[str, str], ...] = ()
    #: A call of a callback node's resume URL (not a webhook delivery), else None.
    callback: ResumeTarget | None = None
    #: Where the door was reached (``scheme://host`` and mount point), made on demand.
    origin: Callable[[], str] | None = None


def _over_limits(url_length: int, headers: RequestHeaders, limits: Limits) -> None:
    """Row 1: request line and header limits (414 / 431)."""
    if url_length > limits.max_url_length:
        raise RequestRejected(414, f"URL longer than {limits.max_url_length} bytes")
    if headers.count > limits.max_header_count:
        raise RequestRejected(431, f"more than {limits.max_header_count} header fields")
    raise RequestRejected(431, f"header fields larger than {limits.max_header_bytes} bytes")


def _with(response: CoreResponse, extra: tuple[tuple[str, str], ...]) -> CoreResponse:
    if extra:
        response.headers.extend(extra)
    return response


class Gateway:
    """Routes ``{base_path}/{key}`` and runs the checks of the HTTP contract in order."""

    def __init__(self, engine: GatewayHost) -> None:
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
              headers: RequestHeaders, *, chunked_unterminated: bool = False,
              client: str | None = None, origin: Callable[[], str] | None = None
              ) -> Admission | CoreResponse:
        """Rows 1-8: answer now, or admit the request so the door reads its body.
        ``origin`` gives where the door was reached, for resume URLs."""
        engine = self.engine
        if not engine.dispatcher.started:
            engine.start()
        limits = engine.limits
        extra: tuple[tuple[str, str], ...] = ()
        try:
            if (url_length > limits.max_url_length or headers.count > limits.max_header_count
                    or headers.size > limits.max_header_bytes):
                _over_limits(url_length, headers, limits)
            if key.startswith(RESUME_PREFIX):
                return self._begin_callback(method, key[len(RESUME_PREFIX):], headers,
                                            query_string, chunked_unterminated)
            workflow = engine.catalog.routes.get(key)
            if workflow is None:
                raise RequestRejected(404, "no enabled workflow at this URL")
            guards = workflow.guards
            if guards.cors is not None:
                extra = cors_headers(guards.cors, headers.get("origin"))
                if method == "OPTIONS" and extra:
                    return preflight(guards.cors, extra)
            if method != "POST":
                raise RequestRejected(405, f"method {method} not allowed; use POST",
                                      [("Allow", "POST")])
            if guards.allowlist is not None:
                address = client_address(client, headers, engine.trusted_proxies,
                                         engine.forwarded_header)
                if not in_networks(address, guards.allowlist):
                    raise RequestRejected(403, "client address not allowed")
            limit = limits.max_body_size if workflow.max_body_size is None \
                else workflow.max_body_size
            auth = workflow.auth
            if auth is not None and not check_basic_raw(headers.raw("authorization"), auth,
                                                        workflow.auth_header or b""):
                raise RequestRejected(401, "authentication required", [WWW_AUTHENTICATE])
            length = parse_content_length(headers.get("content-length"))
            if length is not None and length > limit:
                raise RequestRejected(413, f"body larger than {limit} bytes")
            # Chunked wins over Content-Length (RFC 9112 6.3); a server that cannot decode it
            # must not have us read the raw chunks as the body.
            if chunked_unterminated:
                raise RequestRejected(411, "chunked request bodies need a server that sets "
                                      "wsgi.input_terminated; send Content-Length")
        except RequestRejected as exc:
            return _with(error_response(exc.status, exc.message, exc.headers), extra)
        return Admission(workflow, headers, query_string, limit, length, extra, origin=origin)

    def _begin_callback(self, method: str, token: str, headers: RequestHeaders,
                        query_string: bytes, chunked_unterminated: bool) -> Admission:
        """The head of a call of a resume URL (raises ``RequestRejected`` to refuse it)."""
        target = begin_callback(self.engine, method, token, headers)
        limit = self.engine.limits.max_body_size
        length = parse_content_length(headers.get("content-length"))
        if length is not None and length > limit:
            raise RequestRejected(413, f"body larger than {limit} bytes")
        if chunked_unterminated:
            raise RequestRejected(411, "chunked request bodies need a server that sets "
                                  "wsgi.input_terminated; send Content-Length")
        return Admission(target.workflow, headers, query_string, limit, length,
                         callback=target)

    @staticmethod
    def too_large(admission: Admission) -> CoreResponse:
        """Row 7 found while reading: the body passed the limit."""
        return _with(error_response(413, f"body larger than {admission.max_body} bytes"),
                     admission.extra)

    def accept(self, admission: Admission, body: bytes
               ) -> CoreResponse | SyncRun | Acknowledgement:
        """Rows 9-15 for a fully read body."""
        engine = self.engine
        if admission.callback is not None:
            return accept_callback(engine, admission.callback, admission.headers,
                                   admission.query_string, body)
        workflow = admission.workflow
        guards = workflow.guards
        headers = admission.headers
        extra = admission.extra
        try:
            if guards.signature is not None:
                guards.signature.verify(headers, body, time.time())
            content_type = headers.get("content-type")
            if guards.form and is_form(content_type):
                parsed: Any = parse_query(body, workflow.query_options)
            else:
                parsed = parse_body(content_type, body, strict=workflow.strict_content_type,
                                    max_depth=engine.limits.max_json_depth,
                                    max_items=engine.limits.max_json_items
                                    if workflow.max_json_items is None
                                    else workflow.max_json_items,
                                    accepted="application/json or "
                                    "application/x-www-form-urlencoded" if guards.form
                                    else "application/json")
        except RequestRejected as exc:
            return _with(error_response(exc.status, exc.message, exc.headers), extra)
        query = parse_query(admission.query_string, workflow.query_options) \
            if admission.query_string else {}
        context = workflow.context.build(headers, query, parsed)
        if guards.raw:
            context["raw"] = body.decode("utf-8", "replace")
        idempotency = None
        if guards.filter is not None or guards.idempotency_key is not None:
            scope = {"$context": context, "$headers": PublicHeaders(headers)}
            if guards.filter is not None and not guards.filter(scope):
                scope.update({"$system": engine.system, "$env": engine.env})
                answer = self._render(guards.filter_response, scope, workflow, extra)
                return answer if answer is not None else self._broken(extra)
            if guards.idempotency_key is not None:
                key = guards.idempotency_key.render(scope)
                if key is not None and to_text(key) != "":
                    idempotency = Idempotency(workflow.key, to_text(key),
                                              guards.idempotency_ttl)
        try:
            now = engine.clock.time()
            if workflow.sync:
                execution = Execution(workflow.key, workflow.version, context,
                                      status=Status.STARTED, sync=True, created_at=now,
                                      started_at=now)
                return SyncRun(engine, workflow, execution, idempotency, extra)
            answer = self._render(workflow.response, {"$context": context,
                                                      "$system": engine.system,
                                                      "$env": engine.env}, workflow, extra)
            if answer is None:  # nothing is recorded for an answer that cannot be sent
                return self._broken(extra)
            execution = Execution(workflow.key, workflow.version, context, created_at=now)
            if workflow.callbacks and admission.origin is not None and not engine.public_url:
                execution.origin = admission.origin()
            if workflow.flow is not None:
                execution.flow = workflow.flow.mark(
                    {"$context": context, "$headers": PublicHeaders(headers)}, now)
        except StoreUnavailable as exc:
            # No id can be drawn while this process cannot renew its instance number (its
            # store is down): the delivery cannot be recorded, as when the write fails.
            return unavailable_answer(exc, extra)
        if idempotency is not None:
            idempotency = Idempotency(idempotency.workflow_key, idempotency.key,
                                      idempotency.ttl, answer.to_record())
        return Acknowledgement(engine, answer, execution, idempotency)

    @staticmethod
    def _render(spec: Any, scope: dict[str, Any], workflow: CompiledWorkflow,
                extra: tuple[tuple[str, str], ...]) -> CoreResponse | None:
        """A configured answer rendered for this request; None when it cannot be (a
        templated header value with CR/LF, ...)."""
        try:
            return _with(spec.render(scope), extra)
        except (HeaderInjection, ValueError) as exc:
            logger.error("workflow %s: an answer cannot be rendered: %s", workflow.key, exc,
                         extra=fields(workflow_key=workflow.key))
            return None

    @staticmethod
    def _broken(extra: tuple[tuple[str, str], ...]) -> CoreResponse:
        return _with(error_response(500, "the workflow's response cannot be rendered"), extra)


__all__ += ["RETRY_AFTER"]
