"""Tuning of the LINE side (timeouts, retries, limits) and the time stamps it stores.

Defaults suit production; tests put a ``BotTuning`` with small numbers into
``app[keys.LINE_TUNING]`` before start-up so that retries take milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from meyasubako import clock


@dataclass(frozen=True)
class BotTuning:
    request_timeout: float = 10.0      # per LINE API call (the SDK's own default is 300 s)
    content_timeout: float = 30.0      # photo downloads
    reply_window: float = 50.0         # a reply token is used only this long after the event
    backoff_base: float = 2.0          # first retry after ~base seconds, doubling, with full jitter
    backoff_max: float = 600.0
    retry_after_max: float = 900.0     # never wait longer than this on a Retry-After header
    max_attempts: int = 10             # ~1 h of retries; LINE keeps a retry key for 24 h
    lease: float = 120.0               # a claimed row is retried after this if the process died mid-send
    poll_interval: float = 5.0         # the sender also wakes on every enqueue
    batch: int = 50
    send_concurrency: int = 8
    process_concurrency: int = 16      # users whose events are processed at the same time
    intake_wait_max: float = 2.0       # processing steps aside for webhook requests this long at most (bot/gate.py)
    sweep_interval: float = 30.0       # re-kick events left unprocessed by a transient storage error
    max_body: int = 1024 * 1024        # webhook body cap (bytes)
    max_image_bytes: int = 10 * 1024 * 1024
    max_images: int = 4                # photos per suggestion
    draft_ttl: float = 24 * 3600.0     # an unsent draft older than this is discarded on the next message
    inbox_retention_days: int = 30


def now() -> datetime:
    return clock.jst_now()


def stamp(dt: datetime) -> str:
    """Fixed-width JST timestamp with microseconds, so that stored values sort and compare as text."""
    return dt.astimezone(clock.JST).isoformat(timespec="microseconds")


def stamp_in(seconds: float) -> str:
    return stamp(now() + timedelta(seconds=seconds))


def parse(s: str) -> datetime:
    return datetime.fromisoformat(s)
