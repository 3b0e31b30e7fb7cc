"""Prepare a database with N published items (masked 要旨 + approved answer + public search terms).

    python bench/seed.py --db /tmp/board.sqlite3 --items 100000

The schema comes from the real migrations (``Database.open``) and the section catalog from the real
seed; the rows are then written with ``executemany`` in one transaction, which takes seconds
instead of the hours that 100k trips through the admin site would. Terms for public search are
produced by the real analyzer, so that ``/?q=…`` finds what it would find in production.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from meyasubako.catalog import load_sections  # noqa: E402
from nlp import Analyzer  # noqa: E402
from storage import sections as sections_db  # noqa: E402
from storage.db import Database  # noqa: E402

YEAR = 2025
TOWNS = ["桜町", "若葉台", "緑が丘", "本町", "旭町", "栄町", "東山", "西原", "南台", "北野", "中央", "港町",
         "青葉", "松原", "竹の塚", "梅田", "宮前", "新田", "大野", "川口"]
ITEMS = [  # (section, 要旨, answer)
    ("road", "{town}の市道に穴があいていて危ないので補修してほしい。", "現地を確認し、補修工事を行いました。"),
    ("park", "{town}公園の遊具が壊れているので直してほしい。", "遊具を点検し、部品を交換しました。"),
    ("waste", "{town}のごみ収集の時間を決まった時刻にしてほしい。", "収集順路を見直し、時刻が安定するよう改善します。"),
    ("road", "{town}駅前の放置自転車を撤去してほしい。", "放置自転車の撤去を毎週実施しています。"),
    ("education", "{town}図書館の開館時間を延ばしてほしい。", "来年度から平日は午後8時まで開館します。"),
    ("childcare", "保育園の入園申込みの書類を分かりやすくしてほしい。", "記入例をホームページに掲載しました。"),
    ("road", "{town}の街灯が消えているので修理してほしい。", "街灯の電球を交換しました。"),
    ("facilities", "市民プールのシャワーのお湯が出ないことがある。", "給湯設備を修理しました。"),
]
SEARCH_WORDS = ["公園", "自転車", "図書館", "街灯"]


def _terms(analyzer: Analyzer) -> dict[tuple[int, str], str]:
    out = {}
    for i, (_, summary, answer) in enumerate(ITEMS):
        for town in TOWNS:
            text = summary.format(town=town) + "\n" + answer
            out[(i, town)] = " ".join(analyzer.terms(text))
    return out


async def _schema(db_path: Path) -> None:
    db = Database(db_path)
    await db.open()
    catalog = load_sections()

    async def seed(conn):  # type: ignore[no-untyped-def]
        await sections_db.seed(conn, catalog)

    await db.write(seed)
    await db.close()


def seed(db_path: Path, items: int, *, seed_value: int = 7) -> list[str]:
    """Create the database and return the receipt numbers of the published items."""
    asyncio.run(_schema(db_path))
    terms = _terms(Analyzer(load_sections()))
    rng = random.Random(seed_value)
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("BEGIN")
    subs, answers, fts, events, receipts = [], [], [], [], []
    for n in range(1, items + 1):
        kind = rng.randrange(len(ITEMS))
        town = rng.choice(TOWNS)
        section, summary, answer = ITEMS[kind]
        summary = summary.format(town=town)
        day = 1 + (n * 365 // (items + 1))
        at = f"{YEAR}-{1 + (day - 1) // 31 % 12:02d}-{1 + (day - 1) % 28:02d}T09:{n % 60:02d}:00+09:00"
        receipt = f"{YEAR}-{n:06d}"
        receipts.append(receipt)
        token = hashlib.sha256(f"seed-{n}".encode()).hexdigest()
        subs.append((n, receipt, "web", summary + "（原文）", 1, "published", section, section, summary, token, at, at, at, at))
        answers.append((n, answer, "approved", "user:seed", "user:seed", at, at))
        fts.append((n, terms[(kind, town)]))
        events.append((n, at, "user:seed", "publish", "approved", "published"))
    conn.executemany(
        "INSERT INTO submissions (id, receipt_no, channel, text, consent, status, section, suggested_section,"
        " public_summary, status_token_hash, received_at, updated_at, answered_at, published_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", subs)
    conn.executemany(
        "INSERT INTO answers (submission_id, body, state, author, approver, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)", answers)
    conn.executemany("INSERT INTO public_fts (rowid, terms) VALUES (?, ?)", fts)
    conn.executemany("INSERT INTO events (submission_id, at, actor, action, from_status, to_status)"
                     " VALUES (?, ?, ?, ?, ?, ?)", events)
    conn.execute("INSERT INTO receipt_counters (year, last) VALUES (?, ?) ON CONFLICT (year) DO UPDATE"
                 " SET last = excluded.last", (YEAR, items))
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("ANALYZE")
    conn.close()
    return receipts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", required=True, type=Path)
    p.add_argument("--items", type=int, default=100_000)
    args = p.parse_args(argv)
    if args.db.exists():
        p.error(f"{args.db} exists; seed a new file")
    t0 = time.perf_counter()
    seed(args.db, args.items)
    print(f"seeded {args.items} published items into {args.db} in {time.perf_counter() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
