"""The ``meyasubako`` console script."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from meyasubako.commands import (
    backup,
    check,
    classify,
    copy,
    eval,
    export,
    migrate,
    restore,
    retention,
    serve,
    user,
)
from meyasubako.logfmt import JournaldFormatter, stderr_is_journal

COMMANDS = [serve, classify, eval, user, export, backup, restore, check, retention, migrate, copy]


def setup_logging(level: int = logging.INFO) -> None:
    # key=value lines on stderr: journald and `grep` both read them.
    if stderr_is_journal():
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JournaldFormatter())
        logging.basicConfig(level=level, handlers=[handler])
        return
    logging.basicConfig(
        level=level, stream=sys.stderr,
        format="time=%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="meyasubako", description="meyasubako: a digital 目安箱 for city offices")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging()
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
