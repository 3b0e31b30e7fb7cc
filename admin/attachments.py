"""Staff-only access to residents' photos: ``GET /admin/attachments/{id}``.

The file is found by the attachment's id, never by a path taken from the URL; the staff member
must be allowed to see the submission's section (otherwise 404, as for the item itself). Photos of
drafts that were never sent are not reachable at all.
"""

from __future__ import annotations

from aiohttp import web

from admin import auth
from bot import media
from meyasubako import keys
from meyasubako.domain import NotFound, User
from storage import attachments as att_db
from storage import submissions as subs

EXT = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp"}


@auth.login_required()
async def attachment(request: web.Request) -> web.StreamResponse:
    user: User = request["user"]
    try:
        att_id = int(request.match_info["id"])
    except ValueError as exc:
        raise NotFound("写真が見つかりません。") from exc
    async with request.app[keys.DB].read() as conn:
        att = await att_db.by_id(conn, att_id)
        sub = await subs.by_id(conn, att.submission_id) if att and att.submission_id else None
    if att is None or sub is None or not user.can_see_section(sub.section) or att.mime not in EXT:
        raise NotFound("写真が見つかりません。")
    path = media.resolve(request.app[keys.SETTINGS].files_dir, att.path)
    if path is None or not path.is_file():
        raise NotFound("写真が見つかりません。")
    return web.FileResponse(path, headers={
        "Content-Type": att.mime,
        "Content-Disposition": f'inline; filename="{sub.receipt_no}-{att.id}.{EXT[att.mime]}"',
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
        # A photo opened on its own must not run anything, whatever bytes it holds.
        "Content-Security-Policy": "default-src 'none'; img-src 'self'; sandbox",
    })


def setup_routes(app: web.Application) -> None:
    app.router.add_get(r"/admin/attachments/{id:\d{1,18}}", attachment)
