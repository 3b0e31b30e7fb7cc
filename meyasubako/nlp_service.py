"""The async face of ``nlp/``: runs the (CPU-bound, not thread-safe) Analyzer on one worker thread.

Sudachi's tokenizer must not be used from two threads at once, and analysis would block the
event loop for a millisecond or more per item, so every call goes through a single-thread
executor. Retraining builds a new model on that same thread and swaps it in atomically.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any

from nlp import Analyzer, PiiSpan, SimilarityIndex, mask
from nlp.router import LearnedModel

log = logging.getLogger("meyasubako.nlp")


class NlpService:
    def __init__(self, sections: Sequence[Mapping[str, Any]]) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nlp")
        self.analyzer = Analyzer(sections)
        # Two indexes on purpose: staff compare against everything, the public only against
        # what was published (its masked 要旨 and answer), so "related items" never leak.
        self.indexes = {"staff": SimilarityIndex(), "public": SimilarityIndex()}
        self.model_examples = 0

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def analyze_sync(self, text: str) -> dict[str, Any]:
        a = self.analyzer.analyze(text)
        return {
            "section": a.section,
            "top": [[s, round(float(score), 4)] for s, score in a.top],
            "reasons": list(a.reasons),
            "confident": bool(a.confident),
            "pii": [asdict(p) for p in a.pii],
            "masked": a.masked,
            "terms": self.analyzer.terms(text),
        }

    async def analyze(self, text: str) -> dict[str, Any]:
        return await self._run(self.analyze_sync, text)

    async def terms(self, text: str) -> list[str]:
        return await self._run(self.analyzer.terms, text)

    async def find_pii(self, text: str) -> list[PiiSpan]:
        return await self._run(lambda: list(self.analyzer.analyze(text).pii))

    @staticmethod
    def mask(text: str, spans: Sequence[PiiSpan]) -> str:
        return mask(text, spans)

    async def retrain(self, examples: Sequence[tuple[str, str]]) -> int:
        """Train on (text, section) pairs that staff decided, then swap the model in."""
        self.use_model(await self.train(examples) if examples else None)
        return len(examples)

    async def train(self, examples: Sequence[tuple[str, str]]) -> LearnedModel:
        """A model from (text, section) pairs, computed on the NLP thread; nothing is swapped in."""
        return await self._run(self.analyzer.train, examples)

    def use_model(self, model: LearnedModel | None) -> None:
        """Switch routing to ``model`` (None = the shipped vocabulary only). Atomic for readers."""
        self.analyzer.use_model(model)
        self.model_examples = model.n_examples if model is not None else 0
        log.info("event=retrain examples=%d", self.model_examples)

    async def index(self, which: str, key: str, terms: list[str]) -> None:
        idx = self.indexes[which]

        def work() -> None:
            idx.remove(key)
            if terms:
                idx.add(key, terms)

        await self._run(work)

    async def unindex(self, which: str, key: str) -> None:
        await self._run(self.indexes[which].remove, key)

    async def similar_to(
        self, which: str, terms: list[str], k: int = 5, exclude: str | None = None
    ) -> list[tuple[str, float]]:
        idx = self.indexes[which]
        return await self._run(lambda: idx.query(terms, k=k, exclude=exclude))

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        # aiohttp keeps recently used Applications alive in an LRU cache of middleware chains, and
        # with them this service: drop the dictionary and indexes now instead of when that cache
        # lets go (matters for test suites that build hundreds of apps in one process).
        self.indexes.clear()
        del self.analyzer
