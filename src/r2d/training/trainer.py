"""Shared training utilities for the recipes (``r2d pretrain``, ``r2d finetune``) on the Hugging Face ``Trainer``.

Pipeline stage: ``model -> losses -> metrics``. This module holds what every recipe needs around a
``transformers.Trainer``; the recipes themselves (data, model choice) live in :mod:`r2d.training.pretrain` and
:mod:`r2d.training.finetune`. It does not build datasets (:mod:`r2d.training.data`), mask tokens
(:mod:`r2d.modeling.collator`), define models (:mod:`r2d.modeling.encoder`) or compute flag metrics
(:mod:`r2d.training.flag_metrics`).

API (stable; recipes import these names):

* ``PRESETS[name] -> dict`` model-size kwargs for ``RobertaConfig``/``R2DConfig`` (``tiny``, ``micro``, ``mini``,
  ``small``, ``base``);
  ``TRAIN_DEFAULTS[name] -> dict`` matching training defaults (``max_length``, ``batch_size``,
  ``learning_rate``, ``warmup_steps``, ``logging_steps``, ``eval_steps``, ``save_steps``).
* ``model_config(kind, preset, *, vocab_size, max_length=None, **overrides)`` -> ``R2DConfig`` (``kind="r2d"``)
  or ``RobertaConfig`` (``kind="roberta"``) of that preset.
* ``check_ranges(args, at_least, at_most=None, positive=())``: the recipes' one range check of their options, an
  :class:`r2d.io.InputError` naming the first option out of range (``--seed -1: must be >= 0``).
* ``set_seed(seed)``: python, numpy and torch RNGs (``transformers.set_seed``); seeds ``0 .. MAX_SEED``.
* ``save_run_args(out_dir, args, argv=None, resume=False) -> Path``: ``out_dir/args.json`` with the exact arguments,
  the command line, versions and git commit; on resume appends to its ``resumed`` list instead.
* ``changed_run_args(out_dir, args, keep=(), same=None) -> list[str]``: the settings that differ from those the run
  in ``out_dir`` started with (``model 'r2d' -> 'roberta'``), for a resume to refuse; ``same_files(a, b)``: paths
  compared as files.
* ``last_checkpoint(out_dir) -> str | None``: newest *complete* ``checkpoint-N`` (one killed mid-save is skipped).
* ``R2DTrainer(Trainer)``: ``Trainer`` that (1) treats model losses as per-batch means (correct gradient
  accumulation for models whose ``forward`` takes ``**kwargs``), (2) logs named loss parts found in the model
  output (``loss_parts=("mlm_loss", "flag_loss")`` by default) averaged over each logging window (summed on the
  device, read at logging steps only, averaged over the processes of a multi-process run), (3) takes a
  ``train_sampler`` and an ``eval_outputs`` function that picks what evaluation keeps from the model output and the
  batch *by name* (what ``compute_metrics`` then receives, in that order),
  (4) on a CUDA GPU lets float32 matrix products use TF32 unless ``TrainingArguments.tf32`` says otherwise (bf16
  autocast and ``torch.compile`` are ``TrainingArguments``' ``bf16`` and ``torch_compile``, the recipes' ``--bf16``
  and ``--compile``).
* ``MetricsJsonlCallback(path)``: one JSON object per ``Trainer`` log call (``{"step": 10, "loss": ...}``, eval
  metrics prefixed ``eval_``); on resume, lines after the checkpoint's step are dropped first.
* ``RichProgressCallback()``: a rich progress bar (steps, ETA, latest loss) replacing tqdm's; log lines above it.
* ``TimeLimitCallback(minutes)``, ``SaveTokenizerCallback(tokenizer)``: stop after a wall-time budget (every process
  at the same step); save the tokenizer into every checkpoint folder.
* ``quiet_replicas(training_args)``, ``is_main_process()``: multi-process runs (``torchrun``, ``accelerate launch``):
  r2d's log lines from the first process of each node only, as ``Trainer``'s; whether this process prints.
* ``read_metrics(path) -> list[dict]``. Charts of these files: :mod:`r2d.analysis.plots`.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import operator
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import Trainer, TrainerCallback

from r2d.io import InputError, read_jsonl

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------------- presets

PRESETS: dict[str, dict[str, Any]] = {
    # tests: seconds on a CPU
    "tiny": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64),
    # the scaling study's size below mini: ~0.26M parameters outside the embeddings (a quarter of mini's)
    "micro": dict(hidden_size=64, num_hidden_layers=4, num_attention_heads=4, intermediate_size=256),
    # the experiment's cpu preset: ~1M parameters outside the embeddings, a few minutes per run on 2 cores
    "mini": dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, intermediate_size=512),
    # this 2-core CPU: minutes per model
    "small": dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024),
    # RoBERTa-base, for GPUs
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
}

TRAIN_DEFAULTS: dict[str, dict[str, Any]] = {
    "tiny": dict(max_length=64, batch_size=8, learning_rate=1e-3, warmup_steps=0, weight_decay=0.01,
                 logging_steps=1, eval_steps=50, save_steps=50),
    "micro": dict(max_length=128, batch_size=16, learning_rate=1e-3, warmup_steps=20, weight_decay=0.01,
                  logging_steps=10, eval_steps=50, save_steps=100),
    "mini": dict(max_length=128, batch_size=16, learning_rate=1e-3, warmup_steps=20, weight_decay=0.01,
                 logging_steps=10, eval_steps=50, save_steps=100),
    "small": dict(max_length=128, batch_size=16, learning_rate=5e-4, warmup_steps=50, weight_decay=0.01,
                  logging_steps=10, eval_steps=50, save_steps=100),
    "base": dict(max_length=512, batch_size=32, learning_rate=1e-4, warmup_steps=10000, weight_decay=0.01,
                 logging_steps=100, eval_steps=2000, save_steps=2000),
}


def model_config(kind: str, preset: str, *, vocab_size: int, max_length: int | None = None, **overrides):
    """The config of a preset-size model.

    Args:
        kind: ``"r2d"`` (-> ``R2DConfig``) or ``"roberta"`` (-> ``RobertaConfig``).
        preset: a key of :data:`PRESETS`.
        vocab_size: the tokenizer's ``len(tokenizer)``.
        max_length: longest sequence the model must take; sets ``max_position_embeddings = max_length + 2``
            (RoBERTa's offset). ``None`` = the preset's ``TRAIN_DEFAULTS`` max length.
        **overrides: any config field (``flag_names``, ``flag_pos_weight``, ``num_labels``, ...).
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    max_length = TRAIN_DEFAULTS[preset]["max_length"] if max_length is None else max_length
    kwargs = dict(PRESETS[preset], vocab_size=vocab_size, max_position_embeddings=max_length + 2,
                  pad_token_id=1, bos_token_id=0, eos_token_id=2, layer_norm_eps=1e-5, type_vocab_size=1)
    kwargs.update(overrides)
    if kind == "r2d":
        from r2d.modeling.encoder import R2DConfig

        return R2DConfig(**kwargs)
    if kind == "roberta":
        from transformers import RobertaConfig

        for key in [k for k in kwargs if k.startswith("flag_") or k == "num_flags"]:
            kwargs.pop(key)
        return RobertaConfig(**kwargs)
    raise ValueError(f"unknown model kind {kind!r}; expected 'r2d' or 'roberta'")


# ---------------------------------------------------------------------------------------------- run plumbing


MAX_SEED = 2**32 - 1
"""The largest seed :func:`set_seed` takes (numpy's limit)."""


def check_ranges(args: Any, at_least: Mapping[str, float], at_most: Mapping[str, float] | None = None,
                 positive: Sequence[str] = ()) -> None:
    """Raise :class:`r2d.io.InputError` naming the first option of ``args`` out of range; options not set pass.

    The message names the option as typed and says the bound: ``--warmup-steps -1: must be >= 0``.

    Args:
        args: a recipe's arguments dataclass.
        at_least: attribute name -> smallest allowed value.
        at_most: attribute name -> largest allowed value.
        positive: attribute names whose value must be > 0 (learning rates, time limits).
    """
    for name, least in at_least.items():
        if (value := getattr(args, name)) is not None and value < least:
            raise InputError(f"--{name.replace('_', '-')} {value}", f"must be >= {least}")
    for name, most in (at_most or {}).items():
        if (value := getattr(args, name)) is not None and value > most:
            raise InputError(f"--{name.replace('_', '-')} {value}", f"must be <= {most}")
    for name in positive:
        if (value := getattr(args, name)) is not None and not value > 0:
            raise InputError(f"--{name.replace('_', '-')} {value}", "must be > 0")


def set_seed(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    from transformers import set_seed as hf_set_seed

    hf_set_seed(int(seed))


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def save_run_args(out_dir: str | os.PathLike, args: Any, argv: Sequence[str] | None = None,
                  resume: bool = False) -> Path:
    """Write the exact run arguments to ``out_dir/args.json``.

    Args:
        out_dir: the run directory (created if missing).
        args: an ``argparse.Namespace``, dataclass or mapping of the parsed arguments.
        argv: the command line (default ``sys.argv``).
        resume: if ``args.json`` exists, append this invocation to its ``resumed`` list instead of replacing it.

    Returns:
        The path of ``args.json``.
    """
    import dataclasses

    import transformers

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if dataclasses.is_dataclass(args):
        values = dataclasses.asdict(args)
    elif isinstance(args, Mapping):
        values = dict(args)
    else:
        values = dict(vars(args))
    record = {
        "args": _jsonable(values),
        "argv": list(sys.argv if argv is None else argv),
        "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": _git_commit(),
        "versions": {"python": sys.version.split()[0], "torch": torch.__version__,
                     "transformers": transformers.__version__},
    }
    path = out / "args.json"
    if resume and path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
        data.setdefault("resumed", []).append(record)
    else:
        data = record
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def same_files(a: Any, b: Any) -> bool:
    """Whether two paths, or two lists of paths, name the same files (however each was written: relative, absolute,
    through a link); a path that does not exist is the same only as itself, written alike."""
    a, b = ([a], [b]) if isinstance(a, str) or isinstance(b, str) else (list(a or ()), list(b or ()))
    if a == b:
        return True
    try:
        return len(a) == len(b) and all(os.path.samefile(x, y) for x, y in zip(a, b))
    except (OSError, TypeError):
        return False


def changed_run_args(out_dir: str | os.PathLike, args: Any, keep: Sequence[str] = (),
                     same: Mapping[str, Callable[[Any, Any], bool]] | None = None) -> list[str]:
    """The settings of ``args`` that differ from those the run in ``out_dir`` started with (its ``args.json``).

    Args:
        out_dir: the run directory.
        args: the arguments dataclass of this invocation.
        keep: attribute names that may differ (not compared).
        same: attribute name -> the equality of its values where ``==`` is too strict (:func:`same_files`).

    Returns:
        One ``name old -> new`` per differing setting (values as repr: ``model 'r2d' -> 'roberta'``), in field
        order; settings the record lacks (a run from an older version) are not compared; ``[]`` without ``args.json``.

    Raises:
        r2d.io.InputError: ``args.json`` is not the JSON this module writes.
    """
    import dataclasses

    path = Path(out_dir) / "args.json"
    if not path.is_file():
        return []
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))["args"]
    except (ValueError, KeyError, TypeError) as err:
        raise InputError(path, f"not a run's arguments record ({err})") from None
    now = _jsonable(dataclasses.asdict(args))
    same = same or {}
    return [f"{name} {saved[name]!r} -> {value!r}" for name, value in now.items()
            if name not in keep and name in saved and not same.get(name, operator.eq)(saved[name], value)]


_CKPT = re.compile(r"^checkpoint-(\d+)$")


def last_checkpoint(out_dir: str | os.PathLike) -> str | None:
    """The newest complete ``checkpoint-N`` directory in ``out_dir``, or ``None``.

    ``Trainer`` writes ``trainer_state.json`` last, so a checkpoint counts as complete when that file parses
    and weights are present; one cut short by ``kill -9`` is skipped in favour of the previous one.
    """
    out = Path(out_dir)
    if not out.is_dir():
        return None
    found = sorted(((int(m.group(1)), p) for p in out.iterdir() if p.is_dir() and (m := _CKPT.match(p.name))),
                   reverse=True)
    for step, path in found:
        state = path / "trainer_state.json"
        has_weights = any(path.glob("*.safetensors")) or any(path.glob("pytorch_model*.bin"))
        try:
            ok = has_weights and json.loads(state.read_text(encoding="utf-8")).get("global_step") == step
        except (OSError, ValueError):
            ok = False
        if ok:
            return str(path)
        logger.warning("skipping incomplete checkpoint %s", path)
    return None


# ------------------------------------------------------------------------------------------------- trainer


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
    """

    def __init__(self, *args, loss_parts: Sequence[str] = ("mlm_loss", "flag_loss"), train_sampler=None,
                 eval_outputs: Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, torch.Tensor]] | None = None,
                 **kwargs):
        super().__init__(*args, **kwargs)
        # subtle: models with **kwargs in forward would otherwise get num_items_in_batch and their per-batch
        # mean loss would not be divided by the gradient accumulation steps.
        self.model_accepts_loss_kwargs = False
        self.loss_parts = tuple(loss_parts)
        self.train_sampler = train_sampler
        self.eval_outputs = eval_outputs
        self._part_sums: dict[str, torch.Tensor] = {}  # on the device: read at logging steps only
        self._part_counts: dict[str, int] = {}
        if self.args.tf32 is None and self.args.device.type == "cuda":
            from r2d.device import use_tf32

            use_tf32()

    def _get_train_sampler(self, train_dataset=None):
        if self.train_sampler is not None:
            return self.train_sampler
        return super()._get_train_sampler(train_dataset)

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


class MetricsJsonlCallback(TrainerCallback):
    """Appends one JSON object per log call to ``path``: ``{"step": ..., "time": ..., **logs}``.

    On a resumed run, lines with ``step`` beyond the restored step are dropped first (they belong to the
    steps being redone); a fresh run (step 0) starts a new file.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kept = []
        if state.global_step > 0 and self.path.exists():  # subtle: read_jsonl skips a line cut short by kill -9
            kept = [json.dumps(row) for row in read_jsonl(self.path) if row.get("step", 0) <= state.global_step]
        self.path.write_text("".join(k + "\n" for k in kept), encoding="utf-8")

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        row = {"step": state.global_step, "time": round(time.time(), 3)}
        for k, v in logs.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                row[k] = float(v) if isinstance(v, float) and math.isfinite(v) else (v if isinstance(v, int) else None)
            elif isinstance(v, str):
                row[k] = v
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")


class RichProgressCallback(TrainerCallback):
    """A rich progress bar for training (step/max, elapsed, ETA, latest loss) and evaluation.

    Log lines (loss, eval metrics) are printed above the bar. On a non-terminal stderr rich prints no bar,
    only the log lines. With ``bar=False`` there is no bar at all and the log lines go to ``logging`` (INFO).
    """

    def __init__(self, show_keys: Sequence[str] = ("loss", "mlm_loss", "flag_loss", "learning_rate",
                                                    "eval_loss", "eval_macro_f1", "eval_accuracy"),
                 bar: bool = True):
        self.show_keys = tuple(show_keys)
        self.bar = bar
        self.progress = None
        self.task = None
        self.eval_task = None

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero or not self.bar:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
            TimeRemainingColumn

        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TimeRemainingColumn(), TextColumn("{task.fields[info]}"), console=Console(stderr=True),
        )
        self.progress.start()
        self.task = self.progress.add_task("train", total=state.max_steps, completed=state.global_step, info="")

    def on_step_end(self, args, state, control, **kwargs):
        if self.progress is not None:
            self.progress.update(self.task, completed=state.global_step)

    def on_prediction_step(self, args, state, control, eval_dataloader=None, **kwargs):
        if self.progress is None:
            return
        if self.eval_task is None:
            total = len(eval_dataloader) if eval_dataloader is not None and hasattr(eval_dataloader, "__len__") else None
            self.eval_task = self.progress.add_task("eval", total=total, info="")
        self.progress.advance(self.eval_task)

    def on_evaluate(self, args, state, control, **kwargs):
        if self.progress is not None and self.eval_task is not None:
            self.progress.remove_task(self.eval_task)
            self.eval_task = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or not state.is_world_process_zero:
            return
        shown = {k: logs[k] for k in self.show_keys if k in logs}
        text = "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items())
        if self.progress is None:
            if text and not self.bar:
                logger.info("step %d/%d: %s", state.global_step, state.max_steps, text)
            return
        if "loss" in logs:
            self.progress.update(self.task, info=f"loss {logs['loss']:.4g}")
        if text:
            self.progress.console.print(f"step {state.global_step}: {text}")

    def on_train_end(self, args, state, control, **kwargs):
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


class TimeLimitCallback(TrainerCallback):
    """Stops training after ``minutes`` of wall time (the recipe then evaluates and saves as usual); in a
    multi-process run the main process's clock decides, so that every process stops at the same step."""

    def __init__(self, minutes: float):
        self.minutes = float(minutes)
        self.t0 = time.perf_counter()

    def on_train_begin(self, args, state, control, **kwargs):
        self.t0 = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        over = time.perf_counter() - self.t0 > 60 * self.minutes
        if args.world_size > 1:  # subtle: a process that stopped alone would leave the others waiting forever
            from accelerate.utils import broadcast

            over = bool(broadcast(torch.tensor([int(over)], device=args.device), from_process=0).item())
        if over:
            logger.warning("--max-minutes %s reached at step %d: stopping", self.minutes, state.global_step)
            control.should_training_stop = True
            control.should_save = True


class SaveTokenizerCallback(TrainerCallback):
    """Saves the tokenizer into every checkpoint folder (so ``checkpoint-N`` is a complete model folder)."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def on_save(self, args, state, control, **kwargs):
        if args.should_save:  # the process that writes the checkpoint
            ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if ckpt.is_dir():
                self.tokenizer.save_pretrained(str(ckpt))


def quiet_replicas(training_args) -> None:
    """r2d's log lines at ``Trainer``'s level for replicas (WARNING) on every process but the first of each node
    (``training_args.should_log``); a single process is left as it is."""
    if not training_args.should_log:
        logging.getLogger("r2d").setLevel(training_args.get_process_log_level())


def is_main_process() -> bool:
    """Whether this process prints a run's closing lines: the only one, or the first of a multi-process run."""
    from accelerate import PartialState

    return PartialState().is_main_process


# ------------------------------------------------------------------------------------------- metrics files


def read_metrics(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of a ``metrics.jsonl`` (lines that do not parse, e.g. cut by a kill, are skipped)."""
    return read_jsonl(path)


__all__ = [
    "PRESETS", "TRAIN_DEFAULTS", "model_config", "set_seed", "save_run_args", "last_checkpoint", "R2DTrainer",
    "MetricsJsonlCallback", "RichProgressCallback", "TimeLimitCallback", "SaveTokenizerCallback", "read_metrics",
    "quiet_replicas", "is_main_process",
]
