"""The facade the application uses: one object per worker thread, built once.

``analyze`` tokenizes the text exactly once (Sudachi mode C, see :mod:`nlp.text`) and derives
routing, PII and masking from the same tokens, which keeps the cost close to bare tokenization.

Retraining without blocking requests: the app already stores ``terms(text)`` for search, so a
background thread can call the pure :func:`nlp.train_model` on ``(terms, section)`` pairs (no
tokenizer involved) and hand the result to ``use_model`` on the worker thread — a single
assignment. ``Analyzer.train`` is the convenience form that tokenizes on the calling thread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sudachipy import Tokenizer as SudachiTokenizer

from .pii import PiiSpan, find_pii, mask
from .router import LearnedModel, Router, train_model
from .text import TextProcessor

__all__ = ["Analysis", "Analyzer"]

_new = object.__new__


@dataclass(frozen=True)
class Analysis:
    section: str  # best section id ("service" when not confident, "other" when no evidence)
    top: list[tuple[str, float]]  # exactly 3 (section_id, score in [0, 1]), best first
    reasons: list[str]  # the terms that decided it, as residents wrote them or as the vocabulary has them
    confident: bool
    pii: list[PiiSpan]
    masked: str


class Analyzer:
    """Routing + PII + terms over a catalog of sections. Not thread-safe (Sudachi is not)."""

    def __init__(self, sections: Sequence[Mapping[str, Any]], tokenizer: SudachiTokenizer | None = None) -> None:
        if not sections:
            raise ValueError("the section catalog is empty")
        self._text = TextProcessor(tokenizer)
        self.tokenizer = self._text.tokenizer
        self.section_ids = [str(s["id"]) for s in sections]
        self._router = Router(sections, self._keys)

    def _keys(self, phrase: str) -> list[str]:
        return [x.key for x in self._text.tokenize(phrase).lexemes if x.pos[0] not in ("空白", "補助記号")]

    def analyze(self, text: str) -> Analysis:
        tk = self._text.tokenize(text)
        section, top, reasons, confident = self._router.route(tk.lexemes)[:4]
        spans = find_pii(text, tk)
        # A frozen dataclass's __init__ goes through object.__setattr__ once per field; filling
        # the instance dict directly makes the same object at half the cost (once per text).
        result = _new(Analysis)
        result.__dict__.update(
            section=section, top=top, reasons=reasons, confident=confident, pii=spans,
            masked=mask(text, spans) if spans else text,
        )
        return result

    def terms(self, text: str) -> list[str]:
        """Normalized content terms for search (documents and queries) and similarity."""
        return self._text.terms(text)

    def train(self, examples: Sequence[tuple[str, str]]) -> LearnedModel:
        """Learn from (text, section_id) pairs staff routed; returns a new model (nothing is swapped)."""
        displays: dict[str, str] = {}
        prepared: list[tuple[list[str], str]] = []
        known = set(self.section_ids)
        for text, section in examples:
            if section not in known:
                continue
            lexemes = self._text.tokenize(text).lexemes
            for x in lexemes:
                if x.content:
                    displays.setdefault(x.key, x.surface)
            prepared.append((TextProcessor.terms_of(lexemes), section))
        return train_model(prepared, displays)

    def use_model(self, model: LearnedModel | None) -> None:
        """Atomically switch to ``model`` (None = cold start, vocabulary only)."""
        self._router.use_model(model)
