"""Postback data: small, explicit, validated. ``a=<action>[&v=<value>]&d=<draft id>``.

LINE echoes this string back verbatim when a quick reply is tapped, so anything can come in here
(old buttons, hand-crafted events): ``decode`` accepts only the exact shapes ``encode`` makes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

DRAFT_ID = re.compile(r"^[A-Za-z0-9_-]{16}$")
MAX_DATA = 300  # LINE's limit for postback data

# action -> allowed values (None: the action takes no value)
ACTIONS: dict[str, frozenset[str] | None] = {
    "consent": frozenset({"yes", "no"}),
    "send": None,
    "cancel": None,
}


@dataclass(frozen=True)
class Postback:
    action: str
    draft_id: str
    value: str | None = None


def encode(action: str, draft_id: str, value: str | None = None) -> str:
    pb = Postback(action, draft_id, value)
    if decode(_raw(pb)) != pb:
        raise ValueError(f"invalid postback {pb!r}")
    return _raw(pb)


def _raw(pb: Postback) -> str:
    params = [("a", pb.action)] + ([("v", pb.value)] if pb.value is not None else []) + [("d", pb.draft_id)]
    return urlencode(params)


def decode(data: object) -> Postback | None:
    """The postback, or None when the data is not one this bot made."""
    if not isinstance(data, str) or not data or len(data) > MAX_DATA:
        return None
    try:
        pairs = parse_qsl(data, keep_blank_values=True, strict_parsing=True, max_num_fields=3)
    except ValueError:
        return None
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        return None
    fields = dict(pairs)
    action = fields.get("a", "")
    draft_id = fields.get("d", "")
    if action not in ACTIONS or not DRAFT_ID.fullmatch(draft_id):
        return None
    allowed = ACTIONS[action]
    value = fields.get("v")
    if allowed is None:
        if value is not None or set(fields) != {"a", "d"}:
            return None
    elif value not in allowed or set(fields) != {"a", "v", "d"}:
        return None
    return Postback(action, draft_id, value)
