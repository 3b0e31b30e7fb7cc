"""``meyasubako serve``: the whole service in one process."""

from __future__ import annotations

import argparse

from aiohttp import web

from meyasubako.app import create_app
from meyasubako.commands.common import add_db_flag, fail
from meyasubako.settings import SettingsError, ensure_secret_key, from_env


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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = from_env().with_overrides(
            db=args.db, secret_key=args.secret_key, line_channel_secret=args.line_channel_secret,
            line_channel_access_token=args.line_channel_access_token, line_api_base=args.line_api_base,
            rate_limit=args.rate_limit, base_url=args.base_url, host=args.host, port=args.port,
        )
        settings = ensure_secret_key(settings).validate()
        app = create_app(settings)
    except SettingsError as exc:
        return fail(str(exc))
    # run_app handles SIGINT/SIGTERM: stops accepting, lets in-flight handlers finish (shutdown_timeout),
    # then runs cleanup_ctx, which drains the writer queue before closing the database.
    web.run_app(app, host=settings.host, port=settings.port, access_log=None, shutdown_timeout=30,
                print=lambda msg: print(msg, flush=True))
    return 0
