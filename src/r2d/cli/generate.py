"""``r2d generate``: continue a prompt with a causal model, printing the text word by word as it is generated."""

from __future__ import annotations

import sys

from r2d.cli.common import ArgumentParser, add_device_options, fail
from r2d.modeling.sampling_settings import sampling_problem

PROG = "r2d generate"


def build_parser() -> ArgumentParser:
    ap = ArgumentParser(
        prog=PROG,
        description="Continue a prompt with a causal model (R2D or its BPE twin, a folder written by "
                    "'r2d pretrain --objective clm'). The prompt is printed, then each word as soon as it is "
                    "complete; generation stops at the end-of-text row or after --max-new-tokens rows.",
        example='r2d generate --model runs/clm-r2d/model --prompt "The history of" --max-new-tokens 40 '
                "--temperature 0.8 --top-p 0.95 --seed 0",
    )
    ap.add_argument("--model", required=True, metavar="DIR", help="causal model folder (with its tokenizer)")
    ap.add_argument("--prompt", required=True, metavar="TEXT", help="text to continue ('' = from scratch)")
    ap.add_argument("--max-new-tokens", type=int, default=64, metavar="N", help="at most N new rows (default 64)")
    ap.add_argument("--temperature", type=float, default=1.0, metavar="T",
                    help="sampling temperature; 0 = greedy (default 1.0)")
    ap.add_argument("--top-k", type=int, default=None, metavar="K", help="sample among the K most likely roots")
    ap.add_argument("--top-p", type=float, default=None, metavar="P",
                    help="sample among the most likely roots that together reach probability P")
    ap.add_argument("--seed", type=int, default=None, metavar="S", help="random seed (same seed = same text)")
    ap.add_argument("--no-cache", dest="use_cache", action="store_false",
                    help="recompute all rows at every step instead of using the KV cache (same text, slower)")
    add_device_options(ap)
    return ap


def check_args(args) -> str | None:
    """The first bad option as a message naming it, or ``None``."""
    if args.max_new_tokens < 1:
        return f"--max-new-tokens must be >= 1, got {args.max_new_tokens}"
    bad = sampling_problem(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p)
    if bad:
        name, rule, value = bad
        return f"--{name.replace('_', '-')} {rule}, got {value}"
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    problem = check_args(args)
    if problem:
        return fail(PROG, problem)
    from transformers.utils import logging as hf_logging

    from r2d.device import place, resolve_device
    from r2d.modeling.causal_data import load_causal_lm
    from r2d.modeling.generation import stream_words

    hf_logging.disable_progress_bar()
    try:
        device = resolve_device(args.device)
    except ValueError as e:
        return fail(PROG, f"--device {args.device}: {e}")
    try:
        model, codec = load_causal_lm(args.model)
    except (FileNotFoundError, ValueError, OSError) as e:
        return fail(PROG, f"--model {args.model}: {e}" if str(args.model) not in str(e) else str(e))
    model = place(model, device)
    print(args.prompt, end="", flush=True)
    for word in stream_words(model, codec, args.prompt, max_new_tokens=args.max_new_tokens,
                             temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, seed=args.seed,
                             use_cache=args.use_cache, precision=args.precision):
        sys.stdout.write(word["text"])
        sys.stdout.flush()
    print()
    return 0
