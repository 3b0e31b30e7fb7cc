"""A live ``meyasubako serve`` for the property-based fuzzers, and a raw HTTP client for it.

One server per module (starting it costs ~1 s; hypothesis then sends hundreds of requests).
The client is ``http.client`` so that bodies can carry any bytes at all (invalid UTF-8, NULs),
which a friendlier client would refuse to send.
"""

from __future__ import annotations

import http.client
import re
import sqlite3
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from bench.harness import COOKIE, Server

# CI must be deterministic: the same examples every run, no example database between runs.
# A decorator, not a loaded profile, so that other tests' hypothesis settings stay their own.
FUZZ = settings(derandomize=True, database=None, deadline=None, max_examples=60,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
# Every response may have one of these; a 500 (or a dropped connection) is always a defect.
ACCEPTABLE = {200, 303, 400, 401, 403, 404, 405, 413, 429}


class Raw:
    """A browser on one keep-alive connection with one session cookie."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookie = ""
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        h = dict(headers or {})
        if self.cookie:
            h["Cookie"] = f"{COOKIE}={self.cookie}"
        try:
            self.conn.request(method, path, body=body, headers=h)
            resp = self.conn.getresponse()
        except (http.client.HTTPException, ConnectionError):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            raise
        data = resp.read()
        for value in resp.headers.get_all("Set-Cookie") or []:
            m = re.match(rf"{COOKIE}=([^;]*)", value)
            if m:
                self.cookie = m.group(1)
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data

    def csrf(self) -> str:
        status, _, body = self.request("GET", "/submit")
        assert status == 200
        m = _CSRF.search(body.decode())
        assert m
        return m.group(1)

    def post_form(self, fields: dict[str, str] | bytes, path: str = "/submit") -> tuple[int, dict[str, str], bytes]:
        body = fields if isinstance(fields, bytes) else urllib.parse.urlencode(fields).encode()
        return self.request("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"})

    def close(self) -> None:
        self.conn.close()


class Live:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.db = server.db

    def rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def browser(self) -> Raw:
        return Raw(self.server.port)

    def assert_alive(self) -> None:
        status, _, _ = self.browser().request("GET", "/healthz")
        assert status == 200, self.server.tail()
        assert "event=unhandled" not in self.server.log.read_text(errors="replace"), self.server.tail()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    server = Server(tmp / "fuzz.sqlite3", log=tmp / "serve.log")
    server.start()
    try:
        yield Live(server)
    finally:
        server.stop(10)
