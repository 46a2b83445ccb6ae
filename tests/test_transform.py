import pytest
from hypothesis import given, strategies as st

from r2d.lists.deconstruct import DeconstructionList
from r2d.flags import FlagSchema
from r2d.text.pretokenize import split_pieces
from r2d.text.transform import Deconstructor

LIST = DeconstructionList.from_string(
    "riding\tride ~ing\nenjoyed\tenjoy ~ed\nparks\tpark ~s\nunbeatable\tun~beat ~able\nran\trun ~ed\n")

# The article's table (R2D.md section 1): piece -> root, NoSpace, FirstCap, AllCaps, -s, -ed, -ing, 's
ARTICLE = [
    ("I", "i", (1, 1, 0, 0, 0, 0, 0)),
    (" enjoyed", "enjoy", (0, 0, 0, 0, 1, 0, 0)),
    (" riding", "ride", (0, 0, 0, 0, 0, 1, 0)),
    (" in", "in", (0, 0, 0, 0, 0, 0, 0)),
    (" Australia's", "australia", (0, 1, 0, 0, 0, 0, 1)),
    (" parks", "park", (0, 0, 0, 1, 0, 0, 0)),
    (".", ".", (1, 0, 0, 0, 0, 0, 0)),
]


def test_article_table_known_answer():
    d = Deconstructor(LIST)
    pieces = split_pieces("I enjoyed riding in Australia's parks.")
    assert [(p, *d.split(p)) for p in pieces] == ARTICLE


@pytest.mark.parametrize("piece,root,flags", [
    ("NASA", "nasa", (1, 0, 1, 0, 0, 0, 0)),
    (" iPhone", "iPhone", (0, 0, 0, 0, 0, 0, 0)),
    (" McDonald", "McDonald", (0, 0, 0, 0, 0, 0, 0)),
    (" A", "a", (0, 1, 0, 0, 0, 0, 0)),
    (" RIDING", "ride", (0, 0, 1, 0, 0, 1, 0)),
    (" Ran", "run", (0, 1, 0, 0, 1, 0, 0)),
    (" İstanbul", "İstanbul", (0, 0, 0, 0, 0, 0, 0)),   # lower() gives i + combining dot: no exact re-casing
    (" ǅemal", "ǅemal", (0, 0, 0, 0, 0, 0, 0)),          # titlecase digraph
    (" STRAẞE", "STRAẞE", (0, 0, 0, 0, 0, 0, 0)),        # capital sharp s does not survive lower/upper
    (" Straße", "straße", (0, 1, 0, 0, 0, 0, 0)),
    ("  ", "  ", (1, 0, 0, 0, 0, 0, 0)),
    (" ", " ", (1, 0, 0, 0, 0, 0, 0)),
    ("'s", "'s", (1, 0, 0, 0, 0, 0, 0)),
    (" unbeatable", "unbeatable", (0, 0, 0, 0, 0, 0, 0)),  # un~/~able are not flags in the default schema
])
def test_case_space_and_contraction_rules(piece, root, flags):
    d = Deconstructor(LIST)
    assert d.split(piece) == (root, flags)
    assert d.join(root, flags) == piece


def test_extra_affix_flags_split_more():
    schema = FlagSchema.with_affixes(["un~", "~able"])
    d = Deconstructor(LIST, schema)
    root, flags = d.split(" unbeatable")
    assert root == "beat" and flags[schema.index("Prefix_un")] == 1 and flags[schema.index("Suffix_able")] == 1
    assert d.join(root, flags) == " unbeatable"


# flag sets that leave inferred flags out: what a left-out flag would strip stays in the root
SUBSETS = [FlagSchema.parse(s) for s in ("case", "NoSpace", "FirstCap,AllCaps,Contraction_s", "Suffix_ing",
                                         "case+~ing,un~,~able")]


@pytest.mark.parametrize("piece, spec, root, on", [
    (" Australia's", "case", "australia's", {"FirstCap"}),  # no Contraction_s: 's stays in the root
    (" riding", "case", "riding", set()),  # no suffix flags: the word is its own root
    (" Riding", "case+~ing", "ride", {"FirstCap", "Suffix_ing"}),
    (" Riding", "FirstCap,AllCaps,Contraction_s", " Riding", set()),  # no NoSpace: the space and case stay
    ("Riding", "FirstCap,AllCaps,Contraction_s", "riding", {"FirstCap"}),
    (" RAN", "NoSpace", "RAN", set()),  # no case flags: the case stays
])
def test_a_schema_without_some_inferred_flags(piece, spec, root, on):
    schema = FlagSchema.parse(spec)
    d = Deconstructor(LIST, schema)
    got_root, flags = d.split(piece)
    assert (got_root, {n for n, v in zip(schema.names, flags) if v}) == (root, on)
    assert d.join(got_root, flags) == piece and d.split_by_rules(piece) == (got_root, flags)


@given(st.text(), st.sampled_from(SUBSETS))
def test_piece_round_trip_for_any_flag_set(text, schema):
    d = Deconstructor(LIST, schema)
    for p in split_pieces(text):
        assert d.split(p) == d.split_by_rules(p) and d.join(*d.split(p)) == p


@given(st.text())
def test_piece_round_trip(text):
    d = Deconstructor(LIST)
    for p in split_pieces(text):
        assert d.join(*d.split(p)) == p


@given(st.text(max_size=10), st.lists(st.floats(allow_nan=True), min_size=7, max_size=7))
def test_join_is_total_on_model_output(root, flags):
    assert isinstance(Deconstructor(LIST).join(root, flags), str)


def test_join_spells_unseen_pairs_with_rules():
    d = Deconstructor(LIST)
    assert d.join("house", (0, 0, 0, 0, 0, 1, 0)) == " housing"
    assert d.join("community", (0, 1, 0, 1, 0, 0, 1)) == " Communities's"


@given(st.one_of(st.from_regex(r"\A ?[A-Za-zéÉßİǅ]{1,8}('s)?\Z"), st.text(max_size=10),
                 st.sampled_from([" riding", " Riding", " RIDING", " parks", " Ran", " ran", "riding", " Parks's"])))
def test_fast_paths_agree_with_the_rules(piece):
    # split() has shortcuts for " word" and " Word"; they must give what the general rules give
    d = Deconstructor(LIST)
    assert d.split(piece) == d.split_by_rules(piece)
