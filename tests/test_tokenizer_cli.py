"""Tests for the tokenizer's commands: ``r2d tokenize``, ``r2d decode`` and ``r2d train-tokenizer``, through ``main([...])``.

Bad input ends a command with one line on stderr naming the file (or option), field and position, exit status 2,
and nothing written; see also ``tests/test_cli.py`` for what every command shares.
"""

from __future__ import annotations

import json
import logging

import pytest

from r2d.cli import main

SENTENCE = "I enjoyed riding in Australia's parks."
ZEROS = [0] * 7


def run_decode(tmp_path, capsys, doc) -> tuple[int, str, str]:
    p = tmp_path / "f.json"
    p.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    code = main(["decode", str(p)])
    out = capsys.readouterr()
    return code, out.out, out.err


# ---------------------------------------------------------------------------------------------- r2d decode
@pytest.mark.parametrize("value, shown", [(3, "3"), (-1, "-1"), (1.5, "1.5"), ("NaN", "NaN"), ("Infinity", "Infinity")])
def test_decode_refuses_flags_that_are_not_0_1_or_probabilities(tmp_path, capsys, value, shown):
    # json.loads reads NaN and Infinity, so a file can hold them
    doc = '{"input_ids": [0, 5, 2], "flags": [%s, [0, 0, %s, 0, 0, 0, 0], %s]}' % (ZEROS, value, ZEROS)
    code, out, err = run_decode(tmp_path, capsys, doc)
    assert code == 2 and out == ""
    assert err == (f"r2d decode: error: {tmp_path / 'f.json'}: field 'flags[1][2]': {shown} is not 0/1 "
                   f"or a probability in [0, 1]\n")


@pytest.mark.parametrize("ids, bad", [([0, 999999, 2], "input_ids[1]: 999999"), ([-3], "input_ids[0]: -3"),
                                      ([50265], "input_ids[0]: 50265"), ([10**30], f"input_ids[0]: {10**30}")])
def test_decode_refuses_ids_outside_the_vocabulary(tmp_path, capsys, ids, bad):
    code, out, err = run_decode(tmp_path, capsys, {"input_ids": ids})
    field, value = bad.split(": ")
    assert code == 2 and out == ""
    assert err == (f"r2d decode: error: {tmp_path / 'f.json'}: field '{field}': {value} is not an id of the "
                   f"vocabulary (0 to 50264)\n")


def test_decode_without_flags_is_documented_and_turns_every_flag_off(tmp_path, capsys, en_tok):
    with pytest.raises(SystemExit):
        main(["decode", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "without 'flags' every flag is 0" in help_text
    ids = en_tok(SENTENCE)["input_ids"]
    code, out, err = run_decode(tmp_path, capsys, {"input_ids": ids})
    assert (code, err) == (0, "")
    assert out == " i enjoy ride in australia park ."  # roots only: no case, no suffix, a space before each word


def test_decode_help_says_how_a_pair_comes_back(capsys):
    with pytest.raises(SystemExit):
        main(["decode", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "pair" in help_text and "--keep-special" in help_text


def test_a_pair_decodes_to_both_texts_and_keep_special_shows_where_the_second_starts(tmp_path, capsys):
    assert main(["tokenize", "Hi there", "--pair", "Second one", "--format", "json"]) == 0
    doc = capsys.readouterr().out
    code, out, _ = run_decode(tmp_path, capsys, doc)
    assert (code, out) == (0, "Hi thereSecond one")  # as Hugging Face tokenizers do with skip_special_tokens
    (tmp_path / "f.json").write_text(doc)
    assert main(["decode", str(tmp_path / "f.json"), "--keep-special"]) == 0
    assert capsys.readouterr().out == "<s>Hi there</s></s>Second one</s>"


# ---------------------------------------------------------------------------------------------- the tokenizer named in the JSON
def test_tokenize_json_names_a_folder_by_its_absolute_path(tmp_path, capsys, monkeypatch, tiny_tok):
    tiny_tok.save_pretrained(tmp_path / "tok1")
    monkeypatch.chdir(tmp_path)
    assert main(["tokenize", "Cats ran", "--tokenizer", "tok1", "--format", "json"]) == 0
    doc = capsys.readouterr().out
    assert json.loads(doc)["tokenizer"] == str(tmp_path / "tok1")
    (tmp_path / "t1.json").write_text(doc)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["decode", str(tmp_path / "t1.json")]) == 0
    assert capsys.readouterr().out == "Cats ran"


def test_tokenize_json_keeps_a_bundled_name(capsys):
    assert main(["tokenize", "Cats ran", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["tokenizer"] == "r2d-en"


def test_a_tokenizer_named_in_the_json_that_does_not_load_blames_the_file(tmp_path, capsys):
    code, out, err = run_decode(tmp_path, capsys, {"tokenizer": "tok1", "input_ids": [0, 2]})
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"r2d decode: error: {tmp_path / 'f.json'}: field 'tokenizer': no r2d tokenizer at 'tok1'")
    assert "--tokenizer" in err  # the way out: override it
    code, _, err = run_decode(tmp_path, capsys, {"tokenizer": 5, "input_ids": [0, 2]})
    assert code == 2 and "field 'tokenizer': must be a tokenizer name or folder, got 5" in err


def test_the_tokenizer_option_is_blamed_when_it_was_passed(tmp_path, capsys):
    p = tmp_path / "f.json"
    p.write_text(json.dumps({"input_ids": [0, 2]}))
    assert main(["decode", str(p), "--tokenizer", str(tmp_path / "nope")]) == 2
    assert f"error: --tokenizer {tmp_path / 'nope'}: no r2d tokenizer at" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- r2d train-tokenizer
@pytest.mark.parametrize("option, value, message", [
    ("--min-frequency", "-1", "--min-frequency must be >= 0, got -1"),
    ("--max-length", "0", "--max-length must be >= 3, got 0"),
    ("--vocab-size", "10", "--vocab-size: vocab_size=10 is too small"),
])
def test_train_tokenizer_checks_numbers_before_reading_anything(tmp_path, capsys, option, value, message):
    missing = tmp_path / "missing.txt"  # a number is checked first: the corpus is not even opened
    out = tmp_path / "tok"
    assert main(["train-tokenizer", "--corpus", str(missing), option, value, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("r2d train-tokenizer: error: ") and message in err and err.count("\n") == 1
    assert not out.exists()


def test_train_tokenizer_flag_set_is_saved_and_honoured(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    text = "The Dogs were riding. Australia's dogs RIDE!"
    corpus.write_text((text + "\n") * 20)
    out = tmp_path / "tok"
    assert main(["train-tokenizer", "--corpus", str(corpus), "--flags", "case", "--affixes", "~ing",
                 "--vocab-size", "300", "--out", str(out)]) == 0
    from r2d import R2DTokenizer

    tok = R2DTokenizer.from_pretrained(out)  # the schema travels with the tokenizer
    assert tok.flag_names == ("NoSpace", "FirstCap", "AllCaps", "Suffix_ing")
    rows = {text[r.start:r.end]: r for r in tok.split(text)}
    assert rows[" riding"].root == "ride" and rows[" Dogs"].root == "dogs"  # ~ing on, ~s off
    assert rows[" Australia's"].root == "australia's"  # no Contraction_s: 's stays in the root
    enc = tok([text, "Zorp's RIDING"])
    assert tok.batch_decode(enc["input_ids"], enc["flags"]) == [text, "Zorp's RIDING"]
    capsys.readouterr()
    assert main(["train-tokenizer", "--corpus", str(corpus), "--flags", "cases", "--out", str(out)]) == 2
    assert "--flags: unknown flag set 'cases'" in capsys.readouterr().err


def test_train_tokenizer_names_an_unknown_wordfreq_language(tmp_path, capsys):
    assert main(["train-tokenizer", "--word-counts", "wordfreq:xx", "--out", str(tmp_path / "tok")]) == 2
    assert capsys.readouterr().err == ("r2d train-tokenizer: error: --word-counts wordfreq:xx: wordfreq has no "
                                       "language 'xx'\n")
    assert not (tmp_path / "tok").exists()


def test_train_tokenizer_warns_about_affixes_the_list_never_uses(tmp_path, capsys, caplog):
    corpus = tmp_path / "c.txt"
    corpus.write_text("The dogs were riding. A dog rides quickly!\n" * 20)
    lst = tmp_path / "l.tsv"
    lst.write_text("riding\tride ~ing\ndogs\tdog ~s\nquickly\tquick ~ly\n")
    with caplog.at_level(logging.WARNING):
        assert main(["train-tokenizer", "--corpus", str(corpus), "--list", str(lst), "--affixes", "un~", "~ly",
                     "~er", "--vocab-size", "300", "--out", str(tmp_path / "tok")]) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["the deconstruction list never splits off un~, ~er: flags Prefix_un, Suffix_er will "
                        "always be 0"]
