"""Log lines for journald: under systemd, no timestamp (journald stamps every line) and a syslog
priority prefix ``<N>`` so that ``journalctl -p warning`` filters by level."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


def stderr_is_journal(env: Mapping[str, str] | None = None, fd: int = 2) -> bool:
    """systemd sets JOURNAL_STREAM=<dev>:<inode> of the stream it connected; compare it with ours."""
    value = (os.environ if env is None else env).get("JOURNAL_STREAM", "")
    try:
        dev, ino = (int(x) for x in value.split(":"))
        st = os.fstat(fd)
    except (ValueError, OSError):
        return False
    return (st.st_dev, st.st_ino) == (dev, ino)


class JournaldFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("level=%(levelname)s logger=%(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        prefix = f"<{PRIORITY.get(record.levelno, 6)}>"
        # every line of a traceback keeps the record's priority
        return "\n".join(prefix + line for line in text.splitlines())
