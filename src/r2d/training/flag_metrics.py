"""Flag metrics: per-flag P/R/F1 of calibrated probabilities next to the always-on F1.

Pipeline stage: around ``losses -> metrics`` for the flag head. Flag rates and the ``pos_weight`` they give
(``w = (1 - p) / p``, clamped) are measured at the tokenizer level (:mod:`r2d.tokenizer.rates`). A head
trained with ``pos_weight`` w puts logit 0 at "above the base rate", not at probability 0.5; the model's calibrated ``flag_probs`` (``sigmoid(logit - log w)``, see
:func:`r2d.modeling.encoder.calibrated_flag_probs`) undo that, and :func:`flag_metrics` scores those
probabilities at 0.5 next to the F1 of always predicting "on" (a flag's floor: F1 = 2p / (1 + p) for a flag on
at rate p). Needs numpy only (torch tensors are accepted). It does not compute losses or probabilities
(:mod:`r2d.modeling.encoder`) or write metrics files (:mod:`r2d.training.trainer`).

>>> binary_prf(np.array([[1], [0], [1]]), np.array([[1], [1], [-100]]), ["x"])["f1_x"]
0.6666666666666666
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def _numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().float().cpu().numpy() if x.is_floating_point() else x.detach().cpu().numpy()
    return np.asarray(x)


def binary_prf(preds: np.ndarray, labels: np.ndarray, names: Sequence[str]) -> dict[str, float]:
    """Per-column precision, recall, F1 (and their macro F1) of binary predictions.

    Args:
        preds: (N, F) or (..., F) 0/1 (or bool) predictions.
        labels: same shape, 0/1 or -100 (entries with -100 are ignored).
        names: F column names.

    Returns:
        ``{"precision_<n>", "recall_<n>", "f1_<n>", "support_<n>" (positives) for each name, "macro_f1"}``;
        a column with no predicted (no true) positives has precision (recall) 0, like scikit-learn's
        ``zero_division=0``.
    """
    preds = _numpy(preds).reshape(-1, len(names))  # (N, F)
    labels = _numpy(labels).reshape(-1, len(names))  # (N, F)
    valid = labels != -100
    p, t = (preds > 0) & valid, (labels == 1) & valid
    tp, fp, fn = (p & t).sum(0), (p & ~t).sum(0), (~p & t).sum(0)
    out: dict[str, float] = {}
    f1s = []
    for i, name in enumerate(names):
        prec = tp[i] / (tp[i] + fp[i]) if tp[i] + fp[i] else 0.0
        rec = tp[i] / (tp[i] + fn[i]) if tp[i] + fn[i] else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        out[f"precision_{name}"], out[f"recall_{name}"], out[f"f1_{name}"] = float(prec), float(rec), float(f1)
        out[f"support_{name}"] = int(t[:, i].sum())
        f1s.append(f1)
    out["macro_f1"] = float(np.mean(f1s)) if f1s else 0.0
    return out


def always_on_f1(labels: np.ndarray, names: Sequence[str]) -> dict[str, float]:
    """F1 of predicting every flag on everywhere: ``2p / (1 + p)`` per flag (p = its share of scored rows).

    Args:
        labels: (..., F) 0/1 or -100 (ignored).
        names: F flag names.

    Returns:
        ``{"always_on_f1_<n>": ...}``.
    """
    labels = _numpy(labels).reshape(-1, len(names))  # (N, F)
    valid = labels != -100
    n = valid.sum(0)
    pos = ((labels == 1) & valid).sum(0)
    return {f"always_on_f1_{name}": float(2 * pos[i] / (n[i] + pos[i])) if pos[i] else 0.0
            for i, name in enumerate(names)}


def flag_metrics(flag_probs, flag_labels, names: Sequence[str]) -> dict[str, float]:
    """Per-flag P/R/F1 of calibrated probabilities (on = probability > 0.5) and each flag's always-on F1.

    Args:
        flag_probs: (B, T, F) calibrated probabilities (the model's ``flag_probs``), numpy or torch.
        flag_labels: (B, T, F) 0/1, -100 on rows that are not scored.
        names: F flag names.

    Returns:
        :func:`binary_prf` of ``flag_probs > 0.5`` plus :func:`always_on_f1`.
    """
    probs, labels = _numpy(flag_probs), _numpy(flag_labels)
    return {**binary_prf(probs > 0.5, labels, names), **always_on_f1(labels, names)}


__all__ = ["binary_prf", "always_on_f1", "flag_metrics"]
