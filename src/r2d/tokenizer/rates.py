"""Flag rates: how often each flag is on, over the rows (or words) a tokenizer makes of a text sample.

Stage: ``ids + flag matrix -> rates``, the one place they are counted. Pretraining turns rates into the flag
loss's ``pos_weight`` (:func:`pos_weight`, :func:`pos_weights`); ``r2d stats`` and the demo print them next to
the article's.
Only numpy; it calls the tokenizer it is given and never trains or loads anything.

>>> import numpy as np
>>> ids = [[0, 10, 11, 2]]                                         # <s> two rows </s>
>>> flags = [np.array([[0, 0], [1, 0], [1, 1], [0, 0]])]          # (T, F)
>>> flag_rates_from_rows(ids, flags, special_ids=[0, 2], names=["NoSpace", "FirstCap"])
{'NoSpace': 1.0, 'FirstCap': 0.5}
>>> pos_weights({"NoSpace": 0.25, "FirstCap": 0.0}, ["NoSpace", "FirstCap"])
[3.0, 100.0]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np


def flag_rates_from_rows(ids_list: Iterable[Sequence[int]], flags_list: Iterable[np.ndarray],
                         special_ids: Iterable[int], names: Sequence[str], *,
                         word_start: np.ndarray | None = None) -> dict[str, float]:
    """Rate of each flag over the non-special rows of already tokenized texts.

    Args:
        ids_list: sequences of ids (T_i,).
        flags_list: matching flag matrices (T_i, F).
        special_ids: ids whose rows are not counted (``<s>``, ``</s>``, ``<pad>``, ...).
        names: the F flag names.
        word_start: None to count every row (what a per-row loss sees), or a boolean array over the
            vocabulary (V,) that is True for ids that start a word: then only a word's first row counts,
            one count per word.

    Returns:
        ``{name: fraction of counted rows with the flag on}`` in ``names`` order (0.0 for every flag if
        nothing was counted).
    """
    on, n = _count(zip(ids_list, flags_list), special_ids, len(names), word_start)
    return {name: (float(on[i]) / n if n else 0.0) for i, name in enumerate(names)}


def _count(rows: Iterable[tuple[Sequence[int], np.ndarray]], special_ids: Iterable[int], num_flags: int,
           word_start: np.ndarray | None) -> tuple[np.ndarray, int]:
    """(rows with each flag on (F,), rows counted) over ``(ids (T,), flags (T, F))`` pairs."""
    special = np.asarray(sorted({int(i) for i in special_ids}), dtype=np.int64)
    on = np.zeros(num_flags, dtype=np.int64)
    n = 0
    for ids, flags in rows:
        ids = np.asarray(ids, dtype=np.int64)  # (T,)
        if not len(ids):
            continue
        keep = ~np.isin(ids, special)  # (T,)
        if word_start is not None:
            keep &= np.asarray(word_start, dtype=bool)[ids]
        on += np.asarray(flags).reshape(len(ids), num_flags)[keep].astype(bool).sum(0)  # (F,)
        n += int(keep.sum())
    return on, n


def flag_rates(tok, texts: Sequence[str], *, per: str = "row", batch_size: int = 1000) -> dict[str, float]:
    """Share of rows (or words) with each flag on, over the non-special rows of ``texts``.

    Args:
        tok: an :class:`r2d.tokenizer.hf.R2DTokenizer`.
        texts: the sample.
        per: ``"row"`` (every BPE row counts; what a per-row loss sees) or ``"word"`` (one count per word).
        batch_size: texts per call of the tokenizer.

    Returns:
        ``{flag name: rate}`` in schema order; rates are 0.0 for an empty sample.
    """
    if per not in ("row", "word"):
        raise ValueError(f"per={per!r}: expected 'row' or 'word'")
    texts = list(texts)

    def rows():
        for i in range(0, len(texts), batch_size):
            enc = tok(texts[i:i + batch_size], add_special_tokens=False)
            yield from zip(enc["input_ids"], enc["flags"])

    on, n = _count(rows(), tok.all_special_ids, tok.num_flags, tok.word_start if per == "word" else None)
    return {name: (float(on[i]) / n if n else 0.0) for i, name in enumerate(tok.flag_names)}


def pos_weight(rate: float, max_weight: float = 100.0) -> float:
    """BCE ``pos_weight`` of a flag on at ``rate`` p: ``(1 - p) / p`` clamped to ``[1, max_weight]``
    (``max_weight`` when p = 0; the article: rare flags with weights above ~1000 hurt)."""
    p = float(rate)
    return float(min(max_weight, max(1.0, (1 - p) / p))) if p > 0 else float(max_weight)


def pos_weights(rates: Mapping[str, float] | Sequence[float], names: Sequence[str] | None = None,
                max_weight: float = 100.0) -> list[float]:
    """:func:`pos_weight` per flag.

    Args:
        rates: ``{name: p}`` (then ``names`` gives the order; a missing name counts as 0) or rates in order.
        names: the flag order for a mapping.
        max_weight: the clamp.
    """
    ps = [rates.get(n, 0.0) for n in names] if isinstance(rates, Mapping) else list(rates)
    return [pos_weight(p, max_weight) for p in ps]
