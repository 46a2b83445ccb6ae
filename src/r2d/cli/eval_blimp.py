"""``r2d eval blimp``: BLiMP accuracy of a trained model, overall, per field and per paradigm, beside the published
reference rows (or as JSON).
"""

from __future__ import annotations

import json

from r2d.cli.common import ArgumentParser, add_device_options, below_minimum, device_problem, fail
from r2d.io import InputError

PROG = "r2d eval blimp"


def _parser() -> ArgumentParser:
    ap = ArgumentParser(
        prog=PROG,
        description="BLiMP accuracy: for every minimal pair, is the grammatical sentence more probable? Causal "
                    "models score full-sentence log-probability (every root, free flag and </s>); masked models "
                    "score pseudo-log-likelihood (each row masked in turn; R2D hides the word's flags and scores "
                    "them once per word). Reads every *.jsonl file of --data-dir as published (all 67 paradigms, "
                    "or any subset).",
        example="r2d eval blimp --model runs/clm-r2d/model --data-dir ../shared/data/blimp --json",
    )
    ap.add_argument("--model", required=True, metavar="DIR", help="model folder (OUT/model of 'r2d pretrain')")
    ap.add_argument("--data-dir", required=True, metavar="DIR", help="folder of BLiMP *.jsonl files")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    ap.add_argument("--limit", type=int, default=None, metavar="N", help="score only the first N pairs of each paradigm")
    ap.add_argument("--batch-size", type=int, default=32, metavar="N", help="sequences per forward pass (default 32)")
    add_device_options(ap)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if message := below_minimum(args, {"limit": 1, "batch_size": 1}):
        return fail(PROG, message)
    from r2d.evaluation.blimp import REFERENCE, evaluate, read_pairs
    from r2d.evaluation.scoring import load_scorer

    if message := device_problem(args):
        return fail(PROG, message)

    try:
        pairs = read_pairs(args.data_dir, limit_per_paradigm=args.limit)
    except InputError as e:
        return fail(PROG, f"--data-dir: {e}")
    try:
        scorer, rule = load_scorer(args.model, batch_size=args.batch_size, device=args.device,
                                   precision=args.precision)
    except (FileNotFoundError, ValueError, OSError) as e:
        return fail(PROG, f"--model {args.model}: {e}" if str(args.model) not in str(e) else str(e))

    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    console = Console(stderr=True)
    with Progress(console=console, transient=True, disable=args.json) as bar:
        task = bar.add_task(f"BLiMP ({rule})", total=len(pairs))
        result = evaluate(scorer, pairs, batch_size=max(1, args.batch_size // 2),
                          progress=lambda done: bar.update(task, completed=done))
    if args.json:
        print(json.dumps({**result.to_dict(), "rule": rule, "model": args.model, "reference": REFERENCE}, indent=2))
        return 0
    out = Console()
    table = Table(title=f"BLiMP: {result.pairs} pairs, {len(result.paradigms)} paradigms ({rule} scoring)")
    table.add_column("")
    table.add_column("accuracy", justify="right")
    table.add_row("[b]this model[/b]", f"[b]{result.overall:.1%}[/b]")
    for name, acc in REFERENCE.items():
        table.add_row(f"{name} (published, all 67)", f"{acc:.1%}")
    table.add_row("chance", "50.0%")
    out.print(table)
    for title, key, values in (("by field", "field", result.fields), ("by paradigm", "UID", result.paradigms)):
        part = Table(title=title)
        part.add_column(key)
        part.add_column("accuracy", justify="right")
        for name, acc in values.items():
            part.add_row(name, f"{acc:.1%}")
        out.print(part)
    return 0
