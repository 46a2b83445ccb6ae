"""``R2DTrainer``: the Hugging Face ``Trainer`` every recipe runs, for models whose loss is a per-batch mean and has
named parts (``mlm_loss``, ``flag_loss``) to log; and which process of a multi-process run logs and prints.

The recipes' other shared pieces are re-exported here: presets (:mod:`~r2d.training.presets`), option checks and
seeds (:mod:`~r2d.training.options`), the run folder's records (:mod:`~r2d.training.run_folder`) and callbacks
(:mod:`~r2d.training.callbacks`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from transformers import Trainer

from r2d.device import use_tf32
from r2d.training.callbacks import MetricsJsonlCallback, RichProgressCallback, SaveTokenizerCallback, TimeLimitCallback
from r2d.training.options import MAX_SEED, check_ranges, set_seed
from r2d.training.presets import PRESETS, TRAIN_DEFAULTS, model_config
from r2d.training.run_folder import changed_run_args, last_checkpoint, read_metrics, same_files, save_run_args

logger = logging.getLogger(__name__)


class R2DTrainer(Trainer):
    """``Trainer`` for mean-loss models that also logs the named parts of the loss.

    Args:
        *args, **kwargs: as for ``transformers.Trainer``.
        loss_parts: output keys (scalars) to average over each logging window and log next to ``loss``
            (keys a model does not return are skipped). Default ``("mlm_loss", "flag_loss")``.
        train_sampler: the training sampler (e.g. :class:`r2d.training.data.EpochSampler`); ``None`` = the
            ``Trainer``'s seeded random sampler.
        eval_outputs: ``(model output, batch) -> dict`` of tensors (B, ...) to keep at evaluation, picked by name
            (e.g. argmax ids, ``flag_probs``, each sequence's summed loss and scored rows); ``compute_metrics``
            receives its values in the dict's order. Keep per-sequence values, never per-batch ones: on N processes
            the last batches are padded with repeated sequences, which only per-sequence values let
            ``gather_for_metrics`` drop. ``None`` = every output but the loss, as ``Trainer`` does.
        eval_seed: evaluate under torch's RNG seeded with this (then restored), for models that sample in their
            forward pass (ELECTRA's replacements): every evaluation draws alike and training's draws are untouched.
            ``None`` = torch's RNG as it stands.
    """

    def __init__(self, *args, loss_parts: Sequence[str] = ("mlm_loss", "flag_loss"), train_sampler=None,
                 eval_outputs: Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, torch.Tensor]] | None = None,
                 eval_seed: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.eval_seed = eval_seed
        # subtle: models with **kwargs in forward would otherwise get num_items_in_batch and their per-batch
        # mean loss would not be divided by the gradient accumulation steps.
        self.model_accepts_loss_kwargs = False
        self.loss_parts = tuple(loss_parts)
        self.train_sampler = train_sampler
        self.eval_outputs = eval_outputs
        self._part_sums: dict[str, torch.Tensor] = {}  # on the device: read at logging steps only
        self._part_counts: dict[str, int] = {}
        if self.args.tf32 is None and self.args.device.type == "cuda":
            use_tf32()

    # subtle: private, kept on purpose: transformers 5 offers no public way to give the training DataLoader a sampler
    # (TrainingArguments.train_sampling_strategy picks among its own; get_train_dataloader, the public override,
    # would have to rebuild the DataLoader through the private _get_dataloader or lose its column removal, worker
    # seeding and accelerate's sharding).
    def _get_train_sampler(self, train_dataset=None):
        if self.train_sampler is not None:
            return self.train_sampler
        return super()._get_train_sampler(train_dataset)

    def evaluate(self, *args, **kwargs):
        if self.eval_seed is None:
            return super().evaluate(*args, **kwargs)
        devices = [self.args.device.index or 0] if self.args.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.eval_seed)
            return super().evaluate(*args, **kwargs)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss, outputs = super().compute_loss(model, inputs, return_outputs=True,
                                             num_items_in_batch=num_items_in_batch)
        if model.training and isinstance(outputs, Mapping):
            for key in self.loss_parts:
                value = outputs.get(key)
                if value is not None:
                    value = value.detach().float()
                    self._part_sums[key] = self._part_sums[key] + value if key in self._part_sums else value
                    self._part_counts[key] = self._part_counts.get(key, 0) + 1
        elif not model.training and self.eval_outputs is not None:
            # subtle: prediction_step turns a dict output into a tuple of its values (minus "loss"), in order
            outputs = {"loss": loss, **self.eval_outputs(outputs, inputs)}
        return (loss, outputs) if return_outputs else loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs and self._part_counts:
            keys = list(self._part_sums)  # subtle: the same keys in the same order on every process
            means = torch.stack([self._part_sums[k] / self._part_counts[k] for k in keys])  # (K,)
            means = self.accelerator.reduce(means, reduction="mean")  # the processes' means, as Trainer's "loss"
            for key, value in zip(keys, means.tolist()):
                logs[key] = round(value, 6)
            self._part_sums, self._part_counts = {}, {}
        super().log(logs, start_time)


def quiet_replicas(training_args) -> None:
    """r2d's log lines at ``Trainer``'s level for replicas (WARNING) on every process but the first of each node
    (``training_args.should_log``); a single process is left as it is."""
    if not training_args.should_log:
        logging.getLogger("r2d").setLevel(training_args.get_process_log_level())


def is_main_process() -> bool:
    """Whether this process prints a run's closing lines: the only one, or the first of a multi-process run."""
    from accelerate import PartialState

    return PartialState().is_main_process


__all__ = [
    "PRESETS", "TRAIN_DEFAULTS", "model_config", "MAX_SEED", "check_ranges", "set_seed", "save_run_args",
    "same_files", "changed_run_args", "last_checkpoint", "read_metrics", "R2DTrainer", "MetricsJsonlCallback",
    "RichProgressCallback", "TimeLimitCallback", "SaveTokenizerCallback", "quiet_replicas", "is_main_process",
]
