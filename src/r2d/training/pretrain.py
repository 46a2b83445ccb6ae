"""``r2d pretrain``: pretraining of R2D or of its 1D baseline through one code path, masked (:mod:`~r2d.training.mlm`),
causal (:mod:`~r2d.training.clm`) or ELECTRA (:mod:`~r2d.training.electra`), on corpus shards read as the steps ask
for them (:mod:`~r2d.training.data`).

A run folder ``OUT`` gets ``metrics.jsonl``, TensorBoard logs, checkpoints, ``args.json``, ``summary.json``, the
objective's files (``flag_rates.json``) and the final model with its tokenizer in ``OUT/model``. Bad input raises
:class:`r2d.io.InputError` before anything is written; ``--resume`` continues from the newest complete checkpoint
and redraws exactly the masks of an uninterrupted run.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from r2d.io import InputError
from r2d.tokenizer import loading
from r2d.training.clm import bf16_available, clm_objective, train_run_tokenizer
from r2d.training.data import EpochSampler, SequenceDataset, build_datasets
from r2d.training.electra import electra_objective
from r2d.training.mlm import MLMEvaluation, mlm_objective
from r2d.training.objective import Objective
from r2d.training.pretrain_args import RESUME_MAY_CHANGE, PretrainArgs, check_args, check_resume, with_defaults
from r2d.training.snapshots import CLOCK_FILE, SNAPSHOT_DIR, snapshot_callback, snapshots

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"
MODEL_DIR = "model"
CACHE_DIR = "data"


def load_tokenizer(kind: str, name: str | None):
    """The tokenizer of a model kind: ``R2DTokenizer`` (default ``r2d-en``) or the RoBERTa baseline.

    Raises:
        r2d.io.InputError: the folder or name cannot be loaded (named as ``--tokenizer``).
    """
    if kind == "r2d":
        name = name or "r2d-en"
    try:
        return loading.load_tokenizer(name, r2d=kind == "r2d")
    except InputError:
        raise
    except (OSError, ValueError) as e:
        raise InputError(f"--tokenizer {name}", f"cannot load a {kind} tokenizer: {str(e).splitlines()[0]}") from None


# name -> builder(args, tokenizer, train_set, eval_set, out) -> Objective; a new objective is one more entry
OBJECTIVES: dict[str, Callable[..., Objective]] = {"mlm": mlm_objective, "clm": clm_objective,
                                                   "electra": electra_objective}


def training_arguments(args: PretrainArgs):
    """The ``TrainingArguments`` of a run (after :func:`with_defaults`); ``--batch-size`` is per process."""
    import torch
    from transformers import TrainingArguments

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
        bf16=args.bf16 if args.bf16 is not None else args.objective == "clm" and bf16_available(),
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
    """Pretrain one model: tokenizer, corpus shards, the objective's model trained by the ``Trainer``, the run folder.

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
    new_out = not out.exists()
    targs = training_arguments(args)
    quiet_replicas(targs)
    main = targs.should_save  # the one process that writes the run folder
    try:
        with targs.main_process_first(local=False, desc="the run's tokenizer and corpus shards"):
            tokenizer = (train_run_tokenizer(args, out) if args.train_tokenizer
                         else load_tokenizer(args.model, args.tokenizer))
            train_set, eval_set = build_datasets(
                args.corpus, tokenizer, cache_dir=out / CACHE_DIR, with_flags=args.model == "r2d",
                tokenizer_id=str(f"trained:{args.train_tokenizer}" if args.train_tokenizer
                                 else args.tokenizer or ("r2d-en" if args.model == "r2d" else "roberta-baseline")),
                max_length=args.max_length, pack=args.pack, max_docs=args.max_docs, eval_fraction=args.eval_fraction,
                eval_size=args.eval_size, objective="clm" if args.objective == "clm" else "mlm",
                workers=args.prepare_workers, progress=args.progress and main, write_meta=main)
    except InputError:
        if new_out and main:  # subtle: bad input found while streaming the corpus; leave no half-made run folder
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
    snapshot = snapshot_callback(out, args.snapshot_steps, tokenizer, rows_per_step) if args.snapshot_steps else None
    trainer = R2DTrainer(
        model=objective.model, args=targs, data_collator=objective.collate,
        train_dataset=SequenceDataset(train_set), eval_dataset=objective.eval_dataset,
        train_sampler=EpochSampler(len(train_set), args.seed), eval_outputs=objective.eval_outputs,
        processing_class=objective.processing_class, compute_metrics=objective.compute_metrics,
        callbacks=callbacks + ([snapshot] if snapshot else []), loss_parts=objective.loss_parts,
        eval_seed=objective.eval_seed,
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


__all__ = ["PretrainArgs", "pretrain", "training_arguments", "with_defaults", "check_args", "check_resume",
           "RESUME_MAY_CHANGE", "load_tokenizer", "Objective", "OBJECTIVES", "MLMEvaluation", "mlm_objective",
           "electra_objective",
           "METRICS_FILE", "MODEL_DIR", "SNAPSHOT_DIR", "CLOCK_FILE", "snapshots"]
