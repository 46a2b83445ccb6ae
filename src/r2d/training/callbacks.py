"""``Trainer`` callbacks the recipes share: metrics as JSON lines, a rich progress bar, a wall-time limit, and the
tokenizer saved into every checkpoint.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import TrainerCallback

from r2d.io import read_jsonl

logger = logging.getLogger(__name__)


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


__all__ = ["MetricsJsonlCallback", "RichProgressCallback", "TimeLimitCallback", "SaveTokenizerCallback"]
