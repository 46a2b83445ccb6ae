"""Generation: greedy = the loop written out = cached = uncached, draws that follow the filtered softmax, seeds,
left-padded batches, stopping at </s>, copied flags, streaming, CLI."""

from unittest import mock

import pytest
import torch
from transformers import GenerationConfig
from transformers.generation.logits_process import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

from r2d.cli import main
from r2d.modeling import generation
from r2d.modeling.causal_data import RowCodec, load_causal_lm
from r2d.modeling.generation import encode_prompts, generate, sample_roots, stream_generate
from host_reads import count_host_reads
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


def sure_flags(model):
    """Make the flag head certain (logits +-1e4): sampled flags then equal greedy ones and only the roots are drawn."""
    f = model.config.num_flags
    if f:
        with torch.no_grad():
            model.flag_head.decoder.weight.zero_()
            model.flag_head.decoder.bias.copy_(torch.tensor([1e4, -1e4] * f)[:f])
    return model


def manual_greedy(model, codec, prompt, n):
    """The greedy loop written out: all rows through the model at every step, argmax of the last row's root
    logits (specials but </s> banned; R2D's first row starts a word), then that root's flags (logit > 0 on a word
    start, copied on a continuation, none on a special row)."""
    f = codec.num_flags
    (ids, flags), = codec.encode([prompt])
    ids, flags = list(ids[:-1]), flags[:-1].tolist()  # <s> rows, no </s>
    special = torch.zeros(codec.vocab_size, dtype=torch.bool)
    special[codec.special_ids] = True
    banned = special.clone()
    banned[codec.eos_token_id] = False
    continuation = ~torch.as_tensor(codec.word_start) & ~special
    new_ids, new_flags = [], []
    with torch.no_grad():
        for step in range(n):
            out = model(input_ids=torch.tensor([ids]), flags=torch.tensor([flags]) if f else None, flag_logits=False)
            logits = out.logits[0, -1].masked_fill(banned, float("-inf"))  # (V,)
            if step == 0 and f:
                logits = logits.masked_fill(continuation, float("-inf"))
            i = int(logits.argmax())
            if special[i]:
                row = [0] * f
            elif codec.word_start[i]:
                row = (model.next_flag_logits(out.last_hidden_state[:, -1], torch.tensor([i]))[0] > 0).long().tolist()
            else:
                row = list(flags[-1])
            ids.append(i)
            flags.append(row)
            new_ids.append(i)
            new_flags.append(row)
            if i == codec.eos_token_id:
                break
    return new_ids, new_flags


def test_greedy_is_the_argmax_of_the_loop_written_out(kind_codec):
    _, codec = kind_codec
    model = tiny_causal_lm(codec)
    for prompt in PROMPTS:
        g, = generate(model, codec, prompt, max_new_tokens=12, temperature=0)
        assert (g.ids, g.flags) == manual_greedy(model, codec, prompt, 12)


def test_sampling_is_reproducible_with_a_seed_and_the_same_with_or_without_the_cache(kind_codec):
    _, codec = kind_codec
    model = tiny_causal_lm(codec)
    kw = dict(max_new_tokens=16, temperature=1.0, top_k=40, top_p=0.95, seed=7)
    runs = [generate(model, codec, PROMPTS, **kw), generate(model, codec, PROMPTS, **kw),
            generate(model, codec, PROMPTS, use_cache=False, **kw)]
    assert [(g.ids, g.flags, g.text) for g in runs[0]] == [(g.ids, g.flags, g.text) for g in runs[1]]
    assert [(g.ids, g.flags, g.text) for g in runs[0]] == [(g.ids, g.flags, g.text) for g in runs[2]]


def test_top_k_1_and_a_tiny_top_p_are_greedy(kind_codec):
    _, codec = kind_codec
    model = sure_flags(tiny_causal_lm(codec))
    greedy = [(g.ids, g.flags) for g in generate(model, codec, PROMPTS, max_new_tokens=12, temperature=0)]
    for kw in (dict(temperature=1.0, top_k=1, seed=1), dict(temperature=0.7, top_p=1e-6, seed=2)):
        assert [(g.ids, g.flags) for g in generate(model, codec, PROMPTS, max_new_tokens=12, **kw)] == greedy


def filtered_softmax(logits, temperature, top_k, top_p):
    """The root distribution written out: softmax(logits / T) kept on the top_k best ids and on the smallest set of
    best ids whose probability reaches top_p, renormalised."""
    p = (logits / temperature).softmax(-1)
    order = p.argsort(descending=True)
    if top_k is not None:
        p[order[top_k:]] = 0
        p = p / p.sum()
    if top_p is not None:
        before = p[order].cumsum(0) - p[order]  # probability of the better ids
        p[order[before >= top_p]] = 0
        p = p / p.sum()
    return p


@pytest.mark.parametrize("temperature, top_k, top_p", [(1.0, None, None), (0.7, 8, None), (1.3, None, 0.6)])
def test_first_draws_follow_the_filtered_softmax(kind_codec, temperature, top_k, top_p):
    _, codec = kind_codec
    model = tiny_causal_lm(codec)
    bias = torch.randn(codec.vocab_size, generator=torch.Generator().manual_seed(0)) * 2  # an uneven distribution
    handle = model.lm_head.register_forward_hook(lambda module, args, out: out + bias)
    try:
        (ids, flags), = codec.encode([PROMPTS[0]])
        with torch.no_grad():
            out = model(input_ids=torch.tensor([ids[:-1]]), flags=torch.from_numpy(flags[None, :-1]).long()
                        if codec.num_flags else None, flag_logits=False)
        allowed = torch.ones(codec.vocab_size, dtype=torch.bool)
        if codec.num_flags:  # R2D's first new row starts a word (or ends the text)
            allowed = torch.as_tensor(codec.word_start).clone()
        allowed[codec.special_ids] = False
        allowed[codec.eos_token_id] = True
        p = filtered_softmax(out.logits[0, -1].masked_fill(~allowed, float("-inf")), temperature, top_k, top_p)  # (V,)
        n = 10000
        drawn = generate(model, codec, [PROMPTS[0]] * n, max_new_tokens=1, temperature=temperature, top_k=top_k,
                         top_p=top_p, seed=0)
    finally:
        handle.remove()
    freq = torch.bincount(torch.tensor([g.ids[0] for g in drawn]), minlength=codec.vocab_size) / n  # (V,)
    assert (freq[p == 0] == 0).all()  # never an id the filters or the rules leave out
    assert ((freq - p).abs() <= 5 * (p * (1 - p) / n).sqrt() + 1 / n).all()  # each id within 5 standard errors


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


# ------------------------------------------------------------------------------------------ sampling: one way


def test_roots_are_filtered_by_transformers_warpers(codec):
    """temperature, top-k and top-p of the roots are transformers' warpers, in the free function and in
    ``model.generate`` alike."""
    model = tiny_causal_lm(codec)
    warpers = (TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper)
    spies = [mock.patch.object(w, "__call__", autospec=True, side_effect=w.__call__) for w in warpers]
    calls = [s.start() for s in spies]
    try:
        generate(model, codec, PROMPTS[:2], max_new_tokens=3, temperature=0.8, top_k=20, top_p=0.9, seed=0)
        assert [c.call_count for c in calls] == [3, 3, 3]
        model.generate(**encode_prompts(codec, PROMPTS[:2]), tokenizer=codec, max_new_tokens=2, do_sample=True,
                       temperature=0.7, top_k=20, top_p=0.9)
        assert [c.call_count for c in calls] == [5, 5, 5]
    finally:
        for s in spies:
            s.stop()


def test_draws_use_a_generator_on_the_models_device(codec, monkeypatch):
    model = tiny_causal_lm(codec)
    made = []
    real = generation.make_generator

    def spy(seed, device):
        made.append(real(seed, device))
        return made[-1]

    monkeypatch.setattr(generation, "make_generator", spy)
    generate(model, codec, PROMPTS[0], max_new_tokens=3, temperature=1.0, seed=0)
    assert len(made) == 1 and made[0].device == model.device
    logits = torch.zeros(4, 7)
    flags = generation.sample_flags(logits, temperature=1.0, generator=made[0])
    assert flags.device == logits.device and set(flags.unique().tolist()) <= {0, 1}


@pytest.mark.cuda
def test_sampling_on_cuda_draws_on_the_device(kind_codec):
    _, codec = kind_codec
    model = tiny_causal_lm(codec).cuda()
    kw = dict(max_new_tokens=12, temperature=0.9, top_k=40, top_p=0.95)
    a = generate(model, codec, PROMPTS, seed=3, **kw)
    b = generate(model, codec, PROMPTS, seed=3, **kw)
    assert [(g.ids, g.flags) for g in a] == [(g.ids, g.flags) for g in b]
    words = list(stream_generate(model, codec.tokenizer, PROMPTS[0], seed=3, **kw))
    alone, = generate(model, codec, PROMPTS[0], seed=3, **kw)
    assert "".join(w["text"] for w in words) == alone.text
    cpu = generate(tiny_causal_lm(codec), codec, PROMPTS, max_new_tokens=12, temperature=0)
    gpu = generate(model, codec, PROMPTS, max_new_tokens=12, temperature=0)
    assert [g.ids[:1] for g in gpu] == [g.ids[:1] for g in cpu]
    if codec.num_flags:
        torch.manual_seed(0)
        out = model.generate(**encode_prompts(codec, PROMPTS), tokenizer=codec, max_new_tokens=8, do_sample=True)
        assert out.sequences.device.type == "cuda" and out.flags.device.type == "cuda"


# ------------------------------------------------------------------------------------------ model.generate (HF style)


def test_model_generate_greedy_matches_the_free_function_and_batch_decodes(codec, tiny_tok):
    model = tiny_causal_lm(codec)
    enc = encode_prompts(tiny_tok, PROMPTS)
    b, t = enc["input_ids"].shape
    assert enc["flags"].shape == (b, t, codec.num_flags) and (enc["attention_mask"][:, -1] == 1).all()  # left padded
    out = model.generate(**enc, max_new_tokens=12, tokenizer=tiny_tok)  # HF's default: greedy
    gens = generate(model, codec, PROMPTS, max_new_tokens=12, temperature=0)
    n = max(len(g.ids) for g in gens)
    assert out.sequences.shape == (b, t + n) and out.flags.shape == (b, t + n, codec.num_flags)
    assert torch.equal(out.sequences[:, :t], enc["input_ids"]) and torch.equal(out.flags[:, :t], enc["flags"])
    for row, g in enumerate(gens):
        k = len(g.ids)
        assert out.sequences[row, t:t + k].tolist() == g.ids and out.flags[row, t:t + k].tolist() == g.flags
        assert (out.sequences[row, t + k:] == codec.pad_token_id).all() and (out.flags[row, t + k:] == 0).all()
    assert tiny_tok.batch_decode(out.sequences, out.flags) == [p + g.text for p, g in zip(PROMPTS, gens)]
    # right padding (what the tokenizer writes) is moved to the left first: same continuations
    right = {k: torch.stack([torch.cat([v[i][m.bool()], v[i][~m.bool()]]) for i, m in enumerate(enc["attention_mask"])])
             for k, v in enc.items()}
    assert (right["attention_mask"][:, 0] == 1).all() and not torch.equal(right["input_ids"], enc["input_ids"])
    again = model.generate(**right, max_new_tokens=12, tokenizer=tiny_tok)
    assert tiny_tok.batch_decode(again.sequences, again.flags) == tiny_tok.batch_decode(out.sequences, out.flags)
    # the cache changes nothing; a GenerationConfig says the same as keywords
    assert torch.equal(model.generate(**enc, max_new_tokens=12, tokenizer=tiny_tok, use_cache=False).sequences,
                       out.sequences)
    config = GenerationConfig(max_new_tokens=12, do_sample=False)
    assert torch.equal(model.generate(**enc, generation_config=config, tokenizer=tiny_tok).sequences, out.sequences)


def test_model_generate_samples_with_the_torch_seed_and_top_k_1_is_greedy(codec):
    model = tiny_causal_lm(codec)
    enc = encode_prompts(codec, PROMPTS[:2])
    kw = dict(max_new_tokens=10, tokenizer=codec, do_sample=True, temperature=1.0, top_p=0.95)
    runs = []
    for _ in range(2):
        torch.manual_seed(5)
        runs.append(model.generate(**enc, **kw))
    assert torch.equal(runs[0].sequences, runs[1].sequences) and torch.equal(runs[0].flags, runs[1].flags)
    sure_flags(model)
    greedy = model.generate(**enc, max_new_tokens=10, tokenizer=codec)
    top1 = model.generate(**enc, max_new_tokens=10, tokenizer=codec, do_sample=True, top_k=1)
    assert torch.equal(top1.sequences, greedy.sequences) and torch.equal(top1.flags, greedy.flags)


def test_model_generate_finds_the_tokenizer_in_the_models_folder(tmp_path, codec, tiny_tok):
    from r2d.modeling.causal import R2DForCausalLM

    model = tiny_causal_lm(codec)
    model.save_pretrained(tmp_path)
    tiny_tok.save_pretrained(str(tmp_path))
    loaded = R2DForCausalLM.from_pretrained(tmp_path).eval()
    enc = encode_prompts(tiny_tok, PROMPTS[:2])
    assert torch.equal(loaded.generate(**enc, max_new_tokens=6).sequences,
                       model.generate(**enc, max_new_tokens=6, tokenizer=tiny_tok).sequences)


def test_model_generate_errors_name_the_problem(codec):
    model = tiny_causal_lm(codec)
    enc = encode_prompts(codec, PROMPTS[:2])
    with pytest.raises(ValueError, match="tokenizer"):
        model.generate(**enc, max_new_tokens=3)  # built in memory: no folder to find the tokenizer in
    with pytest.raises(ValueError, match="flags"):
        model.generate(enc["input_ids"], attention_mask=enc["attention_mask"], tokenizer=codec, max_new_tokens=3)
    with pytest.raises(ValueError, match="num_beams"):
        model.generate(**enc, tokenizer=codec, max_new_tokens=3, num_beams=2)
    with pytest.raises(ValueError, match="max_new_tokens"):
        model.generate(**enc, tokenizer=codec, max_new_tokens=0)


# ---------------------------------------------------------------------------------------- devices: no waits in the loop


def test_draw_is_torch_multinomial_without_its_host_reads():
    g = torch.Generator().manual_seed(0)
    probs = torch.rand(64, 50, generator=g) * (torch.rand(64, 50, generator=g) > 0.3)  # zeros too
    probs = probs / probs.sum(-1, keepdim=True)
    a, b = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(generation.draw(probs, a), torch.multinomial(probs, 1, generator=b).squeeze(-1))
    p = torch.tensor([0.5, 0.3, 0.2, 0.0])
    picks = generation.draw(p.expand(20000, 4), torch.Generator().manual_seed(1))
    freq = torch.bincount(picks, minlength=4) / 20000.0
    assert torch.allclose(freq, p, atol=0.015) and freq[3] == 0


def _rows(model, codec, prompts, **kw):
    """Every step of the loop, on the host (after the loop), and the loop's reads of the device."""
    with count_host_reads(model) as reads:
        steps = list(generation.generate_rows(model, codec, prompts, seed=0, **kw))
    return [tuple(x.tolist() for x in step) for step in steps], reads.reads


@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("use_cache", [True, False])
def test_the_loop_never_reads_the_device_but_to_learn_that_every_sequence_ended(kind_codec, padded, use_cache,
                                                                                monkeypatch):
    _, codec = kind_codec
    model = tiny_causal_lm(codec)
    prompts = PROMPTS[:2] if padded else ["The dogs were"] * 2
    watched = []
    monkeypatch.setattr(generation.EndWatch, "ended", lambda self, active: watched.append(active) and False)
    for temperature in (0, 1.0):
        for n in (3, 9):
            _, reads = _rows(model, codec, prompts, max_new_tokens=n, temperature=temperature, top_k=20, top_p=0.9,
                             use_cache=use_cache)
            assert reads == [], reads  # the roots' draws, the flags' draws and the attention masks included
    assert len(watched) == 2 * (3 + 9)  # every step's "has every sequence ended?" goes to EndWatch, and only there


def test_the_loop_creates_nothing_on_the_default_device(kind_codec):
    """Inside the loop every tensor is made where the model is: with the default device set to ``meta`` (no data),
    anything made on the default device instead would fail to meet the model's tensors."""
    _, codec = kind_codec
    model = tiny_causal_lm(codec)
    for padded, use_cache in [(True, True), (False, True), (True, False)]:
        prompts = PROMPTS[:2] if padded else ["The dogs were"]
        expected = [s for s in generation.generate_rows(model, codec, prompts, max_new_tokens=5, temperature=0.9,
                                                        seed=4, use_cache=use_cache)]
        loop = generation.generate_rows(model, codec, prompts, max_new_tokens=5, temperature=0.9, seed=4,
                                        use_cache=use_cache)
        with torch.device("meta"):
            got = list(loop)
        assert [[x.tolist() for x in s] for s in got] == [[x.tolist() for x in s] for s in expected]


class FakeEvent:
    """A CUDA event stand-in: done once ``clock[0]`` reaches the step it was recorded at plus ``delay``."""

    def __init__(self, clock, delay, log):
        self.clock, self.delay, self.log = clock, delay, log

    def record(self):
        self.at = self.clock[0]

    def query(self):
        return self.clock[0] >= self.at + self.delay

    def synchronize(self):
        self.log.append((self.at, self.clock[0]))  # (the step it stands for, the host's step when it waited)


@pytest.mark.parametrize("delay, lag, noticed", [(0, 4, 3), (2, 4, 5), (100, 4, 7), (100, 1, 4)])
def test_end_watch_waits_for_the_device_only_when_the_host_runs_lag_steps_ahead(delay, lag, noticed):
    """All sequences end at step 3; the device finishes a step ``delay`` steps after the host queued it."""
    clock, waits = [0], []
    watch = generation.EndWatch(torch.device("cpu"), lag=lag, event=lambda: FakeEvent(clock, delay, waits))
    seen = None
    for step in range(1, 20):
        clock[0] = step
        if watch.ended(torch.tensor([step < 3, False])):
            seen = step
            break
    assert seen == noticed and noticed - 3 <= lag
    blocked = [(at, now) for at, now in waits if at + delay > now]  # waits for a step the device had not finished
    assert all(now - at >= lag for at, now in blocked)  # only with the host lag steps ahead
    assert bool(blocked) == (delay > lag)


def test_end_watch_on_the_cpu_reads_at_once_and_elsewhere_every_lag_steps():
    now = generation.EndWatch(torch.device("cpu"), lag=8)
    assert not now.ended(torch.tensor([True, False])) and now.ended(torch.tensor([False, False]))
    every = generation.EndWatch(torch.device("mps"), lag=3)  # only its type is used: no MPS needed
    assert [every.ended(torch.tensor([False])) for _ in range(4)] == [False, False, True, False]


def test_generation_precision_is_checked_and_fp32_is_the_cpus_auto(codec):
    model = tiny_causal_lm(codec)
    auto = generate(model, codec, PROMPTS, max_new_tokens=8, temperature=0)
    fp32 = generate(model, codec, PROMPTS, max_new_tokens=8, temperature=0, precision="fp32")
    assert [g.ids for g in auto] == [g.ids for g in fp32]
    bf16 = generate(model, codec, PROMPTS, max_new_tokens=8, temperature=0, precision="bf16")  # CPU autocast runs
    assert len(bf16) == len(PROMPTS)
    with pytest.raises(ValueError, match="precision"):
        generate(model, codec, PROMPTS, max_new_tokens=2, precision="fp8")


def test_cli_generate_device_option(model_dir, capsys):
    assert main(["generate", "--model", str(model_dir), "--prompt", "x", "--max-new-tokens", "3", "--device",
                 "cpu", "--temperature", "0"]) == 0
    capsys.readouterr()
    if not torch.cuda.is_available():
        assert main(["generate", "--model", str(model_dir), "--prompt", "x", "--device", "cuda"]) == 2
        err = capsys.readouterr().err
        assert "--device cuda" in err and "no CUDA GPU" in err and "Traceback" not in err


@pytest.mark.cuda
def test_generation_on_cuda_never_waits_for_the_device_inside_the_loop(kind_codec):
    _, codec = kind_codec
    model = tiny_causal_lm(codec).cuda()
    for prompts in (PROMPTS, ["The dogs were"] * 3):
        for use_cache in (True, False):
            for check_every in (1, 8):
                loop = generation._prompt_rows(model, codec, prompts, max_new_tokens=24, temperature=0.9, top_k=40,
                                               top_p=0.95, seed=0, use_cache=use_cache, check_every=check_every,
                                               precision="auto")
                torch.cuda.synchronize()
                torch.cuda.set_sync_debug_mode("error")  # any wait for the device inside the loop raises
                try:
                    steps = list(loop)
                finally:
                    torch.cuda.set_sync_debug_mode("default")
                assert steps and all(x.device.type == "cuda" for s in steps for x in s)


@pytest.mark.cuda
def test_generation_on_cuda_matches_the_cpu_in_fp32_and_runs_in_bf16(kind_codec):
    _, codec = kind_codec
    cpu = tiny_causal_lm(codec)
    gpu = tiny_causal_lm(codec).cuda()
    kw = dict(max_new_tokens=16, temperature=0, use_cache=True)
    a = generate(cpu, codec, PROMPTS, **kw)
    b = generate(gpu, codec, PROMPTS, precision="fp32", **kw)
    assert [g.ids[:4] for g in a] == [g.ids[:4] for g in b]  # random weights: near-ties may part later
    bf16 = generate(gpu, codec, PROMPTS, precision="auto", **kw)
    assert all(g.ids for g in bf16)
    if codec.num_flags:
        out = gpu.generate(**encode_prompts(codec, PROMPTS), tokenizer=codec, max_new_tokens=8)
        assert out.sequences.device.type == "cuda"
