"""The 2D tokenizer: text <-> ids + flag matrix, and the RoBERTa baseline it is compared with.

Modules, lowest first: :mod:`~r2d.tokenizer.alphabet` (the byte-level alphabet, special tokens),
:mod:`~r2d.tokenizer.arrays` (numpy plumbing and decode's input checks), :mod:`~r2d.tokenizer.flag_rows` (the
distinct flag rows, numbered and keyed), :mod:`~r2d.tokenizer.word_cache` and :mod:`~r2d.tokenizer.decode` (flat
arrays -> texts), :mod:`~r2d.tokenizer.core` (texts -> flat arrays, cached and vectorised),
:mod:`~r2d.tokenizer.layout` (truncation, special rows, padding), :mod:`~r2d.tokenizer.files` (the save format),
:mod:`~r2d.tokenizer.train` (the root BPE), :mod:`~r2d.tokenizer.hf_args` (checks of the wrapper's arguments),
:mod:`~r2d.tokenizer.hf` (``R2DTokenizer``: the Hugging Face-compatible wrapper), :mod:`~r2d.tokenizer.rates`
(flag rates), :mod:`~r2d.tokenizer.baseline` (RoBERTa's byte-level BPE, offline).
"""

from r2d.tokenizer.hf import R2DTokenizer

__all__ = ["R2DTokenizer"]
