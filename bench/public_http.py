"""The public pages over HTTP against the database that bench/public_board.py filled (100k items).

    /work/venv/bin/python bench/public_board.py          # once, fills /tmp/bench-public.sqlite3
    /work/venv/bin/python bench/public_http.py [DB]
"""

from __future__ import annotations

import asyncio
import sys
import time

from aiohttp.test_utils import TestClient, TestServer

from meyasubako.app import create_app
from meyasubako.related import PUBLIC_INDEX_READY
from meyasubako.settings import Settings

URLS = [
    "/", "/?page=2000", "/?q=ごみ", "/?q=ごみ 公園&section=road", "/?month=2026-06", "/?status=late",
    "/voices/2026-050002", "/voices/2026-050002", "/stats", "/stats", "/feed.atom",
    "/open311/v2/requests.json?start_date=2026-06-01T00:00:00%2B09:00&end_date=2026-06-30T00:00:00%2B09:00",
    "/opendata/voices.csv", "/opendata/voices.json",
]


async def main(db: str) -> None:
    app = create_app(Settings(db=db, secret_key="bench-secret-key-0123456789", rate_limit=0))
    async with TestClient(TestServer(app)) as c:
        t = time.perf_counter()
        await app[PUBLIC_INDEX_READY].wait()
        print(f"public similarity index ready {time.perf_counter() - t:.1f} s after start")
        for u in URLS:
            t = time.perf_counter()
            r = await c.get(u)
            body = await r.read()
            print(f"{u[:60]:60s} {r.status} {1000 * (time.perf_counter() - t):8.1f} ms {len(body):>10} bytes")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/bench-public.sqlite3"))
