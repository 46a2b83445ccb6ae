"""The units of ``r2d experiment``: one pretraining run, one evaluation of a model folder, one fine-tuning run, each
returning the JSON-able result its stage marker records (per-item numbers for the paired bootstrap).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from r2d.experiment.presets import PAIRS, ExperimentPreset, snapshot_steps
from r2d.training.metrics import precision_recall_f1

if TYPE_CHECKING:
    from r2d.training.finetune import FinetuneArgs

CAUSAL, MODELS = dict(PAIRS)["clm"], dict(PAIRS)["mlm"]
"""the causal pair (R2D and its 1D twin on a byte-level BPE) and the MLM pair (R2D and the RoBERTa baseline)"""


def run_pretrain(objective: str, kind: str, out_dir: Path, tokenizer_dir: str, corpus_info: dict,
                 preset: ExperimentPreset, *, seed: int, progress: bool, steps: int | None = None) -> dict:
    """Pretrain one model with :func:`r2d.training.pretrain.pretrain` (in-process; a killed run resumes).

    Every model reads ``train.txt`` packed into full ``max_length`` blocks, for the same steps and batch: the same
    rows for both models of a pair. Snapshots at :func:`snapshot_steps` (step 0 = the untrained row). ``steps``:
    the ELECTRA runs' (None: the preset's for the objective).
    """
    from r2d.training.pretrain import METRICS_FILE, PretrainArgs, pretrain

    if steps is None:
        steps = preset.causal_steps if objective == "clm" else preset.mlm_steps
    points = preset.curve_points if objective == "clm" else 1
    args = PretrainArgs(
        corpus=[corpus_info["train_file"]], out=str(out_dir), model=kind.split("-")[0], objective=objective,
        preset=preset.model_preset, tokenizer=tokenizer_dir, max_steps=steps, batch_size=preset.batch_size,
        max_length=preset.max_length, pack=True, lr=preset.lr, warmup_steps=max(1, steps // 10),
        eval_fraction=0.01, eval_size=64, eval_steps=max(1, steps // 2), logging_steps=max(1, steps // 20),
        save_steps=max(1, steps // 4), seed=seed, bf16=_bf16(), compile=preset.compile,
        snapshot_steps=snapshot_steps(steps, points),
        resume=(out_dir / METRICS_FILE).exists(), progress=progress)
    summary = pretrain(args, argv=["r2d", "experiment", "(pretrain stage)"])
    return {"summary": summary, "args": asdict(args)}


def _bf16() -> bool:
    from r2d.training.clm import bf16_available

    return bf16_available()


# ---------------------------------------------------------------------------------------------------------
# evaluations of one model folder (each a stage: per-item numbers for the paired bootstrap)


def eval_bpb(model_dir: str, sets: dict[str, list[str]], *, limit: int | None = None) -> dict:
    """Bits per byte of a causal model on each dataset (on a GPU where there is one), with every document's bits and
    bytes."""
    from r2d.device import place
    from r2d.evaluation.bpb import bits_per_byte
    from r2d.modeling.causal_data import RowCodec, load_causal_lm

    model, codec = load_causal_lm(model_dir)
    model = place(model)
    codec = codec if isinstance(codec, RowCodec) else RowCodec(codec)
    out = {}
    for name, docs in sets.items():
        docs = docs[:limit] if limit else docs
        r = bits_per_byte(model, codec, docs, batch_size=16, per_document=True)
        scored = iter(zip(r.document_bits or [], r.document_bytes or []))  # empty documents are not scored: 0, 0
        bits, nbytes = map(list, zip(*[next(scored) if d else (0.0, 0) for d in docs])) if docs else ([], [])
        out[name] = {"bits_per_byte": sum(bits) / max(1, sum(nbytes)), "bits": bits, "bytes": nbytes,
                     "precision": r.precision}
    return out


def eval_blimp(model_dir: str, pairs) -> dict:
    """BLiMP accuracy overall, per field and per paradigm, and every pair's right/wrong as a 0/1 string."""
    from r2d.evaluation.blimp import aggregate
    from r2d.evaluation.scoring import load_scorer

    scorer, rule = load_scorer(model_dir, batch_size=64)
    right: list[bool] = []
    for start in range(0, len(pairs), 256):
        chunk = pairs[start:start + 256]
        scores = list(scorer([p.good for p in chunk] + [p.bad for p in chunk]))
        right.extend(g > b for g, b in zip(scores[:len(chunk)], scores[len(chunk):]))
    return {**aggregate(pairs, right).to_dict(), "rule": rule, "right": "".join("1" if r else "0" for r in right)}


def eval_flags(model_dir: str, docs: list[str], *, max_length: int, seed: int = 0) -> dict:
    """Per-flag F1 of an R2D MLM on masked held-out rows: calibrated ``flag_probs`` at 0.5 against always "on"
    (F1 = 2p / (1 + p) at positive rate p), with a bootstrap interval of the difference over the masked rows."""
    import torch
    from transformers import AutoModelForMaskedLM

    import r2d.modeling.encoder  # noqa: F401  (registers model_type "r2d")
    from r2d.evaluation.bootstrap import paired_bootstrap
    from r2d.modeling.collator import R2DDataCollatorForMLM
    from r2d.modeling.mlm_batches import MLMBatches
    from r2d.tokenizer.loading import load_tokenizer
    from r2d.training.data import SequenceDataset, tokenize_documents

    tok = load_tokenizer(model_dir, r2d=True)
    model = AutoModelForMaskedLM.from_pretrained(model_dir).eval()
    ts = tokenize_documents(docs, tok, max_length=max_length, pack=True, with_flags=True, num_flags=tok.num_flags)
    batches = MLMBatches(R2DDataCollatorForMLM(tok, mlm_probability=0.15), seed, tok.pad_token_id, tok.num_flags)
    examples = batches.premask(SequenceDataset(ts))
    probs, labels = [], []
    with torch.inference_mode():
        for start in range(0, len(examples), 32):
            batch = batches.pad(examples[start:start + 32])
            fl = batch.pop("flag_labels")
            batch.pop("labels", None)
            res = model(**batch)
            sel = fl[..., 0].ne(-100)  # (B, T) masked rows
            probs.append(res.flag_probs[sel].float().numpy())
            labels.append(fl[sel].numpy())
    p, y = np.concatenate(probs), np.concatenate(labels)  # (N, F) each

    def f1(yy: np.ndarray, pp: np.ndarray) -> float:
        return precision_recall_f1(yy, pp)[2]  # positive where the probability is >= 0.5

    flags = {}
    for j, name in enumerate(tok.flag_names):
        yj, pj = y[:, j].astype(bool), p[:, j]
        always = np.ones(len(yj))
        ci = paired_bootstrap(lambda idx: f1(yj[idx], pj[idx]), lambda idx: f1(yj[idx], always[idx]), len(yj),
                              n_boot=500)
        flags[name] = {"f1": f1(yj, pj), "always_on_f1": f1(yj, always), "positives": int(yj.sum()),
                       "rate": float(yj.mean()), "difference_ci": ci}
    return {"rows": int(len(y)), "flags": flags}


def finetune_jobs(preset: ExperimentPreset) -> list[tuple[str, str, str, bool, int, int]]:
    """Every fine-tuning run of a preset, in order: ``(task, objective, kind, untrained, seed, LoRA rank)``.

    Each pair's pretrained and untrained models on its tasks (the MLM pair only where it is pretrained), every
    fine-tuning seed; the LoRA runs of :func:`lora_objective` right after its first task's runs.
    """
    jobs = []
    lora_pair = lora_objective(preset)
    for objective, kinds, tasks in (("mlm", MODELS, preset.tasks if preset.mlm_steps else ()),
                                    ("clm", CAUSAL, preset.causal_tasks)):
        for i, task in enumerate(tasks):
            jobs += [(task, objective, kind, u, s, 0) for s in preset.seeds for u in (False, True) for kind in kinds]
            if objective == lora_pair and i == 0:
                jobs += [(task, objective, "r2d", False, s, preset.lora_r) for s in preset.lora_seeds]
    return jobs


def finetune_args(preset: ExperimentPreset, task: str, model: str | Path, out: str | Path, seed: int, *,
                  data_dir: str | Path | None, lora: int = 0, progress: bool = False,
                  max_train_samples: int | None = None) -> FinetuneArgs:
    """The arguments of one of the preset's fine-tuning runs (full, or LoRA of rank ``lora``) of ``model`` on
    ``task``: early stopping on the preset's dev set, bf16 where the CPU has it, nothing saved; at most
    ``max_train_samples`` training examples (None: the preset's cap)."""
    from r2d.training.finetune import FinetuneArgs

    return FinetuneArgs(
        task=task, model=str(model), out=str(out), data_dir=str(data_dir) if data_dir else None,
        seed=seed, epochs=preset.finetune_epochs, eval_steps=preset.finetune_eval_steps,
        logging_steps=max(1, preset.finetune_eval_steps // 5), batch_size=preset.finetune_batch_size,
        lr=preset.lora_lr if lora else preset.finetune_lr, max_length=preset.finetune_max_length,
        max_train_samples=max_train_samples or preset.max_train_samples, max_eval_samples=preset.max_eval_samples,
        dev_size=preset.dev_size, patience=preset.patience, eval_on_start=False, lora_r=lora,
        save=False, progress=progress, extra={"bf16": _bf16()})


def electra_jobs(preset: ExperimentPreset) -> list[tuple[str, str, str, bool, int, int]]:
    """The ELECTRA arm's fine-tuning runs, as :func:`finetune_jobs`' tuples, those already among them left out: on
    each of its tasks the MLM pair, its untrained rows and the ELECTRA pair, every fine-tuning seed."""
    if not preset.electra:
        return []
    done = set(finetune_jobs(preset))
    jobs = [(task, objective, kind, untrained, s, 0) for task in preset.electra_tasks for s in preset.seeds
            for objective, untrained in (("mlm", False), ("mlm", True), ("electra", False)) for kind in MODELS]
    return [j for j in jobs if j not in done]


def electra_cap(preset: ExperimentPreset, task: str, objective: str) -> int | None:
    """The arm's cap on ``task``'s training examples (:attr:`ExperimentPreset.electra_max_train_samples`); None for
    a task without one, for the causal pair and for the MLM pair's own tasks (they keep the preset's protocol)."""
    if objective == "clm" or (objective == "mlm" and task in preset.tasks):
        return None
    return dict(preset.electra_max_train_samples).get(task)


def lora_objective(preset: ExperimentPreset) -> str | None:
    """The pair whose pretrained R2D model meets LoRA on its first task: the MLM pair where it is fine-tuned, else
    the causal pair (a preset without the MLM pair keeps the one LoRA-vs-full comparison); None = no LoRA run."""
    if not preset.lora_r:
        return None
    if preset.mlm_steps and preset.tasks:
        return "mlm"
    return "clm" if preset.causal_tasks else None


def task_note(task: str, data_dir: Path | None) -> str:
    """Where a task's data comes from: the Hub dataset, or the local folder's note."""
    from r2d.training.tasks import get_task

    t = get_task(task)
    return f"Hugging Face Hub {t.hub_path} {t.hub_config or ''}".strip() if data_dir is None else t.local_note
