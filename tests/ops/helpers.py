"""Helpers for the operations tests: a settable clock and raw-row snapshots for comparisons."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

from meyasubako.clock import JST


class FakeClock:
    """A clock tests move by hand (the workflow's ``now`` is injectable)."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.t = start or dt.datetime(2026, 4, 1, 10, 0, tzinfo=JST)

    def __call__(self) -> dt.datetime:
        return self.t

    def advance(self, **kw: float) -> None:
        self.t += dt.timedelta(**kw)


def rows(db: Path, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


def table(db: Path, name: str, key: str = "rowid") -> dict[Any, dict[str, Any]]:
    """Every row of a table, keyed by ``key`` (rowid by default, which every ordinary table has)."""
    out = {}
    for r in rows(db, f"SELECT rowid AS _rowid, * FROM {name}"):
        k = r.pop("_rowid") if key == "rowid" else r[key]
        r.pop("_rowid", None)
        out[k] = r
    return out


def execute(db: Path, *statements: str, fk: bool = True) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute(f"PRAGMA foreign_keys = {'ON' if fk else 'OFF'}")
        for s in statements:
            conn.execute(s)
    finally:
        conn.close()
