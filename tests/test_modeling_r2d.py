"""Tests of the R2D models with tiny configs: shapes, losses, flag sensitivity, save/load through Auto classes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM, AutoModelForSequenceClassification

from r2d.modeling.encoder import (
    ARTICLE_FLAG_NAMES,
    FLAG_COMBINE_METHODS,
    R2DConfig,
    R2DForMaskedLM,
    R2DForSequenceClassification,
    R2DModel,
    flag_bce_loss,
    roberta_position_ids,
)

V, F = 100, 7


def tiny_config(**kw) -> R2DConfig:
    base = dict(vocab_size=V, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                max_position_embeddings=40, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    base.update(kw)
    return R2DConfig(**base)


def batch(seed: int = 0, b: int = 3, t: int = 9):
    """A padded batch: <s> ids </s> then pads (id 1), flags 0 on special/pad rows."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, V - 1, (b, t), generator=g)
    ids[:, 0] = 0
    lengths = [t, t - 2, 4][:b]
    for i, n in enumerate(lengths):
        ids[i, n - 1] = 2
        ids[i, n:] = 1
    special = (ids == 0) | (ids == 1) | (ids == 2)
    flags = torch.randint(0, 2, (b, t, F), generator=g) * (~special).unsqueeze(-1)
    return ids, (ids != 1).long(), flags


def mlm_labels(ids, flags, rows):
    labels = torch.full_like(ids, -100)
    flag_labels = torch.full_like(flags, -100)
    for i, j in rows:
        labels[i, j] = ids[i, j]
        flag_labels[i, j] = flags[i, j]
    return labels, flag_labels


def test_default_flag_names_match_the_schema():
    from r2d.flags import DEFAULT_FLAG_NAMES

    assert tuple(ARTICLE_FLAG_NAMES) == tuple(DEFAULT_FLAG_NAMES)
    assert tiny_config().flag_names == list(DEFAULT_FLAG_NAMES)


@pytest.mark.parametrize("combine", FLAG_COMBINE_METHODS)
@pytest.mark.parametrize("values", ["binary", "centered"])
def test_shapes_finite_loss_and_backward(combine, values):
    torch.manual_seed(0)
    model = R2DForMaskedLM(tiny_config(flag_combine=combine, flag_values=values))
    ids, att, flags = batch()
    labels, flag_labels = mlm_labels(ids, flags, [(0, 1), (0, 3), (1, 2), (2, 1)])
    hidden = (labels != -100).long()
    out = model(input_ids=ids, attention_mask=att, flags=flags * (1 - hidden).unsqueeze(-1), hidden_flags=hidden,
                labels=labels, flag_labels=flag_labels)
    assert out.logits.shape == (3, 9, V)
    assert out.flag_logits.shape == (3, 9, F)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    base = R2DModel(tiny_config(flag_combine=combine, flag_values=values))
    assert base(input_ids=ids, attention_mask=att, flags=flags).last_hidden_state.shape == (3, 9, 32)


@pytest.mark.parametrize("combine", FLAG_COMBINE_METHODS)
@pytest.mark.parametrize("values", ["binary", "centered"])
def test_a_hidden_row_is_not_an_all_off_row(combine, values):
    """The input of a row whose flags are hidden differs from a real all-off row and ignores the flag values."""
    torch.manual_seed(0)
    module = R2DModel(tiny_config(flag_combine=combine, flag_values=values)).flag_input
    embeds = torch.randn(1, 3, 32)
    off = torch.zeros(1, 3, F, dtype=torch.long)
    on = torch.ones(1, 3, F, dtype=torch.long)
    hidden = torch.tensor([[0, 1, 0]])
    shown = module(embeds, off)
    masked = module(embeds, off, hidden)
    assert not torch.allclose(masked[0, 1], shown[0, 1])
    torch.testing.assert_close(masked[0, [0, 2]], shown[0, [0, 2]])
    torch.testing.assert_close(module(embeds, on, hidden)[0, 1], masked[0, 1])


def test_flag_probs_are_calibrated_by_the_pos_weight():
    """Known answer: flag logits log(w * p / (1 - p)) give flag_probs p, with w the clamped pos_weight."""
    weights = [4.0, 4.0, 1.0, 9.0, 1.0, 1.0, 500.0]
    model = R2DForMaskedLM(tiny_config(flag_pos_weight=weights, flag_pos_weight_max=100.0)).eval()
    p = torch.tensor([0.5, 0.75, 0.5, 0.1, 0.9, 0.2, 0.5])
    w = torch.tensor([min(x, 100.0) for x in weights])
    with torch.no_grad():
        model.flag_head.decoder.weight.zero_()
        model.flag_head.decoder.bias.copy_(torch.log(w * p / (1 - p)))
        ids, att, flags = batch()
        out = model(input_ids=ids, attention_mask=att, flags=flags)
    torch.testing.assert_close(out.flag_probs, p.expand(3, 9, F), atol=1e-5, rtol=0)
    assert (out.flag_logits[..., 0] > 0).all()  # logit > 0 for a flag that is on half the time: uncalibrated


@pytest.mark.parametrize("weight", [1.0, 0.3])
def test_loss_identity(weight):
    torch.manual_seed(0)
    model = R2DForMaskedLM(tiny_config(flag_loss_weight=weight, flag_pos_weight=[0.5, 2, 3, 4, 5, 6, 5000]))
    ids, att, flags = batch(1)
    labels, flag_labels = mlm_labels(ids, flags, [(0, 2), (1, 5), (2, 2)])
    out = model(input_ids=ids, attention_mask=att, flags=flags, labels=labels, flag_labels=flag_labels)
    torch.testing.assert_close(out.loss, out.mlm_loss + weight * out.flag_loss)
    # the parts by hand: CE over labelled rows; BCE with clamped pos_weight over labelled rows only
    sel = labels != -100
    ce = torch.nn.functional.cross_entropy(out.logits[sel], labels[sel])
    pw = torch.tensor([0.5, 2, 3, 4, 5, 6, 100.0])  # 5000 clamped at the default max 100
    bce = torch.nn.BCEWithLogitsLoss(pos_weight=pw)(out.flag_logits[sel], flags[sel].float())
    torch.testing.assert_close(out.mlm_loss, ce)
    torch.testing.assert_close(out.flag_loss, bce)


def test_flag_loss_ignores_unlabelled_rows():
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(2, 4, F, generator=g)
    labels = torch.full((2, 4, F), -100)
    labels[1, 2] = torch.tensor([1, 0, 0, 1, 0, 0, 0])
    changed = logits.clone()
    changed[0] += 5.0  # rows without labels must not matter
    pw = torch.ones(F)
    assert flag_bce_loss(logits, labels, pw) == flag_bce_loss(changed, labels, pw)
    assert flag_bce_loss(logits, torch.full_like(labels, -100), pw) == 0


@pytest.mark.parametrize("combine", FLAG_COMBINE_METHODS)
def test_different_flags_give_different_outputs(combine):
    torch.manual_seed(0)
    model = R2DForMaskedLM(tiny_config(flag_combine=combine)).eval()
    ids, att, flags = batch(2)
    other = flags.clone()
    other[0, 1, 1] = 1 - other[0, 1, 1]  # flip FirstCap of one row
    with torch.no_grad():
        a = model(input_ids=ids, attention_mask=att, flags=flags)
        b = model(input_ids=ids, attention_mask=att, flags=other)
    assert not torch.allclose(a.logits[0], b.logits[0])
    assert not torch.allclose(a.flag_logits[0], b.flag_logits[0])
    torch.testing.assert_close(a.logits[1:], b.logits[1:])  # other sequences are untouched


def test_padding_does_not_change_real_rows():
    torch.manual_seed(0)
    model = R2DForMaskedLM(tiny_config()).eval()
    ids, att, flags = batch(4, b=1, t=6)
    ids[0, -1] = 2
    att = torch.ones_like(ids)
    padded = torch.cat([ids, torch.ones(1, 3, dtype=torch.long)], dim=1)
    pflags = torch.cat([flags, torch.zeros(1, 3, F, dtype=flags.dtype)], dim=1)
    with torch.no_grad():
        a = model(input_ids=ids, attention_mask=att, flags=flags).logits
        b = model(input_ids=padded, attention_mask=(padded != 1).long(), flags=pflags).logits
    torch.testing.assert_close(a, b[:, :6], atol=1e-5, rtol=1e-5)


def test_position_ids_follow_roberta():
    ids = torch.tensor([[0, 7, 8, 2, 1, 1], [0, 9, 2, 1, 1, 1]])
    assert roberta_position_ids(ids, 1).tolist() == [[2, 3, 4, 5, 1, 1], [2, 3, 4, 1, 1, 1]]


def test_word_embeddings_are_tied_to_the_lm_head():
    model = R2DForMaskedLM(tiny_config())
    assert model.lm_head.decoder.weight is model.r2d.get_input_embeddings().weight
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight


def test_concat_project_starts_as_identity_on_the_embedding():
    model = R2DModel(tiny_config())
    w = model.flag_input.weight.detach()
    torch.testing.assert_close(w[:, :32], torch.eye(32))


@pytest.mark.parametrize("combine", FLAG_COMBINE_METHODS)
def test_save_pretrained_roundtrip_through_auto_classes(tmp_path, combine):
    torch.manual_seed(0)
    model = R2DForMaskedLM(tiny_config(flag_combine=combine, flag_values="centered",
                                       flag_pos_weight=[1, 2, 3, 4, 5, 6, 7])).eval()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    assert AutoConfig.from_pretrained(tmp_path).model_type == "r2d"
    loaded = AutoModelForMaskedLM.from_pretrained(tmp_path).eval()
    assert type(loaded) is R2DForMaskedLM
    assert loaded.config.flag_combine == combine and loaded.config.flag_pos_weight == [1, 2, 3, 4, 5, 6, 7]
    ids, att, flags = batch(5)
    with torch.no_grad():
        a, b = model(input_ids=ids, attention_mask=att, flags=flags), loaded(input_ids=ids, attention_mask=att,
                                                                              flags=flags)
    assert torch.equal(a.logits, b.logits) and torch.equal(a.flag_logits, b.flag_logits)
    assert loaded.lm_head.decoder.weight is loaded.r2d.get_input_embeddings().weight
    encoder = AutoModel.from_pretrained(tmp_path)
    assert type(encoder) is R2DModel
    torch.testing.assert_close(encoder.get_input_embeddings().weight, model.get_input_embeddings().weight)


@pytest.mark.parametrize(
    ("num_labels", "labels", "problem"),
    [
        (3, torch.tensor([0, 2, 1]), "single_label_classification"),
        (1, torch.tensor([0.5, 2.0, -1.0]), "regression"),
        (2, torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]), "multi_label_classification"),
    ],
)
def test_sequence_classification_problem_types(tmp_path, num_labels, labels, problem):
    torch.manual_seed(0)
    R2DForMaskedLM(tiny_config()).save_pretrained(tmp_path)
    model, info = AutoModelForSequenceClassification.from_pretrained(tmp_path, num_labels=num_labels,
                                                                     output_loading_info=True)
    assert type(model) is R2DForSequenceClassification
    # the MLM's root and flag heads are dropped on purpose; only the new classifier is missing
    assert not info["unexpected_keys"]
    assert info["missing_keys"] and all(k.startswith("classifier.") for k in info["missing_keys"])
    ids, att, flags = batch(6)
    out = model(input_ids=ids, attention_mask=att, flags=flags, labels=labels)
    assert out.logits.shape == (3, num_labels)
    assert model.config.problem_type == problem
    assert torch.isfinite(out.loss)
    out.loss.backward()


def test_bad_config_and_inputs_name_the_problem():
    with pytest.raises(ValueError, match="flag_combine"):
        tiny_config(flag_combine="sum")
    with pytest.raises(ValueError, match="flag_pos_weight"):
        tiny_config(flag_pos_weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="num_flags"):
        tiny_config(num_flags=3, flag_names=["a", "b"])
    model = R2DModel(tiny_config())
    ids, att, flags = batch()
    with pytest.raises(ValueError, match="flags"):
        model(input_ids=ids, attention_mask=att)
    with pytest.raises(ValueError, match="shape"):
        model(input_ids=ids, attention_mask=att, flags=flags[..., :3])
    with pytest.raises(ValueError, match="hidden_flags"):
        model(input_ids=ids, attention_mask=att, flags=flags, hidden_flags=ids[:, :3])


def test_custom_flag_schema():
    config = tiny_config(flag_names=["NoSpace", "FirstCap", "Prefix_un"])
    assert config.num_flags == 3
    model = R2DForMaskedLM(config)
    ids, att, _ = batch()
    out = model(input_ids=ids, attention_mask=att, flags=torch.zeros(3, 9, 3, dtype=torch.long))
    assert out.flag_logits.shape == (3, 9, 3)


def test_gradient_checkpointing_and_bf16_run():
    torch.manual_seed(0)
    model = R2DForMaskedLM(tiny_config())
    model.activation_checkpointing_enable()
    model.train()
    ids, att, flags = batch()
    labels, flag_labels = mlm_labels(ids, flags, [(0, 1), (1, 1)])
    model(input_ids=ids, attention_mask=att, flags=flags, labels=labels, flag_labels=flag_labels).loss.backward()
    model = model.to(torch.bfloat16).eval()
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=att, flags=flags, labels=labels, flag_labels=flag_labels)
    assert out.logits.dtype == torch.bfloat16 and np.isfinite(out.loss.item())


def test_tiny_model_learns_the_flags_end_to_end():
    """Tokenizer -> collator -> model: a tiny R2D trained on some sentences predicts the hidden flags of others."""
    import random

    from r2d.modeling.collator import R2DDataCollatorForMLM
    from r2d.tokenizer.hf import R2DTokenizer
    from r2d.training.flag_metrics import flag_metrics

    words = "the park parks ride riding enjoyed Australia Australia's in of and a I NASA It's walked walking".split()
    tok = R2DTokenizer.train(word_counts={w: 10 for w in words}, vocab_size=300)
    rng = random.Random(0)

    def sentences(n: int) -> list[str]:
        return [" ".join(rng.choice(words) for _ in range(rng.randint(4, 9))) + rng.choice([".", ",", "!"])
                for _ in range(n)]

    def features(texts):
        enc = tok(texts)
        return [{"input_ids": i, "flags": f} for i, f in zip(enc["input_ids"], enc["flags"])]

    train, held_out = features(sentences(48)), features(sentences(16))
    torch.manual_seed(0)
    model = R2DForMaskedLM(tiny_config(vocab_size=len(tok), max_position_embeddings=64))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    collate = R2DDataCollatorForMLM(tok, mlm_probability=0.3, seed=0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # subtle: tiny ops on a busy shared CPU are much faster on one thread
    try:
        for step in range(200):
            out = model(**collate(train[(step % 3) * 16:(step % 3 + 1) * 16]))
            opt.zero_grad()
            out.loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    model.eval()
    batch = R2DDataCollatorForMLM(tok, mlm_probability=0.3, seed=123)(held_out)
    with torch.no_grad():
        res = model(**batch)
    m = flag_metrics(res.flag_probs, batch["flag_labels"], tok.flag_names)
    # NoSpace (punctuation, the pieces after a word's first) and AllCaps (both rows of nas|a) follow from the
    # roots; held-out F1 well above predicting "on" everywhere means the model learnt them, not the sentences
    for name, floor in (("NoSpace", 0.9), ("AllCaps", 0.7)):
        assert m[f"f1_{name}"] >= floor and m[f"f1_{name}"] > m[f"always_on_f1_{name}"] + 0.3, m


@pytest.mark.parametrize("kind", ["r2d", "roberta"])
def test_labelled_rows_only_gives_the_same_loss_and_gradients(kind):
    """The training forward that projects only labelled rows equals the full projection."""
    from transformers import RobertaConfig

    from r2d.modeling.encoder import RobertaForMaskedLMLabelledRows

    ids, att, flags = batch()
    labels, flag_labels = mlm_labels(ids, flags, [(0, 1), (0, 3), (1, 2), (2, 1)])

    def run(sparse: bool):
        torch.manual_seed(0)
        if kind == "r2d":
            model = R2DForMaskedLM(tiny_config())
            model.labelled_rows_only = sparse
            kw = dict(flags=flags, labels=labels, flag_labels=flag_labels)
        else:
            cfg = RobertaConfig(**{k: v for k, v in tiny_config().to_dict().items()
                                   if k in RobertaConfig().to_dict() and k not in ("model_type", "architectures")})
            model = RobertaForMaskedLMLabelledRows(cfg)
            model.train(sparse)  # eval mode (no dropout here) takes RoBERTa's own full-projection path
            kw = dict(labels=labels)
        out = model(input_ids=ids, attention_mask=att, **kw)
        out.loss.backward()
        return out, {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    full, g_full = run(False)
    sparse, g_sparse = run(True)
    assert full.logits.shape == (3, 9, V) and sparse.logits.shape == (4, V)  # 4 labelled rows
    assert torch.allclose(sparse.logits, full.logits[labels != -100], atol=1e-5)
    assert sparse.loss.item() == pytest.approx(full.loss.item(), rel=1e-5)
    assert g_sparse.keys() == g_full.keys()
    for n in g_full:
        assert torch.allclose(g_sparse[n], g_full[n], atol=1e-6), n


def test_one_model_class_registers_both_model_types_with_the_auto_classes(tmp_path):
    """In a fresh interpreter: ``from r2d import R2DConfig`` is enough for AutoModelForMaskedLM to load an R2D MLM
    folder, for AutoModelForCausalLM to build the causal model from its model type, and for AutoTokenizer to load
    a saved R2D tokenizer folder."""
    import subprocess
    import sys

    script = f"""
from r2d import R2DConfig
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForMaskedLM
cfg = R2DConfig(vocab_size=40, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16)
AutoModelForMaskedLM.from_config(cfg).save_pretrained({str(tmp_path / "mlm")!r})
print(type(AutoModelForMaskedLM.from_pretrained({str(tmp_path / "mlm")!r})).__name__)
causal = AutoConfig.for_model("r2d_causal", vocab_size=40, hidden_size=8, num_hidden_layers=1,
                              num_attention_heads=2, intermediate_size=16)
print(type(AutoModelForCausalLM.from_config(causal)).__name__)
from transformers import AutoTokenizer
from r2d import R2DTokenizer
R2DTokenizer.from_pretrained("r2d-en").save_pretrained({str(tmp_path / "tok")!r})
print(type(AutoTokenizer.from_pretrained({str(tmp_path / "tok")!r})).__name__)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["R2DForMaskedLM", "R2DForCausalLM", "R2DTokenizer"]


def test_import_r2d_alone_registers_every_class_with_the_auto_classes(tmp_path, tiny_tok):
    """In fresh interpreters: ``import r2d`` stays light (no torch, no transformers) and is enough for every Auto
    class to load r2d folders, whether transformers is imported after r2d or before it."""
    import subprocess
    import sys

    from r2d.modeling.causal import R2DCausalConfig, R2DForCausalLM

    small = dict(hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16)
    R2DForMaskedLM(tiny_config(**small)).save_pretrained(tmp_path / "mlm")
    R2DForCausalLM(R2DCausalConfig(vocab_size=len(tiny_tok), **small)).save_pretrained(tmp_path / "clm")
    tiny_tok.save_pretrained(str(tmp_path / "clm"))
    load = f"""
import transformers as t
folders = {{"mlm": {str(tmp_path / "mlm")!r}, "clm": {str(tmp_path / "clm")!r}}}
for auto, kind in [("AutoConfig", "mlm"), ("AutoConfig", "clm"), ("AutoModel", "mlm"), ("AutoModelForMaskedLM", "mlm"),
                   ("AutoModelForSequenceClassification", "mlm"), ("AutoModelForCausalLM", "clm"),
                   ("AutoModelForSequenceClassification", "clm"), ("AutoTokenizer", "clm")]:
    print(type(getattr(t, auto).from_pretrained(folders[kind])).__name__)
"""
    expected = ["R2DConfig", "R2DCausalConfig", "R2DModel", "R2DForMaskedLM", "R2DForSequenceClassification",
                "R2DForCausalLM", "R2DCausalForSequenceClassification", "R2DTokenizer"]
    after = "import sys\nimport r2d\nprint('torch' in sys.modules, 'transformers' in sys.modules)\n" + load
    before = "import transformers.models.auto.modeling_auto, transformers.models.auto.tokenization_auto\nimport r2d\n" + load
    lazy = "from transformers import AutoModelForCausalLM\nimport r2d\n" + load  # modeling_auto loaded, tokenizers not
    for script, head in [(after, ["False", "False"]), (before, []), (lazy, [])]:
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.split() == head + expected
