"""The masked-LM objective of ``r2d pretrain`` (the article's): R2D predicts each masked row's root and flags,
RoBERTa its token; the flag loss is weighted by ``pos_weight = (1 - p) / p`` from the training rows' flag rates.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from r2d.tokenizer.rates import flag_rates_from_rows, pos_weights
from r2d.training.data import SequenceDataset
from r2d.training.flag_metrics import flag_metrics
from r2d.training.objective import Objective
from r2d.training.presets import model_config
from r2d.training.pretrain_args import PretrainArgs

logger = logging.getLogger(__name__)


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


RATE_SAMPLE = 20000
"""Training sequences read to measure flag rates (the first ones): a sample is enough, and keeps start-up short."""


def sampled_flag_rates(train_set, tokenizer) -> tuple[dict[str, float], int]:
    """``({flag: rate over the non-special rows}, sequences read)`` of the first :data:`RATE_SAMPLE` training
    sequences."""
    n = min(len(train_set), RATE_SAMPLE)
    rates = flag_rates_from_rows((train_set.rows(i)[0] for i in range(n)), (train_set.rows(i)[1] for i in range(n)),
                                 tokenizer.all_special_ids, list(tokenizer.flag_names))
    return rates, n


def mlm_objective(args: PretrainArgs, tokenizer, train_set, eval_set, out: Path) -> Objective:
    """Masked language modelling of R2D (ids and flags) or RoBERTa (ids); ``flag_rates.json`` for R2D."""
    from transformers import DataCollatorForLanguageModeling

    from r2d.modeling.collator import R2DDataCollatorForMLM
    from r2d.modeling.encoder import R2DForMaskedLM, RobertaForMaskedLMLabelledRows
    from r2d.modeling.mlm_batches import MLMBatches, NoFlags, RobertaWordStarts
    from r2d.training.callbacks import SaveTokenizerCallback

    r2d = args.model == "r2d"
    overrides: dict[str, Any] = {}
    flag_names = None
    run_files: dict[str, Any] = {}
    if r2d:
        flag_names = list(tokenizer.flag_names)
        rates, n = sampled_flag_rates(train_set, tokenizer)
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


__all__ = ["MLMEvaluation", "mlm_objective", "sampled_flag_rates", "RATE_SAMPLE"]
