"""``r2d pretrain``: the command line of the pretraining recipe (:mod:`r2d.training.pretrain`), its options
:class:`r2d.training.pretrain_args.PretrainArgs`. Bad input ends in one line and exit status 2 before anything is
written; a finished run prints a one-line summary (once, in a multi-process run).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from r2d.cli.common import guard

PROG = "r2d pretrain"
EXAMPLE = """r2d pretrain --model r2d --preset small --corpus ../shared/data/wikipedia_en/enwiki_AA_wiki_00-19.txt.gz \\
      --out runs/r2d-small --max-steps 600 --pack
  r2d pretrain --model roberta --preset small --corpus ... --out runs/roberta-small --max-steps 600 --pack
  r2d pretrain --objective clm --model bpe --preset small --corpus ... --out runs/clm-bpe --pack --train-tokenizer 8192
  r2d pretrain --objective electra --model r2d --preset small --corpus ... --out runs/electra-r2d --pack
  r2d pretrain --objective electra --model roberta --preset small --corpus ... --out runs/electra-twin --pack
  (after kill -9: the same command with --resume)"""


def build_parser():
    """The ``r2d pretrain`` parser over :class:`r2d.training.pretrain_args.PretrainArgs`."""
    from r2d.cli.args import DataclassArgumentParser
    from r2d.training.pretrain_args import PretrainArgs

    return DataclassArgumentParser(
        PretrainArgs, prog=PROG, example=EXAMPLE,
        description="Pretraining of R2D (root ids + flags) or of its 1D baseline on the same corpus and budget: "
                    "masked LM (--model r2d or roberta), causal LM (--objective clm, --model r2d or bpe, the BPE "
                    "twin) or ELECTRA (--objective electra, --model r2d or roberta, the 1D twin); writes "
                    "OUT/metrics.jsonl, TensorBoard logs, checkpoints and OUT/model.")


@guard(PROG)
def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run :func:`r2d.training.pretrain.pretrain`, print a one-line summary."""
    from r2d.training.pretrain import MODEL_DIR, pretrain
    from r2d.training.trainer import is_main_process

    args = build_parser().parse(argv)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # subtle: "Writing model shards" bars at every checkpoint otherwise
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    summary = pretrain(args, argv=["r2d", "pretrain", *(argv if argv is not None else sys.argv[1:])])
    if not is_main_process():  # torchrun, accelerate launch: the summary once
        return 0
    shown = {k: v for k, v in summary["last_eval"].items()
             if k in ("eval_loss", "eval_mlm_accuracy", "eval_macro_f1", "eval_mlm_loss", "eval_flag_loss",
                      "eval_bits_per_row", "eval_replaced_f1", "eval_change_macro_f1")}
    kind = summary["model"] + (" electra" if summary["objective"] == "electra" else "")
    print(f"{kind} ({summary['preset']}): {summary['steps']} steps, "
          f"{summary['train_seconds_this_invocation']:.0f} s; "
          + ", ".join(f"{k}={v:.4f}" for k, v in shown.items()) + f"; model in {Path(args.out) / MODEL_DIR}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
