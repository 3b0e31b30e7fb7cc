"""Load the section catalog (the routing label space, with routing vocabulary)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def load_sections(path: str | None = None) -> list[dict[str, Any]]:
    """Sections from ``path`` or, by default, the packaged ``meyasubako/data/sections.json``."""
    if path is None:
        raw = resources.files("meyasubako").joinpath("data/sections.json").read_text(encoding="utf-8")
    else:
        with open(path, encoding="utf-8") as f:
            raw = f.read()
    doc = json.loads(raw)
    sections = doc["sections"] if isinstance(doc, dict) else doc
    if not sections:
        raise ValueError("section catalog has no sections")
    return [dict(s) for s in sections]
