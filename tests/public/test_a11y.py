"""axe-core in a real browser (headless Chromium): zero violations on every public page.

Pages: the board (plain, searched, filtered), an item page, the form (empty, with validation
errors, and the similar-answers step), the receipt page, the private status page, the statistics
and the open data page. Also a phone-sized screenshot of the board, kept for a human to look at.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from meyasubako.app import create_app
from tests.browser import ARGS, CHROMIUM
from tests.public.conftest import approver, make_item

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM) and not os.environ.get("CI"),
                       reason="Debian chromium not installed (CI installs it)"),
]

PHONE = {"width": 390, "height": 844}


async def seed(app):  # type: ignore[no-untyped-def]
    user = await approver(app)
    first = None
    for i, (section, summary, answer) in enumerate([
        ("park", "公園のベンチが壊れているので修理してほしい。", "ベンチの修理を来月行います。ご連絡ありがとうございました。" * 3),
        ("park", "中央公園のベンチの板が割れている。", "板を交換しました。"),
        ("waste", "ゴミ集積所のカラス対策をしてほしい。", "カラスよけネットを貸し出します。清掃事務所へご連絡ください。"),
        ("road", "歩道の段差でつまずきそうになる。", "段差を解消する工事を12月に行います。"),
    ]):
        made = await make_item(app, summary, user=user, section=section, summary=summary, answer=answer,
                               received=f"2026-0{6 + i}-03T10:00:00+09:00", answered=f"2026-0{6 + i}-09T10:00:00+09:00")
        first = first or made
    for i in range(22):  # enough for a second page
        await make_item(app, f"図書館の本{i}", user=user, section="education", summary=f"図書館に本を増やしてほしい（{i}）。",
                        answer="購入を検討します。")
    return first


async def check(page, name: str, violations: dict) -> None:  # type: ignore[no-untyped-def]
    from axe_playwright_python.async_playwright import Axe

    result = await Axe().run(page)
    if result.violations_count:
        violations[name] = result.generate_report()


async def test_axe_zero_violations_on_public_pages(aiohttp_server, settings, tmp_path):
    from playwright.async_api import async_playwright

    app = create_app(settings)
    server = await aiohttp_server(app)
    base = f"http://127.0.0.1:{server.port}"
    first = await seed(app)
    violations: dict[str, str] = {}
    shots = os.environ.get("MEYASUBAKO_SCREENSHOTS")
    if shots:  # for a human to look at the phone layout
        Path(shots).mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = await browser.new_page(locale="ja-JP", viewport=PHONE)
        for name, path in [("board", "/"), ("board-search", "/?q=ごみ"), ("board-empty-search", "/?q=該当なし"),
                           ("board-filtered", "/?section=education&page=2"), ("item", f"/voices/{first.receipt_no}"),
                           ("stats", "/stats"), ("stats-month", "/stats?month=2026-06"), ("opendata", "/opendata"),
                           ("form", "/submit"), ("not-found", "/voices/2026-999999")]:
            await page.goto(base + path)
            await check(page, name, violations)
            if shots:
                await page.screenshot(path=str(Path(shots) / f"{name}.png"), full_page=True)
        await page.goto(base + "/")
        await page.screenshot(path=str(tmp_path / "board-phone.png"), full_page=False)
        if shots:
            await page.screenshot(path=str(Path(shots) / "board-phone.png"), full_page=False)

        # With JavaScript: similar answers appear under the text box while typing.
        await page.goto(base + "/submit")
        await page.fill("#text", "公園のベンチが壊れています")
        await page.wait_for_selector("#similar-live:not([hidden]) li", timeout=10_000)
        assert "公園のベンチ" in await page.inner_text("#similar-live")
        assert "似た内容の投書への回答が" in await page.inner_text("#similar-status")
        await check(page, "form-typing", violations)
        if shots:
            await page.screenshot(path=str(Path(shots) / "form-typing.png"), full_page=True)

        # Having seen the list live, sending goes straight to the receipt.
        await page.check("#consent-no")
        await page.click("button[type=submit]")
        await page.wait_for_selector(".receipt")

        # Without the script (blocked): validation errors, the similar-answers page, back, send, status.
        page = await browser.new_page(locale="ja-JP", viewport=PHONE)
        await page.route("**/static/similar.js", lambda route: route.abort())
        await page.goto(base + "/submit")
        await page.click("button[type=submit]")
        assert "内容を入力してください" in await page.inner_text("#form-errors")
        await check(page, "form-errors", violations)
        # The similar-answers step, then back, then send.
        await page.fill("#text", "公園のベンチが壊れています。\n直してください。")
        await page.check("#consent-yes")
        await page.click("button[type=submit]")
        assert "似た内容の投書への回答があります" in await page.inner_text("h1")
        await check(page, "form-similar", violations)
        if shots:
            await page.screenshot(path=str(Path(shots) / "similar-phone.png"), full_page=True)
        await page.click("button[name=step][value=edit]")
        assert await page.input_value("#text") == "公園のベンチが壊れています。\n直してください。"
        await page.click("button[type=submit]")
        await page.click("form.confirm button.primary")
        await page.wait_for_selector(".receipt")
        await check(page, "receipt", violations)
        await page.click(".status-link a")
        assert "対応状況の確認" in await page.inner_text("h1")
        assert "直してください。" in await page.inner_text(".text")  # newlines survived the hidden field
        await check(page, "status", violations)

        # With JavaScript switched off altogether (axe needs scripts, so no audit here).
        nojs = await browser.new_context(java_script_enabled=False, locale="ja-JP", viewport=PHONE)
        page = await nojs.new_page()
        await page.goto(base + "/?q=ベンチ")
        assert "公園のベンチ" in await page.inner_text("main")
        await page.goto(base + "/submit")
        await page.fill("#text", "中央公園のベンチが壊れています。")
        await page.check("#consent-yes")
        await page.click("button[type=submit]")
        assert "似た内容の投書への回答があります" in await page.inner_text("h1")
        await page.click("form.confirm button.primary")
        await page.wait_for_selector(".receipt")
        await browser.close()
    assert not violations, "\n\n".join(f"== {k}\n{v}" for k, v in violations.items())
