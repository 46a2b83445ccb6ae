"""Training FLOPs of the experiment's masked models, to set the ELECTRA arm's steps at the MLM pair's compute.

A step costs ``6 x parameters used per row x rows`` (forward and backward, the usual estimate): every parameter
of the encoders and per-row heads counts for every row, the vocabulary projections (and the heads before them) and
the generator's flag head only for the masked rows where the code runs them there (the MLM models' labelled-row
head, ELECTRA's generator); embedding lookups cost nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

MASKED_ROW_HEADS = ("lm_head", "generator_lm_head", "generator_predictions", "generator_flag_head")
"""Modules run on the masked rows only during pretraining (their parameter names start with these)."""


def build_model(objective: str, kind: str, preset: str, *, vocab_size: int, max_length: int,
                flag_names: Sequence[str] = ()):
    """An untrained pretraining model of the experiment: ``objective`` ``"mlm"`` or ``"electra"``, ``kind`` ``"r2d"``
    or ``"roberta"`` (for ELECTRA: the 1D twin), of the size preset ``preset``."""
    from r2d.modeling.electra import ElectraTwinForPreTraining, R2DElectraForPreTraining
    from r2d.modeling.encoder import R2DForMaskedLM, RobertaForMaskedLMLabelledRows
    from r2d.training.presets import model_config

    flags = dict(flag_names=list(flag_names)) if kind == "r2d" else {}
    if objective == "mlm":
        config = model_config(kind, preset, vocab_size=vocab_size, max_length=max_length, **flags)
        return (R2DForMaskedLM if kind == "r2d" else RobertaForMaskedLMLabelledRows)(config)
    config = model_config("r2d_electra" if kind == "r2d" else "electra_twin", preset, vocab_size=vocab_size,
                          max_length=max_length, **flags)
    return (R2DElectraForPreTraining if kind == "r2d" else ElectraTwinForPreTraining)(config)


def flops_per_row(model, *, mlm_probability: float = 0.15) -> dict[str, float]:
    """``{"per_row", "per_masked_row", "flops_per_row"}``: the parameters a row uses in every row and in the masked
    rows (a share ``mlm_probability``), and ``6 x (per_row + mlm_probability x per_masked_row)``."""
    per_row = per_masked = 0
    for name, p in model.named_parameters():  # subtle: tied weights are listed once, under the embeddings
        if "embeddings" in name:
            continue
        if name.startswith(MASKED_ROW_HEADS):
            per_masked += p.numel()
        else:
            per_row += p.numel()
    # the vocabulary projections, tied to the embeddings: (V x H) on the masked rows
    for head in ("lm_head", "generator_lm_head"):
        if (module := getattr(model, head, None)) is not None:
            weight = module.decoder.weight if hasattr(module, "decoder") else module.weight
            per_masked += weight.numel()
    return {"per_row": per_row, "per_masked_row": per_masked,
            "flops_per_row": 6.0 * (per_row + mlm_probability * per_masked)}


def electra_steps(mlm_steps: int, mlm_flops: Sequence[float], electra_flops: Sequence[float]) -> int:
    """The ELECTRA runs' steps (at least 1): the MLM runs' mean FLOPs per row over the ELECTRA runs', times the MLM
    steps (the same rows per step).

    >>> electra_steps(5000, [6.0, 6.0], [7.5, 7.5])
    4000
    """
    ratio = (sum(mlm_flops) / len(mlm_flops)) / (sum(electra_flops) / len(electra_flops))
    return max(1, round(mlm_steps * ratio))


def arm_compute(*, preset: str, mlm_steps: int, rows_per_step: int, max_length: int, vocab_size: dict[str, int],
                flag_names: Sequence[str], mlm_probability: float = 0.15) -> dict:
    """The ELECTRA arm's equal-compute plan: each model's parameters used per row and FLOPs per row, the ELECTRA
    steps (:func:`electra_steps`), and every run's estimated training FLOPs.

    Args:
        vocab_size: ``{"r2d": ..., "roberta": ...}``, the tokenizers' sizes.
    """
    models = {}
    for objective in ("mlm", "electra"):
        for kind in ("r2d", "roberta"):
            model = build_model(objective, kind, preset, vocab_size=vocab_size[kind], max_length=max_length,
                                flag_names=flag_names)
            models[f"{objective}-{kind}"] = flops_per_row(model, mlm_probability=mlm_probability)
    steps = {"mlm": mlm_steps,
             "electra": electra_steps(mlm_steps, [models["mlm-r2d"]["flops_per_row"],
                                                  models["mlm-roberta"]["flops_per_row"]],
                                      [models["electra-r2d"]["flops_per_row"],
                                       models["electra-roberta"]["flops_per_row"]])}
    for run, m in models.items():
        m["steps"] = steps[run.split("-")[0]]
        m["training_flops"] = m["flops_per_row"] * rows_per_step * m["steps"]
    return {"steps": steps, "rows_per_step": rows_per_step, "mlm_probability": mlm_probability, "models": models}


__all__ = ["MASKED_ROW_HEADS", "build_model", "flops_per_row", "electra_steps", "arm_compute"]
