"""Values as NocoBase reads them: json-variable-mapping paths, Dates against numbers in the
calculators, and the log of a failed JSONata query (each case written from NocoBase's server
source: plugin-workflow-json-variable-mapping's instruction, plugin-workflow's
logicCalculate, plugin-workflow-json-query's catch block with the JSONata library)."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from typing import Any

import pytest
from doors import Door, Request

from webhook_workflow import DefinitionError, Engine, Execution, Status
from webhook_workflow.nodes.json_variable_mapping import ARRAY_SEGMENT as ARR

HAS_JSONATA = importlib.util.find_spec("jsonata") is not None


@pytest.fixture
def engine() -> Iterator[Engine]:
    eng = Engine()
    yield eng
    eng.close(timeout=5)


def run(engine: Engine, nodes: list[dict[str, Any]], body: Any = None) -> Execution:
    engine.add_workflow({"key": "t", "sync": True, "nodes": nodes})
    return engine.execute("t", {"body": body if body is not None else {}})


# -- 7. json-variable-mapping: every segment is a JavaScript property read --------------------
# NocoBase's getVaule reads ``dataSource[key]`` for each segment; only ___arr$___ depends on
# parseArray. The data and expectations are those of NocoBase's "complex object without
# parsing array" test: numeric segments index the lists although parseArray is false.
COMPLEX: dict[str, Any] = {"a": {
    "b": [{"c": "123", "d": "789"}, {"c": "456"}, ["ddd"],
          [{"c": "aaa"}, {"c": "ccc", "f": "bbb"}, ["eee"]]],
    "e": "990"}}
B = COMPLEX["a"]["b"]


def flat_mapping(variables: list[dict[str, Any]], parse_array: bool) -> dict[str, Any]:
    """A NocoBase export: the mapping node reads the body; a response sends its result."""
    return {"data": {
        "id": 3, "key": "hook", "type": "webhook", "sync": True, "enabled": True,
        "config": {}, "nodes": [
            {"id": 1, "key": "m", "type": "json-variable-mapping", "upstreamId": None,
             "downstreamId": 2, "branchIndex": None,
             "config": {"dataSource": "{{$context.body}}", "parseArray": parse_array,
                        "variables": variables}},
            {"id": 2, "key": "r", "type": "response", "upstreamId": 1, "downstreamId": None,
             "branchIndex": None,
             "config": {"statusCode": 200, "body": "{{$jobsMapByNodeKey.m}}"}},
        ]}}


@pytest.mark.parametrize("kind", ["wsgi", "asgi"])
def test_numeric_segments_index_lists_without_parse_array(engine: Engine, kind: str) -> None:
    paths = {"k0": ["a", "b", "0"], "k0c": ["a", "b", "0", "c"], "k1c": ["a", "b", "1", "c"],
             "k20": ["a", "b", "2", "0"], "k31f": ["a", "b", "3", "1", "f"],
             "k320": ["a", "b", "3", "2", "0"], "ke": ["a", "e"]}
    engine.add_workflow(flat_mapping(
        [{"key": key, "path": ".".join(p), "name": p[-1], "paths": p}
         for key, p in paths.items()], False))
    answer = Door(kind, engine).call(Request(
        body=json.dumps(COMPLEX).encode(), headers=[("Content-Type", "application/json")]))
    assert answer.status == 200
    assert answer.json() == {"k0": B[0], "k0c": "123", "k1c": "456", "k20": "ddd",
                             "k31f": "bbb", "k320": "eee", "ke": "990"}


DATA: dict[str, Any] = {
    "list": [{"c": "x"}, {"c": "y"}, ["p", "q"]],
    "byNumber": {"0": "zero", "1": {"c": "one"}, "01": "lead", "-1": "minus"},
    "text": "héllo",
    "n": 5,
}


# (segments, parseArray false, parseArray true): what getVaule finds (undefined is null).
PATH_CASES = [
    (["list", "1", "c"], "y", "y"),
    (["list", "2", "1"], "q", "q"),
    (["list", "3"], None, None),                     # past the end
    (["list", "-1"], None, None),                    # not an array index
    (["list", "01"], None, None),
    (["list", "1.0"], None, None),
    (["list", "length"], 3, 3),
    (["list", "c"], None, None),                     # a name on a list: no such property
    (["list", ARR, "c"], ["x", "y"], None),          # the marker maps; with parseArray: skipped
    (["list", ARR, "1", "c"], [], "y"),              # items' "1"; parseArray: list[1].c
    (["list", ARR, "0"], ["p"], {"c": "x"}),         # an item that is a list is indexed too
    (["byNumber", "0"], "zero", "zero"),             # numeric keys of an object are keys
    (["byNumber", "1", "c"], "one", "one"),
    (["byNumber", "01"], "lead", "lead"),
    (["byNumber", "-1"], "minus", "minus"),
    (["byNumber", "2"], None, None),
    (["byNumber", ARR, "c"], [], None),              # a marker on an object maps nothing
    (["text", "1"], "é", "é"),                       # strings index by UTF-16 code unit
    (["text", "length"], 5, 5),
    (["text", "9"], None, None),
    (["n", "0"], None, None),                        # numbers have no properties
    (["list", ARR], [], None),                       # a marker with no next segment
]


@pytest.mark.parametrize(("paths", "without", "with_parse_array"), PATH_CASES)
def test_paths_read_as_nocobase_reads_them(engine: Engine, paths: list[str], without: Any,
                                           with_parse_array: Any) -> None:
    for parse_array, expected in ((False, without), (True, with_parse_array)):
        execution = run(engine, [{"key": "m", "type": "json-variable-mapping", "config": {
            "dataSource": "{{$context.body}}", "parseArray": parse_array,
            "variables": [{"key": "v", "paths": paths}]}}], DATA)
        engine.remove_workflow("t")
        assert execution.jobs[0].status == Status.RESOLVED
        assert execution.jobs[0].result == {"v": expected}, (paths, parse_array)


def test_the_native_path_form_indexes_and_maps(engine: Engine) -> None:
    body = {"order": {"id": 7, "items": [{"sku": "x", "qty": 0}, {"sku": "y"},
                                         {"sku": "", "qty": 2}]}}
    variables = [{"key": "first", "path": "order.items.0.sku"},
                 {"key": "count", "path": "order.items.length"},
                 {"key": "skus", "path": "order.items.sku"},
                 {"key": "second", "paths": ["order", "items", "1", "sku"]}]
    for parse_array, skus in ((False, ["x", "y", ""]), (True, None)):
        execution = run(engine, [{"key": "m", "type": "json-variable-mapping", "config": {
            "dataSource": "{{$context.body}}", "parseArray": parse_array,
            "variables": variables}}], body)
        engine.remove_workflow("t")
        assert execution.jobs[0].result == {"first": "x", "count": 3, "skus": skus,
                                            "second": "y"}


def test_documented_differences_of_the_mapping(engine: Engine) -> None:
    body = {"a": 0, "items": [{"q": 0}, None, {"q": 2}, {"r": 1}]}
    execution = run(engine, [{"key": "m", "type": "json-variable-mapping", "config": {
        "dataSource": "{{$context.body}}",
        "variables": [{"key": "past", "paths": ["a", "b"]},
                      {"key": "qs", "paths": ["items", ARR, "q"]}]}}], body)
    # NocoBase: 0 for "past" (the falsy value met), and a TypeError on the null item.
    assert execution.jobs[0].result == {"past": None, "qs": [0, 2]}


# -- 8. Dates against epoch milliseconds ---------------------------------------------------------
# logicCalculate's comparers: with a Date on either side, a boolean or null never compares,
# anything else is new Date(x).getTime(). 2024-05-01T12:00:00.250Z is 1714564800250 ms.
MS = 1714564800250
DATE = "{{$jobsMapByNodeKey.d}}"
DATE_CASES = [
    ("equal", DATE, MS, True),
    ("==", DATE, MS, True),
    ("equal", MS, DATE, True),
    ("equal", DATE, MS + 1, False),
    ("equal", DATE, MS + 0.9, True),              # a Date's time is truncated to whole ms
    ("notEqual", DATE, MS, False),
    ("notEqual", DATE, MS + 1, True),
    ("gt", DATE, 0, True),
    (">", DATE, MS - 1, True),
    ("gte", DATE, MS, True),
    ("lt", DATE, MS + 1, True),
    ("lte", MS, DATE, True),
    ("lt", DATE, 0, False),
    ("equal", DATE, "2024-05-01T12:00:00.250Z", True),
    ("lt", DATE, "2030-01-01T00:00:00Z", True),
    ("equal", DATE, True, False),                 # booleans never compare with a Date
    ("notEqual", DATE, True, True),
    ("gt", DATE, False, False),
    ("equal", DATE, None, False),                 # nor does null
    ("notEqual", DATE, None, True),
    ("gte", DATE, None, False),
    ("equal", DATE, "abc", False),                # new Date("abc") is NaN
    ("notEqual", DATE, "abc", True),
    ("equal", DATE, 8.64e15 + 1, False),          # past JavaScript's last instant: NaN
]


def date_node() -> dict[str, Any]:
    return {"key": "d", "type": "dateCalculation",
            "config": {"input": "2024-05-01T12:00:00.250Z", "steps": []}}


def test_dates_compare_with_numbers_as_epoch_milliseconds(engine: Engine) -> None:
    nodes = [date_node()] + [
        {"key": f"c{i}", "type": "condition", "config": {
            "rejectOnFalse": False,
            "calculation": {"group": {"type": "and", "calculations": [
                {"calculator": calculator, "operands": [a, b]}]}}}}
        for i, (calculator, a, b, _) in enumerate(DATE_CASES)]
    execution = run(engine, nodes)
    assert execution.status == Status.RESOLVED
    results = {job.node_key: job.result for job in execution.jobs}
    for i, case in enumerate(DATE_CASES):
        assert results[f"c{i}"] is case[3], case


def test_the_current_time_is_greater_than_zero(engine: Engine) -> None:
    execution = run(engine, [
        {"key": "c", "type": "condition", "config": {"calculation": {
            "calculator": ">", "operands": ["{{$system.now}}", 0]}}},
        {"key": "ms", "type": "dateCalculation", "config": {
            "input": None, "steps": [{"function": "toTimestamp",
                                      "arguments": {"unit": "millisecond"}}]}},
        {"key": "d", "type": "dateCalculation", "config": {"input": "{{$jobsMapByNodeKey.ms}}",
                                                           "inputType": "number",
                                                           "steps": [{"function": "tsToDate",
                                                                      "arguments": {}}]}},
        {"key": "same", "type": "condition", "config": {"calculation": {
            "calculator": "==", "operands": ["{{$jobsMapByNodeKey.d}}",
                                             "{{$jobsMapByNodeKey.ms}}"]}}},
    ])
    assert execution.status == Status.RESOLVED, [(j.node_key, j.result) for j in execution.jobs]


@pytest.mark.parametrize("engine_id", ["math.js", "formula.js"])
def test_expressions_compare_dates_as_the_calculators_do(engine: Engine, engine_id: str) -> None:
    expressions = {"eq": f"{DATE} == {MS}", "gt": f"{DATE} > 0", "ne": f"{DATE} != {MS}",
                   "lt": f"{DATE} < {MS + 1}", "bool": f"{DATE} == true",
                   "iso": f'{DATE} == "2024-05-01T12:00:00.250Z"'}
    nodes = [date_node()] + [
        {"key": key, "type": "calculation", "config": {"engine": engine_id,
                                                      "expression": expression}}
        for key, expression in expressions.items()]
    execution = run(engine, nodes)
    assert {job.node_key: job.result for job in execution.jobs if job.node_key != "d"} == {
        "eq": True, "gt": True, "ne": False, "lt": True, "bool": False, "iso": True}


# -- 13. A failed JSONata query: result null, JSONata's error fields in the log ----------------
# The expected lines are what JSONata 2.x throws for each expression (its ``stack`` aside),
# written by NocoBase's getErrorLog as "key: String(value)".
JSONATA_ERRORS = [
    ("(", {}, ["code: S0203", "position: 1", "token: (end)", "value: )",
               'message: Expected ")" before end of expression']),
    ("1 +", {}, ["code: S0207", "position: 3", "token: (end)",
                 "message: Unexpected end of expression"]),
    ("$x := 1; $x()", {}, ["code: S0201", "position: 8", "token: ;",
                           'message: Syntax error: ";"']),
    ("a + 1", {"a": "x"}, ["code: T2001", "position: 3", "token: +", "value: x",
                           'message: The left side of the "+" operator must evaluate to a '
                           "number"]),
    ('1 + "a"', {}, ["code: T2002", "position: 3", "token: +", "value: a",
                     'message: The right side of the "+" operator must evaluate to a number']),
    ('"a" < 1', {}, ["code: T2009", "position: 5", "token: <", "value: a", "value2: 1",
                     'message: The values "a" and 1 either side of operator "<" must be of the '
                     "same data type"]),
    ("$foo()", {}, ["code: T1006", "position: 5", "token: foo",
                    "message: Attempted to invoke a non-function"]),
    ("x ~> $y", {}, ["code: T2006", "position: 4", "value: undefined",
                     "message: The right side of the function application operator ~> must be "
                     "a function"]),
    ("$number(a)", {"a": "x"}, ["code: D3030", "position: 8", "token: number", "value: x",
                                "index: 1", 'message: Unable to cast value to a number: "x"']),
    ('$sum(["1"])', {}, ["code: T0412", "position: 5", "token: sum", "value: 1", "index: 1",
                         "type: numbers",
                         'message: Argument 1 of function "sum" must be an array of '
                         '"numbers"']),
    ("$lookup({}, 1)", {}, ["code: T0410", "position: 8", "token: lookup", "value: 1",
                            "index: 2",
                            'message: Argument 2 of function "lookup" does not match function '
                            "signature"]),
    # Inside a lambda: the token of the operator, the position of the outermost call.
    ('($f := function($x){$x + "a"}; $f(1))', {},
     ["code: T2002", "position: 34", "token: +", "value: a",
      'message: The right side of the "+" operator must evaluate to a number']),
    ('$error("boom")', {}, ["code: D3137", "position: 7", "token: error", "message: boom"]),
    ("$sqrt(-1)", {}, ["code: D3060", "position: 6", "token: sqrt", "value: -1", "index: 1",
                       "message: The sqrt function cannot be applied to a negative number: -1"]),
]


def jsonata_query(engine: Engine, expression: str, data: Any) -> Any:
    """One json-query job whose expression comes from the request, as NocoBase runs it."""
    [job] = run(engine, [{"key": "q", "type": "json-query", "config": {
        "engine": "jsonata", "source": "{{$context.body.data}}",
        "expression": "{{$context.body.expression}}"}}],
        {"data": data, "expression": expression}).jobs
    return job


@pytest.mark.skipif(not HAS_JSONATA, reason="the jsonata extra is not installed")
@pytest.mark.parametrize(("expression", "data", "lines"), JSONATA_ERRORS)
def test_a_failed_jsonata_query_logs_the_error_fields(engine: Engine, expression: str,
                                                      data: Any, lines: list[str]) -> None:
    job = jsonata_query(engine, expression, data)
    assert (job.status, job.result) == (Status.ERROR, None)
    assert (job.log or "").split("\n") == lines


@pytest.mark.skipif(not HAS_JSONATA, reason="the jsonata extra is not installed")
def test_the_parser_error_case_of_nocobase(engine: Engine) -> None:
    # plugin-workflow-json-query's "stores parser error message and details".
    execution = run(engine, [{"key": "q", "type": "json-query", "config": {
        "engine": "jsonata", "source": "{{$context.body}}",
        "expression": "{{$context.body.expression}}"}}], {"expression": "("})
    assert execution.status == Status.ERROR
    [job] = execution.jobs
    assert job.status == Status.ERROR and job.result is None
    for line in ("code: S0203", "position: 1", "token: (end)", "value: )",
                 'message: Expected ")" before end of expression'):
        assert line in (job.log or "")
    assert "{" not in (job.log or "")


@pytest.mark.skipif(not HAS_JSONATA, reason="the jsonata extra is not installed")
def test_a_static_expression_is_refused_with_the_code(engine: Engine) -> None:
    with pytest.raises(DefinitionError) as info:
        run(engine, [{"key": "q", "type": "json-query", "config": {
            "engine": "jsonata", "source": "{{$context.body}}", "expression": "a["}}])
    assert info.value.path == "nodes[0].config.expression"
    assert str(info.value).endswith("invalid JSONata 'a[': Expected \"]\" before end of "
                                    "expression (code S0203, position 2, token (end))")


def test_other_engines_log_the_name_and_message(engine: Engine) -> None:
    [job] = run(engine, [{"key": "q", "type": "json-query", "config": {
        "source": "{{$context.body}}", "expression": "$.a[{{$context.body.i}}"}}],
        {"i": 1}).jobs
    assert (job.status, job.result) == (Status.ERROR, None)
    name, message = (job.log or "").split("\n")
    assert name == "name: QueryError"
    assert message.startswith("message: invalid JSONPath '$.a[1'")


@pytest.mark.skipif(not HAS_JSONATA, reason="the jsonata extra is not installed")
def test_importing_jsonata_keeps_the_recursion_limit(engine: Engine,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    # jsonata-python raises the limit to 10000 when first imported: import it afresh.
    for name in [n for n in sys.modules if n.split(".")[0] == "jsonata"]:
        monkeypatch.delitem(sys.modules, name)
    limit = sys.getrecursionlimit()
    job = jsonata_query(engine, "a.b", {"a": {"b": 1}})
    assert (job.status, job.result) == (Status.RESOLVED, 1)
    assert sys.getrecursionlimit() == limit
