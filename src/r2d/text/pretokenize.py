"""Text -> pieces: RoBERTa's byte-level pre-tokenizer split, except that a word keeps a trailing ASCII ``'s``.

Stage 1 of the pipeline. Every character of the input belongs to exactly one piece, so ``"".join(pieces)``
is the input again. This module only splits; it does not look at case, affixes or bytes
(see :mod:`r2d.text.transform`).

>>> split_pieces("I enjoyed riding in Australia's parks.")
['I', ' enjoyed', ' riding', ' in', " Australia's", ' parks', '.']
>>> split_pieces("it's  2 o'clock")
["it's", ' ', ' 2', ' o', "'", 'clock']
"""

from __future__ import annotations

import re

import regex

# RoBERTa/GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
# The one change: a letter run may keep a trailing ASCII 's that ends the word.
PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+(?:'s(?!\p{L}))?| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
_PIECE_RE = regex.compile(PATTERN)
# The same pattern restricted to ASCII, for the standard library's faster engine: on ASCII text \p{L} is
# [A-Za-z], \p{N} is [0-9] and both engines' \s is [\t\n\v\f\r ] (a test checks they split alike).
ASCII_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+(?:'s(?![A-Za-z]))?| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+"""
_ASCII_RE = re.compile(ASCII_PATTERN, re.ASCII)


def split_pieces(text: str) -> list[str]:
    """Split ``text`` into pieces whose concatenation is ``text``.

    Args:
        text: any Unicode string.

    Returns:
        The pieces, in order.
    """
    if text.isascii():
        return _ASCII_RE.findall(text)
    return _PIECE_RE.findall(text)


def split_pieces_with_offsets(text: str) -> list[tuple[str, int, int]]:
    """Like :func:`split_pieces`, with each piece's ``(start, end)`` character offsets in ``text``."""
    engine = _ASCII_RE if text.isascii() else _PIECE_RE
    return [(m.group(), m.start(), m.end()) for m in engine.finditer(text)]
