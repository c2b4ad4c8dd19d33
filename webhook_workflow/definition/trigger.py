"""The webhook trigger's ``config`` and the workflow ``options``: tables and compilation."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import DefinitionError
from ..fields import (
    Field,
    Problems,
    boolean,
    check_section,
    integer,
    join,
    schema_hint,
    section_schema,
    string,
    type_name,
)
from ..http.querystring import QueryOptions
from ..http.response import ResponseSpec, compile_response
from ..nodes.retry import check_retry
from ..status import Status
from ..variables.context import ContextBuilder, FieldSpec
from ..variables.paths import compile_path
from .flow import check_flow

__all__ = ["CONFIG_FIELDS", "OPTION_FIELDS", "REQUEST_FIELDS", "TriggerConfig",
           "compile_trigger"]

#: What an async workflow's acknowledgement (``config.response``) may use: no node has run.
ANSWER_ROOTS = frozenset({"$context", "$system", "$env"})

#: Headers that carry credentials: never copied into ``$context`` (nor stored, nor logged).
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})



_CREDENTIAL_FIELDS = (
    Field("username", string(r"[^:]+", what="a non-empty string without ':'")),
    Field("password", string(r".+", what="a non-empty string")),
)


@schema_hint(lambda: {"anyOf": [{"enum": [False, None]}, section_schema(_CREDENTIAL_FIELDS)]})
def _credentials(value: Any, path: str) -> Any:
    if value is False or value is None:
        return False
    return check_section(value, _CREDENTIAL_FIELDS, path)


def _field_list(section: str) -> Any:
    @schema_hint(lambda: {"type": "array", "items": section_schema(_ITEM_FIELDS)})
    def check(value: Any, path: str) -> list[dict[str, Any]]:
        if not isinstance(value, list):
            raise DefinitionError(path, f"must be an array, got {type_name(value)}")
        out = []
        for i, item in enumerate(value):
            ipath = join(path, i)
            spec = check_section(item, _ITEM_FIELDS, ipath)
            key = spec["key"]
            if section == "headers":
                if key.lower() in CREDENTIAL_HEADERS:
                    raise DefinitionError(join(ipath, "key"), f"{key} carries credentials and "
                                          "cannot be a trigger variable")
            else:
                try:
                    compile_path(key)
                except ValueError as exc:
                    raise DefinitionError(join(ipath, "key"), str(exc)) from None
            out.append({k: v for k, v in spec.items() if v is not None})
        return out

    return check


_ITEM_FIELDS = (
    Field("key", string(r".+", max_length=256, what="a non-empty string")),
    Field("alias", string(max_length=200), None),
    Field("_var", string(r"[^.\[\]]+", max_length=200, what="a name without '.', '[' or ']'"),
          None),
)

QUERY_OPTION_FIELDS = (
    Field("depth", integer(0, 100), 5, "bracket groups kept as nesting"),
    Field("arrayLimit", integer(0, 10_000), 20, "an index this high or higher makes an object"),
    Field("parameterLimit", integer(1, 100_000), 1000, "pairs read; the rest is ignored"),
)

REQUEST_FIELDS = (
    Field("headers", _field_list("headers"), [], "`[{key, alias?, _var?}]` headers to keep"),
    Field("query", _field_list("query"), [], "`[{key, alias?, _var?}]` query paths to keep"),
    Field("body", _field_list("body"), [], "`[{key, alias?, _var?}]` body paths to keep"),
    Field("strictContentType", boolean, False, "415 for a body that is not JSON"),
    Field("maxBodySize", integer(0), None, "bytes; may only lower the engine's max_body_size"),
    Field("maxJsonItems", integer(1), None,
          "values in a JSON body; may only lower the engine's max_json_items"),
    Field("queryOptions", lambda v, p: check_section(v, QUERY_OPTION_FIELDS, p), None,
          "`{depth, arrayLimit, parameterLimit}`"),
    Field("form", boolean, False, "also parse application/x-www-form-urlencoded bodies"),
    Field("raw", boolean, False, "expose the raw body as $context.raw (and store it)"),
)

CONFIG_FIELDS = (
    Field("basicAuthentication", _credentials, False,
          "false, or `{username, password}` for HTTP Basic auth"),
    Field("request", lambda v, p: v, {}, "which headers, query and body values to keep"),
    Field("response", lambda v, p: v, None, "async only: `{statusCode, headers, body}`"),
    Field("signature", lambda v, p: v, None, "verify a sender's signature (see guards)"),
    Field("idempotency", lambda v, p: v, None, "`{key, ttl}`: deduplicate redeliveries"),
    Field("filter", lambda v, p: v, None, "a basic calculation; false: no execution"),
    Field("filterResponse", lambda v, p: v, None, "the answer when the filter is false "
          "(default 200 `ignored`)"),
    Field("ipAllowlist", lambda v, p: v, None, "client addresses/CIDRs allowed (else 403)"),
    Field("cors", lambda v, p: v, None, "`{origins, headers, maxAge}` for browser senders"),
)


@schema_hint(lambda: {"type": "array", "items": {
    "enum": sorted(int(s) for s in Status if s != Status.PENDING)}})
def _statuses(value: Any, path: str) -> list[int]:
    if not isinstance(value, list):
        raise DefinitionError(path, f"must be an array, got {type_name(value)}")
    finished = {int(s) for s in Status if s != Status.PENDING}
    for i, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, int | float) or item not in finished:
            raise DefinitionError(join(path, i), "must be a final status number "
                                  f"({', '.join(str(s) for s in sorted(finished))})")
    return sorted(set(value))


OPTION_FIELDS = (
    Field("timeout", integer(0, 180 * 24 * 3600 * 1000), 0,
          "ms; at the deadline the execution is ABORTED (sync: 408); 0 = none"),
    Field("stackLimit", integer(1, 1000), 1, "how often a workflow may (transitively) run itself"),
    Field("deleteExecutionOnStatus", _statuses, [], "finished executions not kept"),
    Field("syncWait", integer(0, 3_600_000), 0, "sync only: ms after which the request gets "
          "202 {executionId} and the run goes on in the background; 0 = off"),
    Field("retry", check_retry, None, "the retry policy of every node: `{maxAttempts, backoff, "
          "delay, maxDelay, jitter, on}` (a node's own `retry` fields win)", "object"),
    Field("concurrency", check_flow("concurrency"), None, "async only: `{limit, key}`: at most "
          "`limit` executions with one key run at once; the others wait queued", "object"),
    Field("throttle", check_flow("throttle"), None, "async only: `{limit, period, key}`: at "
          "most `limit` starts per `period` ms per key; the others start later", "object"),
    Field("debounce", check_flow("debounce"), None, "async only: `{period, key}`: only the "
          "last delivery of a key within `period` ms runs; earlier ones end CANCELED", "object"),
)


@dataclass(frozen=True, slots=True)
class TriggerConfig:
    """The compiled trigger config of one workflow."""

    config: dict[str, Any]
    auth: tuple[bytes, bytes] | None
    context: ContextBuilder
    strict_content_type: bool
    max_body_size: int | None
    query_options: QueryOptions
    response: ResponseSpec | None
    max_json_items: int | None = None


_ENV_SECRET = re.compile(r"\{\{\s*\$env\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def _secret(text: str, env: Mapping[str, Any], path: str) -> bytes:
    """A credential as bytes; ``{{$env.NAME}}`` takes it from the engine's ``env`` now."""
    if "{{" not in text:
        return text.encode("utf-8")
    match = _ENV_SECRET.fullmatch(text.strip())
    if match is None:
        raise DefinitionError(path, "a credential is literal text or exactly {{$env.NAME}}")
    value = env.get(match.group(1))
    if value is None or value == "":
        raise DefinitionError(path, f"$env.{match.group(1)} is not set in the engine's env")
    return str(value).encode("utf-8")


def compile_trigger(value: Any, sync: bool, engine_max_body: int | None,
                    env: Mapping[str, Any] | None = None,
                    engine_max_items: int | None = None) -> TriggerConfig:
    """Validate and compile ``config`` of a webhook workflow; ``env`` fills credentials
    written as ``{{$env.NAME}}``."""
    env = env or {}
    config = check_section(value, CONFIG_FIELDS, "config")
    # The request, the answer and the credentials are checked apart: all their errors at once.
    problems = Problems()
    request: dict[str, Any] = {}
    with problems.gather():
        request = check_section(config["request"], REQUEST_FIELDS, "config.request")
    config["request"] = request
    limit = request.get("maxBodySize")
    if limit is not None and engine_max_body is not None and limit > engine_max_body:
        problems.add("config.request.maxBodySize", f"must not exceed the engine's "
                     f"max_body_size ({engine_max_body})")
    items = request.get("maxJsonItems")
    if items is None:
        request.pop("maxJsonItems", None)  # unset: older definitions keep their digest
    elif engine_max_items is not None and items > engine_max_items:
        problems.add("config.request.maxJsonItems", f"must not exceed the engine's "
                     f"max_json_items ({engine_max_items})")
    qopts = request.get("queryOptions") or {}
    query_options = QueryOptions(depth=qopts.get("depth", 5),
                                 array_limit=qopts.get("arrayLimit", 20),
                                 parameter_limit=qopts.get("parameterLimit", 1000))
    response: ResponseSpec | None = None
    with problems.gather():
        if config["response"] is not None:
            if sync:
                raise DefinitionError("config.response", "is for async workflows only; a "
                                      "sync workflow answers with a Response node")
            config["response"], response = compile_response(config["response"],
                                                            "config.response", ANSWER_ROOTS)
        elif not sync:
            config["response"], response = compile_response({"body": "ok"}, "config.response")
    auth = config["basicAuthentication"]
    credentials = None
    if auth:
        with problems.gather():
            credentials = (_secret(auth["username"], env, "config.basicAuthentication.username"),
                           _secret(auth["password"], env,
                                   "config.basicAuthentication.password"))
        # The canonical definition (stored with every version, shown as Workflow.definition)
        # never holds a literal password: only its SHA-256, which still tells versions apart.
        if "{{" not in auth["password"]:
            digest = hashlib.sha256(auth["password"].encode("utf-8")).hexdigest()
            config["basicAuthentication"] = {**auth, "password": f"sha256:{digest}"}
    problems.raise_found()

    def specs(items: list[dict[str, Any]]) -> list[FieldSpec]:
        return [FieldSpec(i["key"], i.get("alias"), i.get("_var")) for i in items]

    builder = ContextBuilder(specs(request["headers"]), specs(request["query"]),
                             specs(request["body"]))
    return TriggerConfig(config, credentials, builder, request["strictContentType"], limit,
                         query_options, response, items)


def check_options(value: Any) -> dict[str, Any]:
    """Validate ``options``."""
    return check_section(value, OPTION_FIELDS, "options")
