"""Downstream tasks for fine-tuning: a registry of GLUE, Yelp polarity and IMDB, and their loaders.

Each :class:`Task` names its input columns, its label type (classification or regression), its number of
labels, its metrics (scored by :mod:`r2d.training.metrics`) and its evaluation splits. :func:`load_task`
returns a :class:`datasets.DatasetDict` with the **same columns, label encoding and split names** whether the
data comes from the Hugging Face Hub (``data_dir=None``, for users) or from local files in the layout of
``shared/data`` (``data_dir=...``, for machines without the Hub), so everything after loading is one code path.
Where local files lack a split, a seeded, label-stratified one is carved from what exists
(:attr:`Task.local_note` says how).

Example:
    >>> task = TASKS["rte"]
    >>> task.text_keys, task.num_labels, task.metrics
    (('sentence1', 'sentence2'), 2, ('accuracy',))
    >>> TASKS["cola"].metrics
    ('matthews_correlation', 'accuracy')
"""

from __future__ import annotations

import csv
import logging
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from r2d.io import InputError, iter_lines
from r2d.training.metrics import METRICS

logger = logging.getLogger(__name__)

CARVE_SEED = 0
"""Seed of every carved split (fixed, so that runs with different training seeds see the same data)."""


class TaskDataError(InputError):
    """A local data file is missing or malformed; the message names the file, line and field."""


@dataclass(frozen=True)
class Task:
    """One downstream task.

    Attributes:
        name: registry key, e.g. ``"stsb"``.
        hub_path: ``datasets.load_dataset`` path on the Hub, e.g. ``"nyu-mll/glue"``.
        hub_config: the dataset configuration name (``"stsb"``), or None.
        text_keys: one column (single sentence) or two (a sentence pair, in pair order).
        label_type: ``"classification"`` or ``"regression"``.
        num_labels: classes, or 1 for regression.
        label_names: class names in label-id order (empty for regression).
        metrics: the names of the task's metrics, headline first (keys of :data:`r2d.training.metrics.METRICS`);
            :func:`r2d.training.metrics.compute_task_metrics` computes exactly these, and the report shows them.
        eval_splits: evaluation split names, first one is the headline (``validation`` for GLUE, both
            MNLI dev sets, ``test`` where the Hub has no validation split).
        local_dir: folder under ``--data-dir``.
        local_note: what the local loader does, including any carved split.
    """

    name: str
    hub_path: str
    hub_config: str | None
    text_keys: tuple[str, ...]
    label_type: str
    num_labels: int
    label_names: tuple[str, ...]
    metrics: tuple[str, ...]
    eval_splits: tuple[str, ...]
    local_dir: str
    local_note: str
    _local_loader: Callable[[Path], dict[str, dict[str, list]]] = field(repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        unknown = [m for m in self.metrics if m not in METRICS]
        if not self.metrics or unknown:
            raise ValueError(f"task {self.name!r}: metrics {list(self.metrics)}; known metrics: {', '.join(METRICS)}")

    @property
    def metric(self) -> str:
        """The headline metric (the first of :attr:`metrics`)."""
        return self.metrics[0]

    @property
    def is_pair(self) -> bool:
        """True if the task takes a sentence pair."""
        return len(self.text_keys) == 2

    @property
    def is_regression(self) -> bool:
        """True for regression tasks (STS-B)."""
        return self.label_type == "regression"

    @property
    def splits(self) -> tuple[str, ...]:
        """All split names :func:`load_task` returns: ``train`` then the evaluation splits."""
        return ("train", *self.eval_splits)


# ---------------------------------------------------------------------------------------------------------
# local file readers


def _lines(path: Path, **kwargs) -> Iterator[str]:
    """:func:`r2d.io.iter_lines`, a file that cannot be read as text being a :class:`TaskDataError`."""
    try:
        yield from iter_lines(path, **kwargs)
    except InputError as err:
        raise TaskDataError(err.path, err.reason, line=err.line) from None


def _read_tsv(path: Path, columns: tuple[str, ...], *, layout: tuple[str, ...] | None = None,
              encoding: str = "utf-8-sig") -> list[tuple[int, list[str]]]:
    """The ``columns`` of every row of a GLUE-style TSV, ``.gz`` too, as ``(line number, values in columns' order)``.

    A format with a header row (``layout=None``) is read by column name, wherever the header puts each column, so
    that a renamed or moved column is an error, never a silently misread one; a format without a header names its
    columns by position in ``layout``. ``QUOTE_NONE``: fields contain unbalanced quotes. Blank lines are skipped.

    Raises:
        TaskDataError: a column missing from the header (line 1, the column as field), a row with too few fields.
    """
    rows = csv.reader(_lines(path, encoding=encoding, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    first = 1
    if layout is None:
        layout, first = tuple(next(rows, ())), 2
        for name in columns:
            if name not in layout:
                raise TaskDataError(path, f"missing from the header row (its columns: {', '.join(layout) or 'none'})",
                                    line=1, field=name)
    where = [layout.index(name) for name in columns]
    need = max(where) + 1
    out = []
    for i, row in enumerate(rows, start=first):
        if not row or row == [""]:
            continue
        if len(row) < need:
            raise TaskDataError(path, f"expected at least {need} tab-separated fields, got {len(row)}", line=i)
        out.append((i, [row[j] for j in where]))
    return out


def _label(path: Path, line: int, value: str, names: tuple[str, ...], column: str = "label") -> int:
    """Class id of ``value`` (a name in ``names`` or an integer string) read from ``column``."""
    v = value.strip()
    if v in names:
        return names.index(v)
    if v.isdigit() and int(v) < len(names):
        return int(v)
    raise TaskDataError(path, f"{value!r} is not one of {list(names)}", line=line, field=column)


def _columns(rows: list[dict]) -> dict[str, list]:
    keys = rows[0].keys() if rows else ()
    return {k: [r[k] for r in rows] for k in keys}


def _carve(rows: list[dict], frac: float, key: str = "label") -> tuple[list[dict], list[dict]]:
    """Split ``rows`` into (rest, held_out) with ``frac`` of each label held out, seeded by CARVE_SEED.

    Deterministic and label-stratified; the original row order is kept inside each part.
    """
    rng = random.Random(CARVE_SEED)
    by_label: dict = {}
    for i, r in enumerate(rows):
        by_label.setdefault(r[key], []).append(i)
    held = set()
    for lab in sorted(by_label):
        idx = by_label[lab]
        rng.shuffle(idx)
        held.update(idx[: round(len(idx) * frac)])
    return [r for i, r in enumerate(rows) if i not in held], [r for i, r in enumerate(rows) if i in held]


def _glue_single(folder: str, cols: tuple[str, str], names: tuple[str, ...], layout: tuple[str, ...] | None = None):
    """Loader for a GLUE single-sentence task: ``cols`` = its (sentence, label) columns, ``layout`` as for
    :func:`_read_tsv`."""

    def load(d: Path) -> dict[str, dict[str, list]]:
        out = {}
        for split, fname in (("train", "train.tsv"), ("validation", "dev.tsv")):
            p = d / folder / fname
            out[split] = _columns([{"sentence": text, "label": _label(p, i, lab, names, cols[1])}
                                   for i, (text, lab) in _read_tsv(p, cols, layout=layout)])
        return out

    return load


def _glue_pair(folder: str, cols: tuple[str, str, str], keys: tuple[str, str], names: tuple[str, ...] | None,
               train_file: str | None = "train.tsv", carve_frac: float = 0.2):
    """Loader for a GLUE pair task with header: ``cols`` = the header's (first, second, label) column names;
    ``names=None`` means a float label (regression)."""

    def rows_of(p: Path) -> list[dict]:
        out = []
        for i, (a, b, value) in _read_tsv(p, cols):
            if names is None:
                try:
                    lab = float(value)
                except ValueError:
                    raise TaskDataError(p, f"{value!r} is not a number", line=i, field=cols[2]) from None
            else:
                lab = _label(p, i, value, names, cols[2])
            out.append({keys[0]: a, keys[1]: b, "label": lab})
        return out

    def load(d: Path) -> dict[str, dict[str, list]]:
        dev = rows_of(d / folder / "dev.tsv")
        if train_file is None:
            train, dev = _carve(dev, carve_frac)
        else:
            train = rows_of(d / folder / train_file)
        return {"train": _columns(train), "validation": _columns(dev)}

    return load


_NLI3 = ("entailment", "neutral", "contradiction")
_NLI2 = ("entailment", "not_entailment")


def _load_mnli(d: Path) -> dict[str, dict[str, list]]:
    def rows_of(p: Path) -> list[dict]:
        return [{"premise": premise, "hypothesis": hypothesis, "label": _label(p, i, lab, _NLI3)}
                for i, (lab, premise, hypothesis) in _read_tsv(p, ("label", "premise", "hypothesis"),
                                                                layout=("label", "premise", "hypothesis"))]

    matched = rows_of(d / "mnli_sample" / "dev_matched_1000.tsv")
    mismatched = rows_of(d / "mnli_sample" / "dev_mismatched_1000.tsv")
    train, val_m = _carve(matched, 0.2)
    return {"train": _columns(train), "validation_matched": _columns(val_m),
            "validation_mismatched": _columns(mismatched)}


def _load_yelp(d: Path) -> dict[str, dict[str, list]]:
    p = d / "yelp_polarity_sample" / "test_1000.txt"
    rows = []
    for i, line in enumerate(_lines(p), start=1):
        if not line.strip():
            continue
        lab, _, text = line.rstrip("\n").partition(" ")
        if lab not in ("0", "1"):
            raise TaskDataError(p, f"{lab!r} is not '0' or '1'", line=i, field="label")
        rows.append({"text": text, "label": int(lab)})
    train, test = _carve(rows, 0.2)
    return {"train": _columns(train), "test": _columns(test)}


def _load_imdb(d: Path) -> dict[str, dict[str, list]]:
    out = {}
    for split in ("train", "test"):
        p = d / "imdb" / f"{split}.tsv.gz"
        out[split] = _columns([{"text": text, "label": _label(p, i, lab, ("neg", "pos"))}
                               for i, (text, lab) in _read_tsv(p, ("text", "label"), encoding="utf-8")])
    return out


# ---------------------------------------------------------------------------------------------------------
# the registry

_GLUE = "nyu-mll/glue"

TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task("cola", _GLUE, "cola", ("sentence",), "classification", 2, ("unacceptable", "acceptable"),
             ("matthews_correlation", "accuracy"), ("validation",), "glue/CoLA",
             "train.tsv / dev.tsv (no header) as GLUE train / validation",
             _glue_single("glue/CoLA", ("sentence", "label"), ("0", "1"),
                          layout=("source_code", "label", "original_judgement", "sentence"))),
        Task("sst2", _GLUE, "sst2", ("sentence",), "classification", 2, ("negative", "positive"),
             ("accuracy",), ("validation",), "glue/SST-2",
             "train.tsv / dev.tsv as GLUE train / validation (lower-cased, PTB-tokenized text)",
             _glue_single("glue/SST-2", ("sentence", "label"), ("0", "1"))),
        Task("mrpc", _GLUE, "mrpc", ("sentence1", "sentence2"), "classification", 2,
             ("not_equivalent", "equivalent"), ("f1", "accuracy"), ("validation",), "glue/MRPC",
             "train.tsv / dev.tsv as GLUE train / validation",
             _glue_pair("glue/MRPC", ("#1 String", "#2 String", "Quality"), ("sentence1", "sentence2"), ("0", "1"))),
        Task("stsb", _GLUE, "stsb", ("sentence1", "sentence2"), "regression", 1, (),
             ("pearson", "spearmanr"), ("validation",), "glue/STS-B",
             "train.tsv / dev.tsv as GLUE train / validation (score 0-5)",
             _glue_pair("glue/STS-B", ("sentence1", "sentence2", "score"), ("sentence1", "sentence2"), None)),
        Task("qnli", _GLUE, "qnli", ("question", "sentence"), "classification", 2, _NLI2,
             ("accuracy",), ("validation",), "glue/QNLI",
             "NO local train split: dev.tsv (5,463) is carved 80/20 (label-stratified, seed 0) into "
             "train (4,371) / validation (1,092); not comparable with GLUE QNLI numbers",
             _glue_pair("glue/QNLI", ("question", "sentence", "label"), ("question", "sentence"), _NLI2,
                        train_file=None)),
        Task("rte", _GLUE, "rte", ("sentence1", "sentence2"), "classification", 2, _NLI2,
             ("accuracy",), ("validation",), "glue/RTE",
             "train.tsv / dev.tsv as GLUE train / validation",
             _glue_pair("glue/RTE", ("sentence1", "sentence2", "label"), ("sentence1", "sentence2"), _NLI2)),
        Task("mnli", _GLUE, "mnli", ("premise", "hypothesis"), "classification", 3, _NLI3,
             ("accuracy",), ("validation_matched", "validation_mismatched"), "mnli_sample",
             "NO local train split: the 1,000-pair dev-matched sample is carved 80/20 (label-stratified, "
             "seed 0) into train (800) / validation_matched (200); validation_mismatched = the 1,000-pair "
             "dev-mismatched sample; PTB-tokenized text; a sanity set, not the MNLI benchmark",
             _load_mnli),
        Task("yelp_polarity", "yelp_polarity", None, ("text",), "classification", 2, ("negative", "positive"),
             ("accuracy",), ("test",), "yelp_polarity_sample",
             "NO local train split: the 1,000-review test sample (lower-cased, tokenized) is carved 80/20 "
             "(label-stratified, seed 0) into train (800) / test (200); a sanity set only",
             _load_yelp),
        Task("imdb", "stanfordnlp/imdb", None, ("text",), "classification", 2, ("neg", "pos"),
             ("accuracy",), ("test",), "imdb",
             "train.tsv.gz / test.tsv.gz (25,000 each) as train / test",
             _load_imdb),
    )
}


def get_task(name: str) -> Task:
    """The task called ``name``; a ``KeyError`` listing the known names otherwise."""
    try:
        return TASKS[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}") from None


def _features(task: Task):
    from datasets import ClassLabel, Features, Value

    cols = {k: Value("string") for k in task.text_keys}
    cols["label"] = Value("float32") if task.is_regression else ClassLabel(names=list(task.label_names))
    return Features(cols)


def load_task(task: Task | str, data_dir: str | Path | None = None):
    """Load a task as a ``datasets.DatasetDict`` with splits ``task.splits`` and columns ``text_keys + label``.

    Args:
        task: a :class:`Task` or its name.
        data_dir: None to load from the Hugging Face Hub by name (needs network), or a folder in the layout
            of ``shared/data`` (``glue/CoLA/train.tsv`` ...) to load local files.

    Returns:
        DatasetDict: ``train`` plus ``task.eval_splits``; labels are class ids (int) or floats (regression),
        encoded as on the Hub (e.g. RTE ``0 = entailment``).

    Raises:
        TaskDataError: a local file is missing or malformed (the message names file, line and field), or the Hub
            cannot be reached (the message says to give ``data_dir``).
    """
    from datasets import Dataset, DatasetDict, Value

    task = get_task(task) if isinstance(task, str) else task
    features = _features(task)
    if data_dir is None:
        from datasets import load_dataset

        try:
            raw = load_dataset(task.hub_path, task.hub_config) if task.hub_config else load_dataset(task.hub_path)
        except ConnectionError as err:  # offline, or the Hub is blocked: say how to run without it
            raise TaskDataError(f"--task {task.name}", f"{err}; without the Hub, give --data-dir DIR (local files "
                                                      f"in the layout of shared/data: {task.local_dir}/)") from None
        plain = Value("float32") if task.is_regression else Value("int64")
        # subtle: Hub ClassLabels differ in names (yelp_polarity: "1"/"2"); go through plain ints first.
        return DatasetDict({
            s: raw[s].select_columns([*task.text_keys, "label"]).cast_column("label", plain).cast(features)
            for s in task.splits
        })
    d = Path(data_dir)
    if not d.is_dir():
        raise TaskDataError(f"--data-dir {d}", "is not a folder")
    cols = task._local_loader(d)
    logger.info("task %s from %s: %s", task.name, d / task.local_dir, task.local_note)
    return DatasetDict({s: Dataset.from_dict(cols[s], features=features) for s in task.splits})


def task_table() -> str:
    """A Markdown table of every task: inputs, label type, metric, eval splits and the local-data note."""
    lines = ["| task | inputs | labels | metric | eval splits | local data (`--data-dir`) |",
             "|---|---|---|---|---|---|"]
    for t in TASKS.values():
        labels = "regression (0-5)" if t.is_regression else f"{t.num_labels} classes"
        lines.append(f"| `{t.name}` | {', '.join(t.text_keys)} | {labels} | {t.metric} | "
                     f"{', '.join(t.eval_splits)} | `{t.local_dir}`: {t.local_note} |")
    return "\n".join(lines)
