"""The losses of the r2d models and the calibration their flag head needs: masked LM cross entropy (all rows or
the labelled ones only), the flags' weighted binary cross entropy, and sequence classification as ``transformers``
computes it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def masked_lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross entropy over rows with ``labels != -100``; 0 (with grad) when there are none.

    Args:
        logits: (B, T, V). labels: (B, T) ids or -100.
    """
    flat = logits.reshape(-1, logits.size(-1))  # (B*T, V)
    total = F.cross_entropy(flat.float(), labels.reshape(-1), ignore_index=-100, reduction="sum")
    return total / labels.ne(-100).sum().clamp(min=1)


def labelled_rows_lm_loss(lm_head: nn.Module, hidden: torch.Tensor,
                          labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The LM head applied only to rows with ``labels != -100``, and their mean cross entropy.

    Equal to ``masked_lm_loss(lm_head(hidden), labels)`` (value and gradients) at a fraction of the cost: the
    (H x V) projection runs on the N labelled rows instead of all B*T (about 15% of them in MLM).

    Args:
        lm_head: maps (..., H) to (..., V). hidden: (B, T, H). labels: (B, T) ids or -100.

    Returns:
        (logits (N, V) of the labelled rows in row-major order, scalar loss; 0 with grad when N is 0).
    """
    sel = labels.ne(-100)  # (B, T)
    logits = lm_head(hidden[sel])  # (N, V)
    total = F.cross_entropy(logits.float(), labels[sel], reduction="sum")
    return logits, total / sel.sum().clamp(min=1)


def flag_bce_loss(flag_logits: torch.Tensor, flag_labels: torch.Tensor, pos_weight: torch.Tensor) -> torch.Tensor:
    """``BCEWithLogitsLoss(pos_weight)`` averaged over the flag entries whose label is not -100.

    Args:
        flag_logits: (B, T, F).
        flag_labels: (B, T, F) 0/1, or -100 on rows that are not scored (whole rows in practice).
        pos_weight: (F,) weight of the positive class of each flag.

    Returns:
        Scalar loss; 0 (with grad) when nothing is scored.
    """
    valid = flag_labels.ne(-100)  # (B, T, F)
    target = flag_labels.clamp(min=0).to(torch.float32)
    per_entry = F.binary_cross_entropy_with_logits(
        flag_logits.float(), target, pos_weight=pos_weight.to(torch.float32), reduction="none"
    )  # (B, T, F)
    return (per_entry * valid).sum() / valid.sum().clamp(min=1)


def calibrated_flag_probs(flag_logits: torch.Tensor, pos_weight: torch.Tensor) -> torch.Tensor:
    """``sigmoid(flag_logits - log w)``: flag probabilities from a head trained with ``pos_weight`` w.

    ``BCEWithLogitsLoss(pos_weight=w)`` is smallest at ``logit = log(w * p / (1 - p))`` for a flag on with
    probability p, so subtracting ``log w`` gives back p.

    Args:
        flag_logits: (..., F). pos_weight: (F,) the weights the loss used (after clamping).

    Returns:
        (..., F) float32 probabilities.

    >>> calibrated_flag_probs(torch.log(torch.tensor([4.0, 12.0])), torch.tensor([4.0, 4.0])).round(decimals=4).tolist()
    [0.5, 0.75]
    """
    return torch.sigmoid(flag_logits.float() - torch.log(pos_weight.to(flag_logits.device, torch.float32)))


def sequence_classification_loss(config, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The loss of a sequence classification head, by ``config.problem_type`` as in ``transformers``.

    Args:
        config: the model config; ``problem_type`` is set here when it is ``None`` (``"regression"`` when
            ``num_labels == 1``, ``"single_label_classification"`` for integer labels, else multi-label).
        logits: (B, num_labels) scores.
        labels: (B,) class ids, (B,) or (B, 1) floats for regression, (B, num_labels) floats for multi-label.

    Returns:
        the scalar loss: MSE, cross entropy or binary cross entropy (in float32).
    """
    labels = labels.to(logits.device)
    n = config.num_labels
    if config.problem_type is None:
        if n == 1:
            config.problem_type = "regression"
        elif labels.dtype in (torch.long, torch.int):
            config.problem_type = "single_label_classification"
        else:
            config.problem_type = "multi_label_classification"
    if config.problem_type == "regression":
        if n == 1:
            return F.mse_loss(logits.squeeze(-1).float(), labels.reshape(-1).float())
        return F.mse_loss(logits.float(), labels.float())
    if config.problem_type == "single_label_classification":
        return F.cross_entropy(logits.reshape(-1, n).float(), labels.reshape(-1))
    return F.binary_cross_entropy_with_logits(logits.float(), labels.float())


__all__ = ["masked_lm_loss", "labelled_rows_lm_loss", "flag_bce_loss", "calibrated_flag_probs",
           "sequence_classification_loss"]
