"""Property-based fuzzing of every public input path of a live ``serve`` process.

Invariants, whatever the input:
  * the answer is one of the statuses a person or a client can act on — never a 500, never a
    dropped connection, never an unhandled exception in the server's log;
  * the form acknowledges exactly the valid submissions, and what it acknowledged is stored
    exactly as normalized (NFC, no control characters, trimmed) — nothing more, nothing less;
  * what a resident wrote is escaped on every page that shows it.
"""

from __future__ import annotations

import re
import urllib.parse
import uuid

import markupsafe
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.harness import line_body, line_signature, line_text_event
from handlers.board import clean_query
from handlers.public import MAX_CONTACT, MAX_PLACE, clean
from meyasubako.workflow import MAX_TEXT
from tests.fuzz.conftest import ACCEPTABLE, FUZZ, Live

ATTACKS = [
    "<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "'; DROP TABLE submissions; --",
    '" OR 1=1 --', "{{7*7}}{% raw %}", "${7*7}", "\u202e\u202dabc", "\x00\x01\x1b[31m", "../../etc/passwd",
    "%00%2e%2e", "NEAR(a b) OR *", "\ufeff", "𠮷野家の前の道", "ｶﾀｶﾅ①②㈱", "\r\n\r\n\t", "javascript:alert(1)",
    "</textarea><script>x</script>", "\u3000\u3000", "a\u0301", "\U0001F600" * 3,
]
chars = st.characters(codec="utf-8")  # anything a browser can send, controls and all
hostile = st.one_of(
    st.text(alphabet=chars, max_size=200),
    st.lists(st.sampled_from(ATTACKS), min_size=1, max_size=4).map("".join),
    st.builds(lambda s, n: s * n, st.text(alphabet=chars, min_size=1, max_size=3), st.integers(0, 2100)),
)
short = st.one_of(st.text(alphabet=chars, max_size=40), st.sampled_from(ATTACKS),
                  st.builds(lambda n: "長" * n, st.integers(190, 210)))
_RECEIPT = re.compile(r"受付番号[:：]\s*(?:<strong>)?(\d{4}-\d{6})")
_STATUS_LINK = re.compile(r'href="(?:https?://[^"/]+)?(/status/[^"]+)"')


@FUZZ
@given(text=hostile, place=short, contact=short, consent=st.one_of(st.sampled_from(["yes", "no"]), st.sampled_from(["", "YES", "1", "はい"])),
       form_id=st.text(alphabet=chars, max_size=80))
def test_form_acknowledges_exactly_the_valid_and_stores_them_verbatim(live: Live, text: str, place: str, contact: str,
                                                                       consent: str, form_id: str) -> None:
    b = live.browser()
    token = b.csrf()
    status, headers, body = b.post_form({"csrf_token": token, "text": text, "place": place, "contact": contact,
                                         "consent": consent, "form_id": form_id})
    want = {"text": clean(text, multiline=True), "place": clean(place), "contact": clean(contact)}
    valid = (0 < len(want["text"]) <= MAX_TEXT and len(want["place"]) <= MAX_PLACE
             and len(want["contact"]) <= MAX_CONTACT and consent in ("yes", "no"))
    assert status == (303 if valid else 400), body[:300]
    if not valid:
        assert not _RECEIPT.search(body.decode())
        return
    _, _, done = b.request("GET", headers["location"])
    page = done.decode()
    receipt = _RECEIPT.search(page).group(1)
    (row,) = live.rows("SELECT text, place, contact, consent FROM submissions WHERE receipt_no = ?", (receipt,))
    assert row == (want["text"], want["place"] or None, want["contact"] or None, int(consent == "yes"))
    status, _, status_page = b.request("GET", _STATUS_LINK.search(page).group(1))
    assert status == 200
    assert str(markupsafe.escape(want["text"])) in status_page.decode()
    b.close()


@FUZZ
@given(payload=st.binary(max_size=300), percent=st.booleans())
def test_form_with_arbitrary_bytes_never_breaks(live: Live, payload: bytes, percent: bool) -> None:
    """Invalid UTF-8, NULs and stray separators in the urlencoded body, raw or percent-encoded."""
    b = live.browser()
    token = b.csrf()
    tail = urllib.parse.quote_from_bytes(payload).encode() if percent else payload
    body = f"csrf_token={token}&consent=yes&form_id={uuid.uuid4().hex}&text=".encode() + tail
    status, headers, page = b.post_form(body)
    assert status in {303, 400, 403}, page[:300]
    if status == 303:
        _, _, done = b.request("GET", headers["location"])
        receipt = _RECEIPT.search(done.decode()).group(1)
        (stored,) = live.rows("SELECT text FROM submissions WHERE receipt_no = ?", (receipt,))[0]
        assert stored and stored == clean(stored, multiline=True)  # normalized, no control characters
    b.close()


@FUZZ
@given(q=st.one_of(st.text(alphabet=chars, max_size=150), st.sampled_from(ATTACKS)),
       page=st.one_of(st.text(alphabet=chars, max_size=25), st.integers().map(str)),
       section=st.one_of(st.text(alphabet=chars, max_size=25), st.sampled_from(["road", "park", "' OR 1=1 --"])))
def test_notice_board_takes_any_query(live: Live, q: str, page: str, section: str) -> None:
    b = live.browser()
    status, headers, body = b.request("GET", "/?" + urllib.parse.urlencode({"q": q, "page": page, "section": section}))
    assert status == 200, body[:300]
    html = body.decode()
    shown = clean_query(q)
    if shown:
        assert str(markupsafe.escape(shown)) in html  # echoed back into the search box, escaped
    assert "<script" not in html.lower()
    b.close()


@FUZZ
@given(segment=st.one_of(st.text(alphabet=chars, min_size=1, max_size=80), st.sampled_from(ATTACKS)),
       prefix=st.sampled_from(["/status/", "/voices/", "/submit/done?f=", "/static/", "/admin/items/"]))
def test_path_parameters_never_break(live: Live, segment: str, prefix: str) -> None:
    b = live.browser()
    path = prefix + urllib.parse.quote(segment, safe="" if "?" not in prefix else "/")
    status, headers, body = b.request("GET", path)
    assert status in ACCEPTABLE, (path, status, body[:200])
    if prefix in ("/status/", "/voices/", "/submit/done?f=") and segment.strip("."):  # ".." resolves to a parent
        assert status == 404, (path, status)  # nothing exists under a random key, and nothing leaks
    assert "nosniff" == headers.get("x-content-type-options")
    b.close()


@FUZZ
@given(name=st.text(alphabet=chars, max_size=120), password=st.text(alphabet=chars, max_size=300))
def test_admin_login_takes_any_credentials(live: Live, name: str, password: str) -> None:
    b = live.browser()
    _, _, page = b.request("GET", "/admin/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.decode()).group(1)
    status, _, body = b.post_form({"csrf_token": token, "name": name, "password": password}, path="/admin/login")
    assert status in {401, 429}, body[:300]  # no user exists: never a session
    assert "受付一覧" not in body.decode()
    b.close()


@FUZZ
@given(body=st.one_of(
    st.binary(max_size=300),
    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                 lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                 max_leaves=30).map(lambda v: repr(v).encode()),
    st.builds(lambda depth: b'{"events":' + b"[" * depth + b"]" * depth + b"}", st.integers(1, 12000)),
    st.builds(lambda text, eid: line_body([line_text_event(text, user_id="U" + "b" * 32, event_id=eid)]),
              st.text(alphabet=chars, max_size=300), st.from_regex(r"\A[0-9A-Z]{26}\Z")),
), signed=st.booleans())
def test_line_webhook_takes_any_body(live_line: Live, body: bytes, signed: bool) -> None:
    b = live_line.browser()
    headers = {"Content-Type": "application/json"}
    if signed:
        headers["X-Line-Signature"] = line_signature(LINE_SECRET, body)
    status, _, resp = b.request("POST", "/line/webhook", body, headers)
    assert status in ({200, 400} if signed else {400, 401, 403}), resp[:300]
    b.close()


LINE_SECRET = "fuzz-line-channel-secret-0000000"


@pytest.fixture(scope="module")
def live_line(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A server with LINE configured, talking to the LINE API double in a process of its own."""
    from bench.harness import Server, line_double_server
    from tests.line_double import ACCESS_TOKEN

    tmp = tmp_path_factory.mktemp("fuzz_line")
    double = line_double_server(tmp).start()
    server = Server(tmp / "line.sqlite3", log=tmp / "serve.log", env={
        "LINE_CHANNEL_SECRET": LINE_SECRET, "LINE_CHANNEL_ACCESS_TOKEN": ACCESS_TOKEN, "LINE_API_BASE": double.url,
    })
    try:
        server.start()
        live = Live(server)
        ok = line_body([line_text_event("テストです。", user_id="U" + "a" * 32)])
        status, _, _ = live.browser().request("POST", "/line/webhook", ok, {
            "Content-Type": "application/json", "X-Line-Signature": line_signature(LINE_SECRET, ok)})
        assert status == 200, server.tail()
        yield live
        live.assert_alive()
    finally:
        server.stop(10)
        double.stop(5)


def test_no_unhandled_exception_in_the_server_log(live: Live) -> None:
    """Runs after the fuzzers of this module (pytest keeps file order): the server survived them all."""
    live.assert_alive()
