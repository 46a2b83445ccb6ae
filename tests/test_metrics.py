"""Tests for r2d.training.metrics: known answers worked out by hand, threshold edges included."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
import pytest

from r2d.training.metrics import (METRICS, compute_task_metrics, eval_key, make_compute_metrics, metric_names,
                                  precision_recall_f1)
from r2d.training.tasks import TASKS

# y = 1 1 1 0 0 ; argmax = 1 1 0 0 1  ->  TP=2 FN=1 TN=1 FP=1
Y = np.array([1, 1, 1, 0, 0])
LOGITS = np.array([[0, 1], [0, 2], [3, 1], [1, 0], [-1, 1]], dtype=float)


def test_classification_metrics_by_hand():
    m = compute_task_metrics(TASKS["mrpc"], LOGITS, Y)
    assert list(m) == ["f1", "accuracy"]
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["f1"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))  # 2TP / (2TP + FP + FN)
    mcc = (2 * 1 - 1 * 1) / math.sqrt((2 + 1) * (2 + 1) * (1 + 1) * (1 + 1))  # (TP TN - FP FN) / sqrt(...) = 1/6
    assert compute_task_metrics(TASKS["cola"], LOGITS, Y) == {"matthews_correlation": pytest.approx(mcc),
                                                              "accuracy": pytest.approx(3 / 5)}


def test_three_classes_take_the_argmax_and_ties_go_to_the_first_class():
    logits = np.array([[0.0, 2.0, 1.0], [5.0, 5.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])  # argmax 1 0 2 0
    assert compute_task_metrics(TASKS["mnli"], logits, np.array([1, 1, 2, 2])) == {"accuracy": 0.5}
    # a tie between the two classes of a binary task is class 0: no positive predicted, so F1 0
    assert compute_task_metrics(TASKS["mrpc"], np.array([[0.3, 0.3]]), np.array([1]))["f1"] == 0.0


def test_class_ids_are_scored_as_given():
    assert compute_task_metrics(TASKS["mrpc"], np.array([1, 1, 0, 0, 1]), Y) == {
        "f1": pytest.approx(4 / 6), "accuracy": pytest.approx(3 / 5)}


def test_regression_metrics_by_hand():
    # p = y squared: monotone (Spearman 1) but not linear. Pearson: cov 15 / sqrt(49 * 5) from the deviations
    # p - 3.5 = -3.5 -2.5 0.5 5.5 and y - 1.5 = -1.5 -0.5 0.5 1.5
    m = compute_task_metrics(TASKS["stsb"], np.array([[0.0], [1.0], [4.0], [9.0]]), np.array([0.0, 1.0, 2.0, 3.0]))
    assert m == {"pearson": pytest.approx(15 / math.sqrt(49 * 5)), "spearmanr": pytest.approx(1.0)}
    # ties share their rank: p ranks 1.5 1.5 3 4 against 1 2 3 4 -> 4.5 / sqrt(4.5 * 5)
    m = compute_task_metrics(TASKS["stsb"], np.array([1.0, 1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0, 4.0]))
    assert m["spearmanr"] == pytest.approx(4.5 / math.sqrt(4.5 * 5))


def test_constant_regression_prediction_is_zero_not_nan():
    assert compute_task_metrics(TASKS["stsb"], np.ones(4), np.arange(4.0)) == {"pearson": 0.0, "spearmanr": 0.0}


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="sst2: 3 predictions for 2 labels"):
        compute_task_metrics(TASKS["sst2"], np.zeros(3, dtype=int), np.zeros(2, dtype=int))


@pytest.mark.parametrize("labels, scores, threshold, expected", [
    ([1, 1, 1, 0, 0], [0.9, 0.5, 0.49, 0.1, 0.7], 0.5, (2 / 3, 2 / 3, 2 / 3)),  # TP 2 (0.5 is on) FN 1 FP 1
    ([1], [0.5], 0.5, (1.0, 1.0, 1.0)),  # exactly at the threshold: positive
    ([1], [0.4999], 0.5, (0.0, 0.0, 0.0)),
    ([1, 1, 0], [0.0, -0.1, 2.0], 0.0, (0.5, 0.5, 0.5)),  # logits: positive from 0 up
    ([1, 0, 1, 0], [1, 1, 0, 0], 0.5, (0.5, 0.5, 0.5)),  # 0/1 decisions
    ([True, False], [True, True], 0.5, (0.5, 1.0, 2 / 3)),  # bools
    ([1, 0], [0.1, 0.2], 0.5, (0.0, 0.0, 0.0)),  # nothing predicted positive: precision 0, not NaN
    ([0, 0], [0.9, 0.1], 0.5, (0.0, 0.0, 0.0)),  # no gold positive: recall 0
    ([0, 0], [0.1, 0.1], 0.5, (0.0, 0.0, 0.0)),  # no positive anywhere
    ([], [], 0.5, (0.0, 0.0, 0.0)),
])
def test_precision_recall_f1_by_hand(labels, scores, threshold, expected):
    got = precision_recall_f1(np.array(labels), np.array(scores), threshold=threshold)
    assert got == pytest.approx(expected)
    assert all(type(v) is float for v in got)


def test_trainer_wrapper_and_names():
    from transformers import EvalPrediction

    fn = make_compute_metrics(TASKS["cola"])
    ep = EvalPrediction(predictions=(np.array([[0.0, 1.0], [1.0, 0.0]]), np.zeros(2)), label_ids=np.array([1, 1]))
    assert fn(ep) == {"matthews_correlation": 0.0, "accuracy": 0.5}
    assert metric_names(TASKS["cola"]) == ("matthews_correlation", "accuracy")
    assert metric_names(TASKS["stsb"]) == ("pearson", "spearmanr")
    assert eval_key(TASKS["mnli"], "validation_mismatched", "accuracy", n_eval_splits=2) == \
        "eval_validation_mismatched_accuracy"
    assert eval_key(TASKS["rte"], "validation", "accuracy") == "eval_accuracy"


def test_a_task_is_scored_by_its_own_metrics_not_by_its_name():
    # a new task, unknown to any name table: F1 then accuracy because the task says so
    task = dataclasses.replace(TASKS["rte"], name="my_paraphrase", metrics=("f1", "accuracy"))
    assert compute_task_metrics(task, LOGITS, Y) == {"f1": pytest.approx(4 / 6), "accuracy": pytest.approx(3 / 5)}
    assert metric_names(task) == ("f1", "accuracy")
    regression = dataclasses.replace(TASKS["stsb"], name="my_similarity", metrics=("spearmanr",))
    assert compute_task_metrics(regression, np.array([0.0, 1.0, 4.0]), np.array([0.0, 1.0, 2.0])) == \
        {"spearmanr": pytest.approx(1.0)}


def test_every_registered_metric_is_known_and_unknown_ones_are_refused():
    assert {m for t in TASKS.values() for m in t.metrics} <= set(METRICS)
    with pytest.raises(ValueError, match="known metrics"):
        dataclasses.replace(TASKS["rte"], metrics=("bleu",))


@given(st.lists(st.tuples(st.booleans(), st.floats(0, 1)), max_size=40), st.sampled_from([0.0, 0.3, 0.5, 1.0]))
def test_precision_recall_f1_agrees_with_scikit_learn(items, threshold):
    """r2d counts with numpy (it runs inside the bootstrap); scikit-learn's zero_division=0 rule is the reference."""
    from sklearn.metrics import precision_recall_fscore_support

    y = np.array([g for g, _ in items], dtype=np.int64)
    s = np.array([p for _, p in items], dtype=np.float64)
    got = precision_recall_f1(y, s, threshold=threshold)
    if not len(y):
        assert got == (0.0, 0.0, 0.0)
        return
    want = precision_recall_fscore_support(y, (s >= threshold).astype(np.int64), average="binary", pos_label=1,
                                           zero_division=0.0)[:3]
    assert got == pytest.approx(tuple(float(v) for v in want))
