"""Tests for r2d list check|stats|merge and r2d suggest plurals (through the CLI table)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from r2d.cli import main
from r2d.lists.deconstruct import DeconstructionList, check_file, read_entries
from r2d.lists.guess import PLURAL_EXCEPTIONS, plural_precision, plural_suggestion

DATA = Path(__file__).parent / "data"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


GOOD = "# a list\nriding\tride ~ing\nunbeatable\tun~beat ~able\nnews\t\nparks\tpark ~s\n"


def test_check_ok_and_every_problem_with_line(tmp_path, capsys):
    good = write(tmp_path / "good.tsv", GOOD)
    assert main(["list", "check", str(good)]) == 0
    assert "ok (4 words, 3 split, 1 kept whole)" in capsys.readouterr().out
    bad = write(tmp_path / "bad.tsv", "planned\tplan ~ing\nfoo\n# fine\nbar\tbaz ~S\nran\trun ~ed\nran\t\n"
                                      "runs\trun ~ed\n")
    assert main(["list", "check", str(good), str(bad)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert [ln.split(":")[1] for ln in out if ln.startswith(str(bad))] == ["1", "2", "4", "6", "7"]
    assert any("cannot spell 'planned' back" in ln for ln in out)
    assert any("duplicate word 'ran' (first on line 5)" in ln for ln in out)
    assert main(["list", "check", str(tmp_path / "missing.tsv")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_check_refuses_non_utf8(tmp_path, capsys):
    p = tmp_path / "latin.tsv"
    p.write_bytes("caf\xe9\t\n".encode("latin-1"))
    assert main(["list", "check", str(p)]) == 2  # not a list with problems: not a text file at all
    assert capsys.readouterr().err == f"r2d list check: error: {p}:1: not UTF-8 text (byte 0xe9 at column 4); " \
                                      "r2d reads UTF-8 text\n"


def test_hand_checked_samples_pass_check():
    for name in ("guess_sample.tsv", "plural_sample.tsv"):
        assert check_file(DATA / name) == []


def test_stats_per_affix_flags_and_coverage(tmp_path, capsys):
    lst = write(tmp_path / "l.tsv", GOOD + "walked\twalk ~ed\nplayed\tplay ~ed\ncats\tcat ~s\nthe\t\n")
    corpus = write(tmp_path / "c.txt", "The cats walked in the parks. The news: riding! Unknown words here.\n")
    assert main(["list", "stats", str(lst), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert (d["words"], d["split"], d["whole"]) == (8, 6, 2)
    per = {a["affix"]: a for a in d["affixes"]}
    assert per["~s"]["words"] == 2 and per["~ed"]["words"] == 2 and per["un~"]["words"] == 1
    assert per["~s"]["flag"] and per["un~"]["flag"]  # 1/6 of the splits >= 5%
    assert main(["list", "stats", str(lst), "--corpus", str(corpus), "--json", "--min-rate", "0.1"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["tokens"] == 12 and d["covered"] == 8 and d["split_tokens"] == 4  # the x3 cats walked parks news riding
    per = {a["affix"]: a for a in d["affixes"]}
    assert per["~s"]["occurrences"] == 2 and per["~s"]["flag"] and not per["~ed"]["flag"]
    assert per["un~"]["occurrences"] == 0
    assert main(["list", "stats", str(lst), "--corpus", str(corpus)]) == 0
    out = capsys.readouterr().out
    assert "8 words: 6 split" in out and "Suffix_s*" in out and "Prefix_un" in out


def test_stats_refuses_invalid_list(tmp_path, capsys):
    bad = write(tmp_path / "bad.tsv", "planned\tplan ~ing\n")
    assert main(["list", "stats", str(bad)]) == 2
    assert "bad.tsv:1:" in capsys.readouterr().err


def test_merge_without_conflicts(tmp_path, capsys):
    a = write(tmp_path / "a.tsv", GOOD)
    b = write(tmp_path / "b.tsv", "parks\tpark ~s\nwalked\twalk ~ed\nthe\t\n")
    out = tmp_path / "m.tsv"
    assert main(["list", "merge", str(a), str(b), "-o", str(out)]) == 0
    assert check_file(out) == []
    assert [e.word for e in read_entries(out)] == ["riding", "unbeatable", "news", "parks", "walked", "the"]


def test_merge_conflicts_are_reported_not_resolved(tmp_path, capsys):
    a = write(tmp_path / "a.tsv", GOOD + "housing\thouse ~ing\nplanning\tplan ~ing\n")
    b = write(tmp_path / "b.tsv", "news\tnew ~s\nhousing\thous ~ing\nrides\tride ~s\nridings\tride ~ing ~s\n"
                                  "planing\tplan ~ing\n")
    out = tmp_path / "m.tsv"
    assert main(["list", "merge", str(a), str(b), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert not out.exists()
    assert "'news': " in err and "a.tsv:4 says 'keep whole'" in err and "b.tsv:1 says 'new ~s'" in err
    assert "'housing': " in err and "'plan ~ing' names 'planning' in" in err and "'planing' in" in err
    assert "3 conflict(s); nothing written" in err
    for side, news, housing in (("a", "", "house ~ing"), ("b", "new ~s", "hous ~ing")):
        assert main(["list", "merge", str(a), str(b), "-o", str(out), "--prefer", side]) == 0
        merged = DeconstructionList.read(out)  # valid (raises otherwise)
        assert merged.get("news").deconstruction == news and merged.get("housing").deconstruction == housing
        assert ("planning" in merged) == (side == "a") and ("planing" in merged) == (side == "b")
        assert "rides" in merged and "ridings" in merged


def test_merge_bad_input(tmp_path, capsys):
    a = write(tmp_path / "a.tsv", GOOD)
    assert main(["list", "merge", str(a), str(tmp_path / "nope.tsv"), "-o", str(tmp_path / "m.tsv")]) == 2
    assert main(["list", "merge", str(a), str(a), "-o", str(tmp_path / "no" / "m.tsv")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_plural_suggestion_rule():
    assert plural_suggestion("communities").deconstruction == "community ~s"
    assert plural_suggestion("boxes").deconstruction == "box ~s"
    assert plural_suggestion("parks").deconstruction == "park ~s"
    for w in ("news", "pants", "glasses", "business", "us", "its", "dogs1"):
        assert plural_suggestion(w) is None, w
    assert plural_suggestion("glasses", exceptions=None, use_lemmas=False).deconstruction == "glass ~s"
    assert plural_suggestion("parks", min_ratio=1e6) is None
    assert {"news", "pants", "glasses"} <= PLURAL_EXCEPTIONS


def test_plural_precision_on_hand_checked_sample():
    sample = DeconstructionList.read(DATA / "plural_sample.tsv")
    assert len(sample) >= 200
    bare = plural_precision(sample, exceptions=None, use_lemmas=False)  # the article's rule alone
    full = plural_precision(sample)
    assert full.suggested > 0 and full.precision >= bare.precision
    assert bare.precision >= 0.85, bare.wrong
    assert full.precision >= 0.90, full.wrong


def test_suggest_plurals_cli(tmp_path, capsys):
    words = write(tmp_path / "w.tsv", "the\t100\nparks\t5\npark\t10\nnews\t50\nnew\t90\ncats\t4\ncat\t8\n"
                                      "boxes\t3\nbox\t7\n")
    lst = write(tmp_path / "l.tsv", "cats\tcat ~s\n")
    assert main(["suggest", "plurals", "--words", str(words)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("#") and out[1:] == ["parks\tpark ~s", "cats\tcat ~s", "boxes\tbox ~s"]
    o = tmp_path / "s.tsv"
    assert main(["suggest", "plurals", "--words", str(words), "--list", str(lst), "-o", str(o)]) == 0
    assert check_file(o) == [] and [e.word for e in read_entries(o)] == ["parks", "boxes"]
    assert main(["suggest", "plurals", "--words", str(tmp_path / "none.tsv")]) == 2
    assert main(["suggest", "plurals", "--top", "0"]) == 2


def test_help_has_examples(capsys):
    for argv in (["list", "--help"], ["list", "merge", "--help"], ["suggest", "--help"]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 0
        assert "example" in capsys.readouterr().out


from hypothesis import given, settings, strategies as st  # noqa: E402

from r2d.cli.lists import merge_lists  # noqa: E402
from r2d.lists.deconstruct import Entry  # noqa: E402

EXAMPLES = int(__import__("os").environ.get("HYPOTHESIS_EXAMPLES", "30"))
CHOICES = {"planning": ["", "plan ~ing"], "planing": ["", "plan ~ing", "plane ~ing"], "news": ["", "new ~s"],
           "rides": ["", "ride ~s"], "housing": ["", "house ~ing", "hous ~ing"]}


def random_list(draw_choice) -> DeconstructionList:
    entries = []
    for word, options in CHOICES.items():
        pick = draw_choice(word, options)
        if pick is not None:
            from r2d.lists.deconstruct import parse_deconstruction

            entries.append(parse_deconstruction(word, pick))
    lst = DeconstructionList(path="<x>")
    for e in entries:
        if e.root is None or lst.word_for(e.root, e.affixes) is None:
            lst.add(e)
    return lst


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.data())
def test_merge_is_valid_and_keeps_the_preferred_side(data):
    def choice(word, options):
        return data.draw(st.none() | st.sampled_from(options))

    a, b = random_list(choice), random_list(choice)
    for prefer in (None, "a", "b"):
        merged, conflicts = merge_lists(a, b, prefer=prefer)
        out = DeconstructionList(merged)  # always a valid list
        if prefer is not None:
            win = a if prefer == "a" else b
            assert all(out.get(e.word) == Entry(e.word, e.root, e.prefixes, e.suffixes) for e in win)
        if not conflicts:
            assert set(out.entries) == set(a.entries) | set(b.entries)
