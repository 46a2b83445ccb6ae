"""BLiMP reader and aggregation: the published format, errors that name file/line/field, known accuracies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from r2d.evaluation.blimp import BlimpDataError, Pair, aggregate, evaluate, read_pairs
from r2d.io import InputError

SHARED_BLIMP = Path(__file__).resolve().parents[2] / "shared" / "data" / "blimp"


def _write(folder: Path, name: str, rows: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _row(good: str, bad: str, field: str, uid: str, **extra) -> dict:
    return {"sentence_good": good, "sentence_bad": bad, "field": field, "UID": uid, **extra}


def test_reads_every_file_in_order_with_extra_fields(tmp_path):
    _write(tmp_path, "b.jsonl", [_row("B good.", "B bad.", "syntax", "b", pairID="0", one_prefix_method=False)])
    _write(tmp_path, "a.jsonl", [_row("A1 good.", "A1 bad.", "morphology", "a"), _row("A2 good.", "A2 bad.", "morphology", "a")])
    (tmp_path / "notes.txt").write_text("not a paradigm")
    pairs = read_pairs(tmp_path)
    assert [(p.uid, p.good, p.line) for p in pairs] == [("a", "A1 good.", 1), ("a", "A2 good.", 2), ("b", "B good.", 1)]
    assert [p.uid for p in read_pairs(tmp_path, limit_per_paradigm=1)] == ["a", "b"]


def test_the_two_spellings_of_syntax_semantics_are_one_field(tmp_path):
    _write(tmp_path, "a.jsonl", [_row("A good.", "A bad.", "syntax/semantics", "a")])
    _write(tmp_path, "b.jsonl", [_row("B good.", "B bad.", "syntax_semantics", "b")])
    _write(tmp_path, "c.jsonl", [_row("C good.", "C bad.", "morphology", "c")])
    result = evaluate(lambda sents: [-1.0 if "good" in s else -2.0 for s in sents], read_pairs(tmp_path))
    assert result.fields == {"morphology": 1.0, "syntax_semantics": 1.0}


@pytest.mark.parametrize("content, expected", [
    ('{"sentence_good": "x", "sentence_bad": "y", "field": "syntax"}\n', r"bad\.jsonl:1: field 'UID'"),
    ('{"sentence_good": "x", "sentence_bad": "y", "field": "syntax", "UID": "u"}\n{oops\n', r"bad\.jsonl:2: not a JSON object"),
    ('[1, 2]\n', r"bad\.jsonl:1: not a JSON object"),
])
def test_malformed_files_name_file_line_and_field(tmp_path, content, expected):
    (tmp_path / "bad.jsonl").write_text(content)
    with pytest.raises(InputError, match=expected):
        read_pairs(tmp_path)


def test_missing_folder_or_no_files(tmp_path):
    with pytest.raises(BlimpDataError, match="not a folder"):
        read_pairs(tmp_path / "nope")
    with pytest.raises(BlimpDataError, match="no \\*.jsonl"):
        read_pairs(tmp_path)
    (tmp_path / "x.jsonl").write_bytes(b"\xff\xfe")
    with pytest.raises(InputError, match="not UTF-8"):
        read_pairs(tmp_path)


def test_aggregate_known_answer():
    pairs = [Pair("g", "b", f, u, "f", i) for i, (f, u) in enumerate(
        [("morphology", "m1"), ("morphology", "m1"), ("morphology", "m2"), ("syntax", "s1")])]
    res = aggregate(pairs, [True, False, True, True])
    assert res.overall == 0.75
    assert res.fields == {"morphology": 2 / 3, "syntax": 1.0}
    assert res.paradigms == {"m1": 0.5, "m2": 1.0, "s1": 1.0}
    assert res.to_dict()["morphology"] == 2 / 3 and res.to_dict()["pairs"] == 4


def test_evaluate_good_must_score_strictly_higher():
    pairs = [Pair("good a", "bad a", "syntax", "u", "f", 1), Pair("tie", "tie", "syntax", "u", "f", 2),
             Pair("good c", "bad c", "syntax", "u", "f", 3)]
    seen = []
    res = evaluate(lambda s: [-len(x) if "good" in x else -100.0 if "bad" in x else -5.0 for x in s], pairs,
                   batch_size=2, progress=seen.append)
    assert res.overall == pytest.approx(2 / 3)   # the tie counts as wrong
    assert seen == [2, 3]


def test_evaluate_rejects_a_scorer_that_drops_sentences():
    pairs = [Pair("g", "b", "syntax", "u", "f", 1)]
    with pytest.raises(ValueError, match="1 scores for 2 sentences"):
        evaluate(lambda s: [0.0], pairs)


@pytest.mark.skipif(not SHARED_BLIMP.is_dir(), reason="needs ../shared/data/blimp beside the repository")
def test_reads_the_shared_development_paradigms():
    pairs = read_pairs(SHARED_BLIMP)
    assert len(pairs) == 8000
    assert {p.field for p in pairs} == {"morphology", "syntax", "semantics", "syntax_semantics"}
    assert len({p.uid for p in pairs}) == 8
