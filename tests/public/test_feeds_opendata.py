"""Atom feeds parse as valid Atom 1.0; open data downloads hold exactly the documented columns."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET

from handlers.opendata import FIELDS
from tests.public.conftest import approver, make_item

BOTH_BACKENDS = True  # tests/conftest.py: each test runs on SQLite and on PostgreSQL

A = "{http://www.w3.org/2005/Atom}"


async def seed(app):  # type: ignore[no-untyped-def]
    user = await approver(app)
    road = await make_item(app, "歩道の段差でつまずきます。", user=user, section="road", summary="歩道の段差を直してほしい。",
                           answer="段差を解消しました。\n<b>ご連絡ありがとうございました</b> & 以上")
    park = await make_item(app, "公園の草が伸びています。", user=user, section="park", summary="公園の草刈りをしてほしい。",
                           answer="草刈りを行いました。")
    hidden = await make_item(app, "秘密の内容です。", user=user, section="road", answer="回答", publish=False)
    return road.receipt_no, park.receipt_no, hidden.receipt_no


def check_atom(body: bytes) -> ET.Element:
    root = ET.fromstring(body)
    assert root.tag == f"{A}feed"
    for name in ("id", "title", "updated"):
        assert root.find(f"{A}{name}") is not None and root.find(f"{A}{name}").text, name
    links = {(link.get("rel"), link.get("href")) for link in root.findall(f"{A}link")}
    assert any(rel == "self" for rel, _ in links)
    assert root.find(f"{A}author/{A}name") is not None  # required when entries have no author
    ids = set()
    for entry in root.findall(f"{A}entry"):
        eid = entry.find(f"{A}id").text
        assert eid.startswith("tag:") and eid not in ids
        ids.add(eid)
        assert entry.find(f"{A}title").text
        assert entry.find(f"{A}updated").text
        assert entry.find(f"{A}link").get("href").startswith("http")
        content = entry.find(f"{A}content")
        assert content.get("type") == "text" and content.text
    return root


async def test_atom_feeds_overall_and_per_section(client):
    road, park, hidden = await seed(client.app)
    resp = await client.get("/feed.atom")
    assert resp.status == 200 and resp.content_type == "application/atom+xml"
    root = check_atom(await resp.read())
    entries = root.findall(f"{A}entry")
    assert [e.find(f"{A}id").text.rsplit("/", 1)[1] for e in entries] == [park, road]  # newest first
    road_entry = entries[1]
    # Markup in an answer is text, escaped by the serializer, and parses back verbatim.
    assert "<b>ご連絡ありがとうございました</b> & 以上" in road_entry.find(f"{A}content").text
    assert root.find(f"{A}updated").text == entries[0].find(f"{A}updated").text

    section = check_atom(await (await client.get("/sections/park/feed.atom")).read())
    assert [e.find(f"{A}link").get("href").rsplit("/", 1)[1] for e in section.findall(f"{A}entry")] == [park]
    assert "公園・緑地" in section.find(f"{A}title").text
    empty = check_atom(await (await client.get("/sections/tax/feed.atom")).read())
    assert empty.findall(f"{A}entry") == []
    assert (await client.get("/sections/nope/feed.atom")).status == 404
    assert (await client.get("/sections/..%2f/feed.atom")).status == 404


async def test_feed_of_an_empty_board_is_valid(client):
    check_atom(await (await client.get("/feed.atom")).read())


async def test_csv_download_has_bom_documented_columns_and_published_rows(client):
    road, park, hidden = await seed(client.app)
    resp = await client.get("/opendata/voices.csv")
    assert resp.status == 200 and resp.content_type == "text/csv"
    raw = await resp.read()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert list(rows[0].keys()) == FIELDS
    assert {r["receipt_no"] for r in rows} == {road, park}
    r = next(r for r in rows if r["receipt_no"] == road)
    assert r["section_id"] == "road" and r["section_name"] == "道路・河川"
    assert r["summary"] == "歩道の段差を直してほしい。" and r["answer"].startswith("段差を解消しました。\n")
    assert r["url"].endswith(f"/voices/{road}") and len(r["received_date"]) == 10


async def test_json_download_matches_csv(client):
    road, park, hidden = await seed(client.app)
    resp = await client.get("/opendata/voices.json")
    assert resp.status == 200 and resp.content_type == "application/json"
    data = json.loads(await resp.read())
    assert data["columns"] == FIELDS
    assert {i["receipt_no"] for i in data["items"]} == {road, park}
    assert all(list(i.keys()) == FIELDS for i in data["items"])


async def test_downloads_stream_items_across_batches(client, monkeypatch):
    import handlers.opendata

    monkeypatch.setattr(handlers.opendata, "BATCH", 2)  # batch boundaries are where keyset paging goes wrong
    user = await approver(client.app)
    made = set()
    for i in range(5):
        made.add((await make_item(client.app, f"要望{i}", user=user, section="other", summary=f"要望{i}",
                                  answer="承知しました。")).receipt_no)
    await make_item(client.app, "非公開の要望", user=user, section="other", answer="承知しました。", publish=False)
    raw = await (await client.get("/opendata/voices.csv")).read()
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == 5 and {r["receipt_no"] for r in rows} == made
    data = json.loads(await (await client.get("/opendata/voices.json")).read())
    assert [i["receipt_no"] for i in data["items"]] == [r["receipt_no"] for r in rows]


async def test_opendata_page_documents_every_column(client):
    html = await (await client.get("/opendata")).text()
    for col in FIELDS:
        assert f"<code>{col}</code>" in html
