"""Dashboard: counts by section, status, channel and month; days to answer; published vs not,
by reason. Charts are SVG from pygal (its JavaScript off: the CSP allows no inline or external
scripts), always next to a table with the same figures."""

from __future__ import annotations

import re
import statistics
from typing import Any
from urllib.parse import urlencode

import pygal
from aiohttp import web
from pygal.style import Style

from admin import auth
from admin.common import parse_filters
from meyasubako import clock, keys
from meyasubako.domain import CHANNEL_LABELS, CLOSE_REASONS, STATUS_LABELS, User
from meyasubako.web import render
from storage import queue as queue_db

CHART_STYLE = Style(
    background="#ffffff", plot_background="#ffffff", foreground="#1a1a1a", foreground_strong="#1a1a1a",
    foreground_subtle="#4a4a4a", colors=("#0b5394", "#b45f06", "#38761d", "#741b47", "#4a4a4a", "#990000"),
    font_family='"Noto Sans CJK JP", "Hiragino Sans", sans-serif',
)
_SCRIPT = re.compile(rb"<script.*?</script>", re.S)
CHARTS = {"section": "担当課別の件数", "status": "状況別の件数", "channel": "経路別の件数", "month": "月別の受付件数",
          "outcome": "公開・非公開の内訳"}


def _days(pairs: list[tuple[str, str]]) -> list[float]:
    out = []
    for received, answered in pairs:
        try:
            out.append((clock.parse(answered) - clock.parse(received)).total_seconds() / 86400)
        except ValueError:
            continue
    return out


def summarize(stats: dict[str, Any], sections: dict[str, Any]) -> dict[str, Any]:
    """Turn raw counts into labelled rows (and the answer-time figures)."""
    days = _days(stats["durations"])
    median = p90 = None
    if days:
        median = statistics.median(days)
        p90 = statistics.quantiles(days, n=10, method="inclusive")[-1] if len(days) > 1 else days[0]
    published = stats["status"].get("published", 0)
    outcome = [("公開", published)] + [
        (f"非公開（{CLOSE_REASONS.get(k, k or '理由なし')}）", v) for k, v in stats["close_reason"].items()
    ]
    return {
        "section": [(sections[k].name if k in sections else (k or "未設定"), v) for k, v in stats["section"].items()],
        "status": [(STATUS_LABELS.get(k, k), stats["status"][k]) for k in STATUS_LABELS if k in stats["status"]],
        "channel": [(CHANNEL_LABELS.get(k, k), v) for k, v in stats["channel"].items()],
        "month": [(f"{k[:4]}年{int(k[5:7])}月" if len(k) == 7 else k, v) for k, v in stats["month"].items()][-24:],
        "outcome": outcome,
        "overdue": stats["overdue"],
        "total": sum(stats["status"].values()),
        "answered_n": len(days),
        "median": None if median is None else round(median, 1),
        "p90": None if p90 is None else round(p90, 1),
    }


async def _figures(request: web.Request) -> tuple[dict[str, Any], dict[str, str]]:
    user: User = request["user"]
    pq = await parse_filters(request, user)
    async with request.app[keys.DB].read() as conn:
        stats = await queue_db.dashboard(conn, pq.filter)
    return summarize(stats, request.app[keys.SECTIONS]), pq.form


@auth.login_required()
async def dashboard(request: web.Request) -> web.Response:
    fig, form = await _figures(request)
    qs = urlencode({k: v for k, v in form.items() if k in ("section", "from", "to", "channel")})
    return await render(request, "admin/dashboard.html", {
        "user": request["user"], "fig": fig, "f": form, "qs": qs, "charts": CHARTS,
    })


def render_chart(kind: str, fig: dict[str, Any]) -> bytes:
    rows: list[tuple[str, int]] = fig[kind]
    common = {"style": CHART_STYLE, "js": [], "width": 720, "height": 360, "show_legend": kind == "outcome",
              "title": CHARTS[kind], "print_values": False, "disable_xml_declaration": False}
    if kind == "outcome":
        chart = pygal.Pie(**common)
        for label, value in rows:
            chart.add(label, value)
    else:
        chart = (pygal.Line if kind == "month" else pygal.HorizontalBar if kind == "section" else pygal.Bar)(**common)
        chart.x_labels = [label for label, _ in rows]
        chart.add("件数", [value for _, value in rows])
    if not rows:
        chart.no_data_text = "データがありません"
    # pygal writes its config as an inline <script> even with js=[]; an image needs none of it.
    return _SCRIPT.sub(b"", chart.render())


@auth.login_required()
async def chart(request: web.Request) -> web.Response:
    kind = request.match_info["kind"]
    if kind not in CHARTS:
        raise web.HTTPNotFound()
    fig, _ = await _figures(request)
    return web.Response(body=render_chart(kind, fig), content_type="image/svg+xml",
                        headers={"Cache-Control": "private, max-age=60",
                                 # the SVG's own <style> is pygal's; nothing else may load or run
                                 "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"})
