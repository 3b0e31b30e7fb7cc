"""Run ``meyasubako serve`` as a real child process and talk to it like a browser or like LINE.

Shared by the benchmarks (bench/) and the fault tests (tests/faults/): both need a server in
ANOTHER process on loopback, so that what is measured or killed is the real service, with its
own event loop, its own SQLite connections and its own fsyncs.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp

from tests import line_double

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SECRET_KEY = "bench-secret-key-0123456789abcdef"

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_RECEIPT = re.compile(r"受付番号[:：]\s*(?:<strong>)?(\d{4}-\d{6})")
COOKIE = "meyasubako_session"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "MEYASUBAKO_SECRET_KEY": SECRET_KEY,
        "MEYASUBAKO_RATE_LIMIT": "0",  # load tests send far more than a resident would
        "PYTHONPATH": str(ROOT),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    })
    for key in ("LINE_CHANNEL_SECRET", "LINE_CHANNEL_ACCESS_TOKEN", "LINE_API_BASE"):
        env.pop(key, None)  # only what the caller asks for
    env.update(extra or {})
    return env


class Server:
    """One ``meyasubako serve`` child process on a free loopback port."""

    def __init__(self, db: Path | str, *, env: Mapping[str, str] | None = None, log: Path | None = None,
                 argv: Sequence[str] = ("-m", "meyasubako", "serve")) -> None:
        # A SQLite path, or a postgresql:// URL (then ``log`` must be given: there is no file to sit beside).
        self.db: Path | str = db if isinstance(db, str) and "://" in db else Path(db)
        self.env = child_env(env)
        if log is None and isinstance(self.db, str):
            raise ValueError("a server on a database URL needs a log path")
        self.log = log or Path(self.db).with_suffix(".log")
        self.argv = list(argv)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 30.0) -> Server:
        cmd = [PYTHON, *self.argv, "--host", "127.0.0.1", "--port", str(self.port)]
        if "meyasubako" in self.argv:
            cmd += ["--db", str(self.db)]  # a URL stays a str: a Path would fold its "//"
        with open(self.log, "ab") as logf:  # a file, not a pipe: a full pipe would stall the server
            self.proc = subprocess.Popen(cmd, env=self.env, cwd=ROOT, stdout=logf, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        path = "/healthz" if "meyasubako" in self.argv else "/"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; log:\n{self.tail()}")
            try:
                with urllib.request.urlopen(self.url + path, timeout=1) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"server did not answer within {timeout}s; log:\n{self.tail()}")

    def kill(self, sig: int = signal.SIGKILL) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        return None

    def wait(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (graceful), escalating to SIGKILL after ``timeout``."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return self.proc.wait()
        return self.proc.returncode

    def rss_kb(self) -> int:
        return rss_kb(self.pid)

    def wait_for_log(self, text: str, timeout: float = 1800.0) -> str:
        """Block until ``text`` appears in the server's log (e.g. a start-up task finished); the log."""
        deadline = time.monotonic() + timeout
        while True:
            log = self.log.read_text(errors="replace")
            if text in log:
                return log
            if time.monotonic() > deadline:
                raise TimeoutError(f"{text!r} not in the log after {timeout:.0f} s:\n{self.tail()}")
            time.sleep(0.2)

    def tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except FileNotFoundError:
            return ""

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop(10)


def rss_kb(pid: int) -> int:
    """Resident set size of a process in KiB, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def db_rows(db: Path, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Read the database the way an operator would, from another process (WAL allows it while serving)."""
    import sqlite3

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


# -- a browser filling in the web form --------------------------------------------------------------
class FormSession:
    """One resident's browser: its own session cookie (CSRF token bound to it), a fresh form_id per post.

    Cookies are handled by hand so that many sessions can share one connection pool.
    """

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http = http
        self.base = base
        self.cookie = ""
        self.csrf = ""

    def _keep(self, resp: aiohttp.ClientResponse) -> None:
        morsel = resp.cookies.get(COOKIE)
        if morsel is not None:
            self.cookie = morsel.value

    def _headers(self) -> dict[str, str]:
        return {"Cookie": f"{COOKIE}={self.cookie}"} if self.cookie else {}

    async def open(self) -> None:
        async with self.http.get(self.base + "/submit", headers=self._headers()) as resp:
            html = await resp.text()
            self._keep(resp)
        m = _CSRF.search(html)
        if not m:
            raise RuntimeError(f"no CSRF token on /submit (status {resp.status})")
        self.csrf = m.group(1)

    async def post(self, text: str, *, consent: str = "yes", place: str = "", contact: str = "",
                   form_id: str | None = None, extra: Mapping[str, str] | None = None) -> aiohttp.ClientResponse:
        """POST /submit without following the redirect; a 303 is the acknowledgement."""
        data = {"csrf_token": self.csrf, "form_id": form_id or uuid.uuid4().hex, "text": text,
                "consent": consent, "place": place, "contact": contact, **(extra or {})}
        async with self.http.post(self.base + "/submit", data=data, headers=self._headers(),
                                  allow_redirects=False) as resp:
            await resp.read()
            self._keep(resp)
            return resp

    async def receipt(self, location: str) -> str | None:
        """Open the page the 303 points to and read the 受付番号 from it."""
        async with self.http.get(self.base + location, headers=self._headers(), allow_redirects=False) as resp:
            html = await resp.text()
        m = _RECEIPT.search(html)
        return m.group(1) if m else None

    async def submit(self, text: str, **kw: Any) -> tuple[int, str | None]:
        """The whole resident round trip: (status of the POST, receipt number shown or None)."""
        resp = await self.post(text, **kw)
        if resp.status != 303:
            return resp.status, None
        return resp.status, await self.receipt(resp.headers["Location"])


# -- LINE: signed webhook bodies, built by the one LINE double (tests/line_double.py) ------------------
def line_signature(channel_secret: str, body: bytes) -> str:
    """X-Line-Signature: base64(HMAC-SHA256(channel secret, raw body))."""
    return line_double.sign(body, channel_secret)


def line_text_event(text: str, *, user_id: str, event_id: str | None = None) -> dict[str, Any]:
    """One LINE Messaging API ``message`` event as the platform sends it."""
    return line_double.text_event(user_id, text, event_id=event_id)


def line_body(events: list[dict[str, Any]], destination: str = "U" + "0" * 32) -> bytes:
    return line_double.body_of(*events, destination=destination)


def line_double_server(tmp: Path) -> Server:
    """The LINE API double in a process of its own (``python -m tests.line_double``) on a free port."""
    return Server(tmp / "line_double.sqlite3", log=tmp / "line_double.log", argv=["-m", "tests.line_double"])


def stop_all(servers: Sequence[Server]) -> None:
    for s in servers:
        if s.proc is not None and s.proc.poll() is None:
            s.proc.send_signal(signal.SIGKILL)
            s.proc.wait()
