"""Text -> pieces: RoBERTa's byte-level pre-tokenizer split, except that a word keeps a trailing ASCII ``'s``.

Stage 1 of the pipeline. Every character of the input belongs to exactly one piece, so ``"".join(pieces)``
is the input again. This module only splits; it does not look at case, affixes or bytes
(see :mod:`r2d.transform`).

>>> split_pieces("I enjoyed riding in Australia's parks.")
['I', ' enjoyed', ' riding', ' in', " Australia's", ' parks', '.']
>>> split_pieces("it's  2 o'clock")
["it's", ' ', ' 2', ' o', "'", 'clock']
"""

from __future__ import annotations

import regex

# RoBERTa/GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
# The one change: a letter run may keep a trailing ASCII 's that ends the word.
PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+(?:'s(?!\p{L}))?| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
_PIECE_RE = regex.compile(PATTERN)


def split_pieces(text: str, *, concurrent: bool = False) -> list[str]:
    """Split ``text`` into pieces whose concatenation is ``text``.

    Args:
        text: any Unicode string.
        concurrent: release the GIL while matching (for use from a worker thread).

    Returns:
        The pieces, in order.
    """
    return _PIECE_RE.findall(text, concurrent=concurrent)


def split_pieces_with_offsets(text: str) -> list[tuple[str, int, int]]:
    """Like :func:`split_pieces`, with each piece's ``(start, end)`` character offsets in ``text``."""
    return [(m.group(), m.start(), m.end()) for m in _PIECE_RE.finditer(text)]
