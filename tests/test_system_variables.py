"""``$system``: NocoBase's ``dateRange`` values, and variables an application registers with
``Engine.register_system_variable``."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import JSON
from doors import Door

from webhook_workflow import Engine, Status
from webhook_workflow.variables.date_ranges import NAMES, date_range, offset_text

# What NocoBase's workflow plugin gives for $system.dateRange.*: getDateVars() of
# @nocobase/utils (parse-filter.ts) run with dayjs and its plugins, in a server whose time
# zone (TZ) is the one named, at the moment given.
NOCOBASE = [
    ("UTC", "2026-12-07T12:30:00Z", {
        "yesterday": "2026-12-06+00:00", "today": "2026-12-07+00:00",
        "tomorrow": "2026-12-08+00:00", "lastWeek": "2026w49+00:00",
        "thisWeek": "2026w50+00:00", "nextWeek": "2026w51+00:00",
        "lastMonth": "2026-11+00:00", "thisMonth": "2026-12+00:00",
        "nextMonth": "2027-01+00:00", "lastQuarter": "2026Q3+00:00",
        "thisQuarter": "2026Q4+00:00", "nextQuarter": "2027Q1+00:00",
        "lastYear": "2025+00:00", "thisYear": "2026+00:00", "nextYear": "2027+00:00",
        "last7Days": ["2026-12-01", "2026-12-08", "[)", "+00:00"],
        "next7Days": ["2026-12-08", "2026-12-15", "[)", "+00:00"],
        "last30Days": ["2026-11-08", "2026-12-08", "[)", "+00:00"],
        "next30Days": ["2026-12-08", "2027-01-07", "[)", "+00:00"],
        "last90Days": ["2026-09-09", "2026-12-08", "[)", "+00:00"],
        "next90Days": ["2026-12-08", "2027-03-08", "[)", "+00:00"]}),
    # Already 2027 in Tokyo: every period moves on with the local day.
    ("Asia/Tokyo", "2026-12-31T23:30:00Z", {
        "yesterday": "2026-12-31+09:00", "today": "2027-01-01+09:00",
        "tomorrow": "2027-01-02+09:00", "lastWeek": "2026w52+09:00",
        "thisWeek": "2027w01+09:00", "nextWeek": "2027w02+09:00",
        "lastMonth": "2026-12+09:00", "thisMonth": "2027-01+09:00",
        "nextMonth": "2027-02+09:00", "lastQuarter": "2026Q4+09:00",
        "thisQuarter": "2027Q1+09:00", "nextQuarter": "2027Q2+09:00",
        "lastYear": "2026+09:00", "thisYear": "2027+09:00", "nextYear": "2028+09:00",
        "last7Days": ["2026-12-26", "2027-01-02", "[)", "+09:00"],
        "next7Days": ["2027-01-02", "2027-01-09", "[)", "+09:00"],
        "last30Days": ["2026-12-03", "2027-01-02", "[)", "+09:00"],
        "next30Days": ["2027-01-02", "2027-02-01", "[)", "+09:00"],
        "last90Days": ["2026-10-04", "2027-01-02", "[)", "+09:00"],
        "next90Days": ["2027-01-02", "2027-04-02", "[)", "+09:00"]}),
    # Still 29 February 2024 at UTC-11, a leap day; months and quarters back into 2023.
    ("Pacific/Pago_Pago", "2024-03-01T05:00:00Z", {
        "yesterday": "2024-02-28-11:00", "today": "2024-02-29-11:00",
        "tomorrow": "2024-03-01-11:00", "lastWeek": "2024w08-11:00",
        "thisWeek": "2024w09-11:00", "nextWeek": "2024w10-11:00",
        "lastMonth": "2024-01-11:00", "thisMonth": "2024-02-11:00",
        "nextMonth": "2024-03-11:00", "lastQuarter": "2023Q4-11:00",
        "thisQuarter": "2024Q1-11:00", "nextQuarter": "2024Q2-11:00",
        "lastYear": "2023-11:00", "thisYear": "2024-11:00", "nextYear": "2025-11:00",
        "last7Days": ["2024-02-23", "2024-03-01", "[)", "-11:00"],
        "next7Days": ["2024-03-01", "2024-03-08", "[)", "-11:00"],
        "last30Days": ["2024-01-31", "2024-03-01", "[)", "-11:00"],
        "next30Days": ["2024-03-01", "2024-03-31", "[)", "-11:00"],
        "last90Days": ["2023-12-02", "2024-03-01", "[)", "-11:00"],
        "next90Days": ["2024-03-01", "2024-05-30", "[)", "-11:00"]}),
    # Winter in New York; the week of 27 December is week 1 of 2027 (it holds 1 January).
    ("America/New_York", "2026-12-27T03:00:00Z", {
        "yesterday": "2026-12-25-05:00", "today": "2026-12-26-05:00",
        "tomorrow": "2026-12-27-05:00", "lastWeek": "2026w51-05:00",
        "thisWeek": "2026w52-05:00", "nextWeek": "2027w01-05:00",
        "lastMonth": "2026-11-05:00", "thisMonth": "2026-12-05:00",
        "nextMonth": "2027-01-05:00", "lastQuarter": "2026Q3-05:00",
        "thisQuarter": "2026Q4-05:00", "nextQuarter": "2027Q1-05:00",
        "lastYear": "2025-05:00", "thisYear": "2026-05:00", "nextYear": "2027-05:00",
        "last7Days": ["2026-12-20", "2026-12-27", "[)", "-05:00"],
        "next7Days": ["2026-12-27", "2027-01-03", "[)", "-05:00"],
        "last30Days": ["2026-11-27", "2026-12-27", "[)", "-05:00"],
        "next30Days": ["2026-12-27", "2027-01-26", "[)", "-05:00"],
        "last90Days": ["2026-09-28", "2026-12-27", "[)", "-05:00"],
        "next90Days": ["2026-12-27", "2027-03-27", "[)", "-05:00"]}),
]
# Offsets of half and three quarters of an hour, and weeks 1 and 2 across a new year.
NOCOBASE_MORE = [
    ("Asia/Kolkata", "2021-01-02T20:00:00Z", "today", "2021-01-03+05:30"),
    ("Asia/Kolkata", "2021-01-02T20:00:00Z", "lastWeek", "2021w01+05:30"),
    ("Asia/Kolkata", "2021-01-02T20:00:00Z", "thisWeek", "2021w02+05:30"),
    ("Asia/Kolkata", "2021-01-02T20:00:00Z", "last7Days",
     ["2020-12-28", "2021-01-04", "[)", "+05:30"]),
    ("UTC", "2021-01-02T12:00:00Z", "lastWeek", "2020w52+00:00"),
    ("UTC", "2021-01-02T12:00:00Z", "thisWeek", "2021w01+00:00"),
    ("UTC", "2026-12-27T12:00:00Z", "thisWeek", "2027w01+00:00"),
    ("UTC", "2026-12-27T12:00:00Z", "thisYear", "2026+00:00"),
    ("Asia/Kathmandu", "2026-03-31T20:00:00Z", "thisQuarter", "2026Q2+05:45"),
    ("Asia/Kathmandu", "2026-03-31T20:00:00Z", "last90Days",
     ["2026-01-02", "2026-04-02", "[)", "+05:45"]),
]


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# -- dateRange -------------------------------------------------------------------------------------
def test_the_names_are_nocobases() -> None:
    assert set(NAMES) == set(NOCOBASE[0][2])
    assert len(NAMES) == 21


@pytest.mark.parametrize(("zone", "moment", "expected"), NOCOBASE,
                         ids=[f"{z}-{m}" for z, m, _ in NOCOBASE])
def test_date_ranges_are_nocobases(zone: str, moment: str, expected: dict[str, Any]) -> None:
    assert {name: date_range(name, _at(moment), ZoneInfo(zone)) for name in NAMES} == expected


@pytest.mark.parametrize(("zone", "moment", "name", "expected"), NOCOBASE_MORE)
def test_more_date_ranges_are_nocobases(zone: str, moment: str, name: str,
                                        expected: Any) -> None:
    assert date_range(name, _at(moment), ZoneInfo(zone)) == expected


@pytest.mark.parametrize(("zone", "moment", "text"), [
    ("UTC", "2026-07-01T00:00:00Z", "+00:00"),
    ("Europe/Berlin", "2026-07-01T00:00:00Z", "+02:00"),
    ("Europe/Berlin", "2026-12-01T00:00:00Z", "+01:00"),
    ("America/St_Johns", "2026-12-01T00:00:00Z", "-03:30"),
    ("Asia/Kathmandu", "2026-12-01T00:00:00Z", "+05:45"),
])
def test_the_offset_is_the_zones_at_that_moment(zone: str, moment: str, text: str) -> None:
    assert offset_text(_at(moment), ZoneInfo(zone)) == text


def _run(engine: Engine, value: Any) -> Any:
    engine.add_workflow({"key": "v", "nodes": [{"key": "o", "type": "output",
                                                "config": {"value": value}}]})
    execution = engine.execute("v")
    assert execution.status == Status.RESOLVED, execution.jobs
    return execution.output


def test_date_ranges_in_a_run_use_the_engines_time_zone_now() -> None:
    engine = Engine(timezone="Asia/Kathmandu")
    try:
        zone = ZoneInfo("Asia/Kathmandu")
        before = datetime.now(UTC)
        out = _run(engine, {"today": "{{$system.dateRange.today}}",
                            "days": "{{$system.dateRange.next7Days}}",
                            "text": "from {{$system.dateRange.thisMonth}}"})
        after = datetime.now(UTC)
        candidates = [{"today": date_range("today", t, zone),
                       "days": date_range("next7Days", t, zone),
                       "text": f"from {date_range('thisMonth', t, zone)}"} for t in (before, after)]
        assert out in candidates  # read when the node ran (a day may end in between)
        assert out["days"][2:] == ["[)", "+05:45"]  # a list when the placeholder is alone
    finally:
        engine.close()


def test_an_unknown_engine_time_zone_makes_the_job_error() -> None:
    engine = Engine(timezone="Mars/Olympus_Mons")
    try:
        engine.add_workflow({"key": "v", "nodes": [{"key": "o", "type": "output", "config": {
            "value": "{{$system.dateRange.today}}"}}]})
        execution = engine.execute("v")
        assert execution.status == Status.ERROR
        assert "Mars/Olympus_Mons" in json.dumps(execution.jobs[0].result)
    finally:
        engine.close()


# -- register_system_variable ----------------------------------------------------------------------
def test_a_registered_variable_renders_through_a_door_read_at_each_request(
        engine: Engine, door: Door) -> None:
    counter = itertools.count(1)
    engine.register_system_variable("tenant", lambda: "acme")
    engine.register_system_variable("requestNumber", lambda: next(counter))
    engine.add_workflow({"key": "hook", "sync": True, "nodes": [
        {"key": "seen", "type": "output", "config": {"value": "{{$system.requestNumber}}"}},
        {"key": "reply", "type": "response", "config": {"statusCode": 200, "body": {
            "tenant": "{{$system.tenant}}", "n": "{{$jobsMapByNodeKey.seen}}",
            "text": "{{$system.tenant}}-{{$system.requestNumber}}",
            "missing": "{{$system.nope:none}}"}}}]})
    first = door.call(path="/api/webhook:trigger/hook", headers=[JSON], body=b"{}")
    second = door.call(path="/api/webhook:trigger/hook", headers=[JSON], body=b"{}")
    assert first.status == 200 and second.status == 200
    assert first.json() == {"tenant": "acme", "n": 1, "text": "acme-2", "missing": "none"}
    assert second.json() == {"tenant": "acme", "n": 3, "text": "acme-4", "missing": "none"}


def test_a_registered_variable_in_an_async_answer_and_a_condition(engine: Engine,
                                                                   door: Door) -> None:
    engine.register_system_variable("region", lambda: "eu")
    engine.add_workflow({
        "key": "hook", "config": {"response": {"statusCode": 202, "body": {
            "region": "{{$system.region}}"}}},
        "nodes": [{"key": "eu", "type": "condition", "config": {"rejectOnFalse": True,
                   "calculation": {"group": {"type": "and", "calculations": [
                       {"calculator": "equal",
                        "operands": ["{{$system.region}}", "eu"]}]}}}}]})
    answer = door.call(path="/api/webhook:trigger/hook", headers=[JSON], body=b"{}")
    assert (answer.status, answer.json()) == (202, {"region": "eu"})
    assert engine.drain(5)
    [execution] = engine.executions("hook")
    assert execution.status == Status.RESOLVED and execution.jobs[0].result is True


def test_a_name_registered_again_is_replaced_and_engines_keep_their_own() -> None:
    one, two = Engine(), Engine()
    try:
        one.register_system_variable("shop", lambda: "a")
        one.register_system_variable("shop", lambda: "b")
        assert _run(one, "{{$system.shop}}") == "b"
        assert _run(two, "{{$system.shop}}") is None
    finally:
        one.close()
        two.close()


@pytest.mark.parametrize("name", ["now", "epoch", "instanceId", "genSnowflakeId", "dateRange"])
def test_built_in_names_cannot_be_replaced(engine: Engine, name: str) -> None:
    with pytest.raises(ValueError, match=rf"\$system\.{name} is built in"):
        engine.register_system_variable(name, lambda: 1)


@pytest.mark.parametrize("name", ["", "1st", "a.b", "a-b", "a b", "é", "$x", 5, None])
def test_names_are_identifiers(engine: Engine, name: Any) -> None:
    with pytest.raises(ValueError, match="letters, digits and _"):
        engine.register_system_variable(name, lambda: 1)


@pytest.mark.parametrize("fn", [5, "x", dict, None])
def test_the_value_is_a_function(engine: Engine, fn: Any) -> None:
    with pytest.raises(TypeError, match="function of no arguments"):
        engine.register_system_variable("x", fn)


def test_a_variable_that_raises_makes_the_job_error() -> None:
    engine = Engine()
    try:
        engine.register_system_variable("broken", lambda: 1 / 0)
        engine.add_workflow({"key": "v", "nodes": [{"key": "o", "type": "output",
                                                    "config": {"value": "{{$system.broken}}"}}]})
        execution = engine.execute("v")
        assert execution.status == Status.ERROR
        assert "division by zero" in json.dumps(execution.jobs[0].result)
    finally:
        engine.close()


def test_the_built_in_values_are_as_documented(engine: Engine) -> None:
    out = _run(engine, {"epoch": "{{$system.epoch}}", "id": "{{$system.genSnowflakeId}}",
                        "now": "{{$system.now}}"})
    assert out["epoch"] == 1605024000
    assert isinstance(out["id"], str) and int(out["id"]) < 2**63
    assert abs(out["now"] - datetime.now(UTC)) < timedelta(seconds=5)
