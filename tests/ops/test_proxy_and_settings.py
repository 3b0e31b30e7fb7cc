"""Trusted proxies (client address) and secrets read from files."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from meyasubako import keys
from meyasubako.settings import Settings, SettingsError, from_env, parse_networks
from meyasubako.web import client_address
from tests.conftest import SECRET, submit


def _addr(trusted: str, peer: str, *xff: str) -> str:
    app = web.Application()
    app[keys.SETTINGS] = Settings(secret_key=SECRET, trusted_proxies=parse_networks(trusted))
    headers = [("X-Forwarded-For", v) for v in xff]
    from multidict import CIMultiDict

    req = make_mocked_request("GET", "/", headers=CIMultiDict(headers), app=app)
    # make_mocked_request's transport reports no peer; set the one a real socket would give
    req._transport_peername = (peer, 40000)  # type: ignore[attr-defined]
    return client_address(req)


def test_forwarded_header_is_ignored_from_an_untrusted_peer():
    assert _addr("", "198.51.100.7", "1.2.3.4") == "198.51.100.7"
    assert _addr("10.0.0.0/8", "198.51.100.7", "1.2.3.4") == "198.51.100.7"


def test_rightmost_untrusted_hop_is_the_client():
    # nginx appends the address it saw; whatever the client wrote is further left and is never read
    assert _addr("10.0.0.1", "10.0.0.1", "6.6.6.6, 203.0.113.9") == "203.0.113.9"
    assert _addr("10.0.0.0/8", "10.0.0.1", "203.0.113.9, 10.0.0.5") == "203.0.113.9"
    assert _addr("10.0.0.1", "10.0.0.1", "6.6.6.6", "203.0.113.9") == "203.0.113.9"  # two header lines
    assert _addr("::1", "::1", "2001:db8::5") == "2001:db8::5"


def test_garbled_or_missing_forwarded_header_falls_back_to_the_proxy():
    assert _addr("10.0.0.1", "10.0.0.1") == "10.0.0.1"
    assert _addr("10.0.0.1", "10.0.0.1", "not-an-ip") == "10.0.0.1"
    assert _addr("10.0.0.1", "10.0.0.1", "203.0.113.9, <script>") == "10.0.0.1"
    assert _addr("10.0.0.1", "10.0.0.1", "x" * 10000) == "10.0.0.1"
    assert _addr("10.0.0.0/8", "10.0.0.1", "10.0.0.2, 10.0.0.3") == "10.0.0.2"  # all trusted: leftmost


async def test_rate_limit_buckets_follow_the_trusted_client_address(make_client, settings):
    client = await make_client(settings.with_overrides(rate_limit=1, trusted_proxies=parse_networks("127.0.0.1")))
    client.session.headers["X-Forwarded-For"] = "203.0.113.1"
    assert (await submit(client, "公園のベンチが壊れています。"))[0] == 200
    assert (await submit(client, "公園のベンチが壊れています。二回目"))[0] == 429
    client.session.headers["X-Forwarded-For"] = "203.0.113.2"  # another resident behind the same proxy
    assert (await submit(client, "道路の穴を直してください。"))[0] == 200


async def test_spoofed_forwarded_header_does_not_escape_the_rate_limit(make_client, settings):
    client = await make_client(settings.with_overrides(rate_limit=1))  # no trusted proxies
    client.session.headers["X-Forwarded-For"] = "203.0.113.1"
    assert (await submit(client, "公園のベンチが壊れています。"))[0] == 200
    client.session.headers["X-Forwarded-For"] = "203.0.113.2"
    assert (await submit(client, "道路の穴を直してください。"))[0] == 429


def test_trusted_proxies_setting_is_validated():
    assert [str(n) for n in parse_networks(" 127.0.0.1 , 10.0.0.0/8,::1,")] == ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]
    for bad in ("10.0.0.300", "localhost", "10.0.0.0/33", "1.2.3.4 5.6.7.8"):
        with pytest.raises(SettingsError, match="MEYASUBAKO_TRUSTED_PROXIES"):
            from_env({"MEYASUBAKO_TRUSTED_PROXIES": bad})


def test_secrets_from_files(tmp_path):
    (tmp_path / "key").write_text("k" * 40 + "\n")
    (tmp_path / "line_secret").write_text("s3cret")
    (tmp_path / "token").write_text("tok\n")
    s = from_env({"MEYASUBAKO_SECRET_KEY_FILE": str(tmp_path / "key"),
                  "LINE_CHANNEL_SECRET_FILE": str(tmp_path / "line_secret"),
                  "LINE_CHANNEL_ACCESS_TOKEN_FILE": str(tmp_path / "token")})
    assert s.secret_key == "k" * 40 and s.line_channel_secret == "s3cret" and s.line_channel_access_token == "tok"
    assert "k" * 40 not in repr(s)
    with pytest.raises(SettingsError, match="MEYASUBAKO_SECRET_KEY_FILE"):
        from_env({"MEYASUBAKO_SECRET_KEY_FILE": str(tmp_path / "missing")})
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(SettingsError, match="empty"):
        from_env({"MEYASUBAKO_SECRET_KEY_FILE": str(tmp_path / "empty")})
    with pytest.raises(SettingsError, match="not both"):
        from_env({"MEYASUBAKO_SECRET_KEY": "x" * 20, "MEYASUBAKO_SECRET_KEY_FILE": str(tmp_path / "key")})


def test_operations_settings_are_validated():
    s = from_env({"MEYASUBAKO_SECRET_KEY": "x" * 20})
    assert s.retention_days == 1826 and s.backup_dir == "" and s.backup_keep == 7
    for env, key in [({"MEYASUBAKO_RETENTION_DAYS": "-1"}, "RETENTION_DAYS"),
                     ({"MEYASUBAKO_RETENTION_DAYS": "five"}, "RETENTION_DAYS"),
                     ({"MEYASUBAKO_BACKUP_KEEP": "0"}, "BACKUP_KEEP"),
                     ({"MEYASUBAKO_BACKUP_HOUR": "24"}, "BACKUP_HOUR"),
                     ({"MEYASUBAKO_METRICS_TOKEN": "short"}, "METRICS_TOKEN")]:
        with pytest.raises(SettingsError, match=key):
            from_env({"MEYASUBAKO_SECRET_KEY": "x" * 20, **env}).validate()


def test_journald_log_format(tmp_path):
    import logging
    import os

    from meyasubako.logfmt import JournaldFormatter, stderr_is_journal

    with open(tmp_path / "stream", "w") as f:
        st = os.fstat(f.fileno())
        assert stderr_is_journal({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}, f.fileno())
        assert not stderr_is_journal({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"}, f.fileno())
        assert not stderr_is_journal({"JOURNAL_STREAM": "garbage"}, f.fileno())
        assert not stderr_is_journal({}, f.fileno())
    rec = logging.LogRecord("meyasubako.x", logging.ERROR, __file__, 1, "event=boom a=%d", (1,), None)
    assert JournaldFormatter().format(rec) == "<3>level=ERROR logger=meyasubako.x event=boom a=1"


def test_serve_flags_override_the_environment():
    from meyasubako.cli import build_parser
    from meyasubako.commands.serve import ops_overrides

    args = build_parser().parse_args(["serve", "--trusted-proxies", "10.0.0.1", "--retention-days", "0",
                                      "--backup-dir", "/srv/b", "--backup-keep", "3", "--backup-hour", "2"])
    s = from_env({"MEYASUBAKO_SECRET_KEY": "x" * 20, "MEYASUBAKO_RETENTION_DAYS": "10"}).with_overrides(
        **ops_overrides(args))
    assert [str(n) for n in s.trusted_proxies] == ["10.0.0.1/32"]
    assert (s.retention_days, s.backup_dir, s.backup_keep, s.backup_hour) == (0, "/srv/b", 3, 2)
    bad = build_parser().parse_args(["serve", "--trusted-proxies", "nonsense"])
    with pytest.raises(SettingsError, match="--trusted-proxies"):
        ops_overrides(bad)
