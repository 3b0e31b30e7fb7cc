"""``meyasubako classify`` on hostile stdin: one output line per input line, exit 1, never a traceback.

Runs one process over many generated lines (building the Sudachi dictionary per example would
make the fuzzer slow without making it better).
"""

from __future__ import annotations

import json
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.harness import PYTHON, ROOT, child_env
from tests.fuzz.conftest import FUZZ


def _classify(stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([PYTHON, "-m", "meyasubako", "classify"], input=stdin, capture_output=True, cwd=ROOT,
                          env=child_env(), timeout=120, check=False)


@pytest.fixture(scope="module")
def has_classify() -> None:
    out = subprocess.run([PYTHON, "-m", "meyasubako", "classify", "--help"], capture_output=True, cwd=ROOT,
                         env=child_env(), timeout=60, check=False)
    if out.returncode != 0:
        pytest.skip("this build has no `meyasubako classify` command yet")


GARBAGE = [
    b"not json", b"{", b"[]", b"null", b"42", b'"just a string"', b'{"id": 1}',
    b'{"id": "a", "text": 5}', b'{"id": "b", "text": null}', b'{"id": {"x": 1}, "text": "t"}',
    b"\xff\xfe\x00garbage", b'{"id": "c", "text": "' + b"\xe3\x81" + b'"}', b"[" * 10000 + b"]" * 10000,
    b'{"id": "d", "text": "a", "id": "dup"}', b'{"id": "e", "text": "\\ud800"}', b"\x00" * 50,
]
# (A line with a text but no id is classified with "id": null: the contract does not require an id.)
VALID = b'{"id": "ok", "text": "\xe5\x85\xac\xe5\x9c\x92\xe3\x81\xae\xe9\x81\x8a\xe5\x85\xb7\xe3\x81\x8c\xe5\xa3\x8a\xe3\x82\x8c\xe3\x81\xa6\xe3\x81\x84\xe3\x81\xbe\xe3\x81\x99\xe3\x80\x82"}'


def _check(lines: list[bytes], out: subprocess.CompletedProcess[bytes], *, expect_error: bool) -> None:
    assert b"Traceback" not in out.stderr, out.stderr.decode(errors="replace")[-2000:]
    assert out.returncode == (1 if expect_error else 0), out.stderr.decode(errors="replace")[-500:]
    got = out.stdout.decode("utf-8").rstrip("\n").split("\n")  # not splitlines(): U+2028 is data
    assert len(got) == len(lines), "one output line per input line, in order"
    for line, result in zip(lines, got, strict=True):
        obj = json.loads(result)
        if line == VALID or _classifiable(line):
            assert obj["id"] == _loads(line)["id"] and len(obj["top"]) == 3 and obj["section"] == obj["top"][0]
        else:
            assert "error" in obj or "section" not in obj, (line[:60], obj)


def _loads(line: bytes):  # type: ignore[no-untyped-def]
    try:
        return json.loads(line)
    except (ValueError, RecursionError):
        return None


def _classifiable(line: bytes) -> bool:
    """An object whose text is a real string is classified; whatever its id is, the id is echoed."""
    obj = _loads(line)
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        return False
    try:
        obj["text"].encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def test_classify_hostile_lines(has_classify: None) -> None:
    lines = [VALID, *GARBAGE, VALID]
    _check(lines, _classify(b"\n".join(lines) + b"\n"), expect_error=True)


@settings(FUZZ, max_examples=4)  # each example is a process start (~1 s); each carries up to 40 lines
@given(lines=st.lists(st.one_of(st.just(VALID), st.sampled_from(GARBAGE),
                                st.binary(min_size=1, max_size=80).filter(lambda b: b"\n" not in b and b"\r" not in b and b.strip()),
                                st.builds(lambda t: json.dumps({"id": "ok", "text": t}).encode(),
                                          st.text(min_size=1, max_size=200))),
                      min_size=1, max_size=40))
def test_classify_any_lines(has_classify: None, lines: list[bytes]) -> None:
    out = _classify(b"\n".join(lines) + b"\n")
    assert b"Traceback" not in out.stderr
    assert out.returncode in (0, 1)
    assert len(out.stdout.decode("utf-8").rstrip("\n").split("\n")) == len(lines)
