"""A closed-loop HTTP load generator that runs in its own process.

    python bench/loadgen.py --url http://127.0.0.1:8080 --mode get --paths / --concurrency 100 --requests 5000

Modes:
  get      GET the given paths round-robin.
  form     the web form as residents use it: each connection is one browser session that opens
           /submit once (CSRF token bound to its cookie) and then POSTs submissions with a fresh
           form_id each; the timed request is the POST, whose 303 is the acknowledgement.
  post     POST a form-encoded body shaped like a web-form submission to the first path (baseline).
  webhook  POST signed LINE webhook bodies (one text message event each, unique webhookEventId)
           to /line/webhook; needs --channel-secret.

``--url`` may list several servers (comma-separated): connection ``i`` talks to server ``i mod n``
(round-robin per connection, as a load balancer with keep-alive would pin it).
``--record FILE`` writes what identifies each acknowledged request, one per line, so that the
caller can check from outside that every acknowledgement is stored: for ``form`` the submission's
idempotency key (``web:`` + sha256(CSRF token + form_id), as handlers/public.py derives it from
the form), for ``webhook`` the ``webhookEventId``. Warm-up requests are recorded too (they are stored).

Prints one JSON object: requests, ok, statuses, errors, elapsed_s, rps, p50_ms, p90_ms, p99_ms, max_ms.
It is pure Python (aiohttp) so that CI and laptops need nothing extra; the baseline server is
measured with this same client in the same run, so the client's own cost is in both numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import FormSession, line_body, line_signature, line_text_event  # noqa: E402

TEXTS = [
    "家の前の市道に大きな穴があいていて、自転車で通ると危ないです。早めに補修してください。",
    "公園の遊具が壊れていて子どもがけがをしそうです。点検をお願いします。",
    "ごみ収集車が来る時間が毎週ばらばらで困っています。決まった時間にしてほしいです。",
    "駅前の放置自転車が多く、歩道を車いすで通れません。撤去してください。",
    "図書館の開館時間を夜9時まで延ばしてほしいです。仕事帰りに寄れません。",
    "保育園の入園申込みの書類が分かりにくいです。記入例をホームページに載せてください。",
    "夜になると街灯が消えたままの道があり、暗くて怖いです。修理をお願いします。",
    "市民プールの更衣室が古く、シャワーのお湯が出ないことがあります。",
]


def percentile(sorted_ms: list[float], p: float) -> float:
    if not sorted_ms:
        return float("nan")
    k = min(len(sorted_ms) - 1, max(0, int(round(p / 100 * len(sorted_ms) + 0.5)) - 1))
    return sorted_ms[k]


class Run:
    def __init__(self, total: int, duration: float | None) -> None:
        self.total = total
        self.duration = duration
        self.issued = 0
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.deadline = 0.0
        self.acked: list[str] = []  # identifiers of acknowledged requests (see --record)

    def take(self) -> int | None:
        if self.duration is not None:
            if time.perf_counter() >= self.deadline:
                return None
        elif self.issued >= self.total:
            return None
        self.issued += 1
        return self.issued


async def _timed(run: Run, coro_fn: Any) -> int | None:
    t0 = time.perf_counter()
    try:
        status = await coro_fn()
    except (TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
        run.errors[type(exc).__name__] += 1
        return None
    run.latencies.append((time.perf_counter() - t0) * 1000)
    run.statuses[status] += 1
    return status


async def worker_get(run: Run, http: aiohttp.ClientSession, base: str, paths: list[str], wid: int,
                     pos: list[int] | None = None) -> None:
    """GET paths in turn from ``wid`` on, or, with ``pos`` (--spread), from this worker's own place
    in the list, kept from the warm-up to the timed run (so no path is asked for twice until the
    list is used up: every request a first view)."""
    i = pos[wid] if pos is not None else wid
    while run.take() is not None:
        path = paths[i % len(paths)]
        i += 1
        if pos is not None:
            pos[wid] = i

        async def go(path: str = path) -> int:
            async with http.get(base + path, allow_redirects=False) as resp:
                await resp.read()
                return resp.status

        await _timed(run, go)


async def worker_post(run: Run, http: aiohttp.ClientSession, base: str, path: str, wid: int) -> None:
    while (n := run.take()) is not None:
        data = {"csrf_token": "x" * 43, "form_id": f"{wid:016x}{n:016x}", "text": f"{TEXTS[n % len(TEXTS)]}（{wid}-{n}）",
                "consent": "yes", "place": "", "contact": ""}

        async def go(data: dict[str, str] = data) -> int:
            async with http.post(base + path, data=data, allow_redirects=False) as resp:
                await resp.read()
                return resp.status

        await _timed(run, go)


async def worker_form(run: Run, http: aiohttp.ClientSession, base: str, wid: int) -> None:
    browser = FormSession(http, base)
    try:
        await browser.open()
    except (aiohttp.ClientError, RuntimeError) as exc:
        run.errors[type(exc).__name__] += 1
        return
    while (n := run.take()) is not None:
        text = f"{TEXTS[n % len(TEXTS)]}（{wid}-{n}）"
        form_id = uuid.uuid4().hex

        async def go(text: str = text, form_id: str = form_id) -> int:
            return (await browser.post(text, consent="yes" if n % 3 else "no", form_id=form_id)).status

        if await _timed(run, go) == 303:
            run.acked.append("web:" + hashlib.sha256((browser.csrf + form_id).encode()).hexdigest()[:32])


async def worker_webhook(run: Run, http: aiohttp.ClientSession, base: str, secret: str, wid: int) -> None:
    user = f"U{wid:032x}"
    while (n := run.take()) is not None:
        event = line_text_event(f"{TEXTS[n % len(TEXTS)]}（{wid}-{n}）", user_id=user)
        body = line_body([event])
        headers = {"X-Line-Signature": line_signature(secret, body), "Content-Type": "application/json"}

        async def go(body: bytes = body, headers: dict[str, str] = headers) -> int:
            async with http.post(base + "/line/webhook", data=body, headers=headers) as resp:
                await resp.read()
                return resp.status

        if await _timed(run, go) == 200:
            run.acked.append(str(event["webhookEventId"]))


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=args.concurrency, limit_per_host=args.concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                     cookie_jar=aiohttp.DummyCookieJar()) as http:
        paths = args.paths.split(",") if args.paths else ["/"]
        if args.paths_file:
            paths = [p for p in Path(args.paths_file).read_text().splitlines() if p]

        urls = [u for u in args.url.split(",") if u]
        # --spread: worker w starts at w/n of the list and walks its own stripe.
        pos = [w * len(paths) // args.concurrency for w in range(args.concurrency)] if args.spread else None

        def workers(run: Run) -> list[Any]:
            n = args.concurrency
            if args.mode == "get":
                return [worker_get(run, http, urls[w % len(urls)], paths, w, pos) for w in range(n)]
            if args.mode == "post":
                return [worker_post(run, http, urls[w % len(urls)], paths[0], w) for w in range(n)]
            if args.mode == "form":
                return [worker_form(run, http, urls[w % len(urls)], w) for w in range(n)]
            return [worker_webhook(run, http, urls[w % len(urls)], args.channel_secret, w) for w in range(n)]

        warm = Run(args.warmup, None)
        if args.warmup:
            await asyncio.gather(*workers(warm))
        run = Run(args.requests, args.duration)
        t0 = time.perf_counter()
        run.deadline = t0 + (args.duration or 0)
        await asyncio.gather(*workers(run))
        elapsed = time.perf_counter() - t0
    if args.record:
        Path(args.record).write_text("".join(a + "\n" for a in warm.acked + run.acked))
    lat = sorted(run.latencies)
    ok = sum(c for s, c in run.statuses.items() if 200 <= s < 400)
    return {
        "mode": args.mode, "concurrency": args.concurrency, "requests": len(lat), "ok": ok,
        "statuses": {str(k): v for k, v in sorted(run.statuses.items())}, "errors": dict(run.errors),
        "warmup_statuses": {str(k): v for k, v in sorted(warm.statuses.items())},
        "elapsed_s": round(elapsed, 3), "rps": round(len(lat) / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(percentile(lat, 50), 2), "p90_ms": round(percentile(lat, 90), 2),
        "p99_ms": round(percentile(lat, 99), 2), "max_ms": round(lat[-1], 2) if lat else float("nan"),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", required=True, help="base URL, or several comma-separated (round-robin per connection)")
    p.add_argument("--mode", choices=["get", "post", "form", "webhook"], default="get")
    p.add_argument("--paths", default="/", help="comma-separated paths for --mode get")
    p.add_argument("--paths-file", help="one path per line (for --mode get)")
    p.add_argument("--spread", action="store_true",
                   help="each connection walks its own stripe of the paths (no path twice until all are used)")
    p.add_argument("--concurrency", type=int, default=100)
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--duration", type=float, help="run for this many seconds instead of --requests")
    p.add_argument("--warmup", type=int, default=0, help="untimed requests first")
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--channel-secret", default="", help="LINE channel secret for --mode webhook")
    p.add_argument("--record", help="write the identifiers of acknowledged form posts / webhook events here")
    args = p.parse_args(argv)
    if args.mode == "webhook" and not args.channel_secret:
        p.error("--mode webhook needs --channel-secret")
    print(json.dumps(asyncio.run(main_async(args))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
