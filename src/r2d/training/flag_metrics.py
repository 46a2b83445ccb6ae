"""Per-flag precision/recall/F1 of the flag head's calibrated probabilities, next to the always-on F1.

A head trained with ``pos_weight`` w puts logit 0 at "above the base rate", not at probability 0.5; the model's
calibrated ``flag_probs`` (``sigmoid(logit - log w)``, :func:`r2d.modeling.encoder.calibrated_flag_probs`) undo
that, so they are scored at 0.5 (:data:`r2d.training.metrics.THRESHOLD`). Predicting "on" everywhere is a flag's
floor: F1 = 2p / (1 + p) for a flag on at rate p. Needs numpy only (torch tensors are accepted).

>>> binary_prf(np.array([[1], [0], [1]]), np.array([[1], [1], [-100]]), ["x"])["f1_x"]
0.6666666666666666
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from r2d.training.metrics import THRESHOLD, precision_recall_f1


def _numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().float().cpu().numpy() if x.is_floating_point() else x.detach().cpu().numpy()
    return np.asarray(x)


def binary_prf(scores: np.ndarray, labels: np.ndarray, names: Sequence[str], *, threshold: float = THRESHOLD
               ) -> dict[str, float]:
    """Per-column precision, recall, F1 (and their macro F1) of :func:`r2d.training.metrics.precision_recall_f1`.

    Args:
        scores: (N, F) or (..., F) probabilities or 0/1 (or bool) predictions, positive where ``>= threshold``.
        labels: same shape, 0/1 or -100 (entries with -100 are ignored).
        names: F column names.

    Returns:
        ``{"precision_<n>", "recall_<n>", "f1_<n>", "support_<n>" (positives) for each name, "macro_f1"}``.
    """
    scores = _numpy(scores).reshape(-1, len(names))  # (N, F)
    labels = _numpy(labels).reshape(-1, len(names))  # (N, F)
    valid = labels != -100  # (N, F)
    out: dict[str, float] = {}
    f1s = []
    for i, name in enumerate(names):
        y = labels[valid[:, i], i]
        prec, rec, f1 = precision_recall_f1(y, scores[valid[:, i], i], threshold=threshold)
        out[f"precision_{name}"], out[f"recall_{name}"], out[f"f1_{name}"] = prec, rec, f1
        out[f"support_{name}"] = int((y == 1).sum())
        f1s.append(f1)
    out["macro_f1"] = float(np.mean(f1s)) if f1s else 0.0
    return out


def always_on_f1(labels: np.ndarray, names: Sequence[str]) -> dict[str, float]:
    """``{"always_on_f1_<n>": ...}``: F1 of predicting every flag on everywhere, ``2p / (1 + p)`` per flag (p = its
    share of scored rows). ``labels``: (..., F) 0/1 or -100 (ignored)."""
    labels = _numpy(labels).reshape(-1, len(names))  # (N, F)
    valid = labels != -100  # (N, F)
    return {f"always_on_f1_{name}": precision_recall_f1(labels[valid[:, i], i], np.ones(int(valid[:, i].sum())))[2]
            for i, name in enumerate(names)}


def flag_metrics(flag_probs, flag_labels, names: Sequence[str]) -> dict[str, float]:
    """:func:`binary_prf` of calibrated probabilities (on = probability >= 0.5) plus :func:`always_on_f1`.

    Args:
        flag_probs: (B, T, F) calibrated probabilities (the model's ``flag_probs``), numpy or torch.
        flag_labels: (B, T, F) 0/1, -100 on rows that are not scored.
        names: F flag names.
    """
    probs, labels = _numpy(flag_probs), _numpy(flag_labels)
    return {**binary_prf(probs, labels, names), **always_on_f1(labels, names)}


__all__ = ["binary_prf", "always_on_f1", "flag_metrics"]
