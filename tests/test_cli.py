import json

import pytest

from r2d.cli import COMMANDS, main

SENTENCE = "I enjoyed riding in Australia's parks."


def test_help_lists_subcommands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "tokenize" in out and "example" in out
    assert main(["nope"]) == 2


@pytest.mark.parametrize("sub", ["tokenize", "decode", "train-tokenizer", "stats", "demo"])
def test_every_subcommand_has_help_with_an_example(sub, capsys):
    with pytest.raises(SystemExit) as info:
        main([sub, "--help"])
    assert info.value.code == 0
    assert "example:" in capsys.readouterr().out


def test_all_table_entries_point_at_functions():
    import importlib

    for name, (target, _) in COMMANDS.items():
        module, func = target.split(":")
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError:
            continue  # a subcommand whose module is not written yet is hidden from --help
        assert callable(getattr(mod, func)), name


def test_tokenize_table_and_compare(capsys):
    assert main(["tokenize", SENTENCE, "--compare"]) == 0
    out = capsys.readouterr().out
    assert "australia" in out and "RoBERTa: 10 tokens" in out


def test_tokenize_json_then_decode_round_trip(tmp_path, capsys, monkeypatch):
    text = "Héllo  NASA's\nriding\tdogs!"
    assert main(["tokenize", text, "--pair", "Second part.", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["flag_names"][0] == "NoSpace" and len(doc["flags"]) == len(doc["input_ids"])
    p = tmp_path / "t.json"
    p.write_text(json.dumps(doc))
    assert main(["decode", str(p)]) == 0
    assert capsys.readouterr().out == text + "Second part."


@pytest.mark.parametrize("content,msg", [
    ("not json", "t.json:1: not JSON"),
    ('{"ids": []}', "expected an object with 'input_ids'"),
    ('{"input_ids": [1, "x"]}', "field 'input_ids'"),
    ('{"input_ids": [5], "flags": [[0, 1]]}', "flags[0] must have 7 values"),
])
def test_decode_bad_input_says_what_and_where(tmp_path, capsys, content, msg):
    p = tmp_path / "t.json"
    p.write_text(content)
    assert main(["decode", str(p)]) == 2
    assert msg in capsys.readouterr().err


def test_train_tokenizer_from_a_corpus_and_a_list(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("The dogs were riding. A dog rides!\n" * 50)
    lst = tmp_path / "l.tsv"
    lst.write_text("riding\tride ~ing\ndogs\tdog ~s\nrides\tride ~s\n")
    out = tmp_path / "tok"
    assert main(["train-tokenizer", "--corpus", str(corpus), "--list", str(lst), "--vocab-size", "300",
                 "--out", str(out)]) == 0
    from r2d.tokenizer.hf import R2DTokenizer

    tok = R2DTokenizer.from_pretrained(out)
    assert [r.root for r in tok.split("dogs riding")] == ["dog", "ride"]


def test_train_tokenizer_errors(tmp_path, capsys):
    assert main(["train-tokenizer", "--out", str(tmp_path / "x")]) == 2
    assert "--corpus" in capsys.readouterr().err
    bad = tmp_path / "bad.tsv"
    bad.write_text("riding\tride ~ed\n")
    assert main(["train-tokenizer", "--word-counts", "wordfreq:en", "--list", str(bad), "--out",
                 str(tmp_path / "x")]) == 2
    assert "bad.tsv:1: 'ride ~ed' cannot spell 'riding' back" in capsys.readouterr().err


def test_stats_json(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("The dogs enjoyed riding in NASA's parks.\n" * 10)
    assert main(["stats", "--corpus", str(corpus), "--top", "0", "--format", "json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    rates = rep["flag_rates_per_word"]
    # per line 9 words: The | dogs | enjoyed | riding | in | NASA's | parks | . | newline
    assert rates["FirstCap"] == pytest.approx(1 / 9) and rates["AllCaps"] == pytest.approx(1 / 9)
    assert rates["Suffix_s"] == pytest.approx(2 / 9) and rates["Contraction_s"] == pytest.approx(1 / 9)
    assert rates["NoSpace"] == pytest.approx(3 / 9)
    assert rep["list_coverage"]["split"] == 40
    assert rep["rows_per_kb"]["roberta_rows"] > 0
