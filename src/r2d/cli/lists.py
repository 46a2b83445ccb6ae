"""``r2d list check|stats|merge`` and ``r2d suggest plurals``: tools around the deconstruction list.

Exit status: 0 fine; 1 problems found (``check``) or conflicts (``merge``); 2 bad input (a file that cannot be
read, an invalid list given to ``stats``/``merge``, bad options).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from r2d.cli.common import fail, guard
from r2d.flags import DEFAULT_FLAG_NAMES, affix_to_flag
from r2d.io import InputError
from r2d.lists.deconstruct import DeconstructionList, Entry, ListError, check_file, format_entry, write_entries

_EPILOG = """examples:
  r2d list check my_list.tsv other.tsv
  r2d list stats my_list.tsv --corpus ../shared/data/wikitext-2-raw/wiki.test.raw
  r2d list merge mine.tsv yours.tsv -o merged.tsv          # exit 1 and no output on conflicts
  r2d list merge mine.tsv yours.tsv -o merged.tsv --prefer a
"""


def _read_list(path: str) -> DeconstructionList:
    """A valid list, or one :class:`ListError` line: the first problem and how many there are."""
    problems = check_file(path)
    if problems:
        more = f" (and {len(problems) - 1} more; see 'r2d list check {path}')" if len(problems) > 1 else ""
        raise ListError(problems[0].path, problems[0].line, problems[0].reason + more)
    return DeconstructionList.read(path)


def _output(path: str, what: str = "-o") -> Path:
    """An output file path whose folder exists (checked before any work is done)."""
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{what} {p}", "is a folder, not a file")
    if not p.parent.is_dir():
        raise InputError(f"{what} {p}", f"folder {p.parent} does not exist")
    return p


# ------------------------------------------------------------------------------------------------ check

def check_main(args: argparse.Namespace) -> int:
    bad_input = False
    n_problems = 0
    for path in args.files:
        try:
            problems = check_file(path)
        except ListError as err:  # not a list file at all: bad input, not a problem of a list
            print(f"r2d list check: error: {err}", file=sys.stderr)
            bad_input = True
            continue
        for p in problems:
            print(str(p))
        n_problems += len(problems)
        if not problems and not args.quiet:
            lst = DeconstructionList.read(path)
            split = sum(e.is_split for e in lst)
            print(f"{path}: ok ({len(lst)} words, {split} split, {len(lst) - split} kept whole)")
    if bad_input:
        return 2
    if n_problems:
        print(f"{n_problems} problem(s)", file=sys.stderr)
        return 1
    return 0


# ------------------------------------------------------------------------------------------------ stats

@dataclass(frozen=True)
class AffixStats:
    """One affix of a list.

    Attributes:
        affix: tilde format (``"~ing"``, ``"un~"``).
        words: list words split with it.
        share: ``words`` / split words of the list.
        occurrences: corpus word occurrences whose word is split with it (0 without a corpus).
        rate: ``occurrences`` / all corpus word occurrences.
    """

    affix: str
    words: int
    share: float
    occurrences: int = 0
    rate: float = 0.0


def list_stats(lst: DeconstructionList, corpus: Counter[str] | None = None) -> tuple[dict, list[AffixStats]]:
    """Counts of a list, per affix, and coverage of a corpus (word -> occurrences, lowercased words).

    Returns:
        ``(summary, per_affix)``: ``summary`` has ``words``, ``split``, ``whole`` and with a corpus
        ``tokens`` (word occurrences), ``covered`` (of a decided word), ``split_tokens`` (of a split word);
        ``per_affix`` is sorted by descending ``words``.
    """
    entries = list(lst)
    split = [e for e in entries if e.is_split]
    per: Counter[str] = Counter(a for e in split for a in e.affixes)
    occ: Counter[str] = Counter()
    summary = {"words": len(entries), "split": len(split), "whole": len(entries) - len(split)}
    if corpus is not None:
        total = sum(corpus.values())
        covered = sum(c for w, c in corpus.items() if w in lst)
        split_tokens = 0
        for e in split:
            c = corpus.get(e.word, 0)
            split_tokens += c
            for a in e.affixes:
                occ[a] += c
        summary.update(tokens=total, covered=covered, split_tokens=split_tokens)
    total = summary.get("tokens", 0)
    rows = [AffixStats(a, n, n / max(len(split), 1), occ[a], occ[a] / total if total else 0.0)
            for a, n in sorted(per.items(), key=lambda kv: (-kv[1], kv[0]))]
    return summary, rows


@guard("r2d list stats")
def stats_main(args: argparse.Namespace) -> int:
    lst = _read_list(args.file)
    corpus = None
    if args.corpus:
        from r2d.game.words import byte_progress
        from r2d.text.corpus import count_words

        with byte_progress("counting words", sys.stderr.isatty()) as report:
            corpus = count_words(args.corpus, progress=report)
        if not corpus:
            raise InputError(f"--corpus {' '.join(args.corpus)}", "has no words")
    summary, rows = list_stats(lst, corpus)

    def is_flag(r: AffixStats) -> bool:
        return r.rate >= args.min_rate if corpus is not None else r.share >= args.min_share

    if args.json:
        print(json.dumps({"file": args.file, **summary,
                          "affixes": [{**r.__dict__, "flag": is_flag(r), "flag_name": affix_to_flag(r.affix)}
                                      for r in rows]}, indent=1))
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
    n = summary["words"]
    print(f"{args.file}: {n:,} words: {summary['split']:,} split "
                  f"({summary['split'] / max(n, 1):.1%}), {summary['whole']:,} kept whole")
    if corpus is not None:
        t = max(summary["tokens"], 1)
        print(f"corpus {', '.join(args.corpus)}: {summary['tokens']:,} word occurrences, "
                      f"{len(corpus):,} distinct words; the list decides {summary['covered'] / t:.1%} of the "
                      f"occurrences and splits {summary['split_tokens'] / t:.1%}")
    crit = (f"corpus rate >= {args.min_rate:.2%}" if corpus is not None
            else f"share of split words >= {args.min_share:.0%}")
    table = Table(title=f"affixes (flag-worthy: {crit}; * = a default flag)")
    table.add_column("affix")
    table.add_column("flag")
    table.add_column("words", justify="right")
    table.add_column("of splits", justify="right")
    if corpus is not None:
        table.add_column("occurrences", justify="right")
        table.add_column("rate", justify="right")
    table.add_column("flag-worthy")
    for r in rows:
        name = affix_to_flag(r.affix)
        cells = [r.affix, name + ("*" if name in DEFAULT_FLAG_NAMES else ""), f"{r.words:,}",
                 f"{r.share:.1%}"]
        if corpus is not None:
            cells += [f"{r.occurrences:,}", f"{r.rate:.2%}"]
        cells.append("yes" if is_flag(r) else "")
        table.add_row(*cells)
    console.print(table)
    return 0


# ------------------------------------------------------------------------------------------------ merge

def merge_lists(a: DeconstructionList, b: DeconstructionList, *, prefer: str | None = None
                ) -> tuple[list[Entry], list[str]]:
    """Union of two lists; conflicts are listed, and resolved only when ``prefer`` names a side.

    A conflict is the same word decided differently (split differently, or split in one list and kept whole
    in the other), or two different words claiming the same root plus affixes.

    Args:
        a, b: the lists (each valid on its own).
        prefer: ``None`` (every conflicting entry of both sides is left out), ``"a"`` or ``"b"`` (that side's
            entry wins and the other side's conflicting entry is left out).

    Returns:
        ``(entries, conflicts)``: ``a``'s kept entries in order, then ``b``'s new ones; one message per conflict.
        The entries always form a valid list.
    """
    def key(e: Entry) -> tuple[str, frozenset[str]] | None:
        return None if e.root is None else (e.root, frozenset(e.affixes))

    def same(x: Entry, y: Entry) -> bool:
        return (x.root, x.prefixes, x.suffixes) == (y.root, y.prefixes, y.suffixes)

    def said(e: Entry) -> str:
        return repr(e.deconstruction or "keep whole")

    b_keys = {key(e): e for e in b if key(e) is not None}
    conflicts: list[str] = []
    bad_a: set[str] = set()
    bad_b: set[str] = set()
    for e in a:
        other = b.get(e.word)
        if other is not None and not same(e, other):
            conflicts.append(f"{e.word!r}: {a.path}:{e.line} says {said(e)}, {b.path}:{other.line} says {said(other)}")
            bad_a.add(e.word)
            bad_b.add(other.word)
        k = key(e)
        owner = b_keys.get(k) if k is not None else None
        if owner is not None and owner.word != e.word:
            conflicts.append(f"{e.deconstruction!r} names {e.word!r} in {a.path}:{e.line} and "
                             f"{owner.word!r} in {b.path}:{owner.line}")
            bad_a.add(e.word)
            bad_b.add(owner.word)
    drop_a = set() if prefer == "a" else bad_a
    drop_b = set() if prefer == "b" else bad_b
    out = [e for e in a if e.word not in drop_a]
    have = {e.word for e in out}
    out += [e for e in b if e.word not in drop_b and e.word not in have]
    return out, conflicts


@guard("r2d list merge")
def merge_main(args: argparse.Namespace) -> int:
    prog = "r2d list merge"
    _output(args.output)
    a = _read_list(args.a)
    b = _read_list(args.b)
    entries, conflicts = merge_lists(a, b, prefer=args.prefer)
    for c in conflicts:
        print(f"conflict: {c}", file=sys.stderr)
    if conflicts and args.prefer is None:
        print(f"{prog}: {len(conflicts)} conflict(s); nothing written. Decide them in either list, or pass "
              f"--prefer a|b to let one side win", file=sys.stderr)
        return 1
    header = f"merged by 'r2d list merge' from {args.a} and {args.b}"
    if conflicts:
        header += f"; {len(conflicts)} conflict(s) resolved for side {args.prefer}"
    write_entries(args.output, entries, header=header)
    print(f"{args.output}: {len(entries)} words from {len(a)} in {args.a} and {len(b)} in {args.b}; "
          f"{len(conflicts)} conflict(s)" + (f" resolved for side {args.prefer}" if conflicts else ""))
    return 0


# ------------------------------------------------------------------------------------------------ main

def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="r2d list",
        description="Check, measure or merge deconstruction lists (tilde format: word<TAB>root ~affix).",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="action", required=True, metavar="{check,stats,merge}")
    c = sub.add_parser("check", help="every problem with file:line: reason; exit 1 if any",
                       description="Report every problem of list files as file:line: reason; exit 1 if any.",
                       epilog="example:\n  r2d list check my_list.tsv",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("files", nargs="+", metavar="FILE")
    c.add_argument("-q", "--quiet", action="store_true", help="print problems only")
    s = sub.add_parser("stats", help="words split per affix, flag-worthy affixes, corpus coverage",
                       description="Words split per affix, which affixes are common enough to be flags, and "
                                   "(with --corpus) the share of a corpus's word occurrences the list covers.",
                       epilog="example:\n  r2d list stats my_list.tsv --corpus corpus.txt.gz",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("file", metavar="FILE")
    s.add_argument("--corpus", nargs="+", metavar="TEXT", help="text files (.txt/.gz) to measure coverage on")
    s.add_argument("--min-share", type=float, default=0.05,
                   help="without a corpus: an affix is flag-worthy if it splits this share of split words")
    s.add_argument("--min-rate", type=float, default=0.005,
                   help="with a corpus: an affix is flag-worthy if this share of word occurrences carry it "
                        "(the article's flags had 0.9%%-3%%; sparser flags stalled training)")
    s.add_argument("--json", action="store_true", help="print JSON instead of tables")
    m = sub.add_parser("merge", help="union of two lists; conflicts reported, not silently resolved",
                       description="Union of two lists. Conflicts (a word decided differently, or two words "
                                   "claiming the same root and affixes) are reported; without --prefer nothing "
                                   "is written and the exit status is 1.",
                       epilog="example:\n  r2d list merge mine.tsv yours.tsv -o merged.tsv",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    m.add_argument("a", metavar="A")
    m.add_argument("b", metavar="B")
    m.add_argument("-o", "--output", required=True, metavar="OUT")
    m.add_argument("--prefer", choices=["a", "b"], default=None, help="let side A or B win every conflict")
    return p


def main(argv: list[str] | None = None) -> int:
    """``r2d list check|stats|merge``."""
    args = _build_parser().parse_args(argv)
    if args.action == "check":
        return check_main(args)
    if args.action == "stats":
        if args.min_share < 0 or args.min_rate < 0:
            return fail("r2d list stats", "--min-share and --min-rate must not be negative")
        return stats_main(args)
    return merge_main(args)


# ------------------------------------------------------------------------------------------------ suggest

def suggest_plurals(words: Iterable[str], *, skip: Iterable[str] = (), claimed: Iterable[str] = (),
                    **kwargs) -> Iterable[Entry]:
    """Plural suggestions for ``words`` (see :func:`r2d.lists.guess.plural_suggestion` for ``kwargs``), leaving out
    words in ``skip`` and roots in ``claimed`` (already ``root ~s`` of another word); one word per root."""
    from r2d.lists.guess import plural_suggestion

    skip = set(skip)
    claimed = set(claimed)
    for w in words:
        if w in skip:
            continue
        e = plural_suggestion(w, **kwargs)
        if e is not None and e.root not in claimed:
            claimed.add(e.root)
            yield e


@guard("r2d suggest")
def suggest_main(argv: list[str] | None = None) -> int:
    """``r2d suggest plurals [--words SOURCE] [--top N] [--list FILE] [-o OUT]``."""
    p = argparse.ArgumentParser(
        prog="r2d suggest",
        description="Suggest list entries automatically. 'plurals' is the article's proposed automation: a word "
                    "ending in s whose stem is a more frequent word is probably its plural (with exceptions "
                    "such as news, pants, glasses). Suggestions are printed as list lines for review.",
        epilog="example:\n  r2d suggest plurals --words wordfreq:en --top 20000 --list my_list.tsv -o plurals.tsv",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", choices=["plurals"])
    p.add_argument("--words", default="wordfreq:en", metavar="SOURCE",
                   help="word list, text corpus (.txt/.gz) or wordfreq:LANG (default wordfreq:en)")
    p.add_argument("--top", type=int, default=50_000, metavar="N", help="look at the N most frequent words (default 50000)")
    p.add_argument("--list", dest="list_path", metavar="FILE", help="leave out words this list already decides")
    p.add_argument("-o", "--output", metavar="OUT", help="write the suggestions as a list file (else stdout)")
    p.add_argument("--min-ratio", type=float, default=1.0,
                   help="the stem must be at least this many times as frequent as the word (default 1)")
    p.add_argument("--no-exceptions", action="store_true", help="do not use the built-in exception words")
    p.add_argument("--no-lemmas", action="store_true",
                   help="do not refuse words lemminflect knows under another lemma (the bare article rule)")
    args = p.parse_args(argv)
    prog = "r2d suggest"
    if args.top <= 0 or args.min_ratio <= 0:
        return fail(prog, "--top and --min-ratio must be positive")
    from r2d.game.words import load_words
    from r2d.lists.guess import PLURAL_EXCEPTIONS

    if args.output:
        _output(args.output)
    decided: set[str] = set()
    claimed: set[str] = set()
    if args.list_path:
        lst = _read_list(args.list_path)
        decided = set(lst.entries)
        claimed = {e.root for e in lst if e.is_split and set(e.affixes) == {"~s"}}
    words, lang = load_words(args.words, progress=sys.stderr.isatty())
    top = []
    for w in words:
        top.append(w)
        if len(top) >= args.top:
            break
    suggestions = list(suggest_plurals(top, skip=decided, claimed=claimed, lang=lang, min_ratio=args.min_ratio,
                                       exceptions=None if args.no_exceptions else PLURAL_EXCEPTIONS,
                                       use_lemmas=not args.no_lemmas))
    header = (f"plural suggestions by 'r2d suggest plurals' from {args.words} (top {args.top}); "
              "review before use: the test is meaning, not spelling")
    if args.output:
        write_entries(args.output, suggestions, header=header)
        print(f"{args.output}: {len(suggestions)} suggestions from {len(top)} words", file=sys.stderr)
    else:
        print(f"# {header}")
        for e in suggestions:
            print(format_entry(e))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
