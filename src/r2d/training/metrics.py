"""Evaluation metrics of the downstream tasks, via scipy and scikit-learn.

Pipeline stage: the scoring end of ``recipes/finetune.py``. :func:`compute_task_metrics` turns model
outputs (logits or regression scores) and gold labels into the task's metrics: Matthews correlation for
CoLA, Pearson and Spearman for STS-B, accuracy and F1 for MRPC, accuracy otherwise (every classification
task also gets accuracy). :func:`make_compute_metrics` wraps it for the Hugging Face ``Trainer``.
This module does not load data (:mod:`r2d.training.tasks`) and never imports torch.

Example:
    >>> import numpy as np
    >>> compute_task_metrics("cola", np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([1, 0]))
    {'matthews_correlation': 1.0, 'accuracy': 1.0}
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# task name -> metric names (beyond accuracy for classification)
_EXTRA = {"cola": ("matthews_correlation",), "mrpc": ("f1",), "stsb": ("pearson", "spearmanr")}


def _as_predictions(predictions: np.ndarray, regression: bool) -> np.ndarray:
    """Class ids from logits (N, C), or scores (N,) from regression outputs (N, 1) / (N,)."""
    p = np.asarray(predictions)
    if regression:
        return p.reshape(-1).astype(np.float64)  # (N,)
    if p.ndim == 2:
        return p.argmax(axis=-1)  # (N,)
    return p.reshape(-1).astype(np.int64)  # already class ids


def compute_task_metrics(task: str, predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """The task's metrics from model outputs and gold labels.

    Args:
        task: a task name of :data:`r2d.training.tasks.TASKS` (``stsb`` is the regression one).
        predictions: logits (N, C), class ids (N,), or regression scores (N,) / (N, 1).
        labels: gold class ids (N,) or gold scores (N,).

    Returns:
        dict of floats: ``matthews_correlation`` + ``accuracy`` (cola); ``pearson`` + ``spearmanr``
        (stsb); ``f1`` + ``accuracy`` (mrpc; F1 of the positive class 1); ``accuracy`` otherwise.
    """
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

    y = np.asarray(labels).reshape(-1)
    regression = task == "stsb"
    p = _as_predictions(predictions, regression)
    if p.shape != y.shape:
        raise ValueError(f"{task}: {p.shape[0]} predictions for {y.shape[0]} labels")
    if regression:
        # subtle: a constant prediction has no correlation; report 0.0 instead of NaN (early checkpoints).
        if np.ptp(p) == 0 or np.ptp(y) == 0:
            return {"pearson": 0.0, "spearmanr": 0.0}
        return {"pearson": float(pearsonr(p, y)[0]), "spearmanr": float(spearmanr(p, y)[0])}
    y = y.astype(np.int64)
    out: dict[str, float] = {}
    if task == "cola":
        out["matthews_correlation"] = float(matthews_corrcoef(y, p))
    if task == "mrpc":
        out["f1"] = float(f1_score(y, p, pos_label=1, zero_division=0.0))
    out["accuracy"] = float(accuracy_score(y, p))
    return out


def metric_names(task: str) -> tuple[str, ...]:
    """Names :func:`compute_task_metrics` returns for ``task``, headline first."""
    if task == "stsb":
        return _EXTRA["stsb"]
    return (*_EXTRA.get(task, ()), "accuracy")


def make_compute_metrics(task: str) -> Callable:
    """A ``compute_metrics`` for ``transformers.Trainer``: ``EvalPrediction -> dict`` for ``task``."""

    def compute_metrics(eval_pred) -> dict[str, float]:
        predictions, labels = eval_pred.predictions, eval_pred.label_ids
        if isinstance(predictions, tuple):  # models may return (logits, extra outputs...)
            predictions = predictions[0]
        return compute_task_metrics(task, predictions, labels)

    return compute_metrics


def eval_key(task: str, split: str, metric: str, *, n_eval_splits: int = 1) -> str:
    """The ``metrics.jsonl`` key under which ``r2d finetune`` logs ``metric`` of ``split``.

    One evaluation split: ``eval_<metric>`` (the ``Trainer`` default); several (MNLI):
    ``eval_<split>_<metric>`` (the ``Trainer``'s prefix for a dict of evaluation datasets).

    >>> eval_key("mnli", "validation_mismatched", "accuracy", n_eval_splits=2)
    'eval_validation_mismatched_accuracy'
    """
    return f"eval_{metric}" if n_eval_splits == 1 else f"eval_{split}_{metric}"
