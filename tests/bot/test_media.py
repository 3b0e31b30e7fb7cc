"""Location and photo messages: attached to the draft, stored privately, shown to staff only."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from meyasubako import keys
from storage import attachments as att_db
from storage import submissions as subs
from tests.bot.conftest import count, post_events, postback_data, receipts_in, settle
from tests.bot.test_conversation import say, tap
from tests.conftest import add_user, login
from tests.line_double import image_event, location_event, postback_event, user_id

BOTH_BACKENDS = True  # tests/conftest.py: each test runs on SQLite and on PostgreSQL

U1 = user_id(1)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + os.urandom(2048)
PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(512)


async def send_image(client, double, user, data, message_id, **kw):  # type: ignore[no-untyped-def]
    if data is not None:
        double.add_content(message_id, data)
    assert await post_events(client, double, image_event(user, message_id, **kw)) == 200
    await settle(client)
    return double.delivered_to(user)[-1]


async def test_location_and_photos_attach_to_the_submission(line_client, line_api, line_settings):
    await say(line_client, line_api, U1, "この交差点のカーブミラーが曲がっています。")
    assert await post_events(line_client, line_api,
                             location_event(U1, 35.6812, 139.7671, "東京都千代田区丸の内1丁目")) == 200
    await settle(line_client)
    assert "位置情報を追加しました（東京都千代田区丸の内1丁目）" in line_api.delivered_to(U1)[-1]
    assert "1枚目" in await send_image(line_client, line_api, U1, JPEG, "900001")
    assert "2枚目" in await send_image(line_client, line_api, U1, PNG, "900002")
    done = await tap(line_client, line_api, U1, "このまま送信")
    [receipt_no] = receipts_in([done])

    async with line_client.app[keys.DB].read() as conn:
        sub = await subs.by_receipt(conn, receipt_no)
        assert sub is not None
        atts = await att_db.for_submission(conn, sub.id)
    assert sub.place == "東京都千代田区丸の内1丁目" and abs(sub.lat - 35.6812) < 1e-9 and abs(sub.lon - 139.7671) < 1e-9
    assert [a.mime for a in atts] == ["image/jpeg", "image/png"]
    assert atts[0].sha256 == hashlib.sha256(JPEG).hexdigest() and atts[0].size == len(JPEG)
    files_dir = line_settings.files_dir
    stored = files_dir / atts[0].path
    assert stored.read_bytes() == JPEG and (stored.stat().st_mode & 0o777) == 0o600
    assert "static" not in str(stored) and Path(atts[0].path).name != "900001"  # random private names
    # The content was fetched with the channel's token through the blob API.
    assert [r.path for r in line_api.of("content")] == ["/v2/bot/message/900001/content",
                                                        "/v2/bot/message/900002/content"]
    # Nothing about the photo is public.
    assert (await line_client.get(f"/admin/attachments/{atts[0].id}", allow_redirects=False)).status == 303


async def test_staff_see_photos_of_their_sections_only(line_client, line_api):
    await say(line_client, line_api, U1, "市道の舗装がはがれて穴があいています。")
    await send_image(line_client, line_api, U1, JPEG, "900010")
    [receipt_no] = receipts_in([await tap(line_client, line_api, U1, "このまま送信")])
    async with line_client.app[keys.DB].read() as conn:
        sub = await subs.by_receipt(conn, receipt_no)
        [att] = await att_db.for_submission(conn, sub.id)
    assert sub.section == "road"
    await add_user(line_client.app, "douro", "staff", section="road")
    await add_user(line_client.app, "kouen", "staff", section="park")

    await login(line_client, "kouen")
    assert (await line_client.get(f"/admin/attachments/{att.id}")).status == 404
    await login(line_client, "douro")
    page = await (await line_client.get(f"/admin/items/{receipt_no}")).text()
    assert f'src="/admin/attachments/{att.id}"' in page and "写真（職員のみ" in page
    resp = await line_client.get(f"/admin/attachments/{att.id}")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "image/jpeg"
    assert resp.headers["Content-Disposition"].startswith("inline;")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in resp.headers["Cache-Control"]
    assert await resp.read() == JPEG
    for bad in ("999999", "0", "-1", "..%2F..%2Fsecret_key", "1.jpg", "1%00"):
        assert (await line_client.get(f"/admin/attachments/{bad}")).status == 404, bad


async def test_unsent_draft_photos_are_not_reachable(line_client, line_api):
    await send_image(line_client, line_api, U1, JPEG, "900020")
    assert "文章で送ってください" in line_api.delivered_to(U1)[-1]
    await add_user(line_client.app, "koucho", "approver")
    await login(line_client, "koucho")
    assert (await line_client.get("/admin/attachments/1")).status == 404


async def test_bad_photos_are_refused_politely(line_client, line_api):
    await say(line_client, line_api, U1, "公園の看板が倒れています。")
    too_big = b"\xff\xd8\xff" + b"\x00" * (64 * 1024 + 1)
    assert "大きすぎる" in await send_image(line_client, line_api, U1, too_big, "900030")
    assert "JPEGかPNG" in await send_image(line_client, line_api, U1, b"<svg onload=alert(1)>", "900031")
    assert "受け取れませんでした" in await send_image(line_client, line_api, U1, None, "900032")  # 404 at LINE
    assert "受け取れませんでした" in await send_image(line_client, line_api, U1, None, "900033", provider="external")
    line_api.fail("content", delay=2.0)  # slower than the content timeout
    line_api.add_content("900034", JPEG)
    assert "受け取れませんでした" in await send_image(line_client, line_api, U1, None, "900034")
    assert await count(line_client, "SELECT COUNT(*) FROM attachments") == 0
    # An external URL is never fetched.
    assert all("/900033/" not in r.path for r in line_api.of("content"))


async def test_at_most_four_photos_per_suggestion(line_client, line_api):
    await say(line_client, line_api, U1, "道路の白線が消えかかっています。")
    for i in range(4):
        assert f"{i + 1}枚目" in await send_image(line_client, line_api, U1, JPEG, f"90004{i}")
    assert "4枚まで" in await send_image(line_client, line_api, U1, JPEG, "900049")
    assert await count(line_client, "SELECT COUNT(*) FROM attachments") == 4


async def test_location_first_then_text(line_client, line_api):
    assert await post_events(line_client, line_api, location_event(U1, 34.7, 135.5)) == 200
    await settle(line_client)
    first = line_api.delivered_to(U1)[-1]
    assert "緯度34.70000" in first and "文章で送ってください" in first
    send_now = postback_data(line_api, U1, "このまま送信")
    assert "文章で送ってから" in await tap(line_client, line_api, U1, "このまま送信")
    await say(line_client, line_api, U1, "この辺りの街灯が切れています。")
    assert await post_events(line_client, line_api, postback_event(U1, send_now)) == 200
    await settle(line_client)
    [receipt_no] = receipts_in([line_api.delivered_to(U1)[-1]])
    async with line_client.app[keys.DB].read() as conn:
        sub = await subs.by_receipt(conn, receipt_no)
    assert sub.lat == 34.7 and sub.text == "この辺りの街灯が切れています。"
