import json

import pytest

from r2d.cli import COMMANDS, main

SENTENCE = "I enjoyed riding in Australia's parks."


def test_help_lists_subcommands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "tokenize" in out and "example" in out
    assert main(["nope"]) == 2
    assert main([]) == 2  # no subcommand is a usage error (usage on stderr), not a success
    assert "subcommands:" in capsys.readouterr().err


def test_a_command_imports_its_own_module_only():
    # looking commands up must import none of them (r2d.serve pulls in starlette, numpy and the tokenizer): a slow
    # start-up, and a Ctrl-C window before the game could catch it
    import subprocess
    import sys

    code = ("import sys; from r2d.cli import main; main(['--help']); "
            "print(sorted(m for m in ('r2d.serve', 'numpy', 'torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_list_coverage_counts_only_what_the_flag_set_can_split(tmp_path):
    from r2d import R2DTokenizer
    from r2d.analysis.stats import list_coverage
    from r2d.flags import FlagSchema

    lst = tmp_path / "l.tsv"
    lst.write_text("riding\tride ~ing\ndogs\tdog ~s\nnews\t\n")
    text = ["The dogs were riding to the news. A ride."]
    cov = {spec: list_coverage(R2DTokenizer.train(texts=text * 5, vocab_size=300, deconstruction_list=lst,
                                                  flag_names=FlagSchema.parse(spec).names, min_frequency=1), text)
           for spec in ("default", "case", "NoSpace,FirstCap,AllCaps,Suffix_ing")}
    assert (cov["default"].split, cov["default"].decided) == (2, 4)  # dogs, riding; news (whole), ride (a root)
    assert (cov["case"].split, cov["case"].decided) == (0, 0)  # the list is never used
    assert (cov["NoSpace,FirstCap,AllCaps,Suffix_ing"].split, cov["NoSpace,FirstCap,AllCaps,Suffix_ing"].decided) == (1, 3)


def test_a_reader_that_leaves_ends_the_command_quietly():
    """``r2d tokenize ... | head``: the closed pipe is not reported as an error of the user's input."""
    import subprocess
    import sys

    script = ("import sys\nfrom r2d.cli import main\nsys.exit(main(['tokenize', " + repr(SENTENCE * 400)
              + ", '--format', 'json']))")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.read(10)
    proc.stdout.close()  # the reader leaves after 10 bytes, as head does
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) != 0 and err == "", err


@pytest.mark.parametrize("sub", ["tokenize", "decode", "train-tokenizer", "stats", "demo"])
def test_every_subcommand_has_help_with_an_example(sub, capsys):
    with pytest.raises(SystemExit) as info:
        main([sub, "--help"])
    assert info.value.code == 0
    assert "example:" in capsys.readouterr().out


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_table_entry_points_at_a_function(name):
    import importlib

    module, func = COMMANDS[name][0].split(":")
    assert callable(getattr(importlib.import_module(module), func)), name


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
    ('{"input_ids": [5], "flags": [[0, 1]]}', "t.json: field 'flags': row 0 has 2 values, the tokenizer has 7"),
    ('{"input_ids": [5], "flags": [[0, "x"]]}', "t.json: field 'flags': row 0 must be a list of numbers"),
    ('{"input_ids": [5, 6],\n "flags": [[0, 0, 0, 0, 0, 0, 0]] x}', "t.json:2: not JSON (Expecting ',' delimiter"),
])
def test_decode_bad_input_says_what_and_where(tmp_path, capsys, content, msg):
    p = tmp_path / "t.json"
    p.write_text(content)
    assert main(["decode", str(p)]) == 2
    assert msg in capsys.readouterr().err


def test_train_tokenizer_from_a_corpus_and_a_list(tmp_path, capfd):
    corpus = tmp_path / "c.txt"
    corpus.write_text("The dogs were riding. A dog rides!\n" * 50)
    lst = tmp_path / "l.tsv"
    lst.write_text("riding\tride ~ing\ndogs\tdog ~s\nrides\tride ~s\n")
    out = tmp_path / "tok"
    assert main(["train-tokenizer", "--corpus", str(corpus), "--list", str(lst), "--vocab-size", "300",
                 "--out", str(out)]) == 0
    assert capfd.readouterr().out.startswith("R2DTokenizer(")  # no blank lines from progress bars off a terminal
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


# ---------------------------------------------------------------------------------------------- bad input
# What a new user tries: each command that reads a file answers with one line naming the file (and line and
# field where they exist), exit status 2, no traceback, and no output file left behind.

BAD_FILES = {
    "missing": (None, "no such file"),
    "folder": ("folder", "is a folder, not a file"),
    "latin1": ("caf\xe9 au lait\n".encode("latin-1"), ":1: not UTF-8 text (byte 0xe9 at column 4)"),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00", ":1: binary data, not text (byte 0x89"),
    "empty": (b"", None),  # the message differs per command: see EMPTY
}
# command -> argv with {bad} for the bad file and {out} for the output it must not write
COMMANDS_READING_FILES = {
    "decode": ["decode", "{bad}"],
    "stats": ["stats", "--corpus", "{bad}", "--top", "0"],
    "train-tokenizer --corpus": ["train-tokenizer", "--corpus", "{bad}", "--vocab-size", "300", "--out", "{out}"],
    "train-tokenizer --word-counts": ["train-tokenizer", "--word-counts", "{bad}", "--vocab-size", "300",
                                      "--out", "{out}"],
    "train-tokenizer --list": ["train-tokenizer", "--word-counts", "{good_words}", "--list", "{bad}",
                               "--vocab-size", "300", "--out", "{out}"],
    "build-list --exceptions": ["build-list", "--exceptions", "{bad}", "--words", "50", "--out", "{out}"],
    "list check": ["list", "check", "{bad}"],
    "list stats": ["list", "stats", "{bad}"],
    "list stats --corpus": ["list", "stats", "{good_list}", "--corpus", "{bad}"],
    "list merge": ["list", "merge", "{good_list}", "{bad}", "-o", "{out}"],
    "suggest --words": ["suggest", "plurals", "--words", "{bad}", "-o", "{out}"],
    "suggest --list": ["suggest", "plurals", "--words", "{good_words}", "--list", "{bad}", "-o", "{out}"],
    "game --words": ["game", "--words", "{bad}", "--list", "{out}"],
    "game --list": ["game", "--words", "{good_words}", "--list", "{bad}"],
}
EMPTY = {  # an empty file is bad input for these (an empty list or exceptions file is a valid one)
    "decode": "is empty", "stats": "has no text", "train-tokenizer --corpus": "has no text",
    "train-tokenizer --word-counts": "has no text", "list stats --corpus": "has no words",
    "suggest --words": "has no words", "game --words": "has no words",
}


def _bad_case_ids():
    for cmd in COMMANDS_READING_FILES:
        for kind in BAD_FILES:
            if (kind != "empty" or cmd in EMPTY) and (cmd, kind) != ("game --list", "missing"):  # game makes it
                yield cmd, kind


@pytest.mark.parametrize("cmd,kind", list(_bad_case_ids()), ids=lambda x: x.replace(" ", "_"))
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, cmd, kind):
    content, expected = BAD_FILES[kind]
    bad = tmp_path / ("bad.txt" if kind != "folder" else "folder")
    if kind == "folder":
        bad.mkdir()
    elif content is not None:
        bad.write_bytes(content)
    (tmp_path / "good.tsv").write_text("parks\tpark ~s\n", encoding="utf-8")
    (tmp_path / "words.tsv").write_text("parks\t5\npark\t10\n", encoding="utf-8")
    out = tmp_path / "out" / "result"
    out.parent.mkdir()
    argv = [a.format(bad=bad, out=out, good_list=tmp_path / "good.tsv", good_words=tmp_path / "words.tsv")
            for a in COMMANDS_READING_FILES[cmd]]
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert err.count("\n") == 1 and err.endswith("\n"), err  # one line
    assert err.startswith(f"r2d {argv[0]}") and "error: " in err and "Traceback" not in err
    assert str(bad) in err
    assert (expected or EMPTY[cmd]) in err
    assert list(out.parent.iterdir()) == []  # nothing written, not even a temp file


def test_bad_word_count_line_names_file_line_and_field(tmp_path, capsys):
    counts = tmp_path / "counts.tsv"
    counts.write_text("the\t100\ndog\tmany\n", encoding="utf-8")
    assert main(["train-tokenizer", "--word-counts", str(counts), "--out", str(tmp_path / "tok")]) == 2
    assert capsys.readouterr().err == (f"r2d train-tokenizer: error: {counts}:2: field 'count': 'many' for 'dog' "
                                       "is not a number >= 0\n")
    assert not (tmp_path / "tok").exists()


@pytest.mark.parametrize("sub", ["tokenize", "decode"])
def test_standard_input_that_is_not_utf8(monkeypatch, capsys, sub):
    import io

    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO("caf\xe9".encode("latin-1"))))
    assert main([sub, "-"]) == 2
    assert capsys.readouterr().err == f"r2d {sub}: error: <stdin>: not UTF-8 text (byte 0xe9 at offset 3)\n"


@pytest.mark.parametrize("sub", [["tokenize", "x"], ["demo"], ["stats", "--top", "10"]])
def test_a_tokenizer_folder_that_is_not_one(tmp_path, capsys, sub):
    assert main([*sub, "--tokenizer", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--tokenizer {tmp_path}: no r2d tokenizer at" in err


def test_rows_comparison_says_more_when_r2d_has_more():
    from r2d.cli.stats import fewer_or_more

    assert fewer_or_more(0.949) == "5.1% fewer rows"
    assert fewer_or_more(2.667) == "166.7% more rows"  # was printed as "-166.7% fewer rows"
    assert fewer_or_more(1.0004) == "as many rows"


def test_optional_booleans_take_a_bare_flag_a_value_or_nothing():
    """A ``bool | None`` field (None = the preset's or the device's default): ``--x`` alone turns it on, ``--x false``
    off, leaving it out keeps None; a value that is not a boolean is refused."""
    from dataclasses import dataclass

    from r2d.cli.args import DataclassArgumentParser

    @dataclass
    class A:
        compile: bool | None = None
        """torch.compile"""
        progress: bool = True
        """bars"""

    p = DataclassArgumentParser(A, prog="t", description="d", example="t --compile")
    assert p.parse([]).compile is None
    assert p.parse(["--compile"]).compile is True
    assert p.parse(["--compile", "false"]).compile is False and p.parse(["--compile", "yes"]).compile is True
    assert p.parse(["--no-progress", "--compile"]) == A(compile=True, progress=False)
    with pytest.raises(SystemExit):
        p.parse(["--compile", "maybe"])
