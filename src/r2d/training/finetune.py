"""Recipe: fine-tune an R2D or RoBERTa checkpoint, MLM or causal, on one downstream task (``r2d finetune``).

Pipeline stage: after pretraining. Loads a task (:mod:`r2d.training.tasks`, Hub or ``--data-dir``), the checkpoint's
own tokenizer (an R2D checkpoint carries its ``R2DTokenizer`` beside the model; a RoBERTa checkpoint its
``transformers`` tokenizer, else the offline baseline), encodes single sentences or sentence pairs through
that tokenizer's pair layout, and trains ``AutoModelForSequenceClassification`` with the Hugging Face
``Trainer``. Every ``--eval-steps`` the task metrics (:mod:`r2d.training.metrics`) are appended to
``OUT/metrics.jsonl``; the end result goes to ``OUT/results.json``. R2D and RoBERTa go through exactly the
same code: only the tokenizer and the padding collator differ. A causal checkpoint (``r2d pretrain --objective
clm``, 2D or twin) gets :class:`r2d.modeling.causal.R2DCausalForSequenceClassification`, a head on the last row.

With ``--dev-size N`` the model is selected on a dev set carved from the training data (seeded): evaluation
every ``--eval-steps`` runs on it, the best weights are kept in memory, ``--patience K`` stops after K evaluations
without improvement, and the task's evaluation splits are scored once at the end (``OUT/predictions.json`` keeps
every example's prediction, for paired comparisons). ``--lora-r R`` trains LoRA adapters through ``peft`` instead of
every weight.

``--max-length`` left unset is what the model reads (:func:`readable_length`), at most 128 rows/tokens.

Bad input (an unknown task, an option out of range, a ``--model`` folder that does not exist or holds no checkpoint,
a ``--max-length`` longer than the model reads, a tokenizer that does not fit the model, broken task files, an
``--out`` that holds a finished run) raises :class:`r2d.io.InputError` before anything is written. The
command line is :mod:`r2d.cli.finetune`. This recipe does not pretrain (``r2d pretrain``) or compare models
(``r2d experiment``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r2d.io import InputError

logger = logging.getLogger(__name__)

RESULTS_FILE = "results.json"
METRICS_FILE = "metrics.jsonl"
PREDICTIONS_FILE = "predictions.json"
DEFAULT_MAX_LENGTH = 128
"""``--max-length`` when it is not given and the model reads that far."""
PADDING_OFFSET_MODELS = ("r2d", "roberta")
"""Model types whose positions start after the pad id (RoBERTa's ``padding_idx + 1``): R2D's encoder and RoBERTa."""


@dataclass
class FinetuneArgs:
    """Arguments of ``r2d finetune`` (each attribute docstring is its ``--help`` text)."""

    task: str
    """task name: cola, sst2, mrpc, stsb, qnli, rte, mnli, yelp_polarity, imdb"""
    model: str
    """checkpoint folder (R2D or RoBERTa MLM, causal R2D or its twin) or a Hub model name such as roberta-base"""
    out: str
    """output folder: metrics.jsonl, results.json, args.json (and the model unless --no-save); a folder that holds a
    finished run (results.json) is refused"""
    data_dir: str | None = None
    """local data folder in the layout of shared/data; default: load the task from the Hugging Face Hub"""
    tokenizer: str | None = None
    """tokenizer folder or name if it is not saved beside the model (default: the checkpoint's own)"""
    seed: int = 0
    """random seed (model head initialisation, data order, dropout)"""
    max_steps: int = -1
    """optimizer steps; -1 = run --epochs epochs"""
    epochs: float = 3.0
    """training epochs when --max-steps is -1 (> 0)"""
    eval_steps: int = 100
    """evaluate on every evaluation split every N steps (and at the start and the end)"""
    logging_steps: int = 10
    """log the training loss every N steps"""
    batch_size: int = 16
    """training batch size per process (N processes train on N times as many examples per step)"""
    eval_batch_size: int = 64
    """evaluation batch size per process"""
    lr: float = 2e-5
    """peak learning rate (AdamW, linear decay)"""
    warmup_ratio: float = 0.06
    """fraction of the steps with linear warm-up"""
    weight_decay: float = 0.1
    """AdamW weight decay"""
    max_length: int | None = None
    """truncate every example (pairs: longest first) to this many rows/tokens; default: what the model reads (its
    max_position_embeddings, less RoBERTa's padding offset for the encoders), at most 128; longer than the model
    reads is refused"""
    max_train_samples: int | None = None
    """use only the first N training examples (after a seeded shuffle)"""
    max_eval_samples: int | None = None
    """use only the first N examples of each evaluation split"""
    eval_on_start: bool = True
    """evaluate once before training (step 0 of the charts)"""
    dev_size: int = 0
    """hold out this many training examples (seeded) as a dev set: every --eval-steps evaluation runs on it, the
    weights with the best dev score are kept, and the evaluation splits are scored once, at the end, with them
    (predictions in OUT/predictions.json); 0 = evaluate the evaluation splits during training instead"""
    patience: int | None = None
    """early stopping: stop after this many evaluations without a better dev score (needs --dev-size)"""
    lora_r: int = 0
    """LoRA rank (through peft, on the attention query and value projections; the task head is trained fully);
    0 = full fine-tuning"""
    lora_alpha: float | None = None
    """LoRA scaling alpha (default 2 x --lora-r)"""
    save: bool = True
    """save the fine-tuned model and tokenizer into OUT/model"""
    progress: bool = True
    """show a progress bar"""
    bf16: bool | None = None
    """bf16 mixed precision (autocast); default: on for a CUDA GPU with native bf16, off elsewhere; --bf16 false
    turns it off"""
    compile: bool = False
    """torch.compile the model (TrainingArguments' torch_compile, inductor backend)"""
    extra: dict[str, Any] = field(default_factory=dict, metadata={"cli": False})
    """further TrainingArguments (library use only; they win over the options above)"""


# ---------------------------------------------------------------------------------------------------------
# checks, tokenizer and data


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
    from r2d.training.tasks import TASKS
    from r2d.training.trainer import MAX_SEED, check_ranges

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


def readable_length(config) -> int:
    """The longest input a checkpoint reads, in rows/tokens: ``max_position_embeddings``, less the padding offset
    (``pad_token_id + 1``) for :data:`PADDING_OFFSET_MODELS`, whose positions start after it; the causal models
    (rotary positions) are held to ``max_position_embeddings``, their training length."""
    offset = config.pad_token_id + 1 if config.model_type in PADDING_OFFSET_MODELS else 0
    return config.max_position_embeddings - offset


def fit_max_length(max_length: int | None, model: str) -> int:
    """``--max-length`` for ``model``: unset, what it reads (:func:`readable_length`) up to :data:`DEFAULT_MAX_LENGTH`
    (logged when that is less); given, the length itself if the model reads that far.

    Raises:
        r2d.io.InputError: ``max_length`` is longer than the model reads (both lengths named), or the model's config
            cannot be loaded.
    """
    config = load_config(model)
    limit = readable_length(config)
    where = f"max_position_embeddings {config.max_position_embeddings}" + (
        f" less the padding offset {config.max_position_embeddings - limit}"
        if config.model_type in PADDING_OFFSET_MODELS else "")
    if max_length is None:
        if limit < DEFAULT_MAX_LENGTH:
            logger.info("--max-length %d: all that the model reads (%s)", limit, where)
        return min(DEFAULT_MAX_LENGTH, limit)
    if max_length > limit:
        raise InputError(f"--max-length {max_length}", f"longer than the model reads: at most {limit} rows/tokens "
                                                       f"({where})")
    return max_length


def is_r2d_checkpoint(path: str) -> bool:
    """True if ``path`` is a 2D checkpoint: ``config.json`` with ``model_type == "r2d"`` (MLM), or ``"r2d_causal"``
    with flags (the causal twin, ``num_flags == 0``, reads 1D ids from a ``transformers`` tokenizer)."""
    cfg = Path(path) / "config.json"
    if not cfg.is_file():
        return False
    config = json.loads(cfg.read_text(encoding="utf-8"))
    return config.get("model_type") == "r2d" or (config.get("model_type") == "r2d_causal"
                                                 and config.get("num_flags", 0) > 0)


def load_tokenizer(model: str, tokenizer: str | None = None):
    """The tokenizer that belongs to a checkpoint.

    Args:
        model: checkpoint folder or Hub name.
        tokenizer: an explicit tokenizer folder / name, overriding the search.

    Returns:
        (tokenizer, kind) with kind ``"r2d"`` (an :class:`r2d.R2DTokenizer`) or ``"hf"`` (a ``transformers``
        tokenizer; the offline RoBERTa baseline if the checkpoint folder has no tokenizer files).

    Raises:
        r2d.io.InputError: the tokenizer cannot be loaded (named as ``--tokenizer``, or ``--model``).
    """
    from r2d.tokenizer.baseline import roberta_tokenizer

    what = f"--tokenizer {tokenizer}" if tokenizer is not None else f"--model {model}"
    try:
        if is_r2d_checkpoint(model):
            from r2d.tokenizer.hf import R2DTokenizer

            return R2DTokenizer.from_pretrained(tokenizer or model), "r2d"
        if tokenizer is not None:
            return roberta_tokenizer(tokenizer), "hf"
        folder = Path(model)
        if folder.is_dir() and not any((folder / f).is_file() for f in ("tokenizer.json", "vocab.json",
                                                                         "tokenizer_config.json")):
            logger.warning("%s has no tokenizer files: using the offline RoBERTa baseline tokenizer", model)
            return roberta_tokenizer(), "hf"
        return roberta_tokenizer(model), "hf"
    except InputError:
        raise
    except (OSError, ValueError) as e:
        raise InputError(what, f"cannot load its tokenizer ({_first_line(e)})") from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _unloadable(model: str, e: BaseException) -> InputError:
    where = "not a checkpoint" if Path(model).exists() else "no such folder, and not loadable from the Hub"
    return InputError(f"--model {model}", f"{where} ({_first_line(e)})")


def load_config(model: str):
    """The ``transformers`` config of a checkpoint folder or Hub name (R2D's model types registered).

    Raises:
        r2d.io.InputError: it cannot be loaded (no such folder, not on the Hub or the Hub unreachable).
    """
    from transformers import AutoConfig

    import r2d.modeling.causal  # noqa: F401  (registers r2d_causal with the Auto classes)
    import r2d.modeling.encoder  # noqa: F401  (registers r2d with the Auto classes)

    try:
        return AutoConfig.from_pretrained(model)
    except (OSError, ValueError) as e:
        raise _unloadable(model, e) from None


def load_model(model: str, *, num_labels: int, problem_type: str, vocab_size: int):
    """``AutoModelForSequenceClassification`` of a checkpoint folder or Hub name, with a new task head.

    Raises:
        r2d.io.InputError: it cannot be loaded (no such folder, not on the Hub or the Hub unreachable), or its
            vocabulary is smaller than the tokenizer's.
    """
    from transformers import AutoModelForSequenceClassification

    import r2d.modeling.causal  # noqa: F401  (registers r2d_causal with the Auto classes)
    import r2d.modeling.encoder  # noqa: F401  (registers r2d with the Auto classes)

    try:
        net = AutoModelForSequenceClassification.from_pretrained(model, num_labels=num_labels,
                                                                 problem_type=problem_type)
    except (OSError, ValueError) as e:
        raise _unloadable(model, e) from None
    if net.config.vocab_size < vocab_size:
        raise InputError(f"--model {model}", f"the model's vocab_size {net.config.vocab_size} is smaller than its "
                                             f"tokenizer's {vocab_size}: wrong --tokenizer?")
    return net


def encode_task(dataset_dict, task, tokenizer, *, max_length: int):
    """Tokenize every split: single sentences or pairs through the tokenizer's own pair layout.

    Args:
        dataset_dict: from :func:`r2d.training.tasks.load_task`.
        task: the :class:`r2d.training.tasks.Task`.
        tokenizer: an ``R2DTokenizer`` or a ``transformers`` tokenizer (same call signature).
        max_length: truncation length (pairs: longest first).

    Returns:
        DatasetDict with ``input_ids``, ``attention_mask``, ``labels`` and, for R2D, ``flags`` (T, F) per example.
    """
    keys = task.text_keys

    def enc(batch: dict) -> dict:
        pair = batch[keys[1]] if task.is_pair else None
        out = tokenizer(batch[keys[0]], pair, truncation=True, max_length=max_length)
        cols = {k: out[k] for k in ("input_ids", "attention_mask", "flags") if k in out}
        cols["labels"] = batch["label"]
        return cols

    cols = list(next(iter(dataset_dict.values())).column_names)
    return dataset_dict.map(enc, batched=True, batch_size=256, remove_columns=cols, desc="tokenizing")


def make_collator(tokenizer, kind: str):
    """Dynamic padding: ``R2DTokenizer.pad`` (pads flags with zero rows) or ``DataCollatorWithPadding``."""
    if kind == "r2d":
        def collate(features: list[dict]) -> dict:
            return dict(tokenizer.pad(features, padding=True, return_tensors="pt"))

        return collate
    from transformers import DataCollatorWithPadding

    return DataCollatorWithPadding(tokenizer)


def with_lora(model, r: int, alpha: float | None):
    """``model`` wrapped by peft with LoRA adapters of rank ``r`` on the attention query and value projections
    (``query``/``value`` of the encoders, ``q_proj``/``v_proj`` of the causal decoders); the classification head
    (``classifier`` or ``score``) stays fully trainable."""
    from peft import LoraConfig, get_peft_model

    causal = hasattr(model, "score")
    # subtle: no task_type: peft's sequence-classification wrapper passes inputs_embeds=None itself, which R2D's
    # forward (it builds inputs_embeds from ids and flags) cannot take twice
    config = LoraConfig(r=r, lora_alpha=alpha or 2 * r, lora_dropout=0.1,
                        target_modules=["q_proj", "v_proj"] if causal else ["query", "value"],
                        modules_to_save=["score" if causal else "classifier"])
    return get_peft_model(model, config)


def best_dev_callback(key: str, patience: int | None):
    """A ``TrainerCallback`` that keeps, in memory, the weights of the evaluation with the best ``key`` (higher is
    better; attributes ``best``, ``best_step``, ``state``) and stops training after ``patience`` evaluations without
    a better one (``None``: never)."""
    from transformers import TrainerCallback

    class BestDev(TrainerCallback):
        def __init__(self):
            self.key, self.patience = key, patience
            self.best, self.best_step, self.state, self.waited = -math.inf, None, None, 0

        def on_evaluate(self, args, state, control, metrics=None, model=None, **kwargs):
            value = (metrics or {}).get(self.key)
            if value is None:
                return
            value = -math.inf if math.isnan(value) else value  # subtle: a constant prediction has NaN pearson
            if value > self.best or self.state is None:
                self.best, self.best_step, self.waited = value, state.global_step, 0
                self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                self.waited += 1
                if self.patience is not None and self.waited >= self.patience:
                    logger.info("early stopping at step %d: no better dev %s for %d evaluations (best %.4f at "
                                "step %d)", state.global_step, self.key, self.waited, self.best, self.best_step)
                    control.should_training_stop = True

    return BestDev()


class ClassificationEvaluation:
    """What evaluation keeps: the logits (B, C) and each example's loss (B,), the model's own
    (:func:`r2d.modeling.losses.sequence_classification_loss` on that example), so that the evaluation loss is the
    mean over the examples, each counted once however batches and processes cut them."""

    def __init__(self, config, task):
        from r2d.training.metrics import make_compute_metrics

        self.config, self.task_metrics = config, make_compute_metrics(task)

    def outputs(self, out, batch) -> dict:
        import torch

        from r2d.modeling.losses import sequence_classification_loss

        logits, labels = out["logits"], batch["labels"]  # (B, C), (B,)
        losses = [sequence_classification_loss(self.config, logits[i:i + 1], labels[i:i + 1]) for i in range(len(logits))]
        return {"logits": logits, "example_loss": torch.stack(losses)}  # (B, C), (B,)

    def metrics(self, pred) -> dict[str, float]:
        import numpy as np

        # subtle: "loss" replaces Trainer's eval_loss, a mean of per-batch means that counts padding repeats
        return {**self.task_metrics(pred), "loss": float(np.mean(pred.predictions[1], dtype=np.float64))}


def split_dev(train, size: int, seed: int):
    """(train without the dev examples, the dev set): ``size`` examples drawn with ``seed``."""
    if size >= len(train):
        raise InputError(f"--dev-size {size}", f"must be smaller than the training set ({len(train)} examples)")
    parts = train.train_test_split(test_size=size, seed=seed, shuffle=True)
    return parts["train"], parts["test"]


# ---------------------------------------------------------------------------------------------------------
# the recipe


def finetune(args: FinetuneArgs, argv: list[str] | None = None) -> dict:
    """Fine-tune ``args.model`` on ``args.task`` and evaluate it.

    Args:
        args: the run arguments.
        argv: the command line, recorded in ``OUT/args.json`` (default ``sys.argv``).

    Returns:
        the content of ``OUT/results.json``: ``final`` (last evaluation, e.g. ``eval_accuracy``), ``steps``,
        ``train_seconds``, ``model_kind``, ``num_parameters`` and the arguments (``max_length`` as used).

    Raises:
        r2d.io.InputError: bad input (see the module docstring); nothing is written then.
    """
    import torch
    from transformers import TrainingArguments

    from r2d.device import bf16_native
    from r2d.training.tasks import get_task, load_task
    from r2d.training.trainer import (MetricsJsonlCallback, R2DTrainer, RichProgressCallback, quiet_replicas,
                                      save_run_args, set_seed)

    check_args(args)
    out = Path(args.out)
    targs = TrainingArguments(
        output_dir=str(out / "trainer"),
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=args.eval_batch_size,
        learning_rate=args.lr,
        weight_decay=args.weight_decay,
        lr_scheduler_type="linear",
        eval_strategy="steps",
        eval_steps=args.eval_steps,
        eval_on_start=args.eval_on_start,
        logging_steps=args.logging_steps,
        save_strategy="no",
        report_to=[],
        seed=args.seed,
        data_seed=args.seed,
        disable_tqdm=True,
        dataloader_num_workers=0,
        remove_unused_columns=False,
        use_cpu=not torch.cuda.is_available(),
        **{"bf16": args.bf16 if args.bf16 is not None else bf16_native(torch.device("cuda")),
           "torch_compile": args.compile, **args.extra},
    )
    quiet_replicas(targs)
    main = targs.should_save  # the one process that writes OUT
    args = dataclasses.replace(args, max_length=fit_max_length(args.max_length, args.model))
    task = get_task(args.task)
    metrics_path = out / METRICS_FILE
    set_seed(args.seed)

    tokenizer, kind = load_tokenizer(args.model, args.tokenizer)
    with targs.main_process_first(desc="task data"):  # subtle: datasets' map caches are written once
        raw = load_task(task, args.data_dir)
        if args.max_train_samples is not None and args.max_train_samples < len(raw["train"]):
            raw["train"] = raw["train"].shuffle(seed=args.seed).select(range(args.max_train_samples))
        if args.max_eval_samples is not None:
            for s in task.eval_splits:
                raw[s] = raw[s].select(range(min(args.max_eval_samples, len(raw[s]))))
        data = encode_task(raw, task, tokenizer, max_length=args.max_length)
    dev = None
    if args.dev_size:
        data["train"], dev = split_dev(data["train"], args.dev_size, args.seed)

    problem = "regression" if task.is_regression else "single_label_classification"
    model = load_model(args.model, num_labels=task.num_labels, problem_type=problem, vocab_size=len(tokenizer))
    if args.lora_r:
        model = with_lora(model, args.lora_r, args.lora_alpha)
    if main:
        out.mkdir(parents=True, exist_ok=True)
        save_run_args(out, args, argv=argv)

    steps_per_epoch = math.ceil(len(data["train"]) / (args.batch_size * targs.world_size))
    total = args.max_steps if args.max_steps > 0 else math.ceil(args.epochs * steps_per_epoch)
    targs.set_lr_scheduler(name="linear", max_steps=total, warmup_steps=int(round(args.warmup_ratio * total)))
    eval_sets = {s: data[s] for s in task.eval_splits}
    best = best_dev_callback(f"eval_{task.metric}", args.patience) if dev is not None else None
    callbacks = [MetricsJsonlCallback(metrics_path)] + ([RichProgressCallback()] if args.progress else [])
    callbacks += [best] if best is not None else []
    evaluation = ClassificationEvaluation(model.config, task)
    trainer = R2DTrainer(
        loss_parts=(),
        model=model, args=targs, data_collator=make_collator(tokenizer, kind),
        train_dataset=data["train"],
        eval_dataset=dev if dev is not None else eval_sets if len(eval_sets) > 1 else eval_sets[task.eval_splits[0]],
        compute_metrics=evaluation.metrics, eval_outputs=evaluation.outputs,
        callbacks=callbacks,
    )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # the rich progress callback prints the log lines
    logger.info("fine-tuning %s (%s) on %s: %d train examples, %d steps%s", args.model, kind, task.name,
                len(data["train"]), total, f" on {targs.world_size} processes" if targs.world_size > 1 else "")
    t0 = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - t0
    final: dict[str, float] = {}
    extra: dict[str, Any] = {}
    # subtle: every process decides alike (evaluation is collective): from the log history, not the main's file
    history = trainer.state.log_history
    evaluated = {r["step"] for r in history if any(k.startswith("eval_") for k in r)}
    if total not in evaluated and trainer.state.global_step == total:
        # subtle: some Trainer versions evaluate only at multiples of eval_steps
        evals = ([(None, dev)] if dev is not None else eval_sets.items() if len(eval_sets) > 1
                 else [(None, eval_sets[task.eval_splits[0]])])
        for name, ds in evals:
            trainer.evaluate(ds, metric_key_prefix="eval" if name is None else f"eval_{name}")
    if dev is not None:
        model.load_state_dict(best.state)  # the weights of the best dev score
        predictions = {}
        for name, ds in eval_sets.items():
            prefix = "eval" if len(eval_sets) == 1 else f"eval_{name}"
            pred = trainer.predict(ds, metric_key_prefix=prefix)
            final.update({k: v for k, v in pred.metrics.items() if isinstance(v, (int, float))
                          and k.startswith(prefix + "_") and k[len(prefix) + 1:] in task.metrics})
            p = pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions
            predictions[name] = {"predictions": p.tolist(), "labels": pred.label_ids.tolist()}
        if main:
            (out / PREDICTIONS_FILE).write_text(json.dumps(predictions) + "\n", encoding="utf-8")
        extra = {"best_step": best.best_step, "best_dev": best.best, "dev_examples": len(dev),
                 "stopped_at": trainer.state.global_step}
        logger.info("best dev %s %.4f at step %d; evaluation splits: %s", task.metric, best.best, best.best_step,
                    ", ".join(f"{k} {v:.4f}" for k, v in final.items()))
    else:
        for row in history:
            final.update({k: v for k, v in row.items() if k.startswith("eval_") and isinstance(v, (int, float))})
    if args.save:
        trainer.save_model(str(out / "model"))
        if main:
            tokenizer.save_pretrained(str(out / "model"))
    results = {"task": task.name, "model": args.model, "model_kind": kind, "seed": args.seed, "steps": total,
               "train_examples": len(data["train"]), "train_seconds": round(seconds, 2),
               "num_parameters": sum(p.numel() for p in model.parameters()),
               "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
               "final": final, **extra, "args": dataclasses.asdict(args)}
    if main:
        (out / RESULTS_FILE).write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    return results

