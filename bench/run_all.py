"""Run every benchmark, each in its own process, and print their tables.

    python bench/run_all.py            # the full runs whose numbers go into bench/README.md (~10 min)
    python bench/run_all.py --quick    # a smoke run (~1-2 min)
    python bench/run_all.py --only reads,writes

Exit status 1 when a benchmark failed outright (server crash, acknowledged submissions missing,
memory growing under reads); missing a performance target is reported in the tables, not as failure.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = {
    "writes": "bench_writes.py",
    "intake": "bench_intake.py",
    "reads": "bench_reads.py",
    "memory": "bench_memory.py",
    "scale": "bench_scale.py",  # SQLite vs PostgreSQL, one and two processes (PostgreSQL rows skipped without it)
}
if (HERE / "bench_classify.py").exists():  # the NLP benchmark, from its own branch
    BENCHES["classify"] = "bench_classify.py"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", default="", help=f"comma-separated subset of {', '.join(BENCHES)}")
    args = p.parse_args(argv)
    chosen = [b for b in (args.only.split(",") if args.only else BENCHES) if b]
    unknown = set(chosen) - set(BENCHES)
    if unknown:
        p.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    failed = []
    for name in chosen:
        print(f"\n## {name}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.run([sys.executable, str(HERE / BENCHES[name]), *(["--quick"] if args.quick else [])],
                            check=False).returncode
        print(f"({name}: {time.perf_counter() - t0:.0f} s, exit {rc})", flush=True)
        if rc != 0:
            failed.append(name)
    if failed:
        print(f"\nFAILED: {', '.join(failed)}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
