"""The one console script ``r2d``: a table of subcommand -> module, each a ``main(argv) -> int`` imported only when
called (so ``r2d tokenize`` never pays for importing torch).
"""

from __future__ import annotations

import importlib
import os
import sys

# name -> ("module:function", one-line summary)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("r2d.cli.demo:main", "the article's sentence and a few paragraphs through r2d-en, vs RoBERTa"),
    "tokenize": ("r2d.cli.tokenize:tokenize_main", "print the 2D table (roots, ids, flags) of a text"),
    "decode": ("r2d.cli.tokenize:decode_main", "turn the JSON of 'tokenize --format json' back into text"),
    "train-tokenizer": ("r2d.cli.train_tokenizer:main", "train an r2d tokenizer from a corpus or word counts"),
    "stats": ("r2d.cli.stats:main", "flag rates, list coverage and rows/1000 bytes of r2d vs RoBERTa"),
    "build-list": ("r2d.cli.build_list:main", "make the default English deconstruction list (wordfreq + lemminflect)"),
    "game": ("r2d.cli.game:main", "the deconstruction game: decide word splits in frequency order"),
    "list": ("r2d.cli.lists:main", "check, measure or merge deconstruction lists"),
    "suggest": ("r2d.cli.lists:suggest_main", "suggest list entries automatically (plurals)"),
    "prepare-corpus": ("r2d.cli.prepare_corpus:main", "tokenize a corpus once into memory-mapped shards for pretrain"),
    "pretrain": ("r2d.cli.pretrain:main", "pretrain R2D or its 1D baseline: MLM (vs RoBERTa) or causal (vs a BPE twin)"),
    "finetune": ("r2d.cli.finetune:main", "fine-tune an MLM or causal checkpoint on a GLUE-style task"),
    "experiment": ("r2d.cli.experiment:main", "the R2D-vs-1D comparison at equal compute, with its report"),
    "generate": ("r2d.cli.generate:main", "continue a prompt with a causal model, printing words as they come"),
    "eval": ("r2d.cli.eval:main", "evaluate a model: 'r2d eval bpb' (bits per byte), 'r2d eval blimp' (BLiMP)"),
    "serve": ("r2d.cli.serve:main", "a local web playground: 2D tokens beside RoBERTa's, and generation"),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    rows = "\n".join(f"  {k:<{width}}  {v[1]}" for k, v in COMMANDS.items())
    return (
        "usage: r2d SUBCOMMAND [options]\n\n2D tokenization for language models.\n\nsubcommands:\n"
        f"{rows}\n\nexample:\n  r2d tokenize \"I enjoyed riding in Australia's parks.\" --compare\n"
        "Run 'r2d SUBCOMMAND --help' for the options of each."
    )


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:  # like argparse without its required argument: usage on stderr, status 2
        print(_usage(), file=sys.stderr)
        return 2
    if argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if argv[0] in ("-V", "--version"):
        from r2d import __version__

        print(__version__)
        return 0
    if argv[0] not in COMMANDS:
        print(f"r2d: unknown subcommand {argv[0]!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module, func = COMMANDS[argv[0]][0].split(":")  # subtle: only this command's module is imported
    fn = getattr(importlib.import_module(module), func)
    try:
        return int(fn(argv[1:]) or 0)
    except BrokenPipeError:  # `r2d tokenize ... | head`: the reader left; stop quietly, as cat does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # subtle: else the exit flush raises again
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
