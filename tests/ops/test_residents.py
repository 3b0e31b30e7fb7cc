"""開示・削除 for one resident through the admin site: others stay untouched; hostile input refused."""

from __future__ import annotations

import json
import re

import pytest

from meyasubako import keys
from meyasubako.domain import Channel, NewSubmission
from tests.conftest import add_user, csrf_of, login, receipt_of, submit
from tests.ops.helpers import execute, rows, table

U1 = "U" + "a" * 32


@pytest.fixture
async def world(make_client, settings):
    client = await make_client(settings)
    app = client.app
    await add_user(app, "koucho", "approver")
    await add_user(app, "douro", "staff", section="road")
    execute(settings.db_path,
            "CREATE TABLE xt_attachments (id INTEGER PRIMARY KEY, submission_id INTEGER NOT NULL"
            " REFERENCES submissions(id), stored_name TEXT NOT NULL)",
            "CREATE TABLE xt_line_followers (line_user_id TEXT PRIMARY KEY, blocked INTEGER NOT NULL DEFAULT 0)",
            f"INSERT INTO xt_line_followers VALUES ('{U1}', 0), ('U{'b' * 32}', 1)")
    r = {
        "a1": receipt_of((await submit(client, "歩道の段差が危ないです。", contact="hanako@example.jp"))[1]),
        "a2": receipt_of((await submit(client, "公園の草が伸びています。", contact="hanako@example.jp",
                                       place="南公園"))[1]),
        "b": receipt_of((await submit(client, "図書館を日曜も開けてください。", contact="jiro@example.jp"))[1]),
    }
    line = await app[keys.WORKFLOW].receive(NewSubmission(Channel.LINE, "バス停に屋根をつけてほしい。", True,
                                                          line_user_id=U1))
    r["line"] = line.submission.receipt_no
    settings.files_dir.mkdir(parents=True, exist_ok=True)
    (settings.files_dir / "a1.jpg").write_bytes(b"photo")
    (settings.files_dir / "b.jpg").write_bytes(b"photo b")
    for key, name in (("a1", "a1.jpg"), ("b", "b.jpg")):
        execute(settings.db_path, "INSERT INTO xt_attachments (submission_id, stored_name)"
                                  f" SELECT id, '{name}' FROM submissions WHERE receipt_no = '{r[key]}'")
    return client, r


async def _post(client, path: str, data: dict[str, str]):  # type: ignore[no-untyped-def]
    page = await client.get("/admin/residents")
    return await client.post(path, data={"csrf_token": csrf_of(await page.text()), **data})


async def test_only_approvers_and_admins_may_use_it(world):
    client, r = world
    assert (await client.get("/admin/residents", allow_redirects=False)).status in (302, 303)
    await login(client, "douro")
    assert (await client.get("/admin/residents")).status == 403
    resp = await client.post("/admin/residents/erase", data={"kind": "contact", "q": "hanako@example.jp"})
    assert resp.status == 403


async def test_search_and_disclose_one_resident(world, settings):
    client, r = world
    await login(client, "koucho")
    resp = await _post(client, "/admin/residents", {"kind": "contact", "q": "hanako@example.jp"})
    html = await resp.text()
    assert resp.status == 200 and r["a1"] in html and r["a2"] in html and r["b"] not in html
    assert "南公園" in html and "xt_attachments: 1件" in html
    resp = await _post(client, "/admin/residents/export", {"kind": "contact", "q": "hanako@example.jp"})
    assert resp.status == 200 and resp.content_type == "application/json" and resp.charset == "utf-8"
    assert resp.headers["Content-Disposition"].startswith('attachment; filename="kaiji-')
    doc = json.loads(await resp.text())
    assert [s["receipt_no"] for s in doc["submissions"]] == [r["a1"], r["a2"]]
    assert doc["submissions"][0]["text"] == "歩道の段差が危ないです。"
    assert doc["submissions"][0]["linked"]["xt_attachments"][0]["stored_name"] == "a1.jpg"
    assert doc["submissions"][0]["history"][0]["action"] == "receive"
    assert "jiro" not in json.dumps(doc, ensure_ascii=False)
    ledger = rows(settings.db_path, "SELECT * FROM privacy_log")
    assert [(x["action"], x["actor"], x["receipts"]) for x in ledger] == [("disclose", "user:koucho",
                                                                           f"{r['a1']} {r['a2']}")]
    assert "hanako" not in repr(ledger)
    # by LINE user: the follow state is part of what is stored about them
    resp = await _post(client, "/admin/residents/export", {"kind": "line", "q": U1})
    doc = json.loads(await resp.text())
    assert [s["receipt_no"] for s in doc["submissions"]] == [r["line"]]
    assert doc["line_user"]["tables"]["xt_line_followers"] == [{"line_user_id": U1, "blocked": 0}]


async def test_erase_one_resident_leaves_the_others_untouched(world, settings):
    client, r = world
    await login(client, "koucho")
    before = table(settings.db_path, "submissions", "receipt_no")
    before_events = rows(settings.db_path, "SELECT * FROM events WHERE submission_id NOT IN"
                                           " (SELECT id FROM submissions WHERE contact = 'hanako@example.jp')")
    q = {"kind": "contact", "q": "hanako@example.jp"}
    confirm = await _post(client, "/admin/residents/erase", q)
    html = await confirm.text()
    assert confirm.status == 200 and "元に戻せません" in html and r["a1"] in html
    assert rows(settings.db_path, "SELECT COUNT(*) AS n FROM submissions WHERE erased_at IS NOT NULL")[0]["n"] == 0
    # the confirmation needs the checkbox and a reason without personal data
    for data, msg in [({"confirm": "1", "reason": "請求第12号"}, "チェック"),
                      ({"confirm": "1", "understood": "1", "reason": ""}, "根拠"),
                      ({"confirm": "1", "understood": "1", "reason": "x" * 500}, "200文字"),
                      ({"confirm": "1", "understood": "1", "reason": "090-1234-5678 から電話で請求"}, "個人情報")]:
        resp = await _post(client, "/admin/residents/erase", {**q, **data})
        assert resp.status == 400 and msg in await resp.text(), data
    resp = await _post(client, "/admin/residents/erase", {**q, "confirm": "1", "understood": "1",
                                                          "reason": "開示等請求書 第12号"})
    html = await resp.text()
    assert resp.status == 200 and "2件の投稿から個人情報を削除しました" in html
    after = table(settings.db_path, "submissions", "receipt_no")
    for k in ("a1", "a2"):
        row = after[r[k]]
        assert row["contact"] is None and row["erased_at"] and "段差" not in row["text"] and "草" not in row["text"]
        assert row["status"] == "closed" and row["close_reason"] == "withdrawn"  # open items end as 取下げ
    assert after[r["b"]] == before[r["b"]] and after[r["line"]] == before[r["line"]]
    assert rows(settings.db_path, "SELECT * FROM events WHERE submission_id NOT IN"
                                  " (SELECT id FROM submissions WHERE erased_at IS NOT NULL)") == before_events
    assert not (settings.files_dir / "a1.jpg").exists() and (settings.files_dir / "b.jpg").exists()
    assert [x["stored_name"] for x in rows(settings.db_path, "SELECT * FROM xt_attachments")] == ["b.jpg"]
    erase_events = rows(settings.db_path, "SELECT actor, note FROM events WHERE action = 'erase'")
    assert len(erase_events) == 2 and all(e["actor"] == "user:koucho" and "開示等請求書 第12号" in e["note"]
                                          for e in erase_events)
    ledger = rows(settings.db_path, "SELECT * FROM privacy_log WHERE action = 'erase'")
    assert len(ledger) == 1 and ledger[0]["reason"] == "request：開示等請求書 第12号"
    # the queue still lists the items, without the erased words; searching for them finds nothing
    resp = await client.get("/admin/", params={"q": "段差"})
    assert r["a1"] not in await resp.text()
    # erasing again is harmless
    resp = await _post(client, "/admin/residents/erase", {"kind": "receipt", "q": r["a1"], "confirm": "1",
                                                          "understood": "1", "reason": "再実行"})
    assert resp.status == 200 and "削除済みでした" in await resp.text()


async def test_erase_by_line_user_forgets_the_line_user(world, settings):
    client, r = world
    await login(client, "koucho")
    resp = await _post(client, "/admin/residents/erase", {"kind": "line", "q": U1, "confirm": "1",
                                                          "understood": "1", "reason": "請求第3号"})
    assert resp.status == 200
    assert [x["line_user_id"] for x in rows(settings.db_path, "SELECT * FROM xt_line_followers")] == ["U" + "b" * 32]
    row = rows(settings.db_path, "SELECT * FROM submissions WHERE receipt_no = ?", (r["line"],))[0]
    assert row["line_user_id"] is None and row["erased_at"]


@pytest.mark.parametrize("data", [
    {"kind": "receipt", "q": "' OR 1=1 --"},
    {"kind": "receipt", "q": "2026-1"},
    {"kind": "line", "q": "U123"},
    {"kind": "sql", "q": "x"},
    {"kind": "contact", "q": ""},
    {"kind": "contact", "q": "a" * 201},
    {"kind": "contact", "q": "\x00\x01\x02"},
    {"q": "hanako@example.jp"},
])
async def test_hostile_and_malformed_queries_are_refused(world, data):
    client, r = world
    await login(client, "koucho")
    for path in ("/admin/residents", "/admin/residents/export", "/admin/residents/erase"):
        resp = await _post(client, path, data)
        assert resp.status == 400, (path, data)


async def test_csrf_is_required(world, settings):
    client, r = world
    await login(client, "koucho")
    for path in ("/admin/residents", "/admin/residents/export", "/admin/residents/erase"):
        resp = await client.post(path, data={"kind": "contact", "q": "hanako@example.jp", "confirm": "1",
                                             "understood": "1", "reason": "x"})
        assert resp.status == 403, path
    assert rows(settings.db_path, "SELECT COUNT(*) AS n FROM privacy_log")[0]["n"] == 0


async def test_nothing_found(world):
    client, r = world
    await login(client, "koucho")
    resp = await _post(client, "/admin/residents", {"kind": "contact", "q": "nobody@example.jp"})
    assert resp.status == 200 and "保存されていません" in await resp.text()
    resp = await _post(client, "/admin/residents/erase", {"kind": "contact", "q": "nobody@example.jp",
                                                          "confirm": "1", "understood": "1", "reason": "第1号"})
    assert resp.status == 404
    assert re.search(r"削除する情報はありません", await resp.text())
