"""The 開示・削除 pages in a real browser: usable without JavaScript, and free of axe violations."""

from __future__ import annotations

from meyasubako.app import create_app
from tests.browser import BROWSER
from tests.conftest import PASSWORD, add_user, submit

pytestmark = BROWSER




async def test_officer_finds_and_erases_in_a_browser(aiohttp_server, aiohttp_client, settings, browser, tmp_path):
    from axe_playwright_python.async_playwright import Axe

    app = create_app(settings)
    server = await aiohttp_server(app)
    await add_user(app, "koucho", "approver")
    client = await aiohttp_client(server)
    await submit(client, "歩道の段差が危ないです。", contact="hanako@example.jp")
    base = f"http://127.0.0.1:{server.port}"
    page = await browser.new_page(locale="ja-JP")
    await page.goto(base + "/admin/login")
    await page.fill("#name", "koucho")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.click("text=個人情報の請求")
    await page.fill("#q", "hanako@example.jp")
    await page.select_option("#kind", "contact")
    await page.get_by_role("button", name="探す").click()
    await page.wait_for_selector(".resident-item")
    assert "歩道の段差" in await page.inner_text("main")
    assert (await Axe().run(page)).violations_count == 0
    await page.get_by_role("button", name="削除の確認へ進む").click()
    await page.wait_for_selector("#reason")
    assert "元に戻せません" in await page.inner_text("main")
    assert (await Axe().run(page)).violations_count == 0
    await page.fill("#reason", "請求第1号")
    await page.check("#understood")
    await page.get_by_role("button", name="削除する", exact=True).click()
    await page.wait_for_selector(".notice")
    assert "1件の投稿から個人情報を削除しました" in await page.inner_text("main")
    assert (await Axe().run(page)).violations_count == 0
    await page.screenshot(path=str(tmp_path / "residents.png"), full_page=True)
    if __import__("os").environ.get("KEEP_SHOT"):
        await page.screenshot(path="/tmp/residents.png", full_page=True)
