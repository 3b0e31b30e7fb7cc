"""The fast paths of the per-submission hot path give exactly what the plain computation gives.

Caches and pre-checks exist for speed only (bench/bench_classify.py); these tests pin that they
never change a result, whatever was analyzed before.
"""

from __future__ import annotations

import random
import re

import pytest
from sudachipy import SplitMode

from nlp import Lexeme, TextProcessor, normalize
from nlp import pii as pii_mod

# One dictionary entry, several surfaces: Sudachi matches entries on its own normalization of
# the input (case, "…" → "...", ligatures), so a word id alone does not give the surface.
TRICKY = [
    "LINEで問い合わせました",
    "lineで問い合わせました",
    "Lineのアカウント",
    "待っています…返事がない……",
    "待っています...返事がない",
    "点々‥‥と続く",
    "㈱テスト商事と(株)テスト商事",
    "㍻30年と平成30年",
    "ｶﾞｽ漏れのにおいがします",
    "ガス漏れのにおいがします",
    "😀🇯🇵 絵文字と\ufffdと é と é",
    "電話は090-1234-5678、〒060-0001",
    "",
    " ",
]


def _sudachi_view(tokenizer, text: str) -> list[tuple[str, int]]:
    norm = normalize(text)
    if not norm:
        return []
    return [(m.surface(), m.begin()) for m in tokenizer.tokenize(norm, SplitMode.C)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cached_tokens_equal_sudachi_whatever_came_before(analyzer, seed):
    texts = TRICKY * 2
    random.Random(seed).shuffle(texts)
    shared = TextProcessor(analyzer.tokenizer)
    for text in texts:
        tk = shared.tokenize(text)
        assert [(x.surface, s) for x, s in zip(tk.lexemes, tk.starts, strict=True)] == _sudachi_view(
            analyzer.tokenizer, text
        ), text
        # ...and the same lexemes (POS, normalized key, compound parts) as a processor that saw nothing else
        assert tk.lexemes == TextProcessor(analyzer.tokenizer).tokenize(text).lexemes, text


def test_offsets_stay_exact_after_a_surface_variant(analyzer):
    tp = TextProcessor(analyzer.tokenizer)
    tp.tokenize("lineで連絡")  # the id of "line" is now cached with that surface
    text = "田中です。LINE ID 090-1234-5678"
    tk = tp.tokenize(text)
    for x, s in zip(tk.lexemes, tk.starts, strict=True):
        assert text[s : s + len(x.surface)] == x.surface
    assert pii_mod.find_pii(text, tk) == pii_mod.find_pii(text, TextProcessor(analyzer.tokenizer).tokenize(text))


def test_routing_does_not_depend_on_what_was_routed_before(fresh_analyzer):
    # Two tokens with one normalized key but different mode-A parts: only the compound's part
    # 接種 is vocabulary. The per-term memo once kept the parts of whichever came first.
    pos = ("名詞", "普通名詞", "一般", "*", "*", "*")
    compound = Lexeme("予防接種Ｘ", "ヨボウセッシュＸ", pos, True, ("予防", "接種"), "")
    plain = Lexeme("予防Ｘ", "ヨボウセッシュＸ", pos, True, (), "")
    router = fresh_analyzer._router
    cold = router.route([plain])
    router.route([compound])
    assert router.route([plain]) == cold
    assert cold.section == "other" and router.route([compound]).top[0][0] == "health"


def test_router_accepts_public_tokens_like_lexemes(analyzer):
    text = "公園のブランコが壊れています。自転車置き場も狭い"
    tk = analyzer._text.tokenize(text)
    assert analyzer._router.route(tk.tokens()) == analyzer._router.route(tk.lexemes)


# Each PII pattern starts with a lookahead naming the characters a match can begin with (so the
# regex engine rejects most positions at once). It must be implied by the pattern: with or
# without it, the matches are the same.
_PREFIXED = ["_POSTAL", "_PLATE", "_DATE", "_BLOCK"]
# Strings each pattern matches (one per way a match can begin), mutated at random: matches,
# near-misses and matches in odd contexts.
_SEEDS = [
    "(011)889-2018", "03(5555)0123", "090-1234-5678", "080 2718 3390", "09012345678", "+81 90 1234 5678",
    "〒060-0001", "〒 0600001", "060-0001", "1234 5678 9012", "1234-5678-9012",
    "なにわ300あ12-34", "とちぎ500さ1234", "つくば33い・・12", "いわき500は.12", "品川300あ12-34", "札幌々500ア1234",
    "明治12年3月4日", "大正元年1月2日", "昭和50年10月1日生まれ", "平成3年4月5日", "令和元年5月1日", "1999年12月31日",
    "2001/2/3", "2020-10-01", "1985.3.4", "M1.2.3", "T12/1/2", "S50.1.1", "H1.2.3", "R2/3/4", "h1.2.3",
    "3条西4丁目5-6", "十条3番地", "一丁目2番3号", "二十丁目3-4", "北1条西2丁目1-1", "12番地の3", "5-6-7",
    "٣٤٥-٦٧٨٩", "١٢٣٤ ٥٦٧٨ ٩٠١٢", "١٩٩٩年١月٢日", "1ー2", "3〜4", "5~6", "٣ー٤",
]
_NOISE = list("0123456789-ー~〜 　()〒年月日元/.・:番号条丁目のあ@\n") + ["", "", ""]


def _corpus(n: int) -> list[str]:
    rnd = random.Random(7)
    out = []
    for _ in range(n):
        s = list(rnd.choice(_SEEDS))
        for _ in range(rnd.randint(0, 3)):  # insert, delete or replace one character
            i = rnd.randrange(len(s) + 1)
            op = rnd.randrange(3)
            if op == 0:
                s.insert(i, rnd.choice(_NOISE))
            elif i < len(s):
                s[i : i + 1] = [] if op == 1 else [rnd.choice(_NOISE)]
        out.append(rnd.choice(_NOISE) + "".join(s) + rnd.choice(_NOISE))
    return out


@pytest.mark.parametrize("name", _PREFIXED)
def test_pattern_lookahead_changes_no_match(name):
    fast = getattr(pii_mod, name)
    assert fast.pattern.startswith("(?=[")
    plain = re.compile(fast.pattern[fast.pattern.index("])") + 2 :])
    for s in _corpus(6000):
        assert [(m.span(), m.groups()) for m in fast.finditer(s)] == [
            (m.span(), m.groups()) for m in plain.finditer(s)
        ], s


# The plain forms of the patterns that now consume their first character before the lookbehind.
_SEP = r"(?:\s?-\s?|\s)"
_PLAIN_FIRST_CHAR = {
    "_PHONE": re.compile(
        r"(?<![\d\-])(?:"
        r"\(0\d{1,4}\)\s?\d{1,4}" + _SEP + r"?\d{3,4}"
        r"|0\d{1,4}\s?\(\d{1,4}\)\s?\d{3,4}"
        r"|0\d{1,4}" + _SEP + r"\d{1,4}" + _SEP + r"\d{3,4}"
        r"|0\d{9,10}"
        r"|\+81" + _SEP + r"?\d{1,4}" + _SEP + r"?\d{1,4}" + _SEP + r"?\d{3,4}"
        r")(?![\d\-])"
    ),
    "_MYNUMBER": re.compile(r"(?<![\d\-])\d{4}[\s\-]?\d{4}[\s\-]?\d{4}(?![\d\-])"),
}


@pytest.mark.parametrize("name", sorted(_PLAIN_FIRST_CHAR))
def test_first_character_rewrite_changes_no_match(name):
    fast, plain = getattr(pii_mod, name), _PLAIN_FIRST_CHAR[name]
    corpus = _corpus(6000) + ["0" + s for s in _corpus(2000)] + ["\n" + s for s in _SEEDS]
    for s in corpus:
        assert [m.span() for m in fast.finditer(s)] == [m.span() for m in plain.finditer(s)], s
    assert any(fast.search(s) for s in _SEEDS)  # the corpus does contain matches


def test_digit_dash_rewrite_changes_no_match():
    plain = re.compile(r"(?<=\d)[ーｰ~〜～](?=\d)")
    for s in _corpus(6000):
        assert pii_mod._DIGIT_DASH.sub("-", s) == plain.sub("-", s), s


def test_normalize_skips_only_text_with_nothing_to_change():
    table = normalize.__globals__["_translation_table"]()
    for cp in list(table)[::7] + [0x41, 0x3042, 0x4E00, 0x1F600]:
        s = "あ" + chr(cp) + "い"
        assert normalize(s) == s.translate(table)
