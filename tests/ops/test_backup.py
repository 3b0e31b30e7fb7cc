"""Online backup under concurrent writes, restore, and a backup file that is damaged or hostile."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from meyasubako import keys
from storage import backup as bk
from storage import check
from tests.conftest import submit
from tests.ops.helpers import execute, rows, table


async def test_backup_under_concurrent_writes_restores_a_consistent_prefix(make_client, settings, tmp_path):
    client = await make_client(settings)
    settings.files_dir.mkdir(parents=True)
    (settings.files_dir / "2026").mkdir()
    (settings.files_dir / "2026" / "photo1.jpg").write_bytes(b"\xff\xd8 fake jpeg " * 1000)
    stop = asyncio.Event()
    written = 0

    async def writer(n: int) -> None:
        nonlocal written
        i = 0
        own = TestClient(client.server)  # its own cookie jar (session, CSRF token) on the same server
        await own.start_server()
        while not stop.is_set():
            status, _ = await submit(own, f"{n}番の書き手から{i}件目：公園の街灯が切れています。",
                                     contact=f"w{n}-{i}@example.jp", place="中央公園")
            assert status == 200
            written += 1
            i += 1
        await own.session.close()

    writers = [asyncio.create_task(writer(n)) for n in range(3)]
    while written < 5:
        await asyncio.sleep(0.01)
    loop = asyncio.get_running_loop()
    backups = []
    for k in range(3):  # each backup is taken while the three writers keep submitting
        out = tmp_path / f"b{k}.tar.gz"
        res = await loop.run_in_executor(None, bk.backup, settings.db_path, settings.files_dir, out)
        backups.append(res)
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.gather(*writers)
    await client.close()  # the source is final now

    src_subs = table(settings.db_path, "submissions")
    src_events = table(settings.db_path, "events")
    counts = []
    for k, res in enumerate(backups):
        target = tmp_path / f"restored{k}" / "db.sqlite3"
        restored = bk.restore(res.path, target, target.with_name("db-files"))
        got_subs = table(target, "submissions")
        got_events = table(target, "events")
        counts.append(len(got_subs))
        assert restored.counts["submissions"] == len(got_subs) == res.counts["submissions"]
        # a prefix of the source: ids 1..n, each row identical to the source row (nothing torn)
        assert sorted(got_subs) == list(range(1, len(got_subs) + 1))
        assert all(got_subs[i] == src_subs[i] for i in got_subs)
        assert all(got_events[i] == src_events[i] for i in got_events)
        # every submission in the snapshot has all its events (received + routed) and vice versa
        assert {e["submission_id"] for e in got_events.values()} == set(got_subs)
        assert all(f.ok for f in check.run_checks(target)), check.report(check.run_checks(target), target)
        assert (target.with_name("db-files") / "2026" / "photo1.jpg").read_bytes() == \
            (settings.files_dir / "2026" / "photo1.jpg").read_bytes()
    assert counts == sorted(counts) and counts[-1] < len(src_subs), "backups must have raced the writers"
    assert counts[0] >= 5


async def test_restore_refuses_a_live_database_even_with_force(make_client, settings, tmp_path):
    client = await make_client(settings)
    await submit(client, "ごみの収集日を教えてください。")
    res = bk.backup(settings.db_path, settings.files_dir, tmp_path / "b.tar.gz")
    assert bk.server_running(settings.db_path)
    with pytest.raises(bk.TargetInUse):
        bk.restore(res.path, settings.db_path, settings.files_dir, force=True)
    await client.close()
    assert not bk.server_running(settings.db_path)
    before = settings.db_path.read_bytes()
    with pytest.raises(bk.TargetExists):
        bk.restore(res.path, settings.db_path, settings.files_dir)
    assert settings.db_path.read_bytes() == before
    done = bk.restore(res.path, settings.db_path, settings.files_dir, force=True)
    assert done.replaced and all(p.exists() for p in done.replaced)  # the old copy is kept
    assert rows(settings.db_path, "SELECT COUNT(*) AS n FROM submissions")[0]["n"] == 1


def test_restore_refuses_a_leftover_wal_and_nonempty_files_dir(tmp_path):
    src = _tiny_backup(tmp_path)
    target = tmp_path / "t" / "db.sqlite3"
    target.parent.mkdir()
    Path(f"{target}-wal").write_bytes(b"x")
    with pytest.raises(bk.TargetExists):
        bk.restore(src, target, tmp_path / "t" / "files")
    Path(f"{target}-wal").unlink()
    (tmp_path / "t" / "files").mkdir()
    (tmp_path / "t" / "files" / "a").write_bytes(b"1")
    with pytest.raises(bk.TargetExists):
        bk.restore(src, target, tmp_path / "t" / "files")
    (tmp_path / "t" / "files" / "a").unlink()
    bk.restore(src, target, tmp_path / "t" / "files")  # an empty files directory is fine
    assert target.exists()


def _tiny_backup(tmp_path: Path) -> Path:
    db = tmp_path / "src.sqlite3"
    import sqlite3

    from storage import migrations

    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)")
    conn.execute("INSERT INTO schema_version VALUES (?, 'x', '')", (migrations.latest_version(),))
    conn.commit()
    conn.close()
    return bk.backup(db, tmp_path / "nofiles", tmp_path / "tiny.tar.gz").path


def _rewrite(src: Path, dest: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    """Copy a backup member by member, letting ``edit(name, data)`` change or add members."""
    with tarfile.open(src, "r:gz") as tin, tarfile.open(dest, "w:gz") as tout:
        members = [(m, tin.extractfile(m).read()) for m in tin.getmembers()]
        for m, data in members:
            for name, new in edit(m.name, data):
                info = tarfile.TarInfo(name)
                info.size = len(new)
                tout.addfile(info, io.BytesIO(new))
    return dest


def _manifest_edit(fn):  # type: ignore[no-untyped-def]
    def edit(name, data):  # type: ignore[no-untyped-def]
        if name == bk.MANIFEST:
            m = json.loads(data)
            fn(m)
            data = json.dumps(m).encode()
        return [(name, data)]
    return edit


@pytest.mark.parametrize("case", ["flipped_byte", "traversal", "absolute", "unlisted", "no_manifest",
                                  "newer_schema", "wrong_format", "not_gzip", "truncated", "bad_json"])
def test_damaged_or_hostile_backups_are_refused(tmp_path, case):
    src = _tiny_backup(tmp_path)
    bad = tmp_path / "bad.tar.gz"
    if case == "flipped_byte":
        def edit(name, data):  # type: ignore[no-untyped-def]
            return [(name, bytes([data[0] ^ 1]) + data[1:] if name == bk.DB_MEMBER else data)]
        _rewrite(src, bad, edit)
    elif case in ("traversal", "absolute", "unlisted"):
        evil = {"traversal": "files/../../evil", "absolute": "/tmp/evil", "unlisted": "files/extra.jpg"}[case]

        def edit(name, data):  # type: ignore[no-untyped-def]
            out = [(name, data)]
            if name == bk.DB_MEMBER:
                out.append((evil, b"boom"))
            return out
        _rewrite(src, bad, edit)
    elif case == "no_manifest":
        _rewrite(src, bad, lambda name, data: [] if name == bk.MANIFEST else [(name, data)])
    elif case == "newer_schema":
        _rewrite(src, bad, _manifest_edit(lambda m: m.update(schema_version=9999)))
    elif case == "wrong_format":
        _rewrite(src, bad, _manifest_edit(lambda m: m.update(format="something-else")))
    elif case == "bad_json":
        _rewrite(src, bad, lambda name, data: [(name, b"{not json" if name == bk.MANIFEST else data)])
    elif case == "not_gzip":
        bad.write_bytes(b"PK\x03\x04 this is a zip, not a backup")
    elif case == "truncated":
        bad.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    target = tmp_path / "out" / "db.sqlite3"
    with pytest.raises(bk.BackupError):
        bk.restore(bad, target, tmp_path / "out" / "files")
    assert not target.exists() and not (tmp_path / "evil").exists() and not Path("/tmp/evil").exists()


def test_backup_file_is_private_and_never_overwritten(tmp_path):
    src = _tiny_backup(tmp_path)
    assert src.stat().st_mode & 0o777 == 0o600
    with pytest.raises(bk.BackupError, match="exists"):
        bk.backup(tmp_path / "src.sqlite3", tmp_path / "nofiles", src)
    with pytest.raises(bk.BackupError, match="no database"):
        bk.backup(tmp_path / "missing.sqlite3", tmp_path / "nofiles", tmp_path / "x.tar.gz")
    assert not (tmp_path / "missing.sqlite3").exists()  # backing up a typo must not create an empty db
    with tarfile.open(src) as tar:
        manifest = json.loads(tar.extractfile(bk.MANIFEST).read())
        db = tar.extractfile(bk.DB_MEMBER).read()
    assert manifest["members"][0]["sha256"] == hashlib.sha256(db).hexdigest()


def test_rotation_keeps_the_newest_and_only_touches_backups(tmp_path):
    names = [f"meyasubako-backup-2026040{d}T030000.tar.gz" for d in range(1, 6)]
    for n in names:
        (tmp_path / n).write_bytes(b"x")
    (tmp_path / "meyasubako-backup-important.tar.gz").write_bytes(b"mine")
    (tmp_path / "notes.txt").write_bytes(b"keep")
    removed = bk.rotate(tmp_path, 2)
    assert [p.name for p in removed] == names[:3]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        names[3:] + ["meyasubako-backup-important.tar.gz", "notes.txt"])


async def test_backup_of_a_served_app_through_the_app_key(make_client, settings, tmp_path):
    client = await make_client(settings)
    await submit(client, "図書館の開館時間を延ばしてほしい。", contact="reader@example.jp")
    db = client.app[keys.DB]
    assert db.path == settings.db_path
    execute(settings.db_path, "SELECT 1")
    res = bk.backup(settings.db_path, settings.files_dir, tmp_path / "d" / "x.tar.gz")
    assert res.counts["submissions"] == 1 and res.files == 0
