"""Transparency figures: per month and section, counts and the median days to answer.

Counts only, never text. Each submission belongs to the month it was RECEIVED in (a cohort), so a
row reads "of the N received in November, A were answered, P published, C closed without
publication (by reason), and O are still being handled". Days to answer are calendar days from
the date of receipt to the date of the answer (JST). One grouped query returns a histogram of
days per (month, section), so medians of any merge (a month over all sections, a section over a
year) are exact without sending one row per submission out of SQLite.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import aiosqlite

from meyasubako.domain import CLOSE_REASONS
from storage.dialect import days_between, is_pg

UNASSIGNED = ""  # the section key of items not yet assigned to a section


@dataclass
class StatsRow:
    month: str  # 'YYYY-MM' ('' for a merged row spanning months)
    section: str  # section id, UNASSIGNED, or '' in a merged row spanning sections
    received: int = 0
    answered: int = 0
    published: int = 0
    closed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLOSE_REASONS, 0))
    in_progress: int = 0
    days: Counter[int] = field(default_factory=Counter)  # days to answer -> how many

    @property
    def closed_total(self) -> int:
        return sum(self.closed.values())

    @property
    def median_days(self) -> float | None:
        n = sum(self.days.values())
        if n == 0:
            return None
        lo, hi = (n - 1) // 2, n // 2  # 0-based ranks of the middle one(s)
        seen = 0
        lo_v = hi_v = None
        for d in sorted(self.days):
            seen += self.days[d]
            if lo_v is None and seen > lo:
                lo_v = d
            if seen > hi:
                hi_v = d
                break
        assert lo_v is not None and hi_v is not None
        return (lo_v + hi_v) / 2

    def add(self, other: StatsRow) -> None:
        self.received += other.received
        self.answered += other.answered
        self.published += other.published
        self.in_progress += other.in_progress
        for k, v in other.closed.items():
            self.closed[k] = self.closed.get(k, 0) + v
        self.days.update(other.days)


def merged(rows: Iterable[StatsRow], *, month: str = "", section: str = "") -> StatsRow:
    total = StatsRow(month, section)
    for r in rows:
        total.add(r)
    return total


def _query(conn: Any) -> str:
    return f"""
SELECT substr(received_at, 1, 7) AS month, COALESCE(section, '') AS section, status, close_reason,
       {days_between(conn, "answered_at", "received_at")} AS days,
       COUNT(*) AS n
FROM submissions{"" if is_pg(conn) else " INDEXED BY submissions_stats"}
WHERE received_at >= ? AND received_at < ?
GROUP BY 1, 2, 3, 4, 5
"""


async def monthly(conn: aiosqlite.Connection, start: str, end: str) -> dict[tuple[str, str], StatsRow]:
    """Rows keyed by (month, section) for items received in [start, end) ('YYYY-MM' bounds)."""
    rows: dict[tuple[str, str], StatsRow] = {}
    async with conn.execute(_query(conn), (start, end)) as cur:
        async for r in cur:
            key = (r["month"], r["section"])
            row = rows.get(key)
            if row is None:
                row = rows[key] = StatsRow(*key)
            n = int(r["n"])
            row.received += n
            if r["days"] is not None:
                row.answered += n
                row.days[max(0, int(r["days"]))] += n
            status = r["status"]
            if status == "published":
                row.published += n
            elif status == "closed":
                reason = r["close_reason"] if r["close_reason"] in CLOSE_REASONS else "other"
                row.closed[reason] = row.closed.get(reason, 0) + n
            else:
                row.in_progress += n
    return rows
