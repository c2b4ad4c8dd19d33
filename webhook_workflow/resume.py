"""Resume URLs of ``callback`` nodes: making them, and serving the requests that call them.

A resume URL is ``{public base}{base_path}/resume/{token}`` (the token: :mod:`.http.resume_tokens`).
The public base is the engine's ``public_url``, else where the execution's own webhook was
served (kept with the execution as its ``origin``). A call is checked in this order: the
token (404), the execution and its node (404), whether the node can still take a callback
(409 used, 410 timed out or the execution ended), the method (405), Basic auth (401), then,
with the body read, the signature (401) and the body (400/413/415). It is recorded in the
store *before* it is answered, once per node (a second call: 409), and the execution is
woken; a worker of any process on the store then resumes it. A call that arrives while the
execution runs, or before it reached the node, is applied when the execution next waits.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .errors import DefinitionError, RequestRejected
from .http.auth import WWW_AUTHENTICATE, check_basic
from .http.guards import PublicHeaders
from .http.headers import asgi_headers
from .http.querystring import parse_query
from .http.request import Limits, is_form, parse_body
from .http.response import CoreResponse, HeaderInjection, error_response
from .http.resume_tokens import make_token, read_token
from .http.signatures import compile_signature
from .records import Execution, Job
from .status import Status
from .variables.templates import template

if TYPE_CHECKING:
    from .clock import Clock
    from .definition.compile import CompiledWorkflow
    from .http.headers import RequestHeaders
    from .nodes.base import CompiledNode
    from .nodes.callback import CallbackSpec
    from .runtime.catalog import Catalog
    from .runtime.dispatcher import Dispatcher
    from .store.base import Store

__all__ = ["ExecutionVariables", "ResumeHost", "ResumeTarget", "accept_callback",
           "apply_callbacks", "begin_callback", "resume_by_hand", "resume_url",
           "waiting_callbacks", "wake_if_called"]

PREFIX = "resume/"


class ResumeHost(Protocol):
    """What serving resume URLs needs of the engine (which satisfies it)."""

    @property
    def store(self) -> Store:
        """Where executions and callbacks are read and recorded."""

    @property
    def catalog(self) -> Catalog:
        """The compiled workflow versions."""

    @property
    def dispatcher(self) -> Dispatcher:
        """Wakes the workers."""

    @property
    def base_path(self) -> str:
        """Where webhook URLs live below the mount point."""

    @property
    def clock(self) -> Clock:
        """Where the time is read: when a callback's timeout has passed."""

    @property
    def public_url(self) -> str | None:
        """The public base URL of resume URLs, or None (the webhook's own origin)."""

    @property
    def resume_secret(self) -> bytes:
        """The key resume tokens are signed with (the store's)."""

    @property
    def limits(self) -> Limits:
        """The engine's request limits."""

    @property
    def env(self) -> Mapping[str, Any]:
        """``$env``: where the secrets of ``auth`` are read."""

    @property
    def system(self) -> Mapping[str, Any]:
        """``$system``."""

    def start(self) -> None:
        """Start the workers."""


def resume_url(host: ResumeHost, execution: Execution, node_key: str) -> str:
    """The absolute resume URL of callback node ``node_key`` of ``execution``."""
    base = host.public_url or execution.origin or ""
    token = make_token(host.resume_secret, execution.id, node_key)
    return f"{base}{host.base_path}/{PREFIX}{token}"


class ExecutionVariables(Mapping[str, Any]):
    """``$execution``: ``id``, ``resumeUrl`` (the first callback node not yet called back)
    and ``resumeUrls.<node key>``; URLs are made when a template reads them."""

    __slots__ = ("_execution", "_host", "_keys")

    def __init__(self, host: ResumeHost, execution: Execution, keys: tuple[str, ...]) -> None:
        self._host = host
        self._execution = execution
        self._keys = keys

    def __getitem__(self, name: str) -> Any:
        if name == "id":
            return self._execution.id
        if name == "resumeUrls":
            return {key: resume_url(self._host, self._execution, key) for key in self._keys}
        if name == "resumeUrl":
            done = {j.node_key for j in self._execution.jobs if j.status != Status.PENDING}
            for key in self._keys:
                if key not in done:
                    return resume_url(self._host, self._execution, key)
            return None
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(("id", "resumeUrl", "resumeUrls"))

    def __len__(self) -> int:
        return 3


@dataclass(frozen=True, slots=True)
class ResumeTarget:
    """A call of a resume URL that passed the head checks; the door reads its body."""

    execution: Execution
    workflow: CompiledWorkflow
    node: CompiledNode


def _latest(execution: Execution, key: str) -> Job | None:
    jobs = [j for j in execution.jobs if j.node_key == key]
    return max(jobs, key=lambda j: j.meta.get("seq", 0)) if jobs else None


def begin_callback(host: ResumeHost, method: str, token: str, headers: RequestHeaders, *,
                   skip_auth: bool = False) -> ResumeTarget:
    """The head checks of a resume-URL call; raises ``RequestRejected`` with the answer."""
    found = read_token(host.resume_secret, token)
    if found is None:
        raise RequestRejected(404, "no such resume URL")
    execution = host.store.get(found[0])
    workflow = None if execution is None else _version(host, execution)
    node = None if workflow is None else workflow.nodes.get(found[1])
    if execution is None or workflow is None or node is None or node.type != "callback":
        raise RequestRejected(404, "no such resume URL")
    spec: CallbackSpec = node.prepared
    job = _latest(execution, node.key)
    if job is not None and job.meta.get("callback"):
        raise RequestRejected(409, "this resume URL was used already")
    waiting = job is not None and job.status == Status.PENDING
    if execution.finished or (job is not None and not waiting):
        raise RequestRejected(410, "this resume URL has expired (timed out, or the execution "
                              "ended)")
    if waiting and job is not None and job.started_at is not None and (
            host.clock.time() > job.started_at.timestamp() + spec.timeout_ms / 1000):
        raise RequestRejected(410, "this resume URL has expired (timed out)")
    if method != spec.method:
        raise RequestRejected(405, f"method {method} not allowed; use {spec.method}",
                              [("Allow", spec.method)])
    auth = None if skip_auth else spec.auth
    if auth is not None and "basic" in auth:
        basic = auth["basic"]
        expected = (_secret(basic["username"], host.env), _secret(basic["password"], host.env))
        if not check_basic(headers.get("authorization"), expected):
            raise RequestRejected(401, "authentication required", [WWW_AUTHENTICATE])
    return ResumeTarget(execution, workflow, node)


def _version(host: ResumeHost, execution: Execution) -> CompiledWorkflow | None:
    """The execution's workflow version, also when this process did not register it (the
    store keeps every version; the command line resumes from the store alone)."""
    catalog = host.catalog
    if execution.workflow_key not in catalog.current:
        try:
            catalog.adopt(execution.workflow_key)
        except DefinitionError:
            return None
    return catalog.version(execution.workflow_key, execution.version)


def _secret(value: str, env: Mapping[str, Any]) -> bytes:
    rendered = template(value, "auth").render({"$env": env}) if "{{" in value else value
    return str(rendered if rendered is not None else "").encode("utf-8")


def accept_callback(host: ResumeHost, target: ResumeTarget, headers: RequestHeaders,
                    query_string: bytes, body: bytes) -> CoreResponse:
    """Check the body of a resume-URL call, record it, wake the execution, answer."""
    node, execution = target.node, target.execution
    spec: CallbackSpec = node.prepared
    try:
        auth = spec.auth
        if auth is not None and "signature" in auth:
            try:
                check = compile_signature(auth["signature"], host.env,
                                          f"{node.path}.config.auth.signature")
            except DefinitionError as exc:
                raise RequestRejected(500, f"the callback's signature cannot be checked: "
                                      f"{exc}") from None
            check.verify(headers, body, time.time())
        content_type = headers.get("content-type")
        if is_form(content_type):
            parsed: Any = parse_query(body, target.workflow.query_options)
        else:
            parsed = parse_body(content_type, body, strict=False,
                                max_depth=host.limits.max_json_depth,
                                max_items=host.limits.max_json_items)
    except RequestRejected as exc:
        return error_response(exc.status, exc.message, exc.headers)
    query = parse_query(query_string, target.workflow.query_options) if query_string else {}
    payload = {"headers": dict(PublicHeaders(headers)), "query": query, "body": parsed}
    if not host.store.record_callback(execution.id, node.key, payload):
        return error_response(409, "this resume URL was used already")
    host.store.wake(execution.id)  # due now, if it waits; if it runs, see wake_if_called
    host.start()
    host.dispatcher.notify()
    scope = {"$callback": payload, "$context": execution.context, "$system": host.system,
             "$env": host.env}
    try:
        return spec.response.render(scope)
    except (HeaderInjection, ValueError):
        return error_response(500, "the callback's response cannot be rendered")


def apply_callbacks(store: Store, workflow: CompiledWorkflow, execution: Execution) -> None:
    """Before a run: give each waiting callback node the call recorded for it."""
    if not workflow.callbacks:
        return
    calls = store.callbacks_of(execution.id)
    for key, payload in calls.items():
        job = _latest(execution, key)
        if job is not None and job.status == Status.PENDING and not job.meta.get("callback"):
            job.result = payload
            job.meta["callback"] = True
            job.meta["woken"] = True


def wake_if_called(store: Store, workflow: CompiledWorkflow, execution: Execution) -> None:
    """After a run began to wait: a call recorded meanwhile (or before the node was
    reached) wakes it now."""
    if not workflow.callbacks:
        return
    calls = store.callbacks_of(execution.id)
    for key in calls:
        job = _latest(execution, key)
        if job is not None and job.status == Status.PENDING and not job.meta.get("callback"):
            store.wake(execution.id)
            return


def resume_by_hand(host: ResumeHost, url_or_token: str, body: Any) -> tuple[str, str]:
    """Call back a waiting callback node as an operator (``webhook-workflow resume``): its
    ``auth`` is not asked for, the other checks hold. Returns ``(execution id, node key)``;
    raises ``RequestRejected`` with the status a caller of the URL would get."""
    token = url_or_token.rstrip("/").rsplit("/", 1)[-1]
    method = "POST"
    found = read_token(host.resume_secret, token)
    if found is not None:
        execution = host.store.get(found[0])
        workflow = None if execution is None else _version(host, execution)
        node = None if workflow is None else workflow.nodes.get(found[1])
        if node is not None and node.type == "callback":
            method = node.prepared.method
    target = _unauthenticated(host, method, token)
    payload = {"headers": {}, "query": {}, "body": body}
    if not host.store.record_callback(target.execution.id, target.node.key, payload):
        raise RequestRejected(409, "this resume URL was used already")
    host.store.wake(target.execution.id)
    return target.execution.id, target.node.key


def _unauthenticated(host: ResumeHost, method: str, token: str) -> ResumeTarget:
    return begin_callback(host, method, token, asgi_headers([]), skip_auth=True)


def waiting_callbacks(host: ResumeHost, execution: Execution) -> list[tuple[str, str, float]]:
    """The callback nodes an execution waits at: ``(node key, resume URL, seconds left)``."""
    workflow = None if execution.finished else _version(host, execution)
    if workflow is None:
        return []
    out = []
    for key in workflow.callbacks:
        job = _latest(execution, key)
        if job is None or job.status != Status.PENDING or job.started_at is None:
            continue
        spec: CallbackSpec = workflow.nodes[key].prepared
        left = job.started_at.timestamp() + spec.timeout_ms / 1000 - host.clock.time()
        out.append((key, resume_url(host, execution, key), max(0.0, left)))
    return out

