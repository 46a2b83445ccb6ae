"""``r2d finetune``: the command line of the fine-tuning recipe (:mod:`r2d.training.finetune`), its options
:class:`r2d.training.finetune_args.FinetuneArgs`. Bad input ends in one line and exit status 2 before anything is
written; a finished run prints its final metrics (once, in a multi-process run).
"""

from __future__ import annotations

import logging
import sys

from r2d.cli.common import guard

PROG = "r2d finetune"
EXAMPLE = ("r2d finetune --task rte --model runs/r2d-small/model --out runs/ft/rte-r2d --data-dir ../shared/data "
           "--seed 1 --max-steps 300 --eval-steps 50\n"
           "  r2d finetune --task stsb --model runs/electra-r2d/model --out runs/ft/stsb-electra --data-dir "
           "../shared/data   # an ELECTRA discriminator")


def build_parser():
    """The ``r2d finetune`` parser over :class:`r2d.training.finetune.FinetuneArgs`."""
    from r2d.cli.args import DataclassArgumentParser
    from r2d.training.finetune import FinetuneArgs

    return DataclassArgumentParser(
        FinetuneArgs, prog=PROG, example=EXAMPLE,
        notes="model selection on a dev set with early stopping, and LoRA (needs peft):\n  r2d finetune --task stsb "
              "--model runs/r2d-small/model --out runs/ft/stsb-lora --data-dir ../shared/data --dev-size 500 "
              "--patience 3 --lora-r 8 --lr 1e-3",
        description="Fine-tune a checkpoint on a GLUE-style task: R2D or RoBERTa (MLM), causal R2D or its BPE twin "
                    "(a head on the last row), or a Hub model; evaluation every N steps into OUT/metrics.jsonl, "
                    "final numbers into OUT/results.json.")


@guard(PROG)
def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run :func:`r2d.training.finetune.finetune`, print the final metrics."""
    from r2d.training.finetune import check_args, finetune
    from r2d.training.trainer import is_main_process

    args = build_parser().parse(argv)
    check_args(args)  # subtle: before logging is set up, so bad input prints one line and nothing else
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    res = finetune(args, argv=["r2d", "finetune", *(argv if argv is not None else sys.argv[1:])])
    if not is_main_process():  # torchrun, accelerate launch: the metrics once
        return 0
    print(f"{res['task']} ({res['model_kind']}, seed {res['seed']}, {res['steps']} steps, "
          f"{res['train_seconds']:.0f} s): " + ", ".join(f"{k}={v:.4f}" for k, v in sorted(res["final"].items())
                                                         if not k.endswith(("runtime", "per_second"))))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
