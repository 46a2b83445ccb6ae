"""``r2d train-tokenizer``: train an r2d tokenizer (root BPE + flag schema + list) and save it to a folder
(:meth:`r2d.tokenizer.hf.R2DTokenizer.train`). Every input is checked before the long count, and the files move into
``--out`` only once all are written.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

from r2d.cli.common import ArgumentParser, below_minimum, fail, guard
from r2d.io import InputError, iter_lines
from r2d.text.corpus import WORDFREQ_PREFIX, wordfreq_language

PROG = "r2d train-tokenizer"


@guard(PROG)
def main(argv: list[str] | None = None) -> int:
    ap = ArgumentParser(
        prog=PROG,
        description="Train the byte-level BPE over roots (every word goes through step 1 first) and save the "
                    "tokenizer (BPE, flag schema, deconstruction list) to --out.",
        example="r2d train-tokenizer --word-counts wordfreq:en --vocab-size 50265 --out my-tokenizer\n"
                "  r2d train-tokenizer --corpus wiki.txt.gz --list my_list.tsv --vocab-size 8000 --out tok\n"
                "  r2d train-tokenizer --corpus wiki.txt.gz --flags case --vocab-size 8000 --out tok-case",
    )
    src = ap.add_argument_group("what to count (one or both)")
    src.add_argument("--corpus", nargs="+", metavar="FILE", help="text files (.gz too; WikiExtractor <doc> lines skipped)")
    src.add_argument("--word-counts", metavar="SPEC",
                     help="'wordfreq:en' or a file of word<TAB>count lines")
    ap.add_argument("--vocab-size", type=int, default=50_265, help="whole vocabulary incl. specials (default 50265)")
    ap.add_argument("--list", default="en", metavar="FILE",
                    help="deconstruction list: 'en' (bundled), a tilde-format file, or 'none' (default en)")
    ap.add_argument("--flags", default="default", metavar="SET",
                    help="the flag set: 'default' (the seven flags), 'case' (NoSpace, FirstCap, AllCaps only), or flag "
                         "names separated by commas; a flag left out leaves what it marks in the root (default: "
                         "default)")
    ap.add_argument("--affixes", nargs="*", default=[], metavar="AFFIX",
                    help="extra affixes to switch on as flags, added to --flags, e.g. un~ ~ly ~er")
    ap.add_argument("--min-frequency", type=int, default=2, help="merges seen fewer times are not learned (default 2)")
    ap.add_argument("--max-length", type=int, default=512,
                    help="model_max_length saved with the tokenizer (at least 3: <s>, one row, </s>; default 512)")
    ap.add_argument("--out", required=True, metavar="DIR", help="folder to write")
    args = ap.parse_args(argv)
    if not args.corpus and not args.word_counts:
        return fail(PROG, "give --corpus FILE... or --word-counts SPEC (or both)")
    from r2d.flags import FlagSchema
    from r2d.tokenizer.train import check_vocab_size

    too_small = below_minimum(args, {"min_frequency": 0, "max_length": 3})
    if too_small:
        return fail(PROG, too_small)
    try:
        check_vocab_size(args.vocab_size)
    except ValueError as err:
        return fail(PROG, f"--vocab-size: {err}")
    try:
        FlagSchema.parse(args.flags)
    except ValueError as err:
        return fail(PROG, f"--flags: {err}")
    try:
        schema = FlagSchema.parse(args.flags + "+" + ",".join(args.affixes))
    except ValueError as err:
        return fail(PROG, f"--affixes: {err}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}", "is a file, not a folder")
    if not out.parent.is_dir():
        raise InputError(f"--out {out}", f"folder {out.parent} does not exist")
    for f in args.corpus or []:
        _check_has_text(f, "--corpus")
    if args.word_counts and args.word_counts.startswith(WORDFREQ_PREFIX):
        wordfreq_language(args.word_counts, what="--word-counts")
    elif args.word_counts:
        _check_has_text(args.word_counts, "--word-counts")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from r2d.lists.deconstruct import DeconstructionList
    from r2d.tokenizer.hf import R2DTokenizer

    lst = args.list if args.list in ("en", "none") else DeconstructionList.read(args.list)  # checked before counting
    try:
        tok = R2DTokenizer.train(
            args.corpus, word_counts=args.word_counts, vocab_size=args.vocab_size,
            deconstruction_list=None if lst == "none" else lst, flag_names=schema.names,
            min_frequency=args.min_frequency, model_max_length=args.max_length,
            show_progress=sys.stderr.isatty(),  # subtle: tokenizers' bars leave blank lines on stdout when not a terminal
        )
    except InputError:
        raise
    except ValueError as err:  # settings the trainer refuses (a vocabulary too small for the alphabet, ...)
        return fail(PROG, str(err))
    paths = save_whole(tok, out)
    print(f"{tok}\nwrote {', '.join(paths)}")
    return 0


def _check_has_text(path: str, what: str) -> None:
    """Fail now, not after a long count, on a file that is missing, a folder, binary, or without text."""
    if not any(line.strip() for line in iter_lines(path, what=what)):
        raise InputError(f"{what} {path}", "has no text")


def save_whole(tok, out: Path) -> list[str]:
    """``tok.save_pretrained`` into a temp folder beside ``out``, then each file renamed into ``out``: a
    crash leaves the old files or the new ones, never a half-written file."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        written = tok.save_pretrained(tmp)
        out.mkdir(exist_ok=True)
        final = []
        for p in written:
            os.replace(p, out / Path(p).name)
            final.append(str(out / Path(p).name))
        return final
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
