"""``dateCalculation`` through ``engine.execute``: every step function, dayjs arithmetic
(month-end clamping, leap years, DST in Europe/Amsterdam), format tokens, chains, run-time
errors and definition errors with their field paths.

Expected numbers marked "NocoBase" are the values NocoBase's own tests of the node expect.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webhook_workflow import DefinitionError, Engine, Job, Status
from webhook_workflow.nodes.date_calculation import DateCalculationNode
from webhook_workflow.variables import dates

Make = Callable[[str], Engine]
NOW_BASE = "2024-07-16 00:00:00.000"  # NocoBase's diff tests start here
AMS = "Europe/Amsterdam"


@pytest.fixture(scope="module")
def make() -> Iterator[Make]:
    engines: dict[str, Engine] = {}

    def factory(timezone: str = "UTC") -> Engine:
        if timezone not in engines:
            engine = Engine(timezone=timezone, workers=1)
            engine._node_types["dateCalculation"] = DateCalculationNode()
            engines[timezone] = engine
        return engines[timezone]

    yield factory
    for engine in engines.values():
        engine.close(timeout=5)


def step(function: str, **arguments: Any) -> dict[str, Any]:
    return {"function": function, "arguments": arguments}


def node(config: dict[str, Any], key: str = "d") -> dict[str, Any]:
    return {"key": key, "type": "dateCalculation", "config": config}


def calc(make: Make, config: dict[str, Any], *, tz: str = "UTC", body: Any = None) -> Job:
    engine = make(tz)
    engine.add_workflow({"key": "dates", "nodes": [node(config)]})
    return engine.execute("dates", {"body": body if body is not None else {}}).jobs[-1]


def value(make: Make, start: Any, *steps: dict[str, Any], tz: str = "UTC", **config: Any) -> Any:
    job = calc(make, {"input": start, "steps": list(steps), **config}, tz=tz)
    assert job.status == Status.RESOLVED, job.result
    return job.result


def iso(moment: datetime) -> str:
    """UTC ISO text with milliseconds, as the template layer writes datetimes."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def local(moment: datetime) -> str:
    """Wall time and offset in the datetime's own zone."""
    return moment.isoformat(timespec="milliseconds")


def error(make: Make, config: dict[str, Any], *, tz: str = "UTC", body: Any = None) -> str:
    job = calc(make, config, tz=tz, body=body)
    assert job.status == Status.ERROR, job.result
    message: str = job.result["message"]
    return message


def refused(make: Make, config: dict[str, Any]) -> DefinitionError:
    with pytest.raises(DefinitionError) as caught:
        make("UTC").add_workflow({"key": "bad", "nodes": [node(config)]})
    return caught.value


# --- add / subtract --------------------------------------------------------------------------
@pytest.mark.parametrize(("start", "function", "number", "unit", "expected"), [
    # NocoBase
    ("2024-07-15 23:59:59.999", "add", 1, "millisecond", "2024-07-16T00:00:00.000Z"),
    ("2024-07-15 23:59:59.999", "add", 1, "second", "2024-07-16T00:00:00.999Z"),
    ("2024-07-15 23:59:59.999", "add", 1, "minute", "2024-07-16T00:00:59.999Z"),
    ("2024-07-15 23:59:59.999", "add", 1, "hour", "2024-07-16T00:59:59.999Z"),
    ("2024-07-15 23:59:59.999", "add", 1, "day", "2024-07-16T23:59:59.999Z"),
    ("2024-07-15 23:59:59.999", "add", 1, "week", "2024-07-22T23:59:59.999Z"),
    ("2024-07-15 23:59:59.999", "add", 1, "month", "2024-08-15T23:59:59.999Z"),
    ("2024-07-15 23:59:59.999", "add", 1, "quarter", "2024-10-15T23:59:59.999Z"),
    ("2024-07-15 23:59:59.999", "add", 1, "year", "2025-07-15T23:59:59.999Z"),
    ("2024-07-16 00:00:00.000", "subtract", 1, "millisecond", "2024-07-15T23:59:59.999Z"),
    ("2024-07-16 00:00:00.000", "subtract", 1, "week", "2024-07-09T00:00:00.000Z"),
    ("2024-07-16 00:00:00.000", "subtract", 1, "quarter", "2024-04-16T00:00:00.000Z"),
    ("2024-07-16 00:00:00.000", "subtract", 1, "year", "2023-07-16T00:00:00.000Z"),
    ("2024-07-16 00:00:00.000", "subtract", -1, "millisecond", "2024-07-16T00:00:00.001Z"),
    # month-end clamping and leap years
    ("2024-01-31T10:00:00Z", "add", 1, "month", "2024-02-29T10:00:00.000Z"),
    ("2023-01-31T10:00:00Z", "add", 1, "month", "2023-02-28T10:00:00.000Z"),
    ("2024-03-31T10:00:00Z", "subtract", 1, "month", "2024-02-29T10:00:00.000Z"),
    ("2024-02-29T10:00:00Z", "add", 1, "year", "2025-02-28T10:00:00.000Z"),
    ("2024-02-29T10:00:00Z", "add", 4, "year", "2028-02-29T10:00:00.000Z"),
    ("2024-11-30T10:00:00Z", "add", 1, "quarter", "2025-02-28T10:00:00.000Z"),
    ("2024-08-31T10:00:00Z", "add", 13, "month", "2025-09-30T10:00:00.000Z"),
    ("2024-12-31T10:00:00Z", "add", 2, "month", "2025-02-28T10:00:00.000Z"),
    ("2024-02-28T10:00:00Z", "add", 1, "day", "2024-02-29T10:00:00.000Z"),
    # fractions: hours and shorter exact, days rounded (dayjs), months truncated
    ("2024-07-15T10:00:00Z", "add", 1.5, "hour", "2024-07-15T11:30:00.000Z"),
    ("2024-07-15T10:00:00Z", "add", 1.5, "day", "2024-07-17T10:00:00.000Z"),
    ("2024-07-15T10:00:00Z", "add", 1.5, "week", "2024-07-26T10:00:00.000Z"),
    ("2024-07-15T10:00:00Z", "add", 1.9, "month", "2024-08-15T10:00:00.000Z"),
    ("2024-07-15T10:00:00Z", "add", 0.0005, "second", "2024-07-15T10:00:00.000Z"),
    # numeric text and dayjs unit aliases
    ("2024-07-15T10:00:00Z", "add", "3", "days", "2024-07-18T10:00:00.000Z"),
    ("2024-07-15T10:00:00Z", "add", " -2 ", "d", "2024-07-13T10:00:00.000Z"),
    ("2024-07-15T10:00:00Z", "add", 1, "M", "2024-08-15T10:00:00.000Z"),
    ("2024-07-15T10:00:00Z", "add", 1, "m", "2024-07-15T10:01:00.000Z"),
    ("2024-07-15T10:00:00Z", "add", 2, "Hours", "2024-07-15T12:00:00.000Z"),
    ("2024-07-15T10:00:00Z", "add", 1, "Q", "2024-10-15T10:00:00.000Z"),
    ("2024-07-15T10:00:00Z", "add", 1, "ms", "2024-07-15T10:00:00.001Z"),
])
def test_add_and_subtract(make: Make, start: str, function: str, number: Any, unit: str,
                          expected: str) -> None:
    assert iso(value(make, start, step(function, number=number, unit=unit))) == expected


def test_add_defaults_to_days(make: Make) -> None:
    assert iso(value(make, "2024-07-15", step("add", number=2))) == "2024-07-17T00:00:00.000Z"


# --- diff ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("date", "unit", "extra", "expected"), [
    # NocoBase (from 2024-07-16 00:00:00.000)
    ("2024-7-14 23:59:59:999", "millisecond", {}, 86400001),
    ("2024-7-14 23:59:59", "second", {}, 86401),
    ("2024-7-14 23:59:15", "minute", {}, 1440.75),
    ("2024-7-14 23:59:15", "hour", {}, 24.0125),
    ("2024-7-14 6:00:00", "day", {}, 1.75),
    ("2024-7-14 6:00:00", "week", {}, 0.25),
    ("2024-7-14 6:00:00", "month", {}, 0.058333333333333334),
    ("2024-8-16 6:00:00", "month", {}, -1.0080645161290323),
    ("2024-7-14 6:00:00", "quarter", {}, 0.019444444444444445),
    ("2024-10-15 12:00:00", "quarter", {}, -0.9944444444444445),
    ("2024-7-14 6:00:00", "year", {}, 0.004861111111111111),
    ("2025-7-15 12:00:00", "year", {}, -0.998611111111111),
    ("2024-7-16 6:00:00", "day", {"isAbs": False}, -0.25),
    ("2024-7-16 6:00:00", "day", {"isAbs": True}, 0.25),
    ("2024-7-16 6:00:00", "day", {"round": -1}, -1),
    ("2024-7-16 6:00:00", "day", {"round": 0}, 0),
    ("2024-7-16 6:00:00", "day", {"round": 1}, 0),
    ("2024-7-14 6:00:00", "day", {"round": False}, 1.75),
    ("2024-7-14 6:00:00", "day", {"round": -1}, 1),
    ("2024-7-14 6:00:00", "day", {"round": 0}, 2),
    ("2024-7-14 6:00:00", "day", {"round": 1}, 2),
    # more: halves round up as Math.round does, abs before rounding, whole months
    ("2024-7-16 12:00:00", "day", {"round": 0}, 0),
    ("2024-7-15 12:00:00", "day", {"round": 0}, 1),
    ("2024-7-17 12:00:00", "day", {"round": 0, "isAbs": True}, 2),
    ("2024-7-17 12:00:00", "day", {"round": -1, "isAbs": True}, 1),
    ("2024-6-16", "month", {}, 1),
    ("2023-7-16", "year", {}, 1),
    ("2024-4-16", "quarter", {}, 1),
    ("2024-07-15T23:00:00-01:00", "millisecond", {}, 0),
    ("2024-07-16T00:00:00.000Z", "second", {"round": 0}, 0),
])
def test_diff(make: Make, date: str, unit: str, extra: dict[str, Any], expected: Any) -> None:
    result = value(make, NOW_BASE, step("diff", date=date, unit=unit, **extra))
    assert result == expected
    assert type(result) is type(expected)


def test_diff_month_algorithm_at_month_ends(make: Make) -> None:
    # dayjs/moment: whole months from the date with the larger day of month (clamped), the
    # rest as a fraction of the month it falls in.
    def months(start: str, other: str) -> Any:
        return value(make, start, step("diff", date=other, unit="month"))

    assert months("2024-02-29", "2024-01-31") == 1
    assert months("2024-03-31", "2024-02-29") == 1
    assert months("2024-01-31", "2024-02-29") == -1
    assert months("2024-03-15", "2024-01-31") == 2 - 16 / 31
    assert months("2024-01-31", "2024-03-15") == -(2 - 16 / 31)


def test_diff_accepts_datetimes_and_epoch_ms(make: Make) -> None:
    epoch = int(datetime(2024, 7, 15, tzinfo=UTC).timestamp() * 1000)
    assert value(make, NOW_BASE, step("diff", date=epoch, unit="hour")) == 24
    engine = make("UTC")
    engine.add_workflow({"key": "two", "nodes": [
        node({"input": "2024-07-01T00:00:00Z"}, "first"),
        node({"input": NOW_BASE, "steps": [
            step("diff", date="{{$jobsMapByNodeKey.first}}", unit="week")]}, "second")]})
    jobs = engine.execute("two", {}).jobs
    assert jobs[-1].result == 15 / 7


# --- get / isLeapYear ------------------------------------------------------------------------
@pytest.mark.parametrize(("unit", "expected"), [
    ("millisecond", 999), ("second", 50), ("minute", 59), ("hour", 23), ("day", 15),
    ("date", 15), ("D", 15), ("week", 1), ("month", 7), ("quarter", 3), ("year", 2024),
])
def test_get(make: Make, unit: str, expected: int) -> None:
    # NocoBase: months count from 1, "day" is the day of the month, "week" the weekday
    assert value(make, "2024-7-15 23:59:50:999", step("get", unit=unit)) == expected


@pytest.mark.parametrize(("start", "expected"), [
    ("2024-07-14", 0), ("2024-07-15", 1), ("2024-07-19", 5), ("2024-07-20", 6),
])
def test_get_week_is_the_weekday_from_sunday(make: Make, start: str, expected: int) -> None:
    assert value(make, start, step("get", unit="week")) == expected


@pytest.mark.parametrize(("start", "expected"), [
    ("2024-07-15", True), ("2023-07-15", False), ("1900-03-01", False), ("2000-03-01", True),
])
def test_is_leap_year(make: Make, start: str, expected: bool) -> None:
    assert value(make, start, step("isLeapYear")) is expected


# --- startOfTime / endOfTime -----------------------------------------------------------------
@pytest.mark.parametrize(("unit", "start", "end"), [
    # NocoBase, from Monday 2024-07-15 14:32:25.897
    ("millisecond", "2024-07-15T14:32:25.897", "2024-07-15T14:32:25.897"),
    ("second", "2024-07-15T14:32:25.000", "2024-07-15T14:32:25.999"),
    ("minute", "2024-07-15T14:32:00.000", "2024-07-15T14:32:59.999"),
    ("hour", "2024-07-15T14:00:00.000", "2024-07-15T14:59:59.999"),
    ("day", "2024-07-15T00:00:00.000", "2024-07-15T23:59:59.999"),
    ("week", "2024-07-15T00:00:00.000", "2024-07-21T23:59:59.999"),
    ("month", "2024-07-01T00:00:00.000", "2024-07-31T23:59:59.999"),
    ("quarter", "2024-07-01T00:00:00.000", "2024-09-30T23:59:59.999"),
    ("year", "2024-01-01T00:00:00.000", "2024-12-31T23:59:59.999"),
])
def test_start_and_end_of_time(make: Make, unit: str, start: str, end: str) -> None:
    moment = "2024-7-15 14:32:25:897"
    assert local(value(make, moment, step("startOfTime", unit=unit))) == start + "+00:00"
    assert local(value(make, moment, step("endOfTime", unit=unit))) == end + "+00:00"


@pytest.mark.parametrize(("moment", "unit", "end"), [
    ("2024-02-10", "month", "2024-02-29"), ("2023-02-10", "month", "2023-02-28"),
    ("2024-11-10", "quarter", "2024-12-31"), ("2024-07-21", "week", "2024-07-21"),
    ("2024-12-31", "week", "2025-01-05"),
])
def test_end_of_time_at_month_and_year_edges(make: Make, moment: str, unit: str,
                                             end: str) -> None:
    result = value(make, moment, step("endOfTime", unit=unit))
    assert local(result) == end + "T23:59:59.999+00:00"


# --- format ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("pattern", "expected"), [
    ("YYYY/MM/DD H:m:s:SSS", "2024/07/15 22:7:30:876"),  # NocoBase
    ("[today is ]YY/MM/DD HH:mm:ss SSS Z", "today is 24/07/15 22:07:30 876 +00:00"),  # NocoBase
    ("", "2024-07-15T22:07:30+00:00"),  # NocoBase: dayjs's default format
    ("wrong string", "29rong 30tring"),  # NocoBase: w is the week of the year, s seconds
    ("YYYY-MM-DD", "2024-07-15"),
    ("M/D/YY h:mm A", "7/15/24 10:07 PM"),
    ("hh:mm a", "10:07 pm"),
    ("d dd ddd dddd", "1 Mo Mon Monday"),
    ("MMM MMMM", "Jul July"),
    ("Do [of] MMMM, [Q]Q", "15th of July, Q3"),
    ("ZZ", "+0000"),
    ("X x", "1721081250 1721081250876"),
    ("k kk", "22 22"),
    ("[YYYY] YYYY", "YYYY 2024"),
    ("W WW GGGG", "29 29 2024"),
    ("ww gggg", "29 2024"),
    ("LT é ~", "LT é ~"),
])
def test_format_tokens(make: Make, pattern: str, expected: str) -> None:
    assert value(make, "2024-07-15T22:07:30.876Z", step("format", format=pattern)) == expected


@pytest.mark.parametrize(("moment", "pattern", "expected"), [
    ("2024-07-15T00:05:00Z", "h hh a k kk", "12 12 am 24 24"),
    ("2024-07-15T12:05:00Z", "h A", "12 PM"),
    ("2024-07-01T09:03:04.005Z", "D DD M MM H HH m mm s ss SSS", "1 01 7 07 9 09 3 03 4 04 005"),
    ("2024-12-29T10:00:00Z", "w gggg W GGGG", "1 2025 52 2024"),
    ("2027-01-01T10:00:00Z", "w gggg W GGGG", "1 2027 53 2026"),
    ("2024-07-01T10:00:00Z", "Do", "1st"), ("2024-07-02T10:00:00Z", "Do", "2nd"),
    ("2024-07-03T10:00:00Z", "Do", "3rd"), ("2024-07-11T10:00:00Z", "Do", "11th"),
    ("2024-07-22T10:00:00Z", "Do", "22nd"), ("0099-01-01T10:00:00Z", "YYYY YY", "0099 99"),
    ("0001-01-01T00:00:00Z", "w gggg W GGGG X", "1 0001 1 0001 -62135596800"),
    ("9999-12-31T10:00:00Z", "w gggg W GGGG", "1 10000 52 9999"),
])
def test_format_edge_values(make: Make, moment: str, pattern: str, expected: str) -> None:
    assert value(make, moment, step("format", format=pattern)) == expected


def test_format_uses_the_engine_time_zone(make: Make) -> None:
    assert value(make, "2024-07-15T22:07:30Z", step("format", format="YYYY-MM-DD HH:mm Z ZZ"),
                 tz=AMS) == "2024-07-16 00:07 +02:00 +0200"
    assert value(make, "2024-01-15T22:07:30Z", step("format", format="HH:mm Z"),
                 tz=AMS) == "23:07 +01:00"
    assert value(make, "2024-07-15T22:07:30Z", step("format", format="YYYY-MM-DD HH:mm Z"),
                 tz="America/St_Johns") == "2024-07-15 19:37 -02:30"


# --- transDuration ---------------------------------------------------------------------------
@pytest.mark.parametrize(("number", "before", "after", "round_", "expected"), [
    # NocoBase: a year is 365 days, a month 1/12 year
    (2, "year", "month", False, 24), (2, "year", "week", False, 104.28571428571429),
    (2, "year", "millisecond", False, 63072000000), (9, "month", "year", False, 0.75),
    (9, "month", "week", False, 39.107142857142854), (9, "month", "day", False, 273.75),
    (9, "month", "year", -1, 0), (9, "month", "year", 0, 1), (9, "month", "year", 1, 1),
    (9, "month", "week", -1, 39), (9, "month", "week", 0, 39), (9, "month", "week", 1, 40),
    (45, "day", "year", False, 0.1232876712328767), (45, "day", "month", False, 1.4794520547945205),
    (45, "day", "week", False, 6.428571428571429), (360, "hour", "year", 0, 0),
    (360, "hour", "month", False, 0.4931506849315068), (-21600, "minute", "day", False, -15),
    (-21600, "minute", "week", False, -2.142857142857143), (1296000, "second", "hour", False, 360),
    (1296000000, "millisecond", "day", False, 15),
    # quarters (a quarter of a year) and numeric text
    (1, "quarter", "month", False, 3), (1, "year", "quarter", False, 4),
    ("1.5", "hours", "minutes", False, 90), (2.5, "day", "day", 0, 3), (-2.5, "day", "day", 0, -2),
])
def test_trans_duration(make: Make, number: Any, before: str, after: str, round_: Any,
                        expected: Any) -> None:
    result = value(make, number, step("transDuration", unitBefore=before, unitAfter=after,
                                      round=round_), inputType="number")
    assert result == expected
    assert type(result) is type(expected)


# --- timestamps and time zones ---------------------------------------------------------------
def test_timestamps(make: Make) -> None:
    start = "2024-07-15T22:07:30.23Z"  # NocoBase
    assert value(make, start, step("toTimestamp")) == 1721081250230
    assert value(make, start, step("toTimestamp", unit="millisecond")) == 1721081250230
    assert value(make, start, step("toTimestamp", unit="second")) == 1721081250
    assert iso(value(make, 1721081250, step("tsToDate", unit="second"),
                     inputType="number")) == "2024-07-15T22:07:30.000Z"
    assert iso(value(make, 1721081250230, step("tsToDate"),
                     inputType="number")) == "2024-07-15T22:07:30.230Z"
    assert iso(value(make, 1721081250.5, step("tsToDate", unit="s"),
                     inputType="number")) == "2024-07-15T22:07:30.500Z"
    assert iso(value(make, -1, step("tsToDate"), inputType="number")) == "1969-12-31T23:59:59.999Z"


def test_change_timezone(make: Make) -> None:
    start = "2024-07-15T22:07:30.23Z"
    shanghai = step("changeTimezone", timezone="Asia/Shanghai")
    assert value(make, start, shanghai, step("format", format="YYYY-MM-DD HH:mm:ss")) == (
        "2024-07-16 06:07:30")  # NocoBase
    moved = value(make, start, shanghai)
    assert moved.tzinfo == ZoneInfo("Asia/Shanghai") and iso(moved) == "2024-07-15T22:07:30.230Z"
    # later steps compute in the new zone: the day starts at Shanghai midnight
    assert iso(value(make, start, shanghai, step("startOfTime", unit="day"))) == (
        "2024-07-15T16:00:00.000Z")
    assert value(make, start, shanghai, step("get", unit="hour")) == 6
    assert value(make, start, step("changeTimezone", timezone="UTC"),
                 step("get", unit="hour"), tz=AMS) == 22
    # text without an offset is read in the zone the chain is in by then
    assert value(make, start, shanghai, step("diff", date="2024-07-16 06:00", unit="minute",
                                             round=-1)) == 7


# --- DST in Europe/Amsterdam (spring forward 31 Mar 2024 02:00, fall back 27 Oct 03:00) ------
@pytest.mark.parametrize(("start", "steps", "expected"), [
    ("2024-03-30T12:00", [step("add", number=1, unit="day")], "2024-03-31T12:00:00.000+02:00"),
    ("2024-03-30T12:00", [step("add", number=24, unit="hour")], "2024-03-31T13:00:00.000+02:00"),
    ("2024-03-30T02:30", [step("add", number=1, unit="day")], "2024-03-31T03:30:00.000+02:00"),
    ("2024-03-31T02:30", [], "2024-03-31T03:30:00.000+02:00"),  # a skipped wall time
    ("2024-10-27T02:30", [], "2024-10-27T02:30:00.000+02:00"),  # a repeated one: the first
    ("2024-10-27T00:30:00Z", [step("add", number=1, unit="hour")],
     "2024-10-27T02:30:00.000+01:00"),
    ("2024-10-27T01:30:00Z", [step("startOfTime", unit="hour")], "2024-10-27T02:00:00.000+01:00"),
    ("2024-10-27T01:30:00Z", [step("endOfTime", unit="hour")], "2024-10-27T02:59:59.999+01:00"),
    ("2024-03-31T12:00", [step("startOfTime", unit="day")], "2024-03-31T00:00:00.000+01:00"),
    ("2024-03-31T12:00", [step("endOfTime", unit="day")], "2024-03-31T23:59:59.999+02:00"),
    ("2024-10-27T12:00", [step("endOfTime", unit="day")], "2024-10-27T23:59:59.999+01:00"),
    ("2024-03-15T09:00", [step("add", number=1, unit="month")], "2024-04-15T09:00:00.000+02:00"),
    ("2024-10-26T09:00", [step("add", number=1, unit="week")], "2024-11-02T09:00:00.000+01:00"),
    ("2024-03-31T00:00:00+01:00", [step("startOfTime", unit="week")],
     "2024-03-25T00:00:00.000+01:00"),
])
def test_dst_wall_clock_and_instants(make: Make, start: str, steps: list[dict[str, Any]],
                                     expected: str) -> None:
    assert local(value(make, start, *steps, tz=AMS)) == expected


@pytest.mark.parametrize(("start", "other", "unit", "expected"), [
    ("2024-03-31T12:00", "2024-03-30T12:00", "day", 1),  # 23 hours, one calendar day
    ("2024-03-31T12:00", "2024-03-30T12:00", "hour", 23),
    ("2024-10-27T12:00", "2024-10-26T12:00", "hour", 25),
    ("2024-10-27T12:00", "2024-10-26T12:00", "day", 1),
    ("2024-04-07T12:00", "2024-03-31T00:00", "week", 1.0714285714285714),
    ("2024-04-30T12:00", "2024-03-30T12:00", "month", 1),  # wall clock: a whole month
    # the rest is a fraction of the 743-hour month from 30 March (CET) to 30 April (CEST)
    ("2024-04-15T12:00", "2024-03-30T12:00", "month", 1 - 360 / 743),
])
def test_dst_diff(make: Make, start: str, other: str, unit: str, expected: Any) -> None:
    assert value(make, start, step("diff", date=other, unit=unit), tz=AMS) == expected


# --- inputs ----------------------------------------------------------------------------------
def test_input_defaults_to_now(make: Make) -> None:
    before = datetime.now(UTC) - timedelta(milliseconds=1)
    job = calc(make, {})
    assert before <= job.result <= datetime.now(UTC)
    assert job.result.microsecond % 1000 == 0
    assert calc(make, {"input": "{{$system.now}}", "steps": [step("get", unit="year")]}).result \
        >= 2024


@pytest.mark.parametrize(("start", "expected"), [
    ("2024-07-15", "2024-07-15T00:00:00.000+02:00"),
    ("2024/7/5 8:05", "2024-07-05T08:05:00.000+02:00"),
    ("2024-07-15T10:00:00.123456Z", "2024-07-15T12:00:00.123+02:00"),
    ("2024-07-15T10:00:00+0530", "2024-07-15T06:30:00.000+02:00"),
    ("20240715T101500Z", "2024-07-15T12:15:00.000+02:00"),
    (1721001600000, "2024-07-15T02:00:00.000+02:00"),
    ("2024", "2024-01-01T00:00:00.000+01:00"),
    ("2024-W29-1", "2024-07-15T00:00:00.000+02:00"),
    ("  2024-07-15T10:00Z ", "2024-07-15T12:00:00.000+02:00"),
])
def test_date_inputs(make: Make, start: Any, expected: str) -> None:
    assert local(value(make, start, tz=AMS)) == expected


def test_templated_inputs_and_arguments(make: Make) -> None:
    config = {"input": "{{$context.body.when}}", "steps": [
        step("add", number="{{$context.body.n}}", unit="{{$context.body.unit}}"),
        step("format", format="{{$context.body.fmt}}")]}
    job = calc(make, config, body={"when": "2024-01-31", "n": "1", "unit": "months",
                                   "fmt": "YYYY-MM-DD"})
    assert (job.status, job.result) == (Status.RESOLVED, "2024-02-29")
    number = calc(make, {"input": "{{$context.body.n}}", "inputType": "number", "steps": [
        step("transDuration", unitBefore="hour", unitAfter="minute")]}, body={"n": "-2e3"})
    assert number.result == -120000


# --- chains ----------------------------------------------------------------------------------
def test_chains(make: Make) -> None:
    last_day = [step("startOfTime", unit="month"), step("add", number=1, unit="month"),
                step("subtract", number=1, unit="day"), step("format", format="YYYY-MM-DD")]
    assert value(make, "2024-02-10", *last_day) == "2024-02-29"
    assert value(make, "2023-02-10", *last_day) == "2023-02-28"
    hours = [step("diff", date="2024-07-15T10:00:00Z", unit="millisecond"),
             step("transDuration", unitBefore="millisecond", unitAfter="hour", round=0)]
    assert value(make, "2024-07-16T20:29:00Z", *hours) == 34
    assert iso(value(make, 86_400_000, step("tsToDate"), step("add", number=1, unit="day"),
                     inputType="number")) == "1970-01-03T00:00:00.000Z"
    assert value(make, "2024-07-15", step("toTimestamp", unit="second"),
                 step("transDuration", unitBefore="second", unitAfter="day")) == 19919
    # the zone chosen by changeTimezone stays for dates made later in the chain
    assert value(make, "2024-07-15T22:00:00Z", step("changeTimezone", timezone="Asia/Tokyo"),
                 step("toTimestamp"), step("tsToDate"), step("format", format="D HH:mm Z")) == (
        "16 07:00 +09:00")
    assert value(make, "2024-07-15T12:00:00Z", step("diff", date="2024-07-16", unit="day",
                                                    round=0)) == 0  # -0.5 rounds up to 0


def test_the_documented_example(make: Make) -> None:
    page = (Path(__file__).parent.parent / "docs" / "nodes" / "dateCalculation.md").read_text()
    definition = json.loads(page.split("```json\n")[1].split("```")[0])
    engine = make("UTC")
    engine.add_workflow(definition)
    execution = engine.execute("invoice-due", {"body": {
        "issuedAt": "2024-01-31T09:30:00Z", "termDays": "30", "today": "2024-02-20T12:00:00Z"}})
    assert execution.response is not None
    assert json.loads(execution.response["body"]) == {
        "due": "2024-03-01T22:59:59.999Z", "daysLeft": 10, "label": "Friday 1 March 2024 at 23:59"}
    assert execution.jobs[0].result == datetime(2024, 3, 1, 23, 59, 59, 999000,
                                                tzinfo=ZoneInfo(AMS))


def test_result_renders_as_iso_utc_in_templates(make: Make) -> None:
    engine = make(AMS)
    engine.add_workflow({"key": "rendered", "nodes": [
        node({"input": "2024-07-15 10:00", "steps": [step("endOfTime", unit="day")]}),
        {"key": "o", "type": "output", "config": {"value": "until {{$jobsMapByNodeKey.d}}"}}]})
    execution = engine.execute("rendered", {})
    assert execution.output == "until 2024-07-15T21:59:59.999Z"


# --- run-time errors -------------------------------------------------------------------------
@pytest.mark.parametrize(("config", "body", "message"), [
    ({"input": "{{$context.body.x}}"}, {"x": "wrong date"},
     "Invalid input: string 'wrong date' is not a date (ISO 8601 text, a datetime or epoch "
     "milliseconds)"),
    ({"input": "{{$context.body.x}}"}, {}, "Invalid input: null is not a date"),
    ({"input": "{{$context.body.x}}"}, {"x": True}, "Invalid input: boolean true is not a date"),
    ({"input": "{{$context.body.x}}", "inputType": "number"}, {"x": "not number type"},
     "Invalid input: string 'not number type' is not a number"),
    ({"input": "2024-07-15", "steps": [step("add", number="{{$context.body.x}}")]}, {"x": "two"},
     "steps[0] (add): number: must be a number, got string 'two'"),
    ({"input": "2024-07-15", "steps": [step("add", number=1, unit="{{$context.body.x}}")]},
     {"x": "fortnight"}, "steps[0] (add): unit: 'fortnight' is not a unit (use millisecond, "
     "second, minute, hour, day, week, month, quarter, year)"),
    ({"input": "2024-07-15", "steps": [step("diff", date="{{$context.body.x}}")]},
     {"x": "not a date"}, "steps[0] (diff): date: string 'not a date' is not a valid date"),
    ({"input": "2024-07-15", "steps": [step("diff", date="{{$context.body.x}}")]}, {},
     "steps[0] (diff): date: is required"),
    ({"input": "2024-07-15", "steps": [
        step("diff", date="2024-01-01", round="{{$context.body.x}}")]}, {"x": 2},
     "steps[0] (diff): round: must be false (keep the fraction), 0 (round), 1 (round up) or -1 "
     "(round down), got number 2"),
    ({"input": "2024-07-15", "steps": [step("changeTimezone", timezone="{{$context.body.x}}")]},
     {"x": "Mars/Olympus"}, "steps[0] (changeTimezone): unknown time zone 'Mars/Olympus': not an "
     "IANA zone name, or this system has no time zone data (the `tz` extra, pip install "
     "'webhook-workflow[tz]', brings the tzdata package)"),
    ({"input": "9999-12-01", "steps": [step("add", number=1, unit="month")]}, {},
     "steps[0] (add): the date is out of range (years 1..9999)"),
    ({"input": "2024-07-15", "steps": [step("add", number=10**20, unit="hour")]}, {},
     "steps[0] (add): the date is out of range (years 1..9999)"),
    ({"input": 10**20, "inputType": "number", "steps": [step("tsToDate")]}, {},
     "steps[0] (tsToDate): the date is out of range (years 1..9999)"),
])
def test_run_time_errors(make: Make, config: dict[str, Any], body: Any, message: str) -> None:
    assert error(make, config, body=body).startswith(message)


def test_errors_end_the_execution(make: Make) -> None:
    engine = make("UTC")
    engine.add_workflow({"key": "fails", "nodes": [
        node({"input": "{{$context.body.x}}"}), {"key": "o", "type": "output",
                                                  "config": {"value": 1}}]})
    execution = engine.execute("fails", {"body": {"x": "nope"}})
    assert execution.status == Status.ERROR
    assert [job.node_key for job in execution.jobs] == ["d"]


def test_unknown_engine_time_zone_is_an_error_job(make: Make) -> None:
    message = error(make, {"input": "2024-07-15"}, tz="Nowhere/Special")
    assert message.startswith("engine time zone: unknown time zone 'Nowhere/Special'")


# --- definition errors -----------------------------------------------------------------------
@pytest.mark.parametrize(("config", "path", "reason"), [
    ({"steps": [step("add", number=1), step("format"), {"function": "fly"}]},
     "nodes[0].config.steps[2].function", "must be one of add, subtract, diff, get, "
     "startOfTime, endOfTime, isLeapYear, format, transDuration, toTimestamp, tsToDate, "
     "changeTimezone, got string 'fly'"),
    ({"steps": [{"arguments": {}}]}, "nodes[0].config.steps[0].function", "is required"),
    ({"steps": [{"function": "{{$context.body.f}}"}]}, "nodes[0].config.steps[0].function",
     None),
    ({"steps": [step("add", number=1, units="day")]}, "nodes[0].config.steps[0].arguments.units",
     "unknown argument of 'add' (allowed: number, unit)"),
    ({"steps": [step("isLeapYear", unit="day")]}, "nodes[0].config.steps[0].arguments.unit",
     "unknown argument of 'isLeapYear' (allowed: none)"),
    ({"steps": [step("add", unit="day")]}, "nodes[0].config.steps[0].arguments.number",
     "is required"),
    ({"steps": [step("get", unit="fortnight")]}, "nodes[0].config.steps[0].arguments.unit",
     None),
    ({"steps": [step("add", number=1, unit="date")]}, "nodes[0].config.steps[0].arguments.unit",
     None),
    ({"steps": [step("add", number=True)]}, "nodes[0].config.steps[0].arguments.number",
     "must be a number, got boolean true"),
    ({"steps": [step("diff", date="soon")]}, "nodes[0].config.steps[0].arguments.date",
     "string 'soon' is not a valid date"),
    ({"steps": [step("diff", date="2024-01-01", round=2)]},
     "nodes[0].config.steps[0].arguments.round", None),
    ({"steps": [step("diff", date="2024-01-01", isAbs="yes")]},
     "nodes[0].config.steps[0].arguments.isAbs", "must be true or false, got string 'yes'"),
    ({"steps": [step("format", format=5)]}, "nodes[0].config.steps[0].arguments.format",
     "must be a string, got number 5"),
    ({"steps": [step("changeTimezone")]}, "nodes[0].config.steps[0].arguments.timezone",
     "is required"),
    ({"steps": [step("toTimestamp", unit="minute")]}, "nodes[0].config.steps[0].arguments.unit",
     "'minute' is not a unit (use millisecond, second)"),
    ({"steps": [step("diff", date="{{nope}}")]}, "nodes[0].config.steps[0].arguments.date", None),
    ({"steps": [step("diff", date="2024-01-01"), step("add", number=1)]},
     "nodes[0].config.steps[1].function",
     "'add' needs a date, but steps[0] (diff) gives a number"),
    ({"steps": [step("format"), step("get")]}, "nodes[0].config.steps[1].function",
     "'get' needs a date, but steps[0] (format) gives a string"),
    ({"steps": [step("transDuration")]}, "nodes[0].config.steps[0].function",
     "'transDuration' needs a number, but the input (inputType 'date') gives a date"),
    ({"inputType": "number", "input": 5, "steps": [step("format")]},
     "nodes[0].config.steps[0].function",
     "'format' needs a date, but the input (inputType 'number') gives a number"),
    ({"input": "wrong date"}, "nodes[0].config.input", "Invalid input: string 'wrong date'"),
    ({"input": "x", "inputType": "number"}, "nodes[0].config.input",
     "Invalid input: string 'x' is not a number"),
    ({"input": "{{$nowhere}}"}, "nodes[0].config.input", None),
    ({"inputType": "text"}, "nodes[0].config.inputType", "must be one of 'date', 'number'"),
    ({"steps": {"function": "add"}}, "nodes[0].config.steps", "must be an array, got object"),
    ({"steps": ["add"]}, "nodes[0].config.steps[0]", "must be an object, got string"),
    ({"steps": [{"function": "add", "args": {}}]}, "nodes[0].config.steps[0].args", None),
    ({"steps": [{"function": "add", "arguments": [1]}]}, "nodes[0].config.steps[0].arguments",
     "must be an object, got array"),
    ({"timezone": "UTC"}, "nodes[0].config.timezone", None),
])
def test_definition_errors(make: Make, config: dict[str, Any], path: str,
                           reason: str | None) -> None:
    exc = refused(make, config)
    assert exc.path == path
    if reason is not None:
        assert exc.reason.startswith(reason)


def test_defaults_are_filled_in(make: Make) -> None:
    workflow = make("UTC").add_workflow({"key": "defaults", "nodes": [node({"steps": [
        step("diff", date="2024-01-01"), step("transDuration", round=1)]})]})
    [spec] = workflow.definition["nodes"]
    assert spec["config"] == {"input": None, "inputType": "date", "steps": [
        step("diff", date="2024-01-01", unit="day", isAbs=False, round=False),
        step("transDuration", unitBefore="day", unitAfter="day", round=1)]}
    same = make("UTC").add_workflow({"key": "defaults2", "nodes": [node({"steps": None})]})
    assert same.definition["nodes"][0]["config"]["steps"] == []


# --- properties of the date helpers ----------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 12, 28)),
       st.integers(-2000, 2000), st.sampled_from(["UTC", AMS, "America/St_Johns"]))
def test_properties(wall: datetime, n: int, zone_name: str) -> None:
    zone = dates.zone_of(zone_name)
    moment = dates.parse_date(wall.replace(hour=12, microsecond=0).isoformat(), zone)
    assert moment is not None
    # calendar days and months are whole over DST changes (noon is never skipped)
    assert dates.diff(dates.add(moment, n, "day"), moment, "day") == n
    if moment.day <= 28:
        assert dates.diff(dates.add(moment, n, "month"), moment, "month") == n
    assert dates.diff(dates.add(moment, n, "hour"), moment, "hour") == n
    for unit in dates.UNITS:
        start, end = dates.start_of(moment, unit), dates.end_of(moment, unit)
        assert start <= moment <= end
        assert dates.start_of(end, unit) == start
        assert dates.start_of(dates.add(end, 1, "millisecond"), unit) > start
