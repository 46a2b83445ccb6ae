"""The 2D tokenizer: text <-> ids + flag matrix, and the RoBERTa baseline it is compared with.

Modules: :mod:`~r2d.tokenizer.hf` (``R2DTokenizer``: the Hugging Face-compatible tokenizer, training, save/load),
:mod:`~r2d.tokenizer.baseline` (RoBERTa's byte-level BPE, offline).
"""

from r2d.tokenizer.hf import R2DTokenizer

__all__ = ["R2DTokenizer"]
