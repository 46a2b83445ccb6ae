"""The model at fixed amounts of text seen (``r2d pretrain --snapshot-steps``): saved into
``OUT/snapshots/step-N`` with the rows seen and training seconds so far, and listed back for learning curves.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from r2d.io import atomic_folder

SNAPSHOT_DIR = "snapshots"
CLOCK_FILE = "train_clock.json"


def snapshot_callback(out: Path, steps, tokenizer, rows_per_step: float):
    """A ``TrainerCallback`` saving the model at ``steps`` (set its ``trainer`` before training)."""
    from transformers import TrainerCallback

    class SnapshotCallback(TrainerCallback):
        """Saves model + tokenizer into ``OUT/snapshots/step-N`` at the given steps, with ``snapshot.json``
        ``{step, rows_seen, train_seconds}``; keeps a training clock in every checkpoint (``train_clock.json``)
        so that seconds continue across ``--resume``. A snapshot already on disk is not redone. The model is saved
        by :attr:`trainer` (set by the recipe): every process takes part, the main one writes."""

        def __init__(self):
            self.steps, self.t0, self.before = set(int(s) for s in steps), time.perf_counter(), 0.0
            # subtle: decided before training, so that every process skips the same snapshots
            self.done = {s for s in self.steps if (out / SNAPSHOT_DIR / f"step-{s}" / "snapshot.json").is_file()}
            self.trainer = None

        def seconds(self) -> float:
            return self.before + time.perf_counter() - self.t0

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            self.t0 = time.perf_counter()
            clock = Path(args.output_dir) / f"checkpoint-{state.global_step}" / CLOCK_FILE
            self.before = json.loads(clock.read_text())["train_seconds"] if clock.is_file() else 0.0
            if state.global_step == 0 and 0 in self.steps:
                self.save(args, 0)

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step in self.steps:
                self.save(args, state.global_step)

        def on_save(self, args, state, control, **kwargs):
            ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if args.should_save and ckpt.is_dir():
                (ckpt / CLOCK_FILE).write_text(json.dumps({"train_seconds": self.seconds()}) + "\n")

        def save(self, args, step: int) -> None:
            if step in self.done:
                return
            self.done.add(step)
            folder = out / SNAPSHOT_DIR / f"step-{step}"
            seconds = self.seconds()
            tmp = folder.with_name(folder.name + ".tmp")  # subtle: one path on every process: save_model is collective
            if not args.should_save:
                self.trainer.save_model(str(tmp))
                return
            with atomic_folder(folder, tmp=tmp) as work:  # a snapshot folder exists only complete
                self.trainer.save_model(str(work))
                tokenizer.save_pretrained(str(work))
                (work / "snapshot.json").write_text(json.dumps(
                    {"step": step, "rows_seen": int(round(step * rows_per_step)), "train_seconds": round(seconds, 2)})
                    + "\n", encoding="utf-8")

    return SnapshotCallback()


def snapshots(out: str | Path) -> list[dict]:
    """The snapshots of a run folder, by step: ``snapshot.json`` contents plus ``path``."""
    rows = []
    for f in sorted(Path(out, SNAPSHOT_DIR).glob("step-*/snapshot.json")):
        rows.append({**json.loads(f.read_text(encoding="utf-8")), "path": str(f.parent)})
    return sorted(rows, key=lambda r: r["step"])


__all__ = ["snapshot_callback", "snapshots", "SNAPSHOT_DIR", "CLOCK_FILE"]
