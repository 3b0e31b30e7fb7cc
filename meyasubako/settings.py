"""Settings: one frozen dataclass, read from the environment (and CLI flags) at the edge only."""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from storage.connect import is_postgres_url

DEFAULT_DB = "var/meyasubako.sqlite3"
DEFAULT_RATE_LIMIT = 10  # submissions per minute per client address or LINE user
DEFAULT_RETENTION_DAYS = 1826  # 5 years after an item is closed (文書管理: 5年保存), then personal data goes
DEFAULT_BACKUP_KEEP = 7
DEFAULT_BACKUP_HOUR = 3  # JST; nightly backups run when the office is closed

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the key."""


@dataclass(frozen=True)
class Settings:
    db: str = DEFAULT_DB
    secret_key: str = field(default="", repr=False)
    line_channel_secret: str | None = field(default=None, repr=False)
    line_channel_access_token: str | None = field(default=None, repr=False)
    line_api_base: str | None = None
    rate_limit: int = DEFAULT_RATE_LIMIT
    base_url: str = ""  # public URL of the service, for links sent to residents over LINE
    host: str = "127.0.0.1"
    port: int = 8080
    session_max_age: int = 8 * 3600  # staff sessions expire after 8 hours
    max_body_bytes: int = 1024 * 1024
    # -- operations (issue 9) --
    trusted_proxies: tuple[Network, ...] = ()  # peers whose X-Forwarded-For is believed
    retention_days: int = DEFAULT_RETENTION_DAYS  # 0 = keep personal data forever
    backup_dir: str = ""  # scheduled backups go here; empty = no scheduled backups
    backup_keep: int = DEFAULT_BACKUP_KEEP
    backup_hour: int = DEFAULT_BACKUP_HOUR
    metrics_token: str | None = field(default=None, repr=False)  # bearer token for /metrics from elsewhere
    files: str = ""  # private files (photos); empty = beside the SQLite file, or var/meyasubako-files

    @property
    def line_enabled(self) -> bool:
        return bool(self.line_channel_secret and self.line_channel_access_token)

    @property
    def is_postgres(self) -> bool:
        return is_postgres_url(self.db)

    @property
    def db_path(self) -> Path:
        """The SQLite file. With PostgreSQL there is none: this is where it would be under var/,
        which only serves as the home of the generated secret key and the files directory."""
        db = DEFAULT_DB if self.is_postgres else self.db
        if db.startswith("sqlite:///"):
            db = db[len("sqlite:///") :]
        return Path(db)

    @property
    def files_dir(self) -> Path:
        """Private files (photos) live beside the database, never under a public URL. Several
        machines on one PostgreSQL need MEYASUBAKO_FILES_DIR on storage they all mount."""
        if self.files:
            return Path(self.files)
        return self.db_path.with_name(self.db_path.stem + "-files")

    def validate(self) -> Settings:
        if not self.secret_key:
            raise SettingsError("MEYASUBAKO_SECRET_KEY is not set")
        if len(self.secret_key) < 16:
            raise SettingsError("MEYASUBAKO_SECRET_KEY must be at least 16 characters")
        if self.is_postgres and self.backup_dir:
            raise SettingsError("MEYASUBAKO_BACKUP_DIR: scheduled backups copy a SQLite file; back up PostgreSQL"
                                " with pg_dump or the server's own backups, and leave MEYASUBAKO_BACKUP_DIR empty")
        if self.rate_limit < 0:
            raise SettingsError("MEYASUBAKO_RATE_LIMIT must be 0 (off) or a positive number")
        if bool(self.line_channel_secret) != bool(self.line_channel_access_token):
            missing = "LINE_CHANNEL_ACCESS_TOKEN" if self.line_channel_secret else "LINE_CHANNEL_SECRET"
            raise SettingsError(f"{missing} is not set (LINE needs both the channel secret and the access token)")
        if self.retention_days < 0:
            raise SettingsError("MEYASUBAKO_RETENTION_DAYS must be 0 (keep forever) or a positive number of days")
        if self.backup_keep < 1:
            raise SettingsError("MEYASUBAKO_BACKUP_KEEP must be at least 1")
        if not 0 <= self.backup_hour <= 23:
            raise SettingsError("MEYASUBAKO_BACKUP_HOUR must be an hour of the day, 0-23")
        if self.metrics_token is not None and len(self.metrics_token) < 16:
            raise SettingsError("MEYASUBAKO_METRICS_TOKEN must be at least 16 characters")
        return self

    def with_overrides(self, **kw: object) -> Settings:
        return replace(self, **{k: v for k, v in kw.items() if v is not None})


def _int(env: Mapping[str, str], key: str, default: int) -> int:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"{key} must be a whole number, got {raw!r}") from exc


def parse_networks(raw: str, key: str = "MEYASUBAKO_TRUSTED_PROXIES") -> tuple[Network, ...]:
    """'127.0.0.1, 10.0.0.0/8, ::1' -> networks; a malformed entry fails fast, naming the key."""
    nets: list[Network] = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            nets.append(ipaddress.ip_network(part, strict=False))
        except ValueError as exc:
            raise SettingsError(f"{key}: {part!r} is not an IP address or network") from exc
    return tuple(nets)


def _secret(env: Mapping[str, str], key: str) -> str | None:
    """A secret from KEY, or from the file named by KEY_FILE (systemd LoadCredential, Docker secrets).

    Files keep secrets out of the process environment (which /proc and crash reports can show).
    """
    direct = env.get(key) or None
    path = env.get(key + "_FILE") or None
    if direct and path:
        raise SettingsError(f"set either {key} or {key}_FILE, not both")
    if path is None:
        return direct
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SettingsError(f"{key}_FILE: cannot read {path!r} ({exc.strerror})") from exc
    if not value:
        raise SettingsError(f"{key}_FILE: {path!r} is empty")
    return value


def from_env(env: Mapping[str, str] | None = None) -> Settings:
    e = os.environ if env is None else env
    return Settings(
        db=e.get("MEYASUBAKO_DB") or DEFAULT_DB,
        secret_key=_secret(e, "MEYASUBAKO_SECRET_KEY") or "",
        line_channel_secret=_secret(e, "LINE_CHANNEL_SECRET"),
        line_channel_access_token=_secret(e, "LINE_CHANNEL_ACCESS_TOKEN"),
        line_api_base=e.get("LINE_API_BASE") or None,
        rate_limit=_int(e, "MEYASUBAKO_RATE_LIMIT", DEFAULT_RATE_LIMIT),
        base_url=(e.get("MEYASUBAKO_BASE_URL") or "").rstrip("/"),
        trusted_proxies=parse_networks(e.get("MEYASUBAKO_TRUSTED_PROXIES") or ""),
        retention_days=_int(e, "MEYASUBAKO_RETENTION_DAYS", DEFAULT_RETENTION_DAYS),
        backup_dir=e.get("MEYASUBAKO_BACKUP_DIR") or "",
        backup_keep=_int(e, "MEYASUBAKO_BACKUP_KEEP", DEFAULT_BACKUP_KEEP),
        backup_hour=_int(e, "MEYASUBAKO_BACKUP_HOUR", DEFAULT_BACKUP_HOUR),
        metrics_token=_secret(e, "MEYASUBAKO_METRICS_TOKEN"),
        files=e.get("MEYASUBAKO_FILES_DIR") or "",
    )


def ensure_secret_key(settings: Settings) -> Settings:
    """For `serve` on a development machine: keep a generated key beside the database.

    A production deployment sets MEYASUBAKO_SECRET_KEY; this only spares a first-time user a step,
    and the key survives restarts so sessions and CSRF tokens stay valid.
    """
    if settings.secret_key:
        return settings
    key_file = settings.db_path.with_name("secret_key")
    key_file.parent.mkdir(parents=True, exist_ok=True)
    if not key_file.exists():
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
    return replace(settings, secret_key=key_file.read_text().strip())
