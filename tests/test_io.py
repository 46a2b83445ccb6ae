"""Tests for r2d.io: strict text reading with file/line in every error, gzip by content, JSON lines, atomic writes."""

from __future__ import annotations

import gzip
import os

import pytest

from r2d.io import InputError, atomic_write_json, atomic_write_text, iter_lines, read_jsonl, read_text


def test_lines_of_plain_and_gzip_files_gzip_known_by_content(tmp_path):
    text = "first line\nsecond, café\r\nthird"
    (tmp_path / "a.txt").write_text(text, encoding="utf-8", newline="")
    with gzip.open(tmp_path / "b.txt", "wt", encoding="utf-8", newline="") as f:  # gzip data, misleading name
        f.write(text)
    for name in ("a.txt", "b.txt"):
        assert list(iter_lines(tmp_path / name)) == ["first line\n", "second, café\n", "third"]


@pytest.mark.parametrize("data,message", [
    ("ok\ncaf\xe9\n".encode("latin-1"), "bad:2: not UTF-8 text (byte 0xe9 at column 4); r2d reads UTF-8 text"),
    (b"ok\nstill ok\nnul \x00 here\n", "bad:3: binary data (a NUL byte), not text"),
    (b"\x7fELF\x02\x01\x01\x00\x00\x00\xff\xfe\n", "bad:1: binary data, not text (byte 0xff at column 11)"),
])
def test_undecodable_files_say_file_and_line(tmp_path, data, message):
    (tmp_path / "bad").write_bytes(data)
    with pytest.raises(InputError) as info:
        list(iter_lines(tmp_path / "bad"))
    assert str(info.value) == f"{tmp_path}/{message}"


def test_errors_in_gzip_files_name_the_line_of_the_decompressed_text(tmp_path):
    with gzip.open(tmp_path / "c.gz", "wb") as f:
        f.write(b"fine\n" * 5000 + b"caf\xe9\n")
    with pytest.raises(InputError, match=r"c.gz:5001: not UTF-8 text \(byte 0xe9 at column 4\)"):
        list(iter_lines(tmp_path / "c.gz"))
    (tmp_path / "cut.gz").write_bytes((tmp_path / "c.gz").read_bytes()[:30])
    with pytest.raises(InputError, match="cut.gz: broken gzip data"):
        list(iter_lines(tmp_path / "cut.gz"))


def test_missing_folder_and_empty(tmp_path):
    with pytest.raises(InputError, match="nope.txt: no such file"):
        list(iter_lines(tmp_path / "nope.txt", what="--corpus"))
    with pytest.raises(InputError, match=f"^--corpus {tmp_path}: is a folder, not a file$"):
        list(iter_lines(tmp_path, what="--corpus"))
    (tmp_path / "e.txt").write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="e.txt: is empty"):
        read_text(tmp_path / "e.txt")
    assert read_text(tmp_path / "e.txt", allow_empty=True) == ""


def test_input_error_fields():
    err = InputError("data.tsv", "'five' is not a number", line=3, field="score")
    assert str(err) == "data.tsv:3: field 'score': 'five' is not a number"
    assert (err.path, err.line, err.field) == ("data.tsv", 3, "score")
    assert str(InputError("x.json", "is empty")) == "x.json: is empty"


def test_read_jsonl_lenient_and_strict(tmp_path):
    p = tmp_path / "metrics.jsonl"
    p.write_text('{"step": 1, "loss": 2.0}\n\n[1, 2]\n{"step": 2, "lo', encoding="utf-8")
    assert read_jsonl(p) == [{"step": 1, "loss": 2.0}]  # a killed run's cut line and a non-object are skipped
    with pytest.raises(InputError, match=r"metrics.jsonl:3: not a JSON object \(a JSON list, expected an object\)"):
        read_jsonl(p, strict=True)


def test_atomic_write_leaves_no_temp_file_on_failure(tmp_path):
    p = tmp_path / "out.json"
    atomic_write_json(p, {"a": "é"})
    assert p.read_text(encoding="utf-8") == '{\n "a": "é"\n}\n'
    with pytest.raises(TypeError):
        atomic_write_text(p, None)  # fails while writing: the old file stays whole, no temp file is left
    assert p.read_text(encoding="utf-8") == '{\n "a": "é"\n}\n' and os.listdir(tmp_path) == ["out.json"]


def test_atomic_folder_replaces_the_folder_only_once_complete(tmp_path):
    from r2d.io import atomic_folder

    target = tmp_path / "model"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_folder(target) as work:
        (work / "new.txt").write_text("half")
        raise RuntimeError("killed mid-save")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"] and (target / "old.txt").is_file()
    with atomic_folder(target, tmp=tmp_path / "model.tmp") as work:
        (work / "new.txt").write_text("new")
        assert not (target / "new.txt").exists()
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"] and not (tmp_path / "model.tmp").exists()
