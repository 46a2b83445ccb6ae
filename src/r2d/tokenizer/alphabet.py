"""The byte-level alphabet of the root BPE, and the vocabulary's fixed tokens.

How a root becomes the string the BPE sees (GPT-2's 256 printable byte characters after the word-start marker
``▁``) and how a vocabulary entry becomes bytes again; RoBERTa's special tokens.

>>> root_to_symbols("héllo")
'▁hÃ©llo'
>>> token_bytes("▁hÃ©llo").decode()
'héllo'
"""

from __future__ import annotations

import functools

WORD_START = "\u2581"  # ▁ : outside the byte-level alphabet, so it can never be confused with a byte
SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>")
MASK_TOKEN = "<mask>"


@functools.lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table (the byte-level BPE alphabet: 256 characters)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    table, n = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + n)
            n += 1
    return table


@functools.lru_cache(maxsize=1)
def unicode_to_bytes() -> dict[str, int]:
    """Inverse of :func:`bytes_to_unicode`."""
    return {c: b for b, c in bytes_to_unicode().items()}


def root_to_symbols(root: str) -> str:
    """The string the BPE sees for one root: the word-start marker, then the root's UTF-8 bytes as characters."""
    # subtle: decoding UTF-8 bytes as latin-1 gives one character per byte, which translate() maps in C
    # surrogatepass: a Python string may hold lone surrogates, and they must round-trip too
    return WORD_START + root.encode("utf-8", "surrogatepass").decode("latin-1").translate(bytes_to_unicode())


def token_bytes(token: str) -> bytes:
    """The bytes a vocabulary entry stands for (its word-start marker dropped); special tokens as their text."""
    if token in SPECIAL_TOKENS or token == MASK_TOKEN:
        return token.encode()
    table = unicode_to_bytes()
    body = token[1:] if token.startswith(WORD_START) else token
    return bytes(table[c] for c in body if c in table)
