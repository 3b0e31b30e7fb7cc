"""Private photo files: sniffed type, random names, written durably, never under a public URL."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

SUBDIR = "line"
# What we accept, recognized by content (not by LINE's header or a file name).
_KINDS: tuple[tuple[bytes, str, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"GIF87a", "image/gif", "gif"),
    (b"GIF89a", "image/gif", "gif"),
)
SAFE_MIME = frozenset(m for _, m, _ in _KINDS) | {"image/webp"}
_REL = re.compile(rf"^{SUBDIR}/[0-9a-f]{{32}}\.(?:jpg|png|gif|webp)$")


@dataclass(frozen=True)
class StoredFile:
    path: str      # relative to the files directory
    mime: str
    size: int
    sha256: str


def sniff(data: bytes) -> tuple[str, str] | None:
    """(mime, extension) of a supported image, or None."""
    for magic, mime, ext in _KINDS:
        if data.startswith(magic):
            return mime, ext
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", "webp"
    return None


def _write(files_dir: Path, data: bytes, ext: str) -> str:
    folder = files_dir / SUBDIR
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    rel = f"{SUBDIR}/{secrets.token_hex(16)}.{ext}"
    final = files_dir / rel
    tmp = final.with_suffix(".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # the row that points here is committed right after: the file must be there
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return rel


async def store(files_dir: Path, data: bytes, mime: str, ext: str) -> StoredFile:
    rel = await asyncio.to_thread(_write, files_dir, data, ext)
    return StoredFile(rel, mime, len(data), hashlib.sha256(data).hexdigest())


def resolve(files_dir: Path, rel: str) -> Path | None:
    """The file for a stored relative path; None for anything this module did not write."""
    if not _REL.fullmatch(rel):
        return None
    path = (files_dir / rel).resolve()
    base = (files_dir / SUBDIR).resolve()
    return path if path.parent == base else None


async def remove(files_dir: Path, rels: list[str]) -> None:
    def work() -> None:
        for rel in rels:
            path = resolve(files_dir, rel)
            if path is not None:
                path.unlink(missing_ok=True)

    if rels:
        await asyncio.to_thread(work)
