"""Text understanding for meyasubako: normalize, tokenize (SudachiPy), route, find/mask PII, similarity.

Pure, synchronous and deterministic; no I/O. See :mod:`nlp.text` for the split-mode choice.
"""

from .analyzer import Analysis, Analyzer
from .pii import PII_TYPES, PLACEHOLDERS, PiiSpan, find_pii, mask
from .router import LearnedModel, train_model
from .similarity import SimilarityIndex
from .text import Lexeme, TextProcessor, Token, Tokenized, make_tokenizer, normalize

__all__ = [
    "Analysis",
    "Analyzer",
    "LearnedModel",
    "Lexeme",
    "PII_TYPES",
    "PLACEHOLDERS",
    "PiiSpan",
    "SimilarityIndex",
    "TextProcessor",
    "Token",
    "Tokenized",
    "find_pii",
    "make_tokenizer",
    "mask",
    "normalize",
    "train_model",
]
