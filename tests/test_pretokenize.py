import pytest
from hypothesis import given, strategies as st

from r2d.text.pretokenize import split_pieces, split_pieces_with_offsets


def test_the_articles_sentence():
    assert split_pieces("I enjoyed riding in Australia's parks.") == [
        "I", " enjoyed", " riding", " in", " Australia's", " parks", "."]


def test_roberta_split_except_trailing_s():
    from r2d.tokenizer.baseline import roberta_bpe

    from r2d.tokenizer.alphabet import unicode_to_bytes

    pre = roberta_bpe().pre_tokenizer
    text = "He said: it's 3 o'clock, isn't it?  Yes\n\nNo   way 12345 ünïcödé Kant's"
    table = unicode_to_bytes()
    roberta = [bytes(table[c] for c in p).decode() for p, _ in pre.pre_tokenize_str(text)]
    ours = split_pieces(text)
    assert ours == ["He", " said", ":", " it's", " 3", " o", "'", "clock", ",", " isn", "'t", " it", "?", " ",
                    " Yes", "\n", "\n", "No", "  ", " way", " 12345", " ünïcödé", " Kant's"]
    # identical to RoBERTa's split once its separate 's is glued back onto the word before it
    glued = []
    for p in roberta:
        if p == "'s" and glued and glued[-1][-1:].isalpha():
            glued[-1] += p
        else:
            glued.append(p)
    assert glued == ours


def test_s_stays_only_at_word_end():
    assert split_pieces("dog'sled dog's") == ["dog", "'s", "led", " dog's"]


@given(st.text())
def test_pieces_cover_every_character_once(text):
    pieces = split_pieces(text)
    assert "".join(pieces) == text
    assert all(pieces)
    spans = split_pieces_with_offsets(text)
    assert [p for p, _, _ in spans] == pieces
    assert all(text[s:e] == p for p, s, e in spans)


@given(st.text(st.characters(max_codepoint=127)))
def test_ascii_fast_path_splits_like_the_unicode_pattern(text):
    from r2d.text.pretokenize import _PIECE_RE

    assert split_pieces(text) == _PIECE_RE.findall(text)
    assert [p for p, _, _ in split_pieces_with_offsets(text)] == _PIECE_RE.findall(text)


def _bmp_chars() -> list[str]:
    return [chr(c) for c in range(0x10000)]  # lone surrogates included: a Python str may hold them


@pytest.mark.parametrize("glue", ["", " ", "x's", "1", "  "])
def test_bmp_engine_splits_every_character_like_the_unicode_pattern(glue):
    # the re engine's classes are built from the regex engine's; every BMP character, in several contexts
    from r2d.text.pretokenize import _PIECE_RE, bmp_pattern

    text = glue.join(_bmp_chars())
    assert bmp_pattern().findall(text) == _PIECE_RE.findall(text)


@given(st.text(st.characters(max_codepoint=0xFFFF, codec=None, blacklist_categories=())))
def test_bmp_path_splits_like_the_unicode_pattern(text):
    from r2d.text.pretokenize import _PIECE_RE

    assert split_pieces(text) == _PIECE_RE.findall(text)
    assert [p for p, _, _ in split_pieces_with_offsets(text)] == _PIECE_RE.findall(text)
