"""Definition validation: every rule names the offending field path; loading from files."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from webhook_workflow import DefinitionError, Engine, Workflow
from webhook_workflow.nodes.registry import NOCOBASE_ONLY_NODES, builtin_nodes

#: NocoBase node types that only make sense inside NocoBase.
NOCOBASE_ONLY = sorted(NOCOBASE_ONLY_NODES)
BUILT_IN_TYPES = sorted(builtin_nodes())


@pytest.fixture
def engine() -> Iterator[Engine]:
    eng = Engine(workers=1)
    yield eng
    eng.close(timeout=5)


def refuse(definition: Any, **settings: Any) -> DefinitionError:
    """Register ``definition`` on a fresh engine and return the DefinitionError it raises."""
    eng = Engine(**settings)
    try:
        with pytest.raises(DefinitionError) as info:
            eng.add_workflow(definition)
    finally:
        eng.close(timeout=5)
    return info.value


def assert_refused(definition: Any, path: str, reason: str, **settings: Any) -> None:
    exc = refuse(definition, **settings)
    assert exc.path == path, str(exc)
    assert str(exc).startswith(f"{path}: "), str(exc)
    assert reason in str(exc), str(exc)


def condition(calculations: list[Any], **config: Any) -> dict[str, Any]:
    """A workflow with one condition node holding ``calculations`` in an and-group."""
    cfg = {"calculation": {"group": {"type": "and", "calculations": calculations}}, **config}
    return {"nodes": [{"key": "c", "type": "condition", "config": cfg}]}


def calc(calculation: Any) -> dict[str, Any]:
    return {"nodes": [{"key": "c", "type": "condition", "config": {"calculation": calculation}}]}


CALC = "nodes[0].config.calculation"
ITEM = f"{CALC}.group.calculations[0]"


# --- the top level -------------------------------------------------------------------------

TOP_LEVEL_CASES = [
    ("unknown-field", {"foo": 1}, "foo", "unknown field"),
    ("non-string-field-name", {1: "x"}, "1", "unknown field"),
    ("key-empty", {"key": ""}, "key", "1-64 characters of [A-Za-z0-9_-]"),
    ("key-65-chars", {"key": "a" * 65}, "key", "1-64 characters"),
    ("key-space", {"key": "a b"}, "key", "1-64 characters"),
    ("key-slash", {"key": "a/b"}, "key", "1-64 characters"),
    ("key-dot", {"key": "a.b"}, "key", "1-64 characters"),
    ("key-non-ascii", {"key": "caf\u00e9"}, "key", "1-64 characters"),
    ("key-number", {"key": 12}, "key", "must be a string"),
    ("title-not-string", {"title": 3}, "title", "must be a string"),
    ("description-not-string", {"description": ["x"]}, "description", "must be a string"),
    ("type-not-webhook", {"type": "schedule"}, "type", "must be 'webhook'"),
    ("enabled-string", {"enabled": "yes"}, "enabled", "must be true or false"),
    ("enabled-int", {"enabled": 1}, "enabled", "must be true or false"),
    ("sync-int", {"sync": 0}, "sync", "must be true or false"),
    ("sync-null", {"sync": None}, "sync", "must be true or false"),
    ("config-array", {"config": []}, "config", "must be an object"),
    ("config-string", {"config": "x"}, "config", "must be an object"),
    ("config-unknown", {"config": {"foo": 1}}, "config.foo", "unknown field"),
    ("options-array", {"options": []}, "options", "must be an object"),
    ("options-unknown", {"options": {"foo": 1}}, "options.foo", "unknown field"),
    ("nodes-object", {"nodes": {}}, "nodes", "must be an array"),
    ("nodes-string", {"nodes": "x"}, "nodes", "must be an array"),
]


@pytest.mark.parametrize(("definition", "path", "reason"),
                         [c[1:] for c in TOP_LEVEL_CASES], ids=[c[0] for c in TOP_LEVEL_CASES])
def test_top_level_rules(definition: Any, path: str, reason: str) -> None:
    assert_refused(definition, path, reason)


def test_key_of_64_allowed_characters_is_accepted(engine: Engine) -> None:
    key = ("Ab9_-" * 13)[:64]
    assert engine.add_workflow({"key": key}).key == key


def test_generated_key_is_11_characters_of_digits_and_lowercase(engine: Engine) -> None:
    keys = {engine.add_workflow({}).key for _ in range(5)}
    assert len(keys) == 5  # a different key each time
    for key in keys:
        assert re.fullmatch(r"[0-9a-z]{11}", key), key
        assert engine.get_workflow(key) is not None


def test_defaults_are_filled_into_the_canonical_definition(engine: Engine) -> None:
    wf = engine.add_workflow({"key": "d"})
    assert isinstance(wf, Workflow)
    assert wf.sync is False and wf.enabled is True
    assert "enabled" not in wf.definition
    assert wf.definition["type"] == "webhook"
    assert wf.definition["options"] == {"timeout": 0, "stackLimit": 1,
                                        "deleteExecutionOnStatus": [], "syncWait": 0}
    assert wf.definition["config"]["basicAuthentication"] is False
    assert wf.definition["config"]["response"] == {"statusCode": 200, "headers": [],
                                                   "body": "ok"}
    assert wf.definition["nodes"] == []


# --- config: basic authentication --------------------------------------------------------

AUTH = "config.basicAuthentication"
AUTH_CASES = [
    ("missing-password", {"username": "u"}, f"{AUTH}.password", "is required"),
    ("missing-username", {"password": "p"}, f"{AUTH}.username", "is required"),
    ("empty-username", {"username": "", "password": "p"}, f"{AUTH}.username",
     "non-empty string without ':'"),
    ("username-with-colon", {"username": "a:b", "password": "p"}, f"{AUTH}.username",
     "non-empty string without ':'"),
    ("empty-password", {"username": "u", "password": ""}, f"{AUTH}.password",
     "non-empty string"),
    ("password-number", {"username": "u", "password": 1}, f"{AUTH}.password",
     "must be a string"),
    ("unknown-field", {"username": "u", "password": "p", "realm": "x"}, f"{AUTH}.realm",
     "unknown field"),
    ("true", True, AUTH, "must be an object"),
    ("string", "u:p", AUTH, "must be an object"),
]


@pytest.mark.parametrize(("auth", "path", "reason"), [c[1:] for c in AUTH_CASES],
                         ids=[c[0] for c in AUTH_CASES])
def test_basic_authentication_rules(auth: Any, path: str, reason: str) -> None:
    assert_refused({"config": {"basicAuthentication": auth}}, path, reason)


def test_basic_authentication_false_or_credentials_accepted(engine: Engine) -> None:
    wf = engine.add_workflow({"key": "a", "config": {"basicAuthentication": False}})
    assert wf.definition["config"]["basicAuthentication"] is False
    wf = engine.add_workflow({"key": "b", "config": {"basicAuthentication": {
        "username": "shop", "password": "s3:cr:et"}}})
    stored = wf.definition["config"]["basicAuthentication"]
    # The canonical definition keeps the password's SHA-256, never the password itself.
    digest = hashlib.sha256(b"s3:cr:et").hexdigest()
    assert stored == {"username": "shop", "password": f"sha256:{digest}"}
    assert "s3:cr:et" not in json.dumps(wf.definition)


def test_credentials_from_env_templates() -> None:
    eng = Engine(env={"HOOK_USER": "shop", "HOOK_PASS": "s3cret"})
    wf = eng.add_workflow({"key": "e", "sync": True, "config": {"basicAuthentication": {
        "username": "{{$env.HOOK_USER}}", "password": "{{ $env.HOOK_PASS }}"}}})
    assert wf.definition["config"]["basicAuthentication"]["password"] == "{{ $env.HOOK_PASS }}"
    assert eng.routes["e"].auth == (b"shop", b"s3cret")
    with pytest.raises(DefinitionError) as info:
        eng.add_workflow({"config": {"basicAuthentication": {
            "username": "u", "password": "{{$env.MISSING}}"}}})
    assert info.value.path == "config.basicAuthentication.password"
    assert "$env.MISSING is not set" in str(info.value)
    with pytest.raises(DefinitionError, match="exactly"):
        eng.add_workflow({"config": {"basicAuthentication": {
            "username": "u", "password": "x{{$env.HOOK_PASS}}"}}})
    eng.close(timeout=5)


# --- config.request ------------------------------------------------------------------------

REQ = "config.request"
REQUEST_CASES = [
    ("request-not-object", "x", REQ, "must be an object"),
    ("request-unknown", {"foo": 1}, f"{REQ}.foo", "unknown field"),
    ("headers-not-list", {"headers": {"key": "X"}}, f"{REQ}.headers", "must be an array"),
    ("headers-item-not-object", {"headers": ["X-Id"]}, f"{REQ}.headers[0]",
     "must be an object"),
    ("headers-item-missing-key", {"headers": [{"key": "X-A"}, {"alias": "A"}]},
     f"{REQ}.headers[1].key", "is required"),
    ("headers-item-empty-key", {"headers": [{"key": ""}]}, f"{REQ}.headers[0].key",
     "non-empty string"),
    ("headers-item-unknown-field", {"headers": [{"key": "X-A", "name": "x"}]},
     f"{REQ}.headers[0].name", "unknown field"),
    ("headers-alias-not-string", {"headers": [{"key": "X-A", "alias": 1}]},
     f"{REQ}.headers[0].alias", "must be a string"),
    ("query-bad-path-double-dot", {"query": [{"key": "a..b"}]}, f"{REQ}.query[0].key",
     "invalid path 'a..b'"),
    ("query-bad-path-unclosed", {"query": [{"key": "ok"}, {"key": "a["}]},
     f"{REQ}.query[1].key", "invalid path 'a['"),
    ("body-bad-path-unclosed", {"body": [{"key": "a["}]}, f"{REQ}.body[0].key",
     "invalid path 'a['"),
    ("body-bad-path-bracket", {"body": [{"key": "a]"}]}, f"{REQ}.body[0].key",
     "invalid path"),
    ("body-bad-path-trailing-dot", {"body": [{"key": "a."}]}, f"{REQ}.body[0].key",
     "invalid path"),
    ("body-var-with-dot", {"body": [{"key": "a.b", "_var": "x.y"}]}, f"{REQ}.body[0]._var",
     "without '.', '[' or ']'"),
    ("query-var-with-bracket", {"query": [{"key": "a", "_var": "x[0]"}]},
     f"{REQ}.query[0]._var", "without '.', '[' or ']'"),
    ("headers-var-with-dot", {"headers": [{"key": "X-A", "_var": "a.b"}]},
     f"{REQ}.headers[0]._var", "without '.', '[' or ']'"),
    ("strict-content-type-string", {"strictContentType": "yes"},
     f"{REQ}.strictContentType", "must be true or false"),
    ("strict-content-type-int", {"strictContentType": 1}, f"{REQ}.strictContentType",
     "must be true or false"),
    ("max-body-size-negative", {"maxBodySize": -1}, f"{REQ}.maxBodySize", "must be >= 0"),
    ("max-body-size-string", {"maxBodySize": "10"}, f"{REQ}.maxBodySize",
     "must be an integer"),
    ("max-body-size-fraction", {"maxBodySize": 1.5}, f"{REQ}.maxBodySize",
     "must be an integer"),
    ("query-options-not-object", {"queryOptions": 5}, f"{REQ}.queryOptions",
     "must be an object"),
    ("query-options-unknown", {"queryOptions": {"allowDots": True}},
     f"{REQ}.queryOptions.allowDots", "unknown field"),
    ("query-options-depth-negative", {"queryOptions": {"depth": -1}},
     f"{REQ}.queryOptions.depth", "must be 0..100"),
    ("query-options-depth-high", {"queryOptions": {"depth": 101}},
     f"{REQ}.queryOptions.depth", "must be 0..100"),
    ("query-options-depth-string", {"queryOptions": {"depth": "5"}},
     f"{REQ}.queryOptions.depth", "must be an integer"),
    ("query-options-array-limit-negative", {"queryOptions": {"arrayLimit": -1}},
     f"{REQ}.queryOptions.arrayLimit", "must be 0..10000"),
    ("query-options-array-limit-high", {"queryOptions": {"arrayLimit": 10_001}},
     f"{REQ}.queryOptions.arrayLimit", "must be 0..10000"),
    ("query-options-parameter-limit-zero", {"queryOptions": {"parameterLimit": 0}},
     f"{REQ}.queryOptions.parameterLimit", "must be 1..100000"),
    ("query-options-parameter-limit-high", {"queryOptions": {"parameterLimit": 100_001}},
     f"{REQ}.queryOptions.parameterLimit", "must be 1..100000"),
]


@pytest.mark.parametrize(("request_config", "path", "reason"),
                         [c[1:] for c in REQUEST_CASES], ids=[c[0] for c in REQUEST_CASES])
def test_request_rules(request_config: Any, path: str, reason: str) -> None:
    assert_refused({"config": {"request": request_config}}, path, reason)


@pytest.mark.parametrize("name", ["Authorization", "authorization", "AUTHORIZATION",
                                  "Proxy-Authorization", "proxy-AUTHORIZATION", "Cookie",
                                  "cookie", "COOKIE"])
def test_credential_headers_cannot_be_trigger_variables(name: str) -> None:
    definition = {"config": {"request": {"headers": [{"key": "X-Id"}, {"key": name}]}}}
    assert_refused(definition, "config.request.headers[1].key", "carries credentials")


def test_credential_header_refused_also_with_a_var() -> None:
    definition = {"config": {"request": {"headers": [{"key": "Cookie", "_var": "c"}]}}}
    assert_refused(definition, "config.request.headers[0].key", "carries credentials")


def test_valid_request_items_are_accepted(engine: Engine) -> None:
    request = {
        "headers": [{"key": "X-Request-Id", "alias": "Request", "_var": "rid"}],
        "query": [{"key": "source"}, {"key": "query[0].a"}],
        "body": [{"key": "order.id"}, {"key": "items[0]", "_var": "first"}],
        "strictContentType": True,
        "maxBodySize": 0,
        "queryOptions": {"depth": 0, "arrayLimit": 0, "parameterLimit": 1},
    }
    wf = engine.add_workflow({"key": "r", "config": {"request": request}})
    assert wf.definition["config"]["request"]["headers"] == request["headers"]


def test_max_body_size_above_the_engine_limit_is_refused() -> None:
    assert_refused({"config": {"request": {"maxBodySize": 1001}}}, "config.request.maxBodySize",
                   "must not exceed the engine's max_body_size (1000)", max_body_size=1000)


def test_max_body_size_equal_to_the_engine_limit_is_accepted() -> None:
    eng = Engine(max_body_size=1000)
    try:
        wf = eng.add_workflow({"key": "m", "config": {"request": {"maxBodySize": 1000}}})
        assert wf.definition["config"]["request"]["maxBodySize"] == 1000
    finally:
        eng.close(timeout=5)


# --- config.response and the response node ------------------------------------------------

RESP = "config.response"
RESPONSE_CASES = [
    ("not-object", "ok", RESP, "must be an object"),
    ("unknown-field", {"status": 200}, f"{RESP}.status", "unknown field"),
    ("status-199", {"statusCode": 199}, f"{RESP}.statusCode", "must be 200..599"),
    ("status-600", {"statusCode": 600}, f"{RESP}.statusCode", "must be 200..599"),
    ("status-string", {"statusCode": "200"}, f"{RESP}.statusCode", "must be an integer"),
    ("headers-not-list", {"headers": {"X-A": "1"}}, f"{RESP}.headers", "must be an array"),
    ("header-unknown-field", {"headers": [{"key": "X-A", "value": "1"}]},
     f"{RESP}.headers[0].key", "unknown field"),
    ("header-missing-name", {"headers": [{"value": "1"}]}, f"{RESP}.headers[0].name",
     "is required"),
    ("header-name-space", {"headers": [{"name": "X A", "value": "1"}]},
     f"{RESP}.headers[0].name", "must be a header name"),
    ("header-name-digit-first", {"headers": [{"name": "1X", "value": "1"}]},
     f"{RESP}.headers[0].name", "must be a header name"),
    ("header-name-colon", {"headers": [{"name": "X-A:", "value": "1"}]},
     f"{RESP}.headers[0].name", "must be a header name"),
    ("header-name-empty", {"headers": [{"name": "", "value": "1"}]},
     f"{RESP}.headers[0].name", "must be a header name"),
    ("header-value-cr", {"headers": [{"name": "X-A", "value": "a\rb"}]},
     f"{RESP}.headers[0].value", "must not contain CR, LF or NUL"),
    ("header-value-lf", {"headers": [{"name": "X-A", "value": "a\nSet-Cookie: x"}]},
     f"{RESP}.headers[0].value", "must not contain CR, LF or NUL"),
    ("header-value-crlf", {"headers": [{"name": "X-A", "value": "a\r\nb"}]},
     f"{RESP}.headers[0].value", "must not contain CR, LF or NUL"),
    ("header-value-nul", {"headers": [{"name": "X-A", "value": "a\x00b"}]},
     f"{RESP}.headers[0].value", "must not contain CR, LF or NUL"),
    ("header-value-object", {"headers": [{"name": "X-A", "value": {"a": 1}}]},
     f"{RESP}.headers[0].value", "must be a string"),
    ("content-length", {"headers": [{"name": "X-A", "value": "1"},
                                    {"name": "Content-Length", "value": "3"}]},
     f"{RESP}.headers[1].name", "Content-Length is set by the server"),
    ("content-length-lowercase", {"headers": [{"name": "content-length", "value": "3"}]},
     f"{RESP}.headers[0].name", "is set by the server"),
    ("transfer-encoding", {"headers": [{"name": "Transfer-Encoding", "value": "chunked"}]},
     f"{RESP}.headers[0].name", "is set by the server"),
    ("body-not-json", {"body": {1, 2}}, f"{RESP}.body", "must be a JSON value"),
    ("body-nan", {"body": {"n": float("nan")}}, f"{RESP}.body.n", "must be a finite number"),
]


@pytest.mark.parametrize(("response", "path", "reason"), [c[1:] for c in RESPONSE_CASES],
                         ids=[c[0] for c in RESPONSE_CASES])
def test_config_response_rules(response: Any, path: str, reason: str) -> None:
    assert_refused({"config": {"response": response}}, path, reason)


@pytest.mark.parametrize(("response", "path", "reason"), [c[1:] for c in RESPONSE_CASES],
                         ids=[c[0] for c in RESPONSE_CASES])
def test_response_node_rules_in_a_nested_branch(response: Any, path: str, reason: str) -> None:
    prefix = "nodes[0].branches.1[0].config"
    definition = {"sync": True, "nodes": [
        {"key": "c", "type": "condition", "branches": {
            "1": [{"key": "r", "type": "response", "config": response}]}}]}
    assert_refused(definition, prefix + path[len(RESP):], reason)


def test_spec_example_message_is_exact() -> None:
    definition = {"sync": True, "nodes": [
        {"key": "c", "type": "condition", "branches": {
            "1": [{"key": "r", "type": "response", "config": {"statusCode": 700}}]}}]}
    exc = refuse(definition)
    assert str(exc) == "nodes[0].branches.1[0].config.statusCode: must be 200..599"
    assert exc.path == "nodes[0].branches.1[0].config.statusCode"
    assert exc.reason == "must be 200..599"


def test_config_response_in_a_sync_workflow_is_refused() -> None:
    assert_refused({"sync": True, "config": {"response": {"statusCode": 202}}},
                   "config.response", "async workflows only")


def test_response_node_in_an_async_workflow_is_refused() -> None:
    definition = {"nodes": [{"key": "o", "type": "output"},
                            {"key": "r", "type": "response"}]}
    assert_refused(definition, "nodes[1].type", "only allowed in sync workflows")


def test_response_node_in_an_async_branch_is_refused() -> None:
    definition = {"nodes": [{"key": "c", "type": "condition", "branches": {
        "0": [{"key": "r", "type": "response"}]}}]}
    assert_refused(definition, "nodes[0].branches.0[0].type", "only allowed in sync workflows")


def test_valid_config_response_is_accepted(engine: Engine) -> None:
    response = {"statusCode": 202, "headers": [{"name": "X-Id", "value": "{{$context.body.id}}"},
                                               {"name": "X_Num", "value": 5}],
                "body": {"accepted": True, "at": "{{$system.now}}"}}
    wf = engine.add_workflow({"key": "resp", "config": {"response": response}})
    stored = wf.definition["config"]["response"]
    assert stored["statusCode"] == 202
    assert stored["headers"][1] == {"name": "X_Num", "value": "5"}


# --- options -------------------------------------------------------------------------------

OPTION_CASES = [
    ("timeout-negative", {"timeout": -1}, "options.timeout", "must be 0.."),
    ("timeout-huge", {"timeout": 10**15}, "options.timeout", "must be 0.."),
    ("timeout-string", {"timeout": "1000"}, "options.timeout", "must be an integer"),
    ("timeout-fraction", {"timeout": 0.5}, "options.timeout", "must be an integer"),
    ("stack-limit-zero", {"stackLimit": 0}, "options.stackLimit", "must be 1..1000"),
    ("stack-limit-string", {"stackLimit": "1"}, "options.stackLimit", "must be an integer"),
    ("delete-not-list", {"deleteExecutionOnStatus": 1}, "options.deleteExecutionOnStatus",
     "must be an array"),
    ("delete-zero", {"deleteExecutionOnStatus": [0]}, "options.deleteExecutionOnStatus[0]",
     "must be a final status number"),
    ("delete-unknown-number", {"deleteExecutionOnStatus": [1, 7]},
     "options.deleteExecutionOnStatus[1]", "must be a final status number"),
    ("delete-unknown-negative", {"deleteExecutionOnStatus": [-7]},
     "options.deleteExecutionOnStatus[0]", "must be a final status number"),
    ("delete-true", {"deleteExecutionOnStatus": [True]}, "options.deleteExecutionOnStatus[0]",
     "must be a final status number"),
    ("delete-false", {"deleteExecutionOnStatus": [-1, False]},
     "options.deleteExecutionOnStatus[1]", "must be a final status number"),
    ("delete-string", {"deleteExecutionOnStatus": ["1"]}, "options.deleteExecutionOnStatus[0]",
     "must be a final status number"),
    ("sync-wait-async", {"syncWait": 1000}, "options.syncWait", "is for sync workflows only"),
    ("sync-wait-negative", {"syncWait": -1}, "options.syncWait", "must be 0..3600000"),
]


@pytest.mark.parametrize(("options", "path", "reason"), [c[1:] for c in OPTION_CASES],
                         ids=[c[0] for c in OPTION_CASES])
def test_option_rules(options: Any, path: str, reason: str) -> None:
    assert_refused({"options": options}, path, reason)


def test_valid_options_are_accepted(engine: Engine) -> None:
    wf = engine.add_workflow({"key": "o", "options": {
        "timeout": 0, "stackLimit": 3, "deleteExecutionOnStatus": [1, -1, -2, -3, -4, -5, -6]}})
    assert wf.definition["options"]["stackLimit"] == 3
    assert set(wf.definition["options"]["deleteExecutionOnStatus"]) == {1, -1, -2, -3, -4, -5,
                                                                         -6}


# --- guards: shape errors name the field ------------------------------------------------

@pytest.mark.parametrize(("config", "path", "reason"), [
    ({"ipAllowlist": ["10.0.0.0/8", "nope"]}, "config.ipAllowlist[1]", "is not an IP address"),
    ({"ipAllowlist": "10.0.0.0/8"}, "config.ipAllowlist", "must be an array"),
    ({"cors": {}}, "config.cors.origins", "is required"),
    ({"cors": {"origins": ["https://a"], "maxAge": -1}}, "config.cors.maxAge", "must be"),
    ({"idempotency": {"ttl": 0}}, "config.idempotency.ttl", "must be"),
    ({"idempotency": {"key": "{{$env.X}}"}}, "config.idempotency.key", "unknown variable"),
    ({"filter": {"group": {"type": "xor"}}}, "config.filter.group.type", "must be one of"),
    ({"filterResponse": {"body": "x"}}, "config.filterResponse", "needs config.filter"),
    ({"request": {"form": "yes"}}, "config.request.form", "must be true or false"),
    ({"ipAllowlist": []}, "config.ipAllowlist", "at least one address"),
    ({"cors": {"origins": ["*"]}}, "config.cors.origins[0]", "must be an origin"),
    ({"cors": {"origins": ["https://a.example/"]}}, "config.cors.origins[0]", "no path"),
    ({"cors": {"origins": ["https://a"], "headers": ["bad header"]}}, "config.cors.headers[0]",
     "must be a header name"),
    ({"idempotency": {"key": ""}}, "config.idempotency.key", "non-empty template"),
])
def test_guard_definition_errors(config: Any, path: str, reason: str) -> None:
    assert_refused({"config": config}, path, reason)


@pytest.mark.parametrize("type_name", NOCOBASE_ONLY)
def test_nocobase_only_node_types_are_refused_by_name(type_name: str) -> None:
    exc = refuse({"nodes": [{"key": "n", "type": type_name}]})
    assert exc.path == "nodes[0].type"
    assert str(exc).startswith(f"nodes[0].type: node type {type_name!r} works on NocoBase")


def test_spec_node_types_are_built_in_or_refused_by_name() -> None:
    spec_types = {"condition", "multi-conditions", "loop", "parallel", "variable", "subflow",
                  "output", "json-variable-mapping", "json-query", "calculation",
                  "dateCalculation", "delay", "end", "request", "response"}
    assert spec_types <= set(BUILT_IN_TYPES)
    assert not set(BUILT_IN_TYPES) & set(NOCOBASE_ONLY)


def test_delay_in_a_sync_workflow_is_refused() -> None:
    assert_refused({"sync": True, "nodes": [{"key": "d", "type": "delay"}]}, "nodes[0].type",
                   "'delay' node is only allowed in async workflows")


# --- nodes ---------------------------------------------------------------------------------

NODE_CASES = [
    ("node-not-object", ["end"], "nodes[0]", "must be an object"),
    ("missing-key", [{"type": "end"}], "nodes[0].key", "is required"),
    ("missing-type", [{"key": "e"}], "nodes[0].type", "is required"),
    ("unknown-field", [{"key": "e", "type": "end", "next": "x"}], "nodes[0].next",
     "unknown field"),
    ("key-empty", [{"key": "", "type": "end"}], "nodes[0].key", "[A-Za-z0-9_-]+"),
    ("key-dot", [{"key": "a.b", "type": "end"}], "nodes[0].key", "[A-Za-z0-9_-]+"),
    ("key-space", [{"key": "a b", "type": "end"}], "nodes[0].key", "[A-Za-z0-9_-]+"),
    ("key-dollar", [{"key": "$x", "type": "end"}], "nodes[0].key", "[A-Za-z0-9_-]+"),
    ("key-number", [{"key": 1, "type": "end"}], "nodes[0].key", "must be a string"),
    ("key-too-long", [{"key": "k" * 65, "type": "end"}], "nodes[0].key",
     "at most 64 characters"),
    ("type-not-string", [{"key": "e", "type": 1}], "nodes[0].type", "must be a string"),
    ("second-node", [{"key": "a", "type": "end"}, {"key": "b"}], "nodes[1].type",
     "is required"),
    ("config-not-object", [{"key": "e", "type": "end", "config": []}], "nodes[0].config",
     "must be an object"),
    ("end-status-zero", [{"key": "e", "type": "end", "config": {"endStatus": 0}}],
     "nodes[0].config.endStatus", "must be one of 1, -1"),
    ("end-status-true", [{"key": "e", "type": "end", "config": {"endStatus": True}}],
     "nodes[0].config.endStatus", "must be one of 1, -1"),
    ("end-unknown-config", [{"key": "e", "type": "end", "config": {"status": 1}}],
     "nodes[0].config.status", "unknown field"),
    ("output-unknown-config", [{"key": "o", "type": "output", "config": {"val": 1}}],
     "nodes[0].config.val", "unknown field"),
]


@pytest.mark.parametrize(("nodes", "path", "reason"), [c[1:] for c in NODE_CASES],
                         ids=[c[0] for c in NODE_CASES])
def test_node_rules(nodes: Any, path: str, reason: str) -> None:
    assert_refused({"nodes": nodes}, path, reason)


def test_duplicate_node_keys_in_the_main_chain_name_both_places() -> None:
    exc = refuse({"nodes": [{"key": "a", "type": "output"}, {"key": "a", "type": "end"}]})
    assert exc.path == "nodes[1].key"
    assert str(exc) == "nodes[1].key: duplicate node key 'a' (first at nodes[0])"


def test_duplicate_node_keys_across_branches_name_both_places() -> None:
    definition = {"nodes": [{"key": "c", "type": "condition", "branches": {
        "1": [{"key": "x", "type": "output"}],
        "0": [{"key": "x", "type": "output"}]}}]}
    exc = refuse(definition)
    assert exc.path == "nodes[0].branches.0[0].key"
    assert "duplicate node key 'x'" in str(exc)
    assert "first at nodes[0].branches.1[0]" in str(exc)


def test_duplicate_node_key_between_a_branch_and_the_main_chain() -> None:
    definition = {"nodes": [
        {"key": "c", "type": "condition", "branches": {"1": [{"key": "x", "type": "output"}]}},
        {"key": "x", "type": "end"}]}
    exc = refuse(definition)
    assert exc.path == "nodes[1].key"
    assert "first at nodes[0].branches.1[0]" in str(exc)


def test_a_node_cannot_reuse_its_branching_parents_key() -> None:
    definition = {"nodes": [{"key": "c", "type": "condition", "branches": {
        "1": [{"key": "c", "type": "end"}]}}]}
    assert_refused(definition, "nodes[0].branches.1[0].key", "first at nodes[0]")


def test_unknown_node_type_lists_the_known_ones() -> None:
    exc = refuse({"nodes": [{"key": "n", "type": "webhookz"}]})
    assert exc.path == "nodes[0].type"
    assert str(exc) == ("nodes[0].type: unknown node type 'webhookz' "
                        f"(known: {', '.join(BUILT_IN_TYPES)})")
    assert {"condition", "end", "output", "response"} <= set(BUILT_IN_TYPES)


def test_unknown_node_type_lists_custom_types_too() -> None:
    eng = Engine()
    eng.register_node("my-node", lambda config, ctx: None)
    try:
        with pytest.raises(DefinitionError) as info:
            eng.add_workflow({"nodes": [{"key": "n", "type": "other"}]})
    finally:
        eng.close(timeout=5)
    assert f"known: {', '.join(sorted([*BUILT_IN_TYPES, 'my-node']))})" in str(info.value)


# --- branches ------------------------------------------------------------------------------

@pytest.mark.parametrize("type_name", ["end", "output"])
def test_branches_on_a_non_branching_node_are_refused(type_name: str) -> None:
    definition = {"nodes": [{"key": "n", "type": type_name, "branches": {
        "1": [{"key": "x", "type": "output"}]}}]}
    assert_refused(definition, "nodes[0].branches", f"a {type_name!r} node has no branches")


@pytest.mark.parametrize("index", ["2", "-1", "x", "", "1.0", "otherwise"])
def test_bad_branch_index_on_condition(index: str) -> None:
    definition = {"nodes": [{"key": "c", "type": "condition", "branches": {
        index: [{"key": "x", "type": "output"}]}}]}
    assert_refused(definition, f"nodes[0].branches.{index}",
                   "not a branch of a 'condition' node (branches: 0, 1, true, false)")


def test_branches_must_be_an_object() -> None:
    definition = {"nodes": [{"key": "c", "type": "condition", "branches": [[]]}]}
    assert_refused(definition, "nodes[0].branches", "must be an object")


def test_branch_chain_must_be_an_array() -> None:
    definition = {"nodes": [{"key": "c", "type": "condition", "branches": {
        "1": {"key": "x", "type": "output"}}}]}
    assert_refused(definition, "nodes[0].branches.1", "must be an array")


def test_the_same_branch_given_twice_is_refused() -> None:
    definition = {"nodes": [{"key": "c", "type": "condition", "branches": {
        "1": [{"key": "x", "type": "output"}], "true": [{"key": "y", "type": "output"}]}}]}
    assert_refused(definition, "nodes[0].branches.true", "branch 1 given twice")


def test_true_false_aliases_equal_one_and_zero(engine: Engine) -> None:
    def definition(yes: str, no: str) -> dict[str, Any]:
        return {"key": "alias", "nodes": [{"key": "c", "type": "condition", "branches": {
            yes: [{"key": "y", "type": "output", "config": {"value": "yes"}}],
            no: [{"key": "n", "type": "output", "config": {"value": "no"}}]}}]}

    named = engine.add_workflow(definition("true", "false"))
    numbered = engine.add_workflow(definition("1", "0"))
    assert named.digest == numbered.digest
    assert numbered.version == named.version == 1
    assert set(named.definition["nodes"][0]["branches"]) == {"0", "1"}


# --- condition config ----------------------------------------------------------------------

@pytest.mark.parametrize("engine_name", ["math.js", "formula.js"])
def test_condition_expression_syntax_errors_name_the_expression(engine_name: str) -> None:
    definition = {"nodes": [{"key": "c", "type": "condition",
                             "config": {"engine": engine_name, "expression": "1 == "}}]}
    with pytest.raises(DefinitionError) as info:
        Engine().add_workflow(definition)
    assert info.value.path == "nodes[0].config.expression"


CONDITION_CASES = [
    ("engine-unknown", {"engine": "js"}, "nodes[0].config.engine", "must be one of"),
    ("reject-on-false-string", {"rejectOnFalse": "no"}, "nodes[0].config.rejectOnFalse",
     "must be true or false"),
    ("expression-not-string", {"expression": 1}, "nodes[0].config.expression",
     "must be a string"),
    ("unknown-field", {"calculations": []}, "nodes[0].config.calculations", "unknown field"),
]


@pytest.mark.parametrize(("config", "path", "reason"), [c[1:] for c in CONDITION_CASES],
                         ids=[c[0] for c in CONDITION_CASES])
def test_condition_config_rules(config: Any, path: str, reason: str) -> None:
    assert_refused({"nodes": [{"key": "c", "type": "condition", "config": config}]}, path,
                   reason)


CALCULATION_CASES = [
    ("not-object", calc([]), CALC, 'must be an object {"group"'),
    ("bare-item-unknown-field", calc({"type": "and"}), f"{CALC}.type", "unknown field"),
    ("extra-top-field", calc({"group": {"type": "and", "calculations": []}, "x": 1}), CALC,
     'must be an object {"group"'),
    ("group-not-object", calc({"group": []}), f"{CALC}.group", "must be an object"),
    ("group-unknown-field", calc({"group": {"type": "and", "items": []}}),
     f"{CALC}.group.items", "unknown field"),
    ("bad-type", calc({"group": {"type": "xor", "calculations": []}}), f"{CALC}.group.type",
     "must be one of 'and', 'or'"),
    ("calculations-not-list", calc({"group": {"type": "or", "calculations": {}}}),
     f"{CALC}.group.calculations", "must be an array"),
    ("item-not-object", condition(["x"]), ITEM, "must be an object"),
    ("unknown-calculator", condition([{"calculator": "similar", "operands": [1, 2]}]),
     f"{ITEM}.calculator", "unknown calculator 'similar'"),
    ("missing-calculator", condition([{"operands": [1, 2]}]), f"{ITEM}.calculator",
     "unknown calculator"),
    ("operands-one", condition([{"calculator": "equal", "operands": [1]}]), f"{ITEM}.operands",
     "must be an array of two values"),
    ("operands-three", condition([{"calculator": "equal", "operands": [1, 2, 3]}]),
     f"{ITEM}.operands", "must be an array of two values"),
    ("operands-string", condition([{"calculator": "equal", "operands": "ab"}]),
     f"{ITEM}.operands", "must be an array of two values"),
    ("operands-missing", condition([{"calculator": "equal"}]), f"{ITEM}.operands",
     "must be an array of two values"),
    ("item-unknown-field", condition([{"calculator": "equal", "operands": [1, 1], "not": 1}]),
     f"{ITEM}.not", "unknown field"),
    ("nested-group-error", condition([
        {"calculator": "equal", "operands": [1, 1]},
        {"group": {"type": "or", "calculations": [{"calculator": "nope", "operands": [1, 1]}]}}]),
     f"{CALC}.group.calculations[1].group.calculations[0].calculator", "unknown calculator"),
]


@pytest.mark.parametrize(("definition", "path", "reason"),
                         [c[1:] for c in CALCULATION_CASES],
                         ids=[c[0] for c in CALCULATION_CASES])
def test_calculation_structure_rules(definition: Any, path: str, reason: str) -> None:
    assert_refused(definition, path, reason)


def test_calculation_unknown_calculator_lists_the_known_ones() -> None:
    exc = refuse(condition([{"calculator": "similar", "operands": [1, 2]}]))
    for name in ("equal", "notEqual", "gt", "gte", "lt", "lte", "includes", "notIncludes",
                 "startsWith", "notStartsWith", "endsWith", "notEndsWith"):
        assert name in str(exc)


def test_groups_nested_too_deep_are_refused() -> None:
    group: dict[str, Any] = {"group": {"type": "and", "calculations": []}}
    for _ in range(40):
        group = {"group": {"type": "and", "calculations": [group]}}
    exc = refuse(calc(group))
    assert exc.path.startswith(f"{CALC}.group.calculations[0].group")
    assert "nest deeper than" in str(exc)


@pytest.mark.parametrize("calculator", ["equal", "notEqual", "gt", "gte", "lt", "lte",
                                        "includes", "notIncludes", "startsWith",
                                        "notStartsWith", "endsWith", "notEndsWith", "==", "!=",
                                        ">", ">=", "<", "<="])
def test_every_calculator_name_is_accepted(engine: Engine, calculator: str) -> None:
    engine.add_workflow(condition([{"calculator": calculator, "operands": ["a", "b"]}]))


# --- templates -----------------------------------------------------------------------------

def test_template_error_in_a_string_operand_names_the_operand() -> None:
    exc = refuse(condition([{"calculator": "equal", "operands": ["{{$foo.x}}", 1]}]))
    assert exc.path == f"{ITEM}.operands[0]", str(exc)
    assert str(exc).startswith(f"{ITEM}.operands[0]: unknown variable '$foo'"), str(exc)


def test_template_error_in_a_response_node_string_body() -> None:
    definition = {"sync": True, "nodes": [
        {"key": "r", "type": "response", "config": {"body": "id={{$foo.x}}"}}]}
    assert_refused(definition, "nodes[0].config.body", "unknown variable '$foo'")


def test_template_error_in_a_response_header_value() -> None:
    definition = {"sync": True, "nodes": [
        {"key": "r", "type": "response",
         "config": {"headers": [{"name": "X-A", "value": "{{$foo.x}}"}]}}]}
    assert_refused(definition, "nodes[0].config.headers[0].value", "unknown variable '$foo'")


def test_template_error_in_config_response_string_body() -> None:
    assert_refused({"config": {"response": {"body": "{{ $nope }}"}}}, "config.response.body",
                   "unknown variable '$nope'")


def test_template_error_in_an_output_value_string() -> None:
    definition = {"nodes": [{"key": "o", "type": "output", "config": {"value": "{{env.X}}"}}]}
    assert_refused(definition, "nodes[0].config.value", "unknown variable 'env'")


NESTED_TEMPLATE_CASES = [
    ("response-node-body", {"sync": True, "nodes": [
        {"key": "r", "type": "response", "config": {"body": {"a": "{{$foo.x}}"}}}]},
     "nodes[0].config.body.a"),
    ("config-response-body", {"config": {"response": {"body": {"a": ["ok", "{{$foo}}"]}}}},
     "config.response.body.a[1]"),
    ("output-value", {"nodes": [
        {"key": "o", "type": "output", "config": {"value": {"list": [{"x": "{{$foo}}"}]}}}]},
     "nodes[0].config.value.list[0].x"),
    ("operand-in-nested-group", condition([{"group": {"type": "or", "calculations": [
        {"calculator": "equal", "operands": [1, "a{{$foo}}"]}]}}]),
     f"{ITEM}.group.calculations[0].operands[1]"),
]


@pytest.mark.parametrize(("definition", "path"), [c[1:] for c in NESTED_TEMPLATE_CASES],
                         ids=[c[0] for c in NESTED_TEMPLATE_CASES])
def test_template_error_inside_a_value_names_the_exact_field(definition: Any,
                                                             path: str) -> None:
    exc = refuse(definition)
    assert exc.path == path, str(exc)
    assert str(exc).startswith(f"{path}: unknown variable '$foo'"), str(exc)


def test_template_error_in_a_custom_node_config_names_the_field() -> None:
    eng = Engine()
    eng.register_node("my-node", lambda config, ctx: None)
    try:
        with pytest.raises(DefinitionError) as info:
            eng.add_workflow({"nodes": [{"key": "m", "type": "my-node",
                                         "config": {"url": "{{$foo}}"}}]})
    finally:
        eng.close(timeout=5)
    assert info.value.path == "nodes[0].config.url", str(info.value)


# --- non-JSON values and nesting -----------------------------------------------------------

class Opaque:
    pass


NON_JSON_CASES = [
    ("object-in-output", {"nodes": [{"key": "o", "type": "output",
                                     "config": {"value": {"a": Opaque()}}}]},
     "nodes[0].config.value.a", "must be a JSON value, got Opaque"),
    ("nan-in-output", {"nodes": [{"key": "o", "type": "output",
                                  "config": {"value": [1, float("nan")]}}]},
     "nodes[0].config.value[1]", "must be a finite number"),
    ("inf-in-output", {"nodes": [{"key": "o", "type": "output",
                                  "config": {"value": float("inf")}}]},
     "nodes[0].config.value", "must be a finite number"),
    ("int-key-in-output", {"nodes": [{"key": "o", "type": "output",
                                      "config": {"value": {1: "a"}}}]},
     "nodes[0].config.value", "object keys must be strings"),
    ("object-operand", condition([{"calculator": "equal", "operands": ["a", Opaque()]}]),
     f"{ITEM}.operands[1]", "must be a JSON value"),
    ("nan-operand", condition([{"calculator": "equal", "operands": [float("nan"), 1]}]),
     f"{ITEM}.operands[0]", "must be a finite number"),
    ("bytes-response-body", {"sync": True, "nodes": [
        {"key": "r", "type": "response", "config": {"body": b"raw"}}]},
     "nodes[0].config.body", "must be a JSON value"),
]


@pytest.mark.parametrize(("definition", "path", "reason"), [c[1:] for c in NON_JSON_CASES],
                         ids=[c[0] for c in NON_JSON_CASES])
def test_non_json_values_are_refused(definition: Any, path: str, reason: str) -> None:
    assert_refused(definition, path, reason)


def test_non_json_value_in_a_custom_node_config_is_refused() -> None:
    eng = Engine()
    eng.register_node("my-node", lambda config, ctx: None)
    try:
        with pytest.raises(DefinitionError) as info:
            eng.add_workflow({"nodes": [{"key": "m", "type": "my-node",
                                         "config": {"x": {"y": {1, 2}}}}]})
    finally:
        eng.close(timeout=5)
    assert info.value.path == "nodes[0].config.x.y"
    assert "must be a JSON value" in str(info.value)


def nested_conditions(levels: int) -> dict[str, Any]:
    """A main-chain condition whose branch 1 holds another one, ``levels`` branches deep."""
    node: dict[str, Any] = {"key": "leaf", "type": "end"}
    for i in range(levels):
        node = {"key": f"c{i}", "type": "condition", "branches": {"1": [node]}}
    return {"nodes": [node]}


def test_branches_nested_64_levels_are_accepted(engine: Engine) -> None:
    wf = engine.add_workflow({"key": "deep64", **nested_conditions(64)})
    assert wf.version == 1


def test_branches_nested_deeper_than_64_levels_are_refused() -> None:
    exc = refuse(nested_conditions(65))
    expected = "nodes[0]" + ".branches.1[0]" * 64 + ".branches.1"
    assert exc.path == expected
    assert str(exc) == f"{expected}: branches nest deeper than 64"


def test_very_deep_branches_are_refused_without_exhausting_the_stack() -> None:
    exc = refuse(nested_conditions(5000))
    assert "branches nest deeper than 64" in str(exc)


def test_a_deeply_nested_value_never_escapes_as_recursion_error() -> None:
    value: dict[str, Any] = {}
    cursor = value
    for _ in range(1000):
        cursor["a"] = {}
        cursor = cursor["a"]
    eng = Engine()
    try:
        eng.add_workflow({"nodes": [{"key": "o", "type": "output", "config": {"value": value}}]})
    except DefinitionError as exc:  # refusing it is fine, crashing is not
        assert exc.path.startswith("nodes[0].config.value"), str(exc)
    finally:
        eng.close(timeout=5)


# --- loading files -------------------------------------------------------------------------

SAMPLE: dict[str, Any] = {
    "key": "from-file",
    "sync": True,
    "nodes": [{"key": "r", "type": "response", "config": {"statusCode": 201, "body": "made"}}],
}


def test_load_json_file(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(SAMPLE), encoding="utf-8")
    wf = engine.add_workflow(path)
    assert (wf.key, wf.sync, wf.version) == ("from-file", True, 1)
    assert engine.add_workflow(str(path)).version == 1  # str paths too, same body


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".YAML"])
def test_load_yaml_file(engine: Engine, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"wf{suffix}"
    path.write_text(
        "key: from-file\n"
        "sync: true\n"
        "nodes:\n"
        "  - key: r\n"
        "    type: response\n"
        "    config: {statusCode: 201, body: made}\n", encoding="utf-8")
    wf = engine.add_workflow(path)
    assert wf.key == "from-file"
    # The YAML file holds the same definition as the dict: same canonical body.
    assert wf.digest == engine.add_workflow(dict(SAMPLE)).digest


def test_invalid_json_file_reports_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"key": "a",\n  "nodes": [}\n', encoding="utf-8")
    exc = refuse(path)
    assert exc.path == ""
    assert "broken.json" in str(exc)
    assert "invalid JSON at line 2 column 13" in str(exc)


def test_invalid_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("key: [unclosed\n", encoding="utf-8")
    exc = refuse(path)
    assert exc.path == ""
    assert "broken.yaml" in str(exc) and "invalid YAML" in str(exc)


@pytest.mark.parametrize(("name", "text"), [("list.json", "[1, 2]"), ("str.json", '"x"'),
                                            ("list.yaml", "- a\n- b\n"), ("empty.yml", "")])
def test_non_object_top_level_is_refused(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    exc = refuse(path)
    assert name in str(exc)
    assert "a definition is an object at the top level" in str(exc)


def test_unknown_suffix_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "wf.txt"
    path.write_text(json.dumps(SAMPLE), encoding="utf-8")
    exc = refuse(path)
    assert "a definition file ends in .json, .yaml or .yml" in str(exc)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    exc = refuse(tmp_path / "nowhere.json")
    assert "nowhere.json" in str(exc) and "cannot read" in str(exc)


def test_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin.json"
    path.write_bytes(b'{"title": "caf\xe9"}')
    exc = refuse(path)
    assert "cannot read" in str(exc)


def test_validation_errors_in_a_file_keep_the_field_path(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("nodes:\n  - key: a\n    type: response\n", encoding="utf-8")
    exc = refuse(path)
    assert exc.path == "nodes[0].type"
    assert "only allowed in sync workflows" in str(exc)


def test_deeply_nested_json_file_is_a_definition_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"nodes": ' + "[" * 100_000 + "]" * 100_000 + "}", encoding="utf-8")
    exc = refuse(path)
    assert "deep.json" in str(exc)


def test_null_optional_fields_mean_unset() -> None:
    # NocoBase exports write null for unset optional fields; null means "not given".
    eng = Engine()
    workflow = eng.add_workflow({"key": None, "title": None, "description": None,
                                 "config": {"request": {"maxBodySize": None}}})
    assert len(workflow.key) == 11
    assert "title" not in workflow.definition
    eng.close(timeout=5)


def test_definition_reference_page_matches_the_field_tables() -> None:
    from pathlib import Path

    from webhook_workflow.definition.reference import reference_markdown

    page = Path(__file__).resolve().parent.parent / "docs" / "reference" / "definition.md"
    assert page.read_text(encoding="utf-8") == reference_markdown(), (
        "docs/reference/definition.md is stale: python -m webhook_workflow.definition.reference "
        "> docs/reference/definition.md")
