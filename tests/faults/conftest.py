"""Fixtures for fault tests that run ``meyasubako serve`` as a real child process."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.harness import PYTHON, ROOT, Server, child_env, stop_all


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    """Collects the servers a test starts; any still running at the end are killed."""
    started: list[Server] = []
    yield started
    stop_all(started)


def export(db: Path) -> list[dict]:
    """Every submission as the operator's ``meyasubako export`` prints it (JSONL)."""
    out = subprocess.run([PYTHON, "-m", "meyasubako", "export", "--db", str(db)], env=child_env(), cwd=ROOT,
                         capture_output=True, check=True, timeout=60)
    return [json.loads(line) for line in out.stdout.decode("utf-8").splitlines() if line.strip()]


# The LINE fault tests run the real app against the LINE API double, wired like tests/bot does it.
from tests.bot.conftest import (  # noqa: E402,F401  (pytest finds fixtures by name in conftest)
    _no_proxy_for_loopback,
    line_api,
    line_client,
    line_settings,
    make_line_client,
)
