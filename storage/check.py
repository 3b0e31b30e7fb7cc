"""``meyasubako check``: is this database whole and consistent with the workflow's rules?

Runs inside ONE read transaction (a snapshot), so it can check a live database: SQLite's own
integrity and foreign keys, the schema version, receipt numbers and their counters, and that
every submission's audit trail (its events) is consistent with its status and fields.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from meyasubako.domain import TRANSITIONS, Status
from storage import migrations
from storage.check_pg import PgSync, pg_snapshot

RECEIPT = re.compile(r"^(\d{4})-(\d{6})$")
SHOW = 10  # examples shown per failed check; the count says how many there are
_ROUTED_OR_LATER = ("routed", "in_progress", "answered", "approved", "published")


@dataclass
class Finding:
    name: str
    title: str
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _rows(conn: sqlite3.Connection, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
    return conn.execute(sql, params).fetchall()


def _tables(conn: sqlite3.Connection) -> set[str]:
    if isinstance(conn, PgSync):
        return {r[0] for r in _rows(conn, "SELECT table_name FROM information_schema.tables"
                                          " WHERE table_schema = current_schema()")}
    return {r[0] for r in _rows(conn, "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    if isinstance(conn, PgSync):
        return {r[0] for r in _rows(conn, "SELECT column_name FROM information_schema.columns"
                                          " WHERE table_schema = current_schema() AND table_name = ?", (table,))}
    return {r[1] for r in _rows(conn, f"PRAGMA table_info({table})")}


def check_integrity(conn: sqlite3.Connection) -> list[str]:
    res = [r[0] for r in _rows(conn, "PRAGMA integrity_check")]
    return [] if res == ["ok"] else res


def check_foreign_keys(conn: sqlite3.Connection) -> list[str]:
    return [f"{r[0]} row {r[1]} -> {r[2]} (missing)" for r in _rows(conn, "PRAGMA foreign_key_check")]


def check_schema(conn: sqlite3.Connection) -> list[str]:
    latest = migrations.latest_version()
    if "schema_version" not in _tables(conn):
        return ["no schema_version table: not a meyasubako database"]
    have = int(_rows(conn, "SELECT COALESCE(MAX(version), 0) FROM schema_version")[0][0])
    if have > latest:
        return [f"schema version {have} is newer than this program ({latest})"]
    if have < latest:
        return [f"schema version {have} < {latest}: run `meyasubako migrate` (or start serve once)"]
    recorded = {int(r[0]) for r in _rows(conn, "SELECT version FROM schema_version")}
    missing = [m.version for m in migrations.available() if m.version not in recorded]
    if missing:
        return [f"migrations {missing} were never applied: run `meyasubako migrate` (or start serve once)"]
    return []


def check_receipts(conn: sqlite3.Connection) -> list[str]:
    out: list[str] = []
    for r in _rows(conn, "SELECT receipt_no, COUNT(*) FROM submissions GROUP BY receipt_no HAVING COUNT(*) > 1"):
        out.append(f"receipt number {r[0]} is used {r[1]} times")
    maxima: dict[int, int] = {}
    for sid, receipt_no, received_at in _rows(conn, "SELECT id, receipt_no, received_at FROM submissions"):
        m = RECEIPT.match(receipt_no or "")
        if not m:
            out.append(f"submission {sid}: malformed receipt number {receipt_no!r}")
            continue
        year, seq = int(m[1]), int(m[2])
        if not (received_at or "").startswith(m[1]):
            out.append(f"{receipt_no}: year differs from its received_at {received_at!r}")
        maxima[year] = max(maxima.get(year, 0), seq)
    counters = {int(r[0]): int(r[1]) for r in _rows(conn, "SELECT year, last FROM receipt_counters")}
    for year, top in sorted(maxima.items()):
        if counters.get(year, 0) < top:
            out.append(f"receipt counter for {year} is {counters.get(year, 0)} but {year}-{top:06d} exists "
                       "(the next receipt number would collide)")
    return out


def _events_by_submission(conn: sqlite3.Connection) -> Iterator[tuple[sqlite3.Row, list[sqlite3.Row]]]:
    """Each submission with its events, streamed in id order (one pass over each table)."""
    subs = conn.execute("SELECT id, receipt_no, status FROM submissions ORDER BY id")
    evs = conn.execute("SELECT submission_id, id, action, from_status, to_status FROM events"
                       " ORDER BY submission_id, id")
    pending = evs.fetchone()
    for sub in subs:
        mine: list[sqlite3.Row] = []
        while pending is not None and pending[0] < sub[0]:
            pending = evs.fetchone()  # events of a missing submission: foreign_key_check reports them
        while pending is not None and pending[0] == sub[0]:
            mine.append(pending)
            pending = evs.fetchone()
        yield sub, mine


def check_events(conn: sqlite3.Connection) -> list[str]:
    out: list[str] = []
    for sub, events in _events_by_submission(conn):
        no = sub[1]
        changes = [e for e in events if e[4] is not None]
        if not changes:
            out.append(f"{no}: no events (every submission starts with a 'receive' event)")
            continue
        first = changes[0]
        if first[2] != "receive" or first[4] != "received" or first[3] is not None:
            out.append(f"{no}: first event is {first[2]!r} -> {first[4]!r}, not 'receive' -> 'received'")
        for prev, cur in zip(changes, changes[1:], strict=False):
            if cur[3] != prev[4]:
                out.append(f"{no}: event {cur[1]} starts from {cur[3]!r} but the previous one ended at {prev[4]!r}")
            elif cur[4] not in {str(s) for s in TRANSITIONS.get(Status(prev[4]), frozenset())}:
                out.append(f"{no}: event {cur[1]} makes a transition the workflow forbids ({cur[3]} -> {cur[4]})")
        if changes[-1][4] != sub[2]:
            out.append(f"{no}: status is {sub[2]!r} but its last status event ends at {changes[-1][4]!r}")
    return out


def check_fields(conn: sqlite3.Connection) -> list[str]:
    out: list[str] = []
    marks = ", ".join("?" * len(_ROUTED_OR_LATER))
    for r in _rows(conn, f"SELECT receipt_no, status FROM submissions WHERE status IN ({marks}) AND section IS NULL",
                   _ROUTED_OR_LATER):
        out.append(f"{r[0]}: status {r[1]} but no section")
    for r in _rows(conn, "SELECT s.receipt_no, s.public_summary, s.published_at, s.consent, a.state"
                         " FROM submissions s LEFT JOIN answers a ON a.submission_id = s.id"
                         " WHERE s.status = 'published'"):
        if not (r[1] or "").strip():
            out.append(f"{r[0]}: published without a public summary (要旨)")
        if not r[2]:
            out.append(f"{r[0]}: published without published_at")
        if not r[3]:
            out.append(f"{r[0]}: published although the resident did not consent")
        if r[4] != "approved":
            out.append(f"{r[0]}: published but its answer is {'missing' if r[4] is None else r[4]!r}, not approved")
    for r in _rows(conn, "SELECT receipt_no FROM submissions WHERE status = 'closed' AND close_reason IS NULL"):
        out.append(f"{r[0]}: closed without a reason")
    return out


def check_search_index(conn: sqlite3.Connection) -> list[str]:
    out: list[str] = []
    tables = _tables(conn)
    if "staff_fts" in tables:
        for r in _rows(conn, "SELECT rowid FROM staff_fts WHERE rowid NOT IN (SELECT id FROM submissions)"):
            out.append(f"staff search index has row {r[0]} for a missing submission")
    if "public_fts" in tables:
        for r in _rows(conn, "SELECT f.rowid, s.receipt_no, s.status FROM public_fts f"
                             " LEFT JOIN submissions s ON s.id = f.rowid WHERE COALESCE(s.status, '') <> 'published'"):
            out.append(f"public search index has {r[1] or r[0]} which is {r[2] or 'missing'}, not published "
                       "(its words would be searchable by the public)")
    return out


def check_erased(conn: sqlite3.Connection) -> list[str]:
    if "erased_at" not in _columns(conn, "submissions"):
        return []
    out: list[str] = []
    for r in _rows(conn, "SELECT s.receipt_no, s.contact, s.line_user_id, s.place, s.lat, s.lon, s.masked_text,"
                         " (SELECT COUNT(*) FROM staff_fts f WHERE f.rowid = s.id),"
                         " (SELECT COUNT(*) FROM events e WHERE e.submission_id = s.id AND e.action = 'erase')"
                         " FROM submissions s WHERE s.erased_at IS NOT NULL"):
        left = [n for n, v in zip(("contact", "line_user_id", "place", "lat", "lon", "masked_text", "staff index"),
                                  r[1:8], strict=True) if v]
        if left:
            out.append(f"{r[0]}: marked erased but still holds {', '.join(left)}")
        if not r[8]:
            out.append(f"{r[0]}: marked erased without an 'erase' event in its audit trail")
    return out


CHECKS = [
    ("integrity", "SQLite integrity_check", check_integrity),
    ("foreign_keys", "foreign keys", check_foreign_keys),
    ("schema", "schema version", check_schema),
    ("receipts", "receipt numbers unique, well-formed, below their counters", check_receipts),
    ("events", "audit trail consistent with each status", check_events),
    ("fields", "fields required by each status", check_fields),
    ("search_index", "search indexes", check_search_index),
    ("erased", "erased items hold no personal data", check_erased),
]


def run_checks(db_path: Path) -> list[Finding]:
    if not db_path.is_file():
        raise FileNotFoundError(f"no database at {db_path}")
    conn = sqlite3.connect(db_path, isolation_level=None, timeout=30)
    try:
        conn.execute("PRAGMA query_only = ON")
        conn.execute("BEGIN")  # one snapshot for every check, while the service may keep writing
        findings: list[Finding] = []
        schema_ok = True
        for name, title, fn in CHECKS:
            f = Finding(name, title)
            if name not in ("integrity", "foreign_keys", "schema") and not schema_ok:
                f.problems = ["skipped: not a meyasubako database"]
            else:
                try:
                    f.problems = fn(conn)
                except sqlite3.DatabaseError as exc:
                    f.problems = [f"could not run: {exc}"]
            if name == "schema" and any("not a meyasubako" in p for p in f.problems):
                schema_ok = False
            findings.append(f)
        conn.execute("COMMIT")
        return findings
    finally:
        conn.close()


# PostgreSQL enforces foreign keys on every write and checks its own pages; what is left to check
# there is the logic: schema, receipts, audit trail, fields, search indexes, erasure.
PG_SKIPPED = ("integrity", "foreign_keys")
PG_NOTE = ("  PostgreSQL: foreign keys are enforced by the server; check its storage with pg_amcheck. "
           "The checks below ran in one snapshot.")


def run_checks_pg(url: str) -> list[Finding]:
    """The logical checks on a PostgreSQL database, in one REPEATABLE READ snapshot.

    Raises storage.endpoint.EndpointError when the server cannot be reached."""
    findings: list[Finding] = []
    with pg_snapshot(url) as conn:
        for name, title, fn in CHECKS:
            if name in PG_SKIPPED:
                continue
            f = Finding(name, title)
            if findings and any("not a meyasubako" in p for p in findings[0].problems):
                f.problems = ["skipped: not a meyasubako database"]
            else:
                try:
                    f.problems = fn(conn)  # type: ignore[arg-type]
                except conn.errors as exc:
                    f.problems = [f"could not run: {exc}"]
            findings.append(f)
    return findings


def report(findings: list[Finding], db_path: Path | str, note: str | None = None) -> str:
    lines = [f"meyasubako check: {db_path}"] + ([note] if note else [])
    for f in findings:
        lines.append(f"  [{'ok' if f.ok else 'FAIL'}] {f.title}" + ("" if f.ok else f" — {len(f.problems)} problem(s)"))
        for p in f.problems[:SHOW]:
            lines.append(f"         - {p}")
        if len(f.problems) > SHOW:
            lines.append(f"         … and {len(f.problems) - SHOW} more")
    bad = sum(not f.ok for f in findings)
    lines.append("result: consistent" if not bad else f"result: INCONSISTENT ({bad} check(s) failed)")
    return "\n".join(lines)
