"""What STS-B rewards without any language model: Pearson's r of three model-free predictors with the gold scores.

    python docs/experiment/stsb_baselines.py ../shared/data/glue/STS-B

* word overlap: the Jaccard index of the two sentences' lower-cased word sets (no training);
* genre mean: the mean training score of the pair's ``genre`` column (captions, news, forums);
* source mean: the mean training score of the pair's ``filename`` column (MSRvid, headlines, ...).

A fine-tuned model that scores near the genre or source mean has learned what kind of text a pair is, not how
similar its sentences are. Prints one row per predictor and split (``train.tsv`` and ``dev.tsv``, the validation
split of the report).
"""

from __future__ import annotations

import argparse
import csv
import re
from collections import defaultdict
from pathlib import Path

import numpy as np


def read(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def jaccard(a: str, b: str) -> float:
    wa, wb = set(re.findall(r"\w+", a.lower())), set(re.findall(r"\w+", b.lower()))
    return len(wa & wb) / max(1, len(wa | wb))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="glue/STS-B (train.tsv and dev.tsv)")
    folder = parser.parse_args().folder
    train, dev = read(folder / "train.tsv"), read(folder / "dev.tsv")
    overall = float(np.mean([float(r["score"]) for r in train]))
    means = {}
    for column in ("genre", "filename"):
        groups = defaultdict(list)
        for r in train:
            groups[r[column]].append(float(r["score"]))
        means[column] = {k: float(np.mean(v)) for k, v in groups.items()}
    predictors = {
        "word overlap (Jaccard)": lambda r: jaccard(r["sentence1"], r["sentence2"]),
        "genre mean (from train)": lambda r: means["genre"].get(r["genre"], overall),
        "source mean (from train)": lambda r: means["filename"].get(r["filename"], overall),
    }
    print("| predictor | split | pairs | Pearson r |")
    print("|---|---|---|---|")
    for name, predict in predictors.items():
        for split, rows in (("train", train), ("validation (dev.tsv)", dev)):
            gold = np.array([float(r["score"]) for r in rows])
            r = np.corrcoef(np.array([predict(x) for x in rows]), gold)[0, 1]
            print(f"| {name} | {split} | {len(rows):,} | {r:.3f} |")


if __name__ == "__main__":
    main()
