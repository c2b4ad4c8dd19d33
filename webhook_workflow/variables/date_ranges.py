"""NocoBase's ``$system.dateRange`` values (``today``, ``lastWeek``, ``next30Days`` ...) now.

NocoBase's workflow plugin computes them with ``getDateVars`` of ``@nocobase/utils``, in the
server's UTC offset at the time of the call; here the offset is the engine's time zone's at
that moment. Each value says which period is meant, as NocoBase's date filters read it:

- a day, week, month, quarter or year is one string, the period followed by the offset:
  ``2026-12-07+01:00``, ``2026w50+01:00`` (dayjs's English weeks: Sunday to Saturday, week 1
  holds 1 January), ``2026-12+01:00``, ``2026Q4+01:00``, ``2026+01:00``;
- the last or next N days are ``[first day, day after the last, "[)", offset]``: the last 7
  days end with today, the next 7 start tomorrow.

Pure functions of ``now`` and a time zone; :func:`date_range_functions` makes the functions
``$system.dateRange`` holds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from typing import Final

from .dates import format_date

__all__ = ["NAMES", "date_range", "date_range_functions", "offset_text"]

# name -> (unit, offset): a calendar period ("day" ... "year") or a run of days ("days").
_RANGES: Final[dict[str, tuple[str, int]]] = {
    "yesterday": ("day", -1), "today": ("day", 0), "tomorrow": ("day", 1),
    "lastWeek": ("week", -1), "thisWeek": ("week", 0), "nextWeek": ("week", 1),
    "lastMonth": ("month", -1), "thisMonth": ("month", 0), "nextMonth": ("month", 1),
    "lastQuarter": ("quarter", -1), "thisQuarter": ("quarter", 0), "nextQuarter": ("quarter", 1),
    "lastYear": ("year", -1), "thisYear": ("year", 0), "nextYear": ("year", 1),
    "last7Days": ("days", -7), "next7Days": ("days", 7), "last30Days": ("days", -30),
    "next30Days": ("days", 30), "last90Days": ("days", -90), "next90Days": ("days", 90),
}
#: The names under ``$system.dateRange``, in NocoBase's order.
NAMES: Final = tuple(_RANGES)

DateRange = str | list[str]


def offset_text(now: datetime, zone: tzinfo) -> str:
    """The UTC offset of ``zone`` at ``now`` as NocoBase writes it: ``+01:00``, ``+00:00``."""
    seconds = (now.astimezone(zone).utcoffset() or timedelta()).total_seconds()
    minutes = int(seconds // 60)  # whole minutes, as JavaScript's getTimezoneOffset
    hours, rest = divmod(abs(minutes), 60)
    return f"{'-' if minutes < 0 else '+'}{hours:02d}:{rest:02d}"


def _period(day: date, unit: str, offset: int) -> str:
    """The period ``offset`` units from the one holding ``day``, in dayjs's format for it."""
    if unit == "day":
        return (day + timedelta(days=offset)).isoformat()
    if unit == "week":
        sunday = day - timedelta(days=(day.weekday() + 1) % 7) + timedelta(weeks=offset)
        return format_date(datetime.combine(sunday, time(), UTC), "gggg[w]ww")
    if unit == "month":
        index = day.year * 12 + day.month - 1 + offset
        return f"{index // 12:04d}-{index % 12 + 1:02d}"
    if unit == "quarter":
        index = day.year * 4 + (day.month - 1) // 3 + offset
        return f"{index // 4:04d}Q{index % 4 + 1}"
    return f"{day.year + offset:04d}"


def date_range(name: str, now: datetime, zone: tzinfo) -> DateRange:
    """The value of ``$system.dateRange.<name>`` at ``now`` (aware) in ``zone``.

    >>> now = datetime(2026, 12, 7, 12, 30, tzinfo=UTC)
    >>> date_range("today", now, UTC), date_range("lastWeek", now, UTC)
    ('2026-12-07+00:00', '2026w49+00:00')
    >>> date_range("last7Days", now, UTC)
    ['2026-12-01', '2026-12-08', '[)', '+00:00']
    """
    unit, offset = _RANGES[name]
    text = offset_text(now, zone)
    # The wall clock of that fixed offset, as dayjs's utcOffset() sees it.
    day = now.astimezone(timezone(timedelta(minutes=_minutes(text)))).date()
    if unit != "days":
        return _period(day, unit, offset) + text
    if offset < 0:
        first, end = day + timedelta(days=offset + 1), day + timedelta(days=1)
    else:
        first = day + timedelta(days=1)
        end = first + timedelta(days=offset)
    return [first.isoformat(), end.isoformat(), "[)", text]


def _minutes(text: str) -> int:
    minutes = int(text[1:3]) * 60 + int(text[4:6])
    return -minutes if text[0] == "-" else minutes


def _utc_now() -> datetime:
    return datetime.now(UTC)


def date_range_functions(zone: Callable[[], tzinfo], clock: Callable[[], datetime] = _utc_now
                         ) -> dict[str, Callable[[], DateRange]]:
    """``$system.dateRange``: for each name a function of no arguments giving its value now,
    in the zone ``zone()`` returns at that time (read at each call)."""
    def function(name: str) -> Callable[[], DateRange]:
        return lambda: date_range(name, clock(), zone())

    return {name: function(name) for name in NAMES}
