"""Fine-tune one model on STS-B exactly as ``r2d experiment --preset cpu`` does, for each of the preset's
fine-tuning seeds, and print the validation Pearson of each seed and their mean +- std.

    python docs/experiment/finetune_seeds.py runs/pilot/clm-bpe-10k/model runs/pilot/ft/clm-bpe-10k

Used for the pilots of the README's *After that run* section: their rows compare with the run's untrained rows
because the settings and seeds are the preset's. ``--fixed-epochs N`` drops the preset's early stopping instead:
no dev set, N epochs, the last weights scored (the README's fine-tuning pilot).
"""

from __future__ import annotations

import argparse

import numpy as np

from r2d.analysis.presets import PRESETS
from r2d.training.finetune import FinetuneArgs, finetune


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a pretrained model folder (MLM or causal)")
    parser.add_argument("out", help="output folder (one seed<k> folder per seed)")
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--fixed-epochs", type=float, default=None, metavar="N",
                        help="no dev set or early stopping: train N epochs and score the last weights")
    args = parser.parse_args()
    p = PRESETS["cpu"]
    fixed = args.fixed_epochs is not None
    values = []
    for seed in p.seeds:
        res = finetune(FinetuneArgs(
            task="stsb", model=args.model, out=f"{args.out}/seed{seed}", data_dir=args.data_dir, seed=seed,
            epochs=args.fixed_epochs if fixed else p.finetune_epochs, eval_steps=p.finetune_eval_steps,
            logging_steps=max(1, p.finetune_eval_steps // 5), batch_size=p.finetune_batch_size, lr=p.finetune_lr,
            max_length=p.finetune_max_length, dev_size=0 if fixed else p.dev_size,
            patience=None if fixed else p.patience, eval_on_start=False, save=False, progress=False,
            extra={"bf16": True}), argv=["finetune_seeds.py", args.model])
        values.append(res["final"]["eval_pearson"])
        chosen = (f"last weights, step {res['steps']}" if fixed else
                  f"best dev {res['best_dev']:.4f} at step {res['best_step']}")
        print(f"seed {seed}: validation Pearson {values[-1]:.4f} ({chosen})", flush=True)
    print(f"{args.model}: {np.mean(values):.4f} +- {np.std(values, ddof=1):.4f} (n={len(values)})")


if __name__ == "__main__":
    main()
