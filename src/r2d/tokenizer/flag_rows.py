"""The distinct flag rows a tokenizer has met, numbered for encoding and keyed by flag code for decoding.

A flag row is a tuple of F 0/1 values. Encoding numbers every row it makes (``table[number]`` is the row), so a
batch stores one int32 per row; decoding keys a row by its flag code times the vocabulary size V (bit j of the
code = flag j), so ``key + id`` names a (flag row, id) pair with one integer. The rows encoding gives out are
shared tuples (one per distinct row), which decoding recognises by identity, a whole batch at once.
"""

from __future__ import annotations

from itertools import chain
from typing import Iterable, Sequence

import numpy as np

from r2d.tokenizer.arrays import addresses

MAX_ROW_KEYS = 1 << 12  # flag rows remembered as tuples (the flag rows of encoding always are)


class FlagRows:
    """Distinct flag rows: ``table`` (K, F) uint8 (row 0 all zeros), their numbers and their keys."""

    def __init__(self, num_flags: int, vocab_size: int):
        self.num_flags = num_flags
        self._vocab = vocab_size
        self.small_codes = vocab_size << num_flags < 1 << 62  # code * V fits in int64
        self.number: dict[tuple[int, ...], int] = {}  # flag row -> its row in the table
        # flag rows as tuples of 0/1 (the tokenizer's own and others seen) -> their code times V; bounded by
        # MAX_ROW_KEYS; never replaced (decoding holds on to it)
        self.key: dict[tuple, int] = {}
        self.tuples: list[tuple[int, ...]] = []
        # tuple objects met (the tokenizer's own and others), by address: (the tuple, kept alive; its key); the
        # same sorted by address, as arrays: how whole batches of rows are read by identity (see keys_by_identity)
        self._met: dict[int, tuple[tuple, int]] = {}
        self._addresses = np.zeros(0, dtype=np.uintp)
        self._met_keys = np.zeros(0, dtype=np.int64)
        self.add((0,) * num_flags)

    def __getstate__(self) -> dict:
        # subtle: addresses mean nothing in another process: the copy remembers its own tuples afresh
        return {k: v for k, v in self.__dict__.items() if k not in ("_met", "_addresses", "_met_keys", "objects")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.objects = _object_array(self.tuples)
        self._met, self._addresses, self._met_keys = {}, np.zeros(0, dtype=np.uintp), np.zeros(0, dtype=np.int64)
        self._remember(self.tuples, [self.key[t] for t in self.tuples])

    def add(self, row: tuple[int, ...]) -> None:
        """Give ``row`` the next number."""
        # subtle: new tables, not grown ones: Encoded batches keep the table they were made with
        self.number[row] = len(self.tuples)
        self.key[row] = sum(1 << j for j, v in enumerate(row) if v) * self._vocab
        self.tuples.append(row)
        self.table = np.array(self.tuples, dtype=np.uint8).reshape(-1, self.num_flags)
        self.objects = _object_array(self.tuples)  # the same tuples, for fast gathers
        self._remember([row], [self.key[row]])

    def keys_by_identity(self, rows: Iterable, count: int) -> np.ndarray | None:
        """(count,) int64 ``code * V`` of ``count`` flag rows, read by identity when every one is a tuple of 0/1
        met before (encoding gives out one tuple per distinct row) or now: one look at the whole batch, none at
        the values of rows met before. ``None`` for anything else (lists, other values, too many tuples)."""
        if not self.small_codes:
            return None
        objects = np.fromiter(rows, dtype=object, count=count)
        where = addresses(objects)
        for attempt in range(2):
            at = np.minimum(np.searchsorted(self._addresses, where), len(self._addresses) - 1)
            hit = self._addresses[at] == where  # subtle: safe: a tuple met is kept alive, so none other has its address
            if hit.all():
                return self._met_keys[at]
            miss = np.flatnonzero(~hit)
            new = objects[miss[np.unique(where[miss], return_index=True)[1]]].tolist()
            if attempt or len(self._met) + len(new) > MAX_ROW_KEYS or {type(r) for r in new} != {tuple}:
                return None
            keys = self.keys_of_bits(new)
            if keys is None:
                return None
            self._remember(new, keys)
        return None

    def _remember(self, rows: list[tuple], keys: list[int]) -> None:
        self._met.update((id(r), (r, k)) for r, k in zip(rows, keys))
        where = np.fromiter(self._met, dtype=np.uintp, count=len(self._met))
        order = np.argsort(where)
        self._addresses = where[order]
        if self.small_codes:
            self._met_keys = np.array([k for _, k in self._met.values()], dtype=np.int64)[order]

    def values_by_identity(self, rows: list) -> np.ndarray | None:
        """(N, F) uint8 the values of flag rows read by identity (see :meth:`keys_by_identity`), else ``None``."""
        keys = self.keys_by_identity(rows, len(rows))
        if keys is None:
            return None
        return ((keys // self._vocab)[:, None] >> np.arange(self.num_flags)).astype(np.uint8) & 1  # (N, F)

    def key_array(self, batch: Sequence[Sequence], count: int) -> np.ndarray | None:
        """(count,) int64 ``code * V`` of the flag rows of a batch of texts (0/1 sequences per row), or ``None``."""
        keys = self.keys_by_identity(chain.from_iterable(batch), count)
        if keys is not None:  # tuples (what encoding gives out)
            return keys
        codes = self.keys_of_bits(list(chain.from_iterable(batch)))  # lists, as datasets gives them back
        return None if codes is None else np.array(codes, dtype=np.int64)

    def keys_of_bits(self, rows: list) -> list[int] | None:
        """``code * V`` of flag rows given as sequences of integers 0/1 (tuples not seen before, lists from
        ``datasets`` or JSON), else ``None``. New tuples are remembered while there is room."""
        try:
            new = list(set(rows).difference(self.key))
        except TypeError:  # lists
            return self._bit_keys(rows)
        codes = self._bit_keys(new)
        if codes is None:
            return None
        if len(self.key) + len(new) <= MAX_ROW_KEYS:
            self.key.update(zip(new, codes))
            return list(map(self.key.__getitem__, rows))
        known = dict(zip(new, codes))
        return list(map(known.get, rows, map(self.key.get, rows)))

    def _bit_keys(self, rows: Sequence) -> list[int] | None:
        try:
            if rows and set(map(len, rows)) != {self.num_flags}:
                return None
            raw = bytes(chain.from_iterable(rows))  # subtle: refuses floats and anything but integers 0-255
        except (TypeError, ValueError):
            return None
        if raw.translate(None, b"\0\1"):  # a value other than 0 and 1
            return None
        return self.code_keys(np.frombuffer(raw, dtype=np.uint8).reshape(len(rows), self.num_flags).view(bool)
                              ).tolist()

    def code_keys(self, bits: np.ndarray) -> np.ndarray:
        """(N, F) bool -> (N,) each row's flag code times V: int64, or Python ints (an object array) where that
        would not fit in int64."""
        packed = np.packbits(bits, axis=1, bitorder="little")  # (N, ceil(F / 8)) uint8
        if not packed.shape[1]:
            return np.zeros(len(bits), dtype=np.int64)
        if self.small_codes:
            if packed.shape[1] == 1:  # up to 8 flags (the default schema has 7)
                return packed[:, 0].astype(np.int64) * self._vocab
            weights = np.left_shift(1, 8 * np.arange(packed.shape[1], dtype=np.int64))
            return (packed.astype(np.int64) @ weights) * self._vocab
        return np.array([int.from_bytes(r, "little") * self._vocab for r in map(bytes, packed)] + [None],
                        dtype=object)[:-1]


def _object_array(items: list) -> np.ndarray:
    """(N,) object array of ``items`` as they are (tuples stay items, not rows of a 2D array)."""
    out = np.empty(len(items), dtype=object)
    for i, x in enumerate(items):
        out[i] = x
    return out
