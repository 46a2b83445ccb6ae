"""Tests for the English list builder (r2d.lists.english), the shipped list and `r2d build-list`."""

from __future__ import annotations

import itertools
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from r2d.lists.deconstruct import DeconstructionList, Entry, check_file, read_entries, spells_back
from r2d.lists.english import (
    build_english_list,
    default_exceptions_path,
    default_list_path,
    inflection_candidates,
    read_exceptions,
)

SPLIT = {  # the write-up's known answers
    "enjoyed": ("enjoy", "~ed"),
    "riding": ("ride", "~ing"),
    "parks": ("park", "~s"),
    "communities": ("community", "~s"),
    "planned": ("plan", "~ed"),
    "children": ("child", "~s"),  # irregular plural
    "made": ("make", "~ed"),  # irregular past, one form for past tense and participle
    "housing": ("house", "~ing"),  # our call: housing = what houses people; it shares the root's meaning
}
WHOLE = ["news", "glasses", "during", "thing", "morning", "evening", "documentary", "founded", "treatment"]
TWO_PAST_FORMS = ["took", "taken", "saw", "seen", "wore", "worn", "hid", "hidden"]  # whole: not in the list at all


@pytest.fixture(scope="module")
def shipped() -> DeconstructionList:
    return DeconstructionList.read(default_list_path())


def test_shipped_list_has_no_errors():
    assert check_file(default_list_path()) == []


@pytest.mark.parametrize("word", sorted(SPLIT))
def test_shipped_known_splits(shipped, word):
    e = shipped.get(word)
    assert e is not None and (e.root, e.suffixes) == (SPLIT[word][0], (SPLIT[word][1],))


@pytest.mark.parametrize("word", WHOLE)
def test_shipped_known_whole(shipped, word):
    e = shipped.get(word)
    assert e is not None and e.deconstruction == ""  # listed, and decided whole (by the exceptions file)


@pytest.mark.parametrize("word", TWO_PAST_FORMS)
def test_shipped_list_keeps_both_past_forms_whole(shipped, word):
    assert shipped.get(word) is None


def test_shipped_list_is_lowercase_single_suffix(shipped):
    for e in shipped:
        assert e.word.isalpha() and e.word.islower() and e.word.isascii()
        if e.is_split:
            assert e.prefixes == () and len(e.suffixes) == 1 and e.suffixes[0] in ("~s", "~ed", "~ing")


def test_shipped_exceptions_are_honoured(shipped):
    for word, exc in read_exceptions(default_exceptions_path()).items():
        e = shipped.get(word)
        if e is not None:  # exceptions outside the top-N words are not emitted
            assert (e.root, e.suffixes) == (exc.root, exc.suffixes)


def test_build_is_a_prefix_of_the_shipped_list():
    """Determinism and prefix stability: the list for the top 3,000 words is the shipped list's beginning."""
    small = build_english_list(3000)
    big = list(itertools.islice(read_entries(default_list_path()), len(small)))
    assert small and [(e.word, e.root, e.suffixes) for e in small] == [(e.word, e.root, e.suffixes) for e in big]


def test_conflicts_keep_the_more_frequent_word():
    entries = build_english_list(2000, exceptions=(), irregular_verbs="split")
    words = {e.word: e for e in entries}
    assert (words["took"].root, words["took"].suffixes) == ("take", ("~ed",))
    assert "taken" not in words  # take ~ed belongs to the more frequent "took"
    assert (words["seen"].root, words["seen"].suffixes) == ("see", ("~ed",))
    assert "saw" not in words  # see ~ed belongs to the more frequent "seen"
    DeconstructionList(entries)  # no duplicate, no double claim


def test_exceptions_keep_whole_and_force(tmp_path):
    exc = tmp_path / "exc.txt"
    exc.write_text("# test\nyears\t\nleaves\tleaf ~s\n", encoding="utf-8")
    words = {e.word: e for e in build_english_list(3000, exceptions=exc)}
    assert not words["years"].is_split
    assert (words["leaves"].root, words["leaves"].suffixes) == ("leaf", ("~s",))
    assert not words.get("news", Entry("news")).is_split  # no bundled exceptions, and still not split


def test_affixes_restrict_the_split():
    entries = build_english_list(2000, exceptions=(), affixes=("~ing",))
    assert entries and all(e.suffixes == ("~ing",) for e in entries)


@pytest.mark.parametrize(
    "word,expected",
    [
        ("riding", ("ride", "~ing")),
        ("leaves", ("leave", "~s")),
        ("counties", ("county", "~s")),  # unknown to lemminflect: found by the spelling rules
        ("women", ("woman", "~s")),
        ("ran", ("run", "~ed")),
    ],
)
def test_inflection_candidates_first_choice(word, expected):
    assert inflection_candidates(word)[0] == expected


@pytest.mark.parametrize("word", ["ring", "king", "bus", "this", "red", "news", "It's", "u.s", "2019", ""])
def test_inflection_candidates_none(word):
    assert inflection_candidates(word) == []


def test_inflection_candidates_spell_back():
    for w in ["leaves", "studies", "stopped", "making", "lying", "feet", "written", "apps"]:
        for root, suffix in inflection_candidates(w):
            assert spells_back(Entry(w, root, (), (suffix,)))


_SHIPPED = [e for e in read_entries(default_list_path()) if e.is_split]
_FORCED = {w for w, e in read_exceptions(default_exceptions_path()).items() if e.is_split}


@settings(max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "50")), deadline=None)
@given(st.sampled_from(_SHIPPED))
def test_shipped_split_is_a_candidate_and_spells_back(entry):
    """Every automatic split of the shipped list is one of the word's candidates, and the pair is exact both ways."""
    assert spells_back(entry)
    if entry.word not in _FORCED:
        assert (entry.root, entry.suffixes[0]) in inflection_candidates(entry.word)


def test_cli_smoke_and_determinism(tmp_path):
    from r2d.cli import main

    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    a, b = tmp_path / "a" / "l.tsv", tmp_path / "b" / "l.tsv"
    assert main(["build-list", "--words", "2000", "--out", str(a)]) == 0
    assert main(["build-list", "--words", "2000", "--out", str(b)]) == 0
    text = a.read_text(encoding="utf-8")
    assert text == b.read_text(encoding="utf-8").replace(str(b), str(a))  # only the --out path differs
    assert "# made by: r2d build-list --words 2000" in text and "wordfreq" in text and "lemminflect" in text
    assert check_file(a) == []
    assert "\ncommunities\tcommunity ~s\n" in text


def test_cli_bad_input(tmp_path, capsys):
    from r2d.cli import main

    assert main(["build-list", "--exceptions", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "x")]) == 2
    assert "missing.txt" in capsys.readouterr().err
    assert main(["build-list", "--words", "0", "--out", str(tmp_path / "x")]) == 2
    assert "--words" in capsys.readouterr().err
    bad = tmp_path / "bad.txt"
    bad.write_text("ok\t\nparks park ~s\n", encoding="utf-8")
    assert main(["build-list", "--words", "100", "--exceptions", str(bad), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "bad.txt:2" in err


@pytest.mark.parametrize("word,root,expected", [
    ("hidden", "hide", True), ("hid", "hide", True), ("wore", "wear", True), ("went", "go", True),
    ("paid", "pay", False),  # past tense and participle alike
    ("walked", "walk", False),  # a regular verb
    ("showed", "show", False),  # the ~ed spelling rule's form, although "shown" differs
])
def test_one_of_two_past_forms(word, root, expected):
    from r2d.lists.english import one_of_two_past_forms

    assert one_of_two_past_forms(word, root) is expected


def test_irregular_verbs_whole_keeps_both_past_forms_whole():
    split = {e.word: e for e in build_english_list(2000, exceptions=(), irregular_verbs="split")}
    whole = {e.word: e for e in build_english_list(2000, exceptions=())}  # the default
    for word in ("took", "seen", "went", "came", "given", "known"):
        assert split[word].is_split and word not in whole, word
    for word in ("paid", "made", "used", "called"):  # one past form, or a regular one: split in both
        assert (whole[word].root, whole[word].suffixes) == (split[word].root, split[word].suffixes), word
    DeconstructionList(list(whole.values()))
    with pytest.raises(ValueError, match="irregular_verbs"):
        build_english_list(10, irregular_verbs="both")


def test_cli_irregular_verbs_option(tmp_path):
    from r2d.cli import main

    out = tmp_path / "en.tsv"
    assert main(["build-list", "--words", "2000", "--out", str(out)]) == 0  # whole by default
    text = out.read_text(encoding="utf-8")
    assert "\ntook\t" not in text and "\nseen\t" not in text and "\nmade\tmake ~ed" in text
    assert main(["build-list", "--words", "2000", "--irregular-verbs", "split", "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "--irregular-verbs split" in text.splitlines()[1] and "\ntook\ttake ~ed" in text
