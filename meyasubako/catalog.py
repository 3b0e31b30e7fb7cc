"""The section catalog: the routing label space, shipped as package data."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any


def load_sections(path: str | None = None) -> list[dict[str, Any]]:
    """Sections as raw dicts (id, name, unit, scope, vocabulary ...), from ``path`` or the packaged default."""
    if path:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    else:
        data = json.loads(resources.files("meyasubako").joinpath("data/sections.json").read_text(encoding="utf-8"))
    sections = data["sections"] if isinstance(data, dict) else data
    if not sections:
        raise ValueError("section catalog has no sections")
    ids = [s["id"] for s in sections]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate section ids in catalog: {ids}")
    return sections
