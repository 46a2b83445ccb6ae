"""Fine-tune one model on STS-B exactly as ``r2d experiment --preset cpu`` does, for each of the preset's
fine-tuning seeds, and print the validation Pearson of each seed and their mean +- std.

    python docs/experiment/finetune_seeds.py runs/pilot/clm-bpe-10k/model runs/pilot/ft/clm-bpe-10k

Used for the README's pilots: their rows compare with the run's untrained rows because the settings and seeds are
the preset's. ``--fixed-epochs N`` drops the preset's early stopping instead: no dev set, N epochs, the last weights
scored (pilot 1 of *How the fine-tuning protocol was chosen*). The pilots made before the preset's protocol changed
(*After that run*, *Pilots*) ran with the first one, which ``--epochs 6 --dev-size 500 --patience 3`` gives back.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np

from r2d.experiment.presets import PRESETS
from r2d.experiment.units import finetune_args
from r2d.training.finetune import finetune


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a pretrained model folder (MLM or causal)")
    parser.add_argument("out", help="output folder (one seed<k> folder per seed)")
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--fixed-epochs", type=float, default=None, metavar="N",
                        help="no dev set or early stopping: train N epochs and score the last weights")
    for name, kind in (("epochs", float), ("dev-size", int), ("patience", int)):
        parser.add_argument(f"--{name}", type=kind, default=None, help=f"override the preset's fine-tuning {name}")
    args = parser.parse_args()
    p = PRESETS["cpu"]
    p = replace(p, **{f: v for f, v in (("finetune_epochs", args.epochs), ("dev_size", args.dev_size),
                                        ("patience", args.patience)) if v is not None})
    fixed = args.fixed_epochs is not None
    values = []
    for seed in p.seeds:
        run = finetune_args(p, "stsb", args.model, f"{args.out}/seed{seed}", seed, data_dir=args.data_dir)
        if fixed:
            run = replace(run, epochs=args.fixed_epochs, dev_size=0, patience=None)
        res = finetune(run, argv=["finetune_seeds.py", args.model])
        values.append(res["final"]["eval_pearson"])
        chosen = (f"last weights, step {res['steps']}" if fixed else
                  f"best dev {res['best_dev']:.4f} at step {res['best_step']}")
        print(f"seed {seed}: validation Pearson {values[-1]:.4f} ({chosen})", flush=True)
    print(f"{args.model}: {np.mean(values):.4f} +- {np.std(values, ddof=1):.4f} (n={len(values)})")


if __name__ == "__main__":
    main()
