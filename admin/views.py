"""Staff site routes. The pages themselves live in one module per concern: queue (list, bulk,
CSV), item (one item and its actions), dashboard (figures and charts), manage (users, sections,
templates, audit)."""

from __future__ import annotations

from aiohttp import web

from admin import auth, dashboard, item, learning, manage, queue
from admin.common import visible_sections  # noqa: F401  (kept: other modules import it from here)

RECEIPT = r"{receipt_no:\d{4}-\d{6}}"


def setup_routes(app: web.Application) -> None:
    limiter_rate = 10  # login attempts per minute per address and per account
    app[auth.LOGIN_LIMITER] = auth.RateLimiter(limiter_rate)
    learning.setup(app)
    r = app.router
    r.add_get("/admin/login", auth.login_form)
    r.add_post("/admin/login", auth.login_post)
    r.add_post("/admin/logout", auth.logout)
    r.add_get("/admin/", queue.queue)
    r.add_post("/admin/bulk", queue.bulk)
    r.add_get("/admin/export.csv", queue.export_csv)
    r.add_get(f"/admin/items/{RECEIPT}", item.item)
    r.add_post(f"/admin/items/{RECEIPT}/{{action:[a-z_]+}}", item.item_action)
    r.add_get("/admin/dashboard", dashboard.dashboard)
    r.add_get("/admin/charts/{kind:[a-z]+}.svg", dashboard.chart)
    r.add_get("/admin/users", manage.users_page)
    r.add_post("/admin/users", manage.user_create)
    r.add_post(r"/admin/users/{user_id:\d{1,9}}/{action:[a-z]+}", manage.user_action)
    r.add_get("/admin/sections", manage.sections_page)
    r.add_get("/admin/sections/{section_id:[a-z_]{1,40}}", manage.section_page)
    r.add_post("/admin/sections/{section_id:[a-z_]{1,40}}", manage.section_save)
    r.add_post("/admin/sections/{section_id:[a-z_]{1,40}}/templates", manage.template_save)
    r.add_get("/admin/audit", manage.audit_page)
