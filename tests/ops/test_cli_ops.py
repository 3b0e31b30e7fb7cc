"""backup / restore / check as commands, against a real `meyasubako serve` process."""

from __future__ import annotations

import re
import signal
import threading
import urllib.request
from http.cookiejar import CookieJar
from urllib.parse import urlencode

from tests.ops.helpers import rows
from tests.test_cli import run_cli, server  # noqa: F401  (server is a fixture)


def _submit(base: str, text: str) -> str:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    html = opener.open(base + "/submit").read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    form_id = re.search(r'name="form_id" value="([^"]+)"', html).group(1)
    data = urlencode({"csrf_token": token, "form_id": form_id, "text": text, "consent": "yes"}).encode()
    page = opener.open(base + "/submit", data=data).read().decode()
    return re.search(r"受付番号: <strong>(\d{4}-\d{6})", page).group(1)


def test_backup_while_serving_then_restore_and_check(server, tmp_path):  # noqa: F811
    base, db, proc = server
    _submit(base, "市民プールの営業期間を延ばしてください。")
    stop = threading.Event()
    done: list[str] = []

    def keep_submitting() -> None:
        while not stop.is_set():
            done.append(_submit(base, f"{len(done)}件目：駅前の駐輪場が足りません。"))

    t = threading.Thread(target=keep_submitting)
    t.start()
    try:
        out = run_cli("backup", "--to", str(tmp_path), "--db", str(db))
    finally:
        stop.set()
        t.join()
    assert out.returncode == 0, out.stderr
    backup = next(tmp_path.glob("meyasubako-backup-*.tar.gz"))
    assert b"backup written" in out.stdout

    live = run_cli("restore", "--from", str(backup), "--db", str(db), "--force")
    assert live.returncode == 3 and b"running meyasubako serve" in live.stderr
    exists = run_cli("restore", "--from", str(backup), "--db", str(db))
    assert exists.returncode in (2, 3)

    target = tmp_path / "new" / "meyasubako.sqlite3"
    ok = run_cli("restore", "--from", str(backup), "--db", str(target))
    assert ok.returncode == 0, ok.stderr
    assert run_cli("check", "--db", str(target)).returncode == 0
    n = rows(target, "SELECT COUNT(*) AS n FROM submissions")[0]["n"]
    assert 1 <= n <= 1 + len(done)
    again = run_cli("restore", "--from", str(backup), "--db", str(target))
    assert again.returncode == 2 and b"already exist" in again.stderr

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    forced = run_cli("restore", "--from", str(backup), "--db", str(db), "--force")
    assert forced.returncode == 0 and b"kept the previous copy" in forced.stdout
    assert run_cli("check", "--db", str(db)).returncode == 0


def test_restore_of_a_missing_or_junk_file(tmp_path):
    assert run_cli("restore", "--from", str(tmp_path / "nope"), "--db", str(tmp_path / "x.sqlite3")).returncode == 2
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"\x1f\x8b junk")
    out = run_cli("restore", "--from", str(junk), "--db", str(tmp_path / "x.sqlite3"))
    assert out.returncode == 2 and b"not a readable backup" in out.stderr
    assert not (tmp_path / "x.sqlite3").exists()
