"""Array plumbing of the tokenizer core: growable columns, ragged gathers, and the checks on decode's input.

Stage 4 of the pipeline, below :mod:`r2d.tokenizer.core`: numpy helpers with no knowledge of text or BPE.
:func:`flag_bits` is where the decoder says what flags it takes (0/1 or probabilities in [0, 1], never logits);
:func:`invalid_decode_input` holds ids and flags that a person gives (a file, a request) to more than that.
"""

from __future__ import annotations

import ctypes
import json
from itertools import chain
from typing import Any, Callable, Sequence

import numpy as np


class Column:
    """A growable 1-D numpy array (amortised doubling), for the piece and row tables."""

    def __init__(self, dtype):
        self._a = np.zeros(1024, dtype=dtype)
        self.n = 0

    def extend(self, values: np.ndarray) -> int:
        """Append ``values``; returns the index of the first one."""
        start, end = self.n, self.n + len(values)
        if end > len(self._a):
            grown = np.zeros(max(end, 2 * len(self._a)), dtype=self._a.dtype)
            grown[:start] = self._a[:start]
            self._a = grown
        self._a[start:end] = values
        self.n = end
        return start

    @property
    def array(self) -> np.ndarray:
        return self._a  # subtle: longer than n; callers index it only with valid indices


def addresses(objects: np.ndarray) -> np.ndarray:
    """(N,) uintp: where each item of an object array lives (what ``id()`` gives), read in one copy.

    An item whose address is that of an object the caller keeps alive is that object: no two live objects share
    an address. That tells, for a whole batch at once, which items are objects the caller made itself.
    """
    if objects.dtype != object or not objects.flags.c_contiguous:
        raise TypeError(f"addresses() reads a contiguous object array, got {objects.dtype}")
    out = np.empty(len(objects), dtype=np.uintp)
    ctypes.memmove(out.ctypes.data, objects.ctypes.data, out.nbytes)  # subtle: the array holds one pointer per item
    return out


def ragged(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Indices ``starts[0]:ends[0]``, ``starts[1]:ends[1]``, ... as one array."""
    lengths = ends - starts
    total = np.cumsum(lengths)
    return np.repeat(starts - (total - lengths), lengths) + np.arange(int(total[-1]) if len(total) else 0)


def flag_bits(flags: Any, num_flags: int) -> np.ndarray:
    """Flags as a model or the encoder gives them -> (N, F) bool: on where the value is 1 or >= 0.5.

    Accepted: 0/1 as bools or integers, or probabilities in [0, 1] (e.g. ``torch.sigmoid(logits)`` or a
    model's calibrated ``flag_probs``), thresholded at 0.5.

    Raises:
        ValueError: values outside [0, 1] (raw logits are the usual cause), NaN, or the wrong number of columns.
        TypeError: values that are not numbers.
    """
    f = to_numpy(flags)
    if f.ndim != 2 or f.shape[1] != num_flags:
        raise ValueError(f"flags must have shape (rows, {num_flags}) (one column per flag), got {tuple(f.shape)}")
    if f.dtype == bool:
        return f
    if f.dtype.kind not in "iuf":
        raise TypeError(f"flags must be 0/1 or probabilities in [0, 1], got dtype {f.dtype}")
    if f.size and not ((f >= 0) & (f <= 1)).all():
        bad = f[~((f >= 0) & (f <= 1))]
        raise ValueError(
            f"flags must be 0/1 or probabilities in [0, 1], got {bad.size} value(s) outside, e.g. {bad.flat[0].item()}: "
            f"to decode logits pass torch.sigmoid(logits) (or the model's flag_probs)")
    return f >= 0.5 if f.dtype.kind == "f" else f.astype(bool)


def invalid_decode_input(ids: Sequence[int], flags: Sequence[Sequence[float]] | None, vocab_size: int
                         ) -> tuple[str, str] | None:
    """The first id or flag value of given decode input that is not what it claims to be, as ``(field, reason)``.

    ``decode`` is total on model output: an id outside the vocabulary becomes a ``<unk>`` row. Ids and flags that
    a person gives (``r2d decode``'s file, the playground's request) are held to more: an id outside the
    vocabulary, or a flag that is not 0/1 or a probability in [0, 1] (NaN is neither), is a mistake to report
    with its place rather than decode around.

    Args:
        ids: (T,) Python integers (of any size).
        flags: (T, F) Python numbers, or ``None``. Types and shapes are the caller's to check first.
        vocab_size: ids run from 0 to ``vocab_size - 1``.

    Returns:
        ``(field, reason)``, the field with its position as in the JSON, or ``None`` when all is well.

    >>> invalid_decode_input([0, 999, 2], [[0, 1], [0, 1], [0, 0.5]], 300)
    ('input_ids[1]', '999 is not an id of the vocabulary (0 to 299)')
    >>> invalid_decode_input([0, 5, 2], [[0, 1], [0, 3], [0, 0.5]], 300)
    ('flags[1][1]', '3 is not 0/1 or a probability in [0, 1]')
    """
    for k, i in enumerate(ids):
        if not 0 <= i < vocab_size:
            return f"input_ids[{k}]", f"{i} is not an id of the vocabulary (0 to {vocab_size - 1})"
    for k, row in enumerate(flags or ()):
        for j, v in enumerate(row):
            if not 0 <= v <= 1:  # subtle: False for NaN too
                return f"flags[{k}][{j}]", f"{json.dumps(v)} is not 0/1 or a probability in [0, 1]"
    return None


def to_numpy(x: Any) -> np.ndarray:
    """A list, numpy array or torch tensor (on any device, bfloat16 included) as a numpy array."""
    if hasattr(x, "detach"):  # a torch tensor, maybe on a GPU, maybe bfloat16
        x = x.detach().cpu()
        if x.is_floating_point():
            x = x.float()
        return x.numpy()
    return np.asarray(x)


def as_ids(ids: np.ndarray) -> np.ndarray:
    """Ids as int64; Python integers too big for int64 become -1 (outside the vocabulary, like any bad id).

    Raises:
        TypeError: the ids are not integers.
    """
    if ids.dtype.kind in "iub" or ids.size == 0:
        return ids.astype(np.int64, copy=False)
    if ids.dtype == object and all(isinstance(i, int) for i in ids.tolist()):  # Python ints too big for int64
        return np.array([i if -2**62 < i < 2**62 else -1 for i in ids.tolist()], dtype=np.int64)
    raise TypeError(f"ids must be integers, got dtype {ids.dtype}")


def flatten_batch(x: Any, what: str, ndim: int | None = None,
                  known_rows: Callable[[list], np.ndarray | None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A batch -> (the rows of all its items, one after the other; (B + 1,) int64 item boundaries).

    Args:
        x: one array or tensor with a batch axis ((B, T) or (B, T, F)), or a sequence of B items (lists,
            arrays or tensors) of different lengths.
        what: the argument's name, for error messages.
        ndim: dimensions of one item (1 for ids, 2 for flags); ``None``: taken from the first item.
        known_rows: rows (a list of tuples) -> their values as one array, when every row is a tuple the caller
            made itself (the tokenizer's shared flag rows), read without looking at their values; else ``None``.
    """
    if hasattr(x, "shape"):
        a = to_numpy(x)
        if ndim is not None and a.ndim != ndim + 1:
            raise ValueError(f"{what} must have {ndim + 1} dimensions for a batch, got shape {tuple(a.shape)}")
        return a.reshape(-1, *a.shape[2:]), np.arange(a.shape[0] + 1, dtype=np.int64) * a.shape[1]
    x = list(x)
    starts = np.concatenate(([0], np.cumsum(list(map(len, x)), dtype=np.int64)))
    if all(type(i) in (list, tuple) for i in x):  # Python lists: one conversion for the whole batch
        rows = list(chain.from_iterable(x))
        flat = _rows_to_array(rows, what, known_rows) if rows else np.zeros((0,) * (ndim or 1), dtype=np.int64)
        if ndim is not None and rows and flat.ndim != ndim:
            raise ValueError(f"{what} must hold {ndim}-dimensional items, got rows of shape {tuple(flat.shape[1:])}")
        return flat, starts
    items = x if {type(i) for i in x} == {np.ndarray} else [to_numpy(i) for i in x]
    if ndim is None:
        ndim = max((a.ndim for a in items), default=1)
    for k, a in enumerate(items):
        if a.ndim != ndim and a.size:
            raise ValueError(f"{what}[{k}] must have {ndim} dimension(s), got shape {tuple(a.shape)}")
    full = [a for a in items if a.size]
    if not full:
        return np.zeros((0,) * ndim, dtype=np.int64), starts
    return np.concatenate(full), starts


def _rows_to_array(rows: list, what: str, known_rows: Callable[[list], np.ndarray | None] | None = None
                   ) -> np.ndarray:
    """Python values (numbers, or rows of numbers) -> an array; repeated row tuples are converted once."""
    if known_rows is not None and isinstance(rows[0], tuple):
        found = known_rows(rows)
        if found is not None:
            return found
    if isinstance(rows[0], tuple):
        try:
            index = {r: i for i, r in enumerate(dict.fromkeys(rows))}  # the tokenizer's rows are shared tuples
        except TypeError:
            index = None
        if index is not None:
            return _array(list(index), what)[np.fromiter(map(index.__getitem__, rows), dtype=np.int64, count=len(rows))]
    return _array(rows, what)


def _array(values: list, what: str) -> np.ndarray:
    try:
        return np.array(values)
    except ValueError:
        raise ValueError(f"{what}: its rows have different lengths") from None
