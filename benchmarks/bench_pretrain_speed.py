"""Benchmark: pretraining tokens/s of the experiment's models, before and after the speed changes of issue 10.

What it measures: wall time of ``zero_grad -> forward (with losses) -> backward -> AdamW step`` on one fixed
batch, for the MLM pair (R2D, RoBERTa) and the causal pair (R2D, BPE twin) at a given size, in these variants:

* ``fp32 full head``: the vocabulary projection on every row (RoBERTa's stock ``RobertaForMaskedLM``;
  ``R2DForMaskedLM`` with ``labelled_rows_only`` off), float32 -- what ``r2d experiment --preset small`` trained with before issue 10;
* ``bf16 full head``: the same under bf16 autocast;
* ``bf16 labelled rows``: bf16 and the projection only on the ~15% labelled rows
  (:func:`r2d.modeling.encoder.labelled_rows_lm_loss`; MLM only: a causal model labels every row);
* ``+ compile``: the last one through ``torch.compile`` (first steps excluded; its compile time is printed).

Dropout is 0. Variants run round-robin (a load
change on this shared machine hits all alike); the table shows median tokens/s (batch x length / step time).

Run: ``python benchmarks/bench_pretrain_speed.py`` (defaults: the old ``small`` experiment shape, hidden 256, 4
layers, vocab 8,192, batch 16 x 64); ``--hidden 128 --ffn 512 --vocab 4096 --batch 32 --seq 128`` for ``cpu``'s.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def mlm_model(kind: str, a, labelled_rows: bool):
    from transformers import RobertaForMaskedLM

    from r2d.modeling.encoder import R2DForMaskedLM, RobertaForMaskedLMLabelledRows
    from r2d.training.trainer import model_config

    size = dict(hidden_size=a.hidden, num_hidden_layers=a.layers, num_attention_heads=a.heads,
                intermediate_size=a.ffn, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    torch.manual_seed(0)
    if kind == "r2d":
        cfg = model_config("r2d", "tiny", vocab_size=a.vocab, max_length=a.seq, **size,
                           flag_pos_weight=[3.0, 4.0, 90.0, 30.0, 50.0, 70.0, 100.0])
        model = R2DForMaskedLM(cfg)
        model.labelled_rows_only = labelled_rows
        return model
    cfg = model_config("roberta", "tiny", vocab_size=a.vocab, max_length=a.seq, **size)
    return (RobertaForMaskedLMLabelledRows if labelled_rows else RobertaForMaskedLM)(cfg)


def causal_model(kind: str, a):
    from r2d.modeling.causal import R2DCausalConfig, R2DForCausalLM

    torch.manual_seed(0)
    nf = 7 if kind == "r2d" else 0
    return R2DForCausalLM(R2DCausalConfig(vocab_size=a.vocab, hidden_size=a.hidden, num_hidden_layers=a.layers,
                                          num_attention_heads=a.heads, intermediate_size=a.ffn,
                                          max_position_embeddings=a.seq, num_flags=nf,
                                          flag_names=[f"f{i}" for i in range(nf)]))


def batch(kind: str, objective: str, a) -> dict:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(4, a.vocab - 1, (a.batch, a.seq), generator=g)
    ids[:, 0] = 0
    out = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    flags = (torch.rand(a.batch, a.seq, 7, generator=g) < 0.05).long()
    if objective == "mlm":
        sel = torch.rand(a.batch, a.seq, generator=g) < 0.15
        sel[:, 0] = False
        out["labels"] = torch.where(sel, ids, torch.full_like(ids, -100))
        if kind == "r2d":
            out["flags"] = flags
            out["flag_labels"] = torch.where(sel.unsqueeze(-1), flags, torch.full_like(flags, -100))
    else:
        out["labels"] = ids.clone()
        if kind == "r2d":
            out["flags"] = flags
            out["flag_labels"] = flags.clone()
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ffn", type=int, default=1024)
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=6)
    ap.add_argument("--compile", action="store_true", help="add the torch.compile variant")
    ap.add_argument("--objectives", default="mlm,clm")
    a = ap.parse_args(argv)

    variants = []  # (name, model, batch, bf16, train_mode)
    for obj in a.objectives.split(","):
        for kind in (("r2d", "roberta") if obj == "mlm" else ("r2d", "bpe")):
            b = batch(kind, obj, a)
            if obj == "mlm":
                variants.append((f"mlm {kind}: fp32 full head", mlm_model(kind, a, False), b, False, True))
                variants.append((f"mlm {kind}: bf16 full head", mlm_model(kind, a, False), b, True, True))
                variants.append((f"mlm {kind}: bf16 labelled rows", mlm_model(kind, a, True), b, True, True))
            else:
                variants.append((f"clm {kind}: fp32", causal_model(kind, a), b, False, True))
                variants.append((f"clm {kind}: bf16", causal_model(kind, a), b, True, True))
            if a.compile:
                m = mlm_model(kind, a, True) if obj == "mlm" else causal_model(kind, a)
                t0 = time.perf_counter()
                cm = torch.compile(m)
                variants.append((f"{obj} {kind}: bf16 + compile", cm, b, True, True))
                variants[-1] = (*variants[-1], t0)
    opts = {v[0]: torch.optim.AdamW(v[1].parameters(), lr=1e-4) for v in variants}
    times: dict[str, list[float]] = {v[0]: [] for v in variants}
    for rep in range(a.repeats + 1):
        for v in variants:
            name, model, b, bf16, train = v[:5]
            model.train(train)
            t0 = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = model(**b).loss
            loss.backward()
            opts[name].step()
            opts[name].zero_grad()
            dt = time.perf_counter() - t0
            if rep == 0 and len(v) > 5:
                print(f"{name}: first step (compile) {dt:.1f} s")
            if rep > 0:  # the first step warms up allocators and compiles
                times[name].append(dt)
    tokens = a.batch * a.seq
    print(f"\nhidden {a.hidden}, {a.layers} layers, FFN {a.ffn}, vocab {a.vocab}, batch {a.batch} x {a.seq}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}\n")
    print(f"| variant | median step (s) | tokens/s |\n|---|---|---|")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"| {name} | {med:.3f} | {tokens / med:,.0f} |")


if __name__ == "__main__":
    main()
