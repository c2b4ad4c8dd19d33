"""``callback`` (async workflows): wait for a request at this node's resume URL, or a timeout.

The job waits PENDING, durably, like a ``delay``; no worker is held. A request to the resume
URL (``{{$execution.resumeUrls.<key>}}``, a signed token naming this execution and node) is
checked (``method``, ``auth``), recorded once, and the execution is woken: the node ends
RESOLVED with the request's ``{"headers", "query", "body"}``. When ``timeout`` passes first,
``onTimeout`` decides: ``fail`` ends the node ABORTED, ``continue`` RESOLVED with
``{"timedOut": true}``. The serving side lives in :mod:`webhook_workflow.resume`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import DefinitionError
from ..fields import Field, check_section, integer, join, one_of, string, type_name
from ..http.response import ResponseSpec, compile_response
from ..http.signatures import HMAC_FIELDS, SIGNATURE_FIELDS, compile_signature
from ..records import Job
from ..status import Status
from .base import CompiledNode, NodeType, Outcome, RunContext

__all__ = ["BASIC_FIELDS", "CALLBACK_ROOTS", "CallbackNode", "CallbackSpec"]

#: What the answer to the caller of a resume URL may use: the callback request itself.
CALLBACK_ROOTS = frozenset({"$callback", "$context", "$system", "$env"})
_MAX_TIMEOUT_MS = 180 * 24 * 3600 * 1000
#: ``auth.basic`` of a callback node.
BASIC_FIELDS = (
    Field("username", string(max_length=200), doc="user name (a template such as "
          "`{{$env.NAME}}` is read from the engine's env)"),
    Field("password", string(max_length=200), doc="password (prefer `{{$env.NAME}}`)"),
)


def _auth(value: Any, path: str) -> Any:
    if value is None:
        return None
    if not isinstance(value, Mapping) or len(value) != 1 or not {"basic", "signature"} >= set(
            value):
        raise DefinitionError(path, "must be null, {\"basic\": {username, password}} or "
                              "{\"signature\": {scheme, secret ...}} (as config.signature)")
    if "basic" in value:
        return {"basic": check_section(value["basic"], BASIC_FIELDS, join(path, "basic"))}
    spec = value["signature"]
    if not isinstance(spec, Mapping):
        raise DefinitionError(join(path, "signature"), f"must be an object, got "
                              f"{type_name(spec)}")
    fields = SIGNATURE_FIELDS + (HMAC_FIELDS if spec.get("scheme") == "hmac" else ())
    check_section(spec, fields, join(path, "signature"))
    # Checked as config.signature is, with every $env secret present: the real secrets are
    # read from the engine's env when a callback comes.
    compile_signature(spec, _AnyEnv(), join(path, "signature"))
    return {"signature": dict(spec)}


class _AnyEnv(Mapping[str, str]):
    """An env that has every name (its values only need to be secrets)."""

    def __getitem__(self, name: str) -> str:
        return "x" * 32

    def __contains__(self, name: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


@dataclass(frozen=True, slots=True)
class CallbackSpec:
    """The compiled config of one callback node."""

    method: str
    timeout_ms: int
    #: ``{"basic": {...}}`` or ``{"signature": {...}}`` as written (secrets included), or None.
    auth: Mapping[str, Any] | None
    response: ResponseSpec
    on_timeout: str


class CallbackNode(NodeType):
    """Wait for a callback request at this node's resume URL."""

    type_name = "callback"
    summary = "waits for a request at its resume URL ($execution.resumeUrl), or a timeout"
    only_in = "async"
    fields = (
        Field("method", one_of("POST", "PUT", "PATCH", "GET", "DELETE"), "POST",
              "the HTTP method the callback must use"),
        Field("timeout", integer(1, _MAX_TIMEOUT_MS), 86_400_000, "ms to wait (default a "
              "day); then onTimeout applies"),
        Field("auth", _auth, None, "null, `{\"basic\": {username, password}}` or "
              "`{\"signature\": {...}}` (as `config.signature`)"),
        Field("response", lambda v, p: v, None, "`{statusCode, headers, body}` the caller "
              "gets (templates see `$callback`); default 200 `ok`"),
        Field("onTimeout", one_of("fail", "continue"), "fail", "fail: the node ends ABORTED; "
              "continue: RESOLVED with `{\"timedOut\": true}`"),
    )

    def compile(self, config: Any, path: str) -> tuple[dict[str, Any], Any]:
        checked, prepared = super().compile(config, path)
        auth = checked["auth"]
        if auth is not None and "basic" in auth:
            password = auth["basic"]["password"]
            if "{{" not in password:  # the stored definition never holds the password
                digest = hashlib.sha256(password.encode("utf-8")).hexdigest()
                checked["auth"] = {"basic": {**auth["basic"], "password": f"sha256:{digest}"}}
        if auth is not None and "signature" in auth:
            hidden = [s if not isinstance(s, str) or "{{" in s else
                      "sha256:" + hashlib.sha256(s.encode("utf-8")).hexdigest()
                      for s in auth["signature"].get("secrets") or []]
            checked["auth"] = {"signature": {**auth["signature"], "secrets": hidden}}
        return checked, CallbackSpec(prepared["method"], prepared["timeout"], auth,
                                     prepared["response"], prepared["onTimeout"])

    def prepare(self, config: dict[str, Any], path: str) -> dict[str, Any]:
        answer = config["response"] if config["response"] is not None else {"body": "ok"}
        config["response"], spec = compile_response(answer, join(path, "response"),
                                                    CALLBACK_ROOTS)
        return {**config, "response": spec}

    def run(self, node: CompiledNode, prev: Job | None, proc: RunContext) -> Outcome:
        return Job(Status.PENDING, None)

    def wake_at(self, node: CompiledNode, job: Job) -> float | None:
        if job.started_at is None:
            return None
        spec: CallbackSpec = node.prepared
        return job.started_at.timestamp() + spec.timeout_ms / 1000

    def resume(self, node: CompiledNode, job: Job | None, proc: RunContext) -> Outcome:
        own = proc.job_of(node)
        if own is None:
            raise ValueError("callback resumed without its job")
        if own.meta.get("callback"):
            own.status = Status.RESOLVED
            return own
        # Woken by its timer: no callback came in time.
        if node.prepared.on_timeout == "continue":
            own.status, own.result = Status.RESOLVED, {"timedOut": True}
        else:
            own.status = Status.ABORTED
            own.result = {"message": f"no callback within {node.prepared.timeout_ms} ms"}
        return own
