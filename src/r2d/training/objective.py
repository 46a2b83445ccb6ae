"""What a pretraining objective hands the recipe (:mod:`r2d.training.pretrain`): the model, its batches, the
evaluation set and metrics, and the files to write. Each objective (:mod:`~r2d.training.mlm`,
:mod:`~r2d.training.clm`, :mod:`~r2d.training.electra`) returns one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Objective:
    """What an objective hands the recipe: the model and everything the ``Trainer`` needs around it."""

    model: Any
    collate: Callable
    eval_dataset: Any
    compute_metrics: Callable
    eval_outputs: Callable[[Mapping[str, Any], Mapping[str, Any]], dict]
    loss_parts: tuple[str, ...] = ()
    processing_class: Any = None
    callbacks: list = field(default_factory=list)
    run_files: dict[str, Any] = field(default_factory=dict)
    """file name in OUT -> JSON content, written by the main process (e.g. ``flag_rates.json``)"""
    eval_seed: int | None = None
    """for models that sample in their forward pass: evaluation draws under this seed (``R2DTrainer(eval_seed=)``)"""


__all__ = ["Objective"]
