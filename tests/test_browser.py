"""A real browser (headless Chromium through Playwright) fills in the real form."""

from __future__ import annotations

import re

import pytest

from meyasubako.app import create_app
from tests.browser import BROWSER

pytestmark = BROWSER


@pytest.fixture
async def live_server(aiohttp_server, settings):
    server = await aiohttp_server(create_app(settings))
    return f"http://127.0.0.1:{server.port}", server




async def test_resident_submits_the_form_in_a_browser(live_server, browser, tmp_path):
    base, _ = live_server
    page = await browser.new_page(locale="ja-JP")
    await page.goto(base + "/submit")
    # Submitting empty shows the error next to the field, with the typed place kept.
    await page.fill("#place", "中央公園")
    await page.click("button[type=submit]")
    assert "内容を入力してください" in await page.inner_text("#form-errors")
    assert await page.input_value("#place") == "中央公園"
    await page.fill("#text", "中央公園のブランコの鎖がさびて切れそうです。点検をお願いします。")
    await page.check("#consent-yes")
    await page.click("button[type=submit]")
    await page.wait_for_selector(".receipt")
    text = await page.inner_text(".receipt")
    assert re.search(r"受付番号: \d{4}-\d{6}", text)
    await page.screenshot(path=str(tmp_path / "submitted.png"))
    await page.click(".status-link a")
    assert "対応状況の確認" in await page.inner_text("h1")
    assert "ブランコの鎖" in await page.inner_text(".text")
