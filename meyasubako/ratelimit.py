"""Per-client rate limits (submissions per minute per address or LINE user), in memory.

A sliding window of timestamps per key. One process keeps its own counts, which is what a
single-machine deployment needs; the dict is pruned so that a flood of distinct keys cannot
grow it without bound.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class RateLimiter:
    def __init__(self, per_minute: int, *, window: float = 60.0, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000) -> None:
        self.limit = per_minute
        self.window = window
        self.clock = clock
        self.max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}

    def allow(self, key: str) -> bool:
        """Record one attempt for ``key``; False when it is over the limit (the attempt is not counted)."""
        if self.limit <= 0:
            return True
        now = self.clock()
        q = self._hits.get(key)
        if q is None:
            if len(self._hits) >= self.max_keys:
                self._prune(now)
            q = self._hits[key] = deque()
        while q and now - q[0] >= self.window:
            q.popleft()
        if len(q) >= self.limit:
            return False
        q.append(now)
        return True

    def retry_after(self, key: str) -> int:
        q = self._hits.get(key)
        if not q:
            return 0
        return max(1, int(self.window - (self.clock() - q[0])) + 1)

    def _prune(self, now: float) -> None:
        for k in [k for k, q in self._hits.items() if not q or now - q[-1] >= self.window]:
            del self._hits[k]
        if len(self._hits) >= self.max_keys:  # still full of active keys: drop the oldest half
            for k in list(self._hits)[: self.max_keys // 2]:
                del self._hits[k]
