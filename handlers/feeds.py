"""Atom 1.0 feeds of newly published items: ``/feed.atom`` and ``/sections/{id}/feed.atom``.

Built with ElementTree, so every text is escaped by the serializer. IDs are tag: URIs
(RFC 4151) on the host of ``MEYASUBAKO_BASE_URL`` (the request's host when it is unset), so a
feed reader keeps an entry's identity even if the page's URL scheme changes.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

from aiohttp import web

from meyasubako import keys
from meyasubako.domain import NotFound
from storage import public as pub

ATOM = "http://www.w3.org/2005/Atom"
ENTRIES = 50
TAG_DATE = "2026"  # the tag: URI date: the year this scheme of ids was minted; never change it
EMPTY_UPDATED = "2026-01-01T00:00:00+09:00"  # a feed needs <updated> even before anything is published
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

ET.register_namespace("", ATOM)


def base_url(request: web.Request) -> str:
    return request.app[keys.SETTINGS].base_url.rstrip("/") or f"{request.scheme}://{request.host}"


def _text(value: str) -> str:
    return _XML_INVALID.sub("", value)


def _el(parent: ET.Element, name: str, text: str | None = None, **attrs: str) -> ET.Element:
    e = ET.SubElement(parent, f"{{{ATOM}}}{name}", attrs)
    if text is not None:
        e.text = _text(text)
    return e


def build_feed(request: web.Request, items: list[pub.PublicItem], *, section: str | None,
               section_name: str | None, updated: str | None) -> bytes:
    base = base_url(request)
    authority = urlsplit(base).hostname or "localhost"
    self_path = f"/sections/{section}/feed.atom" if section else "/feed.atom"
    html_path = f"/?section={section}" if section else "/"
    feed = ET.Element(f"{{{ATOM}}}feed", {"{http://www.w3.org/XML/1998/namespace}lang": "ja"})
    _el(feed, "id", f"tag:{authority},{TAG_DATE}:feed" + (f":{section}" if section else ""))
    _el(feed, "title", "市民の声と回答" + (f"（{section_name}）" if section_name else ""))
    _el(feed, "subtitle", "投稿者の同意を得て、個人情報を伏せて掲載したご意見の要旨と市の回答です。")
    _el(feed, "updated", updated or EMPTY_UPDATED)
    _el(feed, "link", rel="self", type="application/atom+xml", href=base + self_path)
    _el(feed, "link", rel="alternate", type="text/html", href=base + html_path)
    author = _el(feed, "author")
    _el(author, "name", "市民の声（目安箱）")
    for item in items:
        entry = _el(feed, "entry")
        _el(entry, "id", f"tag:{authority},{TAG_DATE}:voices/{item.receipt_no}")
        title = item.summary if len(item.summary) <= 60 else item.summary[:59] + "…"
        _el(entry, "title", title)
        _el(entry, "updated", item.published_at)
        _el(entry, "published", item.published_at)
        _el(entry, "link", rel="alternate", type="text/html", href=f"{base}/voices/{item.receipt_no}")
        if item.section_name:
            _el(entry, "category", term=item.section or "", label=item.section_name)
        content = (f"受付番号: {item.receipt_no}\n担当: {item.section_name or '未設定'}\n\n"
                   f"【ご意見（要旨）】\n{item.summary}\n\n【回答】\n{item.answer}")
        _el(entry, "content", content, type="text")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


async def _feed(request: web.Request, section: str | None) -> web.Response:
    async with request.app[keys.DB].read() as conn:
        items, _ = await pub.search(conn, pub.PublicFilter(section=section), limit=ENTRIES)
        updated = items[0].published_at if items else await pub.last_published_at(conn, section)
    name = request.app[keys.SECTIONS][section].name if section else None
    body = build_feed(request, items, section=section, section_name=name, updated=updated)
    return web.Response(body=body, content_type="application/atom+xml", charset="utf-8",
                        headers={"Cache-Control": "public, max-age=60"})


async def feed_all(request: web.Request) -> web.Response:
    return await _feed(request, None)


async def feed_section(request: web.Request) -> web.Response:
    section = request.match_info["section"]
    if section not in request.app[keys.SECTIONS]:
        raise NotFound("該当する担当が見つかりません。")
    return await _feed(request, section)


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/feed.atom", feed_all, name="feed")
    app.router.add_get(r"/sections/{section:[a-z0-9_-]{1,40}}/feed.atom", feed_section)
