"""A local test double of the LINE Messaging API on 127.0.0.1, for the real SDK to talk to.

It implements what the bot uses — reply, push, message content — the way LINE does: bearer
token required, reply tokens single-use, ``X-Line-Retry-Key`` must be a UUID and an accepted key
answers 409 the second time, success answers ``{"sentMessages": [...]}``. Every request is
recorded (path, headers, JSON). Failures are programmed per endpoint and consumed in order:

    double.fail("push", status=500)
    double.fail("push", status=429, retry_after=1)
    double.fail("reply", delay=2.0)            # slower than the client's timeout, then 500
    double.fail("push", delay=2.0, status=200) # slower than the timeout, but accepted in the end
    double.fail("push", reset=True)            # connection dropped without an answer
    double.reject_reply_token("tok")           # 400 Invalid reply token
    double.outage("push", status=503)          # every push fails like this ...
    double.recover()                           # ... until the API comes back

Also builds and signs webhook bodies exactly like LINE (base64 HMAC-SHA256 of the raw body).

Run on its own (benchmarks, a ``serve`` in another process, a person trying the bot)::

    python -m tests.line_double --port 8091    # then LINE_API_BASE=http://127.0.0.1:8091

and program it over HTTP: ``POST /_control`` with ``{"endpoint": "push", "status": 500, "count": 3}``
(any keyword of ``fail``; ``"outage": true`` for a lasting one; ``{"recover": true}`` clears them),
``GET /_stats`` for what it saw.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

CHANNEL_SECRET = "0123456789abcdef0123456789abcdef"
ACCESS_TOKEN = "test-access-token"


@dataclass
class Recorded:
    endpoint: str                 # 'reply' | 'push' | 'content'
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    status: int
    at: float = field(default_factory=time.monotonic)

    @property
    def retry_key(self) -> str | None:
        return self.headers.get("X-Line-Retry-Key")

    @property
    def texts(self) -> list[str]:
        return [m.get("text", "") for m in (self.body or {}).get("messages", [])]

    @property
    def to(self) -> str | None:
        return (self.body or {}).get("to")


@dataclass
class Failure:
    status: int = 500
    retry_after: str | None = None
    delay: float = 0.0
    reset: bool = False
    body: dict[str, Any] | None = None
    to: str | None = None          # only for pushes to this user
    sticky: bool = False           # an outage: stays until recover()


class LineDouble:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.failures: dict[str, list[Failure]] = {"reply": [], "push": [], "content": []}
        self.contents: dict[str, bytes] = {}
        self.reply_tokens_used: set[str] = set()
        self.rejected_tokens: set[str] = set()
        self.accepted_retry_keys: set[str] = set()
        self.reply_owner: dict[str, str] = {}   # reply token -> user id (to attribute replies)
        self._ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # -- lifecycle ---------------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(client_max_size=2 * 1024 * 1024)
        app.router.add_post("/v2/bot/message/reply", self._reply)
        app.router.add_post("/v2/bot/message/push", self._push)
        app.router.add_get("/v2/bot/message/{message_id}/content", self._content)
        app.router.add_get("/", self._ready)
        app.router.add_post("/_control", self._control)
        app.router.add_get("/_stats", self._stats)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.app(), shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://{host}:{port}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- programming -------------------------------------------------------------------------------
    def fail(self, endpoint: str, count: int = 1, **kw: Any) -> None:
        self.failures[endpoint].extend(Failure(**kw) for _ in range(count))

    def outage(self, endpoint: str, **kw: Any) -> None:
        """Every call to ``endpoint`` fails this way (after the queued one-off failures) until recover()."""
        self.failures[endpoint].append(Failure(sticky=True, **kw))

    def recover(self) -> None:
        for queue in self.failures.values():
            queue.clear()

    def reject_reply_token(self, token: str) -> None:
        self.rejected_tokens.add(token)

    def add_content(self, message_id: str, data: bytes) -> None:
        self.contents[message_id] = data

    # -- inspection --------------------------------------------------------------------------------
    def of(self, endpoint: str, *, status: int | None = None) -> list[Recorded]:
        return [r for r in self.requests if r.endpoint == endpoint and (status is None or r.status == status)]

    def delivered_to(self, user_id: str) -> list[str]:
        """Every text that reached ``user_id`` (accepted replies and pushes), in order."""
        out: list[str] = []
        for r in self.requests:
            if r.status != 200:
                continue
            if r.endpoint == "push" and r.to == user_id:
                out += r.texts
            elif r.endpoint == "reply" and self.reply_owner.get((r.body or {}).get("replyToken", "")) == user_id:
                out += r.texts
        return out

    def last_quick_reply(self, user_id: str) -> list[dict[str, Any]]:
        for r in reversed(self.requests):
            if r.status != 200 or r.endpoint not in ("reply", "push"):
                continue
            owner = r.to if r.endpoint == "push" else self.reply_owner.get((r.body or {}).get("replyToken", ""))
            if owner != user_id:
                continue
            for m in reversed((r.body or {}).get("messages", [])):
                if "quickReply" in m:
                    return [i["action"] for i in m["quickReply"]["items"]]
            return []
        return []

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout)

    # -- handlers ----------------------------------------------------------------------------------
    async def _record(self, endpoint: str, request: web.Request, body: dict[str, Any] | None, status: int) -> None:
        self.requests.append(Recorded(endpoint, request.path, dict(request.headers), body, status))
        async with self._changed:
            self._changed.notify_all()

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {ACCESS_TOKEN}"

    async def _take_failure(self, endpoint: str, request: web.Request, body: dict[str, Any] | None
                            ) -> web.StreamResponse | None:
        queue = self.failures[endpoint]
        for i, f in enumerate(queue):
            if f.to is not None and (body or {}).get("to") != f.to:
                continue
            if not f.sticky:
                del queue[i]
            if f.delay:
                key = request.headers.get("X-Line-Retry-Key")
                if f.status == 200 and key:
                    self.accepted_retry_keys.add(key)  # LINE dedups on the key from the moment it accepts
                await self._record(endpoint, request, body, 0)
                await asyncio.sleep(f.delay)
                if f.status == 200:
                    return None  # slow but successful: LINE got it even if the client gave up waiting
            if f.reset:
                await self._record(endpoint, request, body, 0)
                assert request.transport is not None
                request.transport.abort()  # no answer at all: the client sees a dropped connection
                raise asyncio.CancelledError
            await self._record(endpoint, request, body, f.status)
            headers = {"Retry-After": f.retry_after} if f.retry_after is not None else None
            return web.json_response(f.body or {"message": f"programmed failure {f.status}"}, status=f.status,
                                     headers=headers)
        return None

    # -- control over HTTP, when the double runs as its own process --------------------------------------
    async def _ready(self, request: web.Request) -> web.Response:
        return web.Response(text="LINE API double")

    async def _control(self, request: web.Request) -> web.Response:
        spec = await self._read(request) or {}
        if spec.pop("recover", False):
            self.recover()
        elif "endpoint" in spec:
            endpoint = str(spec.pop("endpoint"))
            if endpoint not in self.failures:
                return web.json_response({"message": f"unknown endpoint {endpoint}"}, status=400)
            try:
                if spec.pop("outage", False):
                    self.outage(endpoint, **spec)
                else:
                    self.fail(endpoint, **spec)
            except TypeError as exc:
                return web.json_response({"message": str(exc)}, status=400)
        return web.json_response({k: len(v) for k, v in self.failures.items()})

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response({
            "requests": [{"endpoint": r.endpoint, "status": r.status, "retry_key": r.retry_key, "to": r.to,
                          "reply_token": (r.body or {}).get("replyToken"), "texts": r.texts} for r in self.requests],
            "accepted_retry_keys": len(self.accepted_retry_keys),
        })

    async def _read(self, request: web.Request) -> dict[str, Any] | None:
        try:
            data = await request.json()
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def _sent(self, n: int) -> dict[str, Any]:
        return {"sentMessages": [{"id": str(next(self._ids)), "quoteToken": uuid.uuid4().hex} for _ in range(n)]}

    async def _reply(self, request: web.Request) -> web.StreamResponse:
        body = await self._read(request)
        if not self._authorized(request):
            await self._record("reply", request, body, 401)
            return web.json_response({"message": "Authentication failed"}, status=401)
        failed = await self._take_failure("reply", request, body)
        if failed is not None:
            return failed
        token = (body or {}).get("replyToken", "")
        msgs = (body or {}).get("messages") or []
        if not token or token in self.reply_tokens_used or token in self.rejected_tokens:
            await self._record("reply", request, body, 400)
            return web.json_response({"message": "Invalid reply token"}, status=400)
        if not 1 <= len(msgs) <= 5:
            await self._record("reply", request, body, 400)
            return web.json_response({"message": "The request body has 1 error(s)"}, status=400)
        self.reply_tokens_used.add(token)
        await self._record("reply", request, body, 200)
        return web.json_response(self._sent(len(msgs)))

    async def _push(self, request: web.Request) -> web.StreamResponse:
        body = await self._read(request)
        if not self._authorized(request):
            await self._record("push", request, body, 401)
            return web.json_response({"message": "Authentication failed"}, status=401)
        key = request.headers.get("X-Line-Retry-Key")
        if key is not None:
            try:
                uuid.UUID(key)
            except ValueError:
                await self._record("push", request, body, 400)
                return web.json_response({"message": "The value for the 'X-Line-Retry-Key' header is invalid"},
                                         status=400)
            if key in self.accepted_retry_keys:
                await self._record("push", request, body, 409)
                return web.json_response({"message": "The retry key is already accepted", **self._sent(1)},
                                         status=409)
        failed = await self._take_failure("push", request, body)
        if failed is not None:
            return failed
        msgs = (body or {}).get("messages") or []
        if not (body or {}).get("to") or not 1 <= len(msgs) <= 5:
            await self._record("push", request, body, 400)
            return web.json_response({"message": "The request body has 1 error(s)"}, status=400)
        if key is not None:
            self.accepted_retry_keys.add(key)
        await self._record("push", request, body, 200)
        return web.json_response(self._sent(len(msgs)))

    async def _content(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            await self._record("content", request, None, 401)
            return web.json_response({"message": "Authentication failed"}, status=401)
        failed = await self._take_failure("content", request, None)
        if failed is not None:
            return failed
        data = self.contents.get(request.match_info["message_id"])
        if data is None:
            await self._record("content", request, None, 404)
            return web.json_response({"message": "Not found"}, status=404)
        await self._record("content", request, None, 200)
        return web.Response(body=data, content_type="image/jpeg")


# -- webhook bodies, built like LINE's --------------------------------------------------------------
def sign(body: bytes, secret: str = CHANNEL_SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


def _ulid() -> str:
    return uuid.uuid4().hex[:26].upper()


def user_id(n: int = 1) -> str:
    return "U" + hashlib.md5(str(n).encode()).hexdigest()  # U + 32 hex digits, like LINE's ids


def _event(etype: str, user: str, *, reply_token: str | None = None, redelivery: bool = False,
           event_id: str | None = None, mode: str = "active", ts_ms: int | None = None,
           source_type: str = "user", **extra: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "type": etype,
        "mode": mode,
        "timestamp": ts_ms if ts_ms is not None else int(time.time() * 1000),
        "source": {"type": "user", "userId": user} if source_type == "user"
        else {"type": source_type, "groupId": "C" + "0" * 32, "userId": user},
        "webhookEventId": event_id or _ulid(),
        "deliveryContext": {"isRedelivery": redelivery},
    }
    if reply_token is not False:
        ev["replyToken"] = reply_token or uuid.uuid4().hex
    ev.update(extra)
    return ev


def _message_id() -> str:
    return str(int(time.time() * 1000)) + str(uuid.uuid4().int % 100000)


def text_event(user: str, text: str, **kw: Any) -> dict[str, Any]:
    return _event("message", user, message={"id": _message_id(), "type": "text", "text": text,
                                             "quoteToken": uuid.uuid4().hex}, **kw)


def location_event(user: str, lat: float, lon: float, address: str | None = None, **kw: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {"id": _message_id(), "type": "location", "latitude": lat, "longitude": lon}
    if address is not None:
        msg["address"] = address
        msg["title"] = "位置情報"
    return _event("message", user, message=msg, **kw)


def image_event(user: str, message_id: str, provider: str = "line", **kw: Any) -> dict[str, Any]:
    cp: dict[str, Any] = {"type": provider}
    if provider == "external":
        cp["originalContentUrl"] = "https://example.com/a.jpg"
    return _event("message", user, message={"id": message_id, "type": "image", "contentProvider": cp,
                                             "quoteToken": uuid.uuid4().hex}, **kw)


def sticker_event(user: str, **kw: Any) -> dict[str, Any]:
    return _event("message", user, message={"id": _message_id(), "type": "sticker", "packageId": "446",
                                             "stickerId": "1988", "stickerResourceType": "STATIC",
                                             "quoteToken": uuid.uuid4().hex}, **kw)


def video_event(user: str, **kw: Any) -> dict[str, Any]:
    return _event("message", user, message={"id": _message_id(), "type": "video", "duration": 1000,
                                             "contentProvider": {"type": "line"}, "quoteToken": uuid.uuid4().hex},
                  **kw)


def follow_event(user: str, unblocked: bool = False, **kw: Any) -> dict[str, Any]:
    return _event("follow", user, follow={"isUnblocked": unblocked}, **kw)


def unfollow_event(user: str, **kw: Any) -> dict[str, Any]:
    return _event("unfollow", user, reply_token=False, **kw)


def postback_event(user: str, data: str, **kw: Any) -> dict[str, Any]:
    return _event("postback", user, postback={"data": data}, **kw)


def body_of(*events: dict[str, Any], destination: str = "U" + "f" * 32) -> bytes:
    return json.dumps({"destination": destination, "events": list(events)}, ensure_ascii=False).encode("utf-8")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8091)
    args = p.parse_args(argv)

    async def serve() -> None:
        double = LineDouble()
        await double.start(args.host, args.port)
        print(f"LINE API double on {double.base_url}", flush=True)
        await asyncio.Event().wait()  # until the process is told to stop

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
