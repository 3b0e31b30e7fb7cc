"""Property-based fuzzing of ``POST /open311/v2/requests.json`` on a live ``serve`` process.

Whatever the fields, bytes or headers: never a 500 or a dropped connection; an error is the
spec's ``[{"code", "description"}]``; a 201 means the request is stored exactly as normalized,
and a well-formed request is always accepted; the same Idempotency-Key gives the same id.
"""

from __future__ import annotations

import json
import re
import urllib.parse

from hypothesis import given
from hypothesis import strategies as st

from handlers.public import MAX_CONTACT, MAX_PLACE, clean
from meyasubako.workflow import MAX_TEXT
from tests.fuzz.conftest import FUZZ, Live
from tests.fuzz.test_fuzz_http import ATTACKS, chars, hostile

URL = "/open311/v2/requests.json"
CODES = ["road", "park", "other"]
RECEIPT = re.compile(r"^\d{4}-\d{6}$")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}

maybe = st.one_of(st.none(), st.text(alphabet=chars, max_size=30), st.sampled_from(ATTACKS))
numbers = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True).map(repr),
                    st.sampled_from(["35.6812", "139.7671", "-0", "1e400", "0x10", "９０", ""]), st.text(max_size=8))


def parse(body: bytes) -> list:  # type: ignore[type-arg]
    data = json.loads(body)
    assert isinstance(data, list) and len(data) == 1, body[:200]
    return data


def assert_error(body: bytes, code: int) -> None:
    [err] = parse(body)
    assert set(err) == {"code", "description"} and err["code"] == code and err["description"], err


@FUZZ
@given(code=st.one_of(st.sampled_from(CODES), st.text(alphabet=chars, max_size=20), st.sampled_from(ATTACKS)),
       description=hostile, consent=st.one_of(st.sampled_from(["yes", "no"]), maybe),
       lat=numbers, lon=numbers, address=maybe, email=maybe, name=maybe)
def test_open311_post_takes_any_fields(live: Live, code: str, description: str, consent: str | None,
                                       lat: str | None, lon: str | None, address: str | None, email: str | None,
                                       name: str | None) -> None:
    fields = {"service_code": code, "description": description, "attribute[consent]": consent, "lat": lat,
              "long": lon, "address_string": address, "email": email, "first_name": name}
    body = urllib.parse.urlencode({k: v for k, v in fields.items() if v is not None}).encode()
    b = live.browser()
    status, headers, resp = b.request("POST", URL, body, FORM)
    b.close()
    assert status in (201, 400), (status, resp[:300])
    assert headers["content-type"].startswith("application/json")
    text = clean(description, multiline=True)
    wellformed = (clean(code) in CODES and 0 < len(text) <= MAX_TEXT and consent in ("yes", "no")
                  and lat is None and lon is None and len(clean(address or "")) <= MAX_PLACE
                  and len(clean(email or "")) + len(clean(name or "")) + 1 <= MAX_CONTACT)
    if status == 400:
        assert not wellformed, fields
        assert_error(resp, 400)
        return
    [ok] = parse(resp)
    assert RECEIPT.match(ok["service_request_id"])
    [(stored, stored_consent, section)] = live.rows(
        "SELECT text, consent, section FROM submissions WHERE receipt_no = ?", (ok["service_request_id"],))
    assert (stored, stored_consent, section) == (text, int(consent == "yes"), clean(code))


@FUZZ
@given(payload=st.binary(max_size=400), content_type=st.sampled_from([
    "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "multipart/form-data",
    "application/json", "text/plain", "application/x-www-form-urlencoded; charset=latin-1", ""]))
def test_open311_post_takes_any_bytes(live: Live, payload: bytes, content_type: str) -> None:
    b = live.browser()
    headers = {"Content-Type": content_type} if content_type else {}
    status, _, resp = b.request("POST", URL, payload, headers)
    b.close()
    assert status in (201, 400, 413, 415), (status, resp[:300])
    if status != 201:
        assert_error(resp, status)


@FUZZ
@given(key=st.one_of(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=260),
                     st.sampled_from(["   ", "a" * 200, "a" * 201, " k ", "k"])),
       description=st.text(alphabet=chars, min_size=1, max_size=60))
def test_open311_idempotency_key_replays_give_one_id(live: Live, key: str, description: str) -> None:
    body = urllib.parse.urlencode({"service_code": "road", "description": f"道路の穴です。{description}",
                                   "attribute[consent]": "no"}).encode()
    b = live.browser()
    first = b.request("POST", URL, body, {**FORM, "Idempotency-Key": key})
    again = b.request("POST", URL, body, {**FORM, "Idempotency-Key": key})
    b.close()
    if not key.strip():  # HTTP trims header whitespace: no key at all, so two requests
        assert first[0] == again[0] == 201
        return
    if len(key.strip()) > 200 or first[0] == 400:
        assert first[0] == again[0] == 400
        return
    assert (first[0], again[0]) in ((201, 200), (200, 200)), (first[0], again[0])  # 200/200: key seen before
    assert parse(first[2])[0]["service_request_id"] == parse(again[2])[0]["service_request_id"]


def test_open311_server_survived(live: Live) -> None:
    live.assert_alive()
