"""What handling one LINE event decided: the state changes to write and the messages to send back.

Handlers compute an ``Effects`` (doing any network or NLP work first); the inbox processor then
applies it in ONE transaction together with marking the event processed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiosqlite

Writer = Callable[[aiosqlite.Connection], Awaitable[None]]


@dataclass
class Effects:
    outcome: str
    replies: list[dict[str, Any]] = field(default_factory=list)
    writes: list[Writer] = field(default_factory=list)
    created_files: list[str] = field(default_factory=list)   # delete these if the transaction fails
    delete_files: list[str] = field(default_factory=list)    # delete these once it committed
    submission_id: int | None = None

    def write(self, fn: Writer) -> Writer:
        self.writes.append(fn)
        return fn
