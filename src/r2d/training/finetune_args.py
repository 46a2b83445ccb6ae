"""The arguments of ``r2d finetune`` (:class:`FinetuneArgs`, each field's help its ``--help`` text) and the checks a
run makes of them before anything is written: the task, ranges, the ``--model`` folder, a finished ``--out``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r2d.io import InputError
from r2d.training.options import MAX_SEED, check_ranges
from r2d.training.tasks import TASKS

RESULTS_FILE = "results.json"


@dataclass
class FinetuneArgs:
    """Arguments of ``r2d finetune`` (each field's ``metadata["help"]`` is its ``--help`` text)."""

    task: str = field(metadata={"help": "task name: cola, sst2, mrpc, stsb, qnli, rte, mnli, yelp_polarity, imdb"})
    model: str = field(metadata={"help": (
        "checkpoint folder (R2D or RoBERTa MLM, R2D ELECTRA or its 1D twin: the discriminator, causal R2D or its "
        "twin) or a Hub model name such as roberta-base")})
    out: str = field(metadata={"help": (
        "output folder: metrics.jsonl, results.json, args.json (and the model unless --no-save); a folder that holds "
        "a finished run (results.json) is refused")})
    data_dir: str | None = field(default=None, metadata={"help": (
        "local data folder in the layout of shared/data; default: load the task from the Hugging Face Hub")})
    tokenizer: str | None = field(default=None, metadata={"help": (
        "tokenizer folder or name if it is not saved beside the model (default: the checkpoint's own)")})
    seed: int = field(default=0, metadata={"help": "random seed (model head initialisation, data order, dropout)"})
    max_steps: int = field(default=-1, metadata={"help": "optimizer steps; -1 = run --epochs epochs"})
    epochs: float = field(default=3.0, metadata={"help": "training epochs when --max-steps is -1 (> 0)"})
    eval_steps: int = field(default=100, metadata={"help": (
        "evaluate on every evaluation split every N steps (and at the start and the end)")})
    logging_steps: int = field(default=10, metadata={"help": "log the training loss every N steps"})
    batch_size: int = field(default=16, metadata={"help": (
        "training batch size per process (N processes train on N times as many examples per step)")})
    eval_batch_size: int = field(default=64, metadata={"help": "evaluation batch size per process"})
    lr: float = field(default=2e-5, metadata={"help": "peak learning rate (AdamW, linear decay)"})
    warmup_ratio: float = field(default=0.06, metadata={"help": "fraction of the steps with linear warm-up"})
    weight_decay: float = field(default=0.1, metadata={"help": "AdamW weight decay"})
    max_length: int | None = field(default=None, metadata={"help": (
        "truncate every example (pairs: longest first) to this many rows/tokens; default: what the model reads (its "
        "max_position_embeddings, less RoBERTa's padding offset for the encoders), at most 128; longer than the model "
        "reads is refused")})
    max_train_samples: int | None = field(default=None, metadata={"help": (
        "use only the first N training examples (after a seeded shuffle)")})
    max_eval_samples: int | None = field(default=None, metadata={"help": (
        "use only the first N examples of each evaluation split")})
    eval_on_start: bool = field(default=True, metadata={"help": "evaluate once before training (step 0 of the charts)"})
    dev_size: int = field(default=0, metadata={"help": (
        "hold out this many training examples (seeded) as a dev set: every --eval-steps evaluation runs on it, the "
        "weights with the best dev score are kept, and the evaluation splits are scored once, at the end, with them "
        "(predictions in OUT/predictions.json); 0 = evaluate the evaluation splits during training instead")})
    patience: int | None = field(default=None, metadata={"help": (
        "early stopping: stop after this many evaluations without a better dev score (needs --dev-size)")})
    lora_r: int = field(default=0, metadata={"help": (
        "LoRA rank (through peft, on the attention query and value projections; the task head is trained fully); 0 = "
        "full fine-tuning")})
    lora_alpha: float | None = field(default=None, metadata={"help": "LoRA scaling alpha (default 2 x --lora-r)"})
    save: bool = field(default=True, metadata={"help": "save the fine-tuned model and tokenizer into OUT/model"})
    progress: bool = field(default=True, metadata={"help": "show a progress bar"})
    bf16: bool | None = field(default=None, metadata={"help": (
        "bf16 mixed precision (autocast); default: on for a CUDA GPU with native bf16, off elsewhere; --bf16 false "
        "turns it off")})
    compile: bool = field(default=False, metadata={"help": (
        "torch.compile the model (TrainingArguments' torch_compile, inductor backend)")})
    extra: dict[str, Any] = field(default_factory=dict, metadata={"cli": False, "help": (
        "further TrainingArguments (library use only; they win over the options above)")})


def looks_like_a_path(name: str) -> bool:
    """True when ``name`` can only be a folder, not a Hub model id (``org/name`` or ``name``)."""
    p = Path(name)
    return (name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name
            or (len(p.parts) > 1 and p.parent.exists()))


def check_model(model: str) -> None:
    """Raise :class:`r2d.io.InputError` unless ``model`` is a checkpoint folder or could be a Hub model id."""
    p = Path(model)
    if p.is_dir():
        if not (p / "config.json").is_file():
            raise InputError(f"--model {model}", "no config.json in that folder (not a checkpoint)")
    elif p.exists():
        raise InputError(f"--model {model}", "is a file; expected a checkpoint folder")
    elif looks_like_a_path(model):
        raise InputError(f"--model {model}", "no such folder")


def check_args(args: FinetuneArgs) -> None:
    """Raise :class:`r2d.io.InputError` naming the first bad option (task, ranges, folders, a finished ``--out``).

    What needs the model's config (``--max-length`` against what it reads) is :func:`fit_max_length`'s.
    """
    if args.task not in TASKS:
        raise InputError(f"--task {args.task!r}", f"is unknown; known tasks: {', '.join(TASKS)}")
    check_ranges(args, at_least={**dict.fromkeys(("max_length", "batch_size", "eval_batch_size", "eval_steps",
                                                  "logging_steps", "max_train_samples", "max_eval_samples"), 1),
                                 **dict.fromkeys(("dev_size", "lora_r", "seed", "weight_decay", "warmup_ratio"), 0)},
                 at_most={"seed": MAX_SEED, "warmup_ratio": 1}, positive=("lr", "epochs", "lora_alpha"))
    if args.max_steps == 0 or args.max_steps < -1:
        raise InputError(f"--max-steps {args.max_steps}", "must be >= 1 (or -1: run --epochs epochs)")
    if args.patience is not None and (args.patience < 1 or not args.dev_size):
        raise InputError(f"--patience {args.patience}", "must be >= 1 and needs --dev-size N (the dev set it watches)")
    if args.lora_r:
        try:
            import peft  # noqa: F401
        except ImportError:
            raise InputError(f"--lora-r {args.lora_r}", "needs peft: pip install 'r2d[lora]'") from None
    if args.data_dir is not None and not Path(args.data_dir).is_dir():
        raise InputError(f"--data-dir {args.data_dir}", "not a folder")
    check_model(args.model)
    if (Path(args.out) / RESULTS_FILE).exists():
        raise InputError(f"--out {args.out}", f"already holds a finished run ({RESULTS_FILE}); choose another "
                                              "--out, or delete that folder to run it again")


__all__ = ["FinetuneArgs", "check_args", "check_model", "looks_like_a_path", "RESULTS_FILE"]
