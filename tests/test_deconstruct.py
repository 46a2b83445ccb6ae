import os

import pytest
from hypothesis import given, strategies as st

from r2d.lists.deconstruct import (DeconstructionList, Entry, ListError, check_file, format_entry, parse_entry,
                                   read_entries, spell, spells_back, suffix_candidates, write_entries)

affix = st.from_regex(r"\A[a-z]{1,5}\Z")
root = st.from_regex(r"\A[a-zé']{1,10}\Z")


@given(st.from_regex(r"\A[a-zA-Z'é]{1,12}\Z"), root, st.lists(affix, max_size=2), st.lists(affix, max_size=3))
def test_entry_line_round_trip(word, r, prefixes, suffixes):
    e = Entry(word, r, tuple(p + "~" for p in prefixes), tuple("~" + s for s in suffixes))
    if not e.affixes:
        e = Entry(word)
    assert parse_entry(format_entry(e)) == e


def test_tilde_format_examples():
    e = parse_entry("unbeatable\tun~beat ~able")
    assert (e.word, e.prefixes, e.root, e.suffixes) == ("unbeatable", ("un~",), "beat", ("~able",))
    assert parse_entry("news\t") == Entry("news")
    assert parse_entry("# comment") is None and parse_entry("   ") is None
    assert parse_entry("riding\tride ~ing   # a comment") == Entry("riding", "ride", (), ("~ing",))


@pytest.mark.parametrize("root,suffix,word", [
    ("community", "~s", "communities"), ("box", "~s", "boxes"), ("park", "~s", "parks"), ("plan", "~ed", "planned"),
    ("enjoy", "~ed", "enjoyed"), ("ride", "~ing", "riding"), ("die", "~ing", "dying"), ("run", "~ing", "running"),
    ("edit", "~or", "editor"), ("happy", "~ness", "happiness"), ("enforce", "~ment", "enforcement"),
    ("immigrate", "~tion", "immigration"), ("visit", "~ed", "visited"), ("try", "~ed", "tried"),
    ("gentle", "~ly", "gently"), ("quick", "~ly", "quickly"), ("beat", "~able", "beatable"),
])
def test_fallback_spelling(root, suffix, word):
    assert spell(root, suffixes=(suffix,)) == word  # the rules' first choice is the English spelling
    assert suffix_candidates(root, suffix)[0] == word
    assert spells_back(Entry(word, root, (), (suffix,)))


@pytest.mark.parametrize("root,suffix,word", [  # the affixes beyond ~s/~ed/~ing (r2d build-list --affixes)
    ("happy", "~ly", "happily"), ("true", "~ly", "truly"), ("due", "~ly", "duly"), ("sole", "~ly", "solely"),
    ("possible", "~ly", "possibly"), ("basic", "~ly", "basically"), ("full", "~ly", "fully"), ("shy", "~ly", "shyly"),
    ("big", "~er", "bigger"), ("large", "~er", "larger"), ("happy", "~er", "happier"), ("dry", "~er", "drier"),
    ("free", "~er", "freer"), ("teach", "~er", "teacher"), ("big", "~est", "biggest"), ("late", "~est", "latest"),
    ("shy", "~ness", "shyness"), ("aware", "~ness", "awareness"),
])
def test_spelling_of_the_extra_affixes(root, suffix, word):
    assert spell(root, suffixes=(suffix,)) == word
    assert spells_back(Entry(word, root, (), (suffix,)))


def test_prefixes_and_composed_affixes_spell_back():
    assert spell("happy", prefixes=("un~",), suffixes=("~ness",)) == "unhappiness"
    assert spells_back(Entry("teachers", "teach", (), ("~er", "~s")))
    assert spells_back(Entry("rebuilt", "build", ("re~",), ("~ed",)))  # an irregular past under a prefix
    assert spells_back(Entry("drily", "dry", (), ("~ly",))) and spells_back(Entry("publicly", "public", (), ("~ly",)))
    assert not spells_back(Entry("holy", "hole", (), ("~ly",)))  # -le after a vowel does not drop its e


@pytest.mark.parametrize("root,suffix,word", [("plan", "~ed", "planed"), ("visit", "~ed", "visitted")])
def test_other_spellings_are_candidates_not_first_choice(root, suffix, word):
    assert word in suffix_candidates(root, suffix) and spell(root, suffixes=(suffix,)) != word


def test_spell_is_exact_for_common_regular_forms():
    assert spell("community", suffixes=("~s",)) == "communities"
    assert spell("plan", suffixes=("~ed",)) == "planned"
    assert spell("ride", suffixes=("~ing",)) == "riding"
    assert spell("beat", prefixes=("un~",), suffixes=("~able",)) == "unbeatable"


@given(st.text(max_size=12), st.lists(st.sampled_from(["~s", "~ed", "~ing", "~ly", "~tion", "~er", "~x"]), max_size=3),
       st.lists(st.sampled_from(["un~", "re~"]), max_size=2))
def test_spell_is_total(r, suffixes, prefixes):
    assert isinstance(spell(r, prefixes=prefixes, suffixes=suffixes), str)


def test_irregular_forms_spell_back_through_lemminflect():
    assert spells_back(Entry("ran", "run", (), ("~ed",)))
    assert spells_back(Entry("children", "child", (), ("~s",)))
    assert not spells_back(Entry("riding", "ride", (), ("~ed",)))


def test_list_inverse_and_split_table():
    lst = DeconstructionList.from_string("riding\tride ~ing\nunbeatable\tun~beat ~able\nnews\t\n")
    assert lst.word_for("ride", ["~ing"]) == "riding"
    assert lst.word_for("beat", ["~able", "un~"]) == "unbeatable"
    assert lst.split_table({"~ing", "~s", "~ed"}) == {"riding": ("ride", ("~ing",))}
    assert "news" in lst and not lst.get("news").is_split


@pytest.mark.parametrize("text,line,reason", [
    ("riding\tride ~ing\nriding\tride ~ing\n", 2, "duplicate word 'riding' (first on line 1)"),
    ("rode\tride ~ed\nridden\tride ~ed\n", 2, "both claim"),
    ("riding\tride ~ed\n", 1, "cannot spell 'riding' back"),
    ("# c\nriding\tride ~Ing\n", 2, "malformed affix '~Ing'"),
    ("riding ride ~ing\n", 1, "no tab"),
    ("riding\tride\n", 1, "has no affix"),
])
def test_bad_lists_name_file_line_and_reason(tmp_path, text, line, reason):
    p = tmp_path / "bad.tsv"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ListError) as info:
        DeconstructionList.read(p)
    assert info.value.line == line and reason in info.value.reason and str(p) in str(info.value)


def test_check_file_reports_every_problem(tmp_path):
    p = tmp_path / "bad.tsv"
    p.write_text("riding\tride ~Ing\nparks\tpark ~s\nparks\tpark ~s\nx y\n", encoding="utf-8")
    errors = check_file(p)
    assert [e.line for e in errors] == [1, 3, 4]
    with pytest.raises(ListError, match="missing.tsv: no such file"):
        check_file(tmp_path / "missing.tsv")
    (tmp_path / "latin1.tsv").write_bytes("caf\xe9\t\n".encode("latin-1"))
    with pytest.raises(ListError, match=r"latin1.tsv:1: not UTF-8 text \(byte 0xe9 at column 4\)"):
        check_file(tmp_path / "latin1.tsv")


def test_write_is_atomic_and_round_trips(tmp_path):
    p = tmp_path / "l.tsv"
    entries = [Entry("riding", "ride", (), ("~ing",)), Entry("news")]
    write_entries(p, entries, header="hello")
    assert p.read_text().startswith("# hello\n")
    assert list(DeconstructionList.read(p)) == entries
    assert [f for f in os.listdir(tmp_path)] == ["l.tsv"]  # no temp file left behind


def test_able_ity_spells_ability():
    assert spells_back(Entry("accountability", "accountable", (), ("~ity",)))
    assert spell("readable", suffixes=("~ity",)) == "readability"


def test_atomic_write_never_touches_the_process_umask(tmp_path, monkeypatch):
    """A library write must not flip the process-wide umask (another thread creating files meanwhile would get
    mode 0o777 files); the system applies the umask to the new file by itself."""
    def no_umask(_mask):
        raise AssertionError("os.umask called")

    old = os.umask(0o027)
    try:
        monkeypatch.setattr(os, "umask", no_umask)
        p = tmp_path / "l.tsv"
        write_entries(p, [Entry("news")])
        assert (p.stat().st_mode & 0o777) == 0o640  # 0o666 less the umask 0o027
        p.chmod(0o600)
        write_entries(p, [Entry("news"), Entry("the")])  # a replaced file keeps its mode
        assert (p.stat().st_mode & 0o777) == 0o600 and len(list(read_entries(p))) == 2
    finally:
        monkeypatch.undo()
        os.umask(old)
