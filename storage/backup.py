"""Online backup and restore of one meyasubako installation (database + stored files).

Backup file format (documented in README, "本番運用"): a gzip-compressed tar with

  db.sqlite3       a consistent snapshot made with SQLite's online backup API in ONE step, i.e.
                   inside one read transaction: it is the database as of one commit. In WAL mode the
                   service keeps writing meanwhile; nothing is copied at file level.
  files/<path>     every regular file under the installation's files directory (photos ...),
                   copied AFTER the snapshot, so every file a snapshot row refers to is included
                   (files are written before the row that refers to them).
  manifest.json    {"format": "meyasubako-backup", "format_version": 1, "created_at", "schema_version",
                   "counts": {...}, "members": [{"name", "size", "sha256"}]} — written last.

Restore checks every name (no absolute paths, no "..", regular files only), the free space, the
sha256 and size of every member against the manifest, rejects members the manifest does not list,
runs ``PRAGMA integrity_check`` on the restored database, and only then moves it into place.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import tarfile
import tempfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from storage import migrations

FORMAT = "meyasubako-backup"
FORMAT_VERSION = 1
DB_MEMBER = "db.sqlite3"
FILES_PREFIX = "files/"
MANIFEST = "manifest.json"
BACKUP_GLOB = "meyasubako-backup-*.tar.gz"
_BACKUP_NAME = re.compile(r"^meyasubako-backup-\d{8}T\d{6}(?:-\d+)?\.tar\.gz$")
_CHUNK = 1 << 20


class BackupError(Exception):
    """The backup or restore cannot proceed; the message says why (English, for operators)."""


class TargetExists(BackupError):
    """Restore would overwrite an existing database (allowed with force)."""


class TargetInUse(BackupError):
    """A running server holds the target database (never overwritten, even with force)."""


@dataclass
class BackupResult:
    path: Path
    schema_version: int
    counts: dict[str, int]
    files: int
    bytes: int
    seconds: float


@dataclass
class RestoreResult:
    db_path: Path
    schema_version: int
    counts: dict[str, int]
    files: int
    replaced: list[Path] = field(default_factory=list)


# -- the lock a running server holds ------------------------------------------------------------------
def lock_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".lock")


@contextlib.contextmanager
def hold_serve_lock(db_path: Path) -> Iterator[None]:
    """Held (shared) by ``serve`` for its whole life, so that restore can tell a live database.

    A shared flock lets several readers of the idea coexist (tests open two apps on one file);
    restore asks for it exclusively and gives up at once when anyone holds it. The kernel drops
    the lock when the process dies, so a crash never leaves a stale "in use" behind.
    """
    path = lock_path(db_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing releases the flock


def server_running(db_path: Path) -> bool:
    path = lock_path(db_path)
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


# -- backup -------------------------------------------------------------------------------------------
def _connect(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise BackupError(f"no database at {path}")
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 30000")
    return conn


def _counts(conn: sqlite3.Connection) -> dict[str, int]:
    out: dict[str, int] = {}
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    for table in ("submissions", "events", "answers", "users", "outbox"):
        if table in tables:
            out[table] = int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    return out


def _schema_version(conn: sqlite3.Connection) -> int:
    has = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").fetchone()
    return int(conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]) if has else 0


def snapshot(db_path: Path, dest: Path) -> tuple[int, dict[str, int]]:
    """Copy the live database to ``dest`` as of one commit; return (schema version, row counts)."""
    src = _connect(db_path)
    try:
        dst = sqlite3.connect(dest, isolation_level=None)
        try:
            # pages=-1: all pages in one step, under one read transaction (a stepwise copy would
            # restart whenever the service commits, and under steady intake might never finish).
            src.backup(dst, pages=-1)
            dst.execute("PRAGMA journal_mode = DELETE")  # a standalone file, no -wal beside it
            ok = dst.execute("PRAGMA quick_check").fetchone()[0]
            if ok != "ok":
                raise BackupError(f"the snapshot failed its integrity check: {ok}")
            return _schema_version(dst), _counts(dst)
        finally:
            dst.close()
    finally:
        src.close()


def _iter_files(files_dir: Path) -> Iterator[tuple[Path, str]]:
    if not files_dir.is_dir():
        return
    for root, dirs, names in os.walk(files_dir, followlinks=False):
        dirs.sort()
        for name in sorted(names):
            p = Path(root) / name
            if p.is_file() and not p.is_symlink():
                yield p, p.relative_to(files_dir).as_posix()


class _HashingReader(io.RawIOBase):
    """Hashes what tarfile reads, so each file is read once while it is archived."""

    def __init__(self, f: IO[bytes]) -> None:
        self._f = f
        self.sha = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self._f.read(len(b))
        self.sha.update(data)
        n = len(data)
        b[:n] = data
        return n


def _add(tar: tarfile.TarFile, name: str, path: Path, mtime: float) -> dict[str, Any]:
    info = tarfile.TarInfo(name)
    with path.open("rb") as f:
        info.size = os.fstat(f.fileno()).st_size
        info.mtime = int(mtime)
        info.mode = 0o600
        reader = _HashingReader(f)
        tar.addfile(info, reader)  # type: ignore[arg-type]
    return {"name": name, "size": info.size, "sha256": reader.sha.hexdigest()}


def backup(db_path: Path, files_dir: Path, out: Path, *, now: dt.datetime | None = None) -> BackupResult:
    """Write a backup of a (possibly live) installation to ``out`` (created 0600, atomically)."""
    start = time.monotonic()
    now = now or dt.datetime.now(dt.UTC)
    if out.exists():
        raise BackupError(f"{out} already exists")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    with tempfile.TemporaryDirectory(prefix=".meyasubako-backup-", dir=out.parent) as tmp:
        snap = Path(tmp) / DB_MEMBER
        version, counts = snapshot(db_path, snap)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # personal data: owner only
        members: list[dict[str, Any]] = []
        try:
            with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6) as tar:
                members.append(_add(tar, DB_MEMBER, snap, now.timestamp()))
                for path, rel in _iter_files(files_dir):
                    try:
                        members.append(_add(tar, FILES_PREFIX + rel, path, path.stat().st_mtime))
                    except FileNotFoundError:  # erased between listing and reading: rightly absent
                        continue
                manifest = {
                    "format": FORMAT, "format_version": FORMAT_VERSION,
                    "created_at": now.isoformat(timespec="seconds"), "schema_version": version,
                    "counts": counts, "members": members,
                }
                data = json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8")
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mtime, info.mode = len(data), int(now.timestamp()), 0o600
                tar.addfile(info, io.BytesIO(data))
            os.replace(partial, out)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
            raise
    return BackupResult(out, version, counts, len(members) - 1, out.stat().st_size, time.monotonic() - start)


def backup_name(now: dt.datetime) -> str:
    return f"meyasubako-backup-{now.strftime('%Y%m%dT%H%M%S')}.tar.gz"


def rotate(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` scheduled backups (our own file names only); return deleted."""
    ours = sorted(p for p in directory.glob(BACKUP_GLOB) if _BACKUP_NAME.match(p.name) and p.is_file())
    doomed = ours[:-keep] if keep > 0 else ours
    for p in doomed:
        p.unlink()
    return doomed


# -- restore ------------------------------------------------------------------------------------------
def _safe_name(name: str) -> bool:
    p = PurePosixPath(name)
    return (
        bool(name) and not p.is_absolute() and ".." not in p.parts and "\\" not in name and "\x00" not in name
        and (name in (DB_MEMBER, MANIFEST) or (name.startswith(FILES_PREFIX) and len(p.parts) >= 2))
    )


def read_manifest(src: Path) -> tuple[dict[str, Any], list[tarfile.TarInfo]]:
    """Open a backup, check every member's name and type, and return its manifest."""
    try:
        with tarfile.open(src, mode="r:gz") as tar:
            members = tar.getmembers()
            manifest_bytes = None
            for m in members:
                if not _safe_name(m.name) or not m.isfile():
                    raise BackupError(f"unsafe or unexpected member in backup: {m.name!r}")
                if m.name == MANIFEST:
                    if m.size > 64 * 1024 * 1024:
                        raise BackupError("manifest too large")
                    f = tar.extractfile(m)
                    assert f is not None
                    manifest_bytes = f.read()
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise BackupError(f"not a readable backup file: {exc}") from exc
    names = [m.name for m in members]
    if len(set(names)) != len(names):
        raise BackupError("backup lists a member twice")
    if manifest_bytes is None:
        raise BackupError("backup has no manifest.json")
    try:
        manifest = json.loads(manifest_bytes)
    except ValueError as exc:
        raise BackupError("manifest.json is not valid JSON") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError("not a meyasubako backup (manifest format)")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(f"unsupported backup format version {manifest.get('format_version')!r}")
    listed = manifest.get("members")
    if not isinstance(listed, list) or not all(
        isinstance(e, dict) and isinstance(e.get("name"), str) and isinstance(e.get("size"), int)
        and isinstance(e.get("sha256"), str) for e in listed
    ):
        raise BackupError("manifest members are malformed")
    if {e["name"] for e in listed} != set(names) - {MANIFEST} or DB_MEMBER not in names:
        raise BackupError("backup members do not match the manifest")
    return manifest, members


def _existing(db_path: Path, files_dir: Path) -> list[Path]:
    found = [p for p in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")) if p.exists()]
    if files_dir.is_dir() and any(files_dir.iterdir()):
        found.append(files_dir)
    return found


def restore(src: Path, db_path: Path, files_dir: Path, *, force: bool = False,
            now: dt.datetime | None = None) -> RestoreResult:
    """Restore ``src`` to ``db_path`` (+ ``files_dir``). Refuses an existing target unless ``force``;
    refuses a target a running server holds, whatever ``force`` says."""
    now = now or dt.datetime.now(dt.UTC)
    if server_running(db_path):
        raise TargetInUse(f"a running meyasubako serve is using {db_path}; stop it before restoring")
    existing = _existing(db_path, files_dir)
    if existing and not force:
        raise TargetExists(
            f"{', '.join(map(str, existing))} already exist(s); restore into an empty location or pass --force "
            "(the current files are kept beside it, renamed *.replaced-<time>)"
        )
    manifest, members = read_manifest(src)
    version = manifest.get("schema_version")
    if not isinstance(version, int) or version > migrations.latest_version():
        raise BackupError(f"backup schema version {version!r} is newer than this program "
                          f"({migrations.latest_version()}); upgrade meyasubako first")
    expected = {e["name"]: e for e in manifest["members"]}
    total = sum(m.size for m in members)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    if shutil.disk_usage(db_path.parent).free < total + 64 * 1024 * 1024:
        raise BackupError(f"not enough free space in {db_path.parent} for {total} bytes")
    with tempfile.TemporaryDirectory(prefix=".meyasubako-restore-", dir=db_path.parent) as tmp:
        stage = Path(tmp)
        with tarfile.open(src, mode="r:gz") as tar:
            for m in members:
                if m.name == MANIFEST:
                    continue
                want = expected[m.name]
                if m.size != want["size"]:
                    raise BackupError(f"{m.name}: size differs from the manifest")
                target = stage / m.name
                target.parent.mkdir(parents=True, exist_ok=True)
                sha = hashlib.sha256()
                f = tar.extractfile(m)
                assert f is not None
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    while chunk := f.read(_CHUNK):
                        sha.update(chunk)
                        out.write(chunk)
                if sha.hexdigest() != want["sha256"]:
                    raise BackupError(f"{m.name}: checksum mismatch (the backup file is damaged)")
        conn = sqlite3.connect(stage / DB_MEMBER, isolation_level=None)
        try:
            ok = conn.execute("PRAGMA integrity_check").fetchone()[0]
            if ok != "ok":
                raise BackupError(f"the restored database failed its integrity check: {ok}")
            if _schema_version(conn) != version:
                raise BackupError("the database's schema version differs from the manifest")
            counts = _counts(conn)
        finally:
            conn.close()
        replaced: list[Path] = []
        if existing:
            suffix = ".replaced-" + now.strftime("%Y%m%dT%H%M%S")
            for p in existing:  # keep what was there: a mistaken restore must be undoable
                dest = p.with_name(p.name + suffix)
                os.replace(p, dest)
                replaced.append(dest)
        os.replace(stage / DB_MEMBER, db_path)
        staged_files = stage / FILES_PREFIX.rstrip("/")
        if staged_files.is_dir():
            if files_dir.exists():  # an empty leftover directory
                shutil.rmtree(files_dir)
            os.replace(staged_files, files_dir)
    return RestoreResult(db_path, version, counts, len(expected) - 1, replaced)
