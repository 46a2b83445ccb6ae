"""Recipe: pretraining of R2D or of the RoBERTa baseline through one code path (``r2d pretrain``).

Pipeline stage: ``corpus -> sequences -> masked batches -> model -> losses -> metrics``. Steps:

1. data (:mod:`r2d.training.data`, shared by every objective): stream documents (files or a Hub dataset) through
   the model's tokenizer (``R2DTokenizer`` for ``--model r2d``, the offline RoBERTa tokenizer for ``--model
   roberta``) into memory-mapped shards in ``OUT/data/shards`` (``--prepare-workers`` processes; reused by
   ``--resume``), or take a shard folder ``r2d prepare-corpus`` made; hold out the last ``--eval-fraction`` of the
   documents identically for both models; truncate each document at ``--max-length`` rows like the article or
   ``--pack`` the token stream, read from the shards as the steps ask for it (the corpus is never in memory);
2. the objective (chosen in one place, :data:`OBJECTIVES`: ``mlm``, or ``clm`` = :mod:`r2d.training.clm`, the causal
   R2D model and its 1D twin ``--model bpe``) builds the model, the collate function, the evaluation set and its
   metrics. MLM: measure the flag rates of the training rows and set
   ``pos_weight = (1 - p) / p`` (clamped); ``R2DForMaskedLM`` with :class:`r2d.modeling.collator.R2DDataCollatorForMLM`
   or ``RobertaForMaskedLM`` with ``transformers.DataCollatorForLanguageModeling``, of the same ``--preset``;
   masks seeded per example by :class:`r2d.modeling.mlm_batches.MLMBatches`;
3. train with the Hugging Face ``Trainer`` (multi-GPU, mixed precision, gradient accumulation and checkpoints
   come from it) over an :class:`r2d.training.data.EpochSampler`;
4. write ``OUT/metrics.jsonl`` (training loss parts per logging step; eval loss, MLM accuracy and, for R2D,
   per-flag precision/recall/F1 of the calibrated ``flag_probs`` at 0.5 next to each flag's always-on F1),
   TensorBoard logs (``OUT/runs``), checkpoints, ``OUT/args.json``, ``OUT/flag_rates.json``,
   ``OUT/summary.json`` and the final model with its tokenizer in ``OUT/model`` (what ``r2d finetune`` takes);
   with ``--snapshot-steps``, the model at those steps in ``OUT/snapshots/step-N`` (step 0 = untrained) with the
   rows seen and training seconds so far (:func:`snapshots` lists them: learning curves, untrained rows).

Bad input (a missing or unreadable corpus, a bad tokenizer folder, an option out of range, a ``--resume`` with
settings other than the run's ``OUT/args.json``) raises :class:`r2d.io.InputError` before anything is written.
``--resume`` continues from the newest complete checkpoint (also after ``kill -9``) and redraws exactly the masks of
an uninterrupted run; only the settings in :data:`RESUME_MAY_CHANGE` may differ from the run's. The command line is
:mod:`r2d.cli.pretrain`; this recipe does not fine-tune (``r2d finetune``) or write reports (``r2d experiment``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from r2d.io import InputError

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"
MODEL_DIR = "model"
CACHE_DIR = "data"
SNAPSHOT_DIR = "snapshots"
CLOCK_FILE = "train_clock.json"


@dataclass
class PretrainArgs:
    """Arguments of ``r2d pretrain`` (each attribute docstring is its ``--help`` text; ``None`` = the preset's)."""

    corpus: list[str] = field(metadata={"metavar": "FILE"})
    """corpus files (.txt or .txt.gz; WikiExtractor <doc> markup is dropped), a Hub dataset name[:config] (streamed),
    or a folder of shards made by r2d prepare-corpus with the run's tokenizer"""
    out: str
    """run folder: metrics.jsonl, args.json, checkpoints, TensorBoard logs, model/"""
    model: Literal["r2d", "roberta", "bpe"] = "r2d"
    """r2d (R2DForMaskedLM; R2DForCausalLM with clm), roberta (RobertaForMaskedLM, the MLM baseline) or bpe (clm
    only: the causal 1D twin, R2DForCausalLM without flags on a byte-level BPE)"""
    objective: Literal["mlm", "clm"] = "mlm"
    """training objective: mlm (masked language modelling, the article's) or clm (causal: next row = root, then its
    flags; documents packed with separators when --pack)"""
    preset: Literal["tiny", "micro", "mini", "small", "base"] = "tiny"
    """model size: tiny (tests), micro (the scaling study, a quarter of mini), mini (r2d experiment --preset cpu), small (a CPU), base (RoBERTa-base)"""
    tokenizer: str | None = None
    """r2d: tokenizer folder or r2d-en (default r2d-en); roberta, bpe: folder or Hub name (default: the offline
    RoBERTa BPE: 50,261 ids, r2d-en has 50,265)"""
    train_tokenizer: int | None = None
    """train the run's tokenizer with this many ids on its training documents instead of loading --tokenizer
    (r2d: an R2D tokenizer; bpe, roberta: a byte-level BPE): two runs on one corpus get a pair trained on the same
    text; kept in OUT/tokenizer"""
    max_steps: int = 1000
    """optimizer steps"""
    batch_size: int | None = None
    """per-device batch size (default: the preset's)"""
    grad_accum: int = 1
    """gradient accumulation steps"""
    lr: float | None = None
    """peak learning rate, AdamW with linear warm-up and decay (default: the preset's)"""
    warmup_steps: int | None = None
    """linear warm-up steps (default: the preset's, at most 10% of --max-steps)"""
    weight_decay: float | None = None
    """AdamW weight decay (default: the preset's)"""
    max_length: int | None = None
    """rows per sequence including <s> and </s> (default: the preset's)"""
    pack: bool = False
    """pack documents into full --max-length blocks instead of truncating each document"""
    max_docs: int | None = None
    """read at most this many documents (all corpus files together)"""
    eval_fraction: float = 0.02
    """share of the documents (taken from the end) held out for evaluation"""
    eval_size: int = 256
    """at most this many evaluation sequences"""
    eval_steps: int | None = None
    """evaluate every N steps (default: the preset's)"""
    logging_steps: int | None = None
    """log the training loss every N steps (default: the preset's)"""
    save_steps: int | None = None
    """checkpoint every N steps (default: the preset's)"""
    save_total_limit: int = 2
    """keep at most this many checkpoints"""
    mlm_probability: float = 0.15
    """share of rows (tokens) selected for prediction"""
    whole_word_mask: bool = False
    """select whole words for masking (r2d: by the tokenizer's word-start marker; roberta: by GPT-2's space marker);
    r2d hides a word's flags on all its rows either way"""
    flag_combine: Literal["concat_project", "truncate_concat", "linear_sum"] = "concat_project"
    """r2d: how flags meet the word embedding"""
    flag_values: Literal["binary", "centered"] = "binary"
    """r2d: binary (0/1) or centered (-0.5/+0.5) flag inputs"""
    flag_loss_weight: float = 1.0
    """r2d: loss = mlm_loss + w * flag_loss"""
    flag_pos_weight_max: float = 100.0
    """r2d: clamp of the per-flag pos_weight (1-p)/p"""
    flag_pos_weight: bool = True
    """r2d: weight positive flags by (1-p)/p from the measured rates (--no-flag-pos-weight: all 1)"""
    max_minutes: float | None = None
    """stop training (then evaluate and save) once this many minutes of training have passed"""
    seed: int = 0
    """random seed (initialisation, data order, masking)"""
    resume: bool = False
    """continue from the newest complete checkpoint in --out, with the settings the run began with (only --progress,
    --num-workers, --max-minutes, --compile, --gradient-checkpointing and --bf16 may change)"""
    bf16: bool | None = None
    """bf16 mixed precision (autocast); default: on for clm where the device computes bf16 natively (about 2x
    faster steps on this CPU), off for mlm; --bf16 false turns it off"""
    gradient_checkpointing: bool = False
    """recompute activations in the backward pass to save memory"""
    compile: bool = False
    """torch.compile the model (TrainingArguments' torch_compile, inductor backend). On this CPU a fixed batch steps
    1.3-1.5x faster once compiled, but a 600-step MLM run through this recipe was slower than eager (0.65x with an
    empty compile cache, 0.83x warm: compile time, recompiles for the varying labelled rows and for evaluation;
    BENCHMARKS.md)"""
    num_workers: int = 0
    """data loader worker processes (the masks do not depend on it)"""
    prepare_workers: int | None = None
    """processes that tokenize corpus files into OUT/data/shards (0: this process; default: 0 for files under 4 MB,
    else one per core, at most 8); the shards do not depend on it"""
    progress: bool = True
    """show a progress bar (--no-progress: log lines only)"""
    snapshot_steps: list[int] | None = field(default=None, metadata={"metavar": "STEP"})
    """also save the model at these optimizer steps into OUT/snapshots/step-N (0 = the untrained model), with the
    rows seen and training seconds so far (learning curves at fixed amounts of text)"""
    extra: dict[str, Any] = field(default_factory=dict, metadata={"cli": False})
    """further TrainingArguments (library use only)"""


# ---------------------------------------------------------------------------------------------------------
# arguments


def with_defaults(args: PretrainArgs) -> PretrainArgs:
    """A copy of ``args`` with every ``None`` size/schedule field set to the preset's default (only ``None``: a 0
    stays 0, for :func:`check_args` to refuse)."""
    from r2d.training.trainer import TRAIN_DEFAULTS

    d = TRAIN_DEFAULTS[args.preset]
    preset = {"batch_size": d["batch_size"], "lr": d["learning_rate"],
              "warmup_steps": min(d["warmup_steps"], args.max_steps // 10), "weight_decay": d["weight_decay"],
              "max_length": d["max_length"], "eval_steps": d["eval_steps"], "logging_steps": d["logging_steps"],
              "save_steps": d["save_steps"]}
    return dataclasses.replace(args, **{k: v for k, v in preset.items() if getattr(args, k) is None})


def check_args(args: PretrainArgs) -> None:
    """Raise :class:`r2d.io.InputError` naming the first option out of range or corpus file that cannot be read."""
    from r2d.training.data import check_corpus
    from r2d.training.shards import is_shard_folder
    from r2d.training.trainer import MAX_SEED, check_ranges

    def bad(name: str, value: Any, why: str) -> InputError:
        return InputError(f"--{name.replace('_', '-')} {value}", why)

    check_ranges(args, at_least={**dict.fromkeys(("max_steps", "batch_size", "grad_accum", "max_length", "eval_steps",
                                                  "logging_steps", "save_steps", "eval_size", "max_docs",
                                                  "save_total_limit"), 1),
                                 **dict.fromkeys(("warmup_steps", "weight_decay", "flag_loss_weight", "num_workers",
                                                  "prepare_workers", "seed"), 0)},
                 at_most={"seed": MAX_SEED}, positive=("flag_pos_weight_max", "lr", "max_minutes"))
    if args.snapshot_steps and min(args.snapshot_steps) < 0:
        raise bad("snapshot_steps", min(args.snapshot_steps), "must be >= 0")
    if not 0 < args.mlm_probability <= 1:
        raise bad("mlm_probability", args.mlm_probability, "must be in (0, 1]")
    if not 0 < args.eval_fraction < 1:
        raise bad("eval_fraction", args.eval_fraction, "must be in (0, 1)")
    if args.max_length is not None and args.max_length < 3:
        raise bad("max_length", args.max_length, "must be >= 3 (<s>, one row, </s>)")
    wanted = {"roberta": "mlm", "bpe": "clm"}.get(args.model)
    if wanted and args.objective != wanted:
        raise bad("model", args.model, f"roberta is the MLM baseline and bpe the causal twin: use --objective {wanted}")
    if args.train_tokenizer is not None and args.train_tokenizer < 300:
        raise bad("train_tokenizer", args.train_tokenizer, "must be >= 300 (256 bytes, the specials and merges)")
    check_corpus(args.corpus)
    if args.train_tokenizer is not None and is_shard_folder(args.corpus[0]):
        raise bad("train_tokenizer", args.train_tokenizer, "trains on the corpus text: give the corpus files, "
                  "not prepared shards")


RESUME_MAY_CHANGE = ("out", "resume", "progress", "num_workers", "prepare_workers", "max_minutes", "compile",
                     "gradient_checkpointing", "bf16")
"""Settings that ``--resume`` may change: where the run folder is, the display, how the steps are computed (the
machine's precision included) and how long this invocation may train. Every other setting must be the run's, the
number of steps too: it shapes the learning-rate schedule (and the default warm-up) of the run being continued, so a
resumed run with more steps would not be the run it claims to continue (neither this module nor the README offers
extending a run)."""


def check_resume(args: PretrainArgs) -> None:
    """Raise :class:`r2d.io.InputError` naming every setting of a ``--resume`` (after :func:`with_defaults`) that
    differs from the run's ``OUT/args.json``, except :data:`RESUME_MAY_CHANGE`; a folder without it passes. The
    corpus is compared as files: the same file named another way (relative, absolute, a link) is no change."""
    from r2d.training.trainer import changed_run_args, same_files

    changed = changed_run_args(args.out, args, keep=RESUME_MAY_CHANGE, same={"corpus": same_files})
    if changed:
        raise InputError(f"--resume {args.out}", "the run began with other settings: " + ", ".join(changed)
                         + "; resume it with its own, or choose another --out")


def load_tokenizer(kind: str, name: str | None):
    """The tokenizer of a model kind: ``R2DTokenizer`` (default ``r2d-en``) or the RoBERTa baseline.

    Raises:
        r2d.io.InputError: the folder or name cannot be loaded (named as ``--tokenizer``).
    """
    if kind == "r2d":
        from r2d.tokenizer.hf import R2DTokenizer

        loader, name = R2DTokenizer.from_pretrained, name or "r2d-en"
    elif kind == "bpe" and name is not None:
        from transformers import AutoTokenizer

        loader = AutoTokenizer.from_pretrained
    else:
        from r2d.tokenizer.baseline import roberta_tokenizer as loader
    try:
        return loader(name)
    except InputError:
        raise
    except (OSError, ValueError) as e:
        raise InputError(f"--tokenizer {name}", f"cannot load a {kind} tokenizer: {str(e).splitlines()[0]}") from None


# ---------------------------------------------------------------------------------------------------------
# objectives: what is trained, on which batches, scored how


@dataclass
class Objective:
    """What an objective hands the recipe: the model and everything the ``Trainer`` needs around it."""

    model: Any
    collate: Callable
    eval_dataset: Any
    compute_metrics: Callable
    eval_outputs: Callable[[Mapping[str, Any], Mapping[str, Any]], dict]
    loss_parts: tuple[str, ...] = ()
    processing_class: Any = None
    callbacks: list = field(default_factory=list)
    run_files: dict[str, Any] = field(default_factory=dict)
    """file name in OUT -> JSON content, written by the main process (e.g. ``flag_rates.json``)"""


class MLMEvaluation:
    """What MLM evaluation keeps of the model output and the batch, picked by name, and the metrics computed from it.

    Kept per sequence: ``pred_ids`` (B, T) argmax root ids, ``mlm_nats`` (B,) the summed cross entropy of its
    labelled rows and ``mlm_rows`` (B,) their number; for R2D also ``flag_probs`` (B, T, F), the calibrated
    probabilities, ``flag_nats`` (B,) the summed ``pos_weight``-ed binary cross entropy of its scored flags and
    ``flag_entries`` (B,) their number. Metrics, pooled over the held-out sequences (each counted once, however the
    batches and processes cut them): ``loss`` (the model's: ``mlm_loss + flag_loss_weight * flag_loss``),
    ``mlm_accuracy`` on labelled rows, ``scored_rows``; for R2D ``mlm_loss``, ``flag_loss`` and
    :func:`r2d.training.flag_metrics.flag_metrics` (per-flag P/R/F1 at probability 0.5, ``macro_f1``,
    ``always_on_f1_<flag>``).
    """

    def __init__(self, flag_names: list[str] | None, pos_weight: list[float] | None = None,
                 flag_loss_weight: float = 1.0):
        self.flag_names, self.pos_weight, self.flag_loss_weight = flag_names, pos_weight, flag_loss_weight
        self.keys = ("pred_ids", "mlm_nats", "mlm_rows") + (
            ("flag_probs", "flag_nats", "flag_entries") if flag_names else ())

    def outputs(self, out: Mapping[str, Any], batch: Mapping[str, Any]) -> dict:
        """Model output and batch -> the tensors in :attr:`keys`, by name (never by shape or position)."""
        import torch
        import torch.nn.functional as F

        logits, labels = out["logits"], batch["labels"]  # (B, T, V), (B, T)
        nll = F.cross_entropy(logits.float().transpose(1, 2), labels, ignore_index=-100, reduction="none")  # (B, T)
        kept = {"pred_ids": logits.argmax(-1), "mlm_nats": nll.sum(1), "mlm_rows": labels.ne(-100).sum(1)}
        if self.flag_names:
            flag_labels = batch["flag_labels"]  # (B, T, F)
            valid = flag_labels.ne(-100)
            weight = torch.tensor(self.pos_weight, dtype=torch.float32, device=logits.device)  # (F,)
            bce = F.binary_cross_entropy_with_logits(out["flag_logits"].float(), flag_labels.clamp(min=0).float(),
                                                     pos_weight=weight, reduction="none") * valid  # (B, T, F)
            kept.update(flag_probs=out["flag_probs"], flag_nats=bce.sum((1, 2)), flag_entries=valid.sum((1, 2)))
        return {k: kept[k] for k in self.keys}

    def metrics(self, pred) -> dict[str, float]:
        from r2d.training.flag_metrics import flag_metrics

        kept = dict(zip(self.keys, pred.predictions))
        labels = pred.label_ids if isinstance(pred.label_ids, (tuple, list)) else (pred.label_ids,)
        ids, sel = kept["pred_ids"], labels[0] != -100
        rows = float(np.sum(kept["mlm_rows"]))
        mlm = float(np.sum(kept["mlm_nats"], dtype=np.float64)) / max(rows, 1.0)
        # subtle: "loss" replaces Trainer's eval_loss, a mean of per-batch means that counts padding repeats
        out = {"loss": mlm, "mlm_accuracy": float((ids[sel] == labels[0][sel]).mean()) if sel.any() else 0.0,
               "scored_rows": int(rows)}
        if self.flag_names:
            flag = float(np.sum(kept["flag_nats"], dtype=np.float64)) / max(float(np.sum(kept["flag_entries"])), 1.0)
            out.update(loss=mlm + self.flag_loss_weight * flag, mlm_loss=mlm, flag_loss=flag)
            probs, flag_labels = kept["flag_probs"], labels[1]
            t = min(probs.shape[1], flag_labels.shape[1])
            out.update(flag_metrics(probs[:, :t], flag_labels[:, :t], self.flag_names))
        return out


def mlm_objective(args: PretrainArgs, tokenizer, train_set, eval_set, out: Path) -> Objective:
    """Masked language modelling of R2D (ids and flags) or RoBERTa (ids); ``flag_rates.json`` for R2D."""
    from transformers import DataCollatorForLanguageModeling

    from r2d.modeling.collator import R2DDataCollatorForMLM
    from r2d.modeling.encoder import R2DForMaskedLM, RobertaForMaskedLMLabelledRows
    from r2d.modeling.mlm_batches import MLMBatches, NoFlags, RobertaWordStarts
    from r2d.training.data import SequenceDataset
    from r2d.tokenizer.rates import flag_rates_from_rows, pos_weights
    from r2d.training.trainer import SaveTokenizerCallback, model_config

    r2d = args.model == "r2d"
    overrides: dict[str, Any] = {}
    flag_names = None
    run_files: dict[str, Any] = {}
    if r2d:
        flag_names = list(tokenizer.flag_names)
        n = min(len(train_set), 20000)  # subtle: a sample is enough for rates; keeps start-up short
        rates = flag_rates_from_rows((train_set.rows(i)[0] for i in range(n)), (train_set.rows(i)[1] for i in range(n)),
                                     tokenizer.all_special_ids, flag_names)
        weights = (pos_weights(rates, flag_names, args.flag_pos_weight_max) if args.flag_pos_weight
                   else [1.0] * len(flag_names))
        run_files["flag_rates.json"] = {"rates": rates, "pos_weight": dict(zip(flag_names, weights)),
                                        "sequences_sampled": n}
        logger.info("flag rates: %s", ", ".join(f"{k} {v:.3%}" for k, v in rates.items()))
        overrides = dict(flag_names=flag_names, flag_combine=args.flag_combine, flag_values=args.flag_values,
                         flag_loss_weight=args.flag_loss_weight, flag_pos_weight=weights,
                         flag_pos_weight_max=args.flag_pos_weight_max)
    config = model_config(args.model, args.preset, vocab_size=len(tokenizer), max_length=args.max_length, **overrides)
    model = R2DForMaskedLM(config) if r2d else RobertaForMaskedLMLabelledRows(config)
    model.labelled_rows_only = True  # the vocabulary projection only on the ~15% labelled rows when training
    if r2d:
        collator = R2DDataCollatorForMLM(tokenizer, mlm_probability=args.mlm_probability,
                                         whole_word_mask=args.whole_word_mask)
    elif args.whole_word_mask:
        collator = NoFlags(R2DDataCollatorForMLM(RobertaWordStarts(tokenizer), mlm_probability=args.mlm_probability,
                                                 whole_word_mask=True))
    else:
        collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=args.mlm_probability)
    batches = MLMBatches(collator, args.seed, tokenizer.pad_token_id, tokenizer.num_flags if r2d else 0)
    evaluation = MLMEvaluation(flag_names, config.clamped_pos_weight() if r2d else None,
                               config.flag_loss_weight if r2d else 1.0)
    return Objective(model=model, collate=batches, eval_dataset=batches.premask(SequenceDataset(eval_set)),
                     compute_metrics=evaluation.metrics, eval_outputs=evaluation.outputs,
                     loss_parts=("mlm_loss", "flag_loss") if r2d else (),
                     processing_class=None if r2d else tokenizer,
                     callbacks=[SaveTokenizerCallback(tokenizer)] if r2d else [], run_files=run_files)


def _clm_objective(*args) -> Objective:
    from r2d.training.clm import clm_objective  # subtle: imported late, clm imports this module's Objective

    return clm_objective(*args)


# name -> builder(args, tokenizer, train_set, eval_set, out) -> Objective; a new objective is one more entry
OBJECTIVES: dict[str, Callable[..., Objective]] = {"mlm": mlm_objective, "clm": _clm_objective}


# ---------------------------------------------------------------------------------------------------------
# snapshots: the model at fixed amounts of text seen


def _snapshot_callback(out: Path, steps, tokenizer, rows_per_step: float):
    from transformers import TrainerCallback

    class SnapshotCallback(TrainerCallback):
        """Saves model + tokenizer into ``OUT/snapshots/step-N`` at the given steps, with ``snapshot.json``
        ``{step, rows_seen, train_seconds}``; keeps a training clock in every checkpoint (``train_clock.json``)
        so that seconds continue across ``--resume``. A snapshot already on disk is not redone. The model is saved
        by :attr:`trainer` (set by the recipe): every process takes part, the main one writes."""

        def __init__(self):
            self.steps, self.t0, self.before = set(int(s) for s in steps), time.perf_counter(), 0.0
            # subtle: decided before training, so that every process skips the same snapshots
            self.done = {s for s in self.steps if (out / SNAPSHOT_DIR / f"step-{s}" / "snapshot.json").is_file()}
            self.trainer = None

        def seconds(self) -> float:
            return self.before + time.perf_counter() - self.t0

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            self.t0 = time.perf_counter()
            clock = Path(args.output_dir) / f"checkpoint-{state.global_step}" / CLOCK_FILE
            self.before = json.loads(clock.read_text())["train_seconds"] if clock.is_file() else 0.0
            if state.global_step == 0 and 0 in self.steps:
                self.save(args, 0)

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step in self.steps:
                self.save(args, state.global_step)

        def on_save(self, args, state, control, **kwargs):
            ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if args.should_save and ckpt.is_dir():
                (ckpt / CLOCK_FILE).write_text(json.dumps({"train_seconds": self.seconds()}) + "\n")

        def save(self, args, step: int) -> None:
            import shutil

            if step in self.done:
                return
            self.done.add(step)
            folder = out / SNAPSHOT_DIR / f"step-{step}"
            seconds = self.seconds()
            tmp = folder.with_name(folder.name + ".tmp")
            if args.should_save:
                shutil.rmtree(tmp, ignore_errors=True)
            self.trainer.save_model(str(tmp))
            if not args.should_save:
                return
            tokenizer.save_pretrained(str(tmp))
            (tmp / "snapshot.json").write_text(json.dumps(
                {"step": step, "rows_seen": int(round(step * rows_per_step)), "train_seconds": round(seconds, 2)})
                + "\n", encoding="utf-8")
            shutil.rmtree(folder, ignore_errors=True)
            tmp.replace(folder)  # subtle: a snapshot folder exists only complete

    return SnapshotCallback()


def snapshots(out: str | Path) -> list[dict]:
    """The snapshots of a run folder, by step: ``snapshot.json`` contents plus ``path``."""
    rows = []
    for f in sorted(Path(out, SNAPSHOT_DIR).glob("step-*/snapshot.json")):
        rows.append({**json.loads(f.read_text(encoding="utf-8")), "path": str(f.parent)})
    return sorted(rows, key=lambda r: r["step"])


# ---------------------------------------------------------------------------------------------------------
# the recipe


def training_arguments(args: PretrainArgs):
    """The ``TrainingArguments`` of a run (after :func:`with_defaults`); ``--batch-size`` is per process."""
    import torch
    from transformers import TrainingArguments

    from r2d.training import clm

    return TrainingArguments(
        output_dir=args.out,
        max_steps=args.max_steps,
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=args.batch_size,
        gradient_accumulation_steps=args.grad_accum,
        learning_rate=args.lr,
        weight_decay=args.weight_decay,
        warmup_steps=args.warmup_steps,
        lr_scheduler_type="linear",
        adam_beta1=0.9,
        adam_beta2=0.98,  # RoBERTa's
        adam_epsilon=1e-6,
        max_grad_norm=1.0,
        logging_steps=args.logging_steps,
        logging_first_step=True,
        eval_strategy="steps",
        eval_steps=args.eval_steps,
        save_strategy="steps",
        save_steps=args.save_steps,
        save_total_limit=args.save_total_limit,
        report_to=["tensorboard"],
        seed=args.seed,
        data_seed=args.seed,
        bf16=args.bf16 if args.bf16 is not None else args.objective == "clm" and clm.bf16_available(),
        activation_checkpointing=args.gradient_checkpointing,
        torch_compile=args.compile,
        disable_tqdm=True,
        dataloader_num_workers=args.num_workers,
        remove_unused_columns=False,
        ddp_find_unused_parameters=False,  # every parameter of each pretraining model takes part in every step
        use_cpu=not torch.cuda.is_available(),
        **args.extra,
    )


def pretrain(args: PretrainArgs, argv: list[str] | None = None) -> dict[str, Any]:
    """Run pretraining as described in the module docstring.

    On N processes (``torchrun``, ``accelerate launch``) each process trains on its share of every global batch
    (``--batch-size`` each) and evaluates its share of the held-out sequences; the main process trains the
    tokenizer and prepares the shards first (the others then reuse them) and alone writes the run folder.

    Args:
        args: the run arguments (``None`` fields take the preset's defaults).
        argv: the command line recorded in ``OUT/args.json`` (default ``sys.argv``).

    Returns:
        The content of ``OUT/summary.json``: steps, seconds, train rows/s, parameter count, the last eval metrics
        (on every process).

    Raises:
        r2d.io.InputError: bad input (options, corpus, tokenizer, an occupied ``--out``); nothing is written then.
    """
    from transformers.trainer_callback import PrinterCallback

    from r2d.training.data import EpochSampler, SequenceDataset, build_datasets
    from r2d.training.trainer import (MetricsJsonlCallback, R2DTrainer, RichProgressCallback, TimeLimitCallback,
                                      last_checkpoint, quiet_replicas, save_run_args, set_seed)

    args = with_defaults(args)
    check_args(args)
    if args.resume:
        check_resume(args)
    out = Path(args.out)
    resume_from = last_checkpoint(out) if args.resume else None
    if not args.resume and (out / METRICS_FILE).exists():
        raise InputError(f"--out {out}", "already holds a run (metrics.jsonl); pass --resume to continue it "
                                         "or choose another folder")
    from r2d.training import clm

    new_out = not out.exists()
    targs = training_arguments(args)
    quiet_replicas(targs)
    main = targs.should_save  # the one process that writes the run folder
    try:
        with targs.main_process_first(local=False, desc="the run's tokenizer and corpus shards"):
            tokenizer = (clm.train_run_tokenizer(args, out) if args.train_tokenizer
                         else load_tokenizer(args.model, args.tokenizer))
            train_set, eval_set = build_datasets(
                args.corpus, tokenizer, cache_dir=out / CACHE_DIR, with_flags=args.model == "r2d",
                tokenizer_id=str(f"trained:{args.train_tokenizer}" if args.train_tokenizer
                                 else args.tokenizer or ("r2d-en" if args.model == "r2d" else "roberta-baseline")),
                max_length=args.max_length, pack=args.pack, max_docs=args.max_docs, eval_fraction=args.eval_fraction,
                eval_size=args.eval_size, objective=args.objective, workers=args.prepare_workers,
                progress=args.progress and main, write_meta=main)
    except InputError:
        if new_out and main:  # subtle: bad input found while streaming the corpus; leave no half-made run folder
            import shutil

            shutil.rmtree(out, ignore_errors=True)
        raise
    if args.resume and resume_from is None:
        logger.warning("--resume: no complete checkpoint in %s, starting from step 0", out)
    if main:
        out.mkdir(parents=True, exist_ok=True)
        save_run_args(out, args, argv=argv, resume=resume_from is not None)
    set_seed(args.seed)
    objective = OBJECTIVES[args.objective](args, tokenizer, train_set, eval_set, out)
    for name, content in objective.run_files.items() if main else ():
        (out / name).write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")

    callbacks = [MetricsJsonlCallback(out / METRICS_FILE), RichProgressCallback(bar=args.progress),
                 *objective.callbacks]
    if args.max_minutes:
        callbacks.append(TimeLimitCallback(args.max_minutes))
    rows_per_step = targs.world_size * args.batch_size * args.grad_accum * train_set.mean_rows()
    snapshot = _snapshot_callback(out, args.snapshot_steps, tokenizer, rows_per_step) if args.snapshot_steps else None
    trainer = R2DTrainer(
        model=objective.model, args=targs, data_collator=objective.collate,
        train_dataset=SequenceDataset(train_set), eval_dataset=objective.eval_dataset,
        train_sampler=EpochSampler(len(train_set), args.seed), eval_outputs=objective.eval_outputs,
        processing_class=objective.processing_class, compute_metrics=objective.compute_metrics,
        callbacks=callbacks + ([snapshot] if snapshot else []), loss_parts=objective.loss_parts,
    )
    if snapshot:
        snapshot.trainer = trainer
    trainer.remove_callback(PrinterCallback)
    n_params = sum(p.numel() for p in objective.model.parameters())
    logger.info("pretraining %s (%s, %s, %.2fM parameters) for %d steps%s%s", args.model, args.objective, args.preset,
                n_params / 1e6, args.max_steps, f" on {targs.world_size} processes" if targs.world_size > 1 else "",
                f", resuming from {resume_from}" if resume_from else "")
    t0 = time.perf_counter()
    start_step = 0
    if resume_from:
        start_step = json.loads((Path(resume_from) / "trainer_state.json").read_text())["global_step"]
    result = trainer.train(resume_from_checkpoint=resume_from)
    seconds = time.perf_counter() - t0
    step = trainer.state.global_step
    # subtle: every process decides alike (evaluation is collective): from the log history, not the main's file
    if not any(r.get("step") == step and "eval_loss" in r for r in trainer.state.log_history):
        trainer.evaluate()
    final_dir = out / MODEL_DIR
    trainer.save_model(str(final_dir))

    last_eval = next((r for r in reversed(trainer.state.log_history) if "eval_loss" in r), {})
    steps_run = step - start_step
    summary = {
        "model": args.model, "objective": args.objective, "preset": args.preset, "steps": step,
        "train_seconds_this_invocation": round(seconds, 1), "train_loss_this_invocation": result.training_loss,
        "train_rows_per_second": round(steps_run * rows_per_step / seconds, 1) if seconds > 0 else None,
        "num_parameters": n_params, "vocab_size": len(tokenizer),
        "train_sequences": len(train_set), "eval_sequences": len(eval_set),
        "last_eval": {k: v for k, v in last_eval.items() if k.startswith("eval_")},
    }
    if main:
        tokenizer.save_pretrained(str(final_dir))
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


__all__ = ["PretrainArgs", "pretrain", "training_arguments", "with_defaults", "check_args", "check_resume", "RESUME_MAY_CHANGE",
           "load_tokenizer", "Objective", "OBJECTIVES", "MLMEvaluation", "mlm_objective", "METRICS_FILE", "MODEL_DIR",
           "SNAPSHOT_DIR", "snapshots"]
