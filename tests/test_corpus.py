"""Tests for r2d.text.corpus: the one corpus reader (lines, documents), word counts and word-count files."""

from __future__ import annotations

import gzip

import pytest

from r2d.io import InputError
from r2d.text.corpus import count_words, iter_corpus_lines, iter_documents, load_word_counts, read_word_counts

WIKI = ('<doc id="1" title="A">\nA\n\nFirst para.\nSecond para.\n</doc>\n'
        '<doc id="2" title="B">\nB\nOnly para.\n</doc>\n')


def test_lines_skip_wikiextractor_markup_in_plain_and_gzip_files(tmp_path):
    (tmp_path / "w.txt").write_text(WIKI, encoding="utf-8")
    with gzip.open(tmp_path / "w.txt.gz", "wt", encoding="utf-8") as f:
        f.write(WIKI)
    lines = ["A\n", "\n", "First para.\n", "Second para.\n", "B\n", "Only para.\n"]
    assert list(iter_corpus_lines([tmp_path / "w.txt"])) == lines
    assert list(iter_corpus_lines([tmp_path / "w.txt", tmp_path / "w.txt.gz"])) == lines + lines


def test_documents_of_wikiextractor_and_plain_files(tmp_path):
    (tmp_path / "w.txt").write_text(WIKI + '<doc id="3">\nCut\nshort', encoding="utf-8")
    (tmp_path / "p.txt").write_text("one line\n\nanother line\n", encoding="utf-8")
    assert list(iter_documents([tmp_path / "w.txt", tmp_path / "p.txt"])) == [
        "A\nFirst para.\nSecond para.", "B\nOnly para.", "Cut\nshort",  # a file cut inside a document
        "one line", "another line"]  # ... does not swallow the next file


def test_every_file_is_checked_before_reading(tmp_path):
    (tmp_path / "ok.txt").write_text("fine\n", encoding="utf-8")
    lines = iter_corpus_lines([tmp_path / "ok.txt", tmp_path / "typo.txt"])
    with pytest.raises(InputError, match="typo.txt: no such file"):
        next(lines)  # fails before the first line, not after reading a long first file


def test_progress_reports_bytes_of_all_files(tmp_path):
    (tmp_path / "a.txt").write_text("x\n" * 10, encoding="utf-8")
    (tmp_path / "b.txt").write_text("y\n" * 5, encoding="utf-8")
    seen = []
    list(iter_corpus_lines([tmp_path / "a.txt", tmp_path / "b.txt"], progress=lambda d, t: seen.append((d, t))))
    assert seen == [(20, 30), (30, 30)]


def test_count_words_letters_only_lowercased(tmp_path):
    (tmp_path / "c.txt").write_text("The dog saw the dogs. NASA's end, don't THE END!\n<doc id=1>\n", encoding="utf-8")
    assert count_words([tmp_path / "c.txt"]) == {"the": 3, "dog": 1, "saw": 1, "dogs": 1, "nasa": 1, "end": 2,
                                                 "don": 1}


def test_word_count_files(tmp_path):
    p = tmp_path / "counts.tsv"
    p.write_text("# comment\nthe\t100\ndog\t2.5\n\nalone\n", encoding="utf-8")
    assert list(read_word_counts(p)) == [(2, "the", 100.0), (3, "dog", 2.5), (5, "alone", None)]
    assert load_word_counts(p) == {"the": 100, "dog": 2, "alone": 1}
    for bad in ("many", "-3", "nan", "inf"):
        p.write_text(f"the\t100\ndog\t{bad}\n", encoding="utf-8")
        with pytest.raises(InputError, match=f"counts.tsv:2: field 'count': '{bad}' for 'dog' is not a number >= 0"):
            list(read_word_counts(p))
