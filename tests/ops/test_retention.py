"""Retention over a simulated clock: exactly the items finished long enough ago lose their personal data.

Tables that later migrations will add (photos, LINE follow state) are stood in for by ``xt_*``
tables with the columns the erasure keys on (``submission_id``, ``line_user_id``).
"""

from __future__ import annotations

import datetime as dt

from meyasubako import keys, ops
from meyasubako.domain import Channel, NewSubmission
from meyasubako.privacy import PLACEHOLDER
from storage import check
from tests.conftest import add_user, receipt_of, submit
from tests.ops.helpers import FakeClock, execute, rows, table

U1 = "U" + "1" * 32
U2 = "U" + "2" * 32
DAYS = 1826


async def _world(make_client, settings):  # type: ignore[no-untyped-def]
    client = await make_client(settings)
    app = client.app
    clock = FakeClock()
    wf = app[keys.WORKFLOW]
    wf.now = clock
    koucho = await add_user(app, "koucho", "approver")
    execute(settings.db_path,
            "CREATE TABLE xt_attachments (id INTEGER PRIMARY KEY, submission_id INTEGER NOT NULL"
            " REFERENCES submissions(id), stored_name TEXT NOT NULL, mime TEXT)",
            "CREATE TABLE xt_line_followers (line_user_id TEXT PRIMARY KEY, blocked INTEGER NOT NULL DEFAULT 0)")
    r = {}
    r["A"] = receipt_of((await submit(client, "中央公園のトイレが汚れています。山田太郎", contact="yamada@example.jp",
                                      place="中央公園"))[1])
    b = await wf.receive(NewSubmission(Channel.LINE, "ゴミ収集車の騒音がひどい。電話は090-1111-2222です。", True,
                                       line_user_id=U1, lat=35.1, lon=139.1))
    r["B"] = b.submission.receipt_no
    r["C"] = receipt_of((await submit(client, "図書館の開館時間を延ばしてください。", contact="c@example.jp"))[1])
    r["D"] = receipt_of((await submit(client, "道路の白線が消えています。", contact="d@example.jp"))[1])
    f = await wf.receive(NewSubmission(Channel.LINE, "児童館の遊具が壊れています。", True, line_user_id=U2))
    r["F"] = f.submission.receipt_no
    ids = {k: rows(settings.db_path, "SELECT id FROM submissions WHERE receipt_no = ?", (v,))[0]["id"]
           for k, v in r.items()}
    files = settings.files_dir
    (files / "p").mkdir(parents=True)
    for k in ("A", "C"):
        (files / "p" / f"{k}.jpg").write_bytes(b"jpeg " + k.encode())
        execute(settings.db_path, f"INSERT INTO xt_attachments (submission_id, stored_name, mime)"
                                  f" VALUES ({ids[k]}, 'p/{k}.jpg', 'image/jpeg')")
    execute(settings.db_path, f"INSERT INTO xt_line_followers VALUES ('{U1}', 0), ('{U2}', 0)",
            "INSERT INTO outbox (channel, kind, recipient, payload_json, retry_key, submission_id,"
            f" next_attempt_at, created_at) VALUES ('line', 'push', '{U1}', '{{\"text\": \"回答\"}}', 'k1', {ids['B']},"
            " '2026-04-01T10:00:00+09:00', '2026-04-01T10:00:00+09:00')")
    clock.advance(days=10)
    await wf.save_answer(r["A"], "清掃を強化しました。", koucho)
    await wf.publish(r["A"], "中央公園のトイレが汚れている。", koucho)
    clock.advance(days=10)
    await wf.route(r["B"], "environment", koucho, note="田中さんから電話 090-1111-2222 あり")
    await wf.close(r["B"], "private", koucho, note="本人 yamada@example.jp に電話で回答")
    clock.advance(days=3 * 365)
    await wf.close(r["D"], "duplicate", koucho)
    return client, clock, r, ids


async def test_retention_erases_exactly_what_it_should(make_client, settings):
    client, clock, r, ids = await _world(make_client, settings)
    app = client.app
    db = app[keys.DB]
    a_closed = dt.datetime(2026, 4, 11, 10, 0, tzinfo=clock.t.tzinfo)

    async def run(dry_run=False):  # type: ignore[no-untyped-def]
        return await ops.retention_pass(db, days=DAYS, files_dir=settings.files_dir, now=clock(), dry_run=dry_run,
                                        nlp=app[keys.NLP])

    clock.t = a_closed + dt.timedelta(days=DAYS) - dt.timedelta(minutes=1)
    assert (await run(dry_run=True)).candidates == []
    clock.t = a_closed + dt.timedelta(days=DAYS, hours=1) + dt.timedelta(days=10)  # past A and B, not D
    before = {t: table(settings.db_path, t) for t in ("submissions", "events", "outbox", "xt_attachments",
                                                       "xt_line_followers")}
    dry = await run(dry_run=True)
    assert [c["receipt_no"] for c in dry.candidates] == [r["A"], r["B"]]
    assert set(dry.candidates[0]["fields"]) >= {"text", "contact", "place"}
    assert set(dry.candidates[1]["fields"]) >= {"text", "line_user_id", "coords", "pii"}
    assert {t: table(settings.db_path, t) for t in before} == before, "a dry run must not change anything"

    report = await run()
    assert sorted(e.receipt_no for e in report.erased) == [r["A"], r["B"]]
    subs = table(settings.db_path, "submissions", "receipt_no")
    a, b = subs[r["A"]], subs[r["B"]]
    # A was published: the public record (masked 要旨 + answer) stays, the original goes
    assert a["text"] == a["public_summary"] == "中央公園のトイレが汚れている。"
    assert a["status"] == "published" and a["section"] and a["received_at"] and a["published_at"]
    assert rows(settings.db_path, "SELECT body FROM answers WHERE submission_id = ?", (ids["A"],))[0]["body"] \
        == "清掃を強化しました。"
    assert b["text"] == PLACEHOLDER["retention"] and b["status"] == "closed" and b["close_reason"] == "private"
    for row in (a, b):
        assert row["contact"] is None and row["line_user_id"] is None and row["place"] is None
        assert row["lat"] is None and row["lon"] is None and row["masked_text"] is None
        assert row["pii_json"] == "[]" and row["terms"] == "" and row["erased_at"]
        assert "reasons" not in row["suggestion_json"]
    # untouched: the open item, the item closed later, the other LINE user
    for k in ("C", "D", "F"):
        assert subs[r[k]] == before["submissions"][ids[k]], k
    # the audit trail stays, with an erase event, and no note still quotes the resident
    events = rows(settings.db_path, "SELECT * FROM events WHERE submission_id IN (?, ?)", (ids["A"], ids["B"]))
    assert [e["actor"] for e in events if e["action"] == "erase"] == ["system", "system"]
    assert len(events) == len([e for e in before["events"].values() if e["submission_id"] in (ids["A"], ids["B"])]) + 2
    blob = repr(events) + repr(rows(settings.db_path, "SELECT * FROM privacy_log"))
    for secret in ("090-1111-2222", "田中", "yamada@example.jp", "山田", "騒音", "トイレが汚れています"):
        assert secret not in blob, secret
    notes = {e["action"]: e["note"] for e in events if e["submission_id"] == ids["B"]}
    assert notes["close"] == "非公開希望"  # the fixed part of the note stays, the staff memo goes
    assert notes.get("reroute", notes.get("route")).endswith(" → environment")
    assert notes["auto_route"] == "自動振り分け"
    # search index, stored files, linked rows, LINE data, pending messages
    staff_fts = {x["rowid"] for x in rows(settings.db_path, "SELECT rowid FROM staff_fts")}
    assert ids["A"] not in staff_fts and ids["B"] not in staff_fts and ids["C"] in staff_fts
    assert {x["rowid"] for x in rows(settings.db_path, "SELECT rowid FROM public_fts")} == {ids["A"]}
    assert not (settings.files_dir / "p" / "A.jpg").exists() and (settings.files_dir / "p" / "C.jpg").exists()
    assert [x["submission_id"] for x in rows(settings.db_path, "SELECT * FROM xt_attachments")] == [ids["C"]]
    assert [x["line_user_id"] for x in rows(settings.db_path, "SELECT * FROM xt_line_followers")] == [U2]
    assert rows(settings.db_path, "SELECT * FROM outbox") == []
    # the old status links no longer open anything
    assert a["status_token_hash"] != before["submissions"][ids["A"]]["status_token_hash"]
    assert all(f.ok for f in check.run_checks(settings.db_path)), check.report(check.run_checks(settings.db_path),
                                                                                settings.db_path)
    ledger = rows(settings.db_path, "SELECT * FROM privacy_log")
    assert len(ledger) == 1 and ledger[0]["receipts"] == f"{r['A']} {r['B']}" and ledger[0]["reason"] == "retention"

    # idempotent; D comes due three years later
    assert (await run()).candidates == []
    clock.advance(days=3 * 365 + 1)
    assert [e.receipt_no for e in (await run()).erased] == [r["D"]]
    # the public board still shows A, with its answer
    page = await client.get(f"/voices/{r['A']}")
    html = await page.text()
    assert page.status == 200 and "中央公園のトイレが汚れている。" in html and "清掃を強化しました。" in html


async def test_retention_zero_days_erases_nothing(make_client, settings):
    client, clock, r, ids = await _world(make_client, settings)
    clock.advance(days=365 * 30)
    rep = await ops.retention_pass(client.app[keys.DB], days=0, files_dir=settings.files_dir, now=clock())
    assert rep.candidates == [] and rep.erased == []
    assert rows(settings.db_path, "SELECT COUNT(*) AS n FROM submissions WHERE erased_at IS NOT NULL")[0]["n"] == 0


async def test_retention_cli_dry_run_and_run(make_client, settings):
    from tests.test_cli import run_cli

    client, clock, r, ids = await _world(make_client, settings)
    await client.close()
    # real time is 2026; the items were closed in 2026-2029 by the simulated clock: nothing is due yet
    out = run_cli("retention", "--dry-run", "--db", str(settings.db_path))
    assert out.returncode == 0 and b"would erase the personal data of 0 item(s)" in out.stdout
    out = run_cli("retention", "--dry-run", "--days", "1", "--json", "--db", str(settings.db_path))
    import json

    report = json.loads(out.stdout)
    assert report["dry_run"] and [c["receipt_no"] for c in report["candidates"]] == [r["A"], r["B"]]
    out = run_cli("retention", "--days", "1", "--db", str(settings.db_path))
    assert out.returncode == 0 and b"erased the personal data of 2 item(s)" in out.stdout
    assert run_cli("retention", "--days", "-5", "--db", str(settings.db_path)).returncode == 2
    assert run_cli("retention", "--db", str(settings.db_path.with_name("none.sqlite3"))).returncode == 2
