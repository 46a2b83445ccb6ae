"""``r2d experiment``: the command line of the R2D-vs-1D comparison (:mod:`r2d.experiment`); its options are
:class:`r2d.experiment.presets.ExperimentArgs`.
"""

from __future__ import annotations

import logging
import sys

from r2d.cli.common import guard

PROG = "r2d experiment"
EXAMPLE = ("r2d experiment --preset cpu --data-dir ../shared/data --out runs/cpu\n"
           "  r2d experiment --preset cpu --data-dir ../shared/data --out runs/cpu --flag-sets case affixes"
           "   # then the flag-set ablation\n"
           "  r2d experiment --preset cpu --data-dir ../shared/data --out runs/cpu --scaling"
           "   # then the scaling study\n"
           "  r2d experiment --preset cpu --data-dir ../shared/data --out runs/cpu --electra"
           "   # then the ELECTRA arm")


def build_parser():
    """The ``r2d experiment`` parser over :class:`r2d.experiment.presets.ExperimentArgs`."""
    from r2d.experiment.presets import ExperimentArgs, presets_table
    from r2d.cli.args import DataclassArgumentParser

    return DataclassArgumentParser(
        ExperimentArgs, prog=PROG, example=EXAMPLE, notes="presets:\n" + presets_table(),
        description="The R2D comparison end to end, at equal compute: tokenizers of one size trained on the same "
                    "text -> a causal pair (R2D, BPE twin; several seeds; bits per byte on held-out Wikipedia and "
                    "wikitext-2, BLiMP, learning curves) and an MLM pair (R2D, RoBERTa; per-flag F1, fine-tuning "
                    "with early stopping), each beside its untrained row -> OUT/report.html, OUT/summary.json and "
                    "charts with paired bootstrap intervals. Rerunning the same command continues a killed run; a "
                    "finished stage made with other settings or on other data files stops it and names them (delete "
                    "that stage's marker in OUT/stages to run it again).")


@guard(PROG)
def main(argv: list[str] | None = None) -> int:
    """Run or continue the experiment; print the summary table."""
    from r2d.experiment.run import run_experiment
    from r2d.experiment.presets import resolve
    from r2d.analysis.report import summary_markdown

    args = build_parser().parse(argv)
    preset = resolve(args)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # subtle: a "Writing model shards" bar at every snapshot otherwise
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    page, summary = run_experiment(preset, args.out, data_dir=args.data_dir, corpus=args.corpus,
                                   preset_name=args.preset, threads=args.threads,
                                   progress=args.progress)
    print(summary_markdown(summary))
    print(f"\nreport: {page}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
