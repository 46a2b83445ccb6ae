"""Tests for r2d.evaluation.bootstrap: known answers for the statistics and the paired interval."""

from __future__ import annotations

import numpy as np
import pytest

from r2d.evaluation.bootstrap import (intervals_overlap, mean_stat, metric_stat, paired_bootstrap, ratio_stat,
                                      seed_summary)


def test_statistics_known_answers():
    idx = np.array([0, 1, 1])
    assert mean_stat([[1, 0, 1], [1, 1, 1]])(idx) == pytest.approx((1 / 3 + 1) / 2)  # per seed, then the mean
    assert ratio_stat([[2, 4, 6]], [[1, 1, 2]])(np.arange(3)) == pytest.approx(12 / 4)  # not the mean of ratios
    first = metric_stat(lambda y, p: float(p[0] == y[0]), [np.array([1, 0]), np.array([0, 0])], [1, 1])
    assert first(np.array([0, 1])) == pytest.approx(0.5)


def test_paired_interval_sees_a_small_consistent_difference():
    """Paired: a constant +0.01 on every item is certain, although item spread is 100x larger."""
    rng = np.random.default_rng(0)
    base = rng.normal(0, 1, 500)
    r = paired_bootstrap(mean_stat(base + 0.01), mean_stat(base), 500, n_boot=200)
    assert r["difference"] == pytest.approx(0.01) and r["excludes_zero"]
    assert r["low"] == pytest.approx(0.01) and r["high"] == pytest.approx(0.01)


def test_paired_interval_of_noise_includes_zero():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 400), rng.normal(0, 1, 400)
    r = paired_bootstrap(mean_stat(a), mean_stat(b), 400, n_boot=300, seed=3)
    assert r["low"] < r["difference"] < r["high"] and not r["excludes_zero"]
    assert r == paired_bootstrap(mean_stat(a), mean_stat(b), 400, n_boot=300, seed=3)  # seeded


def test_seed_summary_and_overlap():
    s = seed_summary([1.0, 2.0, 3.0])
    assert (s["mean"], s["std"], s["min"], s["max"], s["n"]) == (2.0, 1.0, 1.0, 3.0, 3)
    assert seed_summary([5.0])["std"] == 0.0
    assert intervals_overlap(seed_summary([1.0, 2.0]), seed_summary([2.0, 3.0]))
    assert not intervals_overlap(seed_summary([1.0, 1.1]), seed_summary([2.0, 2.1]))


def test_the_interval_is_scipys_percentile_bootstrap_of_the_same_resamples():
    """The paired ratio statistic over item indices: the same draws and interval as ``scipy.stats.bootstrap``."""
    from scipy import stats

    rng = np.random.default_rng(2)
    den = rng.integers(100, 3000, (3, 300)).astype(float)  # bytes per document, 3 seeds
    a = ratio_stat(den * rng.uniform(0.9, 1.2, den.shape), den)  # bits / bytes of model a
    b = ratio_stat(den * rng.uniform(0.9, 1.3, den.shape), den)
    r = paired_bootstrap(a, b, 300, n_boot=400, seed=5, level=0.9)
    ci = stats.bootstrap((np.arange(300),), lambda idx: a(idx) - b(idx), vectorized=False, n_resamples=400,
                         method="percentile", confidence_level=0.9, rng=np.random.default_rng(5)).confidence_interval
    assert (r["low"], r["high"]) == pytest.approx((ci.low, ci.high), rel=1e-12)


def test_resamples_whose_statistic_is_nan_are_left_out():
    """A resample of only constant predictions has no correlation (NaN): left out, where scipy's interval is NaN."""
    y = np.array([0.0, 0.0, 0.0, 1.0, 1.0])
    p = np.array([0.1, 0.1, 0.1, 0.1, 0.9])
    corr = lambda t, q: float(np.corrcoef(t, q)[0, 1])  # noqa: E731
    with np.errstate(invalid="ignore", divide="ignore"):
        r = paired_bootstrap(metric_stat(corr, [p], y), lambda idx: 0.0, 5, n_boot=200)
    assert np.isfinite([r["low"], r["high"]]).all() and r["low"] <= r["difference"] <= r["high"]
