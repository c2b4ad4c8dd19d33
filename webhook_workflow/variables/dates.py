"""Date arithmetic with dayjs semantics, for the ``dateCalculation`` node.

Units, parsing, add, diff, start/end of a unit, getters, duration conversion and format tokens.

Pure functions on aware datetimes kept to whole milliseconds (as JavaScript dates are). Each
datetime carries the time zone the calculation runs in; calendar arithmetic (days and longer)
follows the wall clock of that zone, shorter units move the instant, as dayjs does.
"""

from __future__ import annotations

import calendar
import math
import re
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from typing import Any, Final
from zoneinfo import ZoneInfo

__all__ = ["DEFAULT_FORMAT", "UNITS", "DateError", "add", "convert_duration", "diff", "end_of",
           "format_date", "from_ms", "get", "js_round", "parse_date", "plain_number", "start_of",
           "to_ms", "unit_of", "zone_of"]


class DateError(ValueError):
    """A date calculation cannot be done; the message says why."""


UNITS: Final = ("millisecond", "second", "minute", "hour", "day", "week", "month", "quarter",
                "year")
# dayjs's short unit names (case-sensitive: "M" is a month, "m" a minute).
_SHORT: Final = {"ms": "millisecond", "s": "second", "m": "minute", "h": "hour", "d": "day",
                 "D": "date", "w": "week", "M": "month", "Q": "quarter", "y": "year"}
_MS: Final = {"millisecond": 1, "second": 1000, "minute": 60_000, "hour": 3_600_000,
              "day": 86_400_000, "week": 604_800_000}
_YEAR_MS: Final = 365 * 86_400_000
# dayjs durations: a year is 365 days and a month a twelfth of that.
_DURATION_MS: Final[dict[str, float]] = {**_MS, "month": _YEAR_MS / 12,
                                         "quarter": _YEAR_MS / 4, "year": _YEAR_MS}
_MONTHS: Final = {"month": 1, "quarter": 3, "year": 12}
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS: Final = timedelta(milliseconds=1)
_TZ_HINT: Final = ("not an IANA zone name, or this system has no time zone data (the `tz` extra, "
                   "pip install 'webhook-workflow[tz]', brings the tzdata package)")


def unit_of(value: Any, allowed: tuple[str, ...] = UNITS) -> str:
    """The unit a name stands for: ``day``, ``days``, ``Day`` or dayjs's ``d`` -> ``day``."""
    if isinstance(value, str):
        name = _SHORT.get(value) or value.lower().removesuffix("s")
        if name in allowed:
            return name
    raise DateError(f"{value!r} is not a unit (use {', '.join(allowed)})")


def zone_of(name: Any) -> tzinfo:
    """The time zone of an IANA name (``"UTC"`` needs no zone data)."""
    if not isinstance(name, str) or not name.strip():
        raise DateError(f"{name!r} is not a time zone name")
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, OSError):
        raise DateError(f"unknown time zone {name!r}: {_TZ_HINT}") from None


# --- instants and wall clocks ---------------------------------------------------------------


def to_ms(moment: datetime) -> int:
    """Milliseconds since the epoch."""
    return (moment - _EPOCH) // _ONE_MS


def from_ms(ms: float, zone: tzinfo) -> datetime:
    """The instant ``ms`` (truncated to whole milliseconds, as JavaScript does) in ``zone``."""
    return (_EPOCH + timedelta(milliseconds=math.trunc(ms))).astimezone(zone)


def _local(wall: datetime, zone: tzinfo) -> datetime:
    # A wall time that occurs twice takes its first occurrence; one skipped by a DST gap moves
    # forward by the gap: what JavaScript's local-time setters do.
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC).astimezone(zone)


def _ms_cut(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


# --- parsing -------------------------------------------------------------------------------

_TEXT: Final = re.compile(
    r"(\d{4})(?:[-/](\d{1,2})(?:[-/](\d{1,2}))?)?"
    r"(?:(?:[Tt]|\s+)(\d{1,2})(?::(\d{1,2})(?::(\d{1,2})(?:[.,:](\d+))?)?)?)?"
    r"\s*([Zz]|[+-]\d{2}(?::?\d{2})?)?")


def parse_date(value: Any, zone: tzinfo) -> datetime | None:
    """A date from ISO 8601 text, a datetime, a date or epoch milliseconds; None if it is not
    one. Text without an offset is a wall time in ``zone`` (as dayjs reads it); a naive
    datetime is UTC (as the template layer writes it)."""
    try:
        if isinstance(value, str):
            return _parse_text(value.strip(), zone)
        if isinstance(value, datetime):
            aware = value if value.utcoffset() is not None else value.replace(tzinfo=UTC)
            return _ms_cut(aware.astimezone(zone))
        if isinstance(value, date):
            return _local(datetime.combine(value, time()), zone)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return from_ms(value, zone) if math.isfinite(value) else None
    except (OverflowError, ValueError):
        pass  # out of the representable range (years 1..9999)
    return None


def _parse_text(text: str, zone: tzinfo) -> datetime:
    match = _TEXT.fullmatch(text)
    if match is None:
        parsed = datetime.fromisoformat(text)  # other ISO 8601 forms (basic, week dates)
        if parsed.utcoffset() is None:
            return _local(_ms_cut(parsed), zone)
        return _ms_cut(parsed.astimezone(zone))
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    wall = datetime(int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0),
                    int(second or 0), int((fraction or "0")[:3].ljust(3, "0")) * 1000)
    if offset is None:
        return _local(wall, zone)
    if offset in "Zz":
        return wall.replace(tzinfo=UTC).astimezone(zone)
    digits = offset[1:].replace(":", "")
    if int(digits[2:] or 0) > 59:
        raise ValueError(f"bad offset {offset}")
    shift = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
    return wall.replace(tzinfo=timezone(-shift if offset[0] == "-" else shift)).astimezone(zone)


# --- arithmetic ----------------------------------------------------------------------------


def js_round(value: float) -> int:
    """JavaScript's ``Math.round``: halves go up (-2.5 -> -2)."""
    low = math.floor(value)
    return low + 1 if value - low >= 0.5 else low


def plain_number(value: float) -> int | float:
    """A whole float as an int (JavaScript has one number type); other numbers as they are."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2.0**53:
        return int(value)
    return value


def _shift_months(moment: datetime, months: int) -> datetime:
    # dayjs clamps the day: 31 January + 1 month is the last day of February.
    year, month0 = divmod(moment.year * 12 + moment.month - 1 + months, 12)
    day = min(moment.day, calendar.monthrange(year, month0 + 1)[1])
    return _local(moment.replace(tzinfo=None, year=year, month=month0 + 1, day=day),
                  moment.tzinfo or UTC)


def add(moment: datetime, number: float, unit: str) -> datetime:
    """``moment`` plus ``number`` units, as dayjs's ``add``.

    Months, quarters and years keep the wall time and clamp the day, dropping a fraction of a
    month; days and weeks keep the wall time, rounded to whole days; shorter units move the
    instant.
    """
    zone = moment.tzinfo or UTC
    if unit in _MONTHS:
        return _shift_months(moment, math.trunc(number * _MONTHS[unit]))
    if unit in ("day", "week"):
        days = js_round(number * (7 if unit == "week" else 1))
        return _local(moment.replace(tzinfo=None) + timedelta(days=days), zone)
    return from_ms(to_ms(moment) + number * _MS[unit], zone)


def _month_diff(a: datetime, b: datetime) -> float:
    # dayjs's (moment.js's) algorithm: whole months, then the rest as a fraction of the month
    # that the rest falls in.
    if a.day < b.day:
        return -_month_diff(b, a)
    whole = (b.year - a.year) * 12 + (b.month - a.month)
    anchor = _shift_months(a, whole)
    rest = to_ms(b) - to_ms(anchor)
    other = _shift_months(a, whole + (-1 if rest < 0 else 1))
    return -(whole + rest / abs(to_ms(anchor) - to_ms(other))) or 0.0


def diff(moment: datetime, other: datetime, unit: str) -> float:
    """``moment - other`` in ``unit`` with the fraction, as dayjs's ``diff(other, unit, true)``.

    Days and weeks count wall-clock time (a DST day is still one day); months, quarters and
    years use the month algorithm of dayjs; shorter units count elapsed time.
    """
    if unit in _MONTHS:
        return _month_diff(moment, other.astimezone(moment.tzinfo)) / _MONTHS[unit]
    elapsed = to_ms(moment) - to_ms(other)
    if unit in ("day", "week"):
        elapsed += (_offset_ms(moment) - _offset_ms(other.astimezone(moment.tzinfo)))
    return elapsed / _MS[unit]


def _offset_ms(moment: datetime) -> int:
    return (moment.utcoffset() or timedelta()) // _ONE_MS


def _period(day: date, unit: str) -> tuple[date, date]:
    """First day of the day/week/month/quarter/year holding ``day``, and of the next one."""
    if unit == "day":
        return day, day + timedelta(days=1)
    if unit == "week":  # ISO weeks: Monday to Sunday
        first = day - timedelta(days=day.weekday())
        return first, first + timedelta(days=7)
    months = _MONTHS[unit]
    index = day.year * 12 + (day.month - 1) // months * months
    start = date(index // 12, index % 12 + 1, 1)
    end_index = index + months
    return start, date(end_index // 12, end_index % 12 + 1, 1)


_CLOCK_UNITS: Final = ("hour", "minute", "second")


def _cut(moment: datetime, unit: str) -> datetime:
    # A wall-clock cut keeps fold, so the repeated hour of a DST change stays itself.
    if unit == "hour":
        moment = moment.replace(minute=0)
    if unit != "second":
        moment = moment.replace(second=0)
    return moment.replace(microsecond=0).astimezone(UTC).astimezone(moment.tzinfo)


def start_of(moment: datetime, unit: str) -> datetime:
    """The first millisecond of the unit holding ``moment`` (weeks start on Monday)."""
    zone = moment.tzinfo or UTC
    if unit == "millisecond":
        return moment
    if unit in _CLOCK_UNITS:
        return _cut(moment, unit)
    return _local(datetime.combine(_period(moment.date(), unit)[0], time()), zone)


def end_of(moment: datetime, unit: str) -> datetime:
    """The last millisecond of the unit holding ``moment``."""
    zone = moment.tzinfo or UTC
    if unit == "millisecond":
        return moment
    if unit in _CLOCK_UNITS:
        return from_ms(to_ms(start_of(moment, unit)) + _MS[unit] - 1, zone)
    following = _local(datetime.combine(_period(moment.date(), unit)[1], time()), zone)
    return from_ms(to_ms(following) - 1, zone)


def get(moment: datetime, unit: str) -> int:
    """One field of ``moment`` as NocoBase reads it: months 1..12, ``day`` (or ``date``) the
    day of the month, ``week`` the day of the week (0 = Sunday)."""
    fields = {"year": moment.year, "quarter": (moment.month - 1) // 3 + 1,
              "month": moment.month, "week": (moment.weekday() + 1) % 7, "day": moment.day,
              "date": moment.day, "hour": moment.hour, "minute": moment.minute,
              "second": moment.second, "millisecond": moment.microsecond // 1000}
    return fields[unit]


def convert_duration(number: float, before: str, after: str) -> float:
    """``number`` of ``before`` units in ``after`` units (a year is 365 days, a month 1/12
    year, as dayjs durations count)."""
    return number * _DURATION_MS[before] / _DURATION_MS[after]


# --- format --------------------------------------------------------------------------------

_TOKENS: Final = re.compile(r"\[([^\]]+)]|YYYY|YY|MMMM|MMM|MM|M|Do|DD|D|dddd|ddd|dd|d|HH|H|hh|h"
                            r"|kk|k|mm|m|ss|s|SSS|A|a|ZZ|Z|Q|X|x|WW|W|GGGG|ww|w|gggg")
_MONTH_NAMES: Final = ("January", "February", "March", "April", "May", "June", "July",
                       "August", "September", "October", "November", "December")
_DAY_NAMES: Final = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
                     "Saturday")
#: dayjs's default format (``format("")``).
DEFAULT_FORMAT: Final = "YYYY-MM-DDTHH:mm:ssZ"


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 11 <= n % 100 <= 13 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def _zone_text(moment: datetime, colon: str) -> str:
    minutes = int((moment.utcoffset() or timedelta()).total_seconds() / 60)
    hours, rest = divmod(abs(minutes), 60)
    return f"{'-' if minutes < 0 else '+'}{hours:02d}{colon}{rest:02d}"


def _locale_week(day: date) -> tuple[int, int]:
    # dayjs's default English weeks: Sunday to Saturday, week 1 holds 1 January. Day numbers
    # (ordinals) rather than dates, so the first and last weeks of years 1 and 9999 work too.
    if date(day.year, 12, 31).toordinal() - day.toordinal() < 6 - (day.weekday() + 1) % 7:
        return 1, day.year + 1  # this week holds next 1 January
    jan1 = date(day.year, 1, 1)
    first_sunday = jan1.toordinal() - (jan1.weekday() + 1) % 7
    return (day.toordinal() - first_sunday) // 7 + 1, day.year


def format_date(moment: datetime, pattern: str) -> str:
    """``moment`` written with dayjs format tokens; ``[text]`` is literal, ``""`` the default
    ``YYYY-MM-DDTHH:mm:ssZ``; characters that are no token stay as they are."""
    m = moment
    weekday = (m.weekday() + 1) % 7
    iso = m.isocalendar()
    week, week_year = _locale_week(m.date())
    values = {
        "YYYY": f"{m.year:04d}", "YY": str(m.year)[-2:], "M": str(m.month),
        "MM": f"{m.month:02d}", "MMM": _MONTH_NAMES[m.month - 1][:3],
        "MMMM": _MONTH_NAMES[m.month - 1], "D": str(m.day), "DD": f"{m.day:02d}",
        "Do": _ordinal(m.day), "d": str(weekday), "dd": _DAY_NAMES[weekday][:2],
        "ddd": _DAY_NAMES[weekday][:3], "dddd": _DAY_NAMES[weekday], "H": str(m.hour),
        "HH": f"{m.hour:02d}", "h": str(m.hour % 12 or 12), "hh": f"{m.hour % 12 or 12:02d}",
        "k": str(m.hour or 24), "kk": f"{m.hour or 24:02d}", "m": str(m.minute),
        "mm": f"{m.minute:02d}", "s": str(m.second), "ss": f"{m.second:02d}",
        "SSS": f"{m.microsecond // 1000:03d}", "A": "AM" if m.hour < 12 else "PM",
        "a": "am" if m.hour < 12 else "pm", "Z": _zone_text(m, ":"), "ZZ": _zone_text(m, ""),
        "Q": str((m.month - 1) // 3 + 1), "X": str(to_ms(m) // 1000), "x": str(to_ms(m)),
        "W": str(iso.week), "WW": f"{iso.week:02d}", "GGGG": f"{iso.year:04d}",
        "w": str(week), "ww": f"{week:02d}", "gggg": f"{week_year:04d}",
    }
    return _TOKENS.sub(lambda t: t.group(1) or values[t.group(0)], pattern or DEFAULT_FORMAT)
