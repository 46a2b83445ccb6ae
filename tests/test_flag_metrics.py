"""Tests for r2d.training.flag_metrics: per-flag scores worked out by hand (ignored entries, the 0.5 edge)."""

from __future__ import annotations

import numpy as np
import pytest

from r2d.training.flag_metrics import always_on_f1, binary_prf, flag_metrics

# (1, 4, 2): flag a is scored on the first three rows (row 4 is -100); flag b is never on
PROBS = np.array([[[0.5, 0.2], [0.49, 0.2], [0.9, 0.2], [0.1, 0.2]]])
LABELS = np.array([[[1, 0], [1, 0], [0, 0], [-100, 0]]])


def test_flag_metrics_by_hand():
    m = flag_metrics(PROBS, LABELS, ["a", "b"])
    # a: on at 0.5 and 0.9 -> TP 1 (row 1), FN 1 (row 2: 0.49), FP 1 (row 3); row 4 ignored
    assert m["precision_a"] == m["recall_a"] == m["f1_a"] == pytest.approx(0.5)
    assert m["support_a"] == 2
    assert m["always_on_f1_a"] == pytest.approx(2 * 2 / (3 + 2))  # 2 positives of 3 scored rows: 2p / (1 + p)
    # b: no positive predicted or gold: 0, not NaN
    assert m["precision_b"] == m["recall_b"] == m["f1_b"] == m["always_on_f1_b"] == 0.0
    assert m["support_b"] == 0
    assert m["macro_f1"] == pytest.approx(0.25)


def test_entries_are_ignored_one_by_one_and_tensors_are_read():
    import torch

    labels = np.array([[1, -100], [-100, 1], [0, 1]])
    scores = np.array([[1, 1], [1, 0], [0, 1]])
    m = binary_prf(torch.tensor(scores), torch.tensor(labels), ["x", "y"])
    assert (m["precision_x"], m["recall_x"], m["support_x"]) == (1.0, 1.0, 1)  # rows 1 and 3
    assert (m["precision_y"], m["recall_y"], m["f1_y"]) == pytest.approx((1.0, 0.5, 2 / 3))  # rows 2 and 3
    assert flag_metrics(torch.tensor(PROBS, dtype=torch.bfloat16), torch.tensor(LABELS), ["a", "b"])["f1_a"] == \
        pytest.approx(0.5)


def test_threshold_is_explicit():
    labels = np.array([[1], [0]])
    assert binary_prf(np.array([[0.0], [-1.0]]), labels, ["x"], threshold=0.0)["f1_x"] == 1.0  # logits
    assert binary_prf(np.array([[0.0], [-1.0]]), labels, ["x"])["f1_x"] == 0.0  # the same, read as probabilities


def test_always_on_f1_of_empty_and_full_columns():
    labels = np.array([[-100, 1, 1], [-100, 1, 0], [-100, 1, 0], [-100, 1, 0]])
    assert always_on_f1(labels, ["none", "all", "quarter"]) == {
        "always_on_f1_none": 0.0, "always_on_f1_all": 1.0, "always_on_f1_quarter": pytest.approx(2 * 0.25 / 1.25)}
