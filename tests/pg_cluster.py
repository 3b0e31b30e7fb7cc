"""A throwaway PostgreSQL cluster for the tests (and the benchmarks), run as a non-root user.

``MEYASUBAKO_TEST_PG`` = a ``postgresql://`` URL of a server to use instead (its role must be
allowed to CREATE DATABASE). Otherwise, when Debian's PostgreSQL is installed, ``Cluster.start()``
runs ``initdb`` into a temporary directory and ``pg_ctl start`` on a free loopback port; as root
(CI) it runs them as the ``postgres`` user, because PostgreSQL refuses to run as root. With
neither, the PostgreSQL halves of the parametrized suites are skipped with the reason, and
``.ci/run`` installs the server so that CI never skips them.

``python -m tests.pg_cluster`` starts one and prints its URL (for trying things by hand).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

RUN_AS = "postgres"


def _bindir() -> Path | None:
    for cand in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(cand, "initdb").exists():
            return Path(cand)
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    def __init__(self, *, durable: bool = False) -> None:
        self.durable = durable  # benchmarks want fsync on, like SQLite's synchronous=FULL
        self.dir: Path | None = None
        self.port = 0
        self.url = ""
        self._user: str | None = None

    @staticmethod
    def unavailable_reason() -> str | None:
        if os.environ.get("MEYASUBAKO_TEST_PG"):
            return None
        if _bindir() is None:
            return "PostgreSQL is not installed (apt-get install postgresql, or set MEYASUBAKO_TEST_PG)"
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(RUN_AS)
            except KeyError:
                return f"running as root and there is no {RUN_AS!r} user to run PostgreSQL as"
        return None

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if self._user:
            cmd = ["runuser", "-u", self._user, "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)

    def start(self) -> str:
        if os.environ.get("MEYASUBAKO_TEST_PG"):
            self.url = os.environ["MEYASUBAKO_TEST_PG"]
            return self.url
        bindir = _bindir()
        assert bindir is not None
        # Under /tmp, not $TMPDIR: as root the server runs as `postgres`, which must reach the directory.
        self.dir = Path(tempfile.mkdtemp(prefix="meyasubako-pg-", dir="/tmp" if os.geteuid() == 0 else None))
        if os.geteuid() == 0:
            self._user = RUN_AS
            pw = pwd.getpwnam(RUN_AS)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        data = self.dir / "data"
        self._run(str(bindir / "initdb"), "-D", str(data), "-U", "meyasubako", "--auth=trust",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        self.port = _free_port()
        self.resume()
        self.url = f"postgresql://meyasubako@127.0.0.1:{self.port}/postgres"
        return self.url

    def resume(self) -> None:
        """(Re)start the server on the same port and data directory."""
        assert self.dir is not None
        opts = [f"-p {self.port}", "-c listen_addresses=127.0.0.1", f"-k {self.dir}", "-c max_connections=200"]
        if not self.durable:  # tests: crash safety of the test cluster itself is not under test
            opts += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._run(str(_bindir() / "pg_ctl"), "-D", str(self.dir / "data"), "-l", str(self.dir / "log"), "-w",
                  "-t", "60", "-o", " ".join(opts), "start")

    def pause(self) -> None:
        """Stop the server (fast: open connections are cut), keeping the data: an outage."""
        assert self.dir is not None
        self._run(str(_bindir() / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop")

    def stop(self) -> None:
        if self.dir is None:
            return
        bindir = _bindir()
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self._run(str(bindir / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    def database_url(self, name: str) -> str:
        base, _, _ = self.url.rpartition("/")
        return f"{base}/{name}"


async def create_database(admin_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_database(admin_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


if __name__ == "__main__":
    reason = Cluster.unavailable_reason()
    if reason:
        raise SystemExit(reason)
    c = Cluster()
    print(c.start(), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        c.stop()
