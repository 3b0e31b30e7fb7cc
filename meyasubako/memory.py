"""Long-lived objects and the cyclic garbage collector.

The similarity indexes (staff and public) are millions of objects that live as long as the process.
Left to the cyclic GC, every full collection walks them all and stalls every request for a few
hundred ms (seen as the p99 of cached pages in bench/bench_reads.py). Once an index is built, a
``serve`` process collects once and moves everything alive to the permanent generation
(``gc.freeze``), which later collections skip. Only in ``serve`` (one app for the life of the
process): the tests build hundreds of apps that must stay collectable.
"""

from __future__ import annotations

import gc
import logging

from aiohttp import web

log = logging.getLogger("meyasubako.memory")

FREEZE_GC = web.AppKey("freeze_gc", bool)  # set by `meyasubako serve`


def freeze_long_lived(app: web.Application, after: str) -> None:
    if not app.get(FREEZE_GC):
        return
    gc.collect()
    gc.freeze()
    log.info("event=gc_frozen after=%s objects=%d", after, gc.get_freeze_count())
