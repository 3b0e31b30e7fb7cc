"""Memory over a long run: RSS of the ``serve`` process before and after 100k requests.

    python bench/bench_memory.py [--requests 100000] [--items 10000]

The mix is what a busy day looks like: notice-board pages and searches, item pages, form pages
(each a fresh session), private status links that do not exist, and web-form submissions
(10%). RSS is read from /proc/PID/status after a warm-up and after every fifth of the run, so a
leak shows as a slope rather than as one number. The baseline server's RSS over the same number
of requests is measured in the same run for comparison.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import baseline_server, emit, loadgen, machine, table  # noqa: E402
from bench.harness import ROOT, Server, db_rows  # noqa: E402
from bench.seed import SEARCH_WORDS, seed  # noqa: E402

SLICES = 5
# RSS may grow with caches that are bounded (SQLite page cache per connection, Jinja's template
# cache): allow a fixed margin per read phase after the first, fail on anything that keeps growing.
LEAK_SLOPE_KB = 2048


def _paths(receipts: list[str], n: int = 5000) -> list[str]:
    rng = random.Random(3)
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.3:
            out.append(f"/?page={rng.randint(1, 50)}")
        elif r < 0.55:
            out.append(f"/voices/{rng.choice(receipts)}")
        elif r < 0.7:
            out.append(f"/?q={rng.choice(SEARCH_WORDS)}")
        elif r < 0.85:
            out.append("/submit")
        elif r < 0.95:
            out.append(f"/status/{rng.getrandbits(128):032x}")
        else:
            out.append(f"/voices/2099-{rng.randint(0, 999_999):06d}")
    return out


def run(requests: int, items: int, concurrency: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(dir=ROOT / "bench") as d:
        tmp = Path(d)
        db = tmp / "memory.sqlite3"
        receipts = seed(db, items)
        (tmp / "paths.txt").write_text("\n".join(_paths(receipts)))
        per_slice = requests // SLICES
        gets, posts = int(per_slice * 0.9), per_slice - int(per_slice * 0.9)
        res: dict[str, Any] = {"samples": [], "baseline": []}
        with baseline_server(tmp) as base:
            loadgen(base.url, concurrency=concurrency, requests=2000)
            res["baseline"].append(base.rss_kb())
            loadgen(base.url, concurrency=concurrency, requests=requests)
            res["baseline"].append(base.rss_kb())
        with Server(db, log=tmp / "serve.log") as srv:
            # The first start computes every item's related-items list in the background: measure after.
            srv.wait_for_log("event=related_lists_ready")
            loadgen(srv.url, concurrency=concurrency, requests=2000, extra=["--paths-file", str(tmp / "paths.txt")])
            loadgen(srv.url, mode="form", concurrency=concurrency, requests=200)
            res["samples"].append((0, srv.rss_kb()))
            errors = 0
            for i in range(SLICES):
                before = srv.rss_kb()
                g = loadgen(srv.url, concurrency=concurrency, requests=gets,
                            extra=["--paths-file", str(tmp / "paths.txt")])
                after_reads = srv.rss_kb()
                f = loadgen(srv.url, mode="form", concurrency=concurrency, requests=posts)
                res.setdefault("read_slices", []).append(after_reads - before)
                res["reads_delta"] = res.get("reads_delta", 0) + after_reads - before
                res["posts_delta"] = res.get("posts_delta", 0) + srv.rss_kb() - after_reads
                res["posts"] = res.get("posts", 0) + f["statuses"].get("303", 0)
                errors += sum(g["errors"].values()) + sum(f["errors"].values())
                errors += sum(v for k, v in {**g["statuses"]}.items() if k.startswith("5"))
                errors += sum(v for k, v in f["statuses"].items() if k != "303")
                res["samples"].append(((i + 1) * per_slice, srv.rss_kb()))
            res["errors"] = errors
            res["stored"] = db_rows(db, "SELECT COUNT(*) FROM submissions WHERE channel = 'web'")[0][0]
    return res


def report(res: dict[str, Any], requests: int) -> tuple[str, bool]:
    samples = res["samples"]
    rows = [[f"{n:,}", kb / 1024, (kb - samples[0][1]) / 1024] for n, kb in samples]
    slopes = res["read_slices"]
    # Reads must not grow memory once caches are warm; stored submissions may (the similarity index).
    flat = sum(slopes[1:]) <= LEAK_SLOPE_KB * (len(slopes) - 1)
    b0, b1 = res["baseline"]
    text = table(f"Memory: serve RSS over {requests:,} requests (90% reads, 10% form posts)",
                 ["requests done", "RSS MiB", "Δ from start MiB"], rows)
    text += (f"\n\nbaseline server RSS: {b0 / 1024:.1f} MiB → {b1 / 1024:.1f} MiB after {requests:,} requests"
             f"\nRSS change during each read phase: {[round(s / 1024, 2) for s in slopes]} MiB → "
             f"{'flat' if flat else 'GROWING'}; errors (5xx, non-303 posts, connection errors): {res['errors']};"
             f" web submissions stored: {res['stored']}"
             f"\ngrowth during read phases: {res['reads_delta'] / 1024:.2f} MiB over {requests * 9 // 10:,} reads;"
             f" during post phases: {res['posts_delta'] / 1024:.2f} MiB over {res['posts']:,} stored submissions"
             f" ({res['posts_delta'] / max(1, res['posts']):.1f} KiB each: the in-memory similarity index grows with"
             " the data, by design)")
    return text, flat and res["errors"] == 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=100_000)
    p.add_argument("--items", type=int, default=10_000)
    p.add_argument("--concurrency", type=int, default=50)
    p.add_argument("--quick", action="store_true", help="10k requests over 1k items")
    args = p.parse_args(argv)
    if args.quick:
        args.requests, args.items = 10_000, 1000
    emit(f"machine: {machine()}")
    text, ok = report(run(args.requests, args.items, args.concurrency), args.requests)
    emit(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
