"""Evaluation metrics of the downstream tasks, via scipy and scikit-learn.

Pipeline stage: the scoring end of ``r2d finetune``. :data:`METRICS` maps a metric name to its function;
each :class:`r2d.training.tasks.Task` names its own metrics (``Task.metrics``, headline first), and
:func:`compute_task_metrics` computes exactly those from model outputs (logits or regression scores) and gold
labels. :func:`make_compute_metrics` wraps it for the Hugging Face ``Trainer``. No task is special-cased here
by name. This module does not load data (:mod:`r2d.training.tasks`) and never imports torch.

Example:
    >>> import numpy as np
    >>> from r2d.training.tasks import TASKS
    >>> compute_task_metrics(TASKS["cola"], np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([1, 0]))
    {'matthews_correlation': 1.0, 'accuracy': 1.0}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from r2d.training.tasks import Task


def _accuracy(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(y, p))


def _f1(y: np.ndarray, p: np.ndarray) -> float:
    """F1 of the positive class 1."""
    from sklearn.metrics import f1_score

    return float(f1_score(y, p, pos_label=1, zero_division=0.0))


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


def _task(task: "Task | str") -> "Task":
    from r2d.training.tasks import get_task

    return get_task(task) if isinstance(task, str) else task


def _as_predictions(predictions: np.ndarray, regression: bool) -> np.ndarray:
    """Class ids from logits (N, C), or scores (N,) from regression outputs (N, 1) / (N,)."""
    p = np.asarray(predictions)
    if regression:
        return p.reshape(-1).astype(np.float64)  # (N,)
    if p.ndim == 2:
        return p.argmax(axis=-1)  # (N,)
    return p.reshape(-1).astype(np.int64)  # already class ids


def compute_task_metrics(task: "Task | str", predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """The task's own metrics (``task.metrics``, in that order) from model outputs and gold labels.

    Args:
        task: a :class:`r2d.training.tasks.Task`, or the name of one in :data:`r2d.training.tasks.TASKS`.
        predictions: logits (N, C), class ids (N,), or regression scores (N,) / (N, 1).
        labels: gold class ids (N,) or gold scores (N,).

    Returns:
        ``{metric name: value}`` for each name in ``task.metrics``.
    """
    task = _task(task)
    y = np.asarray(labels).reshape(-1)
    p = _as_predictions(predictions, task.is_regression)
    if p.shape != y.shape:
        raise ValueError(f"{task.name}: {p.shape[0]} predictions for {y.shape[0]} labels")
    if not task.is_regression:
        y = y.astype(np.int64)
    return {name: METRICS[name](y, p) for name in task.metrics}


def metric_names(task: "Task | str") -> tuple[str, ...]:
    """Names :func:`compute_task_metrics` returns for ``task``, headline first: ``task.metrics``."""
    return _task(task).metrics


def make_compute_metrics(task: "Task | str") -> Callable:
    """A ``compute_metrics`` for ``transformers.Trainer``: ``EvalPrediction -> dict`` for ``task``."""
    task = _task(task)

    def compute_metrics(eval_pred) -> dict[str, float]:
        predictions, labels = eval_pred.predictions, eval_pred.label_ids
        if isinstance(predictions, tuple):  # models may return (logits, extra outputs...)
            predictions = predictions[0]
        return compute_task_metrics(task, predictions, labels)

    return compute_metrics


def eval_key(task: "Task | str", split: str, metric: str, *, n_eval_splits: int = 1) -> str:
    """The ``metrics.jsonl`` key under which ``r2d finetune`` logs ``metric`` of ``split``.

    One evaluation split: ``eval_<metric>`` (the ``Trainer`` default); several (MNLI):
    ``eval_<split>_<metric>`` (the ``Trainer``'s prefix for a dict of evaluation datasets).

    >>> eval_key("mnli", "validation_mismatched", "accuracy", n_eval_splits=2)
    'eval_validation_mismatched_accuracy'
    """
    return f"eval_{metric}" if n_eval_splits == 1 else f"eval_{split}_{metric}"
