"""Measure `r2d suggest plurals` (the article's proposed automation) against the hand-checked plural sample.

The rule: a word ending in s whose stem (by the English spelling rules: -s, -es, -ies, -ves, ...) is a more
frequent word (wordfreq) is suggested as `stem ~s`. Variants: with the built-in exception words
(news, pants, glasses, ...), with a lemminflect check (refuse when lemminflect knows the word under another
lemma), and a stricter frequency ratio. Precision = suggestions equal to the hand-checked answer / suggestions;
recall = correct suggestions / words whose answer is `root ~s`.

Prints markdown tables (recorded in BENCHMARKS.md). Example::

    python benchmarks/bench_plurals.py
    python benchmarks/bench_plurals.py --top 20000     # also count suggestions over wordfreq's top words
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

from r2d.lists.deconstruct import DeconstructionList
from r2d.lists.guess import PLURAL_EXCEPTIONS, plural_precision, plural_suggestion

SAMPLE = Path(__file__).resolve().parents[1] / "tests/data/plural_sample.tsv"

VARIANTS = [
    ("article's rule alone (stem more frequent)", dict(exceptions=None, use_lemmas=False)),
    ("+ lemminflect check", dict(exceptions=None, use_lemmas=True)),
    ("+ exception words", dict(exceptions=PLURAL_EXCEPTIONS, use_lemmas=False)),
    ("+ both (r2d suggest plurals default)", dict(exceptions=PLURAL_EXCEPTIONS, use_lemmas=True)),
    ("+ both, stem >= 2x as frequent", dict(exceptions=PLURAL_EXCEPTIONS, use_lemmas=True, min_ratio=2.0)),
    ("+ both, stem >= 5x as frequent", dict(exceptions=PLURAL_EXCEPTIONS, use_lemmas=True, min_ratio=5.0)),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sample", type=Path, default=SAMPLE)
    ap.add_argument("--top", type=int, default=0, help="also count suggestions among wordfreq's top N words")
    args = ap.parse_args()
    sample = list(DeconstructionList.read(args.sample))
    print(f"Sample {args.sample.name}: {len(sample)} words ending in s, "
          f"{sum(e.is_split and e.suffixes == ('~s',) for e in sample)} of them hand-checked as `root ~s`.\n")
    print("| variant | suggested | correct | precision | recall |")
    print("|---|---|---|---|---|")
    wrong = {}
    for name, kw in VARIANTS:
        p = plural_precision(sample, **kw)
        wrong[name] = p.wrong
        print(f"| {name} | {p.suggested} | {p.correct} | {p.precision:.1%} | {p.recall:.1%} |")
    print("\nWrong suggestions (word: suggested / right answer):\n")
    for name, ws in wrong.items():
        print(f"- {name}: " + (", ".join(f"{w}: {s} / {r or 'whole'}" for w, s, r in ws) or "none"))
    if args.top:
        import wordfreq

        words = [w for w in wordfreq.top_n_list("en", int(args.top * 1.3)) if re.fullmatch("[a-z]+", w)][: args.top]
        t0 = time.perf_counter()
        n = sum(plural_suggestion(w) is not None for w in words)
        dt = time.perf_counter() - t0
        ends = sum(w.endswith("s") for w in words)
        print(f"\nwordfreq top {args.top} all-letter English words: {ends} end in s; the default rule suggests "
              f"{n} plurals ({dt:.1f} s)")


if __name__ == "__main__":
    main()
