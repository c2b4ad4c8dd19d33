"""The JSON Schema of definitions: shipped as generated, valid draft 2020-12, true to the
validator on every example in the repository and on generated mistakes."""

from __future__ import annotations

import copy
import io
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webhook_workflow import DefinitionError, Engine
from webhook_workflow.cli import main
from webhook_workflow.definition.compile import NODE_FIELDS, WORKFLOW_FIELDS
from webhook_workflow.definition.guards import CORS_FIELDS, IDEMPOTENCY_FIELDS
from webhook_workflow.definition.nocobase import is_flat
from webhook_workflow.definition.schema import SCHEMA_FILE, definition_schema, schema_text
from webhook_workflow.definition.trigger import CONFIG_FIELDS, OPTION_FIELDS, REQUEST_FIELDS
from webhook_workflow.fields import Field, check_section, schema_of
from webhook_workflow.http.response import RESPONSE_FIELDS
from webhook_workflow.http.signatures import HMAC_FIELDS, SIGNATURE_FIELDS, TIMESTAMPED
from webhook_workflow.nodes.registry import BUILTIN_NODES

jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = definition_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
NODE_TABLES = {node.type_name: node.fields for node in BUILTIN_NODES}


class AnyEnv(dict[str, Any]):
    """``$env`` where every name is set: credentials written as ``{{$env.NAME}}`` compile."""

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key, "set-for-the-test")

    def __bool__(self) -> bool:
        return True


def refusal(definition: Any) -> DefinitionError | None:
    """The validator's verdict: None when a new engine registers ``definition``. A node type
    it does not know is registered as a custom one first, as a host would."""
    engine = Engine()
    engine.env = AnyEnv()
    try:
        for _ in range(20):
            try:
                engine.add_workflow(copy.deepcopy(definition))
            except DefinitionError as exc:
                unknown = re.search(r"unknown node type '([^']+)'", exc.reason)
                if unknown is None:
                    return exc
                engine.register_node(unknown.group(1), lambda config, ctx: None)
            else:
                return None
    finally:
        engine.close(timeout=5)
    raise AssertionError("too many custom node types")


def schema_errors(definition: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in VALIDATOR.iter_errors(definition)]


# -- the shipped file, the command ------------------------------------------------------------

def test_the_shipped_schema_is_the_generated_one() -> None:
    shipped = ROOT / "webhook_workflow" / SCHEMA_FILE
    assert shipped.read_text(encoding="utf-8") == schema_text(), (
        "webhook_workflow/definition.schema.json is stale: python -m "
        "webhook_workflow.definition.schema > webhook_workflow/definition.schema.json")


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_the_schema_command_prints_it() -> None:
    out = io.StringIO()
    assert main(["schema"], out=out, err=io.StringIO()) == 0
    assert out.getvalue() == schema_text()


def test_every_field_of_every_table_is_described() -> None:
    text = json.dumps(SCHEMA)
    tables = [WORKFLOW_FIELDS, NODE_FIELDS, CONFIG_FIELDS, REQUEST_FIELDS, OPTION_FIELDS,
              RESPONSE_FIELDS, SIGNATURE_FIELDS, HMAC_FIELDS, CORS_FIELDS, IDEMPOTENCY_FIELDS,
              *NODE_TABLES.values()]
    for table in tables:
        for f in table:
            if f.doc:
                assert json.dumps(f.doc)[1:-1] in text, f.name


# -- every definition in the repository --------------------------------------------------------

def _repository_definitions() -> Iterator[tuple[str, Any]]:
    for path in sorted([*(ROOT / "examples").glob("*.json"),
                        *(ROOT / "tests" / "corpus" / "workflows").glob("*.json")]):
        yield str(path.relative_to(ROOT)), json.loads(path.read_text(encoding="utf-8"))
    fence = re.compile(r"^```json\n(.*?)^```", re.S | re.M)
    for page in sorted((ROOT / "docs").rglob("*.md")):
        for i, match in enumerate(fence.finditer(page.read_text(encoding="utf-8"))):
            try:
                block = json.loads(match.group(1))
            except ValueError:
                continue  # an excerpt, not a whole value
            name = f"{page.relative_to(ROOT)} block {i}"
            # Pages show whole definitions, and also nodes, chains and sections on their own.
            if isinstance(block, list):
                yield name, {"nodes": block}
                yield name, {"sync": True, "nodes": block}
            elif isinstance(block, dict):
                yield name, block
                for sync in (False, True):
                    yield name, {"sync": sync, "nodes": [block]}
                    yield name, {"sync": sync, "config": block}
                    yield name, {"sync": sync, "options": block}


def test_every_definition_the_validator_accepts_in_the_repository_is_valid() -> None:
    checked = set()
    for name, definition in _repository_definitions():
        if is_flat(definition) or refusal(definition) is not None:
            continue
        checked.add(name)
        assert schema_errors(definition) == [], name
    assert {"examples/payment-callback.json", "examples/custom-node.json"} <= checked
    assert len(checked) > 40, sorted(checked)


# -- generated definitions: the schema refuses what the tables refuse --------------------------

_CALCULATION = {"group": {"type": "and", "calculations": [
    {"calculator": "equal", "operands": ["{{$context.body.ok}}", True]}]}}

ASYNC = {
    "key": "schema-async", "title": "Every section", "description": "async", "type": "webhook",
    "enabled": True, "sync": False,
    "config": {
        "basicAuthentication": {"username": "shop", "password": "s3cret"},
        "request": {"headers": [{"key": "X-Id", "alias": "Id", "_var": "id"}],
                    "query": [{"key": "a.b"}], "body": [{"key": "order.id", "alias": "Order"}],
                    "strictContentType": False, "maxBodySize": 1000, "maxJsonItems": 100,
                    "queryOptions": {"depth": 5, "arrayLimit": 20, "parameterLimit": 1000},
                    "form": True, "raw": False},
        "response": {"statusCode": 202, "headers": [{"name": "X-A", "value": "1"}],
                     "body": {"ok": True}},
        "signature": {"scheme": "hmac", "secrets": ["s1", "s2"], "header": "X-Sig",
                      "algorithm": "sha256", "encoding": "hex", "prefix": "sha256="},
        "idempotency": {"key": "{{$headers.x-id}}", "ttl": 60},
        "filter": _CALCULATION,
        "filterResponse": {"statusCode": 200, "body": "ignored"},
        "ipAllowlist": ["10.0.0.0/8", "2001:db8::/32"],
        "cors": {"origins": ["https://app.example"], "headers": ["content-type"], "maxAge": 600},
    },
    "options": {
        "timeout": 60000, "stackLimit": 2, "deleteExecutionOnStatus": [1, -1], "syncWait": 0,
        "retry": {"maxAttempts": 2, "backoff": "fixed", "delay": 10, "maxDelay": 100,
                  "jitter": False, "on": ["FAILED", -2]},
        "concurrency": {"limit": 2, "key": "{{$context.body.customer}}"},
        "throttle": {"limit": 10, "period": 1000},
        "debounce": {"period": 500, "key": None},
    },
    "nodes": [
        {"key": "calc", "type": "calculation", "title": "Calc",
         "config": {"engine": "math.js", "expression": "1 + 2"}, "retry": {"maxAttempts": 3}},
        {"key": "cond", "type": "condition", "config": {
            "rejectOnFalse": False, "engine": "basic", "calculation": _CALCULATION,
            "expression": None},
         "branches": {
             "1": [{"key": "dc", "type": "dateCalculation", "config": {
                 "input": "2024-01-01T00:00:00Z", "inputType": "date",
                 "steps": [{"function": "add", "arguments": {"number": 1, "unit": "day"}}]}}],
             "0": [{"key": "fin", "type": "end", "config": {"endStatus": -1}}]}},
        {"key": "wait", "type": "delay", "config": {"duration": 2, "unit": 1000, "endStatus": 1}},
        {"key": "jq", "type": "json-query", "config": {
            "engine": "jsonpathplus", "source": "{{$context.body}}", "expression": "$.items[*]",
            "model": [{"path": "id", "alias": "ID", "label": "Id"}]}},
        {"key": "jvm", "type": "json-variable-mapping", "config": {
            "dataSource": "{{$context.body}}", "parseArray": False,
            "variables": [{"key": "first", "path": "items.0.id", "name": "First"},
                          {"key": "p", "paths": ["items", 0]}]}},
        {"key": "each", "type": "loop", "config": {
            "target": 2, "exit": 1, "condition": {"checkpoint": 1, "continueOnFalse": True,
                                                  "engine": "basic", "calculation": _CALCULATION}},
         "branches": {"0": [{"key": "inner", "type": "output",
                             "config": {"value": "{{$scopes.each.item}}"}}]}},
        {"key": "multi", "type": "multi-conditions", "config": {
            "continueOnNoMatch": True,
            "conditions": [{"uid": "c1", "title": "first", "engine": "basic",
                            "calculation": _CALCULATION},
                           {"engine": "math.js", "expression": "1 > 0"}]},
         "branches": {"1": [{"key": "m1", "type": "output", "config": {"value": 1}}],
                      "otherwise": [{"key": "m0", "type": "output"}]}},
        {"key": "par", "type": "parallel", "config": {"mode": "allSettled"},
         "branches": {"0": [{"key": "p0", "type": "output", "config": {"value": 0}}],
                      "2": [{"key": "p2", "type": "output", "config": {"value": 2}}]}},
        {"key": "req", "type": "request", "config": {
            "url": "https://example.com/hook", "method": "POST",
            "contentType": "application/json", "headers": [{"name": "X-Token", "value": "t"}],
            "params": [{"name": "a", "value": 1}], "data": {"x": 1}, "timeout": 5000,
            "ignoreFail": True, "onlyData": False}},
        {"key": "sub", "type": "subflow", "config": {"workflow": "other", "context": {}}},
        {"key": "decl", "type": "variable", "config": {"target": None, "value": 1}},
        {"key": "assign", "type": "variable", "config": {"target": "decl", "value": 2}},
        {"key": "cbb", "type": "callback", "config": {
            "method": "PUT", "timeout": 60000, "onTimeout": "continue",
            "auth": {"basic": {"username": "shop", "password": "{{$env.CALLBACK_PASSWORD}}"}},
            "response": {"statusCode": 202, "headers": [{"name": "X-A", "value": "1"}],
                         "body": {"got": "{{$callback.body}}"}}}},
        {"key": "cbs", "type": "callback", "config": {"auth": {"signature": {
            "scheme": "hmac", "secrets": ["s1"], "header": "X-Sig", "algorithm": "sha256",
            "encoding": "hex", "prefix": "sha256="}}}},
        {"key": "cbg", "type": "callback", "config": {"auth": {"signature": {
            "scheme": "github", "secrets": ["{{$env.GITHUB_SECRET}}"]}}}},
        {"key": "out", "type": "output", "config": {"value": {"a": "{{$jobsMapByNodeKey.calc}}"}}},
    ],
}

SYNC = {
    "key": "schema-sync", "sync": True,
    "config": {
        "basicAuthentication": False,
        "signature": {"scheme": "stripe", "secrets": ["whsec_1"], "tolerance": 300},
        "idempotency": {},
        "cors": {"origins": ["http://[::1]:8080"]},
    },
    "options": {"syncWait": 1000, "retry": {"on": ["error"]}},
    "nodes": [
        {"key": "cond", "type": "condition", "config": {"engine": "math.js", "expression": "1"},
         "branches": {
             "true": [{"key": "ok", "type": "response", "config": {
                 "statusCode": 201, "headers": [{"name": "X-Order", "value": 7}],
                 "body": {"id": "{{$context.body.id}}"}}}],
             "false": [{"key": "no", "type": "response", "config": {"statusCode": 400}}]}},
        {"key": "req", "type": "request", "config": {
            "url": "{{$env.HOOK_URL}}", "method": "{{$context.body.method}}",
            "headers": [{"name": "{{$context.body.header}}", "value": None}],
            "timeout": "{{$context.body.timeout}}"}},
    ],
}
BASELINES = (ASYNC, SYNC)

#: Values whose contents no table checks (JSON values, calculation trees, date arguments):
#: not walked into.
_OPAQUE = frozenset({"value", "body", "data", "source", "context", "input", "dataSource",
                     "target", "calculation", "filter", "arguments"})

Path_ = tuple[str | int, ...]


def _locations(value: Any, path: Path_ = ()) -> Iterator[Path_]:
    """Every key and list item below ``value``, but not inside opaque values."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield (*path, key)
            if key not in _OPAQUE:
                yield from _locations(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield (*path, i)
            yield from _locations(item, (*path, i))


def _bounds() -> list[int]:
    """Integers next to every bound a table sets, as the checkers describe them."""
    found = {0, 1, -1}
    tables = [WORKFLOW_FIELDS, NODE_FIELDS, CONFIG_FIELDS, REQUEST_FIELDS, OPTION_FIELDS,
              RESPONSE_FIELDS, SIGNATURE_FIELDS, HMAC_FIELDS, CORS_FIELDS, IDEMPOTENCY_FIELDS,
              *NODE_TABLES.values()]

    def walk(schema: Any) -> None:
        if isinstance(schema, dict):
            for word in ("minimum", "maximum", "maxLength", "minItems", "maxItems"):
                if isinstance(schema.get(word), int):
                    found.update(schema[word] + d for d in (-1, 0, 1))
            for item in schema.values():
                walk(item)
        elif isinstance(schema, list):
            for item in schema:
                walk(item)

    for table in tables:
        for f in table:
            walk(schema_of(f.check))
    return sorted(found)


# Mistakes of type, enum, range, pattern and length. No float with an integral value: JSON
# Schema counts 1.0 as the integer 1, where some checkers want the int itself.
MISTAKES = st.one_of(
    st.sampled_from([None, True, False, 0.5, -2.5, "", " ", "x", "a b", "Basic", "MATH.JS",
                     "{{$context.body.x}}", "http://", "not-a-url", [], [1], ["x"], [None],
                     {}, {"zz": 1}, [{"zz": 1}]]),
    st.sampled_from(_bounds()),
    st.sampled_from([10**12, 10**16, -(10**6)]),
    st.builds(lambda n: "a" * n, st.sampled_from([64, 65, 200, 201, 256, 257, 10_001])),
)


def _table_refusal(definition: Any) -> DefinitionError | None:
    """What the field tables alone refuse in ``definition``: each section checked against
    its table, as the compiler reaches it; nothing else (templates, paths, expressions,
    rules across fields and the engine's limits stay unchecked)."""
    try:
        top = check_section(definition, WORKFLOW_FIELDS, "")
        config = check_section(top["config"], CONFIG_FIELDS, "config")
        check_section(config["request"], REQUEST_FIELDS, "config.request")
        for name in ("response", "filterResponse"):
            if config[name] is not None:
                check_section(config[name], RESPONSE_FIELDS, f"config.{name}")
        if config["signature"] is not None:
            _check_signature(config["signature"])
        for name, table in (("idempotency", IDEMPOTENCY_FIELDS), ("cors", CORS_FIELDS)):
            if config[name] is not None:
                check_section(config[name], table, f"config.{name}")
        check_section(top["options"], OPTION_FIELDS, "options")
        _check_chain(top["nodes"], "nodes")
    except DefinitionError as exc:
        return exc
    return None


def _check_signature(value: Any) -> None:
    """The fields of the block's scheme, as ``compile_signature`` picks them."""
    scheme = value.get("scheme") if isinstance(value, Mapping) else None
    fields: tuple[Field, ...] = SIGNATURE_FIELDS
    if scheme == "hmac":
        fields += HMAC_FIELDS
    if not (isinstance(scheme, str) and scheme in TIMESTAMPED):
        fields = tuple(f for f in fields if f.name != "tolerance")
    check_section(value, fields, "config.signature")


def _check_chain(value: Any, path: str) -> None:
    if not isinstance(value, list):
        raise DefinitionError(path, "must be an array")
    for i, item in enumerate(value):
        where = f"{path}[{i}]"
        node = check_section(item, NODE_FIELDS, where)
        table = NODE_TABLES.get(node["type"])
        if table is not None:
            config = check_section(node["config"] or {}, table, f"{where}.config")
            if node["type"] == "callback" and config["response"] is not None:
                check_section(config["response"], RESPONSE_FIELDS, f"{where}.config.response")
        if node["branches"] is not None:
            if not isinstance(node["branches"], Mapping):
                raise DefinitionError(f"{where}.branches", "must be an object")
            for name, chain in node["branches"].items():
                _check_chain(chain, f"{where}.branches.{name}")


def _get(value: Any, path: Path_) -> Any:
    for step in path:
        value = value[step]
    return value


@st.composite
def mistakes(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """A baseline with one mistake: a value replaced, a field left out or an unknown one."""
    definition = copy.deepcopy(draw(st.sampled_from(BASELINES)))
    where = draw(st.sampled_from(list(_locations(definition))))
    holder, last = _get(definition, where[:-1]), where[-1]
    kind = draw(st.sampled_from(["replace", "replace", "replace", "drop", "add"]))
    if kind == "drop" and isinstance(holder, dict):
        del holder[last]
    elif kind == "add" and isinstance(holder, dict):
        holder["zzUnknown"] = draw(MISTAKES)
    else:
        holder[last] = draw(MISTAKES)
    return definition, kind


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mistakes())
def test_the_schema_refuses_what_the_field_tables_refuse(
        case: tuple[dict[str, Any], str]) -> None:
    definition, _ = case
    by_tables = _table_refusal(definition)
    verdict = refusal(definition)
    if by_tables is not None:
        assert verdict is not None, f"the tables refuse, the validator does not: {by_tables}"
        assert schema_errors(definition), f"the schema accepts what the tables refuse: {by_tables}"
    elif verdict is None:
        assert schema_errors(definition) == [], "the schema refuses what the validator accepts"


@st.composite
def valid_definitions(draw: st.DrawFn) -> dict[str, Any]:
    """A baseline without some of its optional fields."""
    definition = copy.deepcopy(draw(st.sampled_from(BASELINES)))
    places = list(_locations(definition))
    for where in draw(st.lists(st.sampled_from(places), max_size=8, unique=True)):
        try:
            holder = _get(definition, where[:-1])
        except (KeyError, IndexError, TypeError):
            continue  # inside a field left out already
        if not isinstance(holder, dict) or where[-1] not in holder or where[-1] == "sync":
            continue  # (without sync, a sync workflow's response nodes would be refused)
        if where[-1] == "expression" and holder.get("engine") in ("math.js", "formula.js"):
            continue  # the expression engines need one
        kept = holder.pop(where[-1])
        if _table_refusal(definition) is not None:
            holder[where[-1]] = kept  # a required field
    config = definition.get("config", {})
    if "filter" not in config:
        config.pop("filterResponse", None)  # needs filter
    return definition


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_definitions())
def test_valid_generated_definitions_are_valid_for_both(definition: dict[str, Any]) -> None:
    assert refusal(definition) is None
    assert schema_errors(definition) == []


@pytest.mark.parametrize("baseline", BASELINES, ids=["async", "sync"])
def test_the_baselines_are_valid_for_both(baseline: dict[str, Any]) -> None:
    assert refusal(baseline) is None
    assert schema_errors(baseline) == []


@pytest.mark.parametrize(("definition", "valid"), [
    # A host's own node type: any config, no branches (as the validator treats them).
    ({"nodes": [{"key": "s", "type": "slugify", "config": {"text": "{{$context.body.t}}"}}]},
     True),
    ({"nodes": [{"key": "s", "type": "slugify", "branches": {"0": []}}]}, False),
    ({"nodes": [{"key": "c", "type": "condition", "branches": {"true": [], "2": []}}]}, False),
    ({"nodes": [{"key": "r", "type": "request"}]}, False),  # url is required
    ({"sync": True, "config": {"response": {"body": "x"}}}, False),
    ({"options": {"syncWait": 100}}, False),
    ({"config": {"signature": {"scheme": "github", "secrets": ["s"], "tolerance": 5}}}, False),
    ({"config": {"signature": {"scheme": "hmac", "secrets": ["s"], "prefix": "v1="}}}, True),
], ids=["custom-type", "custom-branches", "condition-branch-2", "request-without-url",
        "sync-acknowledgement", "async-syncWait", "github-tolerance", "hmac-prefix"])
def test_the_schema_on_rules_it_states(definition: dict[str, Any], valid: bool) -> None:
    assert (refusal(definition) is None) is valid
    assert (schema_errors(definition) == []) is valid
