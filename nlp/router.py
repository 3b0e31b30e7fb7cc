"""Routing: shipped vocabulary (cold start) combined with a model learned from staff routing.

Cold start: each section of the catalog carries a ``vocabulary`` mapping of everyday words to a
weight (1 = hint, 2 = typical, 3 = decisive, up to 5 for "this is never ours" cues in ``other``).
The catalog's ``scope`` phrases are added at weight 2 so a city can steer routing by editing
scopes alone. Vocabulary entries are tokenized with the same Sudachi pipeline as residents' text,
so 子ども/子供, ノラ猫/野良猫 and ゴミ/ごみ match alike; entries that are several tokens long
(自転車置き場, 職員の態度) are matched as token sequences.

Learning: :func:`train_model` counts, per term, in which sections staff put the submissions
containing it. For each term the combined weight is an interpolation

    w(t, s) = (1 - γ_t) · vocabulary(t, s) + γ_t · L · lift(s | t),    γ_t = c_t / (c_t + K)

where c_t is the number of routed submissions containing t. A term seen in few items barely
moves; a term a city uses every week ends up with the weights staff gave it — the city's own
vocabulary wins over time, and a re-routed term moves the prediction. Training is a pure
function of term lists (no tokenizer), so it can run on any thread; :class:`Router` swaps the
compiled table in one assignment.

Scores become probabilities with a softmax; when the best one is weak the item goes to 広聴
(``service``) instead of guessing, and an item with no evidence at all (テスト, あああ) is
``other`` (意味のない投稿).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import compress
from operator import itemgetter
from typing import Any, NamedTuple

from .text import Lexeme, Token

__all__ = ["LearnedModel", "Router", "RouteResult", "train_model"]

LEARN_K = 2.5  # observations at which the learned weights count as much as the vocabulary
LEARN_SCALE = 3.0  # weight of a term that always lands in one section
MIN_COUNT = 2  # a term seen once teaches nothing
SOFTMAX_BETA = 0.8
MIN_PROB = 0.30  # below this the item goes to triage
MIN_EVIDENCE = 2.0


@dataclass(frozen=True)
class LearnedModel:
    """Per-term section counts from staff-routed submissions (immutable; build with train_model)."""

    counts: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    displays: Mapping[str, str] = field(default_factory=dict)
    n_examples: int = 0

    def weights(self, sections: Sequence[str]) -> dict[str, dict[str, float]]:
        """term → {section: learned weight} with γ_t folded in as (γ_t, weights)."""
        k = len(sections)
        out: dict[str, dict[str, float]] = {}
        for term, by_sec in self.counts.items():
            total = sum(by_sec.values())
            if total < MIN_COUNT:
                continue
            w: dict[str, float] = {}
            for s, c in by_sec.items():
                p = (c + 0.1) / (total + 0.1 * k)
                lift = max(0.0, p - 1.0 / k) * k / (k - 1)
                if lift > 0:
                    w[s] = LEARN_SCALE * lift
            out[term] = w
        return out


def train_model(examples: Iterable[tuple[Sequence[str], str]], displays: Mapping[str, str] | None = None) -> LearnedModel:
    """Count, per distinct term of each example, the section staff chose. Pure and thread-safe."""
    counts: dict[str, dict[str, int]] = {}
    n = 0
    for terms, section in examples:
        n += 1
        for t in set(terms):
            by = counts.setdefault(t, {})
            by[section] = by.get(section, 0) + 1
    return LearnedModel(counts=counts, displays=dict(displays or {}), n_examples=n)


class RouteResult(NamedTuple):
    """One routing decision (a NamedTuple: made per submission, cheaper than a frozen dataclass)."""

    section: str
    top: list[tuple[str, float]]
    reasons: list[str]
    confident: bool
    evidence: Mapping[int, float]  # raw evidence per section index; sections without any are absent
    n_sections: int

    @property
    def scores(self) -> tuple[float, ...]:
        """Raw evidence per section, catalog order (0.0 where there is none)."""
        return tuple(self.evidence.get(i, 0.0) for i in range(self.n_sections))


_Pairs = tuple[tuple[int, float], ...]
_Phrase = tuple[tuple[str, ...], _Pairs, str]
# What one distinct token contributes: (multi-token terms starting with its key, by the key of
# their second token; its own unigram hits as (name, weights, display or "")).
_Entry = tuple[dict[str, tuple[_Phrase, ...]], tuple[tuple[str, _Pairs, str], ...]]
_UNSEEN: Any = object()
# Lexeme fields by index in the hot loop: CPython 3.11 does not specialize attribute access on
# NamedTuple fields, indexing a tuple by a constant it does (several times cheaper).
_SURFACE, _KEY, _CONTENT, _PARTS = 0, 1, 3, 4
_key_of = itemgetter(_KEY)
_content_of = itemgetter(_CONTENT)  # memo sentinel: term not looked up yet


@dataclass
class _Table:
    unigram: dict[str, _Pairs]
    phrases: dict[str, list[_Phrase]]
    display: dict[str, str]
    # Per distinct term → its _Entry, or None when it can contribute nothing (the common case).
    # Compounds are keyed by (key, mode-A parts) in their own dict, so that the one every token
    # looks up has plain str keys (CPython's fastest dict lookup).
    memo: dict[str, _Entry | None] = field(default_factory=dict)
    compound_memo: dict[tuple[str, tuple[str, ...]], _Entry | None] = field(default_factory=dict)


class Router:
    """Vocabulary + learned routing over Sudachi tokens."""

    def __init__(
        self,
        sections: Sequence[Mapping[str, object]],
        keys_of: Callable[[str], list[str]],
    ) -> None:
        self.ids: list[str] = [str(s["id"]) for s in sections]
        self._index = {sid: i for i, sid in enumerate(self.ids)}
        # vocabulary: key-sequence → {section index: weight}; display text per key sequence
        self._vocab: dict[tuple[str, ...], dict[int, float]] = {}
        self._vocab_display: dict[tuple[str, ...], str] = {}
        for i, sec in enumerate(sections):
            entries: dict[str, float] = {}
            scope = str(sec.get("scope", ""))
            for phrase in scope.replace("・", "、").replace("(", "、").replace(")", "、").split("、"):
                phrase = phrase.strip()
                if phrase and len(phrase) <= 12:
                    entries[phrase] = 2.0
            vocab = sec.get("vocabulary") or {}
            if not isinstance(vocab, Mapping):
                raise ValueError(f"section {sec['id']}: vocabulary must be a mapping of term to weight")
            for term, weight in vocab.items():
                entries[str(term)] = float(weight)
            for term, weight in entries.items():
                # Tokenized alone and followed by a particle: Sudachi reads 一時預かり differently
                # at the end of input (預かる) than inside a sentence (預かり); register both.
                in_context = keys_of(term + "が")
                if in_context and in_context[-1] == "ガ":
                    in_context = in_context[:-1]
                for keys in {tuple(keys_of(term)), tuple(in_context)}:
                    if not keys:
                        continue
                    slot = self._vocab.setdefault(keys, {})
                    slot[i] = max(slot.get(i, 0.0), weight)
                    self._vocab_display.setdefault(keys, term)
        # Tie order: with no evidence "other" then "service" come first, then catalog order.
        fallback = sorted(
            range(len(self.ids)), key=lambda i: (self.ids[i] not in ("other", "service"), self.ids[i] != "other", i)
        )
        self._rank = [fallback.index(i) for i in range(len(self.ids))]
        self._fallback = fallback
        self._table = self._compile(None)

    # -- model handling -------------------------------------------------------------------------
    def use_model(self, model: LearnedModel | None) -> None:
        """Swap the compiled table in one assignment (readers see the old or the new one)."""
        self._table = self._compile(model)

    def _compile(self, model: LearnedModel | None) -> _Table:
        learned = model.weights(self.ids) if model is not None else {}
        counts = model.counts if model is not None else {}
        merged: dict[tuple[str, ...], dict[int, float]] = {k: dict(v) for k, v in self._vocab.items()}
        display = {k: d for k, d in self._vocab_display.items()}
        for term, w in learned.items():
            c = sum(counts[term].values())
            gamma = c / (c + LEARN_K)
            key = (term,)
            slot = merged.setdefault(key, {})
            for i in list(slot):
                slot[i] *= 1.0 - gamma
            for sid, lw in w.items():
                if sid in self._index:
                    i = self._index[sid]
                    slot[i] = slot.get(i, 0.0) + gamma * lw
            if model is not None:
                display.setdefault(key, model.displays.get(term, term))
        unigram: dict[str, _Pairs] = {}
        phrases: dict[str, list[_Phrase]] = {}
        shown: dict[str, str] = {}
        for keys, slot in merged.items():
            pairs = tuple(sorted((i, w) for i, w in slot.items() if w > 0.01))
            if not pairs:
                continue
            name = "".join(keys)
            shown[name] = display.get(keys, name)
            if len(keys) == 1:
                unigram[keys[0]] = pairs
            else:
                phrases.setdefault(keys[0], []).append((keys, pairs, name))
        return _Table(unigram, phrases, shown)

    # -- routing -------------------------------------------------------------------------------
    def route(self, tokens: Sequence[Lexeme] | Sequence[Token]) -> RouteResult:
        # Hot path (runs per submission). One comprehension keeps the content tokens whose term
        # can contribute (about half of them; unseen terms come through as _UNSEEN and are looked
        # up here once per table). Evidence is summed as terms are found and kept sparse: most
        # sections score 0.
        if tokens and type(tokens[0]) is not Lexeme:  # public Token objects: same fields, other order
            tokens = [Lexeme(t.surface, t.key, t.pos, t.content, t.parts, t.tag) for t in tokens]
        table = self._table
        get, cget = table.memo.get, table.compound_memo.get
        n = len(tokens)
        live = [
            (idx, t, e)
            for idx, t in compress(enumerate(tokens), map(_content_of, tokens))  # content tokens, at C speed
            if (e := cget((t[_KEY], t[_PARTS]), _UNSEEN) if t[_PARTS] else get(t[_KEY], _UNSEEN)) is not None
        ]
        hits: dict[str, tuple[_Pairs, str]] = {}  # matched term → (its weights, how to show it)
        ev: dict[int, float] = {}  # section index → evidence (every weight is > 0)
        for idx, t, entry in live:
            if entry is _UNSEEN:
                entry = self._entry(t, table)
                if entry is None:
                    continue
            cand, found = entry
            if cand and idx + 1 < n:  # multi-token terms starting here with the next token's key
                for seq, pairs, name in cand.get(tokens[idx + 1][_KEY], ()):
                    if name in hits:
                        continue
                    span = tokens[idx : idx + len(seq)]
                    if tuple(map(_key_of, span)) == seq:
                        shown = table.display.get(name) or "".join(x.surface for x in span)
                        hits[name] = (pairs, shown)
                        for i, w in pairs:
                            ev[i] = ev.get(i, 0.0) + w
            for name, pairs, shown in found:
                if name not in hits:
                    hits[name] = (pairs, shown or t[_SURFACE])
                    for i, w in pairs:
                        ev[i] = ev.get(i, 0.0) + w
        return self._decide(ev, hits)

    @staticmethod
    def _entry(t: Lexeme | Token, table: _Table) -> _Entry | None:
        """What the term of ``t`` contributes under ``table``, memoized there."""
        unigram, display = table.unigram, table.display
        key, parts = t.key, t.parts
        # A unigram is shown as the vocabulary/learned display of its name; the token's own
        # surface stands in (shown = "") when the name is its key and no display exists.
        found = tuple(
            (name, unigram[name], display.get(name) or ("" if name == key else name))
            for name in (key, *parts)
            if unigram.get(name)
        )
        cand: dict[str, tuple[_Phrase, ...]] = {}
        for phrase in table.phrases.get(key, ()):  # registration order kept within each group
            cand[phrase[0][1]] = (*cand.get(phrase[0][1], ()), phrase)
        entry = (cand, found) if cand or found else None
        if parts:
            table.compound_memo[(key, parts)] = entry
        else:
            table.memo[key] = entry
        return entry

    def _decide(self, ev: dict[int, float], hits: dict[str, tuple[_Pairs, str]]) -> RouteResult:
        n = len(self.ids)
        # Strongest evidence first, ties in the fixed tie order: a stable sort by evidence of the
        # sections already in tie order (C-level keys, no per-item tuple).
        nz = sorted(ev, key=self._rank.__getitem__)
        if len(nz) > 1:
            nz.sort(key=ev.__getitem__, reverse=True)
        ids = self.ids
        if not nz:  # no evidence at all (テスト, あああ)
            order = self._fallback[:3]
            p = round(1.0 / n, 6)
            section = "other" if "other" in self._index else ids[order[0]]
            return RouteResult(section, [(ids[i], p) for i in order], [], False, ev, n)
        best = ev[nz[0]]
        order = nz[:3]
        if len(order) < 3:  # fill up in the fixed tie order
            for i in self._fallback:
                if i not in ev:
                    order.append(i)
                    if len(order) == 3:
                        break
        # Softmax over all n sections; the ones without evidence share exp(-β·best). Always
        # exactly three entries, so the top list is built unrolled (no per-item loop or zip).
        exp = math.exp
        exps = [exp(SOFTMAX_BETA * (ev[i] - best)) for i in nz]
        zero = exp(-SOFTMAX_BETA * best)
        z = zero * (n - len(nz)) + sum(exps)
        if len(exps) < 3:
            exps += [zero] * (3 - len(exps))
        o0, o1, o2 = order
        p0 = exps[0] / z
        top = [(ids[o0], round(p0, 6)), (ids[o1], round(exps[1] / z, 6)), (ids[o2], round(exps[2] / z, 6))]
        win = o0
        # Strongest first, ties by term name (names are unique, so `shown` is never compared).
        contrib = [(-w, name, shown) for name, (pairs, shown) in hits.items() for i, w in pairs if i == win]
        contrib.sort()
        reasons = [shown for _, _, shown in contrib[:5]]
        confident = best >= MIN_EVIDENCE and p0 >= MIN_PROB
        if confident:
            section = ids[win]
        else:
            section = "service" if "service" in self._index else ids[win]
        return RouteResult(section, top, reasons, confident, ev, n)
