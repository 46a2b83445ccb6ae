"""Benchmark: the causal R2D model vs its 1D twin (training step, bf16 autocast, generation with and without cache).

What it measures, in one run, every comparison interleaved (round-robin repeats, so load changes on a shared
machine hit both sides alike; the tables show medians):

1. **Training step** (``zero_grad -> forward with loss -> backward -> AdamW step``) of
   :class:`r2d.modeling.causal.R2DForCausalLM` with 7 flags vs the same class with ``num_flags=0`` (the twin), same
   backbone and vocabulary, on the same random batch (flags at the article's rates, 75% word-start rows), in
   fp32 and under ``torch.autocast("cpu", dtype=torch.bfloat16)``. Acceptance: R2D <= 1.05 x the twin (fp32).
2. **Generation** of ``--new-tokens`` rows from a short prompt (temperature 1, seeded; ``</s>`` suppressed so
   every run generates exactly that many rows) through :func:`r2d.modeling.generation.generate_rows`, with the KV
   cache and without it. Acceptance: cache >= 3 x faster (R2D), and R2D's time per generated row <= 1.2 x the
   twin's per token (both with the cache).

Models are random (speed does not depend on the weights); the tokenizers are stand-ins with the right vocabulary
size and word-start table, so no corpus is needed.

Run: ``python benchmarks/bench_causal.py`` (defaults: the ``small`` preset, hidden 256, 4 layers, 4 heads,
intermediate 1024, vocabulary 8,192 like the experiment's tokenizers, batch 16 x 128, 256 new tokens).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import torch

RATES = (0.23, 0.18, 0.011, 0.03, 0.017, 0.013, 0.009)  # the article's OpenWebText flag rates


class StubCodec:
    """What generation needs of a tokenizer: ids, the word-start table, specials; prompts are fixed rows."""

    def __init__(self, vocab: int, num_flags: int, prompt_rows: int, seed: int = 0):
        g = np.random.default_rng(seed)
        self.vocab_size, self.num_flags = vocab, num_flags
        self.flag_names = tuple(f"flag_{i}" for i in range(num_flags))
        self.bos_token_id, self.pad_token_id, self.eos_token_id = 0, 1, 2
        self.special_ids = [0, 1, 2, 3, vocab - 1]
        self.word_start = g.random(vocab) < 0.75
        self.word_start[self.special_ids] = False
        self.prompt = [0, *g.integers(4, vocab - 1, prompt_rows).tolist(), 2]

    def encode(self, texts, add_special_tokens=True):
        return [(list(self.prompt), np.zeros((len(self.prompt), self.num_flags), dtype=np.int8)) for _ in texts]


def build(num_flags: int, a):
    from r2d.modeling.causal import R2DCausalConfig, R2DForCausalLM

    torch.manual_seed(0)
    config = R2DCausalConfig(vocab_size=a.vocab, hidden_size=a.hidden, num_hidden_layers=a.layers,
                             num_attention_heads=a.heads, intermediate_size=a.intermediate,
                             max_position_embeddings=max(a.seq, a.new_tokens + a.prompt + 2), num_flags=num_flags)
    return R2DForCausalLM(config)


def flag_rates(num_flags: int) -> tuple[float, ...]:
    """The article's rates for the first flags; 1% for each flag past the seven (the affix flags of the ablation)."""
    return (RATES + (0.01,) * max(0, num_flags - len(RATES)))[:num_flags]


def make_batch(a, num_flags: int) -> dict[str, torch.Tensor]:
    from r2d.modeling.causal import causal_targets

    g = torch.Generator().manual_seed(0)
    ids = torch.randint(4, a.vocab - 1, (a.batch, a.seq), generator=g)
    ids[:, 0] = 0
    word_start = torch.rand(a.vocab, generator=g) < 0.75
    n = max(num_flags, 1)
    flags = (torch.rand(a.batch, a.seq, n, generator=g) < torch.tensor(flag_rates(n))).long()
    labels, flag_labels = causal_targets(ids, flags if num_flags else None, None, word_start)
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
    if num_flags:
        batch.update(flags=flags, flag_labels=flag_labels)
    return batch


def train_step(model, opt, batch, bf16: bool) -> float:
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        loss = model(**batch).loss
    loss.backward()
    opt.step()
    return time.perf_counter() - t0


def generation_run(model, codec, a, use_cache: bool) -> float:
    from r2d.modeling.generation import generate_rows

    n = 0
    t0 = time.perf_counter()
    for _ in generate_rows(model, codec, ["prompt"], max_new_tokens=a.new_tokens, temperature=1.0, seed=0,
                           use_cache=use_cache):
        n += 1
    assert n == a.new_tokens, n
    return time.perf_counter() - t0


def no_eos(model):
    def hook(module, args, output):
        output[..., 2] = float("-inf")
        return output

    return model.lm_head.register_forward_hook(hook)


def interleaved(cases: dict, repeats: int, warmup: int) -> dict[str, list[float]]:
    for _ in range(warmup):
        for fn in cases.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in cases}
    keys = list(cases)
    for r in range(repeats):
        for k in keys if r % 2 == 0 else keys[::-1]:
            times[k].append(cases[k]())
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--intermediate", type=int, default=1024)
    p.add_argument("--vocab", type=int, default=8192)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--new-tokens", type=int, default=256)
    p.add_argument("--prompt", type=int, default=8, help="prompt rows")
    p.add_argument("--repeats", type=int, default=8, help="timed training steps per case (after --warmup)")
    p.add_argument("--gen-repeats", type=int, default=3, help="timed generations per case")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--flag-counts", default="7", metavar="N,N",
                   help="also time R2D training steps with these flag counts (the ablation's flag sets: case 3, "
                        "default 7, affixes 13), e.g. 3,7,13; generation is timed for 7 flags only")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)

    counts = sorted({int(x) for x in a.flag_counts.split(",")} | {7})
    extra = {f"R2D {n} flags": n for n in counts if n != 7}
    models = {"R2D": build(7, a).train(), "twin": build(0, a).train(), **{k: build(n, a).train() for k, n in extra.items()}}
    opts = {k: torch.optim.AdamW(m.parameters(), lr=1e-4) for k, m in models.items()}
    batches = {"R2D": make_batch(a, 7), "twin": make_batch(a, 0), **{k: make_batch(a, n) for k, n in extra.items()}}
    cases = {f"{k} {'bf16' if bf16 else 'fp32'}": (lambda k=k, bf16=bf16: train_step(models[k], opts[k], batches[k], bf16))
             for bf16 in (False, True) for k in models}
    steps = interleaved(cases, a.repeats, a.warmup)
    params = {k: (sum(p.numel() for p in m.parameters()), m.num_non_embedding_parameters()) for k, m in models.items()}

    for k in extra:  # training steps only
        del models[k]
    for m in models.values():
        m.eval()
        no_eos(m)
    codecs = {"R2D": StubCodec(a.vocab, 7, a.prompt), "twin": StubCodec(a.vocab, 0, a.prompt)}
    gen_cases = {f"{k} {'cache' if c else 'no cache'}": (lambda k=k, c=c: generation_run(models[k], codecs[k], a, c))
                 for c in (True, False) for k in models}
    gens = interleaved(gen_cases, a.gen_repeats, 1)

    med = {k: statistics.median(v) for k, v in {**steps, **gens}.items()}
    tokens = a.batch * a.seq
    print(f"# causal models, hidden {a.hidden}, {a.layers} layers, {a.heads} heads, intermediate {a.intermediate}, "
          f"vocab {a.vocab:,}; training batch {a.batch} x {a.seq}; generation {a.new_tokens} new rows after "
          f"{a.prompt + 1} prompt rows")
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}, "
          f"{a.repeats} interleaved training repeats after {a.warmup} warm-up, {a.gen_repeats} generation repeats")
    print()
    print("| model | parameters | non-embedding | fp32 step (s) | bf16 step (s) | bf16 / fp32 | rows/s fp32 | rows/s bf16 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for k in params:
        f32, b16 = med[f"{k} fp32"], med[f"{k} bf16"]
        print(f"| {k} | {params[k][0]:,} | {params[k][1]:,} | {f32:.3f} | {b16:.3f} | {b16 / f32:.3f} | "
              f"{tokens / f32:,.0f} | {tokens / b16:,.0f} |")
    if extra:
        print()
        print("| flags | training step / twin's, fp32 | bf16 |")
        print("|---:|---:|---:|")
        for n in counts:
            k = "R2D" if n == 7 else f"R2D {n} flags"
            print(f"| {n} | {med[k + ' fp32'] / med['twin fp32']:.3f} | {med[k + ' bf16'] / med['twin bf16']:.3f} |")
    print()
    print("| model | cache: s / rows/s | no cache: s / rows/s | cache speed-up | ms per generated row (cache) |")
    print("|---|---:|---:|---:|---:|")
    for k in models:
        c, n = med[f"{k} cache"], med[f"{k} no cache"]
        print(f"| {k} | {c:.2f} / {a.new_tokens / c:,.0f} | {n:.2f} / {a.new_tokens / n:,.0f} | {n / c:.2f}x | "
              f"{1000 * c / a.new_tokens:.2f} |")
    step_ratio = med["R2D fp32"] / med["twin fp32"]
    bf16_ratio = med["R2D bf16"] / med["twin bf16"]
    speedup = med["R2D no cache"] / med["R2D cache"]
    row_ratio = med["R2D cache"] / med["twin cache"]
    print()
    print(f"training step R2D / twin: fp32 {step_ratio:.3f}, bf16 {bf16_ratio:.3f} "
          f"(acceptance <= 1.05 fp32: {'PASS' if step_ratio <= 1.05 else 'FAIL'})")
    print(f"bf16 autocast / fp32 step: R2D {med['R2D bf16'] / med['R2D fp32']:.3f}, "
          f"twin {med['twin bf16'] / med['twin fp32']:.3f} (< 1 = bf16 pays)")
    print(f"generation, cache speed-up (R2D): {speedup:.2f}x (acceptance >= 3: {'PASS' if speedup >= 3 else 'FAIL'})")
    print(f"generation, R2D per row / twin per token (cache): {row_ratio:.3f} "
          f"(acceptance <= 1.2: {'PASS' if row_ratio <= 1.2 else 'FAIL'})")


if __name__ == "__main__":
    main()
