"""Generation: greedy = cached = uncached, seeds, left-padded batches, stopping at </s>, copied flags, streaming, CLI."""

import pytest
import torch

from r2d.cli import main
from r2d.modeling.causal_data import RowCodec, load_causal_lm
from r2d.modeling.generation import generate, sample_roots, stream_generate
from test_causal import tiny_bpe_twin, tiny_causal_lm

PROMPTS = ["The dogs were", "I enjoyed riding in Australia's parks and", ""]


@pytest.fixture(scope="module", params=["r2d", "twin"])
def kind_codec(request, tiny_tok):
    return request.param, RowCodec(tiny_tok if request.param == "r2d" else tiny_bpe_twin())


@pytest.fixture(scope="module")
def codec(tiny_tok):
    return RowCodec(tiny_tok)


def force(model, schedule):
    """Make the root head pick ``schedule[step][row]`` (an id, or None = leave the logits alone)."""
    state = {"step": 0}

    def hook(module, args, output):
        wanted = schedule[min(state["step"], len(schedule) - 1)]
        state["step"] += 1
        out = output.clone()
        for row, i in enumerate(wanted):
            if i is not None:
                out[row, -1, i] += 1e4
        return out

    return model.lm_head.register_forward_hook(hook)


def test_greedy_is_identical_with_and_without_cache_and_alone_or_in_a_batch(kind_codec):
    _, codec = kind_codec
    model = tiny_causal_lm(codec)
    cached = generate(model, codec, PROMPTS, max_new_tokens=24, temperature=0, use_cache=True)
    uncached = generate(model, codec, PROMPTS, max_new_tokens=24, temperature=0, use_cache=False)
    assert [(g.ids, g.flags, g.text) for g in cached] == [(g.ids, g.flags, g.text) for g in uncached]
    for prompt, g in zip(PROMPTS, cached):
        alone, = generate(model, codec, prompt, max_new_tokens=24, temperature=0)
        assert (alone.ids, alone.flags) == (g.ids, g.flags)
        assert len(g.ids) == 24 or g.finished


def test_the_same_seed_gives_the_same_text(kind_codec):
    _, codec = kind_codec
    model = tiny_causal_lm(codec)
    kw = dict(max_new_tokens=16, temperature=1.0, top_k=40, top_p=0.95)
    runs = [generate(model, codec, PROMPTS[:2], seed=s, **kw) for s in (7, 7, 8, 9)]
    assert [g.ids for g in runs[0]] == [g.ids for g in runs[1]]
    assert [g.flags for g in runs[0]] == [g.flags for g in runs[1]]
    assert len({tuple(r[0].ids) for r in runs}) >= 2


def test_top_k_1_and_a_tiny_top_p_are_greedy(codec):
    model = tiny_causal_lm(codec)
    greedy = generate(model, codec, PROMPTS[0], max_new_tokens=10, temperature=0)[0].ids
    assert generate(model, codec, PROMPTS[0], max_new_tokens=10, temperature=1.0, top_k=1, seed=1)[0].ids[:1] == greedy[:1]
    assert generate(model, codec, PROMPTS[0], max_new_tokens=10, temperature=0.7, top_p=1e-6, seed=2)[0].ids[:1] == greedy[:1]


def test_sampling_filters_keep_only_the_best_ids():
    logits = torch.tensor([[0.0, 3.0, 2.9, -1.0, 1.0]]).repeat(200, 1)
    g = torch.Generator().manual_seed(0)
    assert set(sample_roots(logits, temperature=1.0, top_k=2, top_p=None, generator=g).tolist()) == {1, 2}
    probs = logits[0].softmax(-1)
    p = float(probs[1] + probs[2]) - 1e-3  # the two best ids reach p
    assert set(sample_roots(logits, temperature=1.0, top_k=None, top_p=p, generator=g).tolist()) == {1, 2}
    assert set(sample_roots(logits, temperature=0, top_k=None, top_p=None, generator=g).tolist()) == {1}


def test_a_sequence_stops_at_end_of_text_while_the_others_go_on(kind_codec):
    _, codec = kind_codec
    model = tiny_causal_lm(codec)
    handle = force(model, [[None, None]] * 3 + [[codec.eos_token_id, None]])
    try:
        a, b = generate(model, codec, PROMPTS[:2], max_new_tokens=10, temperature=0)
    finally:
        handle.remove()
    assert a.finished and len(a.ids) == 4 and a.ids[-1] == codec.eos_token_id
    assert not b.finished and len(b.ids) == 10
    alone, = generate(model, codec, PROMPTS[1], max_new_tokens=10, temperature=0)
    assert alone.ids == b.ids  # the ended sequence's padding rows did not disturb the other one


def test_fixed_flags_are_copied_and_free_flags_drawn(codec, tiny_tok):
    model = tiny_causal_lm(codec)
    dog, z, orr = (tiny_tok.get_vocab()[t] for t in ("▁dog", "▁", "z"))
    with torch.no_grad():  # the flag head says "all flags on" wherever it is asked
        model.flag_head.decoder.weight.zero_()
        model.flag_head.decoder.bias.fill_(50.0)
    handle = force(model, [[dog], [z], [orr], [codec.eos_token_id]])
    try:
        g, = generate(model, codec, "The", max_new_tokens=6, temperature=0)
    finally:
        handle.remove()
    assert g.ids == [dog, z, orr, codec.eos_token_id]
    assert g.flags[0] == [1] * 7 and g.flags[1] == [1] * 7  # word starts: drawn from the head
    assert g.flags[2] == g.flags[1]  # continuation piece: its word's flags, copied
    assert g.flags[3] == [0] * 7  # </s>: none
    assert g.text == tiny_tok.decode([dog, z, orr], g.flags[:3])  # total: prints whatever it is


def test_r2d_never_continues_the_prompts_last_word(codec, tiny_tok):
    model = tiny_causal_lm(codec)
    cont = tiny_tok.get_vocab()["z"]
    handle = force(model, [[cont]] * 4)
    try:
        g, = generate(model, codec, "The dogs", max_new_tokens=2, temperature=0)
    finally:
        handle.remove()
    assert g.ids[0] != cont and codec.word_start[g.ids[0]] and g.ids[1] == cont


def test_stream_yields_words_whose_text_adds_up_to_the_generation(kind_codec):
    kind, codec = kind_codec
    model = tiny_causal_lm(codec)
    kw = dict(max_new_tokens=30, temperature=0.9, top_k=None, top_p=0.95, seed=3)
    words = list(stream_generate(model, codec.tokenizer, "The dogs", **kw))
    whole, = generate(model, codec, "The dogs", **kw)
    assert "".join(w["text"] for w in words) == whole.text
    rows = [r for w in words for r in w["rows"]]
    assert [r["id"] for r in rows] == [i for i in whole.ids if i != codec.eos_token_id]
    for w in words[1:]:
        assert codec.word_start[w["rows"][0]["id"]]
    names = set(codec.flag_names)
    assert all(set(r["flags"]) == names and isinstance(r["root"], str) for r in rows)
    if kind == "twin":
        assert all(r["flags"] == {} for r in rows)


def test_bad_settings_raise(codec):
    model = tiny_causal_lm(codec)
    for kw, msg in [(dict(temperature=-1), "temperature"), (dict(top_k=0), "top_k"), (dict(top_p=1.5), "top_p"),
                    (dict(max_new_tokens=0), "max_new_tokens")]:
        with pytest.raises(ValueError, match=msg):
            generate(model, codec, "x", **{"max_new_tokens": 3, **kw})


# ------------------------------------------------------------------------------------------------ CLI


@pytest.fixture(scope="module", params=["r2d", "twin"])
def model_dir(request, tmp_path_factory, tiny_tok):
    codec = RowCodec(tiny_tok if request.param == "r2d" else tiny_bpe_twin())
    d = tmp_path_factory.mktemp(request.param)
    tiny_causal_lm(codec).save_pretrained(d)
    codec.tokenizer.save_pretrained(str(d))
    return d


def test_cli_generate_streams_the_same_text_as_the_library(model_dir, capsys):
    args = ["generate", "--model", str(model_dir), "--prompt", "The dogs", "--max-new-tokens", "12",
            "--temperature", "0"]
    assert main(args) == 0
    out = capsys.readouterr().out
    model, codec = load_causal_lm(model_dir)
    g, = generate(model, codec, "The dogs", max_new_tokens=12, temperature=0)
    assert out == "The dogs" + g.text + "\n"
    assert main(args + ["--no-cache"]) == 0
    assert capsys.readouterr().out == out
    seeded = ["generate", "--model", str(model_dir), "--prompt", "Hi", "--max-new-tokens", "8", "--seed", "5",
              "--top-k", "20", "--top-p", "0.9", "--temperature", "1.2"]
    assert main(seeded) == 0 and main(seeded) == 0
    first, second = capsys.readouterr().out.split("\n")[:2]
    assert first == second


def test_cli_generate_help_and_errors(tmp_path, model_dir, capsys):
    with pytest.raises(SystemExit) as info:
        main(["generate", "--help"])
    assert info.value.code == 0 and "example:" in capsys.readouterr().out
    assert main(["generate", "--model", str(tmp_path / "none"), "--prompt", "x"]) == 2
    err = capsys.readouterr().err
    assert "r2d generate: error:" in err and "no model here" in err and "Traceback" not in err
    assert main(["generate", "--model", str(model_dir), "--prompt", "x", "--top-p", "2"]) == 2
    assert "--top-p" in capsys.readouterr().err
    assert main(["generate", "--model", str(model_dir), "--prompt", "x", "--temperature", "-1"]) == 2
    assert "--temperature" in capsys.readouterr().err
