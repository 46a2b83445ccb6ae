"""Tests for r2d.training.metrics: known values by hand and against scipy / scikit-learn on fixed predictions."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from r2d.training.metrics import METRICS, compute_task_metrics, make_compute_metrics, metric_names
from r2d.training.tasks import TASKS, Task


def test_hand_computed_binary_case():
    # y = 1 1 1 0 0 ; p = 1 1 0 0 1  ->  TP=2 FN=1 TN=1 FP=1
    y = np.array([1, 1, 1, 0, 0])
    logits = np.array([[0, 1], [0, 2], [3, 1], [1, 0], [-1, 1]], dtype=float)
    m = compute_task_metrics("mrpc", logits, y)
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["f1"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))  # 2TP / (2TP + FP + FN) = 4/6
    mcc = (2 * 1 - 1 * 1) / math.sqrt((2 + 1) * (2 + 1) * (1 + 1) * (1 + 1))  # (TP TN - FP FN) / sqrt(...) = 1/6
    assert compute_task_metrics("cola", logits, y)["matthews_correlation"] == pytest.approx(mcc)


def test_hand_computed_regression_case():
    # perfectly monotone but not linear: spearman 1, pearson < 1
    y = np.array([0.0, 1.0, 2.0, 3.0])
    p = np.array([[0.0], [1.0], [4.0], [9.0]])
    m = compute_task_metrics("stsb", p, y)
    assert m["spearmanr"] == pytest.approx(1.0)
    expected = np.corrcoef([0, 1, 4, 9], [0, 1, 2, 3])[0, 1]
    assert m["pearson"] == pytest.approx(expected) and m["pearson"] < 0.99


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_against_sklearn_and_scipy(seed: int):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=200)
    logits = rng.normal(size=(200, 2)) + np.eye(2)[y] * 0.8
    p = logits.argmax(-1)
    cola = compute_task_metrics("cola", logits, y)
    assert cola["matthews_correlation"] == pytest.approx(matthews_corrcoef(y, p))
    assert cola["accuracy"] == pytest.approx(accuracy_score(y, p))
    assert compute_task_metrics("mrpc", logits, y)["f1"] == pytest.approx(f1_score(y, p))
    y3 = rng.integers(0, 3, size=200)
    l3 = rng.normal(size=(200, 3))
    assert compute_task_metrics("mnli", l3, y3) == {"accuracy": pytest.approx(accuracy_score(y3, l3.argmax(-1)))}
    ys = rng.uniform(0, 5, size=200)
    ps = ys + rng.normal(size=200)
    s = compute_task_metrics("stsb", ps[:, None], ys)
    assert s["pearson"] == pytest.approx(pearsonr(ps, ys)[0])
    assert s["spearmanr"] == pytest.approx(spearmanr(ps, ys)[0])


def test_constant_regression_prediction_is_zero_not_nan():
    assert compute_task_metrics("stsb", np.ones(4), np.arange(4.0)) == {"pearson": 0.0, "spearmanr": 0.0}


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="3 predictions for 2 labels"):
        compute_task_metrics("sst2", np.zeros(3, dtype=int), np.zeros(2, dtype=int))


def test_trainer_wrapper_and_names():
    from transformers import EvalPrediction

    fn = make_compute_metrics("cola")
    ep = EvalPrediction(predictions=(np.array([[0.0, 1.0], [1.0, 0.0]]), np.zeros(2)), label_ids=np.array([1, 1]))
    assert fn(ep) == {"matthews_correlation": 0.0, "accuracy": 0.5}
    assert metric_names("cola")[0] == "matthews_correlation"
    assert metric_names("stsb") == ("pearson", "spearmanr")
    assert metric_names("rte") == ("accuracy",)


def test_a_task_is_scored_by_its_own_metrics_not_by_its_name():
    # a new task, unknown to any name table: F1 then accuracy because the task says so
    task = dataclasses.replace(TASKS["rte"], name="my_paraphrase", metrics=("f1", "accuracy"))
    y = np.array([1, 1, 1, 0, 0])
    logits = np.array([[0, 1], [0, 2], [3, 1], [1, 0], [-1, 1]], dtype=float)  # predicts 1 1 0 0 1
    assert compute_task_metrics(task, logits, y) == {"f1": pytest.approx(4 / 6), "accuracy": pytest.approx(3 / 5)}
    assert metric_names(task) == ("f1", "accuracy")
    regression = dataclasses.replace(TASKS["stsb"], name="my_similarity", metrics=("spearmanr",))
    assert compute_task_metrics(regression, np.array([0.0, 1.0, 4.0]), np.array([0.0, 1.0, 2.0])) == \
        {"spearmanr": pytest.approx(1.0)}


def test_every_registered_metric_is_known_and_unknown_ones_are_refused():
    assert {m for t in TASKS.values() for m in t.metrics} <= set(METRICS)
    with pytest.raises(ValueError, match="known metrics"):
        dataclasses.replace(TASKS["rte"], metrics=("bleu",))
