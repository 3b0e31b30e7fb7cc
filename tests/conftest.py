"""Shared fixtures: real SQLite files under tmp_path, the real app through aiohttp's test client."""

from __future__ import annotations

import gc
import itertools
import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from meyasubako.app import create_app
from meyasubako.settings import Settings

SECRET = "test-secret-key-0123456789abcdef"
PASSWORD = "correct horse battery"

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_FORM_ID = re.compile(r'name="form_id" value="([^"]+)"')


def csrf_of(html: str) -> str:
    m = _CSRF.search(html)
    assert m, "page has no CSRF token"
    return m.group(1)


@pytest.fixture(autouse=True)
def _release_apps():
    """aiohttp caches middleware chains per Application (an LRU of 1024), which keeps every app a
    test built alive; clear it after each test so the suite's memory stays flat."""
    yield
    from aiohttp import web_app

    cache = getattr(web_app, "_cached_build_middleware", None)
    if cache is not None:
        cache.cache_clear()
    gc.collect()


# -- the two storage backends ------------------------------------------------------------------------
# Suites that must hold on both backends say so with ``BOTH_BACKENDS = True`` at module level (or
# ``@both_backends`` on one test): every test of it that uses a database (through ``settings``,
# ``client``, ``db_url`` ...) runs once on a SQLite file under tmp_path and once on a fresh database
# of a throwaway PostgreSQL cluster (tests/pg_cluster.py). Everything else runs on SQLite only.
BACKENDS = ["sqlite", "postgresql"]
both_backends = pytest.mark.parametrize("backend", BACKENDS, indirect=True)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if (getattr(metafunc.module, "BOTH_BACKENDS", False) and "backend" in metafunc.fixturenames
            and not any(m.name == "parametrize" and "backend" in str(m.args[0]) for m in metafunc.definition.iter_markers())):
        metafunc.parametrize("backend", BACKENDS, indirect=True)
_pg_counter = itertools.count()
_pg_done: list[str] = []


@pytest.fixture(scope="session")
def pg_server():  # type: ignore[no-untyped-def]
    from tests.pg_cluster import Cluster

    reason = Cluster.unavailable_reason()
    if reason:
        if os.environ.get("MEYASUBAKO_REQUIRE_PG"):  # .ci/run sets it: a skip would hide a missing install
            pytest.fail(f"PostgreSQL required (MEYASUBAKO_REQUIRE_PG) but unavailable: {reason}")
        pytest.skip(reason)
    cluster = Cluster()
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    # MEYASUBAKO_TEST_BACKEND=postgresql runs every single-backend test on PostgreSQL instead.
    return getattr(request, "param", os.environ.get("MEYASUBAKO_TEST_BACKEND", "sqlite"))


@pytest.fixture
async def db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """MEYASUBAKO_DB for this test: a SQLite file, or a new PostgreSQL database (dropped after)."""
    if backend == "sqlite":
        yield str(tmp_path / "meyasubako.sqlite3")
        return
    from tests.pg_cluster import create_database, drop_database

    cluster = request.getfixturevalue("pg_server")
    # Drop the databases of earlier tests now, not at their teardown: an app fixture set up
    # before this one (aiohttp_client) is torn down after it and still has its pool open then.
    while _pg_done:
        await drop_database(cluster.url, _pg_done.pop())
    name = f"t{os.getpid()}_{next(_pg_counter)}"
    await create_database(cluster.url, name)
    yield cluster.database_url(name)
    _pg_done.append(name)


@pytest.fixture
def settings(db_url: str, backend: str, tmp_path: Path) -> Settings:
    files = str(tmp_path / "files") if backend == "postgresql" else ""  # SQLite: beside the file
    return Settings(db=db_url, secret_key=SECRET, rate_limit=0, files=files)


ClientFactory = Callable[..., Awaitable[TestClient]]


@pytest.fixture
async def make_client(aiohttp_client) -> ClientFactory:  # type: ignore[no-untyped-def]
    async def factory(settings: Settings) -> TestClient:
        return await aiohttp_client(create_app(settings))

    return factory


@pytest.fixture
async def client(make_client: ClientFactory, settings: Settings) -> TestClient:
    return await make_client(settings)


async def submit(client: TestClient, text: str, *, consent: str = "yes", place: str = "", contact: str = "",
                 form_id: str | None = None) -> tuple[int, str]:
    """Fill in the web form as a browser would; return (final status, final page html)."""
    page = await client.get("/submit")
    html = await page.text()
    data = {"csrf_token": csrf_of(html), "form_id": form_id or _FORM_ID.search(html).group(1), "text": text,
            "consent": consent, "place": place, "contact": contact}
    resp = await client.post("/submit", data=data)
    return resp.status, await resp.text()


def receipt_of(html: str) -> str:
    m = re.search(r"受付番号[:：]\s*(?:<strong>)?(\d{4}-\d{6})", html)
    assert m, "no receipt number on the page"
    return m.group(1)


def status_link_of(html: str) -> str:
    m = re.search(r'href="(?:https?://[^"/]+)?(/status/[^"]+)"', html)
    assert m, "no status link on the page"
    return m.group(1)


async def add_user(app, name: str, role: str, section: str | None = None, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    from admin.auth import hash_password
    from meyasubako import keys
    from storage import users as users_db

    async def job(conn):  # type: ignore[no-untyped-def]
        return await users_db.add(conn, name=name, password_hash=hash_password(password), role=role,
                                  section=section, now="2026-11-30T09:00:00+09:00")

    return await app[keys.DB].write(job)


async def login(client: TestClient, name: str, password: str = PASSWORD) -> None:
    page = await client.get("/admin/login")
    resp = await client.post("/admin/login", data={"csrf_token": csrf_of(await page.text()), "name": name,
                                                    "password": password})
    assert resp.status == 200 and "受付一覧" in await resp.text(), "login failed"


async def admin_post(client: TestClient, receipt_no: str, action: str, data: dict[str, str]):  # type: ignore[no-untyped-def]
    page = await client.get(f"/admin/items/{receipt_no}")
    token = csrf_of(await page.text())
    return await client.post(f"/admin/items/{receipt_no}/{action}", data={"csrf_token": token, **data})


@pytest.fixture
async def browser():  # type: ignore[no-untyped-def]
    """A headless Chromium (tests/browser.py has the launch recipe and the skip marker)."""
    from playwright.async_api import async_playwright

    from tests.browser import ARGS, CHROMIUM

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        await b.close()
