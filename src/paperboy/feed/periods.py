"""Day, ISO week and month periods, parsed from `date=`, `week=` and `month=` parameters."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

PeriodKind = Literal["day", "week", "month"]
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class PeriodError(ValueError):
    """A period parameter is malformed; `parameter` names it."""

    def __init__(self, parameter: str, message: str):
        super().__init__(message)
        self.parameter = parameter


@dataclass(frozen=True)
class Period:
    kind: PeriodKind
    start: date
    end: date

    @classmethod
    def day(cls, day: date) -> Period:
        return cls("day", day, day)

    @classmethod
    def week_of(cls, day: date) -> Period:
        start = day - timedelta(days=day.weekday())
        return cls("week", start, start + timedelta(days=6))

    @classmethod
    def month_of(cls, day: date) -> Period:
        last = calendar.monthrange(day.year, day.month)[1]
        return cls("month", day.replace(day=1), day.replace(day=last))

    @property
    def key(self) -> str:
        """The parameter value naming this period: 2024-10-25, 2024-W43 or 2024-10."""
        if self.kind == "day":
            return self.start.isoformat()
        if self.kind == "week":
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        return f"{self.start.year}-{self.start.month:02d}"

    @property
    def parameter(self) -> str:
        return {"day": "date", "week": "week", "month": "month"}[self.kind]

    @property
    def label(self) -> str:
        if self.kind == "day":
            return self.start.strftime("%A, %B %-d, %Y")
        if self.kind == "week":
            year, week, _ = self.start.isocalendar()
            return f"Week {week}, {year} ({self.start.strftime('%b %-d')} to {self.end.strftime('%b %-d')})"
        return self.start.strftime("%B %Y")

    def shifted(self, steps: int) -> Period:
        """The period `steps` periods later (negative: earlier)."""
        if self.kind == "day":
            return Period.day(self.start + timedelta(days=steps))
        if self.kind == "week":
            return Period.week_of(self.start + timedelta(weeks=steps))
        month_index = self.start.year * 12 + self.start.month - 1 + steps
        return Period.month_of(date(month_index // 12, month_index % 12 + 1, 1))

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end


def parse_day(value: str, parameter: str = "date") -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise PeriodError(parameter, f"{parameter} must be a date like 2024-10-25, got {value!r}") from None


def parse_week(value: str) -> Period:
    match = _WEEK.match(value.strip())
    if not match:
        raise PeriodError("week", f"week must look like 2024-W43, got {value!r}")
    try:
        return Period.week_of(date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1))
    except (ValueError, OverflowError):  # OverflowError: 9999-W52 ends after year 9999
        raise PeriodError("week", f"week {value!r} does not exist") from None


def parse_month(value: str) -> Period:
    match = _MONTH.match(value.strip())
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1:
        raise PeriodError("month", f"month must look like 2024-10, got {value!r}")
    return Period.month_of(date(int(match.group(1)), int(match.group(2)), 1))


def parse_period(day: str | None, week: str | None, month: str | None) -> Period | None:
    """The one period the parameters name, or None when none is given; PeriodError on conflicts."""
    given = [(name, value) for name, value in (("date", day), ("week", week), ("month", month)) if value]
    if len(given) > 1:
        names = " and ".join(name for name, _ in given)
        raise PeriodError(given[1][0], f"give only one of date, week and month (got {names})")
    if not given:
        return None
    name, value = given[0]
    assert value is not None
    if name == "date":
        return Period.day(parse_day(value))
    if name == "week":
        return parse_week(value)
    return parse_month(value)
