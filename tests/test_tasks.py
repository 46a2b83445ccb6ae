"""Tests for r2d.training.tasks: registry, local loaders (generated files + the shared data if present), carving."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from r2d.training.tasks import TASKS, TaskDataError, get_task, load_task, task_table



def _write(p: Path, text: str, gz: bool = False) -> None:
    p.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        with gzip.open(p, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        p.write_text(text, encoding="utf-8")


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    """A miniature copy of the shared/data layout, with quotes that break csv's default quoting."""
    d = tmp_path / "data"
    _write(d / "glue/CoLA/train.tsv", 'a\t1\t\tThe "dog barks.\nb\t0\t*\tDog the barks.\n')
    _write(d / "glue/CoLA/dev.tsv", "c\t1\t\tCats sleep.\nd\t0\t*\tSleep cats the.")
    _write(d / "glue/SST-2/train.tsv", "sentence\tlabel\ngood film \t1\nbad film \t0\n")
    _write(d / "glue/SST-2/dev.tsv", "sentence\tlabel\nfine \t1\n")
    head = "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
    _write(d / "glue/MRPC/train.tsv", head + '1\t1\t2\tHe said "hi.\tHe said hi.\n0\t3\t4\tA.\tB.\n')
    _write(d / "glue/MRPC/dev.tsv", head + "1\t5\t6\tC.\tC!\n")
    sts = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
    _write(d / "glue/STS-B/train.tsv", sts + "0\tg\tf\ty\t1\tn\tn\tA man runs.\tA man is running.\t4.750\n")
    _write(d / "glue/STS-B/dev.tsv", sts + "0\tg\tf\ty\t1\tn\tn\tA cat.\tA car.\t0.5\n")
    qn = "index\tquestion\tsentence\tlabel\n" + "".join(
        f"{i}\tQ{i}?\tS{i}.\t{'entailment' if i % 2 else 'not_entailment'}\n" for i in range(20))
    _write(d / "glue/QNLI/dev.tsv", qn)
    rte = "index\tsentence1\tsentence2\tlabel\n0\tA b.\tA.\tentailment\n1\tC.\tD.\tnot_entailment\n"
    _write(d / "glue/RTE/train.tsv", rte)
    _write(d / "glue/RTE/dev.tsv", rte)
    labs = ("entailment", "neutral", "contradiction")
    _write(d / "mnli_sample/dev_matched_1000.tsv", "".join(f"{labs[i % 3]}\tP{i} .\tH{i} .\n" for i in range(30)))
    _write(d / "mnli_sample/dev_mismatched_1000.tsv", "".join(f"{labs[i % 3]}\tp{i}\th{i}\n" for i in range(9)))
    _write(d / "yelp_polarity_sample/test_1000.txt", "".join(f"{i % 2} review {i} .\n" for i in range(10)))
    imdb = "id\trating\tlabel\ttext\n0\t2\tneg\tBad <br /><br />film.\n1\t9\tpos\tGreat film.\n"
    _write(d / "imdb/train.tsv.gz", imdb, gz=True)
    _write(d / "imdb/test.tsv.gz", imdb, gz=True)
    return d


def test_registry_fields():
    assert set(TASKS) == {"cola", "sst2", "mrpc", "stsb", "qnli", "rte", "mnli", "yelp_polarity", "imdb"}
    assert TASKS["stsb"].is_regression and TASKS["stsb"].num_labels == 1
    assert TASKS["mnli"].eval_splits == ("validation_matched", "validation_mismatched")
    assert TASKS["mnli"].num_labels == 3 and TASKS["mnli"].is_pair
    assert TASKS["cola"].metrics == ("matthews_correlation", "accuracy") and not TASKS["cola"].is_pair
    assert TASKS["cola"].metric == "matthews_correlation"  # the headline
    assert TASKS["stsb"].metrics == ("pearson", "spearmanr") and TASKS["mrpc"].metrics == ("f1", "accuracy")
    assert TASKS["rte"].metrics == ("accuracy",)
    for t in TASKS.values():
        if t.is_regression:
            assert (t.num_labels, t.label_names) == (1, ())
        else:
            assert len(t.label_names) == t.num_labels >= 2
    with pytest.raises(KeyError, match="known tasks"):
        get_task("glue")


@pytest.mark.parametrize("name", list(TASKS))
def test_local_loading_columns_and_splits(data_dir: Path, name: str):
    task = TASKS[name]
    dd = load_task(name, data_dir)
    assert tuple(dd) == task.splits
    for split in dd.values():
        assert split.column_names == [*task.text_keys, "label"]
        assert len(split) > 0
        assert all(isinstance(split[0][k], str) for k in task.text_keys)


def test_local_values_exact(data_dir: Path):
    cola = load_task("cola", data_dir)
    assert cola["train"][0] == {"sentence": 'The "dog barks.', "label": 1}  # QUOTE_NONE keeps the quote
    assert cola["validation"]["label"] == [1, 0]
    mrpc = load_task("mrpc", data_dir)["train"][0]
    assert mrpc == {"sentence1": 'He said "hi.', "sentence2": "He said hi.", "label": 1}  # BOM header skipped
    assert load_task("stsb", data_dir)["train"][0]["label"] == pytest.approx(4.75)
    rte = load_task("rte", data_dir)["train"]
    assert rte["label"] == [0, 1]  # Hub encoding: 0 = entailment
    assert rte.features["label"].names == ["entailment", "not_entailment"]
    imdb = load_task("imdb", data_dir)["test"]
    assert imdb["label"] == [0, 1] and imdb[0]["text"] == "Bad <br /><br />film."


def test_carved_splits_disjoint_stratified_deterministic(data_dir: Path):
    a, b = load_task("mnli", data_dir), load_task("mnli", data_dir)
    assert a["train"]["premise"] == b["train"]["premise"]
    train, val = set(a["train"]["premise"]), set(a["validation_matched"]["premise"])
    assert not train & val and len(train | val) == 30
    assert sorted(a["validation_matched"]["label"]) == [0, 0, 1, 1, 2, 2]  # 20% of each label
    assert len(a["validation_mismatched"]) == 9
    q = load_task("qnli", data_dir)
    assert len(q["train"]) == 16 and len(q["validation"]) == 4
    assert not set(q["train"]["question"]) & set(q["validation"]["question"])


def test_bad_local_data_names_file_and_line(data_dir: Path):
    p = data_dir / "glue/RTE/train.tsv"
    p.write_text("index\tsentence1\tsentence2\tlabel\n0\tA.\tB.\tmaybe\n", encoding="utf-8")
    with pytest.raises(TaskDataError, match=r"RTE/train.tsv:2: field 'label': 'maybe' is not one of"):
        load_task("rte", data_dir)
    (data_dir / "glue/CoLA/dev.tsv").unlink()
    with pytest.raises(TaskDataError, match="CoLA/dev.tsv: no such file"):
        load_task("cola", data_dir)
    with pytest.raises(TaskDataError, match="not a folder"):
        load_task("cola", data_dir / "nope")
    (data_dir / "glue/RTE/train.tsv").write_bytes(b"index\tsentence1\tsentence2\tlabel\n0\tCaf\xe9.\tB.\t0\n")
    with pytest.raises(TaskDataError, match=r"RTE/train.tsv:2: not UTF-8 text \(byte 0xe9 at column 6\)"):
        load_task("rte", data_dir)
    sts = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
    (data_dir / "glue/STS-B/dev.tsv").write_text(sts + "0\tg\tf\ty\t1\tn\tn\tA.\tB.\tfive\n", encoding="utf-8")
    with pytest.raises(TaskDataError, match=r"STS-B/dev.tsv:2: field 'score': 'five' is not a number"):
        load_task("stsb", data_dir)


# the files of each task whose format has a header row
HEADED = {"sst2": ("glue/SST-2/train.tsv", "glue/SST-2/dev.tsv"), "mrpc": ("glue/MRPC/train.tsv", "glue/MRPC/dev.tsv"),
          "stsb": ("glue/STS-B/train.tsv", "glue/STS-B/dev.tsv"), "qnli": ("glue/QNLI/dev.tsv",),
          "rte": ("glue/RTE/train.tsv", "glue/RTE/dev.tsv"), "imdb": ("imdb/train.tsv.gz", "imdb/test.tsv.gz")}


def _rewrite_columns(p: Path, change) -> None:
    """Rewrite every row of a TSV (``.gz`` too) as ``change(fields)``."""
    gz = p.name.endswith(".gz")
    text = gzip.open(p, "rt", encoding="utf-8-sig").read() if gz else p.read_text(encoding="utf-8-sig")
    _write(p, "".join("\t".join(change(line.split("\t"))) + "\n" for line in text.splitlines()), gz=gz)


@pytest.mark.parametrize("name", list(HEADED))
def test_headed_files_are_read_by_column_name(data_dir: Path, name: str):
    """Columns in another order give the same examples: a header names them, their position does not."""
    before = {s: d.to_dict() for s, d in load_task(name, data_dir).items()}
    for f in HEADED[name]:
        _rewrite_columns(data_dir / f, lambda fields: fields[::-1])
    assert {s: d.to_dict() for s, d in load_task(name, data_dir).items()} == before


@pytest.mark.parametrize("name,column", [("rte", "label"), ("sst2", "sentence"), ("mrpc", "#2 String"),
                                         ("stsb", "score"), ("qnli", "question"), ("imdb", "text")])
def test_a_renamed_header_column_names_file_line_1_and_the_column(data_dir: Path, name: str, column: str):
    p = data_dir / HEADED[name][0]
    _rewrite_columns(p, lambda fields: ["lbl" if f == column else f for f in fields])
    with pytest.raises(TaskDataError) as err:
        load_task(name, data_dir)
    assert err.value.path == str(p) and err.value.line == 1 and err.value.field == column
    assert "lbl" in str(err.value)  # the columns the header has


def test_task_table_mentions_every_task_and_carving():
    table = task_table()
    for name in TASKS:
        assert f"`{name}`" in table
    assert table.count("carved") == 3  # qnli, mnli, yelp_polarity


@pytest.mark.parametrize("name,sizes", [
    ("cola", {"train": 8551, "validation": 1043}),
    ("rte", {"train": 2490, "validation": 277}),
    ("stsb", {"train": 5749, "validation": 1500}),
    ("mrpc", {"train": 3668, "validation": 408}),
    ("qnli", {"train": 4371, "validation": 1092}),
    ("mnli", {"train": 800, "validation_matched": 200, "validation_mismatched": 1000}),
    ("yelp_polarity", {"train": 800, "test": 200}),
])
def test_real_shared_data_row_counts(shared_data: Path, name: str, sizes: dict):
    dd = load_task(name, shared_data)
    assert {k: len(v) for k, v in dd.items()} == sizes


def test_an_unreachable_hub_says_to_give_local_data(monkeypatch):
    import datasets

    from r2d.training.tasks import TaskDataError, load_task

    def offline(*a, **k):
        raise ConnectionError("Couldn't reach 'nyu-mll/glue' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(TaskDataError, match=r"--task rte: Couldn't reach .*give --data-dir DIR .*glue/RTE/"):
        load_task("rte")
