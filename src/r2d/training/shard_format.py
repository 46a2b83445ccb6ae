"""The shard files' format: names and version, and how one array is stored (ids in the smallest unsigned type that
holds the vocabulary, flags packed 8 to a byte along a row).
"""

from __future__ import annotations

import numpy as np

FORMAT_NAME = "r2d-shards"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"


def id_dtype(vocab_size: int) -> np.dtype:
    """The smallest unsigned integer type that holds ids ``0 .. vocab_size - 1``.

    >>> id_dtype(300), id_dtype(50265), id_dtype(70000)
    (dtype('uint16'), dtype('uint16'), dtype('uint32'))
    """
    for dt in (np.uint8, np.uint16, np.uint32):
        if vocab_size - 1 <= np.iinfo(dt).max:
            return np.dtype(dt)
    return np.dtype(np.uint64)


def flag_bytes(num_flags: int) -> int:
    """Bytes per row of packed flags."""
    return (num_flags + 7) // 8


def pack_flags(flags: np.ndarray) -> np.ndarray:
    """(N, F) 0/1 flags -> (N, ceil(F / 8)) uint8, the first flag in the high bit of the first byte."""
    return np.packbits(np.asarray(flags, dtype=bool), axis=1)


def unpack_flags(packed: np.ndarray, num_flags: int) -> np.ndarray:
    """The inverse of :func:`pack_flags`: (N, F) uint8 of 0/1."""
    return np.unpackbits(np.asarray(packed, dtype=np.uint8), axis=1, count=num_flags)


__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "MANIFEST", "id_dtype", "flag_bytes", "pack_flags", "unpack_flags"]
