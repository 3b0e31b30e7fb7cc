"""Writes: what the group-commit writer costs per stored submission, against bare SQLite loops.

    python bench/bench_writes.py [--items 2000] [--concurrency 100]

Rows, all measured in this run on the same disk, WAL mode, synchronous=FULL:
  * meyasubako, N concurrent ``Workflow.receive`` calls (analysis, receipt number, insert, FTS row,
    two audit events, auto-routing) through ``Database.write``: the writer groups whatever is
    queued into one transaction, so a burst costs few commits (= fsyncs);
  * the same, one caller at a time (every submission is its own commit);
  * a bare ``sqlite3`` loop inserting the same rows' text into the same table, one commit per row;
  * the bare loop with one commit for everything (the lower bound on cost per row).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import emit, machine, table  # noqa: E402
from bench.loadgen import TEXTS  # noqa: E402
from meyasubako.catalog import load_sections  # noqa: E402
from meyasubako.domain import Channel, NewSubmission  # noqa: E402
from meyasubako.nlp_service import NlpService  # noqa: E402
from meyasubako.workflow import Workflow  # noqa: E402
from storage import sections as sections_db  # noqa: E402
from storage.db import Database  # noqa: E402


async def _meyasubako(path: Path, nlp: NlpService, items: int, concurrency: int) -> tuple[float, int, int]:
    db = Database(path)
    await db.open()
    catalog = load_sections()

    async def seed(conn):  # type: ignore[no-untyped-def]
        await sections_db.seed(conn, catalog)

    await db.write(seed)
    wf = Workflow(db, nlp, sections={s["id"]: 10 for s in catalog})
    commits0 = db.commits
    queue = list(range(items))

    async def worker() -> None:
        while queue:
            n = queue.pop()
            await wf.receive(NewSubmission(channel=Channel.WEB, text=f"{TEXTS[n % len(TEXTS)]}（{n}）", consent=True,
                                           client_key=f"bench:{n}"))

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    commits = db.commits - commits0
    await db.close()
    conn = sqlite3.connect(path)
    stored = conn.execute("SELECT COUNT(*) FROM submissions").fetchone()[0]
    conn.close()
    return elapsed, commits, stored


def _bare(path: Path, items: int, *, per_row_commit: bool) -> tuple[float, int, int]:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE IF NOT EXISTS submissions (id INTEGER PRIMARY KEY, receipt_no TEXT UNIQUE, text TEXT,"
                 " status TEXT, received_at TEXT)")
    sql = "INSERT INTO submissions (receipt_no, text, status, received_at) VALUES (?, ?, 'received', ?)"
    commits = 0
    t0 = time.perf_counter()
    if not per_row_commit:
        conn.execute("BEGIN")
    for n in range(items):
        if per_row_commit:
            conn.execute("BEGIN")
        conn.execute(sql, (f"2026-{n:06d}", f"{TEXTS[n % len(TEXTS)]}（{n}）", "2026-11-30T09:00:00+09:00"))
        if per_row_commit:
            conn.execute("COMMIT")
            commits += 1
    if not per_row_commit:
        conn.execute("COMMIT")
        commits += 1
    elapsed = time.perf_counter() - t0
    stored = conn.execute("SELECT COUNT(*) FROM submissions").fetchone()[0]
    conn.close()
    return elapsed, commits, stored


def run(items: int, concurrency: int) -> dict[str, dict[str, float]]:
    nlp = NlpService(load_sections())
    results: dict[str, dict[str, float]] = {}
    # the disk under the working directory, not a tmpfs: fsync must cost what it costs in production
    with tempfile.TemporaryDirectory(dir=Path(__file__).resolve().parent.parent) as d:
        tmp = Path(d)
        for name, fn in [
            (f"meyasubako Database.write, {concurrency} concurrent receive()",
             lambda: asyncio.run(_meyasubako(tmp / "a.sqlite3", nlp, items, concurrency))),
            ("meyasubako Database.write, 1 caller at a time",
             lambda: asyncio.run(_meyasubako(tmp / "b.sqlite3", nlp, max(50, items // 10), 1))),
            ("bare sqlite3 loop, one commit per row", lambda: _bare(tmp / "c.sqlite3", max(50, items // 10),
                                                                  per_row_commit=True)),
            ("bare sqlite3 loop, one commit for all", lambda: _bare(tmp / "d.sqlite3", items, per_row_commit=False)),
        ]:
            elapsed, commits, stored = fn()
            results[name] = {"items": stored, "commits": commits, "elapsed": elapsed,
                             "per_s": stored / elapsed, "us_per_item": elapsed / stored * 1e6}
    nlp.close()
    return results


def report(results: dict[str, dict[str, float]]) -> str:
    bare_row = next(v for k, v in results.items() if "per row" in k)
    rows = []
    for name, r in results.items():
        rows.append([name, int(r["items"]), int(r["commits"]), r["items"] / max(1, r["commits"]), r["per_s"],
                     r["us_per_item"], r["us_per_item"] / bare_row["us_per_item"]])
    return table("Writes: stored submissions, WAL + synchronous=FULL",
                 ["writer", "items", "commits", "items/commit", "items/s", "µs/item", "× bare per-row"], rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--items", type=int, default=5000)
    p.add_argument("--concurrency", type=int, default=100)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.items = 500
    emit(f"machine: {machine()}")
    emit(report(run(args.items, args.concurrency)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
