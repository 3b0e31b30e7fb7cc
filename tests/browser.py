"""The one recipe for browser tests: Debian's headless Chromium driven by Playwright (DESIGN.md)."""

from __future__ import annotations

import os

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

# Mark for every browser test module: `pytestmark = BROWSER`. Locally without chromium they skip;
# in CI (.ci/run installs chromium) a missing browser is a failure, never a silent skip.
BROWSER = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM) and not os.environ.get("CI"),
                       reason="Debian chromium not installed (CI installs it)"),
]
