"""``r2d eval``: a group of evaluations, each a sub-subcommand in the table below (``r2d eval bpb ...``)."""

from __future__ import annotations

import importlib
import json
import sys

from r2d.cli.common import ArgumentParser, add_device_options, below_minimum, device_problem, fail
from r2d.text.corpus import DOCUMENT_RULES

PROG = "r2d eval"

# name -> ("module:function", one-line summary); each function is main(argv) -> exit status
EVALUATIONS: dict[str, tuple[str, str]] = {
    "bpb": ("r2d.cli.eval:bpb_main", "bits per UTF-8 byte of text under a causal model (R2D or its BPE twin)"),
    "blimp": ("r2d.cli.eval_blimp:main", "BLiMP minimal-pair accuracy, overall, per field and per paradigm"),
    "lm-eval": ("r2d.cli.eval:lm_eval_main", "EleutherAI's lm-evaluation-harness on local BLiMP and wikitext-2 files "
                                             "(the 'eval' extra)"),
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
    add_device_options(ap)
    args = ap.parse_args(argv)
    if message := below_minimum(args, {"window": 2, "stride": 1, "max_docs": 1, "batch_size": 1}):
        return fail(prog, message)
    if message := device_problem(args):
        return fail(prog, message)
    if args.window and args.stride and args.stride >= args.window:
        return fail(prog, f"--stride must be smaller than --window ({args.window}), got {args.stride}")
    from transformers.utils import logging as hf_logging

    from r2d.device import place
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
        result = bits_per_byte(place(model, args.device), codec, docs, window=args.window, stride=args.stride,
                               batch_size=args.batch_size, precision=args.precision)
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


EVAL_EXTRA = 'pip install -e ".[eval]" (or pip install "lm_eval>=0.4.13")'


def _local_task(name: str) -> bool:
    """Whether ``r2d eval lm-eval`` serves a task name from local files (BLiMP and wikitext, or a pattern of them)."""
    return name.startswith("blimp") or name.startswith("wikitext")


def lm_eval_main(argv: list[str] | None = None) -> int:
    """``r2d eval lm-eval``: lm-evaluation-harness tasks on a causal model (see :mod:`r2d.evaluation.harness`)."""
    prog = f"{PROG} lm-eval"
    ap = ArgumentParser(
        prog=prog,
        description="Run EleutherAI's lm-evaluation-harness on a causal model (R2D or its twin) through its r2d "
                    "model class, offline: BLiMP from a folder of the published *.jsonl files (a task "
                    "blimp_<file stem> per file, and the group blimp), scored as 'r2d eval blimp' scores it (each "
                    "sentence as a whole document, its end included), and lm-eval's wikitext task (its "
                    "detokenizer, word_perplexity, byte_perplexity, bits_per_byte) on the articles of wikitext-2's "
                    "raw test file. Any other task name is lm-eval's own and reads its data from the Hugging Face "
                    "Hub. Needs the 'eval' extra: " + EVAL_EXTRA + ".",
        example="r2d eval lm-eval --model runs/clm-r2d/model --tasks blimp,wikitext --blimp-dir ../shared/data/blimp "
                "--wikitext ../shared/data/wikitext-2-raw/wiki.test.raw --limit 100 --json",
    )
    ap.add_argument("--model", required=True, metavar="DIR", help="causal model folder (with its tokenizer)")
    ap.add_argument("--tasks", required=True, metavar="TASK[,TASK...]",
                    help="comma-separated task or group names, e.g. blimp_transitive,wikitext or blimp (all files "
                         "of --blimp-dir); patterns such as blimp_npi* match the local tasks")
    ap.add_argument("--blimp-dir", metavar="DIR", help="folder of BLiMP *.jsonl files (for blimp tasks)")
    ap.add_argument("--wikitext", metavar="FILE", help="wikitext-2's raw test file, wiki.test.raw (for wikitext)")
    ap.add_argument("--limit", type=int, default=None, metavar="N",
                    help="score only the first N documents of each task")
    ap.add_argument("--json", action="store_true", help="print lm-eval's results object (task -> metric -> value)")
    ap.add_argument("--batch-size", type=int, default=8, metavar="N", help="sequences per forward pass (default 8)")
    add_device_options(ap)
    args = ap.parse_args(argv)
    if message := below_minimum(args, {"limit": 1, "batch_size": 1}):
        return fail(prog, message)
    if message := device_problem(args):
        return fail(prog, message)
    try:
        import lm_eval
    except ImportError:
        return fail(prog, f"needs lm-evaluation-harness, in r2d's 'eval' extra: {EVAL_EXTRA}")
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if not tasks:
        return fail(prog, f"--tasks {args.tasks!r}: no task named")
    needs_blimp = any(t.startswith("blimp") for t in tasks)
    needs_wikitext = any(t.startswith("wikitext") for t in tasks)
    if needs_blimp and not args.blimp_dir:
        return fail(prog, f"--tasks {next(t for t in tasks if t.startswith('blimp'))}: needs --blimp-dir DIR (a folder "
                          "of BLiMP *.jsonl files)")
    if needs_wikitext and not args.wikitext:
        return fail(prog, f"--tasks {next(t for t in tasks if t.startswith('wikitext'))}: needs --wikitext FILE "
                          "(wikitext-2's raw test file, wiki.test.raw)")
    import fnmatch
    import tempfile

    from datasets.utils.logging import disable_progress_bar
    from transformers.utils import logging as hf_logging

    from r2d.evaluation.harness import R2DLM, write_tasks
    from r2d.io import InputError

    hf_logging.disable_progress_bar()
    disable_progress_bar()
    with tempfile.TemporaryDirectory(prefix="r2d-lm-eval-") as folder:
        try:
            local = write_tasks(folder, blimp_dir=args.blimp_dir) if needs_blimp else []
        except InputError as e:
            return fail(prog, f"--blimp-dir: {e}")
        try:
            local += write_tasks(folder, wikitext=args.wikitext) if needs_wikitext else []
        except InputError as e:
            return fail(prog, str(e))
        names: list[str] = []
        for t in tasks:
            if not _local_task(t):
                names.append(t)
                continue
            matched = fnmatch.filter(local, t)
            if not matched:
                family = "blimp" if t.startswith("blimp") else "wikitext"
                where = f"--blimp-dir {args.blimp_dir}" if family == "blimp" else f"--wikitext {args.wikitext}"
                given = ", ".join(n for n in local if n.startswith(family))
                return fail(prog, f"--tasks {t}: no such task in {where} (it gives: {given})")
            names += [m for m in matched if m not in names]
        others = [t for t in names if not _local_task(t)]
        try:
            lm = R2DLM(args.model, batch_size=args.batch_size, device=args.device, precision=args.precision)
        except (FileNotFoundError, ValueError, OSError) as e:
            return fail(prog, f"--model {args.model}: {e}" if str(args.model) not in str(e) else str(e))
        from lm_eval.tasks import TaskManager

        manager = TaskManager(include_path=folder, include_defaults=bool(others))  # lm-eval's own only when named
        unknown = [t for t in others if t not in manager.all_tasks]
        if unknown:
            return fail(prog, f"--tasks {unknown[0]}: no such task (local: {', '.join(local) or 'none'}; "
                              "lm-eval's own: lm-eval ls tasks)")
        try:
            results = lm_eval.simple_evaluate(model=lm, tasks=names, limit=args.limit, task_manager=manager,
                                              log_samples=False)
        except OSError as e:  # lm-eval's own tasks read the Hub: offline, or no such data set
            return fail(prog, f"--tasks {','.join(others) or ','.join(names)}: cannot read the task's data ({e})")
    if args.json:
        print(json.dumps(results["results"], indent=2, default=str))
        return 0
    from lm_eval.utils import make_table

    print(make_table(results))
    if results.get("groups"):
        print(make_table(results, "groups"))
    return 0
