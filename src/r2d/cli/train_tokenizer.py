"""``r2d train-tokenizer``: train an r2d tokenizer (root BPE + flag schema + list) and save it to a folder."""

from __future__ import annotations

import logging

from r2d.cli.common import ArgumentParser, fail

PROG = "r2d train-tokenizer"


def main(argv: list[str] | None = None) -> int:
    ap = ArgumentParser(
        prog=PROG,
        description="Train the byte-level BPE over roots (every word goes through step 1 first) and save the "
                    "tokenizer (BPE, flag schema, deconstruction list) to --out.",
        example="r2d train-tokenizer --word-counts wordfreq:en --vocab-size 50265 --out my-tokenizer\n"
                "  r2d train-tokenizer --corpus wiki.txt.gz --list my_list.tsv --vocab-size 8000 --out tok",
    )
    src = ap.add_argument_group("what to count (one or both)")
    src.add_argument("--corpus", nargs="+", metavar="FILE", help="text files (.gz too; WikiExtractor <doc> lines skipped)")
    src.add_argument("--word-counts", metavar="SPEC",
                     help="'wordfreq:en' or a file of word<TAB>count lines")
    ap.add_argument("--vocab-size", type=int, default=50_265, help="whole vocabulary incl. specials (default 50265)")
    ap.add_argument("--list", default="en", metavar="FILE",
                    help="deconstruction list: 'en' (bundled), a tilde-format file, or 'none' (default en)")
    ap.add_argument("--affixes", nargs="*", default=[], metavar="AFFIX",
                    help="extra affixes to switch on as flags, e.g. un~ ~ly ~er")
    ap.add_argument("--min-frequency", type=int, default=2, help="merges seen fewer times are not learned (default 2)")
    ap.add_argument("--max-length", type=int, default=512, help="model_max_length saved with the tokenizer")
    ap.add_argument("--out", required=True, metavar="DIR", help="folder to write")
    args = ap.parse_args(argv)
    if not args.corpus and not args.word_counts:
        return fail(PROG, "give --corpus FILE... or --word-counts SPEC (or both)")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from r2d.lists.deconstruct import ListError
    from r2d.flags import FlagSchema
    from r2d.tokenizer.hf import R2DTokenizer

    try:
        schema = FlagSchema.with_affixes(args.affixes)
        tok = R2DTokenizer.train(
            args.corpus, word_counts=args.word_counts, vocab_size=args.vocab_size,
            deconstruction_list=None if args.list == "none" else args.list, flag_names=schema.names,
            min_frequency=args.min_frequency, model_max_length=args.max_length, show_progress=True,
        )
    except (ListError, FileNotFoundError, ValueError) as err:
        return fail(PROG, str(err))
    paths = tok.save_pretrained(args.out)
    print(f"{tok}\nwrote {', '.join(paths)}")
    return 0
