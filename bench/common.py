"""What every benchmark shares: the machine description, the load generator call, the result table."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.harness import PYTHON, ROOT, Server, child_env

LOADGEN = str(ROOT / "bench" / "loadgen.py")


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import sqlite3

    import aiohttp

    return (f"{os.cpu_count()} CPU ({cpu}), Python {platform.python_version()}, aiohttp {aiohttp.__version__}, "
            f"SQLite {sqlite3.sqlite_version}, {platform.system()} {platform.release()}")


def loadgen(url: str, *, mode: str = "get", concurrency: int = 100, requests: int = 2000, warmup: int = 0,
            paths: Sequence[str] = ("/",), channel_secret: str = "", extra: Sequence[str] = ()) -> dict[str, Any]:
    """Run the load generator in its own process and return its JSON result."""
    cmd = [PYTHON, LOADGEN, "--url", url, "--mode", mode, "--concurrency", str(concurrency),
           "--requests", str(requests), "--warmup", str(warmup), "--paths", ",".join(paths), *extra]
    if channel_secret:
        cmd += ["--channel-secret", channel_secret]
    out = subprocess.run(cmd, env=child_env(), cwd=ROOT, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"loadgen failed ({out.returncode}):\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def baseline_server(tmp: Path) -> Server:
    return Server(tmp / "baseline.sqlite3", log=tmp / "baseline.log", argv=[str(ROOT / "bench" / "baseline_server.py")])


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table (readable in a terminal, pasteable into bench/README.md)."""
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:,.1f}" if abs(v) >= 100 else f"{v:.2f}"
        if isinstance(v, int):
            return f"{v:,}"
        return str(v)

    cells = [[fmt(v) for v in r] for r in rows]
    widths = [max(len(str(h)), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    lines = [f"\n### {title}\n", "| " + " | ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells]
    return "\n".join(lines)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def emit(text: str) -> None:
    print(text, flush=True)
    sys.stdout.flush()
