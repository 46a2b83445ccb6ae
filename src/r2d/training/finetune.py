"""``r2d finetune``: an R2D or RoBERTa checkpoint, MLM, ELECTRA or causal, fine-tuned on one downstream task through
one code path (only the tokenizer and the padding collator differ), with task metrics in ``OUT/metrics.jsonl`` every
``--eval-steps`` and the end result in ``OUT/results.json``.

With ``--dev-size N`` the model is selected on a dev set carved from the training data (the best weights kept,
``--patience`` stopping early) and the task's evaluation splits are scored once at the end (``OUT/predictions.json``).
Bad input raises :class:`r2d.io.InputError` before anything is written.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

from r2d.device import bf16_native
from r2d.io import InputError
from r2d.training.finetune_args import RESULTS_FILE, FinetuneArgs, check_args, check_model, looks_like_a_path
from r2d.training.finetune_model import is_r2d_checkpoint, load_config, load_model, load_tokenizer, with_lora
from r2d.training.metrics import make_compute_metrics
from r2d.training.tasks import get_task, load_task

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"
PREDICTIONS_FILE = "predictions.json"
DEFAULT_MAX_LENGTH = 128
"""``--max-length`` when it is not given and the model reads that far."""
PADDING_OFFSET_MODELS = ("r2d", "roberta", "r2d_electra")
"""Model types whose positions start after the pad id (RoBERTa's ``padding_idx + 1``): R2D's encoder (its ELECTRA
discriminator too) and RoBERTa; the 1D ELECTRA twin's positions start at 0, as ELECTRA's."""


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


__all__ = ["FinetuneArgs", "finetune", "check_args", "check_model", "looks_like_a_path", "readable_length",
           "fit_max_length", "is_r2d_checkpoint", "load_tokenizer", "load_config", "load_model", "encode_task",
           "make_collator", "with_lora", "best_dev_callback", "ClassificationEvaluation", "split_dev", "RESULTS_FILE",
           "METRICS_FILE", "PREDICTIONS_FILE", "DEFAULT_MAX_LENGTH"]
