"""Typed application state keys (aiohttp ``web.AppKey``): the only way handlers reach shared objects."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import jinja2
from aiohttp import web

from meyasubako.ratelimit import RateLimiter
from meyasubako.settings import Settings

if TYPE_CHECKING:
    pass

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", "Database")
NLP = web.AppKey("nlp", "NlpService")
WORKFLOW = web.AppKey("workflow", "Workflow")
TEMPLATES = web.AppKey("templates", jinja2.Environment)
SUBMIT_LIMITER = web.AppKey("submit_limiter", RateLimiter)
SECTIONS = web.AppKey("sections", dict)  # section id -> domain.Section (refreshed when admins edit)
BACKGROUND = web.AppKey("background", set)  # tracked asyncio tasks, awaited at shutdown
EXTRA: web.AppKey[dict[str, Any]] = web.AppKey("extra", dict)
# LINE (bot/): the bot object exists only when LINE is configured; tuning may be replaced before
# start-up (tests use small retry timings).
LINE_BOT = web.AppKey("line_bot", "LineBot")
LINE_TUNING = web.AppKey("line_tuning", "BotTuning")
REQUESTS = web.AppKey("request_counter", Counter)  # answered requests by status class (metrics)
