"""Measure the game's guesser against hand-checked samples: how often the right split is guess `a`, how often it
is among the (up to 4) guesses shown, and how often a word that should stay whole is shown no guess at all.

Prints markdown tables (recorded in BENCHMARKS.md):

1. per sample (the 300-word development sample used while writing the ranking, and the 150-word held-out
   sample that was not), split words: guess `a` right / among the guesses; whole words: no guess shown;
   and all words: first offer right (guess `a` for a split, no guess for a whole word);
2. the same split by the kind of answer (one inflection / derivational or prefixed);
3. a baseline: lemminflect alone (its inflections, ranked by root frequency), to show what the rules add;
4. every miss, and the guessing speed.

Example::

    python benchmarks/bench_guess.py
    python benchmarks/bench_guess.py --sample tests/data/guess_sample.tsv --misses 0
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from r2d.lists.deconstruct import DeconstructionList, Entry
from r2d.lists.guess import INFLECTIONS, evaluate, guesses, lemminflect_splits, zipf

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = [ROOT / "tests/data/guess_sample.tsv", ROOT / "tests/data/guess_heldout.tsv"]


def pct(n: int, d: int) -> str:
    return f"{n}/{d} = {n / d:.1%}" if d else "-"


def kind(e: Entry) -> str:
    if len(e.affixes) == 1 and e.suffixes and e.suffixes[0] in INFLECTIONS and e.suffixes[0] != "~er":
        return "one inflection"
    return "derivational / prefixed / ~er"


def lemminflect_only(word: str) -> list[Entry]:
    return sorted(lemminflect_splits(word), key=lambda e: -zipf(e.root))[:4]


def same(a: Entry, b: Entry) -> bool:
    return (a.root, a.prefixes, a.suffixes) == (b.root, b.prefixes, b.suffixes)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sample", nargs="+", type=Path, default=SAMPLES)
    ap.add_argument("--misses", type=int, default=100, help="print at most this many misses per sample")
    ap.add_argument("--answers", type=int, default=0,
                    help="also time N scripted game answers on wordfreq:en (step + atomic list and score writes)")
    args = ap.parse_args()
    if args.answers:
        time_session(args.answers)
    print("| sample | words | split words: right split is guess a | ... among the guesses | whole words: "
          "no guess shown | all words: first offer right |")
    print("|---|---|---|---|---|---|")
    results = {}
    for path in args.sample:
        sample = list(DeconstructionList.read(path))
        t0 = time.perf_counter()
        acc = evaluate(sample)
        dt = time.perf_counter() - t0
        results[path] = (sample, acc, dt)
        print(f"| {path.name} | {len(sample)} | {pct(acc.split_first, acc.split_words)} | "
              f"{pct(acc.split_among, acc.split_words)} | {pct(acc.whole_no_guess, acc.whole_words)} | "
              f"{pct(acc.split_first + acc.whole_no_guess, len(sample))} |")
    print()
    print("| sample | kind of answer | words | guess a | among the guesses | lemminflect alone: a | ... among |")
    print("|---|---|---|---|---|---|---|")
    for path, (sample, _, _) in results.items():
        for k in ("one inflection", "derivational / prefixed / ~er"):
            rows = [e for e in sample if e.is_split and kind(e) == k]
            first = among = lfirst = lamong = 0
            for e in rows:
                g = guesses(e.word)
                hit = [i for i, x in enumerate(g) if same(x, e)]
                first += bool(hit) and hit[0] == 0
                among += bool(hit)
                lg = lemminflect_only(e.word)
                lhit = [i for i, x in enumerate(lg) if same(x, e)]
                lfirst += bool(lhit) and lhit[0] == 0
                lamong += bool(lhit)
            print(f"| {path.name} | {k} | {len(rows)} | {pct(first, len(rows))} | {pct(among, len(rows))} | "
                  f"{pct(lfirst, len(rows))} | {pct(lamong, len(rows))} |")
    print()
    for path, (sample, acc, dt) in results.items():
        print(f"{path.name}: {len(sample)} words guessed in {dt:.2f} s ({len(sample) / dt:.0f} words/s, "
              "caches warm after the first sample)")
    for path, (_, acc, _) in results.items():
        if args.misses <= 0:
            continue
        print(f"\nMisses in {path.name} (word | right answer | guesses shown):\n")
        print("| word | right | shown |")
        print("|---|---|---|")
        for word, right, shown in acc.misses[: args.misses]:
            print(f"| {word} | {right or '(whole)'} | {'; '.join(shown) or '(none)'} |")


def time_session(n: int) -> None:
    """Play ``n`` words of wordfreq:en with a script (guess a, else keep whole), saving after each answer as the
    game does, and print the time per answer: the game's own cost per decision."""
    import tempfile

    from r2d.lists.deconstruct import write_entries
    from r2d.game.state import GameState, WordQueue, best_hour, step
    from r2d.game.words import load_words
    from r2d.io import atomic_write_json

    words, lang = load_words("wordfreq:en")
    state = GameState(WordQueue(words), {}, lambda w, taken: guesses(w, lang=lang, taken=taken), started=0.0)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "l.tsv"
        t0 = time.perf_counter()
        for i in range(n):
            out = step(state, "a" if state.offers else "", now=float(i))
            write_entries(path, state.entries.values())
            atomic_write_json(Path(str(path) + ".game.json"), {"decisions": state.decided_at,
                                                                "best_hour": best_hour(state.decided_at)})
            assert out.kind == "decided"
        dt = time.perf_counter() - t0
    split = sum(e.is_split for e in state.entries.values())
    print(f"scripted session: {n} answers on wordfreq:en ({split} split by guess a) in {dt:.1f} s = "
          f"{1000 * dt / n:.1f} ms per answer including guesses, fsync'd list and score writes\n")


if __name__ == "__main__":
    main()
