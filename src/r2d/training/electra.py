"""The ELECTRA objective of ``r2d pretrain --objective electra``: the R2D pair (``--model r2d``) or its 1D twin
(``--model roberta``, on the byte-level BPE) of :mod:`r2d.modeling.electra`, on MLM batches masked by whole words.

The generator's flag loss is weighted by ``pos_weight = (1 - p) / p`` from the training rows' flag rates (as MLM's),
its replacements' flag rows are drawn among those the training rows hold, and the discriminator's "flag changed"
targets get ``--flag-change-weight``. Evaluation scores detection on the held-out rows against always "not
replaced" / "unchanged", with the replacements drawn under a fixed seed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from r2d.tokenizer.rates import pos_weights
from r2d.training.data import SequenceDataset
from r2d.training.flag_metrics import binary_prf
from r2d.training.metrics import METRICS
from r2d.training.mlm import sampled_flag_rates
from r2d.training.objective import Objective
from r2d.training.presets import model_config
from r2d.training.pretrain_args import FLAG_CHANGE_RULES, PretrainArgs

logger = logging.getLogger(__name__)


def flag_change_weights(spec: str, rates: Mapping[str, float], *, mlm_probability: float,
                        max_weight: float) -> list[float]:
    """The discriminator's ``flag_change_pos_weight``, one per flag of ``rates``, from ``--flag-change-weight``.

    ``"rate"``: negatives / positives ``(1 - q) / q`` of ``q = mlm_probability * 2p(1 - p)``, the share of word rows
    whose flag changes when masked words get flags drawn at the flag's rate p (a generator that knows the flags
    changes fewer); ``"sqrt-rate"``: its square root; both clamped to ``max_weight`` (a flag never on gets it). A
    number: that weight for every flag.

    >>> flag_change_weights("rate", {"FirstCap": 0.5}, mlm_probability=0.2, max_weight=100.0)
    [9.0]
    """
    if spec not in FLAG_CHANGE_RULES:
        return [float(spec)] * len(rates)
    weights = []
    for p in rates.values():
        q = mlm_probability * 2 * p * (1 - p)
        w = min((1 - q) / q, max_weight) if q > 0 else max_weight
        weights.append(float(math.sqrt(w) if spec == "sqrt-rate" else w))
    return weights


class ElectraEvaluation:
    """What ELECTRA evaluation keeps of the model output, by name, and the metrics computed from it.

    Kept per sequence: the summed losses and their counts (``*_nats``, ``*_n``: generator roots at masked rows,
    replaced roots at word rows; for R2D the generator's flags at masked words' first rows and the flag changes at
    word-start rows, weighted as in training), and per row the discriminator's decisions (``sigmoid(logit)``, scored
    at 0.5: its own decision under its training weights) with their targets and which rows were masked.

    Metrics, pooled over the held-out sequences: the loss parts and ``loss`` (the model's sum); for roots
    ``replaced_accuracy``, ``replaced_precision``/``recall``/``f1`` (recall = accuracy on the replaced rows), the
    same on the masked rows only (``*_masked``: where a replacement was drawn), ``replaced_rate`` and the baseline
    ``always_not_replaced_accuracy``; for each flag ``change_precision``/``recall``/``f1``/``support_<flag>``,
    ``change_accuracy_<flag>`` beside ``always_unchanged_accuracy_<flag>``, ``change_rate_<flag>`` and
    ``change_macro_f1``.
    """

    def __init__(self, model, flag_names: Sequence[str] | None):
        config = model.config
        self.model, self.flag_names = model, list(flag_names or [])  # the model's vocab_kind, wherever it is
        self.flag_loss_weight = float(getattr(config, "flag_loss_weight", 1.0))
        self.discriminator_weight = float(config.discriminator_weight)
        self.pos_weight = config.clamped_pos_weight() if self.flag_names else None
        self.change_weight = list(config.flag_change_pos_weight) if self.flag_names else None
        self.keys = ("mlm_nats", "mlm_n", "replaced_nats", "replaced_n", "replaced_probs", "replaced_labels",
                     "masked") + (("flag_nats", "flag_n", "change_nats", "change_n", "change_probs", "change_labels")
                                  if self.flag_names else ())

    def outputs(self, out: Mapping[str, Any], batch: Mapping[str, Any]) -> dict:
        """Model output and batch -> the tensors in :attr:`keys`, by name."""
        import torch
        import torch.nn.functional as F

        from r2d.modeling.collator import word_start_rows
        from r2d.modeling.electra import SPECIAL, WORD_START, originals

        labels = batch["labels"]  # (B, T)
        masked = labels.ne(-100)  # (B, T)
        b = labels.shape[0]

        def per_sequence(values, rows):  # (N,) values at the True rows of rows (B, T), row-major -> (B,)
            seq = rows.nonzero()[:, 0]  # (N,)
            return torch.zeros(b, device=values.device).index_add_(0, seq, values.float())

        nll = F.cross_entropy(out["generator_logits"].float(), labels[masked], reduction="none")  # (N,)
        replaced = out["replaced_labels"]  # (B, T)
        valid = replaced.ne(-100)
        bce = F.binary_cross_entropy_with_logits(out["logits"].float(), replaced.clamp(min=0).float(),
                                                 reduction="none") * valid  # (B, T)
        kept = {"mlm_nats": per_sequence(nll, masked), "mlm_n": masked.sum(1), "replaced_nats": bce.sum(1),
                "replaced_n": valid.sum(1), "replaced_probs": torch.sigmoid(out["logits"].float()),
                "replaced_labels": replaced, "masked": masked.long()}
        if self.flag_names:
            ids, flags = originals(batch["input_ids"], labels, batch["flags"], batch["flag_labels"])
            kind = self.model.vocab_kind
            first = word_start_rows(ids, kind[ids] != SPECIAL, kind == WORD_START) & masked  # (B, T)
            weight = torch.tensor(self.pos_weight, device=ids.device)  # (F,)
            gen = F.binary_cross_entropy_with_logits(out["generator_flag_logits"].float(), flags[first].float(),
                                                     pos_weight=weight, reduction="none")  # (W, F)
            changed = out["flag_change_labels"]  # (B, T, F)
            scored = changed.ne(-100)
            change = F.binary_cross_entropy_with_logits(
                out["flag_change_logits"].float(), changed.clamp(min=0).float(),
                pos_weight=torch.tensor(self.change_weight, device=ids.device), reduction="none") * scored
            kept.update(flag_nats=per_sequence(gen.sum(-1), first), flag_n=first.sum(1) * len(self.flag_names),
                        change_nats=change.sum((1, 2)), change_n=scored.sum((1, 2)),
                        change_probs=torch.sigmoid(out["flag_change_logits"].float()), change_labels=changed)
        return {k: kept[k] for k in self.keys}

    def metrics(self, pred) -> dict[str, float]:
        kept = dict(zip(self.keys, pred.predictions))

        def mean(name: str) -> float:
            return float(np.sum(kept[f"{name}_nats"], dtype=np.float64)) / max(float(np.sum(kept[f"{name}_n"])), 1.0)

        out = {"mlm_loss": mean("mlm"), "replaced_loss": mean("replaced"), "scored_rows": int(np.sum(kept["mlm_n"]))}
        labels, probs = kept["replaced_labels"], kept["replaced_probs"]  # (S, T) each, -100 off the word rows
        out.update(_detection(probs, labels, "replaced", "always_not_replaced_accuracy"))
        masked = np.where(kept["masked"] == 1, labels, -100)  # (S, T) the rows a replacement was drawn for
        out.update({f"{k}_masked": v for k, v in _detection(probs, masked, "replaced", None).items()})
        discriminator = out["replaced_loss"]
        if self.flag_names:
            out.update(flag_loss=mean("flag"), flag_change_loss=mean("change"))
            discriminator += out["flag_change_loss"]
            changed, change_probs = kept["change_labels"], kept["change_probs"]  # (S, T, F)
            prf = binary_prf(change_probs, changed, self.flag_names)
            out.update({f"change_{k}": v for k, v in prf.items()})
            for i, name in enumerate(self.flag_names):
                y, p = changed[..., i], change_probs[..., i]
                sel = y != -100
                rate = float(y[sel].mean()) if sel.any() else 0.0
                out[f"change_accuracy_{name}"] = METRICS["accuracy"](y[sel], p[sel] >= 0.5) if sel.any() else 0.0
                out[f"always_unchanged_accuracy_{name}"], out[f"change_rate_{name}"] = 1.0 - rate, rate
        # subtle: "loss" replaces Trainer's eval_loss, a mean of per-batch means that counts padding repeats
        out["loss"] = (out["mlm_loss"] + self.flag_loss_weight * out.get("flag_loss", 0.0)
                       + self.discriminator_weight * discriminator)
        return out


def _detection(probs: np.ndarray, labels: np.ndarray, name: str, baseline: str | None) -> dict[str, float]:
    """Accuracy, precision, recall, F1 and the positive rate of decisions ``probs >= 0.5`` where ``labels`` is not
    -100; with ``baseline``, the accuracy of always "negative" under that name."""
    sel = labels != -100
    y, p = labels[sel], probs[sel] >= 0.5
    prf = binary_prf(p[:, None], y[:, None], [name])
    rate = float(y.mean()) if y.size else 0.0
    out = {f"{name}_accuracy": METRICS["accuracy"](y, p) if y.size else 0.0,
           f"{name}_precision": prf[f"precision_{name}"], f"{name}_recall": prf[f"recall_{name}"],
           f"{name}_f1": prf[f"f1_{name}"], f"{name}_rate": rate}
    if baseline:
        out[baseline] = 1.0 - rate
    return out


def electra_objective(args: PretrainArgs, tokenizer, train_set, eval_set, out: Path) -> Objective:
    """ELECTRA of R2D (roots and flags; ``flag_rates.json``) or of the 1D twin (``--model roberta``)."""
    from r2d.modeling.electra import (ElectraTwinForPreTraining, R2DElectraForPreTraining, electra_collator,
                                      observed_flag_patterns)
    from r2d.modeling.mlm_batches import MLMBatches
    from r2d.training.callbacks import SaveTokenizerCallback

    r2d = args.model == "r2d"
    overrides: dict[str, Any] = {}
    run_files: dict[str, Any] = {}
    flag_names = list(tokenizer.flag_names) if r2d else None
    if r2d:
        rates, n = sampled_flag_rates(train_set, tokenizer)
        weights = (pos_weights(rates, flag_names, args.flag_pos_weight_max) if args.flag_pos_weight
                   else [1.0] * len(flag_names))
        change = flag_change_weights(args.flag_change_weight, rates, mlm_probability=args.mlm_probability,
                                     max_weight=args.flag_pos_weight_max)
        patterns = observed_flag_patterns(train_set.rows(i)[1] for i in range(n))
        run_files["flag_rates.json"] = {
            "rates": rates, "pos_weight": dict(zip(flag_names, weights)), "sequences_sampled": n,
            "flag_change_weight": args.flag_change_weight, "flag_change_pos_weight": dict(zip(flag_names, change)),
            "flag_patterns": len(patterns)}
        logger.info("flag rates: %s; flag-change weights (%s): %s; %d flag rows occur",
                    ", ".join(f"{k} {v:.3%}" for k, v in rates.items()), args.flag_change_weight,
                    ", ".join(f"{w:.3g}" for w in change), len(patterns))
        overrides = dict(flag_names=flag_names, flag_combine=args.flag_combine, flag_values=args.flag_values,
                         flag_loss_weight=args.flag_loss_weight, flag_pos_weight=weights,
                         flag_pos_weight_max=args.flag_pos_weight_max, flag_change_pos_weight=change,
                         flag_patterns=patterns)
    config = model_config("r2d_electra" if r2d else "electra_twin", args.preset, vocab_size=len(tokenizer),
                          max_length=args.max_length, **overrides)
    model = (R2DElectraForPreTraining if r2d else ElectraTwinForPreTraining)(config)
    model.set_vocabulary(tokenizer)
    batches = MLMBatches(electra_collator(tokenizer, mlm_probability=args.mlm_probability), args.seed,
                         tokenizer.pad_token_id, tokenizer.num_flags if r2d else 0)
    evaluation = ElectraEvaluation(model, flag_names)
    return Objective(model=model, collate=batches, eval_dataset=batches.premask(SequenceDataset(eval_set)),
                     compute_metrics=evaluation.metrics, eval_outputs=evaluation.outputs,
                     loss_parts=("mlm_loss", "flag_loss", "replaced_loss", "flag_change_loss") if r2d
                     else ("mlm_loss", "replaced_loss"),
                     processing_class=None if r2d else tokenizer,
                     callbacks=[SaveTokenizerCallback(tokenizer)] if r2d else [], run_files=run_files,
                     eval_seed=args.seed)


__all__ = ["ElectraEvaluation", "electra_objective", "flag_change_weights"]
