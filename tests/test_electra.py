"""Tests of the ELECTRA pair: corruption and targets by hand, the R2D and 1D models with tiny configs, save/load
through the Auto classes, fine-tuning from the discriminator."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoModelForPreTraining, AutoModelForSequenceClassification

from r2d.modeling.electra import (
    SPECIAL,
    ElectraTwinConfig,
    ElectraTwinForPreTraining,
    ElectraTwinForSequenceClassification,
    R2DElectraConfig,
    R2DElectraForPreTraining,
    R2DElectraForSequenceClassification,
    corrupt,
    electra_collator,
    electra_targets,
    observed_flag_patterns,
    sample_flags,
    vocab_kinds,
)

# A hand-made vocabulary: <s> <pad> </s> <unk> <mask>, word starts 5-8, continuation pieces 9-11.
V, F = 12, 2
WORD_STARTS = [False] * 5 + [True] * 4 + [False] * 3
KINDS = vocab_kinds(V, WORD_STARTS, [0, 1, 2, 3, 4])
SIZES = dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=64,
             max_position_embeddings=40, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)

# <s> [5] [6 9 10] [7] </s> <pad>: three words, the second of three pieces; every row carries its word's flags
IDS = torch.tensor([[0, 5, 6, 9, 10, 7, 2, 1]])
FLAGS = torch.tensor([[[0, 0], [1, 0], [0, 1], [0, 1], [0, 1], [0, 0], [0, 0], [0, 0]]])


class Vocab:
    """The attributes of a tokenizer that ``set_vocabulary`` and the collator read."""

    pad_token_id, mask_token_id, all_special_ids, num_flags, flag_names = 1, 4, [0, 1, 2, 3, 4], F, ["a", "b"]
    word_start = np.array(WORD_STARTS)

    def __len__(self):
        return V


def r2d_config(**kw) -> R2DElectraConfig:
    return R2DElectraConfig(**{**dict(vocab_size=V, num_flags=F, **SIZES), **kw})


def twin_config(**kw) -> ElectraTwinConfig:
    return ElectraTwinConfig(**{**dict(vocab_size=V, **SIZES), **kw})


def r2d_batch(seed: int = 0):
    """An ELECTRA batch of :data:`Vocab`: two sequences of random words (1-3 pieces, one flag row each)."""
    rng = np.random.default_rng(seed)
    examples = []
    for n_words in (6, 3):
        ids, flags = [0], [[0, 0]]
        for _ in range(n_words):
            pieces = [int(rng.integers(5, 9))] + [int(i) for i in rng.integers(9, 12, rng.integers(0, 3))]
            ids += pieces
            flags += [list(rng.integers(0, 2, F))] * len(pieces)
        examples.append({"input_ids": ids + [2], "flags": flags + [[0, 0]]})
    collate = electra_collator(Vocab(), mlm_probability=0.5)
    torch.manual_seed(seed)
    return collate(examples)


def test_targets_known_answer():
    # word 1 sampled back to itself (not replaced) with flag b switched on; word 2's first piece replaced (8 for 6),
    # its second sampled back to itself, its third replaced (11 for 10), flag a switched on in all three rows
    corrupted_ids = torch.tensor([[0, 5, 8, 9, 11, 7, 2, 1]])
    corrupted_flags = torch.tensor([[[0, 0], [1, 1], [1, 1], [1, 1], [1, 1], [0, 0], [0, 0], [0, 0]]])
    replaced, changed = electra_targets(IDS, FLAGS, corrupted_ids, corrupted_flags, vocab_kind=KINDS)
    assert replaced.tolist() == [[-100, 0, 1, 0, 1, 0, -100, -100]]
    ignore = [-100, -100]
    assert changed.tolist() == [[ignore, [0, 1], [1, 0], ignore, ignore, [0, 0], ignore, ignore]]


def test_corrupt_samples_by_kind_and_draws_a_words_flags_once_from_the_sampled_root():
    masked = torch.tensor([[False, True, True, True, True, False, False, False]])  # words 1 and 2
    logits = torch.zeros(4, V)
    logits[0, 5] = 50.0  # row 1: its own root back
    logits[1, 10], logits[1, 8] = 60.0, 50.0  # row 2 starts a word: the continuation piece 10 is not allowed
    logits[2, 9] = 50.0
    logits[3, 4], logits[3, 11] = 90.0, 50.0  # <mask> is never sampled
    seen = []

    def flag_logits_of(roots):  # root 8 takes both flags, root 5 only the first
        seen.append(roots.tolist())
        table = torch.full((V, F), -30.0)
        table[8] = 30.0
        table[5, 0] = 30.0
        return table[roots]

    ids, flags = corrupt(IDS, FLAGS, masked, logits, vocab_kind=KINDS, flag_logits_of=flag_logits_of,
                         generator=torch.Generator().manual_seed(0))
    assert ids.tolist() == [[0, 5, 8, 9, 11, 7, 2, 1]]
    assert seen == [[5, 8, 9, 11]]  # the flags are asked of the sampled roots
    assert flags.tolist() == [[[0, 0], [1, 0], [1, 1], [1, 1], [1, 1], [0, 0], [0, 0], [0, 0]]]
    replaced, changed = electra_targets(IDS, FLAGS, ids, flags, vocab_kind=KINDS)
    assert replaced.tolist() == [[-100, 0, 1, 0, 1, 0, -100, -100]]
    assert changed[0, 1].tolist() == [0, 0] and changed[0, 2].tolist() == [1, 0]


def test_flags_are_drawn_among_the_patterns_that_occur():
    g = torch.Generator().manual_seed(0)
    both_likely = torch.full((500, F), 8.0)
    assert sample_flags(both_likely, generator=g).all(-1).any()  # independent draws make [1, 1]
    patterns = torch.tensor(observed_flag_patterns([np.array([[0, 0], [1, 0]]), np.array([[0, 1]])]))
    drawn = sample_flags(both_likely, patterns, generator=g)
    assert not drawn.all(-1).any()
    assert set(map(tuple, drawn.tolist())) == {(1, 0), (0, 1)}


@pytest.mark.parametrize("seed", range(5))
def test_corruption_never_touches_special_or_padding_rows(seed):
    batch = r2d_batch(seed)
    ids = torch.where(batch["labels"].ne(-100), batch["labels"], batch["input_ids"])
    flags = torch.where(batch["flag_labels"].ne(-100), batch["flag_labels"], batch["flags"])
    masked = batch["labels"].ne(-100)
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(int(masked.sum()), V, generator=g)
    logits[:, :5] += 100.0  # the generator prefers special ids: never drawn
    out_ids, out_flags = corrupt(ids, flags, masked, logits, vocab_kind=KINDS,
                                 flag_logits_of=lambda roots: torch.randn(len(roots), F, generator=g), generator=g)
    special = KINDS[ids] == SPECIAL
    assert torch.equal(out_ids[special], ids[special]) and torch.equal(out_flags[special], flags[special])
    assert torch.equal(out_ids[~masked], ids[~masked])
    assert torch.equal(KINDS[out_ids], KINDS[ids])  # every row keeps its kind: words keep their rows
    with pytest.raises(ValueError, match="special and padding rows"):
        corrupt(ids, flags, masked | special, torch.zeros(int((masked | special).sum()), V), vocab_kind=KINDS)


def test_sampled_replacement_flags_come_from_the_generator_flag_head():
    torch.manual_seed(0)
    model = R2DElectraForPreTraining(r2d_config()).eval()
    model.set_vocabulary(Vocab())
    batch = r2d_batch(1)
    masked = batch["labels"].ne(-100)
    for bias in ([40.0, -40.0], [-40.0, 40.0]):
        with torch.no_grad():
            model.generator_flag_head.decoder.weight.zero_()
            model.generator_flag_head.decoder.bias.copy_(torch.tensor(bias))
            out = model(**batch, sampler=torch.Generator().manual_seed(0))
        assert (out.corrupted_flags[masked] == torch.tensor(bias).gt(0).long()).all()
        assert torch.equal(out.corrupted_flags[~masked], batch["flags"][~masked])


def test_r2d_forward_backward_finite_and_every_parameter_takes_part():
    torch.manual_seed(0)
    config = r2d_config(flag_change_pos_weight=[3.0, 5.0], flag_patterns=[[0, 0], [1, 0], [0, 1], [1, 1]])
    model = R2DElectraForPreTraining(config)
    model.set_vocabulary(Vocab())
    out = model(**r2d_batch(2))
    assert out.logits.shape == out.replaced_labels.shape == (2, out.corrupted_ids.shape[1])
    assert out.flag_change_logits.shape == out.flag_change_labels.shape == (*out.logits.shape, F)
    parts = (out.mlm_loss, out.flag_loss, out.replaced_loss, out.flag_change_loss)
    assert all(torch.isfinite(p) for p in parts)
    torch.testing.assert_close(out.loss, parts[0] + parts[1] + 50.0 * (parts[2] + parts[3]))
    out.loss.backward()
    unused = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not unused  # DDP with find_unused_parameters=False needs every parameter in every step
    assert model.generator.config.num_hidden_layers == 1 and model.r2d.config.num_hidden_layers == 3


def test_narrower_generator_without_shared_embeddings():
    with pytest.raises(ValueError, match="share_embeddings"):
        r2d_config(generator_hidden_size=16)
    model = R2DElectraForPreTraining(r2d_config(generator_hidden_size=16, generator_num_attention_heads=2,
                                                share_embeddings=False))
    model.set_vocabulary(Vocab())
    assert model.generator_lm_head.decoder.weight is model.generator.get_input_embeddings().weight
    assert model.generator.get_input_embeddings().weight.shape == (V, 16)
    assert torch.isfinite(model(**r2d_batch(3)).loss)


def test_twin_forward_backward_finite():
    torch.manual_seed(0)
    model = ElectraTwinForPreTraining(twin_config())
    model.set_vocabulary(Vocab())
    batch = {k: v for k, v in r2d_batch(4).items() if k in ("input_ids", "attention_mask", "labels")}
    out = model(**batch)
    assert out.flag_change_logits is None and out.flag_loss is None
    torch.testing.assert_close(out.loss, out.mlm_loss + 50.0 * out.replaced_loss)
    out.loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    masked = batch["labels"].ne(-100)
    ids = torch.where(masked, batch["labels"], batch["input_ids"])
    assert torch.equal(KINDS[out.corrupted_ids], KINDS[ids]) and torch.equal(out.corrupted_ids[~masked], ids[~masked])


@pytest.mark.parametrize("kind", ["r2d", "twin"])
def test_save_auto_load_same_outputs_and_fine_tune_from_the_discriminator(tmp_path, kind):
    torch.manual_seed(0)
    r2d = kind == "r2d"
    model = (R2DElectraForPreTraining(r2d_config()) if r2d else ElectraTwinForPreTraining(twin_config())).eval()
    model.set_vocabulary(Vocab())
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    assert type(AutoConfig.from_pretrained(tmp_path)) is type(model.config)
    loaded = AutoModelForPreTraining.from_pretrained(tmp_path).eval()
    assert type(loaded) is type(model) and torch.equal(loaded.vocab_kind, KINDS)
    embeddings = loaded.get_input_embeddings().weight
    assert loaded.generator.get_input_embeddings().weight is embeddings
    assert (loaded.generator_lm_head.decoder if r2d else loaded.generator_lm_head).weight is embeddings
    batch = r2d_batch(5) if r2d else {k: v for k, v in r2d_batch(5).items() if k in ("input_ids", "attention_mask",
                                                                                       "labels")}
    with torch.no_grad():
        a, b = (m(**batch, sampler=torch.Generator().manual_seed(1)) for m in (model, loaded))
    assert torch.equal(a.corrupted_ids, b.corrupted_ids) and torch.equal(a.logits, b.logits)
    assert torch.equal(a.loss, b.loss)

    tuned, info = AutoModelForSequenceClassification.from_pretrained(tmp_path, num_labels=2,
                                                                     output_loading_info=True)
    assert type(tuned) is (R2DElectraForSequenceClassification if r2d else ElectraTwinForSequenceClassification)
    assert not info["unexpected_keys"]
    assert info["missing_keys"] and all(k.startswith("classifier.") for k in info["missing_keys"])
    encoder = "r2d" if r2d else "electra"
    for name, p in getattr(model, encoder).state_dict().items():
        assert torch.equal(getattr(tuned, encoder).state_dict()[name], p), name
    inputs = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "flags")}
    if r2d:
        inputs["flags"] = torch.where(batch["flag_labels"].ne(-100), batch["flag_labels"], batch["flags"])
    out = tuned(**inputs, labels=torch.tensor([0, 1]))
    assert out.logits.shape == (2, 2) and torch.isfinite(out.loss)
    out.loss.backward()


def test_real_tokenizer_batches_keep_word_structure(tiny_tok):
    torch.manual_seed(0)
    model = R2DElectraForPreTraining(R2DElectraConfig(vocab_size=len(tiny_tok), **SIZES))
    model.set_vocabulary(tiny_tok)
    enc = tiny_tok(["I enjoyed riding in Australia's parks.", "The dogs were riding; NASA's parks enjoyed it."])
    examples = [{"input_ids": i, "flags": f} for i, f in zip(enc["input_ids"], enc["flags"])]
    batch = electra_collator(tiny_tok, mlm_probability=0.5)(examples)
    assert (batch["input_ids"][batch["labels"].ne(-100)] == tiny_tok.mask_token_id).all()
    out = model(**batch)
    ids = torch.where(batch["labels"].ne(-100), batch["labels"], batch["input_ids"])
    kinds = model.vocab_kind
    assert torch.equal(kinds[out.corrupted_ids], kinds[ids])
    decoded = [tiny_tok.decode(i.tolist(), f.tolist()) for i, f in zip(out.corrupted_ids, out.corrupted_flags)]
    assert all(isinstance(text, str) for text in decoded)
    assert torch.isfinite(out.loss)


def test_twin_on_the_byte_level_bpe_keeps_word_structure():
    from r2d.tokenizer.baseline import roberta_tokenizer

    torch.manual_seed(0)
    tok = roberta_tokenizer()
    model = ElectraTwinForPreTraining(ElectraTwinConfig(vocab_size=len(tok), **SIZES))
    model.set_vocabulary(tok)
    assert model.vocab_kind[tok.mask_token_id] == SPECIAL
    enc = tok(["I enjoyed riding in Australia's parks.", "The dogs were riding; NASA's parks enjoyed it."])
    batch = electra_collator(tok, mlm_probability=0.5)([{"input_ids": i} for i in enc["input_ids"]])
    assert sorted(batch) == ["attention_mask", "input_ids", "labels"]
    out = model(**batch)
    ids = torch.where(batch["labels"].ne(-100), batch["labels"], batch["input_ids"])
    assert torch.equal(model.vocab_kind[out.corrupted_ids], model.vocab_kind[ids]) and torch.isfinite(out.loss)


def test_config_fields_name_the_problem():
    with pytest.raises(ValueError, match="flag_change_pos_weight"):
        r2d_config(flag_change_pos_weight=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="flag_patterns"):
        r2d_config(flag_patterns=[[0, 2]])
    with pytest.raises(ValueError, match="discriminator_weight"):
        twin_config(discriminator_weight=0)
    assert r2d_config(flag_change_pos_weight=4).flag_change_pos_weight == [4.0, 4.0]
    assert twin_config().embedding_size == 32 and twin_config().generator_config().num_hidden_layers == 1


def test_import_r2d_alone_registers_the_electra_classes(tmp_path):
    """In a fresh interpreter, ``import r2d`` is enough for the Auto classes to load both ELECTRA kinds."""
    import subprocess
    import sys

    small = dict(hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16)
    R2DElectraForPreTraining(r2d_config(**small)).save_pretrained(tmp_path / "r2d")
    ElectraTwinForPreTraining(twin_config(**small)).save_pretrained(tmp_path / "twin")
    script = f"""
import r2d
import transformers as t
for folder in ({str(tmp_path / "r2d")!r}, {str(tmp_path / "twin")!r}):
    for auto in ("AutoModelForPreTraining", "AutoModelForSequenceClassification"):
        print(type(getattr(t, auto).from_pretrained(folder)).__name__)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["R2DElectraForPreTraining", "R2DElectraForSequenceClassification",
                                  "ElectraTwinForPreTraining", "ElectraTwinForSequenceClassification"]
