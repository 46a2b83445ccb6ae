"""``r2d build-list``: make an English deconstruction list (:func:`r2d.lists.english.build_english_list`), written
atomically and checked. The same command and package versions give a byte-identical file (no dates in the header).
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
from pathlib import Path

from r2d.cli.common import fail, guard
from r2d.io import InputError, check_file as check_input
from r2d.lists.deconstruct import check_file, write_entries
from r2d.lists.english import (DEFAULT_AFFIXES, EXTRA_AFFIXES, IRREGULAR_VERBS, build_english_list,
                               default_affix_exceptions_path, default_exceptions_path, read_exceptions, versions)

DEFAULT_OUT = "en.tsv"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="r2d build-list",
        description="Make an English deconstruction list: the top N wordfreq words in frequency order, split into "
        "root + ~s/~ed/~ing (and, with --affixes, ~ly ~er ~est un~ re~ ~ness) where lemminflect or the spelling "
        "rules find a frequent root, minus the hand-written exceptions (kept whole).",
        epilog="example:\n  r2d build-list --out src/r2d/data/en.tsv     # how the shipped list is made\n"
        "  r2d build-list --words 5000 --out /tmp/small.tsv\n"
        "  r2d build-list --affixes ~s ~ed ~ing ~ly ~er ~est un~ re~ ~ness --out en-affixes.tsv   # more affixes",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--words", type=int, default=60000, metavar="N",
                   help="how many of wordfreq's most frequent English words to consider (default: 60000)")
    p.add_argument("--exceptions", metavar="FILE", default=None,
                   help="tilde-format exceptions: 'word<TAB>' keeps whole, 'word<TAB>root ~x' forces a split "
                   "(default: the bundled en_exceptions.txt)")
    p.add_argument("--affixes", nargs="+", default=list(DEFAULT_AFFIXES), metavar="AFFIX",
                   help="the affixes to split off: ~s ~ed ~ing and any of " + " ".join(EXTRA_AFFIXES) + " (derivations "
                   "compose with the inflections: teachers -> teach ~er ~s); others are split by the spelling rules "
                   "alone, with a warning (default: ~s ~ed ~ing, the shipped list)")
    p.add_argument("--affix-exceptions", metavar="FILE", default=None,
                   help="exceptions for the affixes beyond ~s ~ed ~ing, same format (default: the bundled "
                   "en_affix_exceptions.txt)")
    p.add_argument("--irregular-verbs", choices=IRREGULAR_VERBS, default="whole",
                   help="a verb whose past tense and participle differ (wore/worn, hid/hidden): 'whole' keeps both "
                   "whole (the shipped list), 'split' gives ~ed to the more frequent form (default: whole)")
    p.add_argument("--out", metavar="FILE", default=DEFAULT_OUT,
                   help=f"where to write the list (default: ./{DEFAULT_OUT})")
    return p


def _split_counts(affixes: list[str], counts: dict[str, int]) -> str:
    """``"~s 8126, ~ed 3180, ~ing 2972"``: split entries per affix (an entry with two affixes counts for both)."""
    return ", ".join(f"{a} {counts.get(a, 0)}" for a in affixes)


def _header(argv: list[str], n_words: int, exceptions: str, affix_exceptions: str | None, affixes: list[str],
            counts: dict[str, int], n_split: int, n_whole: int) -> str:
    vers = versions()
    shown = " ".join(["r2d build-list", *argv])
    sources = f"exceptions {exceptions}" + (f"; affix exceptions {affix_exceptions}" if affix_exceptions else "")
    edit = "src/r2d/data/en_exceptions.txt" + (" (or en_affix_exceptions.txt)" if affix_exceptions else "")
    return (
        "R2D English deconstruction list (tilde format: word<TAB>root ~affix; empty right side = keep whole)\n"
        f"made by: {shown}\n"
        f"sources: wordfreq {vers['wordfreq']} top {n_words} English words; lemminflect {vers['lemminflect']}; "
        f"{sources}\n"
        f"entries: {n_split} split ({_split_counts(affixes, counts)}), {n_whole} kept whole by exception\n"
        f"do not edit by hand: add exceptions to {edit} and run the command again\n"
    )


@guard("r2d build-list")
def main(argv: list[str] | None = None) -> int:
    prog = "r2d build-list"
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    if args.words < 1:
        return fail(prog, f"--words must be at least 1, got {args.words}")
    affixes = list(dict.fromkeys(args.affixes))
    bad = [a for a in affixes if not re.fullmatch(r"~[a-z]+|[a-z]+~", a)]
    if bad:
        return fail(prog, f"--affixes: {bad[0]!r} is not an affix in tilde format (expected '~ly' or 'un~')")
    extra = [a for a in affixes if a not in DEFAULT_AFFIXES]
    exc_path = Path(args.exceptions) if args.exceptions else default_exceptions_path()
    check_input(exc_path, what="--exceptions")
    affix_exc_path = Path(args.affix_exceptions) if args.affix_exceptions else default_affix_exceptions_path()
    if extra:
        check_input(affix_exc_path, what="--affix-exceptions")
    out = Path(args.out)
    if out.is_dir():
        raise InputError(f"--out {out}", "is a folder, not a file")
    if not out.parent.is_dir():
        raise InputError(f"--out {out}", f"the folder {out.parent} does not exist")

    from rich.console import Console
    from rich.progress import Progress

    exceptions = list(read_exceptions(exc_path).values())  # read before the progress bar takes the terminal
    affix_exceptions = list(read_exceptions(affix_exc_path).values()) if extra else ()
    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("deconstructing words", total=None)
        entries = build_english_list(
            args.words, exceptions=exceptions, affixes=tuple(affixes), affix_exceptions=affix_exceptions,
            irregular_verbs=args.irregular_verbs,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    counts = collections.Counter(a for e in entries if e.is_split for a in e.affixes)
    n_split = sum(e.is_split for e in entries)
    n_whole = len(entries) - n_split
    shown_exc = "bundled en_exceptions.txt" if args.exceptions is None else str(args.exceptions)
    shown_affix_exc = None
    if extra:
        shown_affix_exc = ("bundled en_affix_exceptions.txt" if args.affix_exceptions is None
                           else str(args.affix_exceptions))
    write_entries(out, entries, header=_header(argv, args.words, shown_exc, shown_affix_exc, affixes, counts,
                                               n_split, n_whole))
    errors = check_file(out)
    if errors:  # pragma: no cover - build_english_list validates already
        return fail(prog, f"{errors[0]} (and {len(errors) - 1} more problems in the written list)")
    print(f"wrote {out}: {len(entries)} entries, {n_split} split ({_split_counts(affixes, counts)}), "
          f"{n_whole} kept whole")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
