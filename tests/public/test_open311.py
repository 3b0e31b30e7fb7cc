"""Open311 GeoReport v2: services, requests (GET with filters and paging, one by id), POST, errors."""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime

from meyasubako import keys
from storage import submissions as subs
from tests.public.conftest import approver, make_item

BOTH_BACKENDS = True  # tests/conftest.py: each test runs on SQLite and on PostgreSQL

# The GeoReport v2 field lists (wiki.open311.org/GeoReport_v2).
SERVICE_FIELDS = {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}
REQUEST_FIELDS = {
    "service_request_id", "status", "status_notes", "service_name", "service_code", "description",
    "agency_responsible", "service_notice", "requested_datetime", "updated_datetime", "expected_datetime",
    "address", "address_id", "zipcode", "lat", "long", "media_url",
}
W3C = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}([+-]\d{2}:\d{2}|Z)$")


def assert_error(body, code: int) -> None:  # type: ignore[no-untyped-def]
    assert isinstance(body, list) and len(body) == 1
    assert set(body[0]) == {"code", "description"} and body[0]["code"] == code and body[0]["description"]


def assert_request(r: dict) -> None:
    assert set(r) == REQUEST_FIELDS
    assert r["status"] in ("open", "closed")
    for f in ("requested_datetime", "updated_datetime", "expected_datetime"):
        assert r[f] is None or W3C.match(r[f]), (f, r[f])
    assert r["lat"] is None and r["long"] is None and r["address"] is None


async def seed(app):  # type: ignore[no-untyped-def]
    user = await approver(app)
    now = datetime.now().astimezone()
    recent = now.replace(microsecond=0).isoformat()
    a = await make_item(app, "歩道の段差が危ない。", user=user, section="road", summary="歩道の段差を直してほしい。",
                        answer="段差を解消しました。", received="2026-06-03T10:00:00+09:00",
                        answered="2026-06-05T10:00:00+09:00")
    b = await make_item(app, "公園の草が伸びています。", user=user, section="park", summary="公園の草刈りをしてほしい。",
                        answer="草刈りを行いました。", received=recent)
    hidden = await make_item(app, "見せない内容。", user=user, section="road", answer="回答", publish=False,
                             received=recent)
    return a.receipt_no, b.receipt_no, hidden.receipt_no


async def test_services(client):
    resp = await client.get("/open311/v2/services.json")
    assert resp.status == 200 and resp.content_type == "application/json"
    data = await resp.json()
    assert len(data) == 16 and {s["service_code"] for s in data} == set(client.app[keys.SECTIONS])
    for s in data:
        assert set(s) == SERVICE_FIELDS and s["type"] == "batch" and s["metadata"] is False
        assert s["service_name"] and s["description"] and s["group"]


async def test_requests_list_filters_and_fields(client):
    old, recent, hidden = await seed(client.app)
    get = client.get
    # Default: the last 90 days (the spec's default window); only published items.
    data = await (await get("/open311/v2/requests.json")).json()
    assert [r["service_request_id"] for r in data] == [recent]
    for r in data:
        assert_request(r)
    r = data[0]
    assert r["status"] == "closed" and r["status_notes"] == "草刈りを行いました。"
    assert r["description"] == "公園の草刈りをしてほしい。" and r["service_code"] == "park"
    assert r["service_name"] == "公園・緑地" and "公園・緑地" in r["agency_responsible"]

    q = {"start_date": "2026-06-01T00:00:00+09:00", "end_date": "2026-06-30T23:59:59+09:00"}
    data = await (await get("/open311/v2/requests.json", params=q)).json()
    assert [r["service_request_id"] for r in data] == [old]
    assert data[0]["requested_datetime"] == "2026-06-03T10:00:00+09:00"
    assert data[0]["expected_datetime"].endswith("T23:59:59+09:00")
    # end_date is inclusive, to the second; a zone-less date is JST; Z is UTC.
    edge = {"start_date": "2026-06-03T10:00:00+09:00", "end_date": "2026-06-03T10:00:00+09:00"}
    assert len(await (await get("/open311/v2/requests.json", params=edge)).json()) == 1
    zless = {"start_date": "2026-06-03T10:00:01", "end_date": "2026-06-04"}
    assert await (await get("/open311/v2/requests.json", params=zless)).json() == []
    utc = {"start_date": "2026-06-03T01:00:00Z", "end_date": "2026-06-03T01:00:00Z"}
    assert len(await (await get("/open311/v2/requests.json", params=utc)).json()) == 1

    assert await (await get("/open311/v2/requests.json", params={**q, "service_code": "park"})).json() == []
    assert len(await (await get("/open311/v2/requests.json", params={**q, "service_code": "road"})).json()) == 1
    assert await (await get("/open311/v2/requests.json", params={**q, "status": "open"})).json() == []
    assert len(await (await get("/open311/v2/requests.json", params={**q, "status": "open,closed"})).json()) == 1

    # service_request_id overrides everything else; unpublished ids are simply absent.
    ids = f"{old},{recent},{hidden}"
    data = await (await get("/open311/v2/requests.json", params={"service_request_id": ids, "status": "open"})).json()
    assert {r["service_request_id"] for r in data} == {old, recent}


async def test_requests_paging(client):
    user = await approver(client.app)
    made = [(await make_item(client.app, f"要望{i}", user=user, section="other", summary=f"要望{i}",
                             answer="承知しました。")).receipt_no for i in range(5)]
    pages = []
    for page in (1, 2, 3, 4):
        resp = await client.get("/open311/v2/requests.json", params={"page_size": "2", "page": str(page)})
        pages.append([r["service_request_id"] for r in await resp.json()])
    assert pages == [made[4:2:-1], made[2:0:-1], made[:1], []]


async def test_one_request_and_unpublished_is_indistinguishable_from_unknown(client):
    old, recent, hidden = await seed(client.app)
    data = await (await client.get(f"/open311/v2/requests/{old}.json")).json()
    assert len(data) == 1 and data[0]["service_request_id"] == old
    assert_request(data[0])
    bodies = []
    for rid in (hidden, "2026-999999", "nonsense", "..%2f..%2fetc"):
        resp = await client.get(f"/open311/v2/requests/{rid}.json")
        assert resp.status == 404
        body = await resp.json()
        assert_error(body, 404)
        bodies.append(body)
    assert bodies[0] == bodies[1]


async def test_get_errors_in_spec_format(client):
    for params in ({"status": "pending"}, {"start_date": "yesterday"}, {"page": "0"}, {"page_size": "10000"},
                   {"service_code": "nope"}, {"service_request_id": "1;DROP TABLE"},
                   {"start_date": "2026-01-01T00:00:00+09:00", "end_date": "2026-06-01T00:00:00+09:00"},
                   {"start_date": "2026-06-01T00:00:00+09:00", "end_date": "2026-05-01T00:00:00+09:00"},
                   {"service_request_id": ",".join(["2026-000001"] * 101)}):
        resp = await client.get("/open311/v2/requests.json", params=params)
        assert resp.status == 400, params
        assert_error(await resp.json(), 400)
    resp = await client.get("/open311/v2/nothing.json")
    assert resp.status == 404
    assert_error(await resp.json(), 404)
    resp = await client.delete("/open311/v2/requests.json")
    assert resp.status == 405
    assert_error(await resp.json(), 405)


POST = {"service_code": "road", "description": "市道の穴が危ないです。補修してください。", "attribute[consent]": "yes",
        "lat": "35.6812", "long": "139.7671", "address_string": "桜町3丁目", "email": "taro@example.jp",
        "first_name": "太郎", "last_name": "山田", "phone": "090-1234-5678"}


async def test_post_creates_a_submission_like_the_web_form(client):
    resp = await client.post("/open311/v2/requests.json", data=POST)
    assert resp.status == 201
    body = await resp.json()
    assert len(body) == 1 and set(body[0]) == {"service_request_id", "service_notice", "account_id"}
    rid = body[0]["service_request_id"]
    assert re.fullmatch(r"\d{4}-\d{6}", rid) and f"受付番号: {rid}" in body[0]["service_notice"]
    status_path = re.search(r"(/status/[\w-]+)", body[0]["service_notice"]).group(1)
    async with client.app[keys.DB].read() as conn:
        sub = await subs.by_receipt(conn, rid)
    assert sub.channel == "open311" and sub.text == POST["description"] and sub.consent
    assert sub.section == "road" and sub.place == "桜町3丁目" and (sub.lat, sub.lon) == (35.6812, 139.7671)
    assert "taro@example.jp" in sub.contact and "090-1234-5678" in sub.contact and "山田 太郎" in sub.contact
    # The sender can follow it on the private status page; the public cannot see it yet.
    assert "市道の穴が危ない" in await (await client.get(status_path)).text()
    assert (await client.get(f"/open311/v2/requests/{rid}.json")).status == 404


async def test_post_service_code_chooses_the_section(client):
    resp = await client.post("/open311/v2/requests.json", data={**POST, "service_code": "park"})
    rid = (await resp.json())[0]["service_request_id"]
    async with client.app[keys.DB].read() as conn:
        assert (await subs.by_receipt(conn, rid)).section == "park"


async def test_post_rejects_bad_input_and_stores_nothing(client):
    bad = [
        {k: v for k, v in POST.items() if k != "description"},
        {**POST, "description": "   \x00 "},
        {**POST, "description": "あ" * 4001},
        {k: v for k, v in POST.items() if k != "attribute[consent]"},
        {**POST, "attribute[consent]": "maybe"},
        {k: v for k, v in POST.items() if k != "service_code"},
        {**POST, "service_code": "../admin"},
        {**POST, "lat": "north"}, {**POST, "lat": "95"}, {**POST, "long": "nan"}, {**POST, "long": ""},
        {**POST, "address_string": "x" * 201},
        {**POST, "email": "a" * 300},
    ]
    for data in bad:
        resp = await client.post("/open311/v2/requests.json", data=data)
        assert resp.status == 400, data
        assert_error(await resp.json(), 400)
    resp = await client.post("/open311/v2/requests.json", data=b"\xff\xfe garbage",
                             headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    assert resp.status == 400
    resp = await client.post("/open311/v2/requests.json", json={"description": "json is not the spec's format"})
    assert resp.status == 400
    resp = await client.post("/open311/v2/requests.json", data={**POST, "description": "x" * 2_000_000})
    assert resp.status == 413
    async with client.app[keys.DB].read() as conn:
        async with conn.execute("SELECT COUNT(*) FROM submissions") as cur:
            assert (await cur.fetchone())[0] == 0


async def test_post_is_idempotent_with_a_key(client):
    h = {"Idempotency-Key": "6f1c1d0e-aaaa-4bbb-8ccc-000000000001"}
    first = await client.post("/open311/v2/requests.json", data=POST, headers=h)
    again = await client.post("/open311/v2/requests.json", data=POST, headers=h)
    assert first.status == 201 and again.status == 200
    rid = (await first.json())[0]["service_request_id"]
    assert (await again.json())[0]["service_request_id"] == rid
    assert "/status/" not in (await again.json())[0]["service_notice"]  # the private link is given once
    other = await client.post("/open311/v2/requests.json", data=POST, headers={"Idempotency-Key": "another"})
    assert (await other.json())[0]["service_request_id"] != rid
    bad = await client.post("/open311/v2/requests.json", data=POST, headers={"Idempotency-Key": "x" * 201})
    assert bad.status == 400


async def test_post_is_rate_limited_per_address(make_client, settings):
    client = await make_client(dataclasses.replace(settings, rate_limit=2))
    h = {"Idempotency-Key": "k1"}
    assert (await client.post("/open311/v2/requests.json", data=POST, headers=h)).status == 201
    assert (await client.post("/open311/v2/requests.json", data=POST)).status == 201
    resp = await client.post("/open311/v2/requests.json", data=POST)
    assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1
    assert_error(await resp.json(), 429)
    # A retry of an accepted request still gets its answer.
    assert (await client.post("/open311/v2/requests.json", data=POST, headers=h)).status == 200
