"""``json-query`` and ``json-variable-mapping``, observed through ``engine.execute``."""

from __future__ import annotations

import copy
import importlib.util
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from doors import Door, Request

from webhook_workflow import DefinitionError, Engine, Execution, Status
from webhook_workflow.nodes import json_query
from webhook_workflow.nodes.json_query import NOCOBASE_DEFAULT_ENGINE, JsonQueryNode
from webhook_workflow.nodes.json_variable_mapping import ARRAY_SEGMENT as ARR
from webhook_workflow.nodes.json_variable_mapping import JsonVariableMappingNode

BODY: dict[str, Any] = {
    "a": [{"x": 1, "b": 2}, {"x": 2, "b": 3}, {"x": 3}],
    "b": 9,
    "o": {"x": 1, "y": 2},
}
HAS_JMESPATH = importlib.util.find_spec("jmespath") is not None
HAS_JSONATA = importlib.util.find_spec("jsonata") is not None


@pytest.fixture
def engine() -> Iterator[Engine]:
    eng = Engine(workers=1)
    eng._node_types["json-query"] = JsonQueryNode()
    eng._node_types["json-variable-mapping"] = JsonVariableMappingNode()
    yield eng
    eng.close(timeout=5)


def run(engine: Engine, nodes: list[dict[str, Any]], body: Any = None,
        query: dict[str, Any] | None = None) -> Execution:
    engine.add_workflow({"key": "wf", "nodes": nodes})
    return engine.execute("wf", {"body": BODY if body is None else body, "query": query or {}})


def jq(**config: Any) -> dict[str, Any]:
    config.setdefault("source", "{{$context.body}}")
    return {"key": "q", "type": "json-query", "config": config}


def query(eng: Engine, body: Any = None, /, **config: Any) -> Any:
    execution = run(eng, [jq(**config)], body)
    [job] = execution.jobs
    assert job.status == Status.RESOLVED, job.log
    return job.result


def refused(engine: Engine, nodes: list[dict[str, Any]]) -> DefinitionError:
    with pytest.raises(DefinitionError) as info:
        engine.add_workflow({"key": "wf", "nodes": nodes})
    return info.value


# -- json-query: JSONPath ---------------------------------------------------------------------
SEMANTICS = [
    ("$.a", BODY["a"]),                                  # singular: the value itself
    ("$.b", 9),
    ("$.a.b", None),                                     # singular, no match: null
    ("$.a[0]", {"x": 1, "b": 2}),
    ("$.a[-1]", {"x": 3}),
    ("$.a[5]", None),
    ("$.a[0].x", 1),
    ("$['o']['y']", 2),
    ("$.a.0.x", 1),                                      # `.0` reads item 0 (jsonpath-plus)
    ("$", BODY),
    ("$.a[*]", BODY["a"]),                               # wildcard: always a list
    ("$.a[*].b", [2, 3]),
    ("$.o.*", [1, 2]),
    ("$.nothing[*]", []),
    ("$.a[0:2]", BODY["a"][:2]),                         # slice
    ("$.a[::-1].x", [3, 2, 1]),
    ("$..b", [9, 2, 3]),                                 # recursive descent, document order
    ("$..zzz", []),
    ("$.a[?(@.x>1)]", BODY["a"][1:]),                    # filter
    ("$.a[?(@.x > 1 && @.b)].b", [3]),                   # JavaScript && accepted
    ("$.a[?(@.x === 1)]", BODY["a"][:1]),
    ("$.a[?(@.b)]", BODY["a"][:2]),
    ("$.o[?(@ >= 2)]", [2]),                             # filter over an object's values
    ("$['a','b']", [BODY["a"], 9]),                      # union of names
    ("$.a[0,2]", [BODY["a"][0], BODY["a"][2]]),          # union of indexes
]


@pytest.mark.parametrize("engine_id", ["jsonpathplus", "jsonpath"])
@pytest.mark.parametrize(("expression", "expected"), SEMANTICS)
def test_jsonpath_single_or_list(engine: Engine, engine_id: str, expression: str,
                                 expected: Any) -> None:
    assert query(engine, engine=engine_id, expression=expression) == expected


def test_jsonpathplus_is_the_default_and_jmespath_the_nocobase_default(engine: Engine) -> None:
    engine.add_workflow({"key": "wf", "nodes": [jq(expression="$.b")]})
    workflow = engine.get_workflow("wf")
    assert workflow is not None
    assert workflow.definition["nodes"][0]["config"]["engine"] == "jsonpathplus"
    assert NOCOBASE_DEFAULT_ENGINE == "jmespath"


def test_filters_never_change_the_source_and_compare_like_javascript(engine: Engine) -> None:
    body = {"o": {"p": 1, "q": 5}, "items": [{"n": "5"}, {"n": 7}, {"n": "x"}, {"n": None},
                                             {"n": {"deep": 1}}, {"n": True}]}
    before = copy.deepcopy(body)
    assert query(engine, body, expression="$.o[?(@ > 2)]") == [5]
    assert query(engine, body, expression="$.items[?(@.n > 4)].n") == ["5", 7]
    assert query(engine, body, expression="$.items[?(@.n == 'x')].n") == ["x"]
    assert query(engine, body, expression="$.items[?(@.n == null)]") == [{"n": None}]
    assert query(engine, body, expression="$.items[?(@.n == true)].n") == [True]
    assert query(engine, body, expression="$.items[?(@.n != 7)].n") == [
        "5", "x", None, {"deep": 1}, True]
    assert body == before


def test_model_maps_each_result_object(engine: Engine) -> None:
    body = {"orders": [{"id": 1, "customer": {"name": "Ann"}}, {"id": 2}, "junk"]}
    model = [{"path": "id", "alias": "orderId", "label": "Order"},
             {"path": "customer.name"}, {"path": "missing"}]
    assert query(engine, body, expression="$.orders[*]", model=model) == [
        {"orderId": 1, "customer_name": "Ann", "missing": None},
        {"orderId": 2, "customer_name": None, "missing": None},
        {}]  # a scalar item maps to {} as in NocoBase
    assert query(engine, body, expression="$.orders[0]", model=model) == {
        "orderId": 1, "customer_name": "Ann", "missing": None}
    assert query(engine, body, expression="$.orders[0].id", model=model) == 1
    assert query(engine, body, expression="$.nope", model=model) is None


def test_result_feeds_later_nodes(engine: Engine) -> None:
    execution = run(engine, [
        jq(expression="$.a[*].x"),
        {"key": "o", "type": "output", "config": {"value": "{{$jobsMapByNodeKey.q}}"}},
    ])
    assert execution.status == Status.RESOLVED
    assert execution.output == [1, 2, 3]


@pytest.mark.parametrize("kind", ["wsgi", "asgi"])
def test_both_doors_answer_with_the_query_result(engine: Engine, kind: str) -> None:
    engine.add_workflow({"key": "hook", "sync": True, "nodes": [
        jq(expression="$.items[?(@.qty > 1)].sku"),
        {"key": "r", "type": "response", "config": {"body": {"skus": "{{$jobsMapByNodeKey.q}}"}}},
    ]})
    body = b'{"items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 3}]}'
    answer = Door(kind, engine).call(Request(
        method="POST", body=body, headers=[("Content-Type", "application/json")]))
    assert (answer.status, answer.json()) == (200, {"skus": ["b"]})


def test_templated_expression_is_spliced_as_text(engine: Engine) -> None:
    nodes = [jq(expression="$.a[?(@.x == {{$context.query.x}})].b")]
    assert run(engine, nodes, query={"x": "2"}).jobs[0].result == [3]
    nodes = [jq(expression="$.{{$context.query.field}}")]
    assert run(engine, nodes, query={"field": "b"}).jobs[0].result == 9
    # Spliced text that breaks the expression fails the run, not the registration.
    execution = run(engine, [jq(expression="$.a[{{$context.query.i}}")], query={"i": "0"})
    [job] = execution.jobs
    assert (job.status, job.result) == (Status.ERROR, None)
    assert "invalid JSONPath '$.a[0'" in (job.log or "")
    assert execution.status == Status.ERROR


def test_source_may_be_any_value(engine: Engine) -> None:
    assert query(engine, expression="$.x", source="{{$context.body.b}}") is None
    assert query(engine, expression="$", source="{{$context.body.b}}") == 9
    assert query(engine, expression="$[1]", source=[1, "{{$context.body.b}}"]) == 9


@pytest.mark.parametrize(("expression", "message"), [
    ("$.a[", "invalid JSONPath"),
    ("$.a.`len`", "Len (`len`) is not supported"),
    ("$.a[?(@.x =~ 'a.*')]", "filter operator '=~' is not supported"),
    ("$.a * 2", "is not supported"),
    ("$.a | $.b", "Union"),
    ("", "must not be empty"),
    ("$" + ".a" * 1000, "at most 2000 characters"),
    ("$.a[{{nope}}]", "unknown variable 'nope'"),
])
def test_bad_expressions_are_refused_at_registration(engine: Engine, expression: str,
                                                     message: str) -> None:
    error = refused(engine, [jq(expression=expression)])
    assert error.path == "nodes[0].config.expression"
    assert message in str(error)


def test_config_errors_name_the_field(engine: Engine) -> None:
    error = refused(engine, [jq(engine="xpath", expression="a")])
    assert error.path == "nodes[0].config.engine"
    error = refused(engine, [jq(expression="$", model=[{"path": "a[x]"}])])
    assert error.path == "nodes[0].config.model[0].path"
    error = refused(engine, [jq(expression="$", model=[{"path": "a.b"}, {"path": "a_b"}])])
    assert error.path == "nodes[0].config.model[1]"
    assert "'a_b' is already the key of nodes[0].config.model[0]" in str(error)
    error = refused(engine, [{"key": "q", "type": "json-query", "config": {"expression": "$"}}])
    assert error.path == "nodes[0].config.source"
    error = refused(engine, [jq(expression="$", source="{{$nope}}")])
    assert error.path == "nodes[0].config.source"


def test_costly_jsonpath_is_stopped(engine: Engine) -> None:
    deep: dict[str, Any] = {}
    cur = deep
    for _ in range(250):
        cur["a"] = {}
        cur = cur["a"]
    [job] = run(engine, [jq(expression="$..*..*..*")], body=deep).jobs
    assert (job.status, job.result) == (Status.ERROR, None)
    assert "steps" in (job.log or "")


# -- json-query: JMESPath and JSONata ----------------------------------------------------------
@pytest.mark.skipif(not HAS_JMESPATH, reason="the jmespath extra is not installed")
def test_jmespath(engine: Engine) -> None:
    posts = {"posts": [{"title": "tech", "published": True}, {"title": "self"},
                       {"title": "life", "published": True}]}
    expression = "posts[?published].title | sort(@) | { titles: join(', ', @)}"
    assert query(engine, posts, engine="jmespath", expression=expression) == {
        "titles": "life, tech"}
    assert query(engine, posts, engine="jmespath", expression="posts[*]",
                 model=[{"path": "title", "alias": "t"}]) == [
        {"t": "tech"}, {"t": "self"}, {"t": "life"}]
    assert query(engine, posts, engine="jmespath", expression="to_string(posts[1])") == (
        '{"title":"self"}')


@pytest.mark.skipif(not HAS_JMESPATH, reason="the jmespath extra is not installed")
def test_jmespath_errors(engine: Engine) -> None:
    error = refused(engine, [jq(engine="jmespath", expression="posts[?")])
    assert error.path == "nodes[0].config.expression"
    assert "invalid JMESPath" in str(error)
    error = refused(engine, [jq(engine="jmespath", expression="(" * 999 + "a" + ")" * 999)])
    assert error.path == "nodes[0].config.expression"
    # A run-time failure of the engine: ERROR, result null, details in the log.
    [job] = run(engine, [jq(engine="jmespath", expression="abs(b)")], body={"b": "x"}).jobs
    assert (job.status, job.result) == (Status.ERROR, None)
    assert "abs()" in (job.log or "")
    # A DAG of shared references cannot be turned into an exponential string.
    nested = "@" + "".join(f" | [{'@, ' * 3}@]" for _ in range(12))
    [job] = run(engine, [jq(engine="jmespath", expression=f"to_string({nested})")],
                body={"b": 1}).jobs
    assert (job.status, job.result) == (Status.ERROR, None)
    assert "more than 1000000 values" in (job.log or "")


@pytest.mark.parametrize(("engine_id", "extra"), [("jmespath", "jmespath"),
                                                  ("jsonata", "jsonata")])
def test_engines_without_their_package_are_refused(engine: Engine,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   engine_id: str, extra: str) -> None:
    monkeypatch.setitem(sys.modules, engine_id, None)  # makes the import fail
    error = refused(engine, [jq(engine=engine_id, expression="a")])
    assert error.path == "nodes[0].config.engine"
    assert f"pip install 'webhook-workflow[{extra}]'" in str(error)


def test_a_foreign_jsonata_module_is_refused(engine: Engine,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "jsonata", type(sys)("jsonata"))
    error = refused(engine, [jq(engine="jsonata", expression="a")])
    assert "is not jsonata-python" in str(error)


@pytest.mark.skipif(not HAS_JSONATA, reason="the jsonata extra is not installed")
def test_jsonata(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    posts = {"id": 1, "posts": [{"title": "tech", "published": True}, {"title": "self"},
                                {"title": "life", "published": True}]}
    result = query(engine, posts, engine="jsonata", expression="posts[published=true].title")
    assert result == ["tech", "life"] and type(result) is list
    assert query(engine, posts, engine="jsonata",
                 expression="posts[published=true][{{$context.body.id}}].title") == "life"
    error = refused(engine, [jq(engine="jsonata", expression="posts[")])
    assert error.path == "nodes[0].config.expression"
    monkeypatch.setattr(json_query, "JSONATA_TIMEOUT_MS", 200)
    [job] = run(engine, [jq(engine="jsonata",
                            expression="($f := function($n){$f($n+1)}; $f(0))")]).jobs
    assert (job.status, job.result) == (Status.ERROR, None)
    assert "Evaluation timeout after 200 milliseconds" in (job.log or "")
    deep = "($f := function($n){$n > 0 ? 1 + $f($n-1) : 0}; $f(1000))"
    [job] = run(engine, [jq(engine="jsonata", expression=deep)]).jobs
    assert (job.status, job.result) == (Status.ERROR, None)
    assert "Stack overflow" in (job.log or "")
    [job] = run(engine, [jq(engine="jsonata", expression="function($x){$x}")]).jobs
    assert (job.status, job.result) == (Status.ERROR, None)


# -- json-variable-mapping ---------------------------------------------------------------------
NESTED: dict[str, Any] = {"a": {
    "b": [{"c": "123", "d": "789"}, {"c": "456"}, ["ddd"],
          [{"c": "aaa"}, {"c": "ccc", "f": "bbb"}, ["eee"]]],
    "e": "990"}}


def jvm(variables: list[dict[str, Any]], **config: Any) -> dict[str, Any]:
    config.setdefault("dataSource", "{{$context.body}}")
    return {"key": "m", "type": "json-variable-mapping",
            "config": {"variables": variables, **config}}


def mapped(eng: Engine, body: Any, variables: list[dict[str, Any]], /, **config: Any) -> Any:
    [job] = run(eng, [jvm(variables, **config)], body).jobs
    assert job.status == Status.RESOLVED
    return job.result


def test_path_form_maps_lists_without_parse_array(engine: Engine) -> None:
    body = {"order": {"id": 7, "items": [{"sku": "x", "qty": 0}, {"sku": "y"},
                                         {"sku": "", "qty": 2, "tags": ["a", "b"]}]}}
    result = mapped(engine, body, [
        {"key": "id", "path": "order.id"},
        {"key": "skus", "path": "order.items.sku"},
        {"key": "qty", "path": "order.items.qty"},       # missing left out, 0 kept
        {"key": "tags", "path": "order.items.tags"},     # values are not flattened
        {"key": "first", "path": "order.items.0.sku"},   # an index reads the list itself
        {"key": "none", "path": "order.nothing.deeper"},
    ])
    assert result == {"id": 7, "skus": ["x", "y", ""], "qty": [0, 2], "tags": [["a", "b"]],
                      "first": "x", "none": None}


def test_parse_array_indexes_lists(engine: Engine) -> None:
    result = mapped(engine, NESTED, [
        {"key": "c0", "path": "a.b.0.c"}, {"key": "c3", "path": "a.b[3][1].f"},
        {"key": "col", "path": "a.b.c"}, {"key": "far", "path": "a.b.9"},
    ], parseArray=True)
    assert result == {"c0": "123", "c3": "bbb", "col": None, "far": None}


def test_nocobase_paths_form(engine: Engine) -> None:
    result = mapped(engine, NESTED, [
        {"key": "k1", "path": "a", "name": "a", "paths": ["a"]},
        {"key": "k2", "path": "a.b._.c", "name": "c", "paths": ["a", "b", ARR, "c"]},
        {"key": "k3", "path": "a.b._.d", "name": "d", "paths": ["a", "b", ARR, "d"]},
        {"key": "k4", "paths": ["a", "b", ARR, ARR, "c"]},
        {"key": "k5", "paths": ["a", "b", ARR, ARR, "f"]},
        {"key": "k6", "paths": ["a", "b", "c"]},        # a list is read only through the marker
        {"key": "k7", "paths": ["a", "e"], "path": "ignored.when.paths.exist"},
    ])
    assert result == {"k1": NESTED["a"], "k2": ["123", "456"], "k3": ["789"],
                      "k4": ["aaa", "ccc"], "k5": ["bbb"], "k6": None, "k7": "990"}
    # With parseArray the marker before an index is skipped (a root array, as NocoBase
    # generates it), and numbers index.
    result = mapped(engine, [{"c": 1}, {"c": 2}], [
        {"key": "k", "paths": [ARR, "1", "c"]}, {"key": "n", "paths": [1, "c"]}],
        parseArray=True)
    assert result == {"k": 2, "n": 2}


def test_root_array_without_parse_array(engine: Engine) -> None:
    body = [{"c": 1}, {"c": None}, [{"c": 3}]]
    assert mapped(engine, body, [{"key": "c", "path": "c"},
                                 {"key": "m", "paths": [ARR, "c"]}]) == {
        "c": [1, None, 3], "m": [1, None]}


@pytest.mark.parametrize("source", ["{{$context.body.s}}", "{{$context.body.n}}",
                                    "{{$context.body.missing}}", None, "text"])
def test_input_must_be_an_object_or_array(engine: Engine, source: Any) -> None:
    execution = run(engine, [jvm([{"key": "k", "path": "a"}], dataSource=source)],
                    body={"s": "x", "n": 1})
    [job] = execution.jobs
    assert job.status == Status.FAILED
    assert job.result == {"message": "The input data is not an object nor an array"}
    assert execution.status == Status.FAILED


def test_variables_are_validated(engine: Engine) -> None:
    cases = [
        ([{"key": "a", "path": "x"}, {"key": "a", "path": "y"}], "variables[1].key",
         "'a' is already the key of nodes[0].config.variables[0]"),
        ([{"key": "", "path": "x"}], "variables[0].key", "non-empty key"),
        ([{"key": "a.b", "path": "x"}], "variables[0].key", "without '.'"),
        ([{"key": "a", "path": "x..y"}], "variables[0].path", "empty segment"),
        ([{"key": "a"}], "variables[0]", "needs `path`"),
        ([{"key": "a", "paths": []}], "variables[0].paths", "must not be empty"),
        ([{"key": "a", "paths": ["x", None]}], "variables[0].paths[1]", "must be a string"),
        ([{"key": "a", "path": "x", "children": []}], "variables[0].children", "unknown"),
        ({"key": "a"}, "variables", "must be an array"),
    ]
    for variables, where, message in cases:
        error = refused(engine, [jvm(variables)])  # type: ignore[arg-type]
        assert error.path == f"nodes[0].config.{where}", variables
        assert message in str(error), str(error)
    error = refused(engine, [jvm([], dataSource="{{$nope.x}}")])
    assert error.path == "nodes[0].config.dataSource"
    error = refused(engine, [jvm([], parseArray="yes")])
    assert error.path == "nodes[0].config.parseArray"
