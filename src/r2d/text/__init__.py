"""Text stage: ``text -> pieces -> (root, flags)`` and back, plus the one corpus reader.

Modules, in pipeline order: :mod:`~r2d.text.pretokenize` (RoBERTa's byte-level pre-tokenizer split, a word keeps
its trailing ``'s``), :mod:`~r2d.text.transform` (piece <-> root + flags: step 1), :mod:`~r2d.text.corpus`
(reading ``.txt``/``.gz``/WikiExtractor corpora and counting pieces). Nothing here knows about BPE ids or models.
"""
