"""Time in Japan Standard Time, and Japanese business days for answer deadlines.

Timestamps are stored as ISO 8601 strings in JST (``+09:00``), so they sort as text and read as
the office reads them. Business days skip weekends, national holidays (the maintained `holidays`
package, including substitute holidays) and the 年末年始 closure (12/29 - 1/3).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache

import holidays

JST = timezone(timedelta(hours=9), "JST")

Clock = Callable[[], datetime]


def jst_now() -> datetime:
    return datetime.now(JST)


def iso(dt: datetime) -> str:
    return dt.astimezone(JST).isoformat(timespec="seconds")


def parse(s: str) -> datetime:
    return datetime.fromisoformat(s).astimezone(JST)


@lru_cache(maxsize=64)
def _holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("JP", years=year)


def is_business_day(d: date) -> bool:
    if d.weekday() >= 5:
        return False
    if (d.month == 12 and d.day >= 29) or (d.month == 1 and d.day <= 3):
        return False
    return d not in _holidays(d.year)


def add_business_days(start: date, days: int) -> date:
    """The date ``days`` business days after ``start`` (``start`` itself does not count)."""
    d = start
    left = days
    while left > 0:
        d += timedelta(days=1)
        if is_business_day(d):
            left -= 1
    return d


def business_days_between(start: date, end: date) -> int:
    """Business days after ``start`` up to and including ``end`` (0 when end <= start)."""
    n = 0
    d = start
    while d < end:
        d += timedelta(days=1)
        if is_business_day(d):
            n += 1
    return n
