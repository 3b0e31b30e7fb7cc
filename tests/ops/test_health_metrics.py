"""/healthz (live vs ready) and the Prometheus /metrics endpoint with its access rules."""

from __future__ import annotations

import re

from meyasubako import keys
from meyasubako.settings import parse_networks
from storage import migrations
from tests.conftest import add_user, login, submit
from tests.ops.helpers import execute

TOKEN = "metrics-token-0123456789"


def metric(text: str, name: str, labels: str = "") -> float:
    m = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.M)
    assert m, f"{name}{labels} missing"
    return float(m.group(1))


async def test_live_ready_and_the_original_contract(client):
    resp = await client.get("/healthz")
    assert resp.status == 200 and await resp.json() == {"status": "ok", "schema_version": migrations.latest_version()}
    assert (await client.get("/healthz/live")).status == 200
    body = await (await client.get("/healthz/ready")).json()
    assert body["status"] == "ready" and body["writer"] and body["nlp"] and body["schema"]


async def test_not_ready_when_the_database_is_gone_but_still_live(client):
    await client.app[keys.DB].close()  # the writer task ends, as it would after a fatal storage error
    assert (await client.get("/healthz/live")).status == 200
    resp = await client.get("/healthz/ready")
    assert resp.status == 503 and (await resp.json())["writer"] is False
    resp = await client.get("/healthz")
    assert resp.status == 503 and (await resp.json())["status"] == "unavailable"


async def test_not_ready_on_an_unexpected_schema(client, settings):
    execute(settings.db_path, "INSERT INTO schema_version (version, name) VALUES (9999, '9999_future.sql')")
    resp = await client.get("/healthz/ready")
    assert resp.status == 503 and (await resp.json())["schema"] is False


async def test_metrics_counts(client, settings):
    for text in ("公園の遊具が壊れています。", "道路の穴を直してください。"):
        await submit(client, text)
    await client.get("/no-such-page")
    execute(settings.db_path,
            "INSERT INTO outbox (channel, kind, recipient, payload_json, retry_key, next_attempt_at, created_at)"
            " VALUES ('line', 'push', 'U1', '{}', 'k1', '2000-01-01T00:00:00+09:00', '2000-01-01T00:00:00+09:00')",
            "UPDATE submissions SET due_at = '2000-01-01' WHERE id = 1")
    resp = await client.get("/metrics")
    assert resp.status == 200 and resp.content_type == "text/plain"
    text = await resp.text()
    assert metric(text, "meyasubako_submissions_total", '{channel="web"}') == 2
    assert metric(text, "meyasubako_submissions_total", '{channel="line"}') == 0
    assert metric(text, "meyasubako_http_requests_total", '{code="4xx"}') >= 1
    assert metric(text, "meyasubako_http_requests_total", '{code="3xx"}') == 2  # the two form redirects
    assert metric(text, "meyasubako_outbox_messages", '{status="pending"}') == 1
    assert metric(text, "meyasubako_outbox_oldest_pending_age_seconds") > 20 * 365 * 86400
    assert metric(text, "meyasubako_overdue_items") == 1
    assert metric(text, "meyasubako_schema_version") == migrations.latest_version()
    assert metric(text, "meyasubako_ready") == 1
    for line in text.splitlines():  # exposition format: comments or "name{labels} number"
        assert line.startswith("# ") or re.match(r'^[a-z_]+(\{[a-z_]+="[^"]*"\})? -?[0-9.e+]+$', line), line


async def test_metrics_access_from_elsewhere(make_client, settings):
    # behind a trusted proxy the client is 203.0.113.5, not loopback: no anonymous access
    client = await make_client(settings.with_overrides(trusted_proxies=parse_networks("127.0.0.1"),
                                                       metrics_token=TOKEN))
    client.session.headers["X-Forwarded-For"] = "203.0.113.5"
    assert (await client.get("/metrics")).status == 403
    for bad in ("Bearer wrong-token-0123456789", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer "):
        assert (await client.get("/metrics", headers={"Authorization": bad})).status == 403
    assert (await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})).status == 200
    await add_user(client.app, "koucho", "approver")
    await add_user(client.app, "kanri", "admin")
    await login(client, "koucho")
    assert (await client.get("/metrics")).status == 403
    await login(client, "kanri")
    assert (await client.get("/metrics")).status == 200
    # a forwarded header from an untrusted peer cannot make it look like loopback either
    client2 = await make_client(settings.with_overrides(trusted_proxies=parse_networks("10.0.0.1")))
    client2.session.headers["X-Forwarded-For"] = "203.0.113.5"
    assert (await client2.get("/metrics")).status == 200  # the real peer (the test client) is loopback
