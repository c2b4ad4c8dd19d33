"""Node semantics, observed through ``engine.execute``: condition, end, output, response,
custom nodes and the template scope."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from webhook_workflow import (
    DefinitionError,
    DefinitionWarning,
    Engine,
    Execution,
    Job,
    NodeContext,
    Status,
)

A, B = "{{$context.body.a}}", "{{$context.body.b}}"
DT = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def engine() -> Iterator[Engine]:
    eng = Engine(workers=1)
    yield eng
    eng.close(timeout=5)


def keys(execution: Execution) -> list[str]:
    return [job.node_key for job in execution.jobs]


def out(key: str, value: Any) -> dict[str, Any]:
    return {"key": key, "type": "output", "config": {"value": value}}


def cond(key: str, calculations: list[Any] | None = None, *, kind: str = "and",
         branches: dict[str, Any] | None = None, **config: Any) -> dict[str, Any]:
    node: dict[str, Any] = {"key": key, "type": "condition", "config": dict(config)}
    if calculations is not None:
        node["config"]["calculation"] = {"group": {"type": kind, "calculations": calculations}}
    if branches is not None:
        node["branches"] = branches
    return node


def item(calculator: str, a: Any = A, b: Any = B) -> dict[str, Any]:
    return {"calculator": calculator, "operands": [a, b]}


TRUE = item("equal", 1, 1)
FALSE = item("equal", 1, 2)


def run(engine: Engine, nodes: list[dict[str, Any]], body: Any = None, *,
        sync: bool = False) -> Execution:
    engine.add_workflow({"key": "w", "sync": sync, "nodes": nodes})
    return engine.execute("w", {"body": body if body is not None else {}})


# --- condition: calculators ----------------------------------------------------------------

CALCULATOR_CASES = [
    ("equal", 1, 1, True),
    ("equal", "1", 1, True),
    ("equal", 1, "1.0", True),
    ("equal", "a", "a", True),
    ("equal", "a", "b", False),
    ("equal", True, 1, True),
    ("equal", True, "true", False),
    ("equal", 0, "", True),
    ("equal", None, None, True),
    ("equal", None, 0, False),
    ("equal", 0, None, False),
    ("equal", None, "", False),
    ("equal", [1, 2], [1, 2], True),
    ("notEqual", None, 0, True),
    ("notEqual", "1", 1, False),
    ("notEqual", "a", "b", True),
    ("gt", "10", "9", False),
    ("gt", 10, "9", True),
    ("gt", "10", 9, True),
    ("gt", 2, 2, False),
    ("gte", 2, 2, True),
    ("gte", "b", "a", True),
    ("lt", "10", "9", True),
    ("lt", 1.5, 2, True),
    ("lte", 3, 2, False),
    ("lte", "2", 2, True),
    ("gt", "abc", 1, False),
    ("lt", "abc", 1, False),
    ("equal", DT, "2026-01-01T00:00:00Z", True),
    ("equal", "2026-01-01T01:00:00+01:00", DT, True),
    ("equal", DT, "2026-01-01T00:00:00.001Z", False),
    ("gt", DT, "2025-12-31T23:59:59Z", True),
    ("lt", DT, "2026-01-01T00:00:01.000Z", True),
    ("gte", "2026-01-01T00:00:00", DT, True),
    ("gt", DT, "not a date", False),
    ("includes", "hello", "ell", True),
    ("includes", "hello", "xyz", False),
    ("includes", "order 42", 42, True),
    ("includes", [1, 2, 3], 2, True),
    ("includes", [1, 2, 3], "2", False),
    ("includes", ["a", None], None, True),
    ("notIncludes", [1, 2], 3, True),
    ("notIncludes", "abc", "b", False),
    ("startsWith", 12345, 12, True),
    ("startsWith", "abc", "b", False),
    ("notStartsWith", 12345, 23, True),
    ("endsWith", "order-42", 42, True),
    ("endsWith", 1.5, 5, True),
    ("notEndsWith", 1.5, 5, False),
    ("notEndsWith", "abc", "b", True),
    ("==", "1", 1, True),
    ("!=", 1, 2, True),
    (">", 10, "9", True),
    (">=", "b", "a", True),
    ("<", 1, 2, True),
    ("<", "10", "9", True),
    ("<=", 2, 2, True),
]


@pytest.mark.parametrize(("calculator", "a", "b", "expected"), CALCULATOR_CASES,
                         ids=[f"{c}-{a!r}-{b!r}" for c, a, b, _ in CALCULATOR_CASES])
def test_calculators(engine: Engine, calculator: str, a: Any, b: Any, expected: bool) -> None:
    execution = run(engine, [cond("c", [item(calculator)], rejectOnFalse=False)],
                    {"a": a, "b": b})
    assert execution.status == Status.RESOLVED
    [job] = execution.jobs
    assert (job.status, job.result) == (Status.RESOLVED, expected)


def test_literal_operands_compare_too(engine: Engine) -> None:
    execution = run(engine, [cond("c", [item("gt", "{{$context.body.n}}", 3)],
                                  rejectOnFalse=False)], {"n": "12"})
    assert execution.jobs[0].result is True


@pytest.mark.parametrize("calculator", ["includes", "notIncludes"])
def test_includes_on_null_is_an_error_job(engine: Engine, calculator: str) -> None:
    execution = run(engine, [cond("c", [item(calculator)], rejectOnFalse=False),
                             out("after", 1)], {"a": None, "b": "x"})
    assert execution.status == Status.ERROR
    assert keys(execution) == ["c"]
    job = execution.jobs[0]
    assert job.status == Status.ERROR
    assert "includes needs a string or an array" in job.result["message"]
    assert job.log and "Traceback" in job.log


def test_includes_on_a_missing_value_is_an_error_job(engine: Engine) -> None:
    execution = run(engine, [cond("c", [item("includes", "{{$context.body.none}}", "x")])])
    assert execution.status == Status.ERROR
    assert execution.jobs[0].status == Status.ERROR


# --- condition: groups ---------------------------------------------------------------------

GROUP_CASES = [
    ("empty-and", "and", [], True),
    ("empty-or", "or", [], False),
    ("and-all-true", "and", [TRUE, TRUE], True),
    ("and-one-false", "and", [TRUE, FALSE], False),
    ("or-one-true", "or", [FALSE, TRUE], True),
    ("or-all-false", "or", [FALSE, FALSE], False),
    ("or-with-nested-and-true", "or",
     [FALSE, {"group": {"type": "and", "calculations": [TRUE, TRUE]}}], True),
    ("and-with-nested-or-false", "and",
     [TRUE, {"group": {"type": "or", "calculations": [FALSE, FALSE]}}], False),
    ("and-with-nested-empty-or", "and",
     [TRUE, {"group": {"type": "or", "calculations": []}}], False),
    ("or-with-nested-empty-and", "or",
     [FALSE, {"group": {"type": "and", "calculations": []}}], True),
    ("three-levels", "and", [{"group": {"type": "or", "calculations": [
        FALSE, {"group": {"type": "and", "calculations": [TRUE, TRUE]}}]}}], True),
    ("empty-item-holds", "and", [{}], True),
]


@pytest.mark.parametrize(("kind", "calculations", "expected"), [c[1:] for c in GROUP_CASES],
                         ids=[c[0] for c in GROUP_CASES])
def test_groups(engine: Engine, kind: str, calculations: list[Any], expected: bool) -> None:
    execution = run(engine, [cond("c", calculations, kind=kind, rejectOnFalse=False)])
    assert execution.jobs[0].result is expected


def test_condition_without_calculation_is_true(engine: Engine) -> None:
    execution = run(engine, [cond("c"), out("after", 1)])
    assert execution.status == Status.RESOLVED
    assert execution.jobs[0].result is True
    assert keys(execution) == ["c", "after"]


def test_group_type_defaults_to_and(engine: Engine) -> None:
    node = {"key": "c", "type": "condition", "config": {
        "rejectOnFalse": False, "calculation": {"group": {"calculations": [TRUE, FALSE]}}}}
    assert run(engine, [node]).jobs[0].result is False


# --- condition: rejectOnFalse and branches -------------------------------------------------

def test_reject_on_false_is_the_default_and_fails_the_execution(engine: Engine) -> None:
    execution = run(engine, [cond("c", [FALSE]), out("after", 1)])
    assert execution.status == Status.FAILED
    assert keys(execution) == ["c"]
    assert execution.jobs[0].status == Status.FAILED
    assert execution.jobs[0].result is False
    assert execution.output is None


def test_reject_on_false_does_not_take_branch_zero(engine: Engine) -> None:
    execution = run(engine, [cond("c", [FALSE], branches={"0": [out("no", "no")]})])
    assert execution.status == Status.FAILED
    assert keys(execution) == ["c"]


def test_reject_on_false_true_result_continues(engine: Engine) -> None:
    execution = run(engine, [cond("c", [TRUE]), out("after", 1)])
    assert execution.status == Status.RESOLVED
    assert keys(execution) == ["c", "after"]


@pytest.mark.parametrize(("value", "taken"), [(1, "yes"), (2, "no")])
def test_branch_one_or_zero_is_taken_then_downstream(engine: Engine, value: int,
                                                     taken: str) -> None:
    nodes = [cond("c", [item("equal", A, 1)], rejectOnFalse=False,
                  branches={"1": [out("yes", "yes")], "0": [out("no", "no")]}),
             out("after", "{{$jobsMapByNodeKey.c}}")]
    execution = run(engine, nodes, {"a": value})
    assert execution.status == Status.RESOLVED
    assert keys(execution) == ["c", taken, "after"]
    assert execution.output == (value == 1)


@pytest.mark.parametrize(("alias", "value"), [("true", 1), ("false", 2)])
def test_branch_aliases_run(engine: Engine, alias: str, value: int) -> None:
    nodes = [cond("c", [item("equal", A, 1)], rejectOnFalse=False,
                  branches={alias: [out("inside", alias)]})]
    execution = run(engine, nodes, {"a": value})
    assert keys(execution) == ["c", "inside"]
    assert execution.output == alias


@pytest.mark.parametrize(("value", "branch"), [(1, "0"), (2, "1")])
def test_missing_branch_continues_downstream(engine: Engine, value: int, branch: str) -> None:
    nodes = [cond("c", [item("equal", A, 1)], rejectOnFalse=False,
                  branches={branch: [out("inside", "inside")]}),
             out("after", "after")]
    execution = run(engine, nodes, {"a": value})
    assert execution.status == Status.RESOLVED
    assert keys(execution) == ["c", "after"]
    assert execution.output == "after"


def test_empty_branch_continues_downstream(engine: Engine) -> None:
    execution = run(engine, [cond("c", branches={"1": []}), out("after", 1)])
    assert keys(execution) == ["c", "after"]


def test_branch_chain_runs_in_order(engine: Engine) -> None:
    nodes = [cond("c", branches={"1": [out("b1", 1), out("b2", 2), out("b3", 3)]}),
             out("after", "{{$jobsMapByNodeKey.b3}}")]
    execution = run(engine, nodes)
    assert keys(execution) == ["c", "b1", "b2", "b3", "after"]
    assert execution.output == 3


def test_branch_failure_bubbles_up(engine: Engine) -> None:
    nodes = [cond("outer", branches={"1": [
                 out("before", 1),
                 cond("inner", [FALSE]),  # rejectOnFalse: FAILED
                 out("skipped", 2)]}),
             out("after", 3)]
    execution = run(engine, nodes)
    assert execution.status == Status.FAILED
    assert "skipped" not in keys(execution)
    assert "after" not in keys(execution)
    assert execution.output == 1
    assert keys(execution)[:3] == ["outer", "before", "inner"]


def test_branch_failure_bubbles_through_two_levels(engine: Engine) -> None:
    nodes = [cond("l1", branches={"1": [
                 cond("l2", branches={"1": [cond("l3", [FALSE])]}),
                 out("skipped-l1", 1)]}),
             out("after", 2)]
    execution = run(engine, nodes)
    assert execution.status == Status.FAILED
    assert not {"skipped-l1", "after"} & set(keys(execution))


def test_end_failed_inside_a_branch_ends_the_execution(engine: Engine) -> None:
    nodes = [cond("c", branches={"1": [{"key": "stop", "type": "end",
                                        "config": {"endStatus": -1}}, out("skipped", 1)]}),
             out("after", 2)]
    execution = run(engine, nodes)
    assert execution.status == Status.FAILED
    assert keys(execution) == ["c", "stop"]
    assert execution.jobs[-1].status == Status.FAILED


@pytest.mark.parametrize(("end_status", "status"), [(1, Status.RESOLVED),
                                                    (-1, Status.FAILED)])
def test_end_from_a_nested_branch_stops_everything(engine: Engine, end_status: int,
                                                   status: Status) -> None:
    nodes = [
        out("first", "first"),
        cond("l1", branches={"1": [
            cond("l2", branches={"1": [
                {"key": "stop", "type": "end", "config": {"endStatus": end_status}},
                out("in-l2", 1)]}),
            out("in-l1", 2)]}),
        out("after", 3),
    ]
    execution = run(engine, nodes)
    assert execution.status == status
    assert keys(execution) == ["first", "l1", "l2", "stop"]
    assert execution.jobs[-1].status == status
    assert execution.output == "first"


def test_end_defaults_to_resolved(engine: Engine) -> None:
    execution = run(engine, [{"key": "stop", "type": "end"}, out("after", 1)])
    assert execution.status == Status.RESOLVED
    assert keys(execution) == ["stop"]


def test_workflow_without_nodes_resolves(engine: Engine) -> None:
    execution = run(engine, [])
    assert execution.status == Status.RESOLVED
    assert execution.jobs == []


# --- output --------------------------------------------------------------------------------

def test_output_last_wins_with_typed_templates(engine: Engine) -> None:
    nodes = [
        out("o1", "first"),
        out("o2", {"n": "{{$context.body.n}}", "text": "n={{$context.body.n}}",
                   "list": "{{$context.body.items}}", "missing": "{{$context.body.nope}}",
                   "default": "{{$context.body.nope:fallback}}",
                   "flag": "{{$context.body.flag}}"}),
    ]
    execution = run(engine, nodes, {"n": 5, "items": [1, {"a": 2}], "flag": False})
    assert execution.status == Status.RESOLVED
    assert execution.output == {"n": 5, "text": "n=5", "list": [1, {"a": 2}], "missing": None,
                                "default": "fallback", "flag": False}
    assert execution.jobs[1].result == execution.output


def test_output_defaults_to_null(engine: Engine) -> None:
    execution = run(engine, [{"key": "o", "type": "output"}])
    assert execution.status == Status.RESOLVED
    assert execution.output is None


def test_output_in_a_branch_counts(engine: Engine) -> None:
    execution = run(engine, [out("o1", 1), cond("c", branches={"1": [out("o2", 2)]})])
    assert execution.output == 2


def test_output_splices_datetimes_as_iso(engine: Engine) -> None:
    when = datetime(2026, 11, 28, 1, 18, 48, 123456, tzinfo=UTC)
    execution = run(engine, [out("o", "at {{$context.body.when}}")], {"when": when})
    assert execution.output == "at 2026-11-28T01:18:48.123Z"


# --- response (sync) -----------------------------------------------------------------------

def test_response_node_sets_the_execution_response(engine: Engine) -> None:
    nodes = [{"key": "r", "type": "response", "config": {
        "statusCode": 201, "headers": [{"name": "X-Order", "value": "{{$context.body.id}}"}],
        "body": {"ok": True, "id": "{{$context.body.id}}"}}},
        out("after", "never")]
    execution = run(engine, nodes, {"id": 42}, sync=True)
    assert execution.status == Status.RESOLVED
    assert keys(execution) == ["r"]
    assert execution.output is None
    response = execution.response
    assert response is not None
    assert response["status"] == 201
    headers = {name.lower(): value for name, value in response["headers"]}
    assert headers == {"content-type": "application/json", "x-order": "42"}
    assert json.loads(response["body"]) == {"ok": True, "id": 42}
    assert execution.jobs[0].result["statusCode"] == 201


@pytest.mark.parametrize(("body", "content_type", "text"), [
    ("hello", "text/plain; charset=utf-8", "hello"),
    (None, "text/plain; charset=utf-8", ""),
    ([1, "a"], "application/json", '[1,"a"]'),
])
def test_response_body_kinds(engine: Engine, body: Any, content_type: str | None,
                             text: str) -> None:
    execution = run(engine, [{"key": "r", "type": "response", "config": {"body": body}}],
                    sync=True)
    response = execution.response
    assert response is not None
    assert response["status"] == 200
    headers = {name.lower(): value for name, value in response["headers"]}
    assert headers.get("content-type") == content_type
    assert response["body"] == text


def test_configured_content_type_wins(engine: Engine) -> None:
    execution = run(engine, [{"key": "r", "type": "response", "config": {
        "headers": [{"name": "content-type", "value": "application/xml"}],
        "body": "<a/>"}}], sync=True)
    assert execution.response is not None
    assert execution.response["headers"] == [["content-type", "application/xml"]]


def test_response_from_a_branch_stops_everything(engine: Engine) -> None:
    nodes = [cond("c", [item("equal", A, "paid")], rejectOnFalse=False, branches={
                 "1": [{"key": "ok", "type": "response",
                        "config": {"statusCode": 200, "body": "paid"}}, out("x", 1)],
                 "0": [{"key": "bad", "type": "response",
                        "config": {"statusCode": 400, "body": "unpaid"}}]}),
             out("after", 2)]
    paid = run(engine, nodes, {"a": "paid"}, sync=True)
    assert paid.response is not None and paid.response["status"] == 200
    assert keys(paid) == ["c", "ok"]
    unpaid = engine.execute("w", {"body": {"a": "no"}})
    assert unpaid.status == Status.RESOLVED
    assert unpaid.response is not None
    assert (unpaid.response["status"], unpaid.response["body"]) == (400, "unpaid")
    assert keys(unpaid) == ["c", "bad"]


@pytest.mark.parametrize("value", ["a\r\nSet-Cookie: x=1", "a\nb", "a\rb", "a\x00b"])
def test_templated_header_with_cr_lf_nul_is_an_error_job(engine: Engine, value: str) -> None:
    nodes = [{"key": "r", "type": "response", "config": {
        "headers": [{"name": "X-Echo", "value": "v={{$context.body.h}}"}], "body": "ok"}}]
    execution = run(engine, nodes, {"h": value}, sync=True)
    assert execution.status == Status.ERROR
    assert execution.response is None
    [job] = execution.jobs
    assert job.status == Status.ERROR
    assert "X-Echo" in job.result["message"]


def test_execution_without_response_node_has_no_response(engine: Engine) -> None:
    execution = run(engine, [out("o", 1)], sync=True)
    assert execution.status == Status.RESOLVED
    assert execution.response is None


# --- the template scope --------------------------------------------------------------------

def test_jobs_map_of_an_earlier_node_in_a_later_template(engine: Engine) -> None:
    engine.register_node("calc", lambda config, ctx: {"total": 7, "items": [{"sku": "A"},
                                                                             {"sku": "B"}]})
    nodes = [{"key": "c1", "type": "calc"},
             out("o", {"total": "{{$jobsMapByNodeKey.c1.total}}",
                       "skus": "{{$jobsMapByNodeKey.c1.items.sku}}",
                       "text": "t={{$jobsMapByNodeKey.c1.total}}",
                       "later": "{{$jobsMapByNodeKey.o:none}}"})]
    with pytest.warns(DefinitionWarning, match=r"\$jobsMapByNodeKey\.o names a node that does "
                      "not run before node 'o'"):
        execution = run(engine, nodes)
    assert execution.output == {"total": 7, "skus": ["A", "B"], "text": "t=7", "later": "none"}


def test_system_now_is_an_aware_datetime(engine: Engine) -> None:
    before = datetime.now(UTC)
    execution = run(engine, [out("o", {"now": "{{$system.now}}", "text": "{{$system.now}} "})])
    after = datetime.now(UTC)
    now = execution.output["now"]
    assert isinstance(now, datetime)
    assert now.utcoffset() == timedelta(0)
    assert before <= now <= after
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ", execution.output["text"])


def test_system_values(engine: Engine) -> None:
    execution = run(engine, [out("o", {"epoch": "{{$system.epoch}}",
                                       "id": "{{$system.genSnowflakeId}}",
                                       "instance": "{{$system.instanceId}}"})])
    assert execution.output["epoch"] == 1605024000
    assert isinstance(execution.output["id"], str) and execution.output["id"].isdigit()
    assert isinstance(execution.output["instance"], int)


def test_env_is_only_the_given_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WW_TEST_SECRET", "leaked")
    eng = Engine(env={"TOKEN": "t0k", "N": 3})
    try:
        execution = run(eng, [out("o", {"token": "{{$env.TOKEN}}", "n": "{{$env.N}}",
                                        "secret": "{{$env.WW_TEST_SECRET}}",
                                        "path": "{{$env.PATH}}",
                                        "fallback": "{{$env.WW_TEST_SECRET:none}}"})])
    finally:
        eng.close(timeout=5)
    assert execution.output == {"token": "t0k", "n": 3, "secret": None, "path": None,
                                "fallback": "none"}


def test_env_is_empty_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WW_TEST_SECRET", "leaked")
    eng = Engine()
    try:
        execution = run(eng, [out("o", "{{$env}}")])
    finally:
        eng.close(timeout=5)
    assert execution.output is None or execution.output == {}


def test_env_given_to_the_engine_is_copied() -> None:
    env = {"TOKEN": "a"}
    eng = Engine(env=env)
    env["TOKEN"] = "b"
    try:
        assert run(eng, [out("o", "{{$env.TOKEN}}")]).output == "a"
    finally:
        eng.close(timeout=5)


# --- custom nodes --------------------------------------------------------------------------

def test_plain_function_result_is_the_resolved_job_result(engine: Engine) -> None:
    engine.register_node("add", lambda config, ctx: config["a"] + config["b"])
    execution = run(engine, [{"key": "sum", "type": "add", "config": {"a": 2, "b": 3}}])
    assert execution.status == Status.RESOLVED
    [job] = execution.jobs
    assert (job.node_key, job.status, job.result) == ("sum", Status.RESOLVED, 5)


def test_custom_node_context_and_rendered_config(engine: Engine) -> None:
    seen: list[tuple[dict[str, Any], NodeContext]] = []

    def node(config: dict[str, Any], ctx: NodeContext) -> Any:
        seen.append((config, ctx))
        return {"from": ctx.node_key}

    engine.register_node("probe", node)
    nodes = [{"key": "first", "type": "probe",
              "config": {"greet": "hi {{$context.body.name}}", "n": "{{$context.body.n}}",
                         "static": [1, "x"]}},
             {"key": "second", "type": "probe", "config": {"prev": "{{$jobsMapByNodeKey.first}}"}}]
    execution = run(engine, nodes, {"name": "Bob", "n": 3})
    assert execution.status == Status.RESOLVED
    (config1, ctx1), (config2, ctx2) = seen
    assert config1 == {"greet": "hi Bob", "n": 3, "static": [1, "x"]}
    assert config2 == {"prev": {"from": "first"}}
    assert isinstance(ctx1, NodeContext)
    assert (ctx1.execution_id, ctx1.workflow_key, ctx1.node_key) == (execution.id, "w", "first")
    assert ctx1.input is None
    assert (ctx2.node_key, ctx2.input) == ("second", {"from": "first"})
    assert ctx1.scope["$context"]["body"] == {"name": "Bob", "n": 3}
    assert set(ctx1.scope) >= {"$context", "$jobsMapByNodeKey", "$scopes", "$system", "$env"}
    assert ctx1.deadline is None
    assert ctx1.logger is not None


def test_custom_node_input_after_a_branch(engine: Engine) -> None:
    inputs: list[Any] = []
    engine.register_node("probe", lambda config, ctx: inputs.append(ctx.input))
    run(engine, [cond("c", branches={"1": [{"key": "p1", "type": "probe"}]}),
                 {"key": "p2", "type": "probe"}])
    assert inputs == [True, True]


def test_custom_node_config_changes_do_not_leak_into_later_runs(engine: Engine) -> None:
    seen: list[dict[str, Any]] = []

    def node(config: dict[str, Any], ctx: NodeContext) -> None:
        seen.append(json.loads(json.dumps(config)))
        config["count"] = config.get("count", 0) + 1
        config["items"].append("x")

    engine.register_node("mutate", node)
    engine.add_workflow({"key": "m", "nodes": [
        {"key": "n", "type": "mutate", "config": {"items": []}}]})
    engine.execute("m")
    engine.execute("m")
    assert seen == [{"items": []}, {"items": []}]
    wf = engine.get_workflow("m")
    assert wf is not None
    assert wf.definition["nodes"][0]["config"] == {"items": []}


def test_custom_node_raising_is_an_error_job(engine: Engine) -> None:
    def boom(config: dict[str, Any], ctx: NodeContext) -> None:
        raise RuntimeError("boom: bad input")

    engine.register_node("boom", boom)
    execution = run(engine, [{"key": "b", "type": "boom"}, out("after", 1)])
    assert execution.status == Status.ERROR
    assert keys(execution) == ["b"]
    job = execution.jobs[0]
    assert job.status == Status.ERROR
    assert job.result == {"message": "boom: bad input"}
    assert job.log is not None
    assert "Traceback" in job.log and "RuntimeError: boom: bad input" in job.log


def test_custom_node_raising_without_message_names_the_exception(engine: Engine) -> None:
    def boom(config: dict[str, Any], ctx: NodeContext) -> None:
        raise KeyError

    engine.register_node("boom", boom)
    execution = run(engine, [{"key": "b", "type": "boom"}])
    assert execution.jobs[0].result == {"message": "KeyError"}


def test_custom_node_error_inside_a_branch_bubbles_up(engine: Engine) -> None:
    engine.register_node("boom", lambda config, ctx: 1 / 0)
    execution = run(engine, [cond("c", branches={"1": [{"key": "b", "type": "boom"}]}),
                             out("after", 1)])
    assert execution.status == Status.ERROR
    assert "after" not in keys(execution)


@pytest.mark.parametrize("status", [Status.FAILED, Status.REJECTED, Status.ABORTED])
def test_custom_node_returning_a_job_sets_the_status(engine: Engine, status: Status) -> None:
    engine.register_node("deny", lambda config, ctx: Job(status=status, result={"why": "no"},
                                                         log="details"))
    execution = run(engine, [{"key": "d", "type": "deny"}, out("after", 1)])
    assert execution.status == status
    assert keys(execution) == ["d"]
    job = execution.jobs[0]
    assert (job.status, job.result, job.log) == (status, {"why": "no"}, "details")


def test_custom_node_returning_a_resolved_job_continues(engine: Engine) -> None:
    engine.register_node("ok", lambda config, ctx: Job(status=Status.RESOLVED, result=9))
    execution = run(engine, [{"key": "k", "type": "ok"}, out("after", "{{$jobsMapByNodeKey.k}}")])
    assert execution.status == Status.RESOLVED
    assert execution.output == 9


def test_custom_node_cannot_wait_in_a_manual_run(engine: Engine) -> None:
    # engine.execute runs synchronously: nothing could resume a waiting job there.
    engine.register_node("wait", lambda config, ctx: Job(status=Status.PENDING))
    execution = run(engine, [{"key": "w", "type": "wait"}])
    assert execution.status == Status.ERROR
    assert "only async workflows can wait" in execution.jobs[0].result["message"]


def test_async_custom_node(engine: Engine) -> None:
    async def fetch(config: dict[str, Any], ctx: NodeContext) -> Any:
        return {"url": config["url"], "node": ctx.node_key}

    engine.register_node("fetch", fetch)
    execution = run(engine, [{"key": "f", "type": "fetch",
                              "config": {"url": "https://x/{{$context.body.id}}"}}], {"id": 7})
    assert execution.status == Status.RESOLVED
    assert execution.jobs[0].result == {"url": "https://x/7", "node": "f"}


def test_async_custom_node_raising_is_an_error_job(engine: Engine) -> None:
    async def fail(config: dict[str, Any], ctx: NodeContext) -> Any:
        raise ValueError("async boom")

    engine.register_node("fail", fail)
    execution = run(engine, [{"key": "f", "type": "fail"}])
    assert execution.status == Status.ERROR
    assert execution.jobs[0].result == {"message": "async boom"}


class Threshold:
    """A custom node object with run and validate_config."""

    def validate_config(self, config: dict[str, Any]) -> None:
        if not isinstance(config.get("limit"), int) or config["limit"] < 0:
            raise DefinitionError("limit", "must be a non-negative integer")

    def run(self, config: dict[str, Any], ctx: NodeContext) -> bool:
        return bool(ctx.scope["$context"]["body"].get("n", 0) > config["limit"])


def test_custom_node_object_runs(engine: Engine) -> None:
    engine.register_node("threshold", Threshold())
    execution = run(engine, [{"key": "t", "type": "threshold", "config": {"limit": 3}}],
                    {"n": 5})
    assert execution.jobs[0].result is True


def test_validate_config_errors_carry_the_node_path(engine: Engine) -> None:
    engine.register_node("threshold", Threshold())
    with pytest.raises(DefinitionError) as info:
        engine.add_workflow({"nodes": [{"key": "t", "type": "threshold",
                                        "config": {"limit": -1}}]})
    assert info.value.path == "nodes[0].config.limit"
    assert str(info.value) == "nodes[0].config.limit: must be a non-negative integer"
    with pytest.raises(DefinitionError) as nested:
        engine.add_workflow({"nodes": [cond("c", branches={"0": [
            out("o", 1), {"key": "t", "type": "threshold"}]})]})
    assert nested.value.path == "nodes[0].branches.0[1].config.limit"


def test_validate_config_error_without_a_path_names_the_config(engine: Engine) -> None:
    class Picky:
        def validate_config(self, config: dict[str, Any]) -> None:
            raise DefinitionError("", "needs a url")

        def run(self, config: dict[str, Any], ctx: NodeContext) -> None:
            return None

    engine.register_node("picky", Picky())
    with pytest.raises(DefinitionError) as info:
        engine.add_workflow({"nodes": [{"key": "p", "type": "picky"}]})
    assert info.value.path == "nodes[0].config"
    assert str(info.value) == "nodes[0].config: needs a url"


def test_custom_node_config_must_be_an_object(engine: Engine) -> None:
    engine.register_node("n", lambda config, ctx: None)
    with pytest.raises(DefinitionError) as info:
        engine.add_workflow({"nodes": [{"key": "x", "type": "n", "config": [1]}]})
    assert info.value.path == "nodes[0].config"


def test_custom_node_resume_must_be_callable(engine: Engine) -> None:
    class Waiter:
        resume = "not a method"

        def run(self, config: dict[str, Any], ctx: NodeContext) -> None:
            return None

    with pytest.raises(TypeError, match="resume"):
        engine.register_node("waiter", Waiter())
    with pytest.raises(DefinitionError, match="unknown node type 'waiter'"):
        engine.add_workflow({"nodes": [{"key": "w", "type": "waiter"}]})


@pytest.mark.parametrize("node", [42, "not callable", None])
def test_custom_node_must_be_callable_or_have_run(engine: Engine, node: Any) -> None:
    with pytest.raises(TypeError):
        engine.register_node("bad", node)


@pytest.mark.parametrize("type_name", ["condition", "end", "output", "response"])
def test_built_in_node_types_cannot_be_replaced(engine: Engine, type_name: str) -> None:
    with pytest.raises(ValueError, match="built-in"):
        engine.register_node(type_name, lambda config, ctx: None)


def test_custom_node_type_can_be_replaced(engine: Engine) -> None:
    engine.register_node("v", lambda config, ctx: 1)
    engine.register_node("v", lambda config, ctx: 2)
    assert run(engine, [{"key": "v", "type": "v"}]).jobs[0].result == 2


# --- max_node_runs -------------------------------------------------------------------------

def test_max_node_runs_exceeded_is_an_error_naming_the_cap() -> None:
    eng = Engine(max_node_runs=2)
    try:
        execution = run(eng, [out("o1", 1), out("o2", 2), out("o3", 3), out("o4", 4)])
    finally:
        eng.close(timeout=5)
    assert execution.status == Status.ERROR
    assert keys(execution) == ["o1", "o2", "o3"]
    last = execution.jobs[-1]
    assert last.status == Status.ERROR
    assert "max_node_runs (2) exceeded" in last.result["message"]
    assert execution.output == 2


def test_max_node_runs_counts_resumes_of_branching_nodes() -> None:
    eng = Engine(max_node_runs=3)
    try:
        # c runs, inner runs, c is resumed (3 runs), then "after" is over the cap.
        execution = run(eng, [cond("c", branches={"1": [out("inner", 1)]}), out("after", 2)])
    finally:
        eng.close(timeout=5)
    assert execution.status == Status.ERROR
    assert "max_node_runs (3) exceeded" in execution.jobs[-1].result["message"]


def test_max_node_runs_exactly_reached_is_fine() -> None:
    eng = Engine(max_node_runs=3)
    try:
        execution = run(eng, [out("o1", 1), out("o2", 2), out("o3", 3)])
    finally:
        eng.close(timeout=5)
    assert execution.status == Status.RESOLVED
    assert execution.output == 3
