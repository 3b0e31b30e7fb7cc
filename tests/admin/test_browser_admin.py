"""A real browser (headless Chromium) walks the staff path: triage → answer → 決裁 → publish, and
axe checks the item page and the queue."""

from __future__ import annotations

from meyasubako.app import create_app
from tests.admin.helpers import get, new_item, setup_people
from tests.browser import BROWSER
from tests.conftest import PASSWORD

pytestmark = BROWSER




async def _login(page, base: str, name: str) -> None:  # type: ignore[no-untyped-def]
    await page.context.clear_cookies()
    await page.goto(base + "/admin/login")
    await page.fill("#name", name)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_selector("h1:has-text('受付一覧')")


async def test_triage_answer_approve_publish_in_a_browser(aiohttp_server, settings, browser, tmp_path):
    from axe_playwright_python.async_playwright import Axe

    server = await aiohttp_server(create_app(settings))
    app = server.app
    base = f"http://127.0.0.1:{server.port}"
    await setup_people(app)
    sub = await new_item(app, "家の前の道路に大きな穴があいています。山田太郎 090-1234-5678")
    no = sub.receipt_no
    page = await browser.new_page(locale="ja-JP", viewport={"width": 1024, "height": 768})  # tablet landscape
    # 広聴 triages: route to road.
    await _login(page, base, "koucho")
    await page.click(f"a:has-text('{no}')")
    assert await page.locator("#original mark.pii").count() >= 1
    await page.select_option("#route-section", "road")
    await page.click("button:has-text('担当課を設定')")
    await page.wait_for_selector(".flash")
    assert (await get(app, no)).section == "road"
    # The road section drafts and sends the answer to 決裁.
    await _login(page, base, "douro")
    await page.goto(f"{base}/admin/items/{no}")
    await page.fill("#answer-body", "現地を確認し、今月中に補修します。")
    await page.click("button:has-text('下書きを保存')")
    await page.wait_for_selector(".flash")
    assert (await get(app, no)).status == "in_progress"
    await page.click("button:has-text('決裁に回す')")
    await page.wait_for_selector(".flash")
    assert (await get(app, no)).status == "answered"
    # 広聴 approves, then publishes the masked 要旨.
    await _login(page, base, "koucho")
    await page.goto(f"{base}/admin/items/{no}")
    await page.click("button:has-text('この回答を決裁する')")
    await page.wait_for_selector(".flash")
    summary = await page.input_value("#summary")
    assert "090-1234-5678" not in summary
    results = await Axe().run(page)
    await page.screenshot(path=str(tmp_path / "item.png"), full_page=True)
    assert results.violations_count == 0, results.generate_report()
    await page.click("button:has-text('公開する')")
    await page.wait_for_selector(".flash")
    assert (await get(app, no)).status == "published"
    await page.goto(base + "/")
    assert "今月中に補修します" in await page.inner_text("main")
    await page.goto(base + "/admin/")
    results = await Axe().run(page)
    assert results.violations_count == 0, results.generate_report()
    await page.goto(base + "/admin/dashboard")
    results = await Axe().run(page)
    assert results.violations_count == 0, results.generate_report()
