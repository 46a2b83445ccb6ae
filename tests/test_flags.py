import pytest
from hypothesis import given, strategies as st

from r2d.flags import DEFAULT_FLAG_NAMES, FlagSchema, affix_to_flag, flag_to_affix


def test_default_schema_is_the_articles_seven_flags_in_order():
    assert FlagSchema.default().names == (
        "NoSpace", "FirstCap", "AllCaps", "Suffix_s", "Suffix_ed", "Suffix_ing", "Contraction_s")
    assert FlagSchema.default().affix_flags == {"~s": "Suffix_s", "~ed": "Suffix_ed", "~ing": "Suffix_ing"}


def test_extra_affixes_switch_on_as_flags():
    s = FlagSchema.with_affixes(["un~", "~ly", "~s"])
    assert s.names == DEFAULT_FLAG_NAMES + ("Prefix_un", "Suffix_ly")
    assert s.index("Suffix_ly") == 8


def test_index_of_an_unknown_flag_names_it_and_the_known_ones():
    s = FlagSchema.default()
    with pytest.raises(ValueError, match=r"'Suffix_tion'.*NoSpace.*Contraction_s"):
        s.index("Suffix_tion")


@pytest.mark.parametrize("bad", [("NoSpace", "NoSpace"), ("Bold",), ("Suffix_ING",)])
def test_bad_schemas_are_refused(bad):
    with pytest.raises(ValueError):
        FlagSchema(bad)


@given(st.from_regex(r"\A[a-z]{1,8}\Z"), st.booleans())
def test_affix_flag_round_trip(letters, is_suffix):
    affix = "~" + letters if is_suffix else letters + "~"
    assert flag_to_affix(affix_to_flag(affix)) == affix


def test_affix_to_flag_refuses_junk():
    with pytest.raises(ValueError, match="tilde"):
        affix_to_flag("ing")


def test_parse_named_sets_affixes_and_names():
    assert FlagSchema.parse("default") == FlagSchema.default()
    assert FlagSchema.parse("case").names == ("NoSpace", "FirstCap", "AllCaps")
    assert FlagSchema.parse(" default + un~, ~ly ") == FlagSchema.with_affixes(["un~", "~ly"])
    assert FlagSchema.parse("default+~ing").names == FlagSchema.default().names  # already there: not twice
    assert FlagSchema.parse("NoSpace,Suffix_ly").names == ("NoSpace", "Suffix_ly")
    with pytest.raises(ValueError, match="unknown flag set 'cases'.*case, default"):
        FlagSchema.parse("cases")
    with pytest.raises(ValueError, match="not an affix"):
        FlagSchema.parse("case+ly")
