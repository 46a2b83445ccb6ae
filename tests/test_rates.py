"""Tests for r2d.tokenizer.rates: flag rates per row and per word (known answers), and pos_weight."""

from __future__ import annotations

import numpy as np
import pytest

from r2d.tokenizer.rates import flag_rates, flag_rates_from_rows, pos_weight, pos_weights


def test_rates_per_row_and_per_word_by_hand(en_tok):
    # "Zorblaxes" is one word of four rows (z orb la xes), NoSpace and FirstCap; then walked (~ed), ".", the, dogs (~s)
    text = "Zorblaxes walked. the dogs"
    assert len(en_tok(text, add_special_tokens=False)["input_ids"]) == 8
    rows = flag_rates(en_tok, [text], per="row")
    assert rows["NoSpace"] == 5 / 8 and rows["FirstCap"] == 4 / 8 and rows["Suffix_s"] == 1 / 8
    words = flag_rates(en_tok, [text, ""], per="word", batch_size=1)
    assert words == {"NoSpace": 2 / 5, "FirstCap": 1 / 5, "AllCaps": 0.0, "Suffix_s": 1 / 5, "Suffix_ed": 1 / 5,
                     "Suffix_ing": 0.0, "Contraction_s": 0.0}
    with pytest.raises(ValueError, match="per='char'"):
        flag_rates(en_tok, [text], per="char")


def test_rates_from_rows_skip_special_and_padding_rows():
    ids = [[0, 5, 6, 2, 1, 1], []]
    flags = [np.array([[0, 0], [1, 0], [1, 1], [0, 0], [0, 0], [0, 0]]), np.zeros((0, 2))]
    assert flag_rates_from_rows(ids, flags, [0, 1, 2], ["a", "b"]) == {"a": 1.0, "b": 0.5}
    word_start = np.zeros(10, dtype=bool)
    word_start[5] = True  # row 6 continues the word of row 5
    assert flag_rates_from_rows(ids, flags, [0, 1, 2], ["a", "b"], word_start=word_start) == {"a": 1.0, "b": 0.0}
    assert flag_rates_from_rows([], [], [0], ["a"]) == {"a": 0.0}


def test_pos_weight_is_clamped():
    assert pos_weight(0.25) == 3.0 and pos_weight(0.9) == 1.0 and pos_weight(0.0001) == 100.0
    assert pos_weight(0.0, max_weight=50) == 50.0
    assert pos_weights({"x": 0.2}, ["x", "missing"], max_weight=50) == [pytest.approx(4.0), 50.0]
    assert pos_weights([0.5, 0.2]) == [1.0, pytest.approx(4.0)]
