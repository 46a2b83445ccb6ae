"""Benchmark: one MLM training step (forward + backward) of R2D vs RoBERTa of the same size, in one run.

What it measures: wall time of ``zero_grad -> forward (with losses) -> backward`` for ``RobertaForMaskedLM`` and
``R2DForMaskedLM`` (each ``flag_combine`` method) with identical backbones, on the same random batch (15% of rows
labelled, flags at roughly the article's rates). Models are timed round-robin (interleaved repeats, so load
changes on a shared machine hit all of them alike); the table shows medians, the ratio to RoBERTa, tokens/s
(batch x sequence / median step time) and peak memory.

Peak memory: measured in a fresh subprocess per model as the process's peak resident set size during two
training steps minus its RSS just before them (the kernel's peak mark ``VmHWM`` is reset through
``/proc/self/clear_refs`` first; where that is not allowed, ``ru_maxrss`` is used and says so); it covers
activations, gradients and temporaries (not the parameters, allocated before). ``tracemalloc`` does not
see torch's allocations, hence RSS.

Run: ``python benchmarks/bench_train_step.py`` (defaults: hidden 256, 4 layers, vocab 50,265, batch 16 x 128).
The acceptance check is R2D (concat_project) <= 1.05 x RoBERTa.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import resource
import statistics
import time

import torch

RATES = (0.23, 0.18, 0.011, 0.03, 0.017, 0.013, 0.009)  # the article's OpenWebText flag rates


def build(kind: str, a: argparse.Namespace):
    from transformers import RobertaConfig, RobertaForMaskedLM

    from r2d.modeling.encoder import R2DConfig, R2DForMaskedLM

    common = dict(vocab_size=a.vocab, hidden_size=a.hidden, num_hidden_layers=a.layers, num_attention_heads=a.heads,
                  intermediate_size=4 * a.hidden, max_position_embeddings=a.seq + 2, type_vocab_size=1,
                  layer_norm_eps=1e-5)
    torch.manual_seed(0)
    if kind == "roberta":
        return RobertaForMaskedLM(RobertaConfig(**common)).train()
    return R2DForMaskedLM(R2DConfig(**common, flag_combine=kind.split(":")[1],
                                    flag_pos_weight=[(1 - p) / p for p in RATES])).train()


def make_batch(a: argparse.Namespace) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(4, a.vocab - 1, (a.batch, a.seq), generator=g)
    ids[:, 0], ids[:, -1] = 0, 2
    flags = (torch.rand(a.batch, a.seq, len(RATES), generator=g) < torch.tensor(RATES)).long()
    flags[:, [0, -1]] = 0
    selected = torch.rand(a.batch, a.seq, generator=g) < 0.15
    selected[:, [0, -1]] = False
    labels = torch.where(selected, ids, torch.full_like(ids, -100))
    flag_labels = torch.where(selected.unsqueeze(-1), flags, torch.full_like(flags, -100))
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "flags": flags, "labels": labels,
            "flag_labels": flag_labels}


def inputs_for(kind: str, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    keys = ("input_ids", "attention_mask", "labels") if kind == "roberta" else tuple(batch)
    return {k: batch[k] for k in keys}


def step(model, inputs) -> float:
    t0 = time.perf_counter()
    model.zero_grad(set_to_none=True)
    loss = model(**inputs).loss
    loss.backward()
    return time.perf_counter() - t0


def _rss_kb() -> int:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() // 1024


def _status_kb(field: str) -> int | None:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def _memory_child(kind: str, a: argparse.Namespace, q) -> None:
    if a.threads:
        torch.set_num_threads(a.threads)
    model = build(kind, a)
    inputs = inputs_for(kind, make_batch(a))
    before = _rss_kb()
    try:  # subtle: reset the kernel's peak-RSS mark (VmHWM) so that model building does not count
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        how = "VmHWM"
    except OSError:
        how = "ru_maxrss"
    for _ in range(2):
        step(model, inputs)
    peak = _status_kb("VmHWM") if how == "VmHWM" else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    q.put((kind, (peak - before) / 1024, sum(p.numel() for p in model.parameters()), how))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--vocab", type=int, default=50265)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--repeats", type=int, default=10, help="timed steps per model (after --warmup)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--combine", nargs="+", default=["concat_project", "truncate_concat", "linear_sum"])
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)

    kinds = ["roberta"] + [f"r2d:{c}" for c in a.combine]
    batch = make_batch(a)
    models = {k: build(k, a) for k in kinds}
    inputs = {k: inputs_for(k, batch) for k in kinds}
    for _ in range(a.warmup):
        for k in kinds:
            step(models[k], inputs[k])
    times: dict[str, list[float]] = {k: [] for k in kinds}
    for r in range(a.repeats):
        order = kinds if r % 2 == 0 else kinds[::-1]  # alternate the order too
        for k in order:
            times[k].append(step(models[k], inputs[k]))
    del models

    ctx = mp.get_context("spawn")
    mem: dict[str, tuple[float, int]] = {}
    how = "?"
    for k in kinds:
        q = ctx.Queue()
        proc = ctx.Process(target=_memory_child, args=(k, a, q))
        proc.start()
        kind, mb, n_params, how = q.get()
        proc.join()
        mem[kind] = (mb, n_params)

    tokens = a.batch * a.seq
    base = statistics.median(times["roberta"])
    print(f"# one training step (forward + backward), hidden {a.hidden}, {a.layers} layers, {a.heads} heads, "
          f"vocab {a.vocab:,}, batch {a.batch} x {a.seq}")
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}, "
          f"{a.repeats} interleaved repeats after {a.warmup} warm-up")
    print()
    print("| model | parameters | median step (s) | min / max (s) | ratio to RoBERTa | tokens/s | peak RSS increase (MB) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for k in kinds:
        med = statistics.median(times[k])
        name = "RoBERTa" if k == "roberta" else f"R2D {k.split(':')[1]}"
        print(f"| {name} | {mem[k][1]:,} | {med:.3f} | {min(times[k]):.3f} / {max(times[k]):.3f} | "
              f"{med / base:.3f} | {tokens / med:,.0f} | {mem[k][0]:,.0f} |")
    print(f"\npeak RSS increase: peak resident set ({how}) during two steps minus RSS before them, fresh process "
          "per model")
    ratio = statistics.median(times["r2d:concat_project"]) / base if "r2d:concat_project" in times else float("nan")
    print()
    print(f"acceptance (R2D concat_project <= 1.05 x RoBERTa): ratio {ratio:.3f} -> {'PASS' if ratio <= 1.05 else 'FAIL'}")


if __name__ == "__main__":
    main()
