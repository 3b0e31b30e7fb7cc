from __future__ import annotations

import json
from pathlib import Path

import pytest

from meyasubako.catalog import load_sections
from nlp import Analyzer

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
if not SHARED.exists():
    SHARED = Path("/work/shared/data")
DEV = SHARED / "dev_submissions.jsonl"


@pytest.fixture(scope="session")
def sections() -> list[dict]:
    return load_sections()


@pytest.fixture(scope="session")
def analyzer(sections) -> Analyzer:
    """One analyzer for read-only tests (building the Sudachi tokenizer is the slow part)."""
    return Analyzer(sections)


@pytest.fixture()
def fresh_analyzer(sections, analyzer) -> Analyzer:
    """An analyzer whose model the test may swap; shares the Sudachi tokenizer."""
    return Analyzer(sections, tokenizer=analyzer.tokenizer)


@pytest.fixture(scope="session")
def dev_rows() -> list[dict]:
    if not DEV.exists():
        pytest.skip("dev_submissions.jsonl not available")
    with DEV.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
