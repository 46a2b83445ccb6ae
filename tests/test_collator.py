"""Tests of the R2D MLM collator: padding, masking invariants (hypothesis), whole-word groups, proportions."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from r2d.modeling.collator import R2DDataCollatorForMLM

EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "60"))
F = 7


class StandInTokenizer:
    """The attributes the collator reads from an R2DTokenizer (RoBERTa's special layout)."""

    def __init__(self, vocab_size: int = 300, seed: int = 0):
        self.vocab_size = vocab_size
        self.bos_token_id, self.pad_token_id, self.eos_token_id, self.unk_token_id = 0, 1, 2, 3
        self.mask_token_id = vocab_size - 1
        self.all_special_ids = [0, 1, 2, 3, self.mask_token_id]
        self.num_flags = F
        self.flag_names = tuple(f"f{i}" for i in range(F))
        rng = np.random.default_rng(seed)
        self.word_start = rng.random(vocab_size) < 0.6
        self.word_start[self.all_special_ids] = True

    def __len__(self) -> int:
        return self.vocab_size


def real_tokenizer():
    """A tiny trained R2DTokenizer."""
    from r2d.tokenizer.hf import R2DTokenizer

    counts = {"park": 30, "ride": 20, "enjoy": 15, "australia": 10, "the": 50, "in": 40, "walk": 12,
              "community": 8, "house": 9, "run": 11}
    return R2DTokenizer.train(word_counts=counts, vocab_size=300)


TOK = StandInTokenizer()


@st.composite
def examples(draw, max_len: int = 20):
    """A list of R2D examples: <s> ids </s>, flags 0 on special rows, sometimes with a pair separator."""
    n = draw(st.integers(1, 5))
    out = []
    for _ in range(n):
        body = draw(st.lists(st.integers(4, TOK.vocab_size - 2), min_size=0, max_size=max_len))
        if body and draw(st.booleans()):
            k = draw(st.integers(0, len(body)))
            body = body[:k] + [2, 2] + body[k:]
        ids = [0, *body, 2]
        flags = [[0] * F if i in (0, 1, 2, 3) else draw(st.lists(st.integers(0, 1), min_size=F, max_size=F))
                 for i in ids]
        out.append({"input_ids": ids, "flags": flags})
    return out


def words_by_hand(ids: list[int]) -> list[int | None]:
    """Word number of each row (None for special rows): a non-special row starts a word if its id is a word
    start or the row before it is special."""
    word, out = -1, []
    for t, i in enumerate(ids):
        if i in TOK.all_special_ids:
            out.append(None)
            continue
        if TOK.word_start[i] or t == 0 or ids[t - 1] in TOK.all_special_ids:
            word += 1
        out.append(word)
    return out


def check_invariants(collate, feats, out, whole_words: bool = False):
    ids0 = collate.pad(feats)
    orig_ids, orig_flags, att = ids0["input_ids"], ids0["flags"], ids0["attention_mask"]
    ids, flags, labels, flag_labels = out["input_ids"], out["flags"], out["labels"], out["flag_labels"]
    sel, hidden = labels != -100, out["hidden_flags"] == 1
    assert set(out) == {"input_ids", "attention_mask", "flags", "hidden_flags", "labels", "flag_labels"}
    # labels are the original values exactly on the mask, -100 exactly off it
    assert torch.equal(labels[sel], orig_ids[sel])
    assert torch.equal(hidden, (flag_labels != -100).all(-1)) and torch.equal(hidden, (flag_labels != -100).any(-1))
    assert torch.equal(flag_labels[hidden], orig_flags[hidden])
    # ids and flags are masked at the same rows: a row whose id is a target has its flags hidden too
    assert not (sel & ~hidden).any()
    if whole_words:
        assert torch.equal(sel, hidden)
    # specials and pads are never selected or hidden; off the selection ids do not change
    special = torch.isin(orig_ids, torch.tensor(TOK.all_special_ids)) | (att == 0)
    assert not ((sel | hidden) & special).any()
    assert torch.equal(ids[~sel], orig_ids[~sel])
    # hidden rows show no flags; every other row shows its own
    assert not flags[hidden].any()
    assert torch.equal(flags[~hidden], orig_flags[~hidden])
    # no selected word's flags are visible on any of its rows: hidden = every row of every word with a target
    for b, f in enumerate(feats):
        words = words_by_hand(list(f["input_ids"]))
        for w in {x for x in words if x is not None}:
            rows = [t for t, x in enumerate(words) if x == w]
            assert bool(hidden[b, rows].all()) == bool(sel[b, rows].any()), (f["input_ids"], rows)
            assert bool(hidden[b, rows].all()) or not hidden[b, rows].any()
    # on the selection: <mask>, another non-special id, or the same id
    changed = ids != orig_ids
    assert not torch.isin(ids[sel & changed & (ids != TOK.mask_token_id)], torch.tensor(TOK.all_special_ids)).any()
    assert torch.equal(out["attention_mask"], att)


@settings(max_examples=EXAMPLES, deadline=None)
@given(feats=examples(), seed=st.integers(0, 2**31 - 1), p=st.sampled_from([0.15, 0.5, 1.0]))
def test_masking_invariants(feats, seed, p):
    collate = R2DDataCollatorForMLM(TOK, mlm_probability=p, seed=seed)
    check_invariants(collate, feats, collate(feats))


@settings(max_examples=EXAMPLES, deadline=None)
@given(feats=examples(), seed=st.integers(0, 2**31 - 1), p=st.sampled_from([0.15, 0.5, 1.0]))
def test_whole_word_masking_keeps_words_together(feats, seed, p):
    collate = R2DDataCollatorForMLM(TOK, mlm_probability=p, whole_word_mask=True, seed=seed)
    out = collate(feats)
    check_invariants(collate, feats, out, whole_words=True)
    sel = out["labels"] != -100
    for b, f in enumerate(feats):
        words = words_by_hand(list(f["input_ids"]))
        for w in {x for x in words if x is not None}:
            rows = [t for t, x in enumerate(words) if x == w]
            assert len(set(sel[b, rows].tolist())) == 1, (f["input_ids"], rows, sel[b].tolist())


def test_a_masked_row_hides_its_flags_on_the_sibling_rows():
    """Known answer: a 3-row word (5 = start, 6, 7 continue) with p = 1 on its second row only."""
    tok = StandInTokenizer()
    tok.word_start[[5, 8]], tok.word_start[[6, 7]] = True, False
    flags = [[0] * F, [1, 0, 1, 0, 0, 0, 0], [1, 0, 1, 0, 0, 0, 0], [1, 0, 1, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0, 0],
             [0] * F]
    feats = [{"input_ids": [0, 5, 6, 7, 8, 2], "flags": flags}]
    collate = R2DDataCollatorForMLM(tok, mlm_probability=1.0, seed=0)
    batch = collate.pad(feats)
    selected = torch.tensor([[False, False, True, False, False, False]])
    hidden = collate.words_of(batch["input_ids"], selected, batch["attention_mask"])
    assert hidden.tolist() == [[False, True, True, True, False, False]]


def test_p1_selects_every_candidate_row():
    feats = [{"input_ids": [0, 5, 6, 7, 2], "flags": [[0] * F] + [[1] * F] * 3 + [[0] * F]}]
    out = R2DDataCollatorForMLM(TOK, mlm_probability=1.0, seed=0)(feats)
    assert out["labels"].tolist() == [[-100, 5, 6, 7, -100]]


def test_padding_shapes_and_multiple():
    feats = [{"input_ids": np.array([0, 5, 2]), "flags": np.zeros((3, F), dtype=np.int8)},
             {"input_ids": torch.tensor([0, 5, 6, 7, 8, 2]), "flags": torch.ones(6, F, dtype=torch.long),
              "attention_mask": [1] * 6}]
    out = R2DDataCollatorForMLM(TOK, mlm_probability=0.0, pad_to_multiple_of=8)(feats)
    assert out["input_ids"].shape == (2, 8) and out["flags"].shape == (2, 8, F)
    assert out["input_ids"][0].tolist() == [0, 5, 2, 1, 1, 1, 1, 1]
    assert out["attention_mask"].tolist() == [[1, 1, 1, 0, 0, 0, 0, 0], [1] * 6 + [0, 0]]
    assert (out["flags"][0, 3:] == 0).all() and (out["labels"] == -100).all()


def test_proportions_match_bert_masking():
    rng = np.random.default_rng(0)
    feats = []
    for _ in range(64):
        ids = [0, *rng.integers(4, TOK.vocab_size - 1, 126).tolist(), 2]
        flags = rng.integers(0, 2, (128, F))
        flags[[0, -1]] = 0
        feats.append({"input_ids": ids, "flags": flags})
    collate = R2DDataCollatorForMLM(TOK, seed=1)
    orig = collate.pad(feats)
    out = collate(feats)
    sel = out["labels"] != -100
    n_cand = 64 * 126
    assert abs(sel.sum().item() / n_cand - 0.15) < 0.02
    masked = (out["input_ids"] == TOK.mask_token_id) & sel
    kept = sel & (out["input_ids"] == orig["input_ids"])
    random = sel & ~masked & (out["input_ids"] != orig["input_ids"])
    n = sel.sum().item()
    assert abs(masked.sum().item() / n - 0.8) < 0.04
    assert abs(random.sum().item() / n - 0.1) < 0.03
    assert abs(kept.sum().item() / n - 0.1) < 0.03


def test_same_seed_same_batch_and_bad_inputs():
    feats = [{"input_ids": [0, 5, 6, 2], "flags": [[0] * F, [1] * F, [0] * F, [0] * F]}]
    a = R2DDataCollatorForMLM(TOK, mlm_probability=0.5, seed=3)(feats)
    b = R2DDataCollatorForMLM(TOK, mlm_probability=0.5, seed=3)(feats)
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(KeyError, match="flags"):
        R2DDataCollatorForMLM(TOK)([{"input_ids": [0, 5, 2]}])
    with pytest.raises(ValueError, match="columns"):
        R2DDataCollatorForMLM(TOK)([{"input_ids": [0, 5, 2], "flags": [[0, 0]] * 3}])
    with pytest.raises(ValueError, match="mlm_probability"):
        R2DDataCollatorForMLM(TOK, mlm_probability=1.5)


def test_with_the_real_tokenizer():
    tok = real_tokenizer()
    texts = ["I enjoyed riding in Australia's parks.", "The community houses ran in the park.", "Walks"]
    enc = tok(texts)
    feats = [{"input_ids": i, "flags": f} for i, f in zip(enc["input_ids"], enc["flags"])]
    collate = R2DDataCollatorForMLM(tok, mlm_probability=1.0, whole_word_mask=True, seed=0)
    out = collate(feats)
    assert out["flags"].shape[-1] == tok.num_flags
    special = torch.isin(collate.pad(feats)["input_ids"], torch.tensor(tok.all_special_ids))
    assert torch.equal(out["labels"] != -100, ~special)
    assert torch.equal(out["hidden_flags"] == 1, ~special) and not out["flags"].any()
