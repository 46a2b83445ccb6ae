"""Text -> pieces: RoBERTa's byte-level pre-tokenizer split, except that a word keeps a trailing ASCII ``'s``.

Every character belongs to exactly one piece, so ``"".join(pieces)`` is the input again. Three engines split
alike (tests check it); the fastest that fits the text is used: ``re`` on ASCII, ``re`` with the classes spelled out
within the Basic Multilingual Plane, ``regex`` beyond it.

>>> split_pieces("I enjoyed riding in Australia's parks.")
['I', ' enjoyed', ' riding', ' in', " Australia's", ' parks', '.']
>>> split_pieces("it's  2 o'clock")
["it's", ' ', ' 2', ' o', "'", 'clock']
"""

from __future__ import annotations

import functools
import re
from itertools import chain

import regex

# RoBERTa/GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
# The one change: a letter run may keep a trailing ASCII 's that ends the word.
PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+(?:'s(?!\p{L}))?| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
_PIECE_RE = regex.compile(PATTERN)
# The same pattern restricted to ASCII, for the standard library's faster engine: on ASCII text \p{L} is
# [A-Za-z], \p{N} is [0-9] and both engines' \s is [\t\n\v\f\r ] (a test checks they split alike).
ASCII_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+(?:'s(?![A-Za-z]))?| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+"""
_ASCII_RE = re.compile(ASCII_PATTERN, re.ASCII)
_BEYOND_BMP = re.compile("[\U00010000-\U0010FFFF]")


@functools.lru_cache(maxsize=1)
def bmp_pattern() -> re.Pattern:
    r""":data:`PATTERN` for the standard ``re`` engine on text without characters beyond U+FFFF.

    ``\p{L}``, ``\p{N}`` and ``\s`` are spelled out as the ranges of characters below U+10000 that the ``regex``
    engine puts in them, so the two engines split such text alike by construction (a test checks every
    character; surrogates are in none of the three, as there). Built on first use.
    """
    chars = "".join(map(chr, chain(range(0xD800), range(0xE000, 0x10000))))

    def ranges(cls: str) -> str:
        spans = ((ord(m.group()[0]), ord(m.group()[-1])) for m in regex.finditer(cls + "+", chars))
        return "".join(re.escape(chr(a)) + ("" if a == b else "-" + re.escape(chr(b))) for a, b in spans)

    letter, number, space = ranges(r"\p{L}"), ranges(r"\p{N}"), ranges(r"\s")
    return re.compile(rf"""'s|'t|'re|'ve|'m|'ll|'d| ?[{letter}]+(?:'s(?![{letter}]))?| ?[{number}]+"""
                      rf"""| ?[^{space}{letter}{number}]+|[{space}]+(?![^{space}])|[{space}]+""")


def _engine(text: str):
    """The fastest engine that splits ``text`` exactly like :data:`PATTERN`."""
    if text.isascii():
        return _ASCII_RE
    if _BEYOND_BMP.search(text) is None:
        return bmp_pattern()
    return _PIECE_RE


def split_pieces(text: str) -> list[str]:
    """Split ``text`` into pieces whose concatenation is ``text``.

    Args:
        text: any Unicode string.

    Returns:
        The pieces, in order.
    """
    return _engine(text).findall(text)


def split_pieces_with_offsets(text: str) -> list[tuple[str, int, int]]:
    """Like :func:`split_pieces`, with each piece's ``(start, end)`` character offsets in ``text``."""
    return [(m.group(), m.start(), m.end()) for m in _engine(text).finditer(text)]
