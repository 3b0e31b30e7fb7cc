"""Normalization and tokenization: the one place that talks to SudachiPy.

Why these choices:

* **Length-preserving normalization.** Each character is replaced by its NFKC form only when
  that form is exactly one (non-combining) character: full-width digits and latin letters become
  ASCII, half-width katakana becomes full-width, ideographic space becomes a space. Multi-character
  expansions (``㈱`` → ``(株)``) are left alone. Because the string length never changes, every
  offset computed on the normalized text is also an offset into the caller's original text — PII
  spans must point into what the resident actually wrote.
* **Split mode C** (longest units) is used for the single tokenization pass, and every compound
  token is also split with mode A (cached per surface), so a resident's 予防接種 yields 予防接種,
  予防 and 接種. Routing then sees the specific compound (固定資産税, 街路樹, 粗大ごみ, 駐輪場)
  *and* its parts. Measured (routing accuracy dev / held-out / blind held-out): A 0.956 / 0.969 /
  0.906, B and C 0.956 / 0.977 / 0.906; PII person/address P/R on dev are 1.0 in every mode
  (Sudachi gives the same 人名/地名 tokens in A and C). C wins by a hair on routing, gives the more
  readable reasons, and one pass keeps the cost near bare tokenization. ``TextProcessor.mode``
  exists for such measurements.
* **Terms** are Sudachi ``normalized_form`` (子ども→子供, ノラ猫→野良猫, ゴミ箱→塵箱) folded to
  katakana, because Sudachi keeps ゴミ and ごみ apart; folding makes them one term.
* Each token keeps its part of speech: routing wants content words, PII wants 固有名詞 (人名, 地名).

Sudachi tokenizers are not thread-safe; one :class:`TextProcessor` belongs to one thread.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import cache
from itertools import accumulate
from operator import itemgetter
from typing import NamedTuple

from sudachipy import Dictionary, SplitMode
from sudachipy import Tokenizer as SudachiTokenizer

__all__ = ["Lexeme", "Token", "Tokenized", "TextProcessor", "normalize", "fold_kana", "make_tokenizer"]

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
    # Lone surrogates (from JSON escapes like "\ud800") cannot be encoded for Sudachi; one
    # replacement character each keeps the length, so offsets stay valid.
    for cp in range(0xD800, 0xE000):
        table[cp] = "\ufffd"
    # Dashes that residents type between digits all mean "-" for the patterns downstream.
    for cp in (0x2010, 0x2011, 0x2012, 0x2013, 0x2014, 0x2015, 0x2212, 0x2500, 0xFF0D, 0xFE63):
        table[cp] = "-"
    return table


@cache
def _needs_translation() -> re.Pattern[str]:
    """One character class of every code point the table changes (a C-speed scan)."""
    cps = sorted(_translation_table())
    ranges: list[tuple[int, int]] = []
    for cp in cps:
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    return re.compile("[" + "".join(f"\\u{a:04x}-\\u{b:04x}" for a, b in ranges) + "]")


def normalize(text: str) -> str:
    """Length-preserving normalization (see module docstring); ``len(normalize(s)) == len(s)``."""
    # Most submissions are already clean; translate() looks every character up in a dict, the
    # scan for "anything to change" is several times cheaper.
    if _needs_translation().search(text) is None:
        return text
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


class Lexeme(NamedTuple):
    """What a morpheme means, independent of where it occurs (cached per surface + POS)."""

    surface: str
    key: str  # folded normalized form
    pos: tuple[str, ...]
    content: bool  # a content word worth indexing / routing on
    parts: tuple[str, ...]  # mode-A sub-terms of a compound (empty when not a compound)
    tag: str  # "person" (人名), "place" (地名), "number" (数詞), "proper" (other 固有名詞) or ""


class Token(NamedTuple):
    """One morpheme with offsets into the original text (public, convenient form)."""

    surface: str
    key: str
    pos: tuple[str, ...]
    start: int
    end: int
    content: bool
    parts: tuple[str, ...]
    tag: str

    @property
    def is_person(self) -> bool:
        return self.tag == "person"

    @property
    def is_place(self) -> bool:
        return self.tag == "place"


class Tokenized(NamedTuple):
    """Compact tokenization used on the hot path: shared lexemes plus their start offsets.

    Building one small object per morpheme costs as much as Sudachi itself, so occurrences are
    two parallel lists instead; ``starts[i]`` indexes the original text. (A NamedTuple: built
    once per text, it is ~3x cheaper to create than a frozen dataclass.)
    """

    text: str
    norm: str
    lexemes: list[Lexeme]
    starts: list[int]

    def end(self, i: int) -> int:
        return self.starts[i] + len(self.lexemes[i].surface)

    def tokens(self) -> list[Token]:
        return [
            Token(x.surface, x.key, x.pos, b, b + len(x.surface), x.content, x.parts, x.tag)
            for x, b in zip(self.lexemes, self.starts, strict=True)
        ]


def _tag(pos: tuple[str, ...]) -> str:
    if pos[2] == "人名":
        return "person"
    if pos[2] == "地名":
        return "place"
    if pos[1] == "数詞":
        return "number"
    return "proper" if pos[1] == "固有名詞" else ""


def _is_content(pos: tuple[str, ...]) -> bool:
    head, sub = pos[0], pos[1]
    if head == "名詞":
        return sub != "数詞"
    if head in ("動詞", "形容詞"):
        return sub != "非自立可能"
    return head in ("形状詞", "接尾辞") and sub != "助動詞語幹"


_surface = itemgetter(0)  # Lexeme.surface, read at C speed
# Sudachi word ids at or above this are out-of-vocabulary: the id encodes only the POS, so
# different unknown words share one id.
_OOV_ID = 0xF000_0000


class TextProcessor:
    """Tokenizes normalized text once (mode C) and derives terms; caches per-POS and per-compound work."""

    _CACHE_LIMIT = 200_000

    def __init__(self, tokenizer: SudachiTokenizer | None = None) -> None:
        self.tokenizer = tokenizer if tokenizer is not None else make_tokenizer()
        # Lexeme caches. Everything a Lexeme holds (normalized form, POS, mode-A parts of a
        # compound) is a function of the dictionary entry and the surface, so it is computed
        # once per distinct word:
        # * _by_id: dictionary word id → Lexeme. The fast path: one int-keyed lookup per morpheme
        #   and no surface string made. An id is a dictionary entry, but Sudachi matches entries
        #   on its own normalization of the input, so one id can stand for several surfaces
        #   (LINE/line, the dots of "…"); every text is therefore checked (see _run), and ids
        #   caught with a second surface move to _unstable and always take the exact path.
        # * _exact: (surface, POS id) → Lexeme, the exact key; used for misses, unknown words
        #   (whose ids are shared) and unstable ids.
        # Bounded: all are cleared when _exact holds _CACHE_LIMIT words.
        self._by_id: dict[int, Lexeme] = {}
        self._exact: dict[tuple[str, int], Lexeme] = {}
        self._unstable: set[int] = set()
        self.mode = SplitMode.C
        self._buf = self.tokenizer.tokenize("", SplitMode.C)  # reused MorphemeList

    def tokenize(self, text: str) -> Tokenized:
        """Compact tokenization of ``text`` (normalized internally); offsets index ``text``."""
        norm = normalize(text)
        if len(norm) <= _CHUNK:
            lexemes, starts = self._run(norm, 0)
        else:
            lexemes, starts = [], []
            for start, end in _chunks(norm):
                lx, st = self._run(norm[start:end], start)
                lexemes += lx
                starts += st
        return Tokenized(text, norm, lexemes, starts)

    def tokens(self, text: str) -> list[Token]:
        """Tokens of ``text`` with offsets into the original ``text``."""
        return self.tokenize(text).tokens()

    def _run(self, norm: str, offset: int) -> tuple[list[Lexeme], list[int]]:
        # Hot path, kept to C-level passes over the morphemes plus one comprehension: the cost
        # of analyze() stays close to that of bare tokenization.
        if not norm:
            return [], []
        self._buf = self.tokenizer.tokenize(norm, self.mode, out=self._buf)
        morphemes = list(self._buf)
        get, slow = self._by_id.get, self._lexeme
        lexemes = [get(w := m.word_id()) or slow(m, w) for m in morphemes]
        lengths = list(map(len, morphemes))  # Sudachi's own extents, in code points
        # The id cache is right for this text iff every cached surface is the text at its
        # morpheme: same lengths (so the boundaries line up) and the same characters.
        if lengths != list(map(len, map(_surface, lexemes))) or "".join(map(_surface, lexemes)) != norm:
            lexemes = self._settle(morphemes, lexemes)
        starts = list(accumulate(lengths, initial=offset))
        if starts.pop() - offset != len(norm):  # never seen; keep offsets exact if Sudachi ever skips input
            starts = [m.begin() + offset for m in morphemes]
        return lexemes, starts

    def _lexeme(self, m, word_id: int) -> Lexeme:
        """The exact path: by (surface, POS id); admits dictionary ids to the fast cache."""
        surface = m.surface()
        key = (surface, m.part_of_speech_id())
        lex = self._exact.get(key)
        if lex is None:
            if len(self._exact) >= self._CACHE_LIMIT:
                self._exact.clear()
                self._by_id.clear()
                self._unstable.clear()
            lex = self._exact[key] = self._describe(m, surface)
        if word_id < _OOV_ID and word_id not in self._unstable:
            self._by_id[word_id] = lex
        return lex

    def _settle(self, morphemes: list, cached: list[Lexeme]) -> list[Lexeme]:
        """Redo a text the exact way; ids whose cached surface was wrong become unstable."""
        exact = []
        for m, got in zip(morphemes, cached, strict=True):
            w = m.word_id()
            if w < _OOV_ID and got.surface != m.surface():
                self._unstable.add(w)
                self._by_id.pop(w, None)
            exact.append(self._lexeme(m, w))
        return exact

    def _describe(self, m, surface: str) -> Lexeme:
        pos = tuple(m.part_of_speech())
        content = _is_content(pos)
        key = fold_kana(m.normalized_form())
        parts: tuple[str, ...] = ()
        if content:
            if key in _STOP or not surface.strip():
                content = False
            elif len(surface) >= 3:
                sub = list(m.split(SplitMode.A))
                if len(sub) > 1:
                    folded = (fold_kana(x.normalized_form()) for x in sub)
                    parts = tuple(p for p in folded if p != key and p not in _STOP and len(p) > 1)
        return Lexeme(surface, key, pos, content, parts, _tag(pos))

    @staticmethod
    def terms_of(tokens: Sequence[Token] | Sequence[Lexeme]) -> list[str]:
        """Content terms of tokens, in order, compounds followed by their parts."""
        out: list[str] = []
        for t in tokens:
            if t.content:
                out.append(t.key)
                out.extend(t.parts)
        return out

    def terms(self, text: str) -> list[str]:
        return self.terms_of(self.tokenize(text).lexemes)
