"""The console script: serve, user add, export (through real processes)."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, stdin: str = "", env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "meyasubako", *args], input=stdin.encode(), capture_output=True,
                          env=full_env, timeout=timeout, cwd=ROOT)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_user_add_reads_password_from_stdin(tmp_path):
    db = str(tmp_path / "u.sqlite3")
    ok = run_cli("user", "add", "koucho", "--role", "approver", "--db", db, stdin="long enough password\n")
    assert ok.returncode == 0, ok.stderr
    twice = run_cli("user", "add", "douro", "--role", "staff", "--section", "road", "--db", db,
                    stdin="another good password\nanother good password\n")
    assert twice.returncode == 0, twice.stderr
    differ = run_cli("user", "add", "x1", "--role", "admin", "--db", db, stdin="password one!!\npassword two!!\n")
    assert differ.returncode == 2 and b"differ" in differ.stderr
    short = run_cli("user", "add", "x2", "--role", "admin", "--db", db, stdin="short\n")
    assert short.returncode == 2
    dup = run_cli("user", "add", "koucho", "--role", "admin", "--db", db, stdin="long enough password\n")
    assert dup.returncode == 2 and b"already exists" in dup.stderr
    nosection = run_cli("user", "add", "x3", "--role", "staff", "--db", db, stdin="long enough password\n")
    assert nosection.returncode == 2
    badsection = run_cli("user", "add", "x4", "--role", "staff", "--section", "nope", "--db", db,
                         stdin="long enough password\n")
    assert badsection.returncode == 2 and b"unknown section" in badsection.stderr


@pytest.fixture
def server(tmp_path):
    port = free_port()
    db = tmp_path / "s.sqlite3"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MEYASUBAKO_SECRET_KEY": "x" * 32, "MEYASUBAKO_RATE_LIMIT": "0"}
    # The log goes to a file, not a pipe: an unread pipe fills up (64 KiB) and blocks the server.
    log_path = tmp_path / "serve.log"
    log_file = open(log_path, "wb")  # noqa: SIM115  (closed after the process ends)
    proc = subprocess.Popen([sys.executable, "-m", "meyasubako", "serve", "--port", str(port), "--db", str(db)],
                            env=env, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT)
    proc.log_path = log_path  # type: ignore[attr-defined]
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                raise RuntimeError(log_path.read_text()) from None
            time.sleep(0.2)
    yield base, db, proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    log_file.close()


def test_serve_answers_and_stops_cleanly_on_sigterm(server):
    base, db, proc = server
    with urllib.request.urlopen(base + "/healthz") as r:
        body = json.loads(r.read())
    assert body["status"] == "ok" and body["schema_version"] >= 1
    with urllib.request.urlopen(base + "/submit") as r:
        assert "ご意見" in r.read().decode()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    log = proc.log_path.read_text()
    assert "event=stopped" in log and "event=request" in log


def test_export_jsonl_and_csv(tmp_path, server):
    base, db, proc = server
    import re
    from http.cookiejar import CookieJar
    from urllib.parse import urlencode

    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    html = opener.open(base + "/submit").read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    form_id = re.search(r'name="form_id" value="([^"]+)"', html).group(1)
    data = urlencode({"csrf_token": token, "form_id": form_id, "text": "歩道の段差をなくしてください。",
                      "consent": "yes", "contact": "taro@example.jp"}).encode()
    page = opener.open(base + "/submit", data=data).read().decode()
    receipt = re.search(r"受付番号: <strong>(\d{4}-\d{6})", page).group(1)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)

    out = run_cli("export", "--format", "jsonl", "--db", str(db))
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.decode().splitlines()]
    assert len(rows) == 1
    row = rows[0]
    assert row["receipt_no"] == receipt and row["channel"] == "web" and row["contact"] == "taro@example.jp"
    assert row["text"] == "歩道の段差をなくしてください。" and row["status"] in ("received", "routed")
    assert {"section", "received_at"} <= set(row)

    out = run_cli("export", "--format", "csv", "--db", str(db))
    assert out.stdout.startswith(b"\xef\xbb\xbf")
    reader = list(csv.DictReader(io.StringIO(out.stdout.decode("utf-8-sig"))))
    assert reader[0]["receipt_no"] == receipt and reader[0]["text"] == "歩道の段差をなくしてください。"


def test_missing_line_access_token_is_named(tmp_path):
    out = run_cli("serve", "--db", str(tmp_path / "x.sqlite3"), env={"LINE_CHANNEL_SECRET": "s", "MEYASUBAKO_SECRET_KEY": "k" * 32})
    assert out.returncode == 2 and b"LINE_CHANNEL_ACCESS_TOKEN" in out.stderr


def test_serve_on_an_unreachable_postgresql_says_so_without_a_traceback():
    res = run_cli("serve", "--port", "0", "--db", "postgresql://nobody@127.0.0.1:1/meyasubako", env={"MEYASUBAKO_SECRET_KEY": "0123456789abcdef0123"})
    err = res.stderr.decode()
    assert res.returncode == 1 and "cannot connect to PostgreSQL" in err and "Traceback" not in err, err
