"""Normalization and tokenization: the one place that talks to SudachiPy.

Why these choices:

* **Length-preserving normalization.** Each character is replaced by its NFKC form only when
  that form is exactly one (non-combining) character: full-width digits and latin letters become
  ASCII, half-width katakana becomes full-width, ideographic space becomes a space. Multi-character
  expansions (``㈱`` → ``(株)``) are left alone. Because the string length never changes, every
  offset computed on the normalized text is also an offset into the caller's original text — PII
  spans must point into what the resident actually wrote.
* **Split mode C** (longest units) is used for the single tokenization pass. Measured on the dev
  set it keeps the compounds that decide routing as one term (予防接種, 固定資産税, 街路樹,
  粗大ごみ, 駐輪場) and person/place names come out identically in A and C. Compound tokens are
  additionally split with mode A (cached per surface) so that a resident's 予防接種 also yields
  接種 and 予防 for search and similarity. One pass keeps the cost near bare tokenization.
* **Terms** are Sudachi ``normalized_form`` (子ども→子供, ノラ猫→野良猫, ゴミ箱→塵箱) folded to
  katakana, because Sudachi keeps ゴミ and ごみ apart; folding makes them one term.
* Each token keeps its part of speech: routing wants content words, PII wants 固有名詞 (人名, 地名).

Sudachi tokenizers are not thread-safe; one :class:`TextProcessor` belongs to one thread.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache

from sudachipy import Dictionary, SplitMode
from sudachipy import Tokenizer as SudachiTokenizer

__all__ = ["Token", "TextProcessor", "normalize", "fold_kana", "make_tokenizer"]

_HIRA_TO_KATA = {c: c + 0x60 for c in range(0x3041, 0x3097)}

# Words that carry no topic: they would only add noise to search, similarity and learning.
_STOP = frozenset(
    """
    コト モノ ヨウ タメ 方 所 時 件 今 前 中 際 皆 私 僕 自分 方々 感じ 気 為 様 等 的 毎 他 上 下 後 先
    スル 為る 成る ナル 有る アル 居る イル 出来る デキル 思う 言う イウ 行く 来る 見る 下さる クダサル
    頂く イタダク 申す 致す 願う オル 貰う モラウ 呉れる クレル 聞く 知る 分かる ワカル 考える 存ずる
    お願い 御願い 件名 ー
    """.split()
)


@cache
def _translation_table() -> dict[int, str]:
    """Per-character NFKC where it keeps the length (built once per process, ~30 ms)."""
    table: dict[int, str] = {}
    for cp in range(0x80, 0x10000):
        ch = chr(cp)
        if 0xD800 <= cp <= 0xDFFF:
            continue
        n = unicodedata.normalize("NFKC", ch)
        if n != ch and len(n) == 1 and not unicodedata.combining(n):
            table[cp] = n
    # Dashes that residents type between digits all mean "-" for the patterns downstream.
    for cp in (0x2010, 0x2011, 0x2012, 0x2013, 0x2014, 0x2015, 0x2212, 0x2500, 0xFF0D, 0xFE63):
        table[cp] = "-"
    return table


def normalize(text: str) -> str:
    """Length-preserving normalization (see module docstring); ``len(normalize(s)) == len(s)``."""
    return text.translate(_translation_table())


def fold_kana(s: str) -> str:
    """Hiragana → katakana so that ゴミ and ごみ are the same term."""
    return s.translate(_HIRA_TO_KATA)


def make_tokenizer() -> SudachiTokenizer:
    """Build the Sudachi tokenizer (sudachidict-core). Expensive: do it once per worker."""
    return Dictionary(dict="core").tokenizer()


# Sudachi refuses inputs over ~49 KB of UTF-8; 4,000 characters stay below that even for emoji.
_CHUNK = 4000


def _chunks(text: str) -> list[tuple[int, int]]:
    """Split long text at a sentence end or newline near every _CHUNK characters."""
    out: list[tuple[int, int]] = []
    start = 0
    while start < len(text):
        end = min(start + _CHUNK, len(text))
        if end < len(text):
            cut = max(text.rfind(c, start + _CHUNK // 2, end) for c in "。\n!?！？ ")
            if cut > start:
                end = cut + 1
        out.append((start, end))
        start = end
    return out


@dataclass(frozen=True, slots=True)
class Token:
    """One Sudachi morpheme with offsets into the original text."""

    surface: str
    key: str  # folded normalized form
    pos: tuple[str, ...]
    start: int
    end: int
    content: bool  # a content word worth indexing / routing on
    parts: tuple[str, ...]  # mode-A sub-terms of a compound (empty when not a compound)

    @property
    def is_person(self) -> bool:
        return self.pos[2] == "人名"

    @property
    def is_place(self) -> bool:
        return self.pos[2] == "地名"

    @property
    def is_number(self) -> bool:
        return self.pos[1] == "数詞"


def _is_content(pos: tuple[str, ...]) -> bool:
    head, sub = pos[0], pos[1]
    if head == "名詞":
        return sub != "数詞"
    if head in ("動詞", "形容詞"):
        return sub != "非自立可能"
    return head in ("形状詞", "接尾辞") and sub != "助動詞語幹"


class TextProcessor:
    """Tokenizes normalized text once (mode C) and derives terms; caches per-POS and per-compound work."""

    _CACHE_LIMIT = 200_000

    def __init__(self, tokenizer: SudachiTokenizer | None = None) -> None:
        self.tokenizer = tokenizer if tokenizer is not None else make_tokenizer()
        self._pos: dict[int, tuple[tuple[str, ...], bool]] = {}
        self._parts: dict[str, tuple[str, ...]] = {}

    def tokens(self, text: str) -> list[Token]:
        """Tokens of ``text`` (normalized internally); offsets index the original ``text``."""
        if not text:
            return []
        norm = normalize(text)
        if len(norm) <= _CHUNK:
            return self._tokens(norm, 0)
        out: list[Token] = []
        for start, end in _chunks(norm):
            out.extend(self._tokens(norm[start:end], start))
        return out

    def _tokens(self, norm: str, offset: int) -> list[Token]:
        out: list[Token] = []
        pos_cache = self._pos
        for m in self.tokenizer.tokenize(norm, SplitMode.C):
            pid = m.part_of_speech_id()
            info = pos_cache.get(pid)
            if info is None:
                pos = tuple(m.part_of_speech())
                info = (pos, _is_content(pos))
                pos_cache[pid] = info
            pos, content = info
            key = fold_kana(m.normalized_form())
            surface = m.surface()
            parts: tuple[str, ...] = ()
            if content:
                if key in _STOP or not surface.strip():
                    content = False
                elif len(surface) >= 3:
                    parts = self._split(m, key)
            out.append(Token(surface, key, pos, m.begin() + offset, m.end() + offset, content, parts))
        return out

    def _split(self, m, key: str) -> tuple[str, ...]:  # m: sudachipy.Morpheme
        got = self._parts.get(key)
        if got is None:
            sub = list(m.split(SplitMode.A))
            got = tuple(fold_kana(s.normalized_form()) for s in sub) if len(sub) > 1 else ()
            got = tuple(p for p in got if p != key and p not in _STOP and len(p) > 1)
            if len(self._parts) >= self._CACHE_LIMIT:
                self._parts.clear()
            self._parts[key] = got
        return got

    @staticmethod
    def terms_of(tokens: list[Token]) -> list[str]:
        """Content terms of tokens, in order, compounds followed by their parts."""
        out: list[str] = []
        for t in tokens:
            if t.content:
                out.append(t.key)
                out.extend(t.parts)
        return out

    def terms(self, text: str) -> list[str]:
        return self.terms_of(self.tokens(text))
