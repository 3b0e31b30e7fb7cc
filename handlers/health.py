"""Health and metrics for the city's monitoring.

  GET /healthz/live   200 while the process runs and its event loop answers (restart it otherwise)
  GET /healthz/ready  200 when it can take submissions: database reachable at the expected schema,
                      the single writer task committing, NLP loaded, not shutting down; else 503
  GET /healthz        the same readiness, in the original contract's shape {"status", "schema_version"}
  GET /metrics        Prometheus text format; from loopback, with MEYASUBAKO_METRICS_TOKEN as a bearer
                      token, or for a logged-in admin; 403 otherwise
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
from collections import Counter
from typing import Any

from aiohttp import web

from admin.auth import current_user
from meyasubako import clock, keys, ops
from meyasubako.domain import Role
from meyasubako.web import client_address
from storage import migrations
from storage import ops_metrics as mdb

REQUESTS = keys.REQUESTS
STOPPING = web.AppKey("stopping", dict)
WRITER_PROBE_TIMEOUT = 5.0


async def _readiness(app: web.Application) -> tuple[bool, dict[str, Any]]:
    checks: dict[str, Any] = {}
    db = app.get(keys.DB)
    checks["stopping"] = bool(app[STOPPING].get("now"))
    checks["nlp"] = app.get(keys.NLP) is not None
    version = None
    try:
        version = await asyncio.wait_for(db.schema_version(), WRITER_PROBE_TIMEOUT) if db else None
        checks["schema"] = version == migrations.latest_version()
    except Exception as exc:
        checks["schema"] = False
        checks["error"] = type(exc).__name__

    async def noop(conn):  # type: ignore[no-untyped-def]
        return None

    try:  # a write through the real queue: proves the writer task lives and can take the write lock
        await asyncio.wait_for(db.write(noop), WRITER_PROBE_TIMEOUT) if db else None
        checks["writer"] = db is not None
    except Exception as exc:
        checks["writer"] = False
        checks.setdefault("error", type(exc).__name__)
    ready = checks["nlp"] and checks["schema"] and checks["writer"] and not checks["stopping"]
    return bool(ready), {"schema_version": version, **checks}


async def live(request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


async def ready(request: web.Request) -> web.Response:
    ok, checks = await _readiness(request.app)
    return web.json_response({"status": "ready" if ok else "unavailable", **checks}, status=200 if ok else 503)


async def healthz(request: web.Request) -> web.Response:
    ok, checks = await _readiness(request.app)
    if ok:
        return web.json_response({"status": "ok", "schema_version": checks["schema_version"]})
    return web.json_response({"status": "unavailable", **checks}, status=503)


# -- metrics ------------------------------------------------------------------------------------------
async def _allowed(request: web.Request) -> bool:
    try:
        if ipaddress.ip_address(client_address(request)).is_loopback:
            return True
    except ValueError:
        pass
    token = request.app[keys.SETTINGS].metrics_token
    auth = request.headers.get("Authorization", "")
    if token and auth.startswith("Bearer ") and secrets.compare_digest(auth[7:].encode(), token.encode()):
        return True
    user = await current_user(request)
    return user is not None and user.role == Role.ADMIN


def _line(name: str, value: float, labels: dict[str, str] | None = None) -> str:
    if labels:
        inner = ",".join(f'{k}="{_esc(v)}"' for k, v in sorted(labels.items()))
        return f"{name}{{{inner}}} {value:g}"
    return f"{name} {value:g}"


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _family(out: list[str], name: str, kind: str, help_: str, samples: list[tuple[dict[str, str] | None, float]]) -> None:
    out.append(f"# HELP {name} {help_}")
    out.append(f"# TYPE {name} {kind}")
    out.extend(_line(name, v, lab) for lab, v in samples)


async def metrics(request: web.Request) -> web.Response:
    if not await _allowed(request):
        return web.Response(status=403, text="forbidden\n", content_type="text/plain")
    app = request.app
    now = app[keys.WORKFLOW].now()
    async with app[keys.DB].read() as conn:
        snap = await mdb.snapshot(conn, today=now.date().isoformat())
        version = await migrations.current_version(conn)
    ok, _ = await _readiness(app)
    state = app[ops.OPS]
    oldest = snap["oldest_pending"]
    age = max(0.0, (now - clock.parse(oldest)).total_seconds()) if oldest else 0.0
    out: list[str] = []
    _family(out, "meyasubako_http_requests_total", "counter", "HTTP requests answered, by status class.",
            [({"code": k}, v) for k, v in sorted(app[REQUESTS].items())] or [({"code": "2xx"}, 0)])
    _family(out, "meyasubako_submissions_total", "counter", "Submissions received, by intake channel.",
            [({"channel": c}, snap["by_channel"].get(c, 0)) for c in sorted({"web", "line", "open311",
                                                                               *snap["by_channel"]})])
    _family(out, "meyasubako_submissions", "gauge", "Submissions by current status.",
            [({"status": s}, n) for s, n in sorted(snap["by_status"].items())])
    _family(out, "meyasubako_overdue_items", "gauge", "Items past their answer deadline and not yet approved.",
            [(None, snap["overdue"])])
    _family(out, "meyasubako_outbox_messages", "gauge", "Outgoing LINE messages by state.",
            [({"status": s}, snap["outbox"].get(s, 0)) for s in ("pending", "sent", "failed")])
    _family(out, "meyasubako_outbox_oldest_pending_age_seconds", "gauge",
            "Age of the oldest unsent LINE message (0 when none is waiting).", [(None, round(age, 1))])
    _family(out, "meyasubako_erased_items", "gauge", "Items whose personal data has been erased.",
            [(None, snap["erased"])])
    _family(out, "meyasubako_schema_version", "gauge", "Database schema version.", [(None, version)])
    _family(out, "meyasubako_ready", "gauge", "1 when the service can take submissions.", [(None, int(ok))])
    _family(out, "meyasubako_start_time_seconds", "gauge", "Process start (unix time).", [(None, int(state.started))])
    if state.last_backup_at is not None:
        _family(out, "meyasubako_last_backup_time_seconds", "gauge", "Last scheduled backup attempt (unix time).",
                [(None, int(state.last_backup_at))])
        _family(out, "meyasubako_last_backup_success", "gauge", "1 when the last scheduled backup succeeded.",
                [(None, int(bool(state.last_backup_ok)))])
    if state.last_retention_at is not None:
        _family(out, "meyasubako_last_retention_time_seconds", "gauge", "Last retention pass (unix time).",
                [(None, int(state.last_retention_at))])
    return web.Response(text="\n".join(out) + "\n", content_type="text/plain", charset="utf-8",
                        headers={"Cache-Control": "no-store"})


async def _on_shutdown(app: web.Application) -> None:
    app[STOPPING]["now"] = True  # readiness turns 503 so a load balancer drains us first


def setup_routes(app: web.Application) -> None:
    app[REQUESTS] = Counter()
    app[STOPPING] = {}
    app.on_shutdown.append(_on_shutdown)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/healthz/live", live)
    app.router.add_get("/healthz/ready", ready)
    app.router.add_get("/metrics", metrics)
