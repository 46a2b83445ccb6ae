"""Paired bootstrap intervals and seed statistics: how sure a difference between two models is.

>>> a = np.array([[1.0, 1.0, 1.0, 1.0]]); b = np.array([[0.0, 0.0, 0.0, 0.0]])
>>> r = paired_bootstrap(mean_stat(a), mean_stat(b), 4, n_boot=50)
>>> r["difference"], r["low"], r["high"], r["excludes_zero"]
(1.0, 1.0, 1.0, True)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

Stat = Callable[[np.ndarray], float]
"""item indices (N,) -> the statistic of one model on those items (mean over its seeds)"""


def mean_stat(values) -> Stat:
    """Mean over items, then over seeds. ``values``: (S, N) one row per seed (or (N,) for one seed)."""
    v = np.atleast_2d(np.asarray(values, dtype=np.float64))  # (S, N)
    return lambda idx: float(v[:, idx].mean(axis=1).mean())


def ratio_stat(numerators, denominators) -> Stat:
    """``sum(num) / sum(den)`` over items (e.g. bits / bytes), then the mean over seeds; (S, N) or (N,) each."""
    num = np.atleast_2d(np.asarray(numerators, dtype=np.float64))  # (S, N)
    den = np.atleast_2d(np.asarray(denominators, dtype=np.float64))  # (S, N)
    return lambda idx: float((num[:, idx].sum(axis=1) / den[:, idx].sum(axis=1)).mean())


def metric_stat(metric: Callable[[np.ndarray, np.ndarray], float], predictions: Sequence, labels) -> Stat:
    """A task metric (e.g. Pearson) of each seed's predictions on the items, then the mean over seeds.

    Args:
        metric: ``(labels (n,), predictions (n, ...)) -> float``.
        predictions: one array per seed, item-major.
        labels: (N,) the items' labels (the same for every seed).
    """
    preds = [np.asarray(p) for p in predictions]
    y = np.asarray(labels)
    return lambda idx: float(np.mean([metric(y[idx], p[idx]) for p in preds]))


def paired_bootstrap(stat_a: Stat, stat_b: Stat, n_items: int, *, n_boot: int = 1000, seed: int = 0,
                     level: float = 0.95) -> dict:
    """Interval of ``stat_a - stat_b`` over resamples of the ``n_items`` shared items (documents, minimal pairs,
    examples): the same resample for both models and every seed, the central ``level`` share of the resampled
    differences (percentile method).

    Returns:
        ``{"difference", "low", "high", "level", "n_items", "n_boot", "excludes_zero"}`` (difference on all
        items; a resample whose statistic is NaN, e.g. a constant prediction's correlation, is left out).
    """
    if n_items < 1:
        raise ValueError("paired_bootstrap needs at least one item")
    # subtle: scipy.stats.bootstrap (percentile, over item indices) draws these resamples and gives this interval
    # (tested), but one NaN resample makes its whole interval NaN and it refuses a single item
    rng = np.random.default_rng(seed)
    everything = np.arange(n_items)
    diff = stat_a(everything) - stat_b(everything)
    draws = np.array([stat_a(idx) - stat_b(idx) for idx in (rng.integers(0, n_items, n_items) for _ in range(n_boot))])
    draws = draws[~np.isnan(draws)]
    low, high = (np.quantile(draws, [(1 - level) / 2, (1 + level) / 2]) if len(draws) else (math.nan, math.nan))
    return {"difference": float(diff), "low": float(low), "high": float(high), "level": level, "n_items": n_items,
            "n_boot": n_boot, "excludes_zero": bool(low > 0 or high < 0)}


def seed_summary(values: Sequence[float]) -> dict:
    """``{"mean", "std", "min", "max", "n", "values"}`` of one number per seed (std: sample, 0 for one seed)."""
    v = np.asarray(list(values), dtype=np.float64)
    std = float(v.std(ddof=1)) if len(v) > 1 else 0.0
    return {"mean": float(v.mean()), "std": std, "min": float(v.min()), "max": float(v.max()), "n": int(len(v)),
            "values": [float(x) for x in v]}


def intervals_overlap(a: dict, b: dict) -> bool:
    """Whether the seed intervals mean +- std of two :func:`seed_summary` results overlap."""
    return not (a["mean"] - a["std"] > b["mean"] + b["std"] or b["mean"] - b["std"] > a["mean"] + a["std"])


__all__ = ["paired_bootstrap", "mean_stat", "ratio_stat", "metric_stat", "seed_summary", "intervals_overlap"]
