"""PostgreSQL goes away under a running app and comes back: a clear 503, never a false
acknowledgement, and intake recovers by itself (the pool reconnects) when the server returns."""

from __future__ import annotations

import pytest

from meyasubako import keys
from meyasubako.settings import Settings
from tests.conftest import SECRET, receipt_of, submit
from tests.faults.test_disk import NOT_SAVED, UNAVAILABLE
from tests.pg_cluster import Cluster, create_database

pytestmark = pytest.mark.skipif(Cluster.unavailable_reason() is not None and not __import__("os").environ.get(
    "MEYASUBAKO_REQUIRE_PG"), reason=str(Cluster.unavailable_reason()))


@pytest.fixture
def own_cluster():  # type: ignore[no-untyped-def]
    """A cluster of this test's own: the test stops and restarts it."""
    cluster = Cluster()
    cluster.start()
    yield cluster
    cluster.stop()


async def test_postgresql_outage_answers_503_and_recovers(make_client, own_cluster, tmp_path) -> None:  # type: ignore[no-untyped-def]
    await create_database(own_cluster.url, "outage")
    settings = Settings(db=own_cluster.database_url("outage"), secret_key=SECRET, rate_limit=0,
                        files=str(tmp_path / "files"))
    client = await make_client(settings)
    status, html = await submit(client, "停電の前の投稿です。公園の照明が暗いです。")
    assert status == 200 and receipt_of(html)

    own_cluster.pause()
    for text in ("停止中の投稿その一。道路に穴があります。", "停止中の投稿その二。ごみが残っています。"):
        resp = await client.post("/submit", data={"text": text, "consent": "yes"})
        page = await client.get("/submit")  # the form itself needs no database
        assert page.status == 200
        status, html = await submit(client, text)
        assert status == 503, status
        assert UNAVAILABLE in html and NOT_SAVED in html and "受付番号" not in html
        assert resp.status in (400, 403, 503)  # without a CSRF token: refused either way, never stored
    board = await client.get("/")
    assert board.status == 503 and "受付番号" not in await board.text()
    assert (await client.get("/healthz/ready")).status == 503

    own_cluster.resume()
    status, html = await submit(client, "復旧後の投稿です。歩道の段差を直してください。")
    assert status == 200 and receipt_of(html)
    async with client.app[keys.DB].read() as conn, conn.execute("SELECT text FROM submissions ORDER BY id") as cur:
        texts = [r[0] for r in await cur.fetchall()]
    assert texts == ["停電の前の投稿です。公園の照明が暗いです。", "復旧後の投稿です。歩道の段差を直してください。"]
