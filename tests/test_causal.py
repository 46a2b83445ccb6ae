"""The causal 2D model and its 1D twin: shapes, the loss contract (fixed flags cost 0), caching, save/load."""

import math

import numpy as np
import pytest
import torch

from r2d.modeling.causal import R2DCausalConfig, R2DForCausalLM, causal_targets, row_nll
from r2d.modeling.causal_data import CausalCollator, RowCodec
from conftest import TINY_TEXTS

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
            max_position_embeddings=128)


def tiny_causal_lm(codec: RowCodec, *, seed: int = 0, **overrides) -> R2DForCausalLM:
    """A tiny causal model that fits ``codec`` (R2D when it has flags, the twin otherwise)."""
    torch.manual_seed(seed)
    config = R2DCausalConfig(vocab_size=codec.vocab_size, num_flags=codec.num_flags,
                             flag_names=list(codec.flag_names), **{**TINY, **overrides})
    return R2DForCausalLM(config).eval()


def saved_tiny_causal_lm(folder, codec: RowCodec):
    """``folder`` holding :func:`tiny_causal_lm` and its tokenizer, as ``r2d pretrain`` leaves ``OUT/model``."""
    tiny_causal_lm(codec).save_pretrained(folder)
    codec.tokenizer.save_pretrained(str(folder))
    return folder


def tiny_bpe_twin(vocab_size: int = 300):
    """A byte-level BPE (RoBERTa layout) trained on the same tiny texts as the tiny R2D tokenizer."""
    from r2d.tokenizer.baseline import train_byte_level_bpe

    return train_byte_level_bpe(TINY_TEXTS, vocab_size, min_frequency=1)


@pytest.fixture(scope="module")
def codec(tiny_tok):
    return RowCodec(tiny_tok)


@pytest.fixture(scope="module")
def twin_codec():
    return RowCodec(tiny_bpe_twin())


def batch_of(codec: RowCodec, texts):
    return CausalCollator.for_codec(codec)([{"input_ids": i, "flags": f} for i, f in codec.encode(texts)])


@pytest.mark.parametrize("combine", ["concat_project", "truncate_concat", "linear_sum"])
def test_shapes_finite_loss_and_backward(codec, combine):
    model = tiny_causal_lm(codec, flag_combine=combine).train()
    batch = batch_of(codec, ["The dogs were riding.", "McDonald riding in Australia's parks."])
    b, t = batch["input_ids"].shape
    out = model(**batch)
    assert out.logits.shape == (b, t, codec.vocab_size)
    assert out.flag_logits.shape == (b, t - 1, codec.num_flags)
    assert torch.isfinite(out.loss) and out.loss > 0
    assert torch.allclose(out.loss, out.root_loss + out.flag_loss)
    out.loss.backward()
    assert model.flag_head.dense.weight.grad.abs().sum() > 0
    if combine != "truncate_concat":
        assert model.flag_input.weight.grad.abs().sum() > 0


def test_the_twin_is_the_same_class_without_flags(twin_codec):
    model = tiny_causal_lm(twin_codec).train()
    assert model.flag_input is None and model.flag_head is None and model.config.flag_names == []
    batch = batch_of(twin_codec, ["The dogs were riding.", "Hello world"])
    assert "flags" not in batch
    out = model(**batch)
    assert out.flag_logits is None and out.flag_loss == 0
    out.loss.backward()
    assert torch.isfinite(out.loss)


def test_the_flag_input_is_the_mlm_models_module(codec):
    from r2d.modeling import encoder

    model = tiny_causal_lm(codec)
    assert type(model.flag_input) is encoder.R2DFlagInput
    h = model.config.hidden_size
    assert torch.equal(model.flag_input.weight[:, :h], torch.eye(h))  # starts as the plain embedding


def test_targets_predict_every_row_but_bos_and_padding_and_only_word_start_flags(codec, tiny_tok):
    batch = batch_of(codec, ["Zorping dogs", "The dogs"])
    ids, labels, flag_labels = batch["input_ids"], batch["labels"], batch["flag_labels"]
    tokens = tiny_tok.convert_ids_to_tokens(ids[0].tolist())
    assert tokens[:4] == ["<s>", "▁", "z", "or"] and tokens[-2:] == ["▁dog", "</s>"]
    assert labels[0, 0] == -100 and (labels[0, 1:] == ids[0, 1:]).all()
    free = [t.startswith("▁") for t in tokens]
    assert ((flag_labels[0] != -100).all(-1) == torch.tensor(free)).all()
    assert (flag_labels[0][torch.tensor(free)] == batch["flags"][0][torch.tensor(free)]).all()
    pad = batch["attention_mask"][1] == 0
    assert pad.any() and (labels[1][pad] == -100).all() and (flag_labels[1][pad] == -100).all()


def test_known_answer_heads_that_output_zeros(codec):
    """Zero root logits cost ln V per predicted row; zero flag logits ln 2 per free flag; fixed flags 0."""
    model = tiny_causal_lm(codec)
    with torch.no_grad():
        model.model.norm.weight.zero_()  # hidden states 0 -> root logits 0
        model.flag_head.decoder.weight.zero_()
        model.flag_head.decoder.bias.zero_()
    batch = batch_of(codec, ["Zorping dogs", "McDonald riding in Australia's parks."])
    out = model(**batch)
    predicted = int((batch["labels"][:, 1:] != -100).sum())
    free_rows = int((batch["flag_labels"][:, 1:, 0] != -100).sum())
    assert free_rows < predicted  # continuation pieces and </s> are predicted with fixed flags
    expected = math.log(codec.vocab_size) + free_rows * codec.num_flags * math.log(2) / predicted
    assert out.loss.item() == pytest.approx(expected, rel=1e-5)
    root, flag = row_nll(out.logits, out.flag_logits, batch["labels"], batch["flag_labels"])
    fixed = batch["flag_labels"][:, 1:, 0] == -100
    assert (flag[fixed] == 0).all() and torch.allclose(flag[~fixed], torch.tensor(7 * math.log(2)))


def test_fixed_flags_cost_nothing_whatever_the_flag_head_says(codec):
    model = tiny_causal_lm(codec)
    batch = batch_of(codec, ["Zorping dogs"])
    base = model(**batch)
    with torch.no_grad():
        model.flag_head.decoder.bias.add_(5.0)
    moved = model(**batch)
    root, flag = row_nll(moved.logits, moved.flag_logits, batch["labels"], batch["flag_labels"])
    fixed = batch["flag_labels"][:, 1:, 0] == -100
    assert fixed.sum() >= 6 and (flag[fixed] == 0).all()
    assert torch.allclose(base.root_loss, moved.root_loss) and not torch.allclose(base.flag_loss, moved.flag_loss)


def test_flags_are_conditioned_on_the_next_root_and_nothing_sees_the_future(codec):
    model = tiny_causal_lm(codec)
    batch = batch_of(codec, ["The dogs were riding."])
    ids = batch["input_ids"]
    changed = ids.clone()
    changed[0, 4] = (ids[0, 4] + 7) % codec.vocab_size
    a = model(input_ids=ids, flags=batch["flags"])
    b = model(input_ids=changed, flags=batch["flags"])
    assert torch.allclose(a.logits[:, :4], b.logits[:, :4], atol=1e-6)  # causal
    assert torch.allclose(a.flag_logits[:, :3], b.flag_logits[:, :3], atol=1e-6)
    assert not torch.allclose(a.flag_logits[:, 3], b.flag_logits[:, 3])  # row 4's flags given row 4's root


@pytest.mark.parametrize("kind", ["r2d", "twin"])
def test_cached_and_uncached_logits_agree(codec, twin_codec, kind):
    from transformers import DynamicCache

    c = codec if kind == "r2d" else twin_codec
    model = tiny_causal_lm(c)
    batch = batch_of(c, ["McDonald riding in Australia's parks."])
    ids, flags = batch["input_ids"], batch.get("flags")
    full = model(input_ids=ids, flags=flags).logits  # (1, T, V)
    cache = DynamicCache(config=model.config)
    k = 3
    steps = [model(input_ids=ids[:, :k], flags=None if flags is None else flags[:, :k], cache=cache,
                   use_cache=True).logits]
    for t in range(k, ids.size(1)):
        steps.append(model(input_ids=ids[:, t:t + 1], flags=None if flags is None else flags[:, t:t + 1],
                           cache=cache, use_cache=True).logits)
    assert torch.allclose(torch.cat(steps, dim=1), full, atol=1e-5)


def test_left_padding_changes_nothing(codec):
    model = tiny_causal_lm(codec)
    (ids, flags), = codec.encode(["The dogs were riding."])
    ids, flags = torch.tensor([ids]), torch.as_tensor(flags[None].astype(np.int64))
    alone = model(input_ids=ids, flags=flags).logits
    pad = torch.full((1, 3), codec.pad_token_id)
    padded = model(input_ids=torch.cat([pad, ids], 1), flags=torch.cat([torch.zeros(1, 3, 7, dtype=torch.long), flags], 1),
                   attention_mask=torch.cat([torch.zeros(1, 3), torch.ones_like(ids)], 1).long()).logits
    assert torch.allclose(padded[:, 3:], alone, atol=1e-5)


@pytest.mark.parametrize("kind", ["r2d", "twin"])
def test_save_and_load_through_auto_classes(tmp_path, codec, twin_codec, kind):
    from transformers import AutoConfig, AutoModelForCausalLM

    c = codec if kind == "r2d" else twin_codec
    model = tiny_causal_lm(c)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    assert AutoConfig.from_pretrained(tmp_path).model_type == "r2d_causal"
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert type(loaded) is R2DForCausalLM and loaded.config.num_flags == c.num_flags
    assert loaded.lm_head.weight is loaded.model.embed_tokens.weight  # tied
    batch = batch_of(c, ["Hello world"])
    assert torch.allclose(model(**batch).loss, loaded.eval()(**batch).loss)


def test_config_errors_name_the_setting():
    with pytest.raises(ValueError, match="flag_combine='nope'"):
        R2DCausalConfig(flag_combine="nope", **TINY)
    with pytest.raises(ValueError, match="num_flags=3 but flag_names has 2"):
        R2DCausalConfig(num_flags=3, flag_names=["a", "b"], **TINY)


def test_missing_flags_is_a_clear_error(codec):
    model = tiny_causal_lm(codec)
    with pytest.raises(ValueError, match="needs flags"):
        model(input_ids=torch.tensor([[0, 5, 6]]))


def test_causal_targets_without_a_mask_predict_all_but_bos():
    ids = torch.tensor([[0, 5, 6, 2]])
    ws = torch.tensor([False] * 5 + [True, False])
    labels, flag_labels = causal_targets(ids, torch.ones(1, 4, 2, dtype=torch.long), None, ws)
    assert labels.tolist() == [[-100, 5, 6, 2]]
    assert flag_labels[0, :, 0].tolist() == [-100, 1, -100, -100]


@pytest.mark.parametrize("kind", ["r2d", "twin"])
def test_sequence_classifier_loads_the_decoder_and_reads_the_last_real_row(tmp_path, codec, twin_codec, kind):
    from transformers import AutoModelForSequenceClassification

    from r2d.modeling.causal import R2DCausalForSequenceClassification

    c = codec if kind == "r2d" else twin_codec
    tiny_causal_lm(c).save_pretrained(tmp_path)
    clf, info = AutoModelForSequenceClassification.from_pretrained(tmp_path, num_labels=3, output_loading_info=True)
    clf.eval()
    # the dropped pretraining heads are expected, not reported; the new head is the one missing weight
    assert not info["unexpected_keys"] and set(info["missing_keys"]) == {"score.weight"}
    lm = R2DForCausalLM.from_pretrained(tmp_path).eval()
    assert type(clf) is R2DCausalForSequenceClassification
    assert torch.equal(clf.model.embed_tokens.weight, lm.model.embed_tokens.weight)
    assert torch.equal(clf.model.layers[0].mlp.up_proj.weight, lm.model.layers[0].mlp.up_proj.weight)

    batch = batch_of(c, ["The dogs were riding.", "Hi"])  # right-padded
    mask = batch["attention_mask"]
    assert mask[1].sum() < mask.size(1)
    extra = {"flags": batch["flags"]} if kind == "r2d" else {}
    logits = clf(input_ids=batch["input_ids"], attention_mask=mask, **extra).logits  # (2, 3)
    # the head reads the last real row: the hidden state that has seen every row of the input
    hidden = clf.model(inputs_embeds=clf.embed_rows(batch["input_ids"], batch.get("flags")),
                       attention_mask=mask).last_hidden_state
    last = mask.sum(-1) - 1
    assert torch.allclose(logits, clf.score(hidden[torch.arange(2), last]), atol=1e-5)
    # the short sentence scores the same alone (no padding) and left-padded
    n = int(mask[1].sum())
    alone = clf(input_ids=batch["input_ids"][1:, :n], **({"flags": batch["flags"][1:, :n]} if extra else {})).logits
    assert torch.allclose(alone, logits[1:], atol=1e-5)
    pad = mask.size(1) - n
    left = {k: torch.cat([v[1:, n:], v[1:, :n]], 1) for k, v in batch.items() if k in ("input_ids", "flags")}
    left_mask = torch.cat([torch.zeros(1, pad, dtype=mask.dtype), mask[1:, :n]], 1)
    assert torch.allclose(clf(attention_mask=left_mask, **left).logits, alone, atol=1e-5)

    loss = clf(**{k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "flags")},
               labels=torch.tensor([0, 2])).loss
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    assert clf.score.weight.grad is not None and clf.model.layers[0].mlp.up_proj.weight.grad is not None


@pytest.mark.parametrize("kind", ["r2d", "twin"])
def test_outputs_carry_hidden_states_and_attentions_when_asked(codec, twin_codec, kind):
    from r2d.modeling.causal import R2DCausalForSequenceClassification

    c = codec if kind == "r2d" else twin_codec
    model = tiny_causal_lm(c, attn_implementation="eager")  # SDPA computes no attention weights (as in HF)
    batch = batch_of(c, ["The dogs were riding.", "Hi"])
    b, t = batch["input_ids"].shape
    plain = model(**batch)
    assert plain.hidden_states is None and plain.attentions is None
    out = model(**batch, output_hidden_states=True, output_attentions=True)
    n, h = model.config.num_hidden_layers, model.config.hidden_size
    assert len(out.hidden_states) == n + 1 and all(x.shape == (b, t, h) for x in out.hidden_states)
    assert torch.equal(out.hidden_states[-1], out.last_hidden_state)
    assert len(out.attentions) == n and out.attentions[0].shape == (b, model.config.num_attention_heads, t, t)
    assert torch.allclose(out.logits, plain.logits, atol=1e-5)
    clf = R2DCausalForSequenceClassification(model.config).eval()
    extra = {"flags": batch["flags"]} if kind == "r2d" else {}
    out = clf(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_hidden_states=True,
              output_attentions=True, **extra)
    assert len(out.hidden_states) == n + 1 and len(out.attentions) == n


def hub_cache(root, repo_id: str, save) -> str:
    """A folder laid out as the Hub's cache (``models--org--name/snapshots/<rev>`` + ``refs/main``) holding what
    ``save(folder)`` writes; returns the revision."""
    rev = "0123456789abcdef0123456789abcdef01234567"
    repo = root / ("models--" + repo_id.replace("/", "--"))
    save(repo / "snapshots" / rev)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(rev)
    return rev


@pytest.mark.parametrize("kind", ["r2d", "twin"])
def test_hub_names_load_offline_from_a_cache_folder(tmp_path, codec, twin_codec, kind):
    from r2d.modeling.causal_data import load_causal_lm
    from r2d.modeling.encoder import R2DConfig, R2DForMaskedLM

    c = codec if kind == "r2d" else twin_codec
    model = tiny_causal_lm(c)

    def save(folder):
        model.save_pretrained(folder)
        c.tokenizer.save_pretrained(str(folder))

    cache = tmp_path / "hub"
    rev = hub_cache(cache, "org/tiny-clm", save)
    opts = dict(cache_dir=cache, local_files_only=True, token=False)
    for revision in (None, "main", rev):
        loaded = R2DForCausalLM.from_pretrained("org/tiny-clm", revision=revision, **opts)
        assert torch.equal(loaded.model.embed_tokens.weight, model.model.embed_tokens.weight)
    lm, loaded_codec = load_causal_lm("org/tiny-clm", revision=rev, **opts)
    assert type(lm) is R2DForCausalLM and not lm.training
    assert (loaded_codec.vocab_size, loaded_codec.num_flags) == (c.vocab_size, c.num_flags)
    batch = batch_of(c, ["Hello world"])
    assert torch.allclose(lm(**batch).loss, model(**batch).loss)
    with pytest.raises(FileNotFoundError, match="no model here"):
        load_causal_lm("org/not-cached", **opts)
    with pytest.raises(FileNotFoundError, match="no model here"):
        load_causal_lm("org/tiny-clm", revision="f" * 40, **opts)

    mlm = R2DForMaskedLM(R2DConfig(vocab_size=40, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                   intermediate_size=16))
    hub_cache(cache, "org/tiny-mlm", mlm.save_pretrained)
    loaded = R2DForMaskedLM.from_pretrained("org/tiny-mlm", revision="main", **opts)
    assert torch.equal(loaded.flag_head.decoder.weight, mlm.flag_head.decoder.weight)


def test_hf_generate_works_on_the_twin(twin_codec):
    from transformers import GenerationMixin

    model = tiny_causal_lm(twin_codec)
    assert isinstance(model, GenerationMixin) and model.can_generate()
    (ids, _), (short, _) = twin_codec.encode(["The dogs were riding in the", "Hi"])
    ids, short = torch.tensor([ids[:-1]]), torch.tensor([short[:-1]])  # <s> rows, no </s>
    out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=6, do_sample=False)
    assert isinstance(out, torch.Tensor) and out.shape == (1, ids.size(1) + 6) and torch.equal(out[:, :ids.size(1)], ids)
    greedy = ids
    for _ in range(6):  # greedy by hand, no cache
        greedy = torch.cat([greedy, model(input_ids=greedy).logits[:, -1].argmax(-1, keepdim=True)], 1)
    assert torch.equal(out, greedy)
    # a left-padded batch: each row continues as it does alone
    pad = ids.size(1) - short.size(1)
    batch = torch.cat([ids, torch.cat([torch.full((1, pad), twin_codec.pad_token_id), short], 1)])
    mask = torch.cat([torch.ones_like(ids), torch.cat([torch.zeros(1, pad), torch.ones_like(short)], 1).long()])
    both = model.generate(batch, attention_mask=mask, max_new_tokens=6, do_sample=False)
    alone = model.generate(short, attention_mask=torch.ones_like(short), max_new_tokens=6, do_sample=False)
    assert torch.equal(both[0], out[0]) and torch.equal(both[1, pad:], alone[0])
