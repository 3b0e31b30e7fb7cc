"""PII detection and masking.

Structured types (phone, email, postal_code, mynumber, account, plate, birthdate) are found by
patterns over a *digit view* of the text: the length-preserving normalization of :mod:`nlp.text`
(full-width digits → ASCII, dash variants → ``-``) plus ``ー`` between digits → ``-``. Because the
view has the same length as the input, match offsets are offsets into the original text.

Names come from Sudachi's 人名 tags plus context, addresses from a place name followed by a
house-level block number (番地/号/``12-3``). What is *not* PII, on purpose (DESIGN.md): area-level
places (町名, 丁目 without 番地), road numbers (国道36号), fiscal years (平成17年度), event dates,
counts, and public officials named by title (秋元市長).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress, count
from operator import itemgetter

from sudachipy import Tokenizer as SudachiTokenizer

from .text import TextProcessor, Tokenized, normalize

__all__ = ["PiiSpan", "PLACEHOLDERS", "PII_TYPES", "find_pii", "find_structured", "mask"]

PLACEHOLDERS: dict[str, str] = {
    "person": "〔氏名〕",
    "phone": "〔電話番号〕",
    "email": "〔メール〕",
    "address": "〔住所〕",
    "postal_code": "〔郵便番号〕",
    "mynumber": "〔個人番号〕",
    "plate": "〔車両番号〕",
    "birthdate": "〔生年月日〕",
    "account": "〔口座番号〕",
}
PII_TYPES = tuple(PLACEHOLDERS)


@dataclass(frozen=True, slots=True)
class PiiSpan:
    """A PII span; ``start``/``end`` are Python str offsets into the original text."""

    start: int
    end: int
    type: str


# Performance note for the patterns below: a pattern that starts with a lookbehind or with
# optional groups is tried in full at every position of the text. Each one therefore starts with
# a lookahead (or a character class) naming the characters a match can begin with, which is
# implied by the pattern and so changes no match, but rejects most positions in one test.
# Better still, where the first character is a plain literal or class (_PHONE, _MYNUMBER), the
# pattern consumes it first and checks the character before it with a two-character lookbehind
# (``(?<![\d\-].)`` after the first character == ``(?<![\d\-])`` before it; DOTALL so ``.``
# is any character): re then skips non-starting positions in its C search loop without
# entering the matcher at all.
_DIGIT_DASH = re.compile(r"[ーｰ~〜～](?<=\d.)(?=\d)")

_EMAIL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._%+\-]*@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_SEP = r"(?:\s?-\s?|\s)"
_PHONE = re.compile(
    r"(?:"
    r"\((?<![\d\-].)0\d{1,4}\)\s?\d{1,4}" + _SEP + r"?\d{3,4}"  # (011)889-2018, (06)6955-0172
    r"|0(?<![\d\-].)(?:"
    r"\d{1,4}\s?\(\d{1,4}\)\s?\d{3,4}"  # 03(5555)0123
    r"|\d{1,4}" + _SEP + r"\d{1,4}" + _SEP + r"\d{3,4}"  # 090-1234-5678, 080 2718 3390
    r"|\d{9,10})"  # 09012345678
    r"|\+(?<![\d\-].)81" + _SEP + r"?\d{1,4}" + _SEP + r"?\d{1,4}" + _SEP + r"?\d{3,4}"
    r")(?![\d\-])",
    re.DOTALL,
)
_POSTAL = re.compile(r"(?=[〒\d])(?:〒\s?\d{3}\s?-?\s?\d{4}(?!\d)|(?<![\d\-.])\d{3}-\d{4}(?![\d\-]))")
_MYNUMBER = re.compile(r"\d(?<![\d\-].)\d{3}[\s\-]?\d{4}[\s\-]?\d{4}(?![\d\-])", re.DOTALL)
_ACCOUNT = re.compile(
    r"(?:口座番号|口座|預金|普通|当座|貯金|総合|番号)[^\d\n。]{0,8}?(\d{7,8}|\d{5}-\d{7,8})(?![\d\-])"
)
_ACCOUNT_CONTEXT = re.compile(r"口座|預金|普通|当座|銀行|金庫|信金|ゆうちょ|支店|名義|振込|振替|引き?落")
_PLATE = re.compile(
    r"(?=[なとつい一-龥々ヶ])(?:なにわ|とちぎ|つくば|いわき|[一-龥々ヶ]{1,4})\s?\d{2,3}\s?[ぁ-んア-ン]\s?(?:\d{1,2}-\d{2}|\d{4}|[・.]{1,3}\d{1,3})(?![\d\-])"
)
_DATE = re.compile(
    r"(?=[明大昭平令12MTSHRmtshr])(?:"
    r"(?:(?:明治|大正|昭和|平成|令和)\s?(?:\d{1,2}|元)|(?:19|20)\d{2})\s?年\s?\d{1,2}\s?月\s?\d{1,2}\s?日"
    r"|(?<![\d\-/.])(?:19|20)\d{2}[/.\-]\d{1,2}[/.\-]\d{1,2}(?![\d\-/.])"
    r"|(?<![A-Za-z])[MTSHRmtshr]\s?\d{1,2}[/.]\d{1,2}[/.]\d{1,2}(?![\d/.])"
    r")"
)
_BIRTH_AFTER = re.compile(r"\s?[)）]?\s?(?:生まれ|産まれ|生|誕生)")
_BIRTH_BEFORE = re.compile(r"(?:生年月日|誕生日|生まれ|生)\s?(?:は|:|：|\(|（)?\s?$")

# Address: optional place run + block with a house-level number.
_N = r"(?:\d{1,4}|[一二三四五六七八九十]{1,3})"
_BLOCK = re.compile(
    r"(?=[\d一二三四五六七八九十])(?:" + _N + r"\s?条\s?[東西南北]?\s?)?(?:" + _N + r"\s?丁目\s?)?"
    r"\d{1,5}\s?(?:番地|番|-)\s?(?:の\s?(?=\d))?\d{0,5}\s?(?:号|-\s?\d{1,5}(?:号)?)?"
)
_PLACE_CHAR = re.compile(r"[一-龥々〆ヶケァ-ヴー]")
_PLACE_SUFFIX = "都道府県市区町村郡"
_ADDRESS_LEAD = (
    "現住所", "住所", "連絡先", "所在地", "自宅", "実家", "宛先", "場所", "送付先", "届け先", "私",
)


def _digit_view(text: str) -> str:
    return _DIGIT_DASH.sub("-", normalize(text))


def _digits(s: str) -> int:
    return sum(map(str.isdigit, s))


_ANY_DIGIT = re.compile(r"\d")
_PLATE_HINT = re.compile(r"\d\s?[ぁ-んア-ン]\s?[\d・.]")


def find_structured(text: str, view: str | None = None) -> list[PiiSpan]:
    """Pattern-based PII (everything but person/address), possibly overlapping."""
    v = _digit_view(text) if view is None else view
    return _structured(v, _ANY_DIGIT.search(v) is not None)


def _structured(v: str, has_digit: bool) -> list[PiiSpan]:
    spans: list[PiiSpan] = []
    add = spans.append
    if "@" in v:
        for m in _EMAIL.finditer(v):
            add(PiiSpan(m.start(), m.end(), "email"))
    if not has_digit:
        return spans
    for m in _PHONE.finditer(v):
        s = m.group()
        n = _digits(s) - (2 if s.startswith("+81") else 0)
        if s.startswith("+81"):
            n += 1
        if n in (10, 11):
            add(PiiSpan(m.start(), m.end(), "phone"))
    # Cheap guards skip patterns that cannot match (most submissions have few digits).
    if "-" in v or "〒" in v:
        for m in _POSTAL.finditer(v):
            add(PiiSpan(m.start(), m.end(), "postal_code"))
    for m in _MYNUMBER.finditer(v):  # its leading lookahead makes a guard pass pointless
        add(PiiSpan(m.start(), m.end(), "mynumber"))
    if _ACCOUNT_CONTEXT.search(v):
        for m in _ACCOUNT.finditer(v):
            window = v[max(0, m.start() - 20) : m.start(1)]
            if _ACCOUNT_CONTEXT.search(window):
                add(PiiSpan(m.start(1), m.end(1), "account"))
    if _PLATE_HINT.search(v):
        for m in _PLATE.finditer(v):
            add(PiiSpan(m.start(), m.end(), "plate"))
    if "年" not in v and "/" not in v and "." not in v:
        return spans
    for m in _DATE.finditer(v):
        after = v[m.end() : m.end() + 6]
        before = v[max(0, m.start() - 12) : m.start()]
        if _BIRTH_AFTER.match(after) or _BIRTH_BEFORE.search(before):
            add(PiiSpan(m.start(), m.end(), "birthdate"))
    return spans


def _addresses(v: str, tk: Tokenized, tags: list[str]) -> list[PiiSpan]:
    """House-level addresses in ``v`` (the digit view; callers know it has a digit)."""
    spans: list[PiiSpan] = []
    if "-" not in v and "番" not in v:
        return spans
    places: list[tuple[int, int]] | None = None
    place_ends: set[int] = set()
    for m in _BLOCK.finditer(v):
        block = m.group().rstrip()
        if not block or not block[0].isdigit() and block[0] not in "一二三四五六七八九十":
            continue
        if places is None:  # built on the first block: most texts with digits have none
            starts = tk.starts
            places = [(starts[i], tk.end(i)) for i in compress(count(), map("place".__eq__, tags))]
            place_ends = {e for _, e in places}
        b_start, b_end = m.start(), m.start() + len(block)
        if b_start > 0 and (v[b_start - 1].isdigit() or v[b_start - 1] in "-〒"):
            continue
        strong = "丁目" in block or "条" in block or "番地" in block or "号" in block
        # Extend left over the place name (kanji/katakana, plus hiragana inside a 地名 token).
        p = b_start
        while p > 0:
            c = v[p - 1]
            if _PLACE_CHAR.match(c):
                p -= 1
                continue
            inside_place = any(ps <= p - 1 < pe for ps, pe in places)
            if inside_place:
                p -= 1
                continue
            break
        place = v[p:b_start]
        for lead in _ADDRESS_LEAD:
            if place.startswith(lead) and len(place) > len(lead):
                p += len(lead)
                place = place[len(lead) :]
                break
        if place in ("国道", "県道", "道道", "府道", "都道", "市道", "区道", "町道", "村道"):
            continue
        placey = any(c in _PLACE_SUFFIX for c in place) or b_start in place_ends
        if not place and not ("丁目" in block or "条" in block):
            continue
        if place and not (placey or strong):
            continue
        # "3丁目の公園" never reaches here (no house number); "2番" alone after a non-place is dropped.
        if not strong and "-" not in block:
            continue
        spans.append(PiiSpan(p, b_end, "address"))
    return spans


_HONORIFIC = ("さん", "様", "さま", "サマ", "君", "くん", "ちゃん", "先生", "氏", "殿")
_OFFICIAL = frozenset(
    "市長 区長 町長 村長 知事 副市長 副区長 議員 市議 区議 県議 議長 大臣 首相 総理 総理大臣 長官 教育長 署長".split()
)
_OFFICIAL_BEFORE = re.compile("(?:" + "|".join(sorted(_OFFICIAL, key=len, reverse=True)) + r")の?\s?$")
_INTRO_AFTER = ("と申します", "と申し", "といいます", "と言います", "です", "でございます", "まで", "宛")
_INTRO_BEFORE = re.compile(
    r"(?:私は|わたしは|名前は|氏名は?|名義は?|名義人は?|請求者は?|申請者は?|代表者?|担当者?の?|職員の?|"
    r"担当の|連絡先は?|差出人|母の|父の|夫の|妻の|息子の|娘の|子の|祖母の|祖父の|母は|父は)\s?[:：]?\s?$"
)
_NEXT_IS_CONTACT = re.compile(r"\s?[(（]?\s?(?:0\d|\+81|[A-Za-z0-9._%+\-]+@)")


_tag_of = itemgetter(5)  # Lexeme.tag, read at C speed
_NAME_TAGS = frozenset(("person", "place", "proper"))


def _persons(v: str, tk: Tokenized, structured: list[PiiSpan], tags: list[str]) -> list[PiiSpan]:
    spans: list[PiiSpan] = []
    lex, starts = tk.lexemes, tk.starts
    n = len(lex)
    # Indices of 人名/地名/固有名詞 tokens, found at C speed (most texts have none).
    cands = list(compress(count(), map(_NAME_TAGS.__contains__, tags)))
    if cands:
        contact_starts = {s.start for s in structured if s.type in ("phone", "email")}
        contact_ends = {s.end for s in structured if s.type in ("phone", "email")}
    else:
        contact_starts = contact_ends = set()
    skip_to = 0
    for i in cands:
        if i < skip_to:
            continue
        t = lex[i]
        if t.tag != "person":
            # A place-like proper noun used as a name needs strong context (連絡は横山まで 070-…).
            if _strong_name_context(v, tk, i, contact_starts):
                spans.append(PiiSpan(starts[i], tk.end(i), "person"))
            continue
        j = i + 1
        while j < n and lex[j].tag == "person":
            j += 1
        kinds = {lex[k].pos[3] for k in range(i, j)}
        # 姓 + a kana given name that Sudachi reads as a common noun (加藤ひなた).
        if j < n and kinds == {"姓"} and lex[j].pos[0] == "名詞":
            nxt = lex[j].surface
            after = lex[j + 1] if j + 1 < n else None
            if (
                2 <= len(nxt) <= 4
                and all("\u3041" <= c <= "\u30ff" for c in nxt)
                and (after is None or after.pos[0] in ("補助記号", "空白", "助詞", "助動詞") or after.surface in _HONORIFIC)
            ):
                j += 1
                kinds.add("名")
        skip_to = j
        start, end = starts[i], tk.end(j - 1)
        nxt_surface = lex[j].surface if j < n else ""
        if nxt_surface in _OFFICIAL or _OFFICIAL_BEFORE.search(v[max(0, start - 6) : start]):
            continue  # 秋元市長, 区長の田中さん: a public official by title
        rest = v[end : end + 12]
        ok = (
            ("姓" in kinds and "名" in kinds)
            or nxt_surface in _HONORIFIC
            or rest.startswith(_HONORIFIC)
            or rest.startswith(_INTRO_AFTER)
            or bool(_INTRO_BEFORE.search(v[max(0, start - 12) : start]))
            or bool(_NEXT_IS_CONTACT.match(rest))
            or any(end <= c <= end + 2 for c in contact_starts)
            or any(c <= start <= c + 2 for c in contact_ends)
        )
        if ok:
            spans.append(PiiSpan(start, end, "person"))
    if "まで" in v or "申し" in v or "いいます" in v or "言います" in v:
        spans.extend(_common_noun_names(v, tk))
    return spans


_SELF_INTRO = re.compile(r"と(?:申し|いいます|言います)|まで\s?[(（]?\s?(?=0\d|\+81|[A-Za-z0-9._%+\-]+@)")
_NOT_A_NAME = frozenset("私 僕 俺 自分 わたし 役所 区役所 市役所 窓口 事務所 自宅 携帯 電話 下記 こちら 以下 家族 本人 担当".split())


def _common_noun_names(v: str, tk: Tokenized) -> list[PiiSpan]:
    """Names Sudachi reads as common nouns (小島, 林) in self-introductions or before a contact."""
    starts = tk.starts
    out = []
    for m in _SELF_INTRO.finditer(v):
        # The token that ends where the match starts (starts are sorted and tile the text).
        i = bisect_left(starts, m.start()) - 1
        if i < 0 or tk.end(i) != m.start():
            continue
        x = tk.lexemes[i]
        if (
            x.pos[0] == "名詞"
            and x.pos[1] in ("普通名詞", "固有名詞")
            and x.tag != "person"
            and 1 <= len(x.surface) <= 4
            and x.surface not in _NOT_A_NAME
            and all("\u3041" <= c <= "\u30ff" or "\u4e00" <= c <= "\u9fff" for c in x.surface)
        ):
            out.append(PiiSpan(tk.starts[i], tk.end(i), "person"))
    return out


_PLAIN_INTRO = re.compile(r"(?:私は|わたしは|名前は|氏名は?)\s?$")


def _strong_name_context(v: str, tk: Tokenized, i: int, contact_starts: set[int]) -> bool:
    lex = tk.lexemes
    start, end = tk.starts[i], tk.end(i)
    nxt = lex[i + 1].surface if i + 1 < len(lex) else ""
    if nxt in ("さん", "様", "さま", "くん", "ちゃん", "氏"):
        return True
    rest = v[end : end + 12]
    if rest.startswith(("と申します", "と申し", "といいます", "と言います")):
        return True
    if rest.startswith(("まで", "です", "宛")) and any(end + 2 <= c <= end + 5 for c in contact_starts):
        return True
    return bool(_PLAIN_INTRO.search(v[max(0, start - 8) : start]))


_PRIORITY = {
    "email": 0, "mynumber": 1, "phone": 2, "postal_code": 3, "account": 4,
    "plate": 5, "birthdate": 6, "address": 7, "person": 8,
}


def _resolve(spans: list[PiiSpan]) -> list[PiiSpan]:
    """Drop overlaps: longer span wins, ties by type priority; result sorted by start."""
    ordered = sorted(spans, key=lambda s: (-(s.end - s.start), _PRIORITY[s.type], s.start))
    taken: list[PiiSpan] = []
    for s in ordered:
        if all(s.end <= o.start or s.start >= o.end for o in taken):
            taken.append(s)
    return sorted(taken, key=lambda s: s.start)


def find_pii(text: str, tokens: Tokenized | TextProcessor | SudachiTokenizer) -> list[PiiSpan]:
    """All PII spans of ``text``: non-overlapping, sorted, offsets into ``text``.

    ``tokens`` is the :class:`~nlp.text.Tokenized` form of ``text`` (what Analyzer passes), or a
    TextProcessor / Sudachi tokenizer to tokenize it with.
    """
    if not text:
        return []
    if isinstance(tokens, Tokenized):
        tk = tokens
    elif isinstance(tokens, TextProcessor):
        tk = tokens.tokenize(text)
    else:
        tk = TextProcessor(tokens).tokenize(text)
    tags = list(map(_tag_of, tk.lexemes))  # one column, shared by the token-based passes
    if not _ANY_DIGIT.search(tk.norm):
        # No digits: only e-mail (rarely) and names are possible.
        v = tk.norm
        spans = _structured(v, False) if "@" in v else []
        spans += _persons(v, tk, spans, tags)
    else:
        v = _DIGIT_DASH.sub("-", tk.norm)
        structured = _structured(v, True)
        spans = structured + _addresses(v, tk, tags) + _persons(v, tk, structured, tags)
    return _resolve(spans) if len(spans) > 1 else spans


def mask(text: str, spans: Sequence[PiiSpan]) -> str:
    """Replace each span by its typed placeholder (spans may come unsorted; overlaps are resolved)."""
    if not spans:
        return text
    out: list[str] = []
    pos = 0
    for s in _resolve(list(spans)) if len(spans) > 1 else spans:
        if s.start < pos:
            continue
        out.append(text[pos : s.start])
        out.append(PLACEHOLDERS.get(s.type, "〔個人情報〕"))
        pos = s.end
    out.append(text[pos:])
    return "".join(out)
