"""Nothing unpublished or unmasked is reachable through any public URL, feed, download or API.

Items in every end state carry unique marker words and personal data in their ORIGINAL text,
place, contact and (for the unpublished ones) answers. The test then walks every public URL —
explicitly listed ones plus a crawl of every link found — and searches for each marker.
A positive control (a marker that IS published) proves that the searches and the walk would
find a marker if it were exposed.
"""

from __future__ import annotations

import re
from collections import deque
from urllib.parse import parse_qsl, urljoin, urlsplit

from meyasubako import keys
from tests.conftest import csrf_of
from tests.public.conftest import approver, make_item

BOTH_BACKENDS = True  # tests/conftest.py: each test runs on SQLite and on PostgreSQL

PII = ["090-3141-5926", "山田花子", "hanako@example.jp", "桜町1丁目2番3号", "マイナンバー123456789012"]
CONTROL = "publiccontrolword"  # in a published 要旨: must be found


async def seed(client):  # type: ignore[no-untyped-def]
    app = client.app
    user = await approver(app)
    secret = {}  # marker -> where it lives

    def orig(marker: str) -> str:
        return f"{marker}について。私は山田花子です。電話は090-3141-5926、住所は桜町1丁目2番3号、マイナンバー123456789012。"

    pub = await make_item(app, orig("leakpubo"), user=user, section="park", place="leakplace 桜町1丁目2番3号",
                          contact="hanako@example.jp 090-3141-5926",
                          summary=f"公園の遊具を直してほしい。{CONTROL}", answer="遊具を修理しました。")
    secret["leakpubo"] = "original text of a published item"
    routed = await make_item(app, orig("leakrouted"), user=user, section="park", publish=False)
    secret["leakrouted"] = "routed item"
    answered = await make_item(app, orig("leakansorig"), user=user, section="park",
                               answer="leakanswerbody 公園の遊具を修理しました。", publish=False)
    secret["leakansorig"] = "answered, not yet published: original"
    secret["leakanswerbody"] = "answered, not yet published: the answer"
    noconsent = await make_item(app, orig("leaknoconsent"), user=user, section="park", consent=False,
                                answer="leaknoconsentanswer 公園の遊具を修理します。", close="private")
    secret["leaknoconsent"] = "non-consenting item"
    secret["leaknoconsentanswer"] = "non-consenting item's answer"
    # Published, then closed (taken down): its 要旨 and answer were public once and must be gone.
    down = await make_item(app, orig("leakdownorig"), user=user, section="park",
                           summary="leakdownsummary 公園の遊具を直してほしい。", answer="leakdownanswer 遊具を修理しました。")
    await app[keys.WORKFLOW].close(down.receipt_no, "pii", user)
    secret["leakdownsummary"] = "taken-down item's 要旨"
    secret["leakdownanswer"] = "taken-down item's answer"
    # Through Open311 with coordinates and contact.
    resp = await client.post("/open311/v2/requests.json", data={
        "service_code": "park", "description": orig("leakopen311"), "attribute[consent]": "yes",
        "lat": "35.123456", "long": "139.654321", "address_string": "leakaddr", "email": "hanako@example.jp"})
    o311 = (await resp.json())[0]["service_request_id"]
    secret["leakopen311"] = "Open311 request"
    secret["leakaddr"] = "Open311 address"
    hidden_receipts = [routed.receipt_no, answered.receipt_no, noconsent.receipt_no, down.receipt_no, o311]
    return pub.receipt_no, hidden_receipts, secret, [pub.token, routed.token]


def links_of(body: str) -> list[str]:
    return re.findall(r'href="([^"#]+)', body)


async def test_walk_every_public_url(client):
    pub_receipt, hidden, secret, tokens = await seed(client)
    sections = list(client.app[keys.SECTIONS])
    forbidden = [*secret, *PII, "35.123456", "139.654321", *hidden, *tokens]
    # The search terms of every marker and PII piece, as a resident would type them.
    search_words = [*secret, *PII, "山田", "花子", "090", "桜町", CONTROL]
    urls = ["/", "/stats", "/stats?month=2026-11", "/opendata", "/opendata/voices.csv", "/opendata/voices.json",
            "/opendata/stats.csv", "/feed.atom", *[f"/sections/{s}/feed.atom" for s in sections],
            "/open311/v2/services.json", "/open311/v2/requests.json",
            "/open311/v2/requests.json?start_date=2000-01-01T00:00:00Z",
            f"/open311/v2/requests.json?service_request_id={','.join([pub_receipt, *hidden])}",
            *[f"/open311/v2/requests/{r}.json" for r in [pub_receipt, *hidden]],
            *[f"/voices/{r}" for r in [pub_receipt, *hidden]],
            *[f"/?q={w}" for w in search_words], *[f"/?section={s}" for s in sections],
            "/submit", "/healthz"]
    seen: dict[str, str] = {}
    queue = deque(urls)
    while queue and len(seen) < 400:
        url = queue.popleft()
        if url in seen:
            continue
        resp = await client.get(url)
        body = (await resp.read()).decode("utf-8", "replace")
        seen[url] = body
        assert resp.status in (200, 404), (url, resp.status)
        for link in links_of(body):
            parts = urlsplit(urljoin("http://testserver" + url, link.replace("&amp;", "&")))
            if parts.netloc not in ("testserver", f"{client.host}:{client.port}"):
                continue
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            if path.startswith(("/admin", "/status/", "/static/")):
                continue  # staff site behind login; private status links are not published anywhere
            queue.append(path)
    assert len(seen) > 60
    for url, body in seen.items():
        q = dict(parse_qsl(urlsplit(url).query)).get("q")
        if q:  # a search page repeats the query itself (title, box, result line): blank those echoes
            for echo in (f'value="{q}"', f"「{q}」"):
                body = body.replace(echo, "")
        for needle in forbidden:
            assert needle not in body, f"{needle!r} ({secret.get(needle, 'PII/id')}) exposed at {url}"
    # Positive controls: the walk does reach the published item and its search does find it.
    assert pub_receipt in seen["/"] and CONTROL in seen["/opendata/voices.csv"]
    assert f"/voices/{pub_receipt}" in seen[f"/?q={CONTROL}"]
    for r in hidden:
        assert '"code": 404' in seen[f"/open311/v2/requests/{r}.json"]


async def test_similar_answers_on_the_form_show_published_items_only(client):
    pub_receipt, hidden, secret, _ = await seed(client)
    page = await (await client.get("/submit")).text()
    # Words shared with the published item AND with the hidden items' originals and answers.
    text = "公園の遊具を修理してほしい。遊具が壊れています。"
    resp = await client.post("/submit", data={"csrf_token": csrf_of(page), "form_id": "w1", "text": text,
                                              "consent": "yes", "step": "check"})
    html = await resp.text()
    similar = html.split('id="similar-h"', 1)[1].split('id="yours-h"', 1)[0]
    assert f"/voices/{pub_receipt}" in similar
    for needle in [*hidden, "leakanswerbody", "leaknoconsentanswer", "leakdownsummary", "leakdownanswer", *PII]:
        assert needle not in similar, needle


async def test_similar_json_shows_published_items_only(client):
    pub_receipt, hidden, secret, _ = await seed(client)
    page = await (await client.get("/submit")).text()
    resp = await client.post("/submit/similar.json", data={"csrf_token": csrf_of(page),
                                                           "text": "公園の遊具を修理してほしい。遊具が壊れています。"})
    body = await resp.text()
    assert pub_receipt in body
    for needle in [*hidden, *secret, *PII]:
        assert needle not in body, needle
