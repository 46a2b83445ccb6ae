"""Step 2's layout on flat arrays: truncation, special rows and pairs, padding.

Stage 4 of the pipeline, the arithmetic behind the Hugging Face-compatible wrapper (:mod:`r2d.tokenizer.hf`).
Texts encoded by :mod:`r2d.tokenizer.core` (flat ids and flag rows with per-text boundaries) are cut to fit,
laid out as RoBERTa's ``<s> A </s>`` / ``<s> A </s></s> B </s>`` and padded, with vectorised numpy over the
whole batch. This module reads no text, runs no BPE and makes no tensors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from r2d.tokenizer.core import Encoded

# What each per-row key is padded with (flags pad with all-zero rows; other keys with 0).
PAD_VALUES = {"attention_mask": 0, "special_tokens_mask": 1, "token_type_ids": 0, "offset_mapping": 0,
              "labels": -100, "flag_labels": -100}


def truncate(la: np.ndarray, lb: np.ndarray | None, room: int, strategy: str) -> tuple[np.ndarray, np.ndarray | None]:
    """How many rows of each text (and of its pair) to keep so that together they fit ``room`` rows.

    Args:
        la: (B,) rows of the first texts.
        lb: (B,) rows of the second texts, or ``None``.
        room: rows left for text once the special rows are counted.
        strategy: ``"longest_first"`` (take rows from the longer one, one at a time; ties: from the first),
            ``"only_first"`` or ``"only_second"``. Without pairs, the text is cut to ``room``.

    Raises:
        ValueError: ``only_first``/``only_second`` and the other text alone does not fit.
    """
    if lb is None:
        return np.minimum(la, room), None
    if strategy in ("only_first", "only_second"):
        cut, other = (la, lb) if strategy == "only_first" else (lb, la)
        if (other > room).any():
            which = "second" if strategy == "only_first" else "first"
            raise ValueError(f"truncation={strategy!r} cannot fit: the {which} text alone has {int(other.max())} "
                             f"rows, room is {room}")
        kept = np.minimum(cut, room - other)
        return (kept, lb) if strategy == "only_first" else (la, kept)
    # Closed form of the one-row-at-a-time loop: the longer text is cut down to the shorter one's length (or
    # to what room leaves beside the shorter one); past that both are cut in turn, the first losing the odd row.
    fits = la + lb <= room
    ka = np.where(fits, la, np.where((la >= lb) & (2 * lb <= room), room - lb,
                                     np.where((lb > la) & (2 * la <= room), la, room // 2)))
    return ka, np.where(fits, lb, room - ka)


@dataclass(frozen=True)
class Layout:
    """Rows of a batch laid out with special rows: text ``b`` owns rows ``starts[b]:starts[b + 1]``.

    Attributes:
        ids: (N,) int64 ids. flag_rows: (N,) indices into the core's flag table (0 = all off).
        special: (N,) int64 1 on special rows. offsets: (N, 2) int64 spans (``(0, 0)`` on special rows) or None.
        starts: (B + 1,) int64.
    """

    ids: np.ndarray
    flag_rows: np.ndarray
    special: np.ndarray
    offsets: np.ndarray | None
    starts: np.ndarray

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.starts)


def lay_out(a: Encoded, b: Encoded | None, keep_a: np.ndarray, keep_b: np.ndarray | None, *,
            add_special_tokens: bool, bos: int, eos: int) -> Layout:
    """``<s> A </s>`` or ``<s> A </s></s> B </s>`` per text (just ``A`` / ``A B`` without special tokens).

    Args:
        a, b: the encoded first and second texts (``b`` may be ``None``).
        keep_a, keep_b: (B,) rows of each to keep (from :func:`truncate`).
        add_special_tokens: add the ``<s>``/``</s>`` rows.
        bos, eos: their ids.
    """
    pre = post = int(add_special_tokens)
    mid = 2 * int(add_special_tokens) if b is not None else 0
    kb = keep_b if b is not None else np.zeros_like(keep_a)
    lengths = keep_a + kb + pre + mid + post  # (B,)
    starts = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    n = int(starts[-1])
    ids = np.full(n, eos, dtype=np.int64)
    if add_special_tokens:
        ids[starts[:-1]] = bos
    flag_rows = np.zeros(n, dtype=np.int32)
    special = np.ones(n, dtype=np.int64)
    with_offsets = a.offsets is not None
    offsets = np.zeros((n, 2), dtype=np.int64) if with_offsets else None
    for enc, keep, shift in ((a, keep_a, pre), (b, kb, pre + keep_a + mid)):
        if enc is None:
            continue
        rows = np.arange(len(enc.ids)) - np.repeat(enc.starts[:-1], enc.lengths)  # row number inside its text
        kept = rows < np.repeat(keep, enc.lengths)
        dest = (np.repeat(starts[:-1] + shift, enc.lengths) + rows)[kept]  # shift: scalar or (B,)
        ids[dest] = enc.ids[kept]
        flag_rows[dest] = enc.flag_rows[kept]
        special[dest] = 0
        if with_offsets:
            offsets[dest] = enc.offsets[kept]
    return Layout(ids, flag_rows, special, offsets, starts)


def padded_length(lengths: np.ndarray, strategy: str, max_length: int | None, multiple: int | None) -> int:
    """The length to pad every text to: the longest (``"longest"``) or ``max_length``, rounded up to ``multiple``."""
    if strategy == "max_length":
        if max_length is None:
            raise ValueError("padding='max_length' needs max_length")
        target = max(int(max_length), int(lengths.max(initial=0)))
    else:
        target = int(lengths.max(initial=0))
    if multiple:
        target = -(-target // multiple) * multiple
    return target


def pad(flat: np.ndarray, starts: np.ndarray, length: int, fill: Any) -> np.ndarray:
    """Rows of B texts (``flat`` (N, ...), ``starts`` (B + 1,)) -> (B, length, ...) filled with ``fill`` after each."""
    lengths = np.diff(starts)
    out = np.full((len(lengths), length, *flat.shape[1:]), fill, dtype=flat.dtype)
    out[np.arange(length) < lengths[:, None]] = flat
    return out


def split(values: list, starts: np.ndarray) -> list[list]:
    """A flat list -> one list per text."""
    b = starts.tolist()
    return [values[s:e] for s, e in zip(b[:-1], b[1:])]
