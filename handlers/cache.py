"""An in-memory cache of rendered public pages (the board, its searches and pages, item pages).

These pages are the same for every reader: they show published items only, carry no CSRF token,
set no cookie and depend on nothing about the visitor. Rendering one costs a few SQL queries, a
Sudachi analysis for a search and a Jinja render; serving it from memory costs a dict lookup.

Freshness: every entry is stored with the "public generation" it was rendered under. The number
lives in the database (table ``public_generation``, migration 0070) and triggers bump it in the
same transaction as any change to what the public pages show (publish, unpublish, close or erase
of a published item, its answer, a section). It is read from the database

* before rendering (never after), so a page is never stored under a newer generation than the
  data it was rendered from;
* whenever this process's writer has committed since the last read (``Database.commits``), so a
  change made through this process is visible on the very next request;
* at least every ``RECHECK_S`` seconds, for changes made by another process (a CLI command): that
  read runs in the background while pages are served from the generation at hand, so another
  process's change shows within ``RECHECK_S`` plus one read.

The key also holds what lives outside the database: today's date (the month filter counts back
from it) and the section names in memory (reloaded after the database on an admin edit). Related
items on an item page come from lists stored in the database (migration 0090, whose triggers bump
the generation when a list is computed again); a page whose list is not there yet is not stored.

Several processes: each has its own cache, and the generation is read from the shared database,
so with several ``serve`` processes on one SQLite file a change made by one is seen by the others
within ``RECHECK_S``. With a server database (PostgreSQL) the same counter works, but a pushed
invalidation (LISTEN/NOTIFY) or a shared cache would be needed to make that delay zero; that is
not built.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from meyasubako import clock, keys
from storage import public as public_db

log = logging.getLogger("meyasubako.cache")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

RECHECK_S = 1.0
MAX_ENTRIES = 4096
MAX_BYTES = 8 * 1024 * 1024
MAX_QUERY = 512  # longer query strings are served but not cached (they would only evict others)


@dataclass(frozen=True, slots=True)
class _Entry:
    generation: tuple[object, ...]
    body: bytes
    content_type: str
    charset: str | None


class PublicCache:
    def __init__(self, *, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._bytes = 0
        self._db_generation: int | None = None
        self._seen_commits = -1
        self._checked_at = 0.0
        self._refresh: asyncio.Future[int] | None = None  # the background recheck in flight
        self._gen_flights: dict[int, asyncio.Future[int]] = {}  # commits count → the read for it
        # Single flight: the first miss of a key renders, the requests that miss it meanwhile wait
        # for that render instead of rendering the same page 100 times at once (a cold start
        # under load, or the moment after a publication).
        self._inflight: dict[tuple[str, str], asyncio.Future[_Entry | None]] = {}
        self.hits = self.misses = 0

    async def _db_gen(self, app: web.Application) -> int:
        db = app[keys.DB]
        commits = db.commits  # noted before the read: a commit during it triggers another read
        if self._db_generation is not None and commits == self._seen_commits:
            if time.monotonic() - self._checked_at > RECHECK_S and (self._refresh is None or self._refresh.done()):
                # Only another process's changes are pending: look in the background and serve
                # from the generation at hand meanwhile. Awaited here, every request arriving
                # during the read also read (all readers busy with first views: ~70 ms stalls
                # of every cached page, bench/bench_reads.py).
                self._refresh = asyncio.ensure_future(self._read_generation(app, commits))
                self._refresh.add_done_callback(_log_failure)
            return self._db_generation
        # The first read, or this process committed since the last one: the next page must see
        # it, so wait, for a read started after that commit, shared by all who need it.
        flight = self._gen_flights.get(commits)
        if flight is None:
            flight = self._gen_flights[commits] = asyncio.ensure_future(self._read_generation(app, commits))
            flight.add_done_callback(lambda _f: self._gen_flights.pop(commits, None))
        return await asyncio.shield(flight)

    async def _read_generation(self, app: web.Application, commits: int) -> int:
        started = time.monotonic()
        async with app[keys.DB].read() as conn:
            generation = await public_db.public_generation(conn)
        if commits >= self._seen_commits:  # a slower read begun before a newer one changes nothing
            self._db_generation, self._seen_commits, self._checked_at = generation, commits, started
        return generation

    async def generation(self, app: web.Application) -> tuple[object, ...]:
        """The key part that must match for an entry to be served."""
        sections = tuple((s.id, s.name, s.unit) for s in app[keys.SECTIONS].values())
        return (await self._db_gen(app), clock.jst_now().date(), hash(sections))

    def get(self, key: tuple[str, str], generation: tuple[object, ...]) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None or entry.generation != generation:
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, key: tuple[str, str], entry: _Entry) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= len(old.body)
        if len(entry.body) > self.max_bytes // 16:
            return  # one huge page must not flush everything else
        self._entries[key] = entry
        self._bytes += len(entry.body)
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= len(evicted.body)

    def __len__(self) -> int:
        return len(self._entries)


def _log_failure(task: asyncio.Future[int]) -> None:
    if not task.cancelled() and task.exception() is not None:  # the next request tries again
        log.warning("event=public_generation_recheck_failed error=%r", task.exception())


PUBLIC_CACHE = web.AppKey("public_cache", PublicCache)
# Set by a handler whose page is complete but not final (an item page rendered before its related
# items were found): served, never stored.
NO_STORE = web.RequestKey("public_cache_no_store", bool)


def do_not_store(request: web.Request) -> None:
    request[NO_STORE] = True


def setup(app: web.Application) -> None:
    if PUBLIC_CACHE not in app:
        app[PUBLIC_CACHE] = PublicCache()


def _response(entry: _Entry) -> web.Response:
    resp = web.Response(body=entry.body, content_type=entry.content_type)
    if entry.charset:
        resp.charset = entry.charset
    return resp


def _cacheable(resp: web.StreamResponse) -> bool:
    # Belt and braces: the cached pages print no CSRF token and set no cookie; if a template ever
    # does, the page is per-visitor and must not be shared.
    return (isinstance(resp, web.Response) and resp.status == 200 and not resp.cookies
            and isinstance(resp.body, bytes) and b'name="csrf_token"' not in resp.body)


def cached(handler: Handler) -> Handler:
    """Serve ``handler``'s 200 answers from the cache while the public generation is unchanged."""

    async def wrapper(request: web.Request) -> web.StreamResponse:
        cache = request.app.get(PUBLIC_CACHE)
        query = request.rel_url.raw_query_string  # as sent (percent-encoded)
        if cache is None or request.method not in ("GET", "HEAD") or len(query) > MAX_QUERY:
            return await handler(request)
        key = (request.path, query)
        # Read before rendering: see the module docstring.
        generation = await cache.generation(request.app)
        entry = cache.get(key, generation)
        if entry is None and key in cache._inflight:
            with contextlib.suppress(Exception):
                entry = await asyncio.shield(cache._inflight[key])
            if entry is not None and entry.generation != generation:
                entry = None
        if entry is not None:
            cache.hits += 1
            return _response(entry)
        cache.misses += 1
        if key in cache._inflight:  # the render we waited for failed or was for another generation
            return await handler(request)
        flight: asyncio.Future[_Entry | None] = asyncio.get_running_loop().create_future()
        cache._inflight[key] = flight
        try:
            resp = await handler(request)
            keep = _cacheable(resp) and not request.get(NO_STORE, False)
            entry = _Entry(generation, resp.body, resp.content_type, resp.charset) if keep else None  # type: ignore[union-attr,arg-type]
            if entry is not None:
                cache.put(key, entry)
            flight.set_result(entry)
            return resp
        finally:
            if not flight.done():
                flight.set_result(None)  # an error (404, 503): the waiters render for themselves
            del cache._inflight[key]

    wrapper.__name__ = getattr(handler, "__name__", "cached")
    wrapper.__doc__ = handler.__doc__
    return wrapper
