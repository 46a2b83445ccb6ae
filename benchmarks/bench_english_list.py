"""Measure the English deconstruction list: how many words it splits, and how much of a real corpus it covers.

Prints markdown tables (recorded in BENCHMARKS.md):

1. the list: entries, splits per affix, words kept whole by exception;
2. a corpus (WikiExtractor text; ``<doc``/``</doc>`` lines skipped; words = runs of letters, lowercased, with a
   trailing ``'s`` taken off): the share of word occurrences (a) the list splits, per affix, (b) that are the
   list's words or roots, and for comparison the share covered by the words the build considered (the analogue of
   the write-up's "4,700 words played covering ~80% of occurrences");
3. the most frequent corpus words ending in -s/-ed/-ing that the list leaves unsplit (candidates for review).

Example::

    python benchmarks/bench_english_list.py \\
        --corpus ../shared/data/wikipedia_en/enwiki_AA_wiki_00-19.txt.gz
"""

from __future__ import annotations

import argparse
import collections
import gzip
import re
import sys
import time
from pathlib import Path

from r2d.lists.deconstruct import DeconstructionList
from r2d.lists.english import DEFAULT_AFFIXES, default_list_path, english_words

WORD = re.compile(r"[^\W\d_]+(?:['\u2019]s\b)?")
DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared/data/wikipedia_en/enwiki_AA_wiki_00-19.txt.gz"


def count_words(path: Path, max_lines: int | None = None) -> collections.Counter:
    """Lowercased letter-run counts of a (gzipped) WikiExtractor file, trailing 's removed, tag lines skipped."""
    opener = gzip.open if path.suffix == ".gz" else open
    counts: collections.Counter = collections.Counter()
    with opener(path, "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            if max_lines is not None and i >= max_lines:
                break
            if line.startswith(("<doc", "</doc")):
                continue
            for w in WORD.findall(line.lower()):
                if w.endswith(("'s", "\u2019s")):
                    w = w[:-2]
                counts[w] += 1
    return counts


def pct(n: int, total: int) -> str:
    return f"{100 * n / total:.2f}%" if total else "n/a"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--list", type=Path, default=default_list_path(), help="the list (default: the shipped en.tsv)")
    p.add_argument("--corpus", type=Path, nargs="+", default=[DEFAULT_CORPUS], help="WikiExtractor text files")
    p.add_argument("--max-lines", type=int, default=None, help="read at most this many lines per file")
    p.add_argument("--words", type=int, default=60000, help="N of the build (for the 'considered' row)")
    p.add_argument("--played", type=int, default=4700,
                   help="also report the coverage of the first K considered words (the write-up played 4,700)")
    p.add_argument("--misses", type=int, default=40, help="how many unsplit -s/-ed/-ing words to show")
    args = p.parse_args(argv)

    lst = DeconstructionList.read(args.list)
    split = {e.word: e for e in lst if e.is_split}
    roots = {e.root for e in split.values()}
    whole = {e.word for e in lst if not e.is_split}
    per_affix = collections.Counter(e.suffixes[0] for e in split.values())

    considered_list = english_words(args.words)
    considered = set(considered_list)
    first_k = set(considered_list[: args.played])
    split_first_k = sum(1 for w in split if w in first_k)

    print(f"## List `{args.list.name}`\n")
    print("| entries | split | " + " | ".join(f"split {a}" for a in DEFAULT_AFFIXES) + " | kept whole (exceptions) | distinct roots |")
    print("|---|---|" + "---|" * len(DEFAULT_AFFIXES) + "---|---|")
    print(f"| {len(lst)} | {len(split)} | " + " | ".join(str(per_affix[a]) for a in DEFAULT_AFFIXES)
          + f" | {len(whole)} | {len(roots)} |\n")
    print(f"split among the first {args.played:,} words considered: {split_first_k:,} "
          "(the write-up: 2,000 of 4,700 played)\n")

    t0 = time.perf_counter()
    counts: collections.Counter = collections.Counter()
    for path in args.corpus:
        if not path.is_file():
            print(f"bench_english_list: no such corpus file: {path}", file=sys.stderr)
            return 2
        counts.update(count_words(path, args.max_lines))
    seconds = time.perf_counter() - t0
    total = sum(counts.values())

    occ_split = collections.Counter()
    occ_entries = occ_words_or_roots = occ_considered = occ_first_k = 0
    for w, n in counts.items():
        e = split.get(w)
        if e is not None:
            occ_split[e.suffixes[0]] += n
        if w in split or w in whole:
            occ_entries += n
        if w in split or w in whole or w in roots:
            occ_words_or_roots += n
        if w in considered:
            occ_considered += n
        if w in first_k:
            occ_first_k += n
    n_split = sum(occ_split.values())

    names = ", ".join(p.name for p in args.corpus)
    print(f"## Corpus `{names}`: {total:,} word occurrences, {len(counts):,} distinct words "
          f"(read in {seconds:.1f} s)\n")
    print("| measure | occurrences | share |")
    print("|---|---|---|")
    print(f"| (a) split by the list | {n_split:,} | {pct(n_split, total)} |")
    for a in DEFAULT_AFFIXES:
        print(f"| (a) split {a} | {occ_split[a]:,} | {pct(occ_split[a], total)} |")
    print(f"| list entries (split or kept whole) | {occ_entries:,} | {pct(occ_entries, total)} |")
    print(f"| (b) list words or roots | {occ_words_or_roots:,} | {pct(occ_words_or_roots, total)} |")
    print(f"| words the build considered (wordfreq top {args.words}, lowercase alphabetic) | "
          f"{occ_considered:,} | {pct(occ_considered, total)} |")
    print(f"| the first {args.played:,} words the build considered (the write-up's 4,700 played: ~80%) | "
          f"{occ_first_k:,} | {pct(occ_first_k, total)} |")
    types_split = sum(1 for w in counts if w in split)
    print(f"\ndistinct corpus words split: {types_split:,} of {len(counts):,}\n")

    if args.misses:
        print(f"## The {args.misses} most frequent unsplit corpus words ending in -s, -ed or -ing\n")
        misses = [(w, n) for w, n in counts.most_common() if w not in split and re.search(r"(s|ed|ing)$", w)]
        reason = {w: "kept whole (exception)" for w in whole}
        rows = misses[: args.misses]
        print("| word | occurrences | why |")
        print("|---|---|---|")
        for w, n in rows:
            why = reason.get(w) or ("considered, no split found" if w in considered else "not in wordfreq top N")
            print(f"| {w} | {n:,} | {why} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
