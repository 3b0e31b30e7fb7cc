"""Published items similar to what a resident is typing (the web form's 「似た内容の回答」).

Free text has no stored list (item pages do: meyasubako/related.py), so this searches the public
similarity index on the NLP thread and re-reads the hits with the ``published`` condition, so an
item unpublished a moment ago is never shown.
"""

from __future__ import annotations

from aiohttp import web

from meyasubako import keys
from meyasubako.related import MIN_SCORE
from storage import public as pub


async def related_items(app: web.Application, terms: list[str], *, k: int = 5) -> list[tuple[pub.PublicItem, float]]:
    """Published items most similar to ``terms`` (best first), re-checked against storage."""
    if not terms:
        return []
    hits = await app[keys.NLP].similar_to("public", terms, k=k)
    hits = [(r, s) for r, s in hits if s >= MIN_SCORE]
    if not hits:
        return []
    async with app[keys.DB].read() as conn:
        items = await pub.by_receipts(conn, [r for r, _ in hits])
    score = dict(hits)
    return [(i, score[i.receipt_no]) for i in items]
