"""The steps of ``benchmarks/gpu_check.sh``: the GPU path checked and timed on one GPU, each step writing one JSON file.

Subcommands (each writes ``--results/<step>.json``, a work folder; ``summary`` reads them all back and writes
``gpu_check.md`` and ``gpu_check.json`` to ``--out``):

* ``prepare`` (on any machine, before the GPU is lent; no GPU time): copies what the check reads from
  ``shared/data`` into ``--data`` (default ``data-gpu/``): a slice of the Wikipedia shards cut by the experiment's own
  corpus stage (train text, held-out paragraphs, wikitext-2 test articles), the R2D and byte-level BPE tokenizers
  of the ``gpu`` preset's vocabulary trained on that text, two BLiMP paradigms and GLUE STS-B's train and dev files;
* ``env``: versions, the GPU, its bf16; refuses (exit 3) a ``transformers`` older than ``pyproject.toml`` asks for;
* ``steps``: one training step of the causal R2D model vs its 1D twin (``benchmarks/bench_causal.py``'s models and
  batches) at the ``gpu`` preset's size, in float32 (TF32 products), bf16 autocast and bf16 + ``torch.compile``;
* ``generate``: rows per second with and without the KV cache, one prompt and a padded batch, both kinds; each
  case is also run under ``torch.cuda.set_sync_debug_mode("error")``: no synchronizing call inside the loop (the
  mode does not see :class:`~r2d.modeling.generation.EndWatch`'s event waits, which happen only when the host runs
  ``lag`` steps ahead);
* ``preset``: the first ``--steps`` optimizer steps of each of the ``gpu`` preset's four pretraining runs
  (``r2d pretrain`` in-process with the preset's settings, as ``r2d experiment --preset gpu`` runs them), a short
  fine-tuning run and the evaluations' throughput, and from them the preset's extrapolated total time;
* ``summary``: one table of everything (stdout and ``--out/gpu_check.md``; every figure in ``gpu_check.json``).

``--device cpu --tiny`` runs every step at toy sizes on the CPU: the script's dry run, not a measurement.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import re
import shutil
import statistics
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))  # bench_causal's models, batches and stub tokenizers

# STS-B and the other GLUE-style tasks of the gpu preset: training examples (GLUE / IMDb train splits)
TRAIN_EXAMPLES = {"stsb": 5749, "sst2": 67349, "imdb": 25000, "cola": 8551, "mrpc": 3668, "rte": 2490}
BLIMP_PAIRS = 67 * 1000  # the published BLiMP: 67 paradigms of 1,000 pairs


def tiny_sizes(a) -> None:
    """Toy sizes for the CPU dry run."""
    a.hidden, a.layers, a.heads, a.intermediate, a.vocab = 32, 2, 4, 64, 300
    a.batch, a.seq, a.new_tokens, a.prompt, a.steps = 4, 32, 8, 6, 6


def gpu_sizes(a) -> None:
    """The gpu preset's model (``small``) and batch; 128 new rows after 9 prompt rows."""
    from r2d.experiment.presets import PRESETS
    from r2d.training.trainer import PRESETS as MODEL_SIZES

    p = PRESETS["gpu"]
    m = MODEL_SIZES[p.model_preset]
    a.hidden, a.layers, a.heads, a.intermediate = (m["hidden_size"], m["num_hidden_layers"],
                                                  m["num_attention_heads"], m["intermediate_size"])
    a.vocab, a.batch, a.seq, a.new_tokens, a.prompt = p.vocab_size, p.batch_size, p.max_length, 128, 8


def device_of(a):
    import torch

    return torch.device(a.device)


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def third_party_modules() -> list[str]:
    """Top-level modules imported so far that are neither the standard library's nor r2d's (what a bare GPU image
    must have: benchmarks/gpu_wheels.sh)."""
    names = {m.split(".")[0] for m in list(sys.modules)}
    ours = ("r2d", "bench_causal", "gpu_check", "host_reads", "conftest")
    return sorted(n for n in names if n not in sys.stdlib_module_names and not n.startswith(("_", "test_"))
                  and n not in ours)


def write(a, step: str, data: dict) -> None:
    data = {**data, "imported": third_party_modules()}
    out = Path(a.results)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{step}.json").write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"[gpu_check] {step}: wrote {out / (step + '.json')}", flush=True)


# ---------------------------------------------------------------------------------------------------- prepare


def cmd_prepare(a) -> None:
    """Copy and cut what the check reads into --data (no GPU needed)."""
    from r2d.experiment.data import prepare_corpus, prepare_tokenizers
    from r2d.experiment.presets import PRESETS

    shared, data = Path(a.shared), Path(a.data)
    data.mkdir(parents=True, exist_ok=True)
    preset = dataclasses.replace(PRESETS["gpu"], corpus_bytes=int(a.corpus_mb * 1e6), heldout_docs=a.heldout_docs,
                                 wikitext_bytes=int(a.wikitext_kb * 1e3),
                                 **({"vocab_size": a.vocab} if a.vocab else {}))
    t0 = time.perf_counter()
    info = prepare_corpus(data, shared, None, preset)
    t1 = time.perf_counter()
    toks = prepare_tokenizers(data, info, preset)
    t2 = time.perf_counter()
    for src, dst in [(shared / "glue" / "STS-B", data / "glue" / "STS-B")]:
        dst.mkdir(parents=True, exist_ok=True)
        for name in ("train.tsv", "dev.tsv"):
            shutil.copyfile(src / name, dst / name)
    blimp = sorted((shared / "blimp").glob("*.jsonl"))[:2]
    (data / "blimp").mkdir(exist_ok=True)
    for f in blimp:
        shutil.copyfile(f, data / "blimp" / f.name)

    def rel(p: str) -> str:
        return str(Path(p).resolve().relative_to(data.resolve()))

    manifest = {"corpus": {k: (rel(v) if k.endswith("_file") else v) for k, v in info.items() if k != "source"},
                "tokenizers": {k: rel(v) for k, v in toks.items() if k in ("r2d", "bpe", "roberta")},
                "vocab_size": toks["vocab_size"], "preset_vocab": preset.vocab_size,
                "blimp": [f.name for f in blimp], "seconds": {"corpus": round(t1 - t0, 1),
                                                              "tokenizers": round(t2 - t1, 1)}}
    (data / "prepared.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    size = sum(f.stat().st_size for f in data.rglob("*") if f.is_file())
    print(f"prepared {data}: {size / 1e6:.1f} MB (corpus {t1 - t0:.0f} s, tokenizers {t2 - t1:.0f} s)")


# ---------------------------------------------------------------------------------------------------- env


def _version_floor(package: str) -> str | None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    m = re.search(rf'"{package}>=([0-9.]+)"', text)
    return m.group(1) if m else None


def cmd_env(a) -> int:
    import torch
    import transformers

    dev = device_of(a)
    info = {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
            "device": str(dev), "cuda": torch.version.cuda, "machine": platform.machine(), "cpus": os.cpu_count()}
    if dev.type == "cuda":
        p = torch.cuda.get_device_properties(dev)
        info.update(gpu=p.name, gpu_memory_gb=round(p.total_memory / 2**30, 1), capability=f"{p.major}.{p.minor}",
                    bf16=torch.cuda.is_bf16_supported(), multiprocessors=p.multi_processor_count)
    floor = _version_floor("transformers")
    info["transformers_floor"] = floor

    def numbers(v: str) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", v)[:3])

    ok = floor is None or numbers(transformers.__version__) >= numbers(floor)
    info["ok"] = ok
    write(a, "env", info)
    print(json.dumps(info, indent=2))
    if not ok:
        print(f"transformers {transformers.__version__} is older than r2d's floor {floor}: carry wheels "
              "(benchmarks/gpu_wheels.sh) and run again", file=sys.stderr)
        return 3
    return 0


# ---------------------------------------------------------------------------------------------------- steps


def _timed_steps(step, device, n: int, blocks: int) -> float:
    """Median seconds per step over ``blocks`` runs of ``n`` back-to-back steps (the host may run ahead)."""
    times = []
    for _ in range(blocks):
        sync(device)
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        sync(device)
        times.append((time.perf_counter() - t0) / n)
    return statistics.median(times)


def cmd_steps(a) -> None:
    import torch

    from bench_causal import build, make_batch
    from r2d.device import use_tf32

    dev = device_of(a)
    if dev.type == "cuda":
        use_tf32()
    rows = {}
    for kind, nf in (("R2D", 7), ("twin", 0)):
        for variant in a.variants.split(","):
            torch.manual_seed(0)
            model = build(nf, a).to(dev).train()
            opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=dev.type == "cuda")
            batch = {k: v.to(dev) for k, v in make_batch(a, nf).items()}
            bf16 = variant != "fp32"
            run = torch.compile(model) if variant == "bf16+compile" else model

            def step():
                opt.zero_grad(set_to_none=True)
                with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
                    loss = run(**batch).loss
                loss.backward()
                opt.step()

            t0 = time.perf_counter()
            for _ in range(a.warmup):
                step()
            sync(dev)
            warm = time.perf_counter() - t0
            sec = _timed_steps(step, dev, a.repeats, 3)
            rows[f"{kind} {variant}"] = {"seconds_per_step": sec, "rows_per_second": a.batch * a.seq / sec,
                                         "warmup_seconds": round(warm, 2),
                                         "peak_memory_gb": (round(torch.cuda.max_memory_allocated(dev) / 2**30, 2)
                                                            if dev.type == "cuda" else None)}
            print(f"[gpu_check] steps {kind} {variant}: {1000 * sec:.2f} ms/step", flush=True)
            del model, opt, run
            if dev.type == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats(dev)
    write(a, "steps", {"shape": {k: getattr(a, k) for k in ("hidden", "layers", "heads", "intermediate", "vocab",
                                                            "batch", "seq")}, "cases": rows})


# ---------------------------------------------------------------------------------------------------- generate


class LengthsStub:
    """bench_causal's stub tokenizer with prompts of different lengths (a left-padded batch)."""

    def __init__(self, base):
        self.__dict__.update(vars(base))
        self.base = base

    def encode(self, texts, add_special_tokens=True):
        rows = self.base.encode(texts, add_special_tokens)
        return [(ids[: max(3, len(ids) - i % 4)], flags[: max(3, len(ids) - i % 4)]) for i, (ids, flags) in
                enumerate(rows)]


def cmd_generate(a) -> None:
    import torch

    from bench_causal import StubCodec, build, no_eos
    from r2d.device import use_tf32
    from r2d.modeling.generation import generate_rows

    dev = device_of(a)
    if dev.type == "cuda":
        use_tf32()
    rows = {}
    for kind, nf in (("R2D", 7), ("twin", 0)):
        model = build(nf, a).to(dev).eval()
        no_eos(model)  # exactly new_tokens rows every time
        for batch in (1, a.gen_batch):
            codec = StubCodec(a.vocab, nf, a.prompt)
            codec = LengthsStub(codec) if batch > 1 else codec
            prompts = ["p"] * batch
            for cache in (True, False):
                def loop():  # the prompts encoded and moved, the tables made: what runs before the loop
                    return generate_rows(model, codec, prompts, max_new_tokens=a.new_tokens, temperature=1.0,
                                         top_k=50, top_p=0.95, seed=0, use_cache=cache)

                def once(steps=None):
                    n = sum(1 for _ in (steps if steps is not None else loop()))
                    assert n == a.new_tokens, n

                once()  # warm-up
                waits = "not checked"
                if dev.type == "cuda":
                    steps = loop()
                    sync(dev)
                    torch.cuda.set_sync_debug_mode("error")  # any wait for the device inside the loop raises
                    try:
                        once(steps)
                        waits = "none"
                    except RuntimeError as e:
                        waits = f"waited: {str(e).splitlines()[0][:80]}"
                    finally:
                        torch.cuda.set_sync_debug_mode("default")
                times = []
                for _ in range(a.gen_repeats):
                    sync(dev)
                    t0 = time.perf_counter()
                    once()
                    sync(dev)
                    times.append(time.perf_counter() - t0)
                sec = statistics.median(times)
                key = f"{kind} batch {batch} {'cache' if cache else 'no cache'}"
                rows[key] = {"seconds": sec, "rows_per_second": batch * a.new_tokens / sec,
                             "ms_per_step": 1000 * sec / a.new_tokens, "host_waits_in_loop": waits}
                print(f"[gpu_check] generate {key}: {1000 * sec / a.new_tokens:.2f} ms/step, waits: {waits}",
                      flush=True)
        del model
    write(a, "generate", {"new_tokens": a.new_tokens, "prompt_rows": a.prompt + 1, "cases": rows})


# ---------------------------------------------------------------------------------------------------- preset


def _steady_seconds_per_step(metrics: Path, skip: int) -> float | None:
    """Seconds per step between the first logged step past ``skip`` and the last (time stamps of metrics.jsonl)."""
    from r2d.training.trainer import read_metrics

    rows = [r for r in read_metrics(metrics) if "loss" in r and "time" in r]
    late = [r for r in rows if r["step"] > skip] or rows
    if len(late) < 2:
        return None
    return (late[-1]["time"] - late[0]["time"]) / (late[-1]["step"] - late[0]["step"])


def cmd_preset(a) -> None:
    import torch

    from r2d.experiment.units import finetune_jobs
    from r2d.experiment.presets import PRESETS, snapshot_steps
    from r2d.device import bf16_native
    from r2d.training.pretrain import PretrainArgs, pretrain

    data = Path(a.data)
    manifest = json.loads((data / "prepared.json").read_text(encoding="utf-8"))
    preset = PRESETS["gpu"]
    size = "tiny" if a.tiny else preset.model_preset
    batch, length = (a.batch, a.seq) if a.tiny else (preset.batch_size, preset.max_length)
    dev = device_of(a)
    bf16 = bf16_native(dev)
    out = Path(a.results) / "preset-runs"
    shutil.rmtree(out, ignore_errors=True)
    train_file = str(data / manifest["corpus"]["train_file"])
    runs = {}
    for objective, kind in (("clm", "r2d"), ("clm", "bpe"), ("mlm", "r2d"), ("mlm", "roberta")):
        name = f"{objective}-{kind}"
        total = preset.causal_steps if objective == "clm" else preset.mlm_steps
        args = PretrainArgs(
            corpus=[train_file], out=str(out / name), model=kind, objective=objective, preset=size,
            tokenizer=str(data / manifest["tokenizers"][kind]), max_steps=a.steps, batch_size=batch,
            max_length=length, pack=True, lr=preset.lr, warmup_steps=max(1, total // 10), eval_fraction=0.01,
            eval_size=64, eval_steps=a.steps, logging_steps=max(1, a.steps // 20), save_steps=10 * a.steps,
            seed=0, bf16=bf16, compile=preset.compile, progress=False)
        t0 = time.perf_counter()
        try:
            summary = pretrain(args, argv=["gpu_check", "preset", name])
        except Exception as e:  # one run failing must not hide the others
            runs[name] = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()[-2000:]}
            print(f"[gpu_check] preset {name}: FAILED {e}", flush=True)
            continue
        wall = time.perf_counter() - t0
        steady = _steady_seconds_per_step(out / name / "metrics.jsonl", skip=max(1, a.steps // 10))
        train = summary.get("train_seconds_this_invocation")
        runs[name] = {"steps": summary.get("steps"), "wall_seconds": round(wall, 1), "train_seconds": train,
                      "steady_seconds_per_step": steady, "preset_steps": total,
                      "overhead_seconds": round(wall - (train or 0.0), 1),
                      "eval_loss": summary.get("last_eval", {}).get("eval_loss"),
                      "rows_per_second": summary.get("train_rows_per_second"), "bf16": bf16}
        print(f"[gpu_check] preset {name}: {a.steps} steps in {train} s, steady "
              f"{1000 * (steady or float('nan')):.1f} ms/step, wall {wall:.0f} s", flush=True)
        if dev.type == "cuda":
            torch.cuda.empty_cache()

    finetune = _finetune_rate(a, data, out, preset, size, batch, length)
    evals = _eval_rates(a, data, manifest, out, dev)

    # the extrapolation: every unit of the preset at the rates measured here
    est = {}
    causal = [runs.get(f"clm-{k}", {}) for k in ("r2d", "bpe")]
    mlm = [runs.get(f"mlm-{k}", {}) for k in ("r2d", "roberta")]
    corpus_scale = preset.corpus_bytes / max(1, manifest["corpus"]["train_bytes"])
    if all(r.get("steady_seconds_per_step") for r in causal + mlm):
        steps_s = (len(preset.causal_seeds) * preset.causal_steps * sum(r["steady_seconds_per_step"] for r in causal)
                   + len(preset.mlm_seeds) * preset.mlm_steps * sum(r["steady_seconds_per_step"] for r in mlm))
        n_runs = 2 * len(preset.causal_seeds) + 2 * len(preset.mlm_seeds)
        overhead = statistics.mean(r["overhead_seconds"] for r in causal + mlm)
        snapshots = len(snapshot_steps(preset.causal_steps, preset.curve_points)) * 2 * len(preset.causal_seeds)
        est["pretraining steps"] = steps_s
        # subtle: all of a run's start-up is scaled with the corpus (only its data preparation grows with it)
        est["pretraining start-up, data, saves (upper bound)"] = (n_runs * overhead * max(1.0, corpus_scale)
                                                                  + snapshots * 1.0)
    if finetune.get("seconds_per_step"):
        jobs = finetune_jobs(preset)
        steps = sum(math.ceil((TRAIN_EXAMPLES.get(t, 10000) - preset.dev_size) / preset.finetune_batch_size)
                    * preset.finetune_epochs for t, *_ in jobs)
        est["fine-tuning (at most: no early stop)"] = steps * finetune["seconds_per_step"] + len(jobs) * finetune[
            "overhead_seconds"]
        finetune["preset_jobs"], finetune["preset_max_steps"] = len(jobs), int(steps)
    if evals.get("bpb_bytes_per_second"):
        doc_bytes = evals["heldout_bytes_per_doc"]
        points = len(snapshot_steps(preset.causal_steps, preset.curve_points))
        per_run = ((points * preset.curve_docs) * doc_bytes + 2 * (preset.heldout_docs * doc_bytes
                                                                   + preset.wikitext_bytes))
        est["bits per byte"] = 2 * len(preset.causal_seeds) * per_run / evals["bpb_bytes_per_second"]
    if evals.get("blimp_causal_pairs_per_second"):
        causal_models = 2 * 2 * len(preset.causal_seeds)  # both kinds, final and untrained
        est["BLiMP causal"] = causal_models * BLIMP_PAIRS / evals["blimp_causal_pairs_per_second"]
    if evals.get("blimp_mlm_pairs_per_second") and preset.blimp_mlm:
        est["BLiMP MLM (pseudo-log-likelihood)"] = 2 * 2 * BLIMP_PAIRS / evals["blimp_mlm_pairs_per_second"]
    est = {k: round(v, 1) for k, v in est.items()}
    write(a, "preset", {"measured_steps": a.steps, "model_preset": size, "batch": batch, "max_length": length,
                        "bf16": bf16, "train_bytes": manifest["corpus"]["train_bytes"],
                        "preset_corpus_bytes": preset.corpus_bytes, "runs": runs, "finetune": finetune,
                        "evals": evals, "estimate_seconds": est,
                        "estimate_total_minutes": round(sum(est.values()) / 60, 1) if est else None})


def _finetune_rate(a, data: Path, out: Path, preset, size: str, batch: int, length: int) -> dict:
    """Seconds per fine-tuning step of the pretrained R2D MLM on STS-B at the preset's batch and length."""
    model = out / "mlm-r2d" / "model"
    if not (data / "glue" / "STS-B" / "train.tsv").is_file() or not model.is_dir():
        return {"skipped": "no glue/STS-B in --data or no mlm-r2d model"}
    from r2d.training.finetune import FinetuneArgs, finetune

    steps = max(4, a.steps // 5)
    args = FinetuneArgs(task="stsb", model=str(model), out=str(out / "finetune-stsb"), data_dir=str(data),
                        max_steps=steps, eval_steps=10 * steps, logging_steps=max(1, steps // 5),
                        batch_size=a.batch if a.tiny else preset.finetune_batch_size,
                        max_length=min(length, a.seq if a.tiny else preset.finetune_max_length),
                        lr=preset.finetune_lr, eval_on_start=False, save=False, progress=False,
                        max_eval_samples=64)
    t0 = time.perf_counter()
    try:
        res = finetune(args, argv=["gpu_check", "finetune"])
    except Exception as e:
        return {"error": f"{type(e).__name__}: {e}"}
    wall = time.perf_counter() - t0
    steady = _steady_seconds_per_step(out / "finetune-stsb" / "metrics.jsonl", skip=1)
    sec = steady or res["train_seconds"] / steps
    return {"steps": steps, "seconds_per_step": sec, "train_seconds": res["train_seconds"],
            "overhead_seconds": round(wall - res["train_seconds"], 1), "batch": args.batch_size,
            "max_length": args.max_length}


def _eval_rates(a, data: Path, manifest: dict, out: Path, dev) -> dict:
    """Bits per byte (bytes/s; bf16 vs fp32 on the same model) and BLiMP (pairs/s) on the 200-step models."""
    from r2d.evaluation.blimp import read_pairs
    from r2d.evaluation.bpb import bits_per_byte
    from r2d.evaluation.scoring import load_scorer
    from r2d.modeling.causal_data import load_causal_lm

    res: dict = {}
    heldout = (data / manifest["corpus"]["heldout_file"]).read_text(encoding="utf-8").splitlines()
    heldout = [d for d in heldout if d][: a.eval_docs]
    res["heldout_bytes_per_doc"] = statistics.mean(len(d.encode("utf-8")) for d in heldout) if heldout else 0
    clm = out / "clm-r2d" / "model"
    if clm.is_dir() and heldout:
        model, codec = load_causal_lm(clm)
        model = model.to(dev)
        for precision in ("fp32", "auto"):
            bits_per_byte(model, codec, heldout[:4], batch_size=16, precision=precision)  # warm-up
            sync(dev)
            t0 = time.perf_counter()
            r = bits_per_byte(model, codec, heldout, batch_size=16, precision=precision)
            sec = time.perf_counter() - t0
            res[f"bpb_{r.precision}"] = r.bits_per_byte
            if precision == "auto":
                res["bpb_bytes_per_second"] = r.bytes / sec
        if "bpb_fp32" in res and "bpb_bf16" in res:
            res["bpb_bf16_minus_fp32_relative"] = res["bpb_bf16"] / res["bpb_fp32"] - 1
        del model
    blimp = data / "blimp"
    if blimp.is_dir() and any(blimp.glob("*.jsonl")):
        pairs = read_pairs(blimp, limit_per_paradigm=a.blimp_pairs)
        sentences = [p.good for p in pairs] + [p.bad for p in pairs]
        for key, folder in (("causal", out / "clm-r2d" / "model"), ("mlm", out / "mlm-r2d" / "model")):
            if not folder.is_dir():
                continue
            scorer, _ = load_scorer(folder, batch_size=64, device=str(dev))
            scorer(sentences[:8])  # warm-up
            sync(dev)
            t0 = time.perf_counter()
            scorer(sentences)
            res[f"blimp_{key}_pairs_per_second"] = len(pairs) / (time.perf_counter() - t0)
            res[f"blimp_{key}_pairs_timed"] = len(pairs)
    return res


# ---------------------------------------------------------------------------------------------------- summary


def _ms(x) -> str:
    return "-" if x is None else f"{1000 * x:.2f}"


def cmd_summary(a) -> None:
    res = Path(a.results)

    def load(step: str) -> dict:
        p = res / f"{step}.json"
        return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else {}

    env, steps, gen, preset, status = load("env"), load("steps"), load("generate"), load("preset"), load("status")
    lines = ["# gpu_check summary", ""]
    if env:
        lines.append(f"device: {env.get('gpu', env.get('device'))} ({env.get('gpu_memory_gb', '-')} GB, bf16 "
                     f"{env.get('bf16', '-')}); torch {env.get('torch')}, transformers {env.get('transformers')}, "
                     f"CUDA {env.get('cuda')}, Python {env.get('python')}")
    if a.dry_run:
        lines.append("DRY RUN on the CPU at toy sizes: these figures prove the script runs, they measure nothing")
    lines += ["", "| step | result |", "|---|---|"]
    for name, st in status.get("steps", {}).items():
        lines.append(f"| {name} | {st} |")
    if steps:
        c = steps["cases"]
        sh = steps["shape"]
        lines += ["", f"## Training step, causal R2D vs 1D twin (hidden {sh['hidden']}, {sh['layers']} layers, vocab "
                      f"{sh['vocab']:,}, batch {sh['batch']} x {sh['seq']})", "",
                  "| variant | R2D ms/step | twin ms/step | R2D / twin | R2D rows/s | warm-up s (R2D) |",
                  "|---|---:|---:|---:|---:|---:|"]
        for v in dict.fromkeys(k.split(" ", 1)[1] for k in c):
            r, t = c.get(f"R2D {v}"), c.get(f"twin {v}")
            if r and t:
                lines.append(f"| {v} | {_ms(r['seconds_per_step'])} | {_ms(t['seconds_per_step'])} | "
                             f"{r['seconds_per_step'] / t['seconds_per_step']:.3f} | {r['rows_per_second']:,.0f} | "
                             f"{r['warmup_seconds']} |")
    if gen:
        lines += ["", f"## Generation ({gen['new_tokens']} new rows, top-k 50, top-p 0.95)", "",
                  "| case | ms/step | rows/s | synchronizing calls in the loop |", "|---|---:|---:|---|"]
        for k, r in gen["cases"].items():
            lines.append(f"| {k} | {r['ms_per_step']:.2f} | {r['rows_per_second']:,.0f} | {r['host_waits_in_loop']} |")
        c = gen["cases"]
        for kind in ("R2D", "twin"):
            a1, b1 = c.get(f"{kind} batch 1 cache"), c.get(f"{kind} batch 1 no cache")
            if a1 and b1:
                lines.append(f"| {kind}: cache speed-up, one prompt | {b1['seconds'] / a1['seconds']:.2f}x | | |")
    if preset:
        lines += ["", f"## `--preset gpu`: the first {preset['measured_steps']} steps of each pretraining run "
                      f"({preset['model_preset']} models, batch {preset['batch']} x {preset['max_length']}, bf16 "
                      f"{preset['bf16']})", "",
                  "| run | steady ms/step | wall s | of which start-up, data, eval, save | eval loss | preset steps |",
                  "|---|---:|---:|---:|---:|---:|"]
        for name, r in preset["runs"].items():
            if "error" in r:
                lines.append(f"| {name} | FAILED: {r['error'][:80]} | | | | |")
                continue
            loss = r.get("eval_loss")
            lines.append(f"| {name} | {_ms(r['steady_seconds_per_step'])} | {r['wall_seconds']} | "
                         f"{r['overhead_seconds']} | {'-' if loss is None else f'{loss:.3f}'} | "
                         f"{r['preset_steps']:,} |")
        ft, ev = preset.get("finetune", {}), preset.get("evals", {})
        if ft.get("seconds_per_step"):
            lines.append(f"| finetune stsb (mlm-r2d, batch {ft['batch']} x {ft['max_length']}) | "
                         f"{_ms(ft['seconds_per_step'])} | | {ft['overhead_seconds']} | | "
                         f"{ft.get('preset_max_steps', '-'):,} at most |")
        elif ft:
            lines.append(f"| finetune stsb | {ft.get('skipped') or ft.get('error')} | | | | |")
        if ev:
            lines += ["", "| evaluation | measured |", "|---|---:|"]
            for k, v in ev.items():
                lines.append(f"| {k} | {v:,.4g} |" if isinstance(v, float) else f"| {k} | {v} |")
        if preset.get("estimate_seconds"):
            lines += ["", "| the gpu preset, extrapolated | minutes |", "|---|---:|"]
            for k, v in preset["estimate_seconds"].items():
                lines.append(f"| {k} | {v / 60:.1f} |")
            lines.append(f"| **total** | **{preset['estimate_total_minutes']}** |")
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(a.out or a.results)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_check.md").write_text(text, encoding="utf-8")
    everything = {step: load(step) for step in ("status", "env", "steps", "generate", "preset")}
    (out / "gpu_check.json").write_text(json.dumps(everything, indent=2, default=str) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("step", choices=("prepare", "env", "steps", "generate", "preset", "summary"))
    p.add_argument("--device", default="cuda")
    p.add_argument("--tiny", action="store_true", help="toy sizes (the CPU dry run)")
    p.add_argument("--dry-run", action="store_true", help="summary: say that the figures are a dry run's")
    p.add_argument("--results", default=str(ROOT / "gpu-check-results" / "work"),
                   help="the steps' work folder: their JSON files and the preset's runs")
    p.add_argument("--out", default=None, help="summary: where gpu_check.md and gpu_check.json go (default --results)")
    p.add_argument("--data", default=str(ROOT / "data-gpu"))
    p.add_argument("--shared", default=str(ROOT.parent / "shared" / "data"), help="prepare: shared/data")
    p.add_argument("--corpus-mb", type=float, default=8.0, help="prepare: MB of Wikipedia text for the runs")
    p.add_argument("--heldout-docs", type=int, default=200, help="prepare: held-out paragraphs")
    p.add_argument("--wikitext-kb", type=float, default=200.0, help="prepare: kB of wikitext-2 test articles")
    p.add_argument("--vocab", type=int, default=None, help="prepare: vocabulary (default: the gpu preset's)")
    p.add_argument("--steps", type=int, default=200, help="preset: optimizer steps measured per run")
    p.add_argument("--variants", default="fp32,bf16,bf16+compile", help="steps: precisions to time")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=10, help="steps: back-to-back steps per timed block")
    p.add_argument("--gen-batch", type=int, default=16)
    p.add_argument("--gen-repeats", type=int, default=3)
    p.add_argument("--eval-docs", type=int, default=200)
    p.add_argument("--blimp-pairs", type=int, default=500, help="preset: BLiMP pairs timed per paradigm file")
    a = p.parse_args(argv)
    if a.step == "prepare":
        cmd_prepare(a)
        return 0
    if a.step == "summary":
        cmd_summary(a)
        return 0
    gpu_sizes(a)
    if a.tiny:
        tiny_sizes(a)
        a.eval_docs, a.blimp_pairs, a.gen_batch, a.gen_repeats = 8, 4, 3, 1
        a.warmup, a.repeats = 1, 2
    if a.step == "env":
        return cmd_env(a)
    {"steps": cmd_steps, "generate": cmd_generate, "preset": cmd_preset}[a.step](a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
