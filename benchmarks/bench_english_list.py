"""Measure the English deconstruction list: how many words it splits, and how much of a real corpus it covers.

Prints markdown tables (recorded in BENCHMARKS.md):

1. the list: entries, splits per affix, words kept whole by exception;
2. a corpus (WikiExtractor text; ``<doc``/``</doc>`` lines skipped; words = runs of letters, lowercased, with a
   trailing ``'s`` taken off): the share of word occurrences (a) the list splits, per affix, (b) that are the
   list's words or roots, and for comparison the share covered by the words the build considered (the analogue of
   the write-up's "4,700 words played covering ~80% of occurrences");
3. the most frequent corpus words ending in -s/-ed/-ing that the list leaves unsplit (candidates for review);
4. with ``--affixes``: for each extra affix, the word occurrences and distinct corpus words that a build with it
   would split, from the rules alone (``affix_exceptions=()``) and after the hand-checked exceptions (for the affixes
   that have them, :data:`r2d.lists.english.EXTRA_AFFIXES`). An entry with two affixes counts for both.

Example::

    python benchmarks/bench_english_list.py \\
        --corpus ../shared/data/wikipedia_en/enwiki_AA_wiki_00-19.txt.gz
    python benchmarks/bench_english_list.py --misses 0 --affixes ~ly ~er ~est un~ re~ ~ness ~able ~ment
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
from r2d.lists.english import DEFAULT_AFFIXES, EXTRA_AFFIXES, build_english_list, default_list_path, english_words

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
    p.add_argument("--affixes", nargs="+", default=None, metavar="AFFIX",
                   help="also measure these extra affixes (e.g. ~ly ~er ~est un~ re~ ~ness ~able ~ment): what a "
                   "build of --words words with each would split in the corpus, before and after the hand-checked "
                   "exceptions")
    args = p.parse_args(argv)

    lst = DeconstructionList.read(args.list)
    split = {e.word: e for e in lst if e.is_split}
    roots = {e.root for e in split.values()}
    whole = {e.word for e in lst if not e.is_split}
    per_affix = collections.Counter(a for e in split.values() for a in e.affixes)
    affixes = list(DEFAULT_AFFIXES) + sorted(set(per_affix) - set(DEFAULT_AFFIXES), key=lambda a: -per_affix[a])

    considered_list = english_words(args.words)
    considered = set(considered_list)
    first_k = set(considered_list[: args.played])
    split_first_k = sum(1 for w in split if w in first_k)

    print(f"## List `{args.list.name}`\n")
    print("| entries | split | " + " | ".join(f"split {a}" for a in affixes) + " | kept whole (exceptions) | distinct roots |")
    print("|---|---|" + "---|" * len(affixes) + "---|---|")
    print(f"| {len(lst)} | {len(split)} | " + " | ".join(str(per_affix[a]) for a in affixes)
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
    occ_entries = occ_words_or_roots = occ_considered = occ_first_k = n_split = 0
    for w, n in counts.items():
        e = split.get(w)
        if e is not None:
            n_split += n
            for a in e.affixes:
                occ_split[a] += n
        if w in split or w in whole:
            occ_entries += n
        if w in split or w in whole or w in roots:
            occ_words_or_roots += n
        if w in considered:
            occ_considered += n
        if w in first_k:
            occ_first_k += n

    names = ", ".join(p.name for p in args.corpus)
    print(f"## Corpus `{names}`: {total:,} word occurrences, {len(counts):,} distinct words "
          f"(read in {seconds:.1f} s)\n")
    print("| measure | occurrences | share |")
    print("|---|---|---|")
    print(f"| (a) split by the list | {n_split:,} | {pct(n_split, total)} |")
    for a in affixes:
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
    if args.affixes:
        affix_table(args.affixes, args.words, counts)
    return 0


def affix_table(extra: list[str], n_words: int, counts: collections.Counter) -> None:
    """Print, per extra affix, what a build with it splits in the corpus: rules alone, then hand-checked."""
    extra = [a for a in dict.fromkeys(extra) if a not in DEFAULT_AFFIXES]
    checked = [a for a in extra if a in EXTRA_AFFIXES]
    t0 = time.perf_counter()
    raw = build_english_list(n_words, affixes=DEFAULT_AFFIXES + tuple(extra), affix_exceptions=())
    final = build_english_list(n_words, affixes=DEFAULT_AFFIXES + tuple(checked)) if checked else []
    seconds = time.perf_counter() - t0
    total = sum(counts.values())

    def measure(entries: list) -> tuple[collections.Counter, collections.Counter, collections.Counter]:
        occ, types, listed = collections.Counter(), collections.Counter(), collections.Counter()
        for e in entries:
            for a in set(e.affixes) - set(DEFAULT_AFFIXES):
                listed[a] += 1
                if counts[e.word]:
                    occ[a] += counts[e.word]
                    types[a] += 1
        return occ, types, listed

    (r_occ, r_types, r_list), (f_occ, f_types, f_list) = measure(raw), measure(final)
    print(f"\n## Extra affixes: what a build of the top {n_words:,} words would split in the corpus "
          f"({total:,} word occurrences; two builds in {seconds:.0f} s)\n")
    print("rules alone = the candidates with the root frequency floor, before the meaning test; hand-checked = with "
          "`en_affix_exceptions.txt` (affixes without one: -)\n")
    print("| affix | occurrences split, rules alone | share | distinct words | list entries "
          "| occurrences split, hand-checked | share | distinct words | list entries |")
    print("|---|---|---|---|---|---|---|---|---|")
    for a in sorted(extra, key=lambda a: (-f_occ[a], -r_occ[a])):
        tail = (f"{f_occ[a]:,} | {pct(f_occ[a], total)} | {f_types[a]:,} | {f_list[a]:,}" if a in checked
                else "- | - | - | -")
        print(f"| {a} | {r_occ[a]:,} | {pct(r_occ[a], total)} | {r_types[a]:,} | {r_list[a]:,} | {tail} |")


if __name__ == "__main__":
    sys.exit(main())
