"""Scale-out (issue 8): the intake benchmark on SQLite, on PostgreSQL, and on two processes sharing PostgreSQL.

    python bench/bench_scale.py [--requests 3000] [--concurrency 100] [--no-line] [--quick]

In one run, with the same load generator (its own process, closed loop, 100 connections):

  baseline   the minimal aiohttp server (bench/baseline_server.py), same request shapes
  1× SQLite  one ``meyasubako serve`` on a SQLite file (WAL, synchronous=FULL)
  1× PG      one ``serve`` with ``--db postgresql://...`` on a throwaway cluster started by
             tests/pg_cluster.py with ``durable=True`` (fsync on, synchronous_commit on: every
             acknowledged commit is on disk, like SQLite's synchronous=FULL)
  2× PG      two ``serve`` processes on the same PostgreSQL database; the load generator gives
             connection i to process i mod 2 (round-robin per connection). A real deployment puts
             nginx (or another load balancer) in front; here the client does the spreading, so no
             proxy hop is measured.
  2× nginx   with ``--nginx`` (nginx on PATH): the same two processes behind a local nginx
             (bench/nginx_front.py), round-robin per request, so a session's requests cross processes.

Two intakes: the web form (GET /submit once per connection, then POSTs whose 303 is the
acknowledgement) and, unless ``--no-line``, signed LINE webhook events (the 200 is the
acknowledgement; processing and replies through the LINE double drain afterwards).

Correctness, read from outside the servers after a graceful stop (sqlite3 for the file, asyncpg for
PostgreSQL): every acknowledged form post's idempotency key is stored exactly once, analysed and
routed, and receipt numbers are unique across both processes; every acknowledged LINE event is in
``line_inbox`` exactly once and processed. The serve logs are scanned for 5xx answers, tracebacks,
errors and deadlocks. Exit 1 when a check fails. Without PostgreSQL installed (and no
MEYASUBAKO_TEST_PG), the PostgreSQL rows say "skipped" and the SQLite rows are still measured.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import baseline_server, emit, loadgen, machine, table  # noqa: E402
from bench.harness import ROOT, Server, db_rows, line_double_server, stop_all  # noqa: E402
from bench.nginx_front import Nginx  # noqa: E402
from bench.nginx_front import available as nginx_available  # noqa: E402
from tests.line_double import ACCESS_TOKEN as LINE_ACCESS_TOKEN  # noqa: E402
from tests.pg_cluster import Cluster, create_database  # noqa: E402

CHANNEL_SECRET = "bench-line-channel-secret-000000"
DRAIN_LIMIT_S = 300.0
# Log lines that mean the service misbehaved (the request log writes status=NNN for every answer).
_BAD = re.compile(r"status=5\d\d|Traceback|\bERROR\b|deadlock|Deadlock|CRITICAL")
_SLOW = re.compile(r"event=slow_write_job")


def _pg_rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    import asyncpg

    async def go() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(url)
        try:
            return [tuple(r) for r in await conn.fetch(sql)]
        finally:
            await conn.close()

    return asyncio.run(go())


class Setup:
    """One system under test: one or two serve processes on one database."""

    def __init__(self, name: str, db: str, servers: list[Server], front: Nginx | None = None) -> None:
        self.name = name
        self.db = db
        self.servers = servers
        self.front = front

    @property
    def urls(self) -> str:
        if self.front is not None:
            return self.front.url
        return ",".join(s.url for s in self.servers)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        if self.db.startswith("postgresql://"):
            return _pg_rows(self.db, sql)
        return db_rows(Path(self.db), sql)

    def log_findings(self) -> tuple[list[str], int]:
        bad: list[str] = []
        slow = 0
        for s in self.servers:
            for i, line in enumerate(s.log.read_text(errors="replace").splitlines(), 1):
                if _BAD.search(line):
                    bad.append(f"{s.log.name}:{i}: {line.strip()[:300]}")
                elif _SLOW.search(line):
                    slow += 1
        return bad, slow


def _ids(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def check_form(setup: Setup, acked: list[str]) -> dict[str, Any]:
    rows = setup.rows("SELECT client_key, receipt_no, suggested_section FROM submissions WHERE channel = 'web'")
    keys = Counter(r[0] for r in rows)
    receipts = Counter(r[1] for r in rows)
    return {
        "acked": len(acked), "acked_unique": len(set(acked)), "stored": len(rows),
        "processed": sum(1 for r in rows if r[2] is not None),
        "missing": sum(1 for k in set(acked) if keys[k] == 0),
        "stored_twice": sum(1 for k in set(acked) if keys[k] > 1),
        "receipts_unique": len(receipts) == len(rows),
    }


def check_line(setup: Setup, acked: list[str]) -> dict[str, Any]:
    rows = setup.rows("SELECT event_id, processed_at FROM line_inbox")
    ids = Counter(r[0] for r in rows)
    processed = {r[0] for r in rows if r[1] is not None}
    out = setup.rows("SELECT status, COUNT(*) FROM outbox GROUP BY status")
    return {
        "acked": len(acked), "acked_unique": len(set(acked)),
        "stored": sum(1 for k in set(acked) if ids[k] == 1),
        "missing": sum(1 for k in set(acked) if ids[k] == 0),
        "processed": sum(1 for k in set(acked) if k in processed),
        "outbox": dict(out),
    }


def form_ok(c: dict[str, Any], r: dict[str, Any]) -> bool:
    return (c["acked"] == c["acked_unique"] == c["stored"] == c["processed"] and not c["missing"]
            and not c["stored_twice"] and c["receipts_unique"] and not r["errors"]
            and set(r["statuses"]) <= {"303"})


def line_ok(c: dict[str, Any], r: dict[str, Any]) -> bool:
    return (c["acked"] == c["acked_unique"] == c["stored"] == c["processed"] and not c["missing"]
            and not r["errors"] and set(r["statuses"]) <= {"200"})


def _drain(setup: Setup, limit: float) -> float:
    """Wait until every stored LINE event is processed and no reply is pending; seconds it took."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        stored, processed = setup.rows("SELECT COUNT(*), COUNT(processed_at) FROM line_inbox")[0]
        pending = setup.rows("SELECT COUNT(*) FROM outbox WHERE status = 'pending'")[0][0]
        if processed >= stored and pending == 0:
            break
        time.sleep(0.5)
    return time.monotonic() - t0


def measure(setup: Setup, tmp: Path, args: argparse.Namespace, warm: int) -> dict[str, Any]:
    """Form, then (optionally) LINE, against running servers; checks after a graceful stop."""
    res: dict[str, Any] = {}
    rec = tmp / f"{setup.name}-form.acked"
    res["form"] = loadgen(setup.urls, mode="form", concurrency=args.concurrency, requests=args.requests,
                          warmup=warm, extra=["--record", str(rec)])
    if args.line:
        rec_l = tmp / f"{setup.name}-line.acked"
        res["line"] = loadgen(setup.urls, mode="webhook", concurrency=args.concurrency, requests=args.requests,
                              warmup=warm, channel_secret=CHANNEL_SECRET, extra=["--record", str(rec_l)])
        res["line"]["drain_s"] = _drain(setup, DRAIN_LIMIT_S)
    if setup.front is not None:
        setup.front.stop()
    codes = [s.stop(60) for s in setup.servers]  # graceful: finishes what is in flight
    res["exit_codes"] = codes
    res["form_check"] = check_form(setup, _ids(rec))
    if args.line:
        res["line_check"] = check_line(setup, _ids(tmp / f"{setup.name}-line.acked"))
    res["log_bad"], res["log_slow"] = setup.log_findings()
    return res


def _serve_env(tmp: Path, name: str, line_url: str | None) -> dict[str, str]:
    env = {"MEYASUBAKO_FILES_DIR": str(tmp / f"{name}-files")}  # never the repository's var/
    if line_url:
        env.update({"LINE_CHANNEL_SECRET": CHANNEL_SECRET, "LINE_CHANNEL_ACCESS_TOKEN": LINE_ACCESS_TOKEN,
                    "LINE_API_BASE": line_url})
    return env


def run(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"setups": {}}
    warm = max(100, args.requests // 10)
    with tempfile.TemporaryDirectory(dir=ROOT / "bench") as d:
        tmp = Path(d)
        with baseline_server(tmp) as base:
            out["baseline_form"] = loadgen(base.url, mode="post", paths=["/submit"], concurrency=args.concurrency,
                                           requests=args.requests, warmup=warm)
            if args.line:
                out["baseline_line"] = loadgen(base.url, mode="webhook", concurrency=args.concurrency,
                                               requests=args.requests, warmup=warm, channel_secret=CHANNEL_SECRET)
        line = line_double_server(tmp)
        servers: list[Server] = []
        fronts: list[Nginx] = []
        cluster: Cluster | None = None
        try:
            if args.line:
                line.start()
            line_url = line.url if args.line else None

            def start(name: str, db: str, n: int) -> Setup:
                procs = [Server(db, env=_serve_env(tmp, name, line_url), log=tmp / f"{name}-{i + 1}.log")
                         for i in range(n)]
                for p in procs:  # one after the other: the first applies the migrations
                    servers.append(p)
                    p.start(timeout=120)
                front = None
                if name.endswith("nginx"):
                    front = Nginx(tmp / name, [p.url for p in procs])
                    fronts.append(front)
                    front.start()
                return Setup(name, db, procs, front)

            plan: list[tuple[str, Callable[[], str], int]] = [("sqlite-1", lambda: str(tmp / "scale.sqlite3"), 1)]
            reason = Cluster.unavailable_reason()
            if reason is None:
                cluster = Cluster(durable=True)
                admin = cluster.start()
                pg_names = ["pg-1", "pg-2"] + (["pg-2-nginx"] if args.nginx else [])
                for name in pg_names:
                    asyncio.run(create_database(admin, "bench_" + name.replace("-", "_")))

                def pg_url(name: str) -> Callable[[], str]:
                    base_url = admin.rpartition("/")[0]
                    return lambda: f"{base_url}/bench_{name.replace('-', '_')}"

                plan += [(name, pg_url(name), 1 if name == "pg-1" else 2) for name in pg_names]
            else:
                out["pg_skipped"] = reason
            for name, db, n in plan:
                setup = start(name, db(), n)
                emit(f"({name}: measuring {', '.join(s.url for s in setup.servers)})")
                out["setups"][name] = measure(setup, tmp, args, warm)
                out["setups"][name]["log_dir"] = str(tmp)
                if args.keep_logs:
                    for s in setup.servers:
                        dest = Path(args.keep_logs) / s.log.name
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        dest.write_bytes(s.log.read_bytes())
        finally:
            for f in fronts:
                f.stop()
            stop_all(servers)
            stop_all([line])
            if cluster is not None:
                cluster.stop()
    return out


LABELS = {"sqlite-1": "1× serve, SQLite", "pg-1": "1× serve, PostgreSQL", "pg-2": "2× serve, one PostgreSQL",
          "pg-2-nginx": "2× serve behind nginx, one PostgreSQL"}


def report(res: dict[str, Any], args: argparse.Namespace) -> str:
    parts = []
    for kind, base_key, title in (("form", "baseline_form", "web form POST /submit → 303"),
                                  ("line", "baseline_line", "LINE webhook → 200")):
        if base_key not in res:
            continue
        base = res[base_key]
        sq = res["setups"].get("sqlite-1", {}).get(kind)
        rows: list[list[Any]] = [["baseline (aiohttp, no work)", base["rps"], base["p50_ms"], base["p99_ms"],
                                  "1.00", f"{base['rps'] / sq['rps']:.2f}" if sq else "", ""]]
        for name, label in LABELS.items():
            s = res["setups"].get(name)
            if s is None and name.endswith("nginx"):
                continue  # only with --nginx
            if s is None:
                rows.append([label, "", "", "", "", "", f"skipped: {res.get('pg_skipped', '')}"])
                continue
            r, c = s[kind], s[f"{kind}_check"]
            ok = form_ok(c, r) if kind == "form" else line_ok(c, r)
            check = f"acked {c['acked']}, stored once {c['stored']}, processed {c['processed']}"
            if kind == "form":
                check += ", receipts unique" if c["receipts_unique"] else ", RECEIPTS DUPLICATED"
                if c["stored_twice"]:
                    check += f", {c['stored_twice']} stored twice"
            else:
                check += f", outbox {c['outbox']}, drained {r['drain_s']:.0f} s after the load"
            if c["missing"]:
                check += f", {c['missing']} MISSING"
            other = {k: v for k, v in r["statuses"].items() if k not in ("303", "200")}
            if other or r["errors"]:
                check += f", statuses {r['statuses']}, errors {r['errors']}"
            check = ("OK: " if ok else "FAIL: ") + check
            rows.append([label, r["rps"], r["p50_ms"], r["p99_ms"], f"{r['rps'] / base['rps']:.2f}",
                         f"{r['rps'] / sq['rps']:.2f}" if sq else "", check])
        parts.append(table(f"Scale-out, {title}, {args.concurrency} connections, {args.requests} timed requests",
                           ["setup", "req/s", "p50 ms", "p99 ms", "× baseline", "× 1 SQLite", "check"], rows))
    notes = []
    for name, s in res["setups"].items():
        bad, slow = s["log_bad"], s["log_slow"]
        notes.append(f"* {name}: exit codes {s['exit_codes']}, {len(bad)} bad log lines, {slow} slow write jobs (> 50 ms)")
        notes += [f"    {line}" for line in bad[:15]]
    return "\n".join(parts) + "\n\nServe logs:\n" + "\n".join(notes)


def failed(res: dict[str, Any]) -> list[str]:
    bad = []
    for name, s in res["setups"].items():
        if not form_ok(s["form_check"], s["form"]):
            bad.append(f"{name}: web form")
        if "line_check" in s and not line_ok(s["line_check"], s["line"]):
            bad.append(f"{name}: LINE")
        if s["log_bad"]:
            bad.append(f"{name}: errors in the serve log")
        if any(c != 0 for c in s["exit_codes"]):
            bad.append(f"{name}: serve exit codes {s['exit_codes']}")
    return bad


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=3000)
    p.add_argument("--concurrency", type=int, default=100)
    p.add_argument("--no-line", dest="line", action="store_false", help="web form only")
    p.add_argument("--nginx", action="store_true",
                   help="also measure the two processes behind a local nginx (needs nginx on PATH)")
    p.add_argument("--keep-logs", default="", help="copy the serve logs into this directory")
    p.add_argument("--quick", action="store_true", help="a smoke run: 500 requests per target")
    args = p.parse_args(argv)
    if args.quick:
        args.requests = 500
    if args.nginx and not nginx_available():
        p.error("--nginx: no nginx on PATH (Debian: apt-get install nginx)")
    emit(f"machine: {machine()}")
    res = run(args)
    emit(report(res, args))
    bad = failed(res)
    if bad:
        emit("FAIL: " + "; ".join(bad))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
