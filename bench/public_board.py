"""Public side at scale: fill a database with N published items and time the public queries.

    /work/venv/bin/python bench/public_board.py [--n 100000] [--db /tmp/bench-public.sqlite3]

Seeding writes rows directly (the workflow's NLP would take minutes for 100k items); every timed
query goes through storage/public.py and storage/public_stats.py exactly as the handlers call them.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path

from meyasubako.catalog import load_sections
from storage import public, public_stats
from storage import sections as sections_db
from storage.db import Database

WORDS = ("ごみ 道路 公園 ベンチ 街灯 図書館 保育園 バス 自転車 駐輪場 騒音 落書き 歩道 信号 側溝 草刈り "
         "防犯 カメラ 学校 給食 税 窓口 手続き 国保 年金 介護 健診 予防接種 避難所 防災 河川 橋").split()


async def seed(db: Database, n: int) -> None:
    catalog = load_sections()
    ids = [s["id"] for s in catalog]

    async def sections_job(conn):  # type: ignore[no-untyped-def]
        await sections_db.seed(conn, catalog)

    await db.write(sections_job)
    # Index what the workflow would index: the analyzer's normalized terms of each word.
    from nlp import Analyzer

    analyzer = Analyzer(catalog)
    norm = {w: analyzer.terms(w) for w in WORDS}
    rnd = random.Random(7)
    batch = 5000
    for start in range(0, n, batch):

        async def job(conn, start=start):  # type: ignore[no-untyped-def]
            for i in range(start, min(n, start + batch)):
                month = 1 + i * 12 // n
                day = 1 + i % 28
                recv = f"2026-{month:02d}-{day:02d}T09:00:00+09:00"
                ans = f"2026-{month:02d}-{min(28, day + rnd.randint(1, 20)) if day < 28 else 28:02d}T10:00:00+09:00"
                words = rnd.sample(WORDS, 4)
                status = "published" if i % 10 else rnd.choice(["closed", "routed"])
                cur = await conn.execute(
                    "INSERT INTO submissions (receipt_no, channel, text, consent, status, section, public_summary,"
                    " close_reason, status_token_hash, received_at, updated_at, due_at, answered_at, published_at)"
                    " VALUES (?, 'web', 'x', 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (f"2026-{i + 1:06d}", status, rnd.choice(ids), "、".join(words) + "について",
                     "private" if status == "closed" else None, f"h{i}", recv, recv,
                     f"2026-{month:02d}-28", ans, ans if status == "published" else None),
                )
                sid = cur.lastrowid
                await conn.execute(
                    "INSERT INTO answers (submission_id, body, state, author, created_at, updated_at)"
                    " VALUES (?, ?, 'approved', 'bench', ?, ?)", (sid, "対応します。", ans, ans))
                if status == "published":
                    terms = [t for w in words for t in norm[w]]
                    await conn.execute("INSERT INTO public_fts (rowid, terms) VALUES (?, ?)", (sid, " ".join(terms)))

        await db.write(job)


async def timed(label: str, coro) -> object:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    result = await coro
    print(f"{label:48s} {1000 * (time.perf_counter() - t):8.1f} ms")
    return result


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--db", default="/tmp/bench-public.sqlite3")
    args = ap.parse_args()
    path = Path(args.db)
    fresh = not path.exists()
    db = Database(path)
    await db.open()
    if fresh:
        t = time.perf_counter()
        await seed(db, args.n)
        print(f"seeded {args.n} items in {time.perf_counter() - t:.1f} s")
    F = public.PublicFilter
    async with db.read() as conn:
        await timed("board page 1", public.search(conn, F()))
        await timed("board page 2000", public.search(conn, F(), offset=2000 * 20))
        await timed("board section", public.search(conn, F(section="road")))
        await timed("board month", public.search(conn, F(received_month="2026-06")))
        await timed("board search common word", public.search(conn, F(terms=["ゴミ"])))
        await timed("board search two words", public.search(conn, F(terms=["ゴミ", "公園"])))
        await timed("board search + section + month",
                    public.search(conn, F(terms=["ゴミ"], section="road", received_month="2026-06")))
        await timed("board late answers", public.search(conn, F(timeliness="late")))
        await timed("item page", public.get(conn, "2026-050001"))
        await timed("first month", public.first_received_month(conn))
        rows = await timed("stats one year", public_stats.monthly(conn, "2026-01", "2027-01"))
        print(f"  ({len(rows)} month x section rows, median of all: {public_stats.merged(rows.values()).median_days})")

        async def walk() -> int:
            n = 0
            last = 0
            while batch := await public.published_after(conn, last):
                n += len(batch)
                last = batch[-1].id
            return n

        n = await timed("open data: iterate all published", walk())
        print(f"  ({n} items)")
    await db.close()




async def rebuild(path: str) -> None:
    """Start-up rebuild of the public similarity index from storage (meyasubako.related)."""
    from meyasubako import keys
    from meyasubako.nlp_service import NlpService
    from meyasubako.related import _rebuild

    db = Database(path)
    await db.open()
    nlp = NlpService(load_sections())
    t = time.perf_counter()
    n = await _rebuild({keys.DB: db, keys.NLP: nlp})  # type: ignore[arg-type]
    print(f"{'rebuild public similarity index':48s} {1000 * (time.perf_counter() - t):8.1f} ms  ({n} items)")
    t = time.perf_counter()
    await nlp.similar_to("public", ["ごみ", "公園", "ベンチ"], k=5)
    print(f"{'related items query':48s} {1000 * (time.perf_counter() - t):8.1f} ms")
    nlp.close()
    await db.close()


if __name__ == "__main__":
    asyncio.run(main())
    asyncio.run(rebuild(sys.argv[sys.argv.index("--db") + 1] if "--db" in sys.argv else "/tmp/bench-public.sqlite3"))
