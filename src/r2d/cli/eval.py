"""``r2d eval``: a group of evaluations, each a sub-subcommand in the table below (``r2d eval bpb ...``)."""

from __future__ import annotations

import importlib
import json
import sys

from r2d.cli.common import ArgumentParser, below_minimum, fail
from r2d.text.corpus import DOCUMENT_RULES

PROG = "r2d eval"

# name -> ("module:function", one-line summary); each function is main(argv) -> exit status
EVALUATIONS: dict[str, tuple[str, str]] = {
    "bpb": ("r2d.cli.eval:bpb_main", "bits per UTF-8 byte of text under a causal model (R2D or its BPE twin)"),
    "blimp": ("r2d.cli.eval_blimp:main", "BLiMP minimal-pair accuracy, overall, per field and per paradigm"),
}


def _usage() -> str:
    width = max(map(len, EVALUATIONS))
    rows = "\n".join(f"  {k:<{width}}  {v[1]}" for k, v in EVALUATIONS.items())
    return (f"usage: {PROG} EVALUATION [options]\n\nEvaluate a trained model.\n\nevaluations:\n{rows}\n\n"
            "example:\n  r2d eval bpb --model runs/clm-r2d/model --text ../shared/data/wikitext-2-raw/wiki.test.raw\n"
            f"Run '{PROG} EVALUATION --help' for its options.")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:  # no evaluation named: a usage error, as for r2d itself
        print(_usage(), file=sys.stderr)
        return 2
    if argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if argv[0] not in EVALUATIONS:
        print(f"{PROG}: unknown evaluation {argv[0]!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module, func = EVALUATIONS[argv[0]][0].split(":")
    return int(getattr(importlib.import_module(module), func)(argv[1:]) or 0)


def bpb_main(argv: list[str] | None = None) -> int:
    """``r2d eval bpb``: bits per byte of text files (see :mod:`r2d.evaluation.bpb` for the rule)."""
    prog = f"{PROG} bpb"
    ap = ArgumentParser(
        prog=prog,
        description="Bits per UTF-8 byte of text under a causal model: the total negative log-likelihood in bits "
                    "of every predicted row (roots, free flags, the end of each document) divided by the text's "
                    "UTF-8 bytes. Documents (--documents auto): a file with WikiExtractor <doc> markup is "
                    "scored article by article; any other file is one document, all its bytes counted and its "
                    "line breaks predicted like any other text, so figures compare with published bits per byte "
                    "on raw files. "
                    "Documents longer than --window rows are scored in windows advancing by --stride rows, each "
                    "row once (the same rule for R2D and its twin). R2D scores its canonical encoding only, so "
                    "its figure is an upper bound.",
        example="r2d eval bpb --model runs/clm-r2d/model --text ../shared/data/wikitext-2-raw/wiki.test.raw --json",
    )
    ap.add_argument("--model", required=True, metavar="DIR", help="causal model folder (with its tokenizer)")
    ap.add_argument("--text", required=True, nargs="+", metavar="FILE", help="text files (.gz too)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    ap.add_argument("--window", type=int, default=None, metavar="N",
                    help="rows per window, at most the model's max_position_embeddings (default: that, its "
                         "training length)")
    ap.add_argument("--stride", type=int, default=None, metavar="N", help="rows a window advances (default N/2)")
    ap.add_argument("--documents", choices=DOCUMENT_RULES, default="auto",
                    help="how a file is cut into documents: auto (WikiExtractor articles where marked, else the whole "
                         "file), file (the whole file, every byte), lines (each non-blank line; line breaks and blank "
                         "lines neither predicted nor counted)")
    ap.add_argument("--max-docs", type=int, default=None, metavar="N", help="score only the first N documents")
    ap.add_argument("--batch-size", type=int, default=8, metavar="N", help="windows per forward pass (default 8)")
    args = ap.parse_args(argv)
    if message := below_minimum(args, {"window": 2, "stride": 1, "max_docs": 1, "batch_size": 1}):
        return fail(prog, message)
    if args.window and args.stride and args.stride >= args.window:
        return fail(prog, f"--stride must be smaller than --window ({args.window}), got {args.stride}")
    from transformers.utils import logging as hf_logging

    from r2d.evaluation.bpb import bits_per_byte
    from r2d.modeling.causal_data import load_causal_lm
    from r2d.text.corpus import scored_documents

    hf_logging.disable_progress_bar()
    try:
        docs, rules = scored_documents(args.text, args.documents)
        docs = docs[:args.max_docs]
    except (OSError, ValueError) as e:
        return fail(prog, f"--text: {e}")
    if not docs:
        return fail(prog, f"--text {' '.join(args.text)}: no text in these files")
    try:
        model, codec = load_causal_lm(args.model)
    except (FileNotFoundError, ValueError, OSError) as e:
        return fail(prog, f"--model {args.model}: {e}" if str(args.model) not in str(e) else str(e))
    if args.window and args.window > (limit := model.config.max_position_embeddings):
        return fail(prog, f"--window {args.window}: longer than the model can read (max_position_embeddings {limit})")
    try:
        result = bits_per_byte(model, codec, docs, window=args.window, stride=args.stride, batch_size=args.batch_size)
    except ValueError as e:
        return fail(prog, str(e))
    report = {**result.to_dict(), "model": args.model, "kind": "r2d" if codec.num_flags else "bpe",
              "text": args.text, "documents_rule": dict(zip(args.text, rules))}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"bits_per_byte  {result.bits_per_byte:.4f}\nbits           {result.bits:.1f}\nbytes          {result.bytes}\n"
          f"rows           {result.rows}  ({result.bits_per_row:.3f} bits per row; root {result.root_bits:.1f} + "
          f"flags {result.flag_bits:.1f} bits)\ndocuments      {result.documents}  (window {result.window}, "
          f"stride {result.stride}; {', '.join(f'{t}: {r}' for t, r in zip(args.text, rules))})")
    return 0
