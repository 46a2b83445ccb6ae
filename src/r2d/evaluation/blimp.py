"""BLiMP: a language model's accuracy on minimal pairs, read from the published ``*.jsonl`` files as they are.

A pair is right when the good sentence gets the higher total log-probability from a *sentence scorer*
(:mod:`r2d.evaluation.scoring`); a tie counts as wrong, as in the published ``simple_LM_method``. Accuracy is
reported overall, per field and per paradigm.

>>> pairs = [Pair("a good one.", "a bad one.", "syntax", "p1", "p1.jsonl", 1)]
>>> evaluate(lambda sents: [-1.0 if "good" in s else -2.0 for s in sents], pairs).overall
1.0
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from r2d.io import InputError, read_jsonl

logger = logging.getLogger(__name__)

SentenceScorer = Callable[[Sequence[str]], Sequence[float]]
"""Sentences in, their total log-probabilities (natural log) out, same order."""

REQUIRED_FIELDS = ("sentence_good", "sentence_bad", "field", "UID")

REFERENCE = {
    "5-gram": 0.612,
    "LSTM": 0.698,
    "Transformer-XL": 0.696,
    "GPT-2": 0.830,
    "human": 0.886,
}
"""Published overall accuracies over all 67 paradigms (BLiMP repository, raw_results/summary)."""


class BlimpDataError(InputError):
    """A BLiMP file is missing, not JSON Lines, or lacks a field; the message names file, line and field."""


@dataclass(frozen=True)
class Pair:
    """One minimal pair and where it came from."""

    good: str
    bad: str
    field: str
    uid: str
    file: str
    line: int


@dataclass
class BlimpResult:
    """Accuracies of one model.

    Attributes:
        overall: fraction of all pairs scored right.
        fields: field name -> accuracy over its pairs.
        paradigms: UID -> accuracy over its pairs.
        pairs: number of pairs scored.
    """

    overall: float
    fields: dict[str, float] = field(default_factory=dict)
    paradigms: dict[str, float] = field(default_factory=dict)
    pairs: int = 0

    def to_dict(self) -> dict:
        """``{"overall": x, FIELD: x, ..., "paradigms": {UID: x}, "pairs": n}`` (the report's layout)."""
        return {"overall": self.overall, **self.fields, "paradigms": dict(self.paradigms), "pairs": self.pairs}


def read_pairs(data_dir: str | Path, *, limit_per_paradigm: int | None = None) -> list[Pair]:
    """Every pair of every ``*.jsonl`` file in ``data_dir`` (sorted by file name).

    Args:
        data_dir: a folder of BLiMP files in the published format.
        limit_per_paradigm: keep only the first N pairs of each file (for quick runs), or all.

    Returns:
        The pairs, file by file, in file order.

    Raises:
        r2d.io.InputError: no folder, no ``*.jsonl`` file (:class:`BlimpDataError`), a file that is not UTF-8
            text, a line that is not a JSON object, or a missing field; the message names file, line and field.
    """
    folder = Path(data_dir)
    if not folder.is_dir():
        raise BlimpDataError(folder, "not a folder (expected a folder of BLiMP *.jsonl files)")
    files = sorted(folder.glob("*.jsonl"))
    if not files:
        raise BlimpDataError(folder, "no *.jsonl files (expected BLiMP paradigm files)")
    pairs: list[Pair] = []
    for path in files:
        pairs.extend(_read_file(path, limit_per_paradigm))
    return pairs


def _read_file(path: Path, limit: int | None) -> Iterable[Pair]:
    rows = read_jsonl(path, strict=True)  # one JSON reader for the project; errors name file and line
    for n, row in enumerate(rows if limit is None else rows[:limit]):
        for key in REQUIRED_FIELDS:
            if not isinstance(row.get(key), str):
                raise BlimpDataError(path, "missing or not a string", line=n + 1, field=key)
        # subtle: the published files spell one field two ways (syntax/semantics in some paradigms): one field
        yield Pair(row["sentence_good"], row["sentence_bad"], row["field"].replace("/", "_"), row["UID"], path.name,
                   n + 1)


def evaluate(scorer: SentenceScorer, pairs: Sequence[Pair], *, batch_size: int = 64,
             progress: Callable[[int], None] | None = None) -> BlimpResult:
    """Score every pair and aggregate.

    Args:
        scorer: sentences -> total log-probabilities (see :data:`SentenceScorer`).
        pairs: from :func:`read_pairs`.
        batch_size: pairs per scorer call (each call gets ``2 * batch_size`` sentences: goods, then bads).
        progress: called with the number of pairs done after each batch (e.g. to advance a progress bar).

    Returns:
        The accuracies.
    """
    if not pairs:
        raise ValueError("no BLiMP pairs to evaluate")
    right: list[bool] = []
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start:start + batch_size]
        scores = list(scorer([p.good for p in chunk] + [p.bad for p in chunk]))
        if len(scores) != 2 * len(chunk):
            raise ValueError(f"the scorer returned {len(scores)} scores for {2 * len(chunk)} sentences")
        right.extend(g > b for g, b in zip(scores[:len(chunk)], scores[len(chunk):]))
        if progress is not None:
            progress(len(right))
    return aggregate(pairs, right)


def aggregate(pairs: Sequence[Pair], right: Sequence[bool]) -> BlimpResult:
    """Accuracy overall, per field and per paradigm from one right/wrong per pair (same order)."""
    by_field: dict[str, list[bool]] = defaultdict(list)
    by_uid: dict[str, list[bool]] = defaultdict(list)
    for p, r in zip(pairs, right, strict=True):
        by_field[p.field].append(r)
        by_uid[p.uid].append(r)

    def mean(xs: Sequence[bool]) -> float:
        return sum(xs) / len(xs)

    return BlimpResult(overall=mean(right), fields={k: mean(v) for k, v in sorted(by_field.items())},
                       paradigms={k: mean(v) for k, v in sorted(by_uid.items())}, pairs=len(right))
