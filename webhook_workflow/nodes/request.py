"""``request``: an outgoing HTTP call (NocoBase's HTTP request node).

The whole config is one template, compiled at registration. ``run`` renders and checks it, builds
a :class:`PreparedRequest` and yields ``Call(perform, (request,))``: the driver performs the
blocking call in the calling thread (``engine.execute``, WSGI) or in a worker thread (ASGI), so
the event loop never waits on the network. :func:`perform` only sees its argument.

Failures never raise out of the node: a timeout is an ABORTED job, anything else that stops the
request (bad URL, refused connection, non-2xx answer, policy refusal, oversized answer) a FAILED
one, and ``ignoreFail`` turns both into RESOLVED. A templated header that renders to an unsafe
name or value is an ERROR job: such a header is never sent.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Generator, Mapping
from typing import Any
from urllib.parse import urlencode

from ..errors import DefinitionError
from ..fields import (
    HEADER_NAME,
    NO_DEFAULT,
    Checker,
    Field,
    boolean,
    caseless,
    check_section,
    integer,
    join,
    json_value,
    one_of,
    schema_hint,
    schema_of,
    section_schema,
    type_name,
)
from ..http.response import HeaderInjection
from ..jsoncodec import json_default
from ..records import Job
from ..status import Status
from ..variables.templates import _PLACEHOLDER, Template, compile_template, find_placeholders
from ..variables.templates import to_text as text
from .base import Call, CompiledNode, NodeType, Outcome, RunContext
from .request_policy import RequestPolicy, policy_of
from .request_transport import Failure, PreparedRequest, normalise_url, perform

__all__ = ["CONTENT_TYPES", "METHODS", "RequestNode", "build_request"]

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
CONTENT_TYPES = ("application/json", "application/x-www-form-urlencoded", "text/plain",
                 "application/xml")
MAX_TIMEOUT_MS = 600_000
_SET_BY_CLIENT = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_BAD = re.compile(r"[\r\n\x00]")


class _Refused(Exception):
    """The request cannot be sent: a FAILED job (RESOLVED with ``ignoreFail``)."""


# --- the config table --------------------------------------------------------------------------


def _or_template(check: Checker) -> Checker:
    """Keep a string holding a placeholder as is: it is checked again once rendered."""

    @schema_hint(lambda: {"anyOf": [{"type": "string", "pattern": _PLACEHOLDER.pattern},
                                    schema_of(check)]})
    def checker(value: Any, path: str) -> Any:
        if isinstance(value, str) and find_placeholders(value):
            return value
        return check(value, path)

    return checker


@schema_hint({"type": "string"})
def _url(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise DefinitionError(path, f"must be a string, got {type_name(value)}")
    return value


@schema_hint({"type": "string", "pattern": "^(?:" + "|".join(map(caseless, METHODS)) + ")$"})
def _method(value: Any, path: str) -> str:
    if isinstance(value, str) and value.upper() in METHODS:
        return value.upper()
    raise DefinitionError(path, f"must be one of {', '.join(METHODS)}")


_KNOWN_TYPE = one_of(*CONTENT_TYPES)


@schema_hint({"enum": list(CONTENT_TYPES)})
def _content_type(value: Any, path: str) -> str:
    if value == "multipart/form-data":
        raise DefinitionError(path, "multipart/form-data (file upload) is not supported; use "
                              "application/json or application/x-www-form-urlencoded")
    return str(_KNOWN_TYPE(value, path))


@schema_hint({"type": "string", "pattern": r"^\s*" + HEADER_NAME.pattern[:-2] + r"\s*$",
              "not": {"pattern": r"^\s*(?:" + "|".join(map(caseless, sorted(_SET_BY_CLIENT)))
                      + r")\s*$"}})
def _header_name(value: Any, path: str) -> str:
    name = value.strip() if isinstance(value, str) else value
    if not isinstance(name, str) or not HEADER_NAME.match(name):
        raise DefinitionError(path, "must be a header name ([A-Za-z][A-Za-z0-9_-]*)")
    if name.lower() in _SET_BY_CLIENT:
        raise DefinitionError(path, f"{name} is set from the URL and the body, not by a workflow")
    return str(value)


@schema_hint({"type": ["string", "number", "boolean", "null"], "pattern": "^[^\\r\\n\\x00]*$"})
def _header_value(value: Any, path: str) -> Any:
    if value is not None and not isinstance(value, str | int | float):
        raise DefinitionError(path, f"must be a string, got {type_name(value)}")
    if isinstance(value, str) and _BAD.search(value):
        raise DefinitionError(path, "must not contain CR, LF or NUL")
    return value


@schema_hint({"type": "string", "pattern": r"\S"})
def _param_name(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DefinitionError(path, "must be a non-empty string")
    return value


def _pairs(fields: tuple[Field, ...]) -> Checker:
    @schema_hint(lambda: {"type": "array", "items": section_schema(fields)})
    def check(value: Any, path: str) -> list[dict[str, Any]]:
        if not isinstance(value, list):
            raise DefinitionError(path, f"must be an array, got {type_name(value)}")
        return [check_section(item, fields, join(path, i)) for i, item in enumerate(value)]

    return check


_HEADER = (Field("name", _or_template(_header_name)),
           Field("value", _or_template(_header_value), ""))
_PARAM = (Field("name", _or_template(_param_name)), Field("value", json_value, None))
_TIMEOUT = integer(1, MAX_TIMEOUT_MS)
# Fields a template may fill with any value: checked again after rendering.
_RENDERED = (("method", _method), ("contentType", _content_type), ("timeout", _TIMEOUT),
             ("ignoreFail", boolean), ("onlyData", boolean))


class RequestNode(NodeType):
    """Send an HTTP request and record the answer (see ``docs/nodes/request.md``)."""

    type_name = "request"
    summary = "sends an HTTP request; the result is the answer's status, headers and data"
    fields = (
        Field("url", _url, NO_DEFAULT, "http:// or https:// URL; templates allowed"),
        Field("method", _or_template(_method), "POST", "GET, POST, PUT, PATCH or DELETE"),
        Field("contentType", _or_template(_content_type), "application/json",
              "application/json, application/x-www-form-urlencoded, text/plain, application/xml"),
        Field("headers", _pairs(_HEADER), [], '`[{"name", "value"}]`; Content-Type is ignored'),
        Field("params", _pairs(_PARAM), [], '`[{"name", "value"}]` added to the URL query'),
        Field("data", json_value, None, "body: object, array or string; never sent with GET"),
        Field("timeout", _or_template(_TIMEOUT), 5000, f"milliseconds, 1..{MAX_TIMEOUT_MS}"),
        Field("ignoreFail", _or_template(boolean), False, "a failure RESOLVEs (result kept)"),
        Field("onlyData", _or_template(boolean), False, "the result is the answer's data only"),
    )

    def prepare(self, config: dict[str, Any], path: str) -> Template:
        try:
            return compile_template(config)
        except ValueError as exc:
            raise DefinitionError(path, str(exc)) from None

    def run(self, node: CompiledNode, prev: Job | None,
            proc: RunContext) -> Generator[Call, Any, Outcome]:
        config = dict(proc.render(node.prepared))
        ignore_fail = config.get("ignoreFail") is True
        try:
            for name, check in _RENDERED:
                config[name] = check(config[name], name)
            request = build_request(config, f"{proc.execution.id}:{node.key}",
                                    _seconds(config["timeout"], proc.deadline,
                                             proc.clock.monotonic()),
                                    policy_of(proc.settings.get("request_policy")))
        except (_Refused, DefinitionError) as exc:
            return _failure_job(Failure(str(exc)), ignore_fail)
        outcome = yield Call(perform, (request,))
        if isinstance(outcome, Failure):
            return _failure_job(outcome, ignore_fail)
        if config["onlyData"]:
            return Job(Status.RESOLVED, outcome.data)
        return Job(Status.RESOLVED, {"status": outcome.status, "statusText": outcome.status_text,
                                     "headers": outcome.headers, "data": outcome.data})


def _failure_job(failure: Failure, ignore_fail: bool) -> Job:
    result: dict[str, Any] = {"message": failure.message}
    if failure.status is not None:
        result["status"] = failure.status
        if failure.data is not None:
            result["data"] = failure.data
    if ignore_fail:
        return Job(Status.RESOLVED, result)
    return Job(Status.ABORTED if failure.timed_out else Status.FAILED, result)


def _seconds(timeout_ms: int, deadline: float | None, now: float) -> float:
    """The configured timeout, shortened to the execution's own deadline (``now`` on its
    clock) when that is sooner."""
    seconds = timeout_ms / 1000
    if deadline is not None:
        seconds = min(seconds, max(deadline - now, 0.001))
    return seconds


def build_request(config: Mapping[str, Any], idempotency_key: str, timeout: float,
                  policy: RequestPolicy | None = None) -> PreparedRequest:
    """Turn a rendered, checked config into a :class:`PreparedRequest`."""
    if not isinstance(config["url"], str):
        raise _Refused("Invalid URL")
    try:
        url, userinfo = normalise_url(config["url"])
    except ValueError:
        raise _Refused("Invalid URL") from None
    params = {text(p["name"]).strip(): text(p["value"]).strip() for p in config["params"]}
    query = urlencode([(k, v) for k, v in params.items() if k])  # the last of a name wins
    if query:
        url += ("&" if "?" in url else "?") + query
    method = config["method"]
    data = config["data"]
    body = None if method == "GET" or data is None else _encode(config["contentType"], data)
    headers = _headers(config["headers"])
    defaults = [("Accept", "application/json, text/plain, */*"), ("User-Agent", "webhook-workflow"),
                ("Idempotency-Key", idempotency_key)]
    if userinfo is not None:
        token = base64.b64encode(":".join(userinfo).encode("utf-8")).decode("ascii")
        defaults.append(("Authorization", f"Basic {token}"))
    for name, value in defaults:
        headers.setdefault(name.lower(), (name, value))
    if body is not None:
        headers["content-type"] = ("Content-Type", config["contentType"])
    return PreparedRequest(method, url, tuple(headers.values()), body, timeout,
                           config["timeout"], policy)


def _headers(items: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for item in items:
        name, value = text(item["name"]).strip(), text(item["value"]).strip()
        if not HEADER_NAME.match(name) or name.lower() in _SET_BY_CLIENT:
            raise HeaderInjection(f"a header name rendered to {name!r}, which cannot be sent")
        if _BAD.search(value):
            raise HeaderInjection(f"header {name!r} rendered to a value with CR, LF or NUL")
        if name.lower() == "content-type":
            continue  # as in NocoBase: contentType decides
        if not value.isascii() and not _latin1(value):
            raise _Refused(f"header {name}: the value has characters outside ISO-8859-1")
        out[name.lower()] = (name, value)
    return out


def _latin1(value: str) -> bool:
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def _encode(content_type: str, data: Any) -> bytes:
    if content_type == "application/x-www-form-urlencoded":
        return _form(data).encode("utf-8")
    if content_type != "application/json":
        return text(data).encode("utf-8")
    if isinstance(data, str):
        try:  # a string holding JSON is sent as it is (axios does the same)
            json.loads(data)
            return data.strip().encode("utf-8")
        except (ValueError, RecursionError):
            pass
    try:
        body = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False,
                          default=json_default)
    except (TypeError, ValueError, RecursionError) as exc:
        raise _Refused(f"data cannot be sent as JSON: {exc}") from None
    return body.encode("utf-8")


def _form(data: Any) -> str:
    """A form body from an object, NocoBase's ``[{name, value}]`` list, or a ready string."""
    if isinstance(data, str):
        return data
    if isinstance(data, Mapping):
        items = list(data.items())
    elif isinstance(data, list) and all(isinstance(e, Mapping) for e in data):
        items = [(e.get("name"), e.get("value")) for e in data]
    else:
        raise _Refused("data: a form body is an object, a list of {name, value} or a string")
    pairs: list[tuple[str, str]] = []
    for name, value in items:
        if not name or value is None:
            continue
        for one in value if isinstance(value, list) else [value]:
            pairs.append((text(name), text(one)))
    return urlencode(pairs)
