"""Why does causal R2D lose BLiMP's irregular past participle paradigm to its twin? Split the paradigm's pairs by how
the R2D tokenizer writes the two verbs (a root of its own, or another root with the ``Suffix_ed`` flag) and print
each model kind's accuracy per group, over the run's seeds.

    python docs/experiment/irregular_verbs.py runs/cpu --data-dir ../shared/data

Every pair sets a past tense against a participle (*The Borgias wore / \\*worn a lot of scarves*). The R2D list writes
some of those verbs as a root plus ``~ed`` (*wore* = wear ~ed, *hidden* = hide ~ed) and others as roots of their own
(*worn*, *hid*), so within a pair the grammatical verb may look like a regular past tense and the ungrammatical one
like a plain root, or the other way round. Reads the run's ``stages/eval__blimp__*.json`` (per-pair right/wrong) and
its R2D tokenizer; runs no model.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

PARADIGM = "irregular_past_participle_verbs"


def verb_form(tokenizer, words: str) -> str:
    """``"~ed"`` when the R2D tokenizer writes the verb (the first word of ``words``: *drove* of *drove to*) as a root
    with the ``Suffix_ed`` flag, else ``"root"``."""
    enc = tokenizer(" " + words.split()[0], add_special_tokens=False)
    ed = tokenizer.flag_names.index("Suffix_ed")
    return "~ed" if any(row[ed] for row in enc["flags"]) else "root"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="an r2d experiment output folder (stages/, tokenizers/r2d)")
    parser.add_argument("--data-dir", default="../shared/data")
    args = parser.parse_args()

    from r2d.evaluation.blimp import read_pairs
    from r2d.io import read_jsonl
    from r2d.tokenizer.hf import R2DTokenizer

    run = Path(args.run)
    tokenizer = R2DTokenizer.from_pretrained(str(run / "tokenizers" / "r2d"))
    pairs = read_pairs(Path(args.data_dir) / "blimp")
    index = [i for i, p in enumerate(pairs) if p.uid == PARADIGM]
    rows = read_jsonl(Path(args.data_dir) / "blimp" / f"{PARADIGM}.jsonl", strict=True)  # the word fields Pair drops
    assert len(rows) == len(index), "the stage files' pair order must match the paradigm file"
    groups = [f"good {verb_form(tokenizer, r['one_prefix_word_good'])}, bad {verb_form(tokenizer, r['one_prefix_word_bad'])}"
              for r in rows]

    # accuracy per (run, group): the mean over seeds of the share of the group's pairs scored right
    acc: dict[tuple[str, str], list[float]] = defaultdict(list)
    for stage in sorted((run / "stages").glob("eval__blimp__clm-*__seed*.json")):
        name = stage.name.split("__")[2]
        right = json.loads(stage.read_text(encoding="utf-8"))["right"]
        for g in sorted(set(groups)):
            hits = [right[i] == "1" for i, gi in zip(index, groups) if gi == g]
            acc[name, g].append(float(np.mean(hits)))
    names = sorted({n for n, _ in acc})
    print(f"| verbs as the R2D tokenizer writes them | pairs | {' | '.join(names)} |")
    print("|---|---|" + "---|" * len(names))
    for g in sorted(set(groups)):
        cells = [f"{np.mean(acc[n, g]):.3f} ± {np.std(acc[n, g], ddof=1):.3f}" for n in names]
        print(f"| {g} | {groups.count(g)} | {' | '.join(cells)} |")
    examples = defaultdict(list)
    for r, g in zip(rows, groups):
        pair = f"{r['one_prefix_word_good']}/{r['one_prefix_word_bad']}"
        if pair not in examples[g] and len(examples[g]) < 6:
            examples[g].append(pair)
    for g, ex in sorted(examples.items()):
        print(f"- {g}: {', '.join(ex)}")


if __name__ == "__main__":
    main()
