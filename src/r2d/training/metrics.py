"""Scores of model outputs against gold labels: the task metrics, and the project's one binary precision/recall/F1.

:data:`METRICS` maps a metric name to its function; a task (:class:`r2d.training.tasks.Task`) names its own
metrics, headline first, and :func:`compute_task_metrics` computes exactly those, no task special-cased by name.
:func:`precision_recall_f1` is what every binary F1 of r2d calls (the task metric ``f1``, per-flag F1).

>>> import numpy as np
>>> from r2d.training.tasks import TASKS
>>> compute_task_metrics(TASKS["cola"], np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([1, 0]))
{'matthews_correlation': 1.0, 'accuracy': 1.0}
>>> precision_recall_f1(np.array([1, 1, 0]), np.array([0.9, 0.2, 0.5]))
(0.5, 0.5, 0.5)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

THRESHOLD = 0.5
"""A binary prediction is positive where its score is ``>= THRESHOLD``: the rule for probabilities (a model's
calibrated ``flag_probs``, ``sigmoid(logits)``) and for 0/1 decisions, and the decoder's rule for flags
(:func:`r2d.tokenizer.arrays.flag_bits`). For logits pass ``threshold=0.0``."""


def precision_recall_f1(labels: np.ndarray, scores: np.ndarray, *, threshold: float = THRESHOLD
                        ) -> tuple[float, float, float]:
    """Precision, recall and F1 of the positive class, predicting it where ``score >= threshold``.

    scikit-learn's ``precision_recall_fscore_support(average="binary", zero_division=0)`` computes the same
    (``tests/test_metrics.py`` holds it to that), but costs ~2 ms a call: the paired bootstrap of per-flag F1 calls
    this ~14,000 times per model, so it counts with numpy.

    Args:
        labels: (N,) gold 0/1 (or bool).
        scores: (N,) probabilities or 0/1 decisions (``threshold`` 0.5), or logits (``threshold`` 0.0).

    Returns:
        ``(precision, recall, f1)``; with no predicted (no gold) positives precision (recall) is 0, and so is F1;
        all three are 0 for no items.
    """
    y = np.asarray(labels).astype(bool, copy=False)  # (N,)
    p = np.asarray(scores) >= threshold  # (N,)
    tp, n_pred, n_gold = np.count_nonzero(y & p), np.count_nonzero(p), np.count_nonzero(y)
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * tp / (n_pred + n_gold) if tp else 0.0  # = 2PR / (P + R)
    return float(precision), float(recall), float(f1)


def _accuracy(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(y, p))


def _f1(y: np.ndarray, p: np.ndarray) -> float:
    """F1 of the positive class 1 (``p``: predicted class ids 0/1)."""
    return precision_recall_f1(y, p)[2]


def _matthews(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import matthews_corrcoef

    return float(matthews_corrcoef(y, p))


def _pearson(y: np.ndarray, p: np.ndarray) -> float:
    from scipy.stats import pearsonr

    # subtle: a constant prediction has no correlation; report 0.0 instead of NaN (early checkpoints).
    return 0.0 if np.ptp(p) == 0 or np.ptp(y) == 0 else float(pearsonr(p, y)[0])


def _spearman(y: np.ndarray, p: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return 0.0 if np.ptp(p) == 0 or np.ptp(y) == 0 else float(spearmanr(p, y)[0])


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "accuracy": _accuracy,
    "f1": _f1,
    "matthews_correlation": _matthews,
    "pearson": _pearson,
    "spearmanr": _spearman,
}
"""Metric name -> ``fn(gold (N,), predicted (N,)) -> float``; predictions are class ids, or scores for
regression tasks. The names are the keys ``r2d finetune`` logs (``eval_<name>``)."""


class Scored(Protocol):
    """What scoring reads of a task (:class:`r2d.training.tasks.Task` has it)."""

    name: str
    metrics: tuple[str, ...]

    @property
    def is_regression(self) -> bool: ...


def _as_predictions(predictions: np.ndarray, regression: bool) -> np.ndarray:
    """Class ids from logits (N, C), or scores (N,) from regression outputs (N, 1) / (N,)."""
    p = np.asarray(predictions)
    if regression:
        return p.reshape(-1).astype(np.float64)  # (N,)
    if p.ndim == 2:
        return p.argmax(axis=-1)  # (N,)
    return p.reshape(-1).astype(np.int64)  # already class ids


def compute_task_metrics(task: Scored, predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """``{metric name: value}`` for each of the task's own metrics (``task.metrics``, in that order).

    Args:
        task: a :class:`r2d.training.tasks.Task` (by name: :func:`r2d.training.tasks.get_task`).
        predictions: logits (N, C), class ids (N,), or regression scores (N,) / (N, 1).
        labels: gold class ids (N,) or gold scores (N,).
    """
    y = np.asarray(labels).reshape(-1)
    p = _as_predictions(predictions, task.is_regression)
    if p.shape != y.shape:
        raise ValueError(f"{task.name}: {p.shape[0]} predictions for {y.shape[0]} labels")
    if not task.is_regression:
        y = y.astype(np.int64)
    return {name: METRICS[name](y, p) for name in task.metrics}


def metric_names(task: Scored) -> tuple[str, ...]:
    """Names :func:`compute_task_metrics` returns for ``task``, headline first: ``task.metrics``."""
    return task.metrics


def make_compute_metrics(task: Scored) -> Callable:
    """A ``compute_metrics`` for ``transformers.Trainer``: ``EvalPrediction -> dict`` for ``task``."""

    def compute_metrics(eval_pred) -> dict[str, float]:
        predictions, labels = eval_pred.predictions, eval_pred.label_ids
        if isinstance(predictions, tuple):  # models may return (logits, extra outputs...)
            predictions = predictions[0]
        return compute_task_metrics(task, predictions, labels)

    return compute_metrics


def eval_key(task: Scored | str, split: str, metric: str, *, n_eval_splits: int = 1) -> str:
    """The ``metrics.jsonl`` key under which ``r2d finetune`` logs ``metric`` of ``split``.

    One evaluation split: ``eval_<metric>`` (the ``Trainer`` default); several (MNLI):
    ``eval_<split>_<metric>`` (the ``Trainer``'s prefix for a dict of evaluation datasets).

    >>> eval_key("mnli", "validation_mismatched", "accuracy", n_eval_splits=2)
    'eval_validation_mismatched_accuracy'
    """
    return f"eval_{metric}" if n_eval_splits == 1 else f"eval_{split}_{metric}"
