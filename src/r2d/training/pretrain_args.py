"""The arguments of ``r2d pretrain`` (:class:`PretrainArgs`, each field's help its ``--help`` text), their preset
defaults, and the checks a run makes of them before anything is written (ranges, the corpus, a ``--resume``'s
settings against the run's).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from r2d.io import InputError
from r2d.training.data import check_corpus
from r2d.training.options import MAX_SEED, check_ranges

FLAG_CHANGE_RULES = ("rate", "sqrt-rate")
"""The words ``--flag-change-weight`` takes besides a number (:func:`r2d.training.electra.flag_change_weights`)."""
from r2d.training.presets import TRAIN_DEFAULTS
from r2d.training.run_folder import changed_run_args, same_files
from r2d.training.shards import is_shard_folder


@dataclass
class PretrainArgs:
    """Arguments of ``r2d pretrain`` (each field's help is its ``--help`` text; ``None`` = the preset's)."""

    corpus: list[str] = field(metadata={"metavar": "FILE", "help": (
        "corpus files (.txt or .txt.gz; WikiExtractor <doc> markup is dropped), a Hub dataset name[:config] "
        "(streamed), or a folder of shards made by r2d prepare-corpus with the run's tokenizer")})
    out: str = field(metadata={"help": "run folder: metrics.jsonl, args.json, checkpoints, TensorBoard logs, model/"})
    model: Literal["r2d", "roberta", "bpe"] = field(default="r2d", metadata={"help": (
        "r2d (R2DForMaskedLM; R2DForCausalLM with clm; R2DElectraForPreTraining with electra), roberta "
        "(RobertaForMaskedLM, the MLM baseline; with electra the 1D ELECTRA twin on the byte-level BPE) or bpe (clm "
        "only: the causal 1D twin, R2DForCausalLM without flags on a byte-level BPE)")})
    objective: Literal["mlm", "clm", "electra"] = field(default="mlm", metadata={"help": (
        "training objective: mlm (masked language modelling, the article's), clm (causal: next row = root, then its "
        "flags; documents packed with separators when --pack) or electra (a generator a third as deep fills masked "
        "words, the discriminator tells replaced roots and changed flags; r2d and roberta)")})
    preset: Literal["tiny", "micro", "mini", "small", "base"] = field(default="tiny", metadata={"help": (
        "model size: tiny (tests), micro (the scaling study, a quarter of mini), mini (r2d experiment --preset cpu), "
        "small (a CPU), base (RoBERTa-base)")})
    tokenizer: str | None = field(default=None, metadata={"help": (
        "r2d: tokenizer folder or r2d-en (default r2d-en); roberta, bpe: folder or Hub name (default: the offline "
        "RoBERTa BPE: 50,261 ids, r2d-en has 50,265)")})
    train_tokenizer: int | None = field(default=None, metadata={"help": (
        "train the run's tokenizer with this many ids on its training documents instead of loading --tokenizer (r2d: "
        "an R2D tokenizer; bpe, roberta: a byte-level BPE): two runs on one corpus get a pair trained on the same "
        "text; kept in OUT/tokenizer")})
    max_steps: int = field(default=1000, metadata={"help": "optimizer steps"})
    batch_size: int | None = field(default=None, metadata={"help": "per-device batch size (default: the preset's)"})
    grad_accum: int = field(default=1, metadata={"help": "gradient accumulation steps"})
    lr: float | None = field(default=None, metadata={"help": (
        "peak learning rate, AdamW with linear warm-up and decay (default: the preset's)")})
    warmup_steps: int | None = field(default=None, metadata={"help": (
        "linear warm-up steps (default: the preset's, at most 10% of --max-steps)")})
    weight_decay: float | None = field(default=None, metadata={"help": "AdamW weight decay (default: the preset's)"})
    max_length: int | None = field(default=None, metadata={"help": (
        "rows per sequence including <s> and </s> (default: the preset's)")})
    pack: bool = field(default=False, metadata={"help": (
        "pack documents into full --max-length blocks instead of truncating each document")})
    max_docs: int | None = field(default=None, metadata={"help": (
        "read at most this many documents (all corpus files together)")})
    eval_fraction: float = field(default=0.02, metadata={"help": (
        "share of the documents (taken from the end) held out for evaluation")})
    eval_size: int = field(default=256, metadata={"help": "at most this many evaluation sequences"})
    eval_steps: int | None = field(default=None, metadata={"help": "evaluate every N steps (default: the preset's)"})
    logging_steps: int | None = field(default=None, metadata={"help": (
        "log the training loss every N steps (default: the preset's)")})
    save_steps: int | None = field(default=None, metadata={"help": "checkpoint every N steps (default: the preset's)"})
    save_total_limit: int = field(default=2, metadata={"help": "keep at most this many checkpoints"})
    mlm_probability: float = field(default=0.15, metadata={"help": "share of rows (tokens) selected for prediction"})
    whole_word_mask: bool = field(default=False, metadata={"help": (
        "select whole words for masking (r2d: by the tokenizer's word-start marker; roberta: by GPT-2's space "
        "marker); r2d hides a word's flags on all its rows either way")})
    flag_combine: Literal["concat_project", "truncate_concat", "linear_sum"] = field(
        default="concat_project", metadata={"help": "r2d: how flags meet the word embedding"})
    flag_values: Literal["binary", "centered"] = field(default="binary", metadata={"help": (
        "r2d: binary (0/1) or centered (-0.5/+0.5) flag inputs")})
    flag_loss_weight: float = field(default=1.0, metadata={"help": "r2d: loss = mlm_loss + w * flag_loss"})
    flag_pos_weight_max: float = field(default=100.0, metadata={"help": (
        "r2d: clamp of the per-flag pos_weight (1-p)/p")})
    flag_pos_weight: bool = field(default=True, metadata={"help": (
        "r2d: weight positive flags by (1-p)/p from the measured rates (--no-flag-pos-weight: all 1)")})
    flag_change_weight: str = field(default="sqrt-rate", metadata={"help": (
        "r2d electra: pos_weight of the discriminator's 'flag changed' targets: a number for every flag, rate (per "
        "flag, negatives / positives of the change rate expected from the training rows' flag rates, clamped by "
        "--flag-pos-weight-max) or sqrt-rate (its square root, the default: BENCHMARKS.md records the measurement "
        "that chose it)")})
    max_minutes: float | None = field(default=None, metadata={"help": (
        "stop training (then evaluate and save) once this many minutes of training have passed")})
    seed: int = field(default=0, metadata={"help": "random seed (initialisation, data order, masking)"})
    resume: bool = field(default=False, metadata={"help": (
        "continue from the newest complete checkpoint in --out, with the settings the run began with (only "
        "--progress, --num-workers, --max-minutes, --compile, --gradient-checkpointing and --bf16 may change)")})
    bf16: bool | None = field(default=None, metadata={"help": (
        "bf16 mixed precision (autocast); default: on for clm where the device computes bf16 natively (about 2x "
        "faster steps on this CPU), off for mlm; --bf16 false turns it off")})
    gradient_checkpointing: bool = field(default=False, metadata={"help": (
        "recompute activations in the backward pass to save memory")})
    compile: bool = field(default=False, metadata={"help": (
        "torch.compile the model (TrainingArguments' torch_compile, inductor backend); short runs can be slower than "
        "eager (compile time, recompiles for varying shapes): see BENCHMARKS.md, 'Pretraining speed'")})
    num_workers: int = field(default=0, metadata={"help": (
        "data loader worker processes (the masks do not depend on it)")})
    prepare_workers: int | None = field(default=None, metadata={"help": (
        "processes that tokenize corpus files into OUT/data/shards (0: this process; default: 0 for files under 4 MB, "
        "else one per core, at most 8); the shards do not depend on it")})
    progress: bool = field(default=True, metadata={"help": "show a progress bar (--no-progress: log lines only)"})
    snapshot_steps: list[int] | None = field(default=None, metadata={"metavar": "STEP", "help": (
        "also save the model at these optimizer steps into OUT/snapshots/step-N (0 = the untrained model), with the "
        "rows seen and training seconds so far (learning curves at fixed amounts of text)")})
    extra: dict[str, Any] = field(default_factory=dict, metadata={"cli": False, "help": (
        "further TrainingArguments (library use only)")})


def with_defaults(args: PretrainArgs) -> PretrainArgs:
    """A copy of ``args`` with every ``None`` size/schedule field set to the preset's default (only ``None``: a 0
    stays 0, for :func:`check_args` to refuse)."""
    d = TRAIN_DEFAULTS[args.preset]
    preset = {"batch_size": d["batch_size"], "lr": d["learning_rate"],
              "warmup_steps": min(d["warmup_steps"], args.max_steps // 10), "weight_decay": d["weight_decay"],
              "max_length": d["max_length"], "eval_steps": d["eval_steps"], "logging_steps": d["logging_steps"],
              "save_steps": d["save_steps"]}
    return dataclasses.replace(args, **{k: v for k, v in preset.items() if getattr(args, k) is None})


def check_args(args: PretrainArgs) -> None:
    """Raise :class:`r2d.io.InputError` naming the first option out of range or corpus file that cannot be read."""
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
    allowed = {"roberta": ("mlm", "electra"), "bpe": ("clm",)}.get(args.model)
    if allowed and args.objective not in allowed:
        raise bad("model", args.model, f"roberta is the MLM baseline and bpe the causal twin: use --objective "
                                       f"{allowed[0]}")
    if args.flag_change_weight not in FLAG_CHANGE_RULES:
        try:
            weight = float(args.flag_change_weight)
        except ValueError:
            weight = None
        if weight is None or not weight > 0 or weight == float("inf"):
            raise bad("flag_change_weight", args.flag_change_weight,
                      f"must be a number > 0 or one of {', '.join(FLAG_CHANGE_RULES)}")
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
    changed = changed_run_args(args.out, args, keep=RESUME_MAY_CHANGE, same={"corpus": same_files})
    if changed:
        raise InputError(f"--resume {args.out}", "the run began with other settings: " + ", ".join(changed)
                         + "; resume it with its own, or choose another --out")


__all__ = ["PretrainArgs", "with_defaults", "check_args", "check_resume", "RESUME_MAY_CHANGE", "FLAG_CHANGE_RULES"]
