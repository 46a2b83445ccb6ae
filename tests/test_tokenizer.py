import gc
import gzip
import itertools
import json
import logging
import pickle
import warnings

import numpy as np
import pytest
from hypothesis import given, strategies as st

from r2d.tokenizer.hf import R2DTokenizer
from conftest import TINY_TEXTS  # subtle: tests/ is on sys.path under pytest and python -m pytest alike
from test_transform import ARTICLE

SENTENCE = "I enjoyed riding in Australia's parks."
FLAGS = ("NoSpace", "FirstCap", "AllCaps", "Suffix_s", "Suffix_ed", "Suffix_ing", "Contraction_s")


def roundtrip(tok, text, pair=None):
    enc = tok(text, pair)
    return tok.decode(enc["input_ids"], enc["flags"])


def reference_decode(tok, ids, flags, skip_special_tokens=True):
    """Decoding spelled out row by row, the slow way: the reference for the vectorised decoder."""
    out, row, special = [], 0, set(tok.all_special_ids)
    while row < len(ids):
        t = ids[row]
        if t in special or not 0 <= t < tok.vocab_size:  # a row of its own
            if not skip_special_tokens:
                out.append(tok.convert_ids_to_tokens([t])[0])
            row += 1
            continue
        end = row + 1  # a word: this row and the continuation rows after it
        while end < len(ids) and 0 <= ids[end] < tok.vocab_size and ids[end] not in special \
                and not tok.word_start[ids[end]]:
            end += 1
        raw = b"".join(tok._token_bytes[i] for i in ids[row:end])
        try:
            root = raw.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            root = raw.decode("utf-8", "replace")
        out.append(tok.deconstructor.join(root, [int(v >= 0.5) for v in flags[row]]))  # the first row's flags
        row = end
    return "".join(out)


# ---------------------------------------------------------------------------------------------- known answers
def test_article_table_with_bundled_tokenizer(en_tok):
    assert en_tok.flag_names == FLAGS
    rows = en_tok.split(SENTENCE)
    assert [(r.root, r.flags) for r in rows] == [(root, flags) for _, root, flags in ARTICLE]
    enc = en_tok(SENTENCE)
    # every root of the sentence is one token of r2d-en, so rows = words + <s> + </s>
    assert len(enc["input_ids"]) == len(ARTICLE) + 2
    assert [tuple(f) for f in enc["flags"][1:-1]] == [flags for _, _, flags in ARTICLE]
    assert en_tok.convert_ids_to_tokens(enc["input_ids"][1:-1]) == [
        "▁i", "▁enjoy", "▁ride", "▁in", "▁australia", "▁park", "▁."]
    assert en_tok.decode(enc["input_ids"], enc["flags"]) == SENTENCE


def test_bundled_tokenizer_layout(en_tok):
    assert len(en_tok) == en_tok.vocab_size == 50_265
    assert (en_tok.bos_token_id, en_tok.pad_token_id, en_tok.eos_token_id, en_tok.unk_token_id) == (0, 1, 2, 3)
    assert en_tok.mask_token_id == 50_264
    assert en_tok.convert_ids_to_tokens([0, 1, 2, 3, 50_264]) == ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


def test_bundled_list_is_the_shipped_english_list(en_tok):
    from r2d.tokenizer.hf import load_list

    shipped = load_list("en")
    assert list(en_tok.deconstructor.list) == list(shipped), "rebuild r2d-en: r2d train-tokenizer --word-counts " \
        "wordfreq:en --vocab-size 50265 --out src/r2d/data/r2d-en"


def test_exact_ids_of_a_tiny_trained_bpe(tiny_tok):
    # Known answer: the tiny BPE is trained deterministically from conftest's texts.
    assert tiny_tok.vocab_size == 300
    enc = tiny_tok("dogs riding", add_special_tokens=False)
    assert enc["input_ids"] == [287, 269]
    assert tiny_tok.convert_ids_to_tokens(enc["input_ids"]) == ["▁dog", "▁ride"]
    # a root the BPE never saw: the marker, then one byte symbol per byte (the sorted alphabet: ids 4-259, ▁ 260)
    assert tiny_tok(" ZEBRAS", add_special_tokens=False)["input_ids"] == [260, 93, 72, 69, 85, 68, 86]
    assert [list(f) for f in enc["flags"]] == [[1, 0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 0, 1, 0]]
    again = R2DTokenizer.train(texts=TINY_TEXTS, vocab_size=300,
                               deconstruction_list=tiny_tok.deconstructor.list, min_frequency=1)
    assert again.get_vocab() == tiny_tok.get_vocab()


# ---------------------------------------------------------------------------------------------- round trips
@given(st.text())
def test_round_trip_any_text(tiny_tok, text):
    assert roundtrip(tiny_tok, text) == text


@given(st.text(max_size=200))
def test_round_trip_any_text_bundled(en_tok, text):
    assert roundtrip(en_tok, text) == text


@given(st.text(st.characters(codec=None, blacklist_categories=()), max_size=50))
def test_round_trip_with_lone_surrogates(tiny_tok, text):
    # a Python str may hold any code point, surrogates included (they are not valid UTF-8 on their own)
    assert roundtrip(tiny_tok, text) == text


@given(st.text(max_size=80), st.text(max_size=80))
def test_round_trip_pairs(tiny_tok, a, b):
    enc = tiny_tok(a, b)
    ids, flags = enc["input_ids"], enc["flags"]
    # <s> A </s></s> B </s>: split the decoded rows at the double </s>
    k = next(i for i in range(1, len(ids)) if ids[i] == 2 and ids[i + 1] == 2)
    assert tiny_tok.decode(ids[: k + 1], flags[: k + 1]) == a
    assert tiny_tok.decode(ids[k + 1:], flags[k + 1:]) == b
    assert tiny_tok.decode(ids, flags) == a + b


@given(st.lists(st.text(max_size=60), min_size=1, max_size=6), st.sampled_from([None, "np", "pt"]))
def test_round_trip_padded_batches(tiny_tok, texts, tensors):
    enc = tiny_tok(texts, padding=True, return_tensors=tensors)
    assert tiny_tok.batch_decode(enc["input_ids"], enc["flags"]) == texts


@pytest.mark.parametrize("text", [
    "", " ", "   ", "\n\n\t ", "\x00\x01\x7f\u200b", "\u0301\u0301a\u0301", "👩‍👩‍👧‍👦 🇦🇺 👍🏽",
    "שלום עולם مرحبا بالعالم", "İstanbul ǅemal STRAẞE Straße ΣΑΣ", "NASA's iPhone I A McDonald's",
    "don't it's rock'n'roll dog'sled 'S 's", "\ud7ff\ue000\U0010ffff", "lone \ud800 surrogate\udfff",
])
def test_hard_strings_round_trip(en_tok, text):
    assert roundtrip(en_tok, text) == text
    assert roundtrip(en_tok, text, text) == text + text


def test_one_megabyte_document_round_trips(en_tok):
    text = ("The quick brown fox's riding lessons—naïve, ÉLAN, 42%!\n" * 20_000)[:1_000_000]
    assert roundtrip(en_tok, text) == text


def test_wikipedia_sample_round_trips(en_tok, shared_data):
    lines = _wiki_lines(shared_data, "enwiki_AA_wiki_00-19.txt.gz", 20_000)
    enc = en_tok(lines)
    bad = [ln for ln, out in zip(lines, en_tok.batch_decode(enc["input_ids"], enc["flags"])) if ln != out]
    assert bad == []


@pytest.mark.slow
def test_every_wikipedia_line_round_trips(en_tok, shared_data):
    for path in sorted((shared_data / "wikipedia_en").glob("*.txt.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for chunk in iter(lambda: list(itertools.islice(f, 5000)), []):
                enc = en_tok(chunk)
                out = en_tok.batch_decode(enc["input_ids"], enc["flags"])
                assert [a for a, b in zip(chunk, out) if a != b] == [], path


# ---------------------------------------------------------------------------------------------- decode is total
@given(st.lists(st.integers(-5, 400), max_size=40), st.data())
def test_decode_never_raises_on_model_output(tiny_tok, ids, data):
    # what a model gives: any ids, and flags as probabilities in [0, 1] or as 0/1
    probs = data.draw(st.lists(st.lists(st.floats(0, 1), min_size=7, max_size=7), min_size=len(ids), max_size=len(ids)))
    assert isinstance(tiny_tok.decode(ids, probs), str)
    assert isinstance(tiny_tok.decode(ids, probs, skip_special_tokens=False), str)
    assert isinstance(tiny_tok.decode(ids, assume_flags_off=True), str)
    bits = [[p >= 0.5 for p in row] for row in probs]
    for skip in (True, False):
        want = reference_decode(tiny_tok, ids, probs, skip_special_tokens=skip)
        assert tiny_tok.decode(ids, probs, skip_special_tokens=skip) == want
        assert tiny_tok.decode(np.array(ids, dtype=np.int64), np.array(bits, dtype=bool).reshape(len(ids), 7),
                               skip_special_tokens=skip) == want


def test_decode_with_every_flag_row_at_once(tiny_tok):
    # 128 distinct flag rows on one-row words: more than the decoder's (flag row, id) table has rows for
    ids = tiny_tok("dogs ride park", add_special_tokens=False)["input_ids"] * 128
    flags = [[(k >> j) & 1 for j in range(7)] for k in range(128) for _ in range(3)]
    want = reference_decode(tiny_tok, ids, flags)
    assert tiny_tok.decode(ids, flags) == want
    assert tiny_tok.decode(ids, flags) == want  # again, from the cache


def test_decode_reads_probabilities_and_refuses_logits(en_tok):
    import torch

    enc = en_tok("Dogs riding", return_tensors="pt")
    probs = enc["flags"].float() * 0.8 + 0.1  # on = 0.9, off = 0.1
    assert en_tok.decode(enc["input_ids"], probs) == "Dogs riding"
    assert en_tok.decode(enc["input_ids"], enc["flags"].bool()) == "Dogs riding"
    logits = torch.logit(probs)  # a model's raw flag_logits: on > 0, off < 0
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\].*sigmoid"):
        en_tok.decode(enc["input_ids"], logits)
    with pytest.raises(ValueError, match="probabilities"):
        en_tok.batch_decode(enc["input_ids"][None], logits[None])
    with pytest.raises(ValueError, match="probabilities"):
        en_tok.decode([5], [[0, 0, 0, 2, 0, 0, 0]])  # an integer 2 is no flag either
    with pytest.raises(ValueError, match="probabilities"):
        en_tok.decode([5], [[float("nan")] * 7])
    with pytest.raises(ValueError, match="7"):
        en_tok.decode([5, 6], [[0] * 6] * 2)  # a row per id, one column per flag


def _general_decode(tok, ids_batch, flags_batch, skip_special_tokens=True):
    """Decoding through the general (numpy) reader whatever the input: what the fast readers must agree with."""
    core = tok.core.decoder
    rows = core._rows_of_arrays(ids_batch, flags_batch)
    return core._texts(*core._read_arrays(*rows, skip_special_tokens), skip_special_tokens)


def _wiki_lines(shared_data, shard: str, n: int) -> list[str]:
    """The first ``n`` lines (line breaks kept) of a Wikipedia shard of the shared data."""
    with gzip.open(shared_data / "wikipedia_en" / shard, "rt", encoding="utf-8") as f:
        return list(itertools.islice(f, n))


def _fresh(tok, **settings):
    """A tokenizer with the same files and empty caches."""
    return R2DTokenizer(bpe=tok._bpe, deconstruction_list=tok.deconstructor.list, flag_names=tok.flag_names,
                        **settings)


_IDS = st.one_of(st.integers(0, 299), st.integers(255, 299), st.sampled_from([0, 1, 2, 3, 299]),
                 st.integers(-3, 310), st.just(2**70))


@given(st.lists(_IDS, max_size=30), st.data())
def test_every_input_type_decodes_alike(tiny_tok, ids, data):
    # the fast readers (Python lists, tuples, lists of 0/1) and the general one (numpy) give the same text for
    # any input, as does the row-by-row reference; on one tokenizer (its caches fill as the examples go) and on
    # a fresh one
    import torch

    kind = data.draw(st.sampled_from(["ints", "bools", "probs"]))
    value = {"ints": st.integers(0, 1), "bools": st.booleans(), "probs": st.floats(0, 1)}[kind]
    row = st.one_of(st.lists(value, min_size=7, max_size=7),  # case and spacing flags the most, as in text
                    st.lists(value, min_size=3, max_size=3).map(lambda r: r + [r[0] * 0] * 4))
    rows = []
    for _ in ids:  # runs of the same flags, as the rows of one word carry
        rows.append(list(rows[-1]) if rows and data.draw(st.booleans()) else data.draw(row))
    skip = data.draw(st.booleans())
    want = reference_decode(tiny_tok, ids, rows, skip_special_tokens=skip)
    dtype = {"ints": np.int64, "bools": bool, "probs": np.float32}[kind]
    forms = [(ids, [tuple(r) for r in rows]), (ids, rows), (tuple(ids), tuple(map(tuple, rows))),
             (np.array(ids, dtype=object if 2**70 in ids else np.int64), np.array(rows, dtype=dtype).reshape(-1, 7))]
    if 2**70 not in ids:
        forms.append((torch.tensor(ids), torch.tensor(np.array(rows, dtype=dtype).reshape(-1, 7))))
    for tok in (tiny_tok, _fresh(tiny_tok, cache_size=4)):
        for i, f in forms:
            assert tok.decode(i, f, skip_special_tokens=skip) == want, (type(i), type(f))
        back = reference_decode(tiny_tok, ids[::-1], rows[::-1], skip_special_tokens=skip)
        batch = ([ids, ids[::-1], []], [rows, rows[::-1], []])
        assert tok.batch_decode(*batch, skip_special_tokens=skip) == [want, back, ""]
        assert _general_decode(tok, *batch, skip) == [want, back, ""]
        tuples = [[tuple(r) for r in x] for x in batch[1]]
        assert tok.batch_decode(batch[0], tuples, skip_special_tokens=skip) == [want, back, ""]


@given(st.lists(st.text(max_size=60), min_size=1, max_size=5), st.sampled_from([None, "np", "pt"]), st.booleans())
def test_encodings_decode_alike_through_every_reader(tiny_tok, texts, tensors, skip):
    enc = tiny_tok(texts, padding=True, return_tensors=tensors)
    want = _general_decode(tiny_tok, enc["input_ids"], enc["flags"], skip)
    assert tiny_tok.batch_decode(enc["input_ids"], enc["flags"], skip_special_tokens=skip) == want
    assert [tiny_tok.decode(i, f, skip_special_tokens=skip) for i, f in zip(enc["input_ids"], enc["flags"])] == want
    if skip:
        assert want == texts
    else:
        assert all(w.startswith("<s>") for w in want)


def test_words_cached_by_row_are_never_joined_wrongly(tiny_tok):
    # The decoder caches most words row by row. Rows cached as one word must not be joined to the rows of
    # another: a one-row word whose flags need the list ("dogs") followed by continuation rows, a word whose
    # rows carry different flags (a model's output: the first row decides), continuation rows at the start of a
    # text or after a special row, a tiny cache that keeps emptying.
    word = tiny_tok(" dogzebras", add_special_tokens=False)["input_ids"]  # ▁dog, then a row per byte
    dog, n = word[:1], len(word)
    assert n > 3 and tiny_tok.convert_ids_to_tokens(dog) == ["▁dog"]
    bare = tiny_tok(" zebras", add_special_tokens=False)["input_ids"]  # the marker alone (no text), then bytes
    assert tiny_tok.convert_ids_to_tokens(bare[:1]) == ["▁"]
    plural, caps, cap, plain = [0, 0, 0, 1, 0, 0, 0], [0, 0, 1, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0, 0], [0] * 7
    cases = [  # the first ones fill the cache by row
        (word, [plain] * n), (word, [caps] * n), (word, [cap] * n), (dog, [plural]),
        (dog + word[1:], [plural] * n), (word, [plural] * n), (word, [plain] + [caps] * (n - 1)),
        (word, [caps] + [plain] * (n - 1)), (word, [cap] + [plural] * (n - 1)), (word[1:], [plain] * (n - 1)),
        ([0] + word[1:] + [2], [plain] * (n + 1)), ([2, 2] + word[2:], [caps] * n),
        (word[1:] + word, [cap] * (2 * n - 1)), ([400] + word[1:], [plain] * n),
        (bare, [cap] * len(bare)), (bare[:1] + word[1:], [plain] * n), (bare[:1], [cap]), (bare[:1] * 2, [cap] * 2),
    ]
    long_ids = [i for c in cases * 40 for i in c[0]]  # one text of many new rows (cached in bulk)
    long_flags = [f for c in cases * 40 for f in c[1]]
    assert len(long_ids) > 4096
    for skip in (True, False):
        want = reference_decode(tiny_tok, long_ids, long_flags, skip_special_tokens=skip)
        assert _fresh(tiny_tok).decode(long_ids, long_flags, skip_special_tokens=skip) == want
        assert _fresh(tiny_tok).decode(np.array(long_ids), np.array(long_flags), skip_special_tokens=skip) == want
    for tok in (_fresh(tiny_tok), _fresh(tiny_tok, cache_size=2)):
        # a batch of many new rows first (they are cached in bulk), then one text at a time
        assert tok.batch_decode([c[0] for c in cases] * 9, [c[1] for c in cases] * 9) == [
            reference_decode(tiny_tok, *c) for c in cases] * 9
        for _ in range(2):  # cold, then from the cache
            for ids, flags in cases:
                for skip in (True, False):
                    want = reference_decode(tiny_tok, ids, flags, skip_special_tokens=skip)
                    assert tok.decode(ids, flags, skip_special_tokens=skip) == want, (ids, flags)
                    assert tok.decode(np.array(ids), np.array(flags), skip_special_tokens=skip) == want
                    assert tok.decode(ids, [tuple(r) for r in flags], skip_special_tokens=skip) == want
            assert tok.batch_decode([c[0] for c in cases], [c[1] for c in cases]) == [
                reference_decode(tiny_tok, *c) for c in cases]
        assert tok.core.cached_words <= max(tok.cache_size, 64)


def test_the_fast_readers_take_the_tokenizers_own_output(tiny_tok):
    # decoding what tok() returned never needs the general reader (it is correct, but slower)
    enc = tiny_tok(["Dogs riding", "NASA's zebras"])
    core = tiny_tok.core.decoder
    assert core._rows_of_lists(enc["input_ids"], enc["flags"]) is not None
    assert core._read_list(enc["input_ids"][1], enc["flags"][1], True) is not None
    assert core._read_list(enc["input_ids"][1], [list(r) for r in enc["flags"][1]], True) is not None


def test_bad_flags_are_refused_with_the_same_message_by_every_reader(tiny_tok):
    # the fast readers decline what they cannot read; the general reader refuses it as it always has
    bad = [([5], [[0, 0, 0, 2, 0, 0, 0]]), ([5], [[0.5] * 6]), ([5, 6], [[0] * 7, [0] * 6]), ([5], [["1"] * 7]),
           ([5], [[float("nan")] * 7]), ([5.0], [[0] * 7]), ([5], [[None] * 7]), ([5, 6], [[0] * 7])]
    for ids, flags in bad:
        with pytest.raises((ValueError, TypeError)) as general:
            tiny_tok.core.decoder._rows_of_arrays([ids], [flags])
        with pytest.raises(general.type) as fast:
            tiny_tok.decode(ids, flags)
        assert str(fast.value) == str(general.value), (ids, flags)
        with pytest.raises(general.type) as fast:
            tiny_tok.batch_decode([ids], [flags])
        assert str(fast.value) == str(general.value), (ids, flags)


def test_decode_without_flags_warns_unless_told(tiny_tok):
    ids = tiny_tok("Dogs riding", add_special_tokens=False)["input_ids"]
    off = [[0] * 7] * len(ids)
    with pytest.warns(UserWarning, match="decode got ids but no flags: every flag is taken as off"):
        out = tiny_tok.decode(ids)
    with pytest.warns(UserWarning, match="batch_decode got ids but no flags"):
        assert tiny_tok.batch_decode([ids]) == [out]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tiny_tok.decode(ids, assume_flags_off=True) == out == tiny_tok.decode(ids, off) == " dog ride"
        assert tiny_tok.batch_decode([ids], assume_flags_off=True) == [out]
    with pytest.raises(ValueError, match="assume_flags_off"):
        tiny_tok.decode(ids, off, assume_flags_off=True)
    with pytest.raises(ValueError, match="assume_flags_off"):
        tiny_tok.batch_decode([ids], [off], assume_flags_off=True)


@pytest.mark.parametrize("tensors", [None, "np", "pt"])
def test_decode_takes_the_encoding_whole(tiny_tok, tensors):
    text, texts = "Dogs riding in NASA's parks.", ["dogs", "I enjoyed RIDING!", ""]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tiny_tok.decode(tiny_tok(text, return_tensors=tensors)) == text
        assert tiny_tok.decode(tiny_tok(text, "A pair", return_tensors=tensors)) == text + "A pair"
        assert tiny_tok.batch_decode(tiny_tok(texts, padding=True, return_tensors=tensors)) == texts
        assert tiny_tok.decode(dict(tiny_tok(text, return_tensors=tensors)), skip_special_tokens=False) == (
            f"<s>{text}</s>")
    enc = tiny_tok(text, return_tensors=tensors)
    with pytest.warns(UserWarning, match="no flags"):
        tiny_tok.decode({"input_ids": enc["input_ids"]})
    assert tiny_tok.decode({"input_ids": enc["input_ids"]}, assume_flags_off=True) == " dog ride in nasa park ."
    with pytest.raises(ValueError, match="encoding and flags"):
        tiny_tok.decode(enc, enc["flags"])
    with pytest.raises(ValueError, match="assume_flags_off"):
        tiny_tok.decode(enc, assume_flags_off=True)
    with pytest.raises(ValueError, match="'input_ids'"):
        tiny_tok.batch_decode({"flags": enc["flags"]})


def test_wikipedia_lines_decode_one_at_a_time(en_tok, shared_data):
    lines = _wiki_lines(shared_data, "enwiki_AA_wiki_40-59.txt.gz", 2000)
    encs = [en_tok(ln) for ln in lines]
    fresh = _fresh(en_tok)
    assert [fresh.decode(e["input_ids"], e["flags"]) for e in encs] == lines
    assert [fresh.decode(e) for e in encs] == lines  # again, from the cache
    # as datasets gives them back: flag rows as lists
    assert [fresh.decode(e["input_ids"], [list(r) for r in e["flags"]]) for e in encs[:300]] == lines[:300]
    assert fresh.batch_decode([e["input_ids"] for e in encs], [[list(r) for r in e["flags"]] for e in encs]) == lines


def test_decode_spells_flags_the_list_never_saw(en_tok):
    ids = en_tok("zorp", add_special_tokens=False)["input_ids"]
    assert en_tok.decode(ids, [[0, 1, 0, 0, 0, 1, 0]] * len(ids)) == " Zorping"


# ---------------------------------------------------------------------------------------------- layout
def test_pair_layout_and_special_flags(tiny_tok):
    enc = tiny_tok("dogs", "parks", return_special_tokens_mask=True)
    ids, flags = enc["input_ids"], enc["flags"]
    assert ids[0] == 0 and ids[-1] == 2 and ids.count(2) == 3
    assert enc["special_tokens_mask"] == [1 if i in (0, 2) else 0 for i in ids]
    assert all(not any(f) for i, f in zip(ids, flags) if i in (0, 2))


def test_every_piece_row_carries_its_words_flags(tiny_tok):
    enc = tiny_tok(" ZEBRAS", add_special_tokens=False)  # not in the tiny vocabulary: several rows
    assert len(enc["input_ids"]) > 1
    assert len({tuple(f) for f in enc["flags"]}) == 1 and enc["flags"][0][2] == 1
    starts = [bool(tiny_tok.word_start[i]) for i in enc["input_ids"]]
    assert starts == [True] + [False] * (len(starts) - 1)


def test_padding_and_truncation(tiny_tok):
    enc = tiny_tok(["dogs", "riding in parks"], padding="max_length", max_length=12, return_tensors="np")
    assert enc["input_ids"].shape == (2, 12) and enc["flags"].shape == (2, 12, 7)
    assert (enc["input_ids"][enc["attention_mask"] == 0] == 1).all()
    assert not enc["flags"][enc["attention_mask"] == 0].any()
    enc = tiny_tok(["dogs"] * 2, padding=True, pad_to_multiple_of=8)
    assert len(enc["input_ids"][0]) == 8
    long = "riding dogs " * 20
    enc = tiny_tok(long, truncation=True, max_length=10)
    assert len(enc["input_ids"]) == 10 and enc["input_ids"][-1] == 2
    for strategy, a, b in (("longest_first", long, long), ("only_first", long, "dogs"), ("only_second", "dogs", long)):
        enc = tiny_tok(a, b, truncation=strategy, max_length=30)
        assert len(enc["input_ids"]) == 30, strategy
    with pytest.raises(ValueError, match="second text alone"):
        tiny_tok("dogs", long, truncation="only_first", max_length=12)
    enc = tiny_tok(long, "dogs", truncation="only_first", max_length=12)
    assert tiny_tok.decode(enc["input_ids"][-3:], enc["flags"][-3:]) == "dogs"


def test_bad_input_is_refused_clearly(tiny_tok):
    for bad in (None, b"bytes", 3, ["ok", None]):
        with pytest.raises(TypeError, match="str"):
            tiny_tok(bad)
    with pytest.raises(ValueError, match="max_length"):
        tiny_tok("a", "b", truncation=True, max_length=4)
    with pytest.raises(ValueError, match="padding"):
        tiny_tok("a", padding="sideways")
    with pytest.raises(ValueError, match="padding=True"):
        tiny_tok(["a", "b c d"], return_tensors="np")
    with pytest.raises(ValueError, match="text_pair"):
        tiny_tok(["a", "b"], ["c"])


def test_offsets_point_at_the_word(en_tok):
    text = "I enjoyed  riding, Zyzzyvas."
    enc = en_tok(text, return_offsets_mapping=True)
    offs = enc["offset_mapping"]
    assert offs[0] == (0, 0) and offs[-1] == (0, 0)
    words = [text[s:e] for s, e in offs[1:-1]]
    zyz = len(en_tok(" Zyzzyvas", add_special_tokens=False)["input_ids"])  # several rows, one span
    assert zyz > 1
    assert words == ["I", "enjoyed", " ", "riding", ",", *["Zyzzyvas"] * zyz, "."]
    assert len(enc["input_ids"]) == len(offs)


@given(st.lists(st.text(max_size=40), min_size=1, max_size=4))
def test_offsets_cover_each_word_once(tiny_tok, texts):
    enc = tiny_tok(texts, add_special_tokens=False, return_offsets_mapping=True)
    for text, ids, flags, offs in zip(texts, enc["input_ids"], enc["flags"], enc["offset_mapping"]):
        words = [(s, e) for k, (s, e) in enumerate(offs) if tiny_tok.word_start[ids[k]]]
        # a word's span and the space the pre-tokenizer attached (NoSpace off) tile the text
        spaces = [1 - f[0] for k, f in enumerate(flags) if tiny_tok.word_start[ids[k]]]
        assert [s - sp for (s, _), sp in zip(words, spaces)] == [0, *[e for _, e in words]][:len(words)]
        assert (words[-1][1] if words else 0) == len(text)


def test_unbatched_and_batched_shapes(tiny_tok):
    one = tiny_tok("dogs riding", return_tensors="pt")
    assert one["input_ids"].dim() == 1 and one["flags"].shape == (len(one["input_ids"]), 7)
    many = tiny_tok(["dogs riding", "x"], padding=True, return_tensors="pt")
    assert many["flags"].dim() == 3
    empty = tiny_tok("", add_special_tokens=False, return_tensors="np")
    assert empty["flags"].shape == (0, 7)


# ---------------------------------------------------------------------------------------------- save/load
def test_save_load_identical(tiny_tok, tmp_path):
    tiny_tok.save_pretrained(tmp_path / "t")
    cfg = json.loads((tmp_path / "t" / "r2d_tokenizer.json").read_text())
    assert cfg["format"] == "r2d-tokenizer" and cfg["version"] == 1 and cfg["flag_names"] == list(FLAGS)
    again = R2DTokenizer.from_pretrained(tmp_path / "t")
    text = "NASA's dogs enjoyed riding ÜBER parks"
    assert again(text) == tiny_tok(text)
    assert again.get_vocab() == tiny_tok.get_vocab()


def test_from_pretrained_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="r2d_tokenizer.json"):
        R2DTokenizer.from_pretrained(tmp_path)
    (tmp_path / "r2d_tokenizer.json").write_text('{"format": "r2d-tokenizer", "version": 99}')
    with pytest.raises(ValueError, match="newer"):
        R2DTokenizer.from_pretrained(tmp_path)


def test_train_with_extra_affix_flags(tmp_path):
    lst = tmp_path / "l.tsv"
    lst.write_text("quickly\tquick ~ly\nriding\tride ~ing\n")
    from r2d.flags import FlagSchema

    tok = R2DTokenizer.train(texts=["quickly riding quick ride"] * 5, vocab_size=280, deconstruction_list=lst,
                             flag_names=FlagSchema.with_affixes(["~ly"]).names, min_frequency=1)
    rows = tok.split("Quickly")
    assert rows[0].root == "quick" and rows[0].flags[tok.flag_names.index("Suffix_ly")] == 1
    assert roundtrip(tok, "Quickly riding!") == "Quickly riding!"


def test_train_refuses_a_negative_min_frequency_before_counting():
    def texts():
        raise AssertionError("counted before the settings were checked")
        yield ""

    with pytest.raises(ValueError, match="min_frequency=-1"):
        R2DTokenizer.train(texts=texts(), vocab_size=300, min_frequency=-1)


def test_train_warns_about_extra_affix_flags_the_list_never_splits_off(tiny_list, caplog):
    from r2d.flags import FlagSchema

    with caplog.at_level(logging.WARNING, logger="r2d.tokenizer.hf"):
        R2DTokenizer.train(texts=TINY_TEXTS, vocab_size=300, deconstruction_list=tiny_list, min_frequency=1,
                           flag_names=FlagSchema.with_affixes(["un~", "~ly"]).names)
    assert [r.getMessage() for r in caplog.records] == [
        "the deconstruction list never splits off un~, ~ly: flags Prefix_un, Suffix_ly will always be 0"]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="r2d.tokenizer.hf"):  # the article's seven flags: no warning
        R2DTokenizer.train(texts=TINY_TEXTS, vocab_size=300, deconstruction_list=tiny_list, min_frequency=1)
    assert caplog.records == []


def test_special_tokens_as_strings_follow_robertas_layout(en_tok):
    tok = en_tok
    assert (tok.bos_token, tok.pad_token, tok.eos_token, tok.unk_token, tok.mask_token) == (
        "<s>", "<pad>", "</s>", "<unk>", "<mask>")
    assert (tok.cls_token, tok.sep_token) == ("<s>", "</s>")  # RoBERTa: <s> A </s></s> B </s>
    for name in ("bos", "pad", "eos", "unk", "mask", "cls", "sep"):
        token, i = getattr(tok, f"{name}_token"), getattr(tok, f"{name}_token_id")
        assert tok.get_vocab()[token] == i and tok.convert_ids_to_tokens([i]) == [token], name
    assert tok.all_special_tokens == tok.convert_ids_to_tokens(tok.all_special_ids)
    assert sorted(tok.all_special_tokens) == sorted(["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    assert tok.special_tokens_map == {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                                      "sep_token": "</s>", "pad_token": "<pad>", "cls_token": "<s>",
                                      "mask_token": "<mask>"}


def test_auto_tokenizer_loads_a_saved_folder(tiny_tok, tmp_path):
    from transformers import AutoTokenizer

    import r2d.modeling.encoder  # noqa: F401  (the model side registers R2DTokenizer with AutoTokenizer)
    tiny_tok.save_pretrained(tmp_path / "t")
    assert json.loads((tmp_path / "t" / "tokenizer_config.json").read_text())["tokenizer_class"] == "R2DTokenizer"
    tok = AutoTokenizer.from_pretrained(tmp_path / "t")
    assert isinstance(tok, R2DTokenizer) and tok.get_vocab() == tiny_tok.get_vocab()
    assert roundtrip(tok, "NASA's dogs enjoyed riding") == "NASA's dogs enjoyed riding"
    (tmp_path / "t" / "tokenizer_config.json").unlink()  # a folder saved before tokenizer_config.json existed
    assert R2DTokenizer.from_pretrained(tmp_path / "t").get_vocab() == tiny_tok.get_vocab()
    with pytest.raises(TypeError, match="cache_sise"):  # loader options are ignored, misspelt settings are not
        R2DTokenizer.from_pretrained(tmp_path / "t", revision=None, _from_auto=True, cache_sise=10)


def test_decode_joins_a_pair_as_hugging_face_does(en_tok):
    from tokenizers import decoders

    from r2d.tokenizer.baseline import roberta_bpe

    enc = en_tok("Hi there", "Second one")
    assert en_tok.decode(enc["input_ids"], enc["flags"]) == "Hi thereSecond one"
    roberta = roberta_bpe()
    roberta.decoder = decoders.ByteLevel()
    assert roberta.decode(roberta.encode("Hi there", "Second one").ids, skip_special_tokens=True) == "Hi thereSecond one"
    assert en_tok.decode(enc["input_ids"], enc["flags"], skip_special_tokens=False) == "<s>Hi there</s></s>Second one</s>"


@pytest.mark.parametrize("ids, flags, found", [
    ([0, 5, 2], [[0] * 7, [1, 0.25, 0, 1.0, 0, 0, 0], [0] * 7], None),
    ([0, 5, 2], None, None),
    ([0, 300, 2], None, ("input_ids[1]", "300 is not an id of the vocabulary (0 to 299)")),
    ([-1], [[0] * 7], ("input_ids[0]", "-1 is not an id of the vocabulary (0 to 299)")),
    ([5, 6], [[0] * 7, [0, 0, 0, 0, 0, 2, 0]], ("flags[1][5]", "2 is not 0/1 or a probability in [0, 1]")),
    ([5], [[0, float("nan"), 0, 0, 0, 0, 0]], ("flags[0][1]", "NaN is not 0/1 or a probability in [0, 1]")),
    ([5], [[0, -0.5, 0, 0, 0, 0, 0]], ("flags[0][1]", "-0.5 is not 0/1 or a probability in [0, 1]")),
])
def test_invalid_decode_input_names_the_first_bad_place(tiny_tok, ids, flags, found):
    from r2d.tokenizer.arrays import invalid_decode_input

    assert invalid_decode_input(ids, flags, tiny_tok.vocab_size) == found


# ---------------------------------------------------------------------------------------------- ecosystem
def test_datasets_map_and_dataloader(tiny_tok):
    import torch
    from datasets import Dataset
    from torch.utils.data import DataLoader

    ds = Dataset.from_dict({"text": ["dogs riding", "I enjoyed parks.", "x"] * 3})
    ds = ds.map(lambda b: tiny_tok(b["text"]), batched=True, remove_columns=["text"])
    assert set(ds.column_names) == {"input_ids", "attention_mask", "flags"}
    batch = next(iter(DataLoader(ds, batch_size=4, collate_fn=tiny_tok.pad)))
    assert batch["input_ids"].dtype == torch.int64 and batch["flags"].shape[:2] == batch["input_ids"].shape
    assert batch["flags"].shape[2] == 7
    texts = tiny_tok.batch_decode(batch["input_ids"], batch["flags"])
    assert texts == ["dogs riding", "I enjoyed parks.", "x", "dogs riding"]


def test_pad_inside_hf_data_collator(tiny_tok):
    from transformers import DataCollatorWithPadding

    texts = ["dogs", "riding in parks"]
    feats = [dict(tiny_tok(t), label=i) for i, t in enumerate(texts)]
    batch = DataCollatorWithPadding(tiny_tok)(feats)
    assert batch["input_ids"].shape == batch["attention_mask"].shape == batch["flags"].shape[:2]
    assert batch["labels"].tolist() == [0, 1]
    assert tiny_tok.batch_decode(batch["input_ids"], batch["flags"]) == texts
    assert batch["attention_mask"].sum(1).tolist() == [len(f["input_ids"]) for f in feats]


def test_pad_keeps_float_labels_and_refuses_ragged_rows(tiny_tok):
    feats = [dict(tiny_tok(t), label=x) for t, x in (("dogs", 0.5), ("riding in parks", 4.25))]
    batch = tiny_tok.pad(feats)
    assert batch["label"].tolist() == [0.5, 4.25] and batch["label"].dtype.is_floating_point
    feats[0]["flags"] = feats[0]["flags"][:-1]
    with pytest.raises(ValueError, match="flags"):
        tiny_tok.pad(feats)


def test_outputs_are_transformers_batch_encodings(tiny_tok):
    from transformers import BatchEncoding

    for tensors in (None, "np", "pt"):
        enc = tiny_tok(["dogs", "riding"], padding=True, return_tensors=tensors)
        assert type(enc) is BatchEncoding and enc.input_ids is enc["input_ids"]
        assert type(tiny_tok.pad([dict(tiny_tok("dogs"))], return_tensors=tensors)) is BatchEncoding
    enc = tiny_tok(["dogs", "riding in parks"], padding=True, return_tensors="pt").to("cpu")
    assert enc["flags"].shape == (2, enc["input_ids"].shape[1], 7)
    with pytest.raises(ValueError, match="return_tensors"):
        tiny_tok("dogs", return_tensors="tf")


def test_truncation_closed_form_matches_the_one_row_at_a_time_rule():
    from r2d.tokenizer.layout import truncate

    def reference(la, lb, room):  # the rule as HF states it: drop a row from the longer text (ties: the first)
        while la + lb > room:
            if la >= lb:
                la -= 1
            else:
                lb -= 1
        return la, lb

    lengths = np.array([(a, b) for a in range(12) for b in range(12)])
    for room in range(0, 25):
        ka, kb = truncate(lengths[:, 0], lengths[:, 1], room, "longest_first")
        assert [tuple(x) for x in np.stack([ka, kb], 1).tolist()] == [reference(a, b, room) for a, b in lengths]


# ---------------------------------------------------------------------------------------------- the core
@given(st.lists(st.text(max_size=60), max_size=6))
def test_core_round_trip_on_arrays(tiny_tok, texts):
    core = tiny_tok.core
    enc = core.encode_batch(texts, offsets=True)
    assert enc.ids.dtype == np.int32 and enc.flags.dtype == np.uint8 and enc.flags.shape == (len(enc.ids), 7)
    assert len(enc) == len(texts) and enc.offsets.shape == (len(enc.ids), 2)
    assert core.decode_batch([enc[b].ids for b in range(len(texts))], [enc[b].flags for b in range(len(texts))]) == texts
    hf = tiny_tok(texts, add_special_tokens=False) if texts else {"input_ids": [], "flags": []}
    assert [enc[b].ids.tolist() for b in range(len(texts))] == hf["input_ids"]
    assert [enc[b].flags.tolist() for b in range(len(texts))] == [[list(f) for f in x] for x in hf["flags"]]


def _new_words(start: int, n: int) -> list[str]:
    """n distinct made-up lowercase words (letters only: digits would be pieces of their own)."""
    out = []
    for i in range(start, start + n):
        w = ""
        while True:
            w += chr(ord("a") + i % 26)
            i //= 26
            if not i:
                break
        out.append("zq" + w)
    return out


def test_full_cache_never_loses_the_batch_in_hand(tiny_tok, tmp_path):
    # Defect: the cache was emptied *after* computing a batch's new pieces, so that batch's cached pieces
    # ("the") vanished: KeyError: 'the'. Now it is emptied before, and stays bounded.
    tiny_tok.save_pretrained(tmp_path / "t")
    tok = R2DTokenizer.from_pretrained(tmp_path / "t", cache_size=300)
    assert tok.cache_size == 300
    fresh = 0
    for _ in range(12):
        texts = []
        for _ in range(10):
            texts.append("the " + " ".join(_new_words(fresh, 20)))
            fresh += 20
        enc = tok(texts)
        assert tok.batch_decode(enc["input_ids"], enc["flags"]) == texts
        assert tok.core.cached_pieces <= 300 and tok.core.cached_words <= 300
    with pytest.raises(ValueError, match="cache_size"):
        R2DTokenizer.from_pretrained(tmp_path / "t", cache_size=0)


def test_a_cache_emptied_while_decoding_a_batch_loses_nothing(en_tok, shared_data):
    # Defect: a batch's rows found in the cache were read after new words had emptied it: wrong words, or an
    # IndexError. The cache here fills within the first batch and is emptied while decoding the second.
    lines = _wiki_lines(shared_data, "enwiki_AA_wiki_60-79.txt.gz", 1500)
    tok = _fresh(en_tok, cache_size=3000)
    for i in range(0, len(lines), 500):
        enc = en_tok(lines[i:i + 500])
        assert tok.batch_decode(enc["input_ids"], enc["flags"]) == lines[i:i + 500]
        assert [tok.decode(e, f) for e, f in zip(enc["input_ids"][:50], enc["flags"])] == lines[i:i + 50]


def test_flag_rows_are_read_by_value_whoever_made_them(en_tok, shared_data):
    # Decoding reads the flag tuples encoding gives out by identity, a batch at once. Rows another tokenizer
    # made, rows as lists (changed in place between calls), and more distinct tuples than it remembers must
    # decode by their values all the same.
    lines = _wiki_lines(shared_data, "enwiki_AA_wiki_80-99.txt.gz", 300)
    enc = en_tok(lines)
    tok = _fresh(en_tok)
    for _ in range(2):  # met first, then remembered
        assert tok.batch_decode(enc["input_ids"], enc["flags"]) == lines
    assert tok.batch_decode(enc["input_ids"], [[list(r) for r in f] for f in enc["flags"]]) == lines
    many = [[tuple(r) for r in f] for f in enc["flags"]]  # a new tuple per row: more than MAX_ROW_KEYS
    assert sum(map(len, many)) > 4096
    assert tok.batch_decode(enc["input_ids"], many) == lines
    ids = tok(" dog", add_special_tokens=False)["input_ids"]
    row = [0] * 7
    for on, want in [(None, " dog"), (1, " Dog"), (3, " Dogs"), (0, "Dogs")]:
        if on is not None:
            row[on] = 1
        assert tok.batch_decode([ids, ids], [[row], [row]]) == [want, want]
        assert tok.decode(ids, [row]) == want


def test_a_pickled_tokenizer_decodes_and_reads_rows_at_its_own_addresses(en_tok, shared_data):
    # worker processes get the tokenizer pickled: its decoder's cache (rows spelled through closures) arrives empty,
    # and the flag tuples it reads by identity are remembered at the addresses of its own copies, not the sender's
    lines = _wiki_lines(shared_data, "enwiki_AA_wiki_40-59.txt.gz", 200)
    tok = _fresh(en_tok)
    enc = tok(lines)
    assert tok.batch_decode(enc["input_ids"], enc["flags"]) == lines
    copy = pickle.loads(pickle.dumps(tok))
    rows = copy.core.flag_rows
    assert sorted(rows._met) == rows._addresses.tolist()
    assert all(address == id(row) for address, (row, _) in rows._met.items())
    assert {id(t) for t in rows.tuples} <= set(rows._met) and {id(t) for t in rows.objects} <= set(rows._met)
    own = copy(lines)
    assert copy.batch_decode(own["input_ids"], own["flags"]) == lines
    assert copy.batch_decode(enc["input_ids"], enc["flags"]) == lines
    assert [copy.decode(i, f) for i, f in zip(own["input_ids"], own["flags"])] == lines


def test_addresses_are_where_the_items_live():
    from r2d.tokenizer.arrays import addresses

    items = [(0, 1), "a", 10**30, None, (0, 1), [2]]
    objects = np.fromiter(items, dtype=object, count=len(items))
    assert addresses(objects).tolist() == [id(x) for x in items]
    with pytest.raises(TypeError):
        addresses(np.arange(3))


def test_one_text_at_a_time_with_a_small_cache(en_tok, shared_data):
    # rows met for the first time are spelled while a text is looked up; the cache is emptied whenever it fills,
    # mid-text too, and the text in hand loses nothing
    lines = _wiki_lines(shared_data, "enwiki_AA_wiki_60-79.txt.gz", 400)
    tok = _fresh(en_tok, cache_size=40)
    for ln in lines:
        enc = en_tok(ln)
        assert tok.decode(enc["input_ids"], enc["flags"]) == ln
        assert tok.core.cached_words <= 40
    enc = en_tok(lines)
    assert tok.batch_decode(enc["input_ids"], enc["flags"]) == lines


def test_encoding_and_decoding_leave_the_garbage_collector_alone(tiny_tok, monkeypatch):
    calls = []
    monkeypatch.setattr(gc, "disable", lambda: calls.append("disable"))
    monkeypatch.setattr(gc, "enable", lambda: calls.append("enable"))
    enc = tiny_tok(["dogs riding", "parks"], padding=True)
    tiny_tok.batch_decode(enc["input_ids"], enc["flags"])
    tiny_tok.decode(enc["input_ids"][0], enc["flags"][0])
    assert calls == []


@pytest.fixture(scope="module", params=[27, 67], ids=["27 flags", "67 flags"])
def wide_tok(request, tiny_list):
    # more flags than the decoder's dense table (16) or an int64 flag code (56) hold take other code paths
    from r2d.flags import FlagSchema

    affixes = [f"~{a}{b}" for a in "abcdefghij" for b in "klmnopq"][:request.param - 7]
    names = FlagSchema.with_affixes(affixes).names
    assert len(names) == request.param
    return R2DTokenizer.train(texts=TINY_TEXTS, vocab_size=300, deconstruction_list=tiny_list, flag_names=names,
                              min_frequency=1)


@given(st.lists(st.text(max_size=40), min_size=1, max_size=4), st.data())
def test_round_trip_and_total_decode_with_many_flags(wide_tok, texts, data):
    enc = wide_tok(texts, padding=True, return_tensors="np")
    assert wide_tok.batch_decode(enc["input_ids"], enc["flags"]) == texts
    ids = enc["input_ids"][0]
    flags = np.array(data.draw(st.lists(st.lists(st.booleans(), min_size=wide_tok.num_flags,
                                                  max_size=wide_tok.num_flags),
                                        min_size=len(ids), max_size=len(ids))), dtype=bool).reshape(len(ids), -1)
    # decoding random flags spells each word by the rules, like the row-by-row reference
    want = reference_decode(wide_tok, ids.tolist(), flags.tolist())
    assert wide_tok.decode(ids, flags) == want
    assert wide_tok.decode(ids.tolist(), flags.tolist()) == want
    assert wide_tok.decode(ids.tolist(), flags.astype(int).tolist()) == want
    assert wide_tok.batch_decode([ids.tolist()], [[tuple(r) for r in flags.astype(int).tolist()]]) == [want]


@pytest.fixture(scope="module", params=["case", "FirstCap,AllCaps,Contraction_s", "NoSpace,Suffix_ing"])
def subset_tok(request, tmp_path_factory):
    """Tokenizers whose flag sets leave inferred or suffix flags out (the ablation's kind of schema)."""
    from r2d.flags import FlagSchema

    lst = tmp_path_factory.mktemp("list") / "l.tsv"
    lst.write_text("riding\tride ~ing\ndogs\tdog ~s\n")
    return R2DTokenizer.train(texts=TINY_TEXTS, vocab_size=300, deconstruction_list=lst,
                              flag_names=FlagSchema.parse(request.param).names, min_frequency=1)


@given(st.lists(st.text(), min_size=1, max_size=3))
def test_round_trip_and_offsets_for_a_flag_set_without_some_flags(subset_tok, texts):
    enc = subset_tok(texts, add_special_tokens=False, return_offsets_mapping=True)
    assert subset_tok.batch_decode(enc["input_ids"], enc["flags"]) == texts
    for text, spans in zip(texts, enc["offset_mapping"]):
        words = list(dict.fromkeys(tuple(s) for s in spans))  # a word's rows share its span
        assert all(0 <= a < b <= len(text) for a, b in words)
        assert all(b <= a2 for (_, b), (a2, _) in zip(words, words[1:]))  # in order, never overlapping
