"""Tests for the English list builder (r2d.lists.english), the shipped list and `r2d build-list`."""

from __future__ import annotations

import itertools
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from r2d.lists.deconstruct import (DeconstructionList, Entry, check_file, read_entries, spell, spells_back,
                                   suffix_candidates, write_entries)
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


# ----------------------------------------------------------------------------------------------------------
# More affixes: ~ly ~er ~est un~ re~ ~ness, composed with the inflections

from r2d.lists.derivations import _suffix_rule_roots  # noqa: E402
from r2d.lists.english import (  # noqa: E402
    DEFAULT_AFFIXES,
    EXTRA_AFFIXES,
    default_affix_exceptions_path,
    derivation_candidates,
)

ALL_AFFIXES = DEFAULT_AFFIXES + EXTRA_AFFIXES
EXTRA_SPLIT = {  # known answers of a build with the extra affixes (all among wordfreq's top 8,500)
    "quickly": "quick ~ly",
    "happily": "happy ~ly",
    "recently": "recent ~ly",  # recent is whole (not re~cent), so recently is recent ~ly
    "happiness": "happy ~ness",
    "bigger": "big ~er",  # the comparative
    "biggest": "big ~est",
    "later": "late ~er",
    "teacher": "teach ~er",  # the agent noun: the same flag
    "teachers": "teach ~er ~s",  # an inflection composes with the derivation of its root
    "users": "use ~er ~s",
    "earlier": "early ~er",  # early is whole, and the root of earlier
    "unhappy": "un~happy",
    "unknown": "un~known",
    "rebuild": "re~build",
    "returned": "return ~ed",  # return is whole, the inflection stays
}
# written to the list, whole (the exceptions file decided)
EXTRA_WHOLE = ["early", "business", "matter", "number", "corner", "reply", "remain", "record", "report"]
NEVER_SPLIT = ["only", "family", "under", "uncle", "ready", "real", "water", "order", "better", "best"]


@pytest.fixture(scope="module")
def extra_list() -> dict[str, Entry]:
    return {e.word: e for e in build_english_list(8500, affixes=ALL_AFFIXES)}


@pytest.mark.parametrize("word", sorted(EXTRA_SPLIT))
def test_extra_affixes_known_splits(extra_list, word):
    assert extra_list[word].deconstruction == EXTRA_SPLIT[word]


@pytest.mark.parametrize("word", EXTRA_WHOLE)
def test_extra_affixes_known_whole(extra_list, word):
    assert not extra_list[word].is_split  # written, and whole: the exceptions file decided


@pytest.mark.parametrize("word", NEVER_SPLIT)
def test_extra_affixes_never_split(extra_list, word):
    e = extra_list.get(word)
    assert e is None or not e.is_split


def test_extra_affixes_honour_the_hand_checked_exceptions(extra_list):
    for word, exc in read_exceptions(default_affix_exceptions_path()).items():
        e = extra_list.get(word)
        if e is None:
            continue
        if exc.is_split:
            assert e == exc
        else:  # no extra affix on the word itself; an inflection may remain (matters -> matter ~s)
            assert not e.is_split or len(e.affixes) == 1 and e.affixes[0] in DEFAULT_AFFIXES


def test_affix_exceptions_file_is_well_formed():
    affix_exc = read_exceptions(default_affix_exceptions_path())
    assert len(affix_exc) > 400
    assert not set(affix_exc) & set(read_exceptions(default_exceptions_path()))  # one decision per word
    for e in affix_exc.values():
        assert e.word.isalpha() and e.word.islower()
        assert not e.is_split or set(e.affixes) <= set(EXTRA_AFFIXES)


def test_extra_build_keeps_every_inflection_entry(extra_list):
    """The extra affixes only add: every entry of the default build is there, with the same inflection (its root
    may be derived further: teachers -> teach ~er ~s), and the list loads."""
    DeconstructionList(list(extra_list.values()))
    for e in build_english_list(8500):
        x = extra_list[e.word]
        assert x.is_split == e.is_split and x.suffixes[-1:] == e.suffixes, e.word
        assert x.affixes == e.affixes or spells_back(Entry(e.root, x.root, x.prefixes, x.suffixes[:-1])), e.word


def test_extra_build_is_deterministic_and_prefix_stable(extra_list):
    small = build_english_list(3000, affixes=ALL_AFFIXES)
    assert small == list(extra_list.values())[: len(small)]


def test_extra_build_every_entry_spells_back_and_is_listed_once(extra_list):
    lst = DeconstructionList(list(extra_list.values()))
    for e in extra_list.values():
        if e.is_split:
            assert spells_back(e) and lst.word_for(e.root, e.affixes) == e.word


def test_a_subset_of_the_extra_affixes():
    entries = build_english_list(3000, affixes=("~s", "~ed", "~ing", "~er"))  # amply -> ample ~ly does not apply
    extra = [e for e in entries if set(e.affixes) - set(DEFAULT_AFFIXES)]
    assert extra and all(set(e.affixes) <= {"~s", "~ed", "~ing", "~er"} for e in entries)
    assert {e.word: e for e in entries}["teachers"].deconstruction == "teach ~er ~s"


def test_affixes_must_be_in_tilde_format():
    with pytest.raises(ValueError, match="tilde format"):
        build_english_list(10, affixes=("~s", "ly"))


@pytest.mark.parametrize("word,expected", [
    ("quickly", ("quick", "~ly")), ("happily", ("happy", "~ly")), ("gently", ("gentle", "~ly")),
    ("truly", ("true", "~ly")), ("happiness", ("happy", "~ness")), ("bigger", ("big", "~er")),
    ("happiest", ("happy", "~est")), ("teacher", ("teach", "~er")), ("runner", ("run", "~er")),
    ("unhappy", ("happy", "un~")), ("rebuild", ("build", "re~")),
    ("corner", ("corn", "~er")), ("early", ("ear", "~ly")),  # candidates: the exceptions file says no
])
def test_derivation_candidates_first_choice(word, expected):
    assert derivation_candidates(word)[0] == expected


@pytest.mark.parametrize("word", [
    "best", "worst", "more", "less",  # suppletive comparatives and superlatives: never root ~er/~est
    "under", "uncle", "water", "only", "family", "honest", "forest", "villager",  # no such root (or not a verb)
    "It's", "",
])
def test_derivation_candidates_none(word):
    assert derivation_candidates(word) == []


def test_suppletive_comparative_is_not_a_candidate():
    assert derivation_candidates("better") == [("bet", "~er")]  # a homograph only (kept whole by the exceptions)


@settings(max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "200")), deadline=None)
@given(st.from_regex(r"\A[a-z]{1,10}\Z"), st.sampled_from([a for a in EXTRA_AFFIXES if a.startswith("~")]))
def test_suffix_rule_roots_invert_spell(root, suffix):
    """entry -> word -> entry: the root of any spelling the rules make is found again from the word."""
    word = spell(root, suffixes=(suffix,))
    assert root in _suffix_rule_roots(word, suffix)
    assert all(word in suffix_candidates(r, suffix) for r in _suffix_rule_roots(word, suffix))


_EXTRA_SHIPPABLE = [e for e in build_english_list(3000, affixes=ALL_AFFIXES) if set(e.affixes) - set(DEFAULT_AFFIXES)]


@settings(max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "50")), deadline=None)
@given(st.sampled_from(_EXTRA_SHIPPABLE))
def test_extra_entry_round_trips_through_the_tokenizer_split(entry):
    """word -> (root, flags) -> word through the flag machinery, for every extra-affix entry of a small build."""
    from r2d.flags import FlagSchema
    from r2d.text.transform import Deconstructor

    d = Deconstructor(DeconstructionList([entry]), FlagSchema.with_affixes(list(EXTRA_AFFIXES)))
    for piece in (" " + entry.word, " " + entry.word.capitalize(), entry.word.upper()):
        root, flags = d.split(piece)
        assert root == entry.root and d.join(root, flags) == piece


def test_extra_list_trains_a_tokenizer_that_round_trips(extra_list, tmp_path):
    from r2d.flags import FlagSchema
    from r2d.tokenizer.hf import R2DTokenizer

    path = tmp_path / "en-affixes.tsv"
    write_entries(path, extra_list.values())
    texts = ["Teachers quickly rebuild the unhappy school; an earlier report was unknown.",
             "The biggest players worked happily and, more recently, in happiness. UNHAPPY Teachers' users"] * 10
    schema = FlagSchema.with_affixes(list(EXTRA_AFFIXES))
    tok = R2DTokenizer.train(texts=texts, vocab_size=400, deconstruction_list=path, flag_names=schema.names,
                             min_frequency=1)
    for text in texts[:2]:
        enc = tok(text)
        assert tok.decode(enc["input_ids"], enc["flags"]) == text
    rows = {r.root: r.flags for r in tok.split(texts[0])}
    on = {name for name, v in zip(schema.names, rows["teach"]) if v}
    assert on == {"NoSpace", "FirstCap", "Suffix_er", "Suffix_s"}  # the text's first word
    assert rows["build"][schema.index("Prefix_re")] and not rows["build"][schema.index("Suffix_ed")]
    assert rows["happy"][schema.index("Prefix_un")] and rows["quick"][schema.index("Suffix_ly")]


def test_cli_affixes(tmp_path, capsys):
    from r2d.cli import main

    out = tmp_path / "en-affixes.tsv"
    assert main(["build-list", "--words", "3000", "--affixes", *ALL_AFFIXES, "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    head = text.splitlines()[:5]
    assert head[1] == f"# made by: r2d build-list --words 3000 --affixes {' '.join(ALL_AFFIXES)} --out {out}"
    assert "affix exceptions bundled en_affix_exceptions.txt" in head[2] and "~ly " in head[3] and "un~ " in head[3]
    assert check_file(out) == []
    assert "\nquickly\tquick ~ly\n" in text and "\nteachers\tteach ~er ~s\n" in text and "\nearly\t\n" in text
    assert "wrote" in capsys.readouterr().out
    default = tmp_path / "en.tsv"
    assert main(["build-list", "--words", "3000", "--out", str(default)]) == 0
    assert "affix" not in default.read_text(encoding="utf-8").splitlines()[2]  # the default header is as before
    assert main(["build-list", "--words", "100", "--affixes", "~s", "ly", "--out", str(out)]) == 2
    assert "--affixes" in capsys.readouterr().err
    assert main(["build-list", "--words", "100", "--affixes", "~s", "~ly", "--affix-exceptions",
                 str(tmp_path / "missing.txt"), "--out", str(out)]) == 2
    assert "missing.txt" in capsys.readouterr().err
