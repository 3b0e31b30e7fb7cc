"""A local stand-in for LINE's Messaging API, for benchmarks and fault tests.

    python bench/line_double.py --port 8091        # then LINE_API_BASE=http://127.0.0.1:8091

It answers reply and push the way LINE does (``{"sentMessages": [{"id": ...}]}``) and records every
call with its ``X-Line-Retry-Key``, so a test can check that the outbox sent each message exactly
once and kept the same retry key across attempts. It can be told to misbehave the ways LINE's
documentation says a client must survive, via ``POST /_control {"mode": ..., "count": n}``:

  ok                normal answers
  500               HTTP 500
  429               HTTP 429 without Retry-After
  429-retry-after   HTTP 429 with ``Retry-After: 1``
  timeout           hold the request for 30 s (longer than any sane client timeout)
  reset             close the connection without an answer

``count`` limits the fault to the next n calls (then back to ok); without it the fault stays.
``GET /_stats`` returns the calls seen. A retried message whose retry key was already accepted
gets 409 with ``x-line-accepted-request-id``, as LINE answers it.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from typing import Any

from aiohttp import web

CALLS = web.AppKey("calls", list)
STATE = web.AppKey("state", dict)


async def _fault(request: web.Request) -> web.StreamResponse | None:
    state = request.app[STATE]
    mode = state["mode"]
    if mode == "ok":
        return None
    if state["count"] is not None:
        state["count"] -= 1
        if state["count"] <= 0:
            state["mode"], state["count"] = "ok", None
    if mode == "500":
        return web.json_response({"message": "Internal server error"}, status=500)
    if mode == "429":
        return web.json_response({"message": "Too Many Requests"}, status=429)
    if mode == "429-retry-after":
        return web.json_response({"message": "Too Many Requests"}, status=429, headers={"Retry-After": "1"})
    if mode == "timeout":
        await asyncio.sleep(30)
        return web.json_response({"message": "late"}, status=504)
    if mode == "reset":
        assert request.transport is not None
        request.transport.abort()
        raise asyncio.CancelledError
    return None


async def send(request: web.Request) -> web.StreamResponse:
    body: dict[str, Any] = await request.json()
    key = request.headers.get("X-Line-Retry-Key")
    kind = request.match_info["kind"]
    calls = request.app[CALLS]
    fault = await _fault(request)
    calls.append({"kind": kind, "retry_key": key, "to": body.get("to") or body.get("replyToken"),
                  "messages": body.get("messages", []), "fault": request.app[STATE]["mode"] if fault else None})
    if fault is not None:
        return fault
    accepted = request.app[STATE]["accepted"]
    if key and key in accepted:
        return web.json_response({"message": "The retry key is already accepted"}, status=409,
                                 headers={"x-line-accepted-request-id": accepted[key]})
    request_id = str(uuid.uuid4())
    if key:
        accepted[key] = request_id
    return web.json_response({"sentMessages": [{"id": str(uuid.uuid4().int)[:18]} for _ in body.get("messages", [])]},
                             headers={"x-line-request-id": request_id})


async def profile(request: web.Request) -> web.Response:
    return web.json_response({"userId": request.match_info["user"], "displayName": "テスト"})


async def control(request: web.Request) -> web.Response:
    body = await request.json()
    request.app[STATE].update(mode=str(body.get("mode", "ok")), count=body.get("count"))
    return web.json_response(request.app[STATE]["mode"])


async def stats(request: web.Request) -> web.Response:
    return web.json_response({"calls": request.app[CALLS], "accepted": len(request.app[STATE]["accepted"])})


async def root(request: web.Request) -> web.Response:
    return web.Response(text="line double")


def make_app() -> web.Application:
    app = web.Application()
    app[CALLS] = []
    app[STATE] = {"mode": "ok", "count": None, "accepted": {}}
    app.router.add_get("/", root)
    app.router.add_post(r"/v2/bot/message/{kind:reply|push|multicast}", send)
    app.router.add_get("/v2/bot/profile/{user}", profile)
    app.router.add_post("/_control", control)
    app.router.add_get("/_stats", stats)
    return app


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8091)
    args = p.parse_args()
    web.run_app(make_app(), host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
