"""``meyasubako serve``: the whole service in one process."""

from __future__ import annotations

import argparse

from aiohttp import web

from meyasubako.app import create_app
from meyasubako.commands.common import add_db_flag, fail
from meyasubako.memory import FREEZE_GC
from meyasubako.settings import SettingsError, ensure_secret_key, from_env, parse_networks
from storage.errors import StorageUnavailable


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the web service (form, notice board, admin, LINE webhook)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    add_db_flag(p)
    p.add_argument("--secret-key", help="env MEYASUBAKO_SECRET_KEY (generated under var/ when unset)")
    p.add_argument("--line-channel-secret", help="env LINE_CHANNEL_SECRET")
    p.add_argument("--line-channel-access-token", help="env LINE_CHANNEL_ACCESS_TOKEN")
    p.add_argument("--line-api-base", help="env LINE_API_BASE (e.g. a local test double)")
    p.add_argument("--rate-limit", type=int, help="env MEYASUBAKO_RATE_LIMIT: submissions/minute per client; 0 = off")
    p.add_argument("--base-url", help="env MEYASUBAKO_BASE_URL: public https URL, used in links sent to residents")
    ops_flags(p)
    p.set_defaults(func=run)


def ops_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("production (see README: 本番運用)")
    g.add_argument("--trusted-proxies", help="env MEYASUBAKO_TRUSTED_PROXIES: proxy IPs/CIDRs whose X-Forwarded-For is believed")
    g.add_argument("--retention-days", type=int, help="env MEYASUBAKO_RETENTION_DAYS: erase personal data N days after "
                                                      "an item is finished (default 1826; 0 = never)")
    g.add_argument("--backup-dir", help="env MEYASUBAKO_BACKUP_DIR: nightly backups go here (unset = none)")
    g.add_argument("--backup-keep", type=int, help="env MEYASUBAKO_BACKUP_KEEP: nightly backups kept (default 7)")
    g.add_argument("--backup-hour", type=int, help="env MEYASUBAKO_BACKUP_HOUR: hour (JST) of the nightly backup (default 3)")
    g.add_argument("--metrics-token", help="env MEYASUBAKO_METRICS_TOKEN: bearer token for /metrics from other hosts")
    g.add_argument("--files-dir", help="env MEYASUBAKO_FILES_DIR: residents' photos (default: beside the SQLite file, "
                                       "or var/meyasubako-files; several machines: storage they all mount)")


def ops_overrides(args: argparse.Namespace) -> dict[str, object]:
    return {
        "trusted_proxies": parse_networks(args.trusted_proxies, "--trusted-proxies")
        if args.trusted_proxies is not None else None,
        "retention_days": args.retention_days, "backup_dir": args.backup_dir, "backup_keep": args.backup_keep,
        "backup_hour": args.backup_hour, "metrics_token": args.metrics_token,
        "files": getattr(args, "files_dir", None),
    }


def run(args: argparse.Namespace) -> int:
    try:
        settings = from_env().with_overrides(
            db=args.db, secret_key=args.secret_key, line_channel_secret=args.line_channel_secret,
            line_channel_access_token=args.line_channel_access_token, line_api_base=args.line_api_base,
            rate_limit=args.rate_limit, base_url=args.base_url, host=args.host, port=args.port,
            **ops_overrides(args),
        )
        settings = ensure_secret_key(settings).validate()
        app = create_app(settings)
        app[FREEZE_GC] = True  # this process serves one app for its whole life (meyasubako/memory.py)
    except SettingsError as exc:
        return fail(str(exc))
    # run_app handles SIGINT/SIGTERM: stops accepting, lets in-flight handlers finish (shutdown_timeout),
    # then runs cleanup_ctx, which drains the writer queue before closing the database.
    try:
        web.run_app(app, host=settings.host, port=settings.port, access_log=None, shutdown_timeout=30,
                    print=lambda msg: print(msg, flush=True))
    except StorageUnavailable as exc:  # e.g. PostgreSQL unreachable at start: say so, no traceback
        return fail(f"cannot start: {exc}", code=1)
    return 0
