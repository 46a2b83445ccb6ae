"""What the ``gpu`` preset asks of a GPU, counted, not timed: floating-point operations per training step of each
model it trains, and the throughput its 10 minutes would need.

    python docs/experiment/gpu_flops.py

Counts one forward and backward pass of every model kind of the preset at its own sizes (``small``, vocabulary
8,192; pretraining batches of 64 x 256 rows, fine-tuning batches of 128 x 256) with ``torch.utils.flop_counter``,
on this CPU in fp32 (the count does not depend on the device or the precision). It then multiplies by the preset's
step counts (docs/experiment/README.md) and divides by 600 s. A step of the R2D models carries its 7 flags; the
1D twins none. Fine-tuning is counted at full length (256 rows) although most examples are shorter, so its figure
is an upper bound. Nothing here says how long a step takes on a GPU: these models are small enough that a step may
be bound by kernel launches and the Python around them rather than by arithmetic.
"""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from r2d.experiment.presets import PRESETS

H100_BF16_DENSE = 989e12
"""NVIDIA's H100 SXM figure for dense bf16 tensor-core throughput (FLOP/s), without sparsity."""


def step_flops(model, batch: int, length: int, num_flags: int, labels: str) -> int:
    """FLOPs of one forward + backward pass on a random full batch."""
    ids = torch.randint(4, model.config.vocab_size, (batch, length))
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    if num_flags:
        inputs["flags"] = torch.randint(0, 2, (batch, length, num_flags)).float()
    if labels == "lm":
        inputs["labels"] = ids
    elif labels == "cls":
        inputs["labels"] = torch.zeros(batch, dtype=torch.long)
    counter = FlopCounterMode(display=False)
    with counter:
        model(**inputs).loss.backward()
    return counter.get_total_flops()


def main() -> None:
    from transformers import RobertaForMaskedLM, RobertaForSequenceClassification

    from r2d.modeling.causal import R2DCausalForSequenceClassification, R2DForCausalLM
    from r2d.modeling.encoder import R2DForMaskedLM, R2DForSequenceClassification
    from r2d.training.clm import causal_config
    from r2d.training.trainer import model_config

    p = PRESETS["gpu"]
    torch.manual_seed(0)
    v, n, b, ft_b = p.vocab_size, p.max_length, p.batch_size, p.finetune_batch_size
    kinds = {
        "causal R2D": (R2DForCausalLM, causal_config(p.model_preset, vocab_size=v, max_length=n), 7),
        "causal twin": (R2DForCausalLM, causal_config(p.model_preset, vocab_size=v, max_length=n, num_flags=0), 0),
        "MLM R2D": (R2DForMaskedLM, model_config("r2d", p.model_preset, vocab_size=v, max_length=n), 7),
        "RoBERTa": (RobertaForMaskedLM, model_config("roberta", p.model_preset, vocab_size=v, max_length=n), 0),
    }
    heads = {R2DForCausalLM: R2DCausalForSequenceClassification, R2DForMaskedLM: R2DForSequenceClassification,
             RobertaForMaskedLM: RobertaForSequenceClassification}
    print(f"gpu preset: {p.model_preset} models, vocabulary {v}; pretraining {b} x {n}, fine-tuning {ft_b} x "
          f"{p.finetune_max_length} (fp32 count on CPU)\n")
    print("| model | GFLOP / pretraining step | GFLOP / fine-tuning step |")
    print("|---|---|---|")
    pre, ft = {}, {}
    for name, (cls, config, flags) in kinds.items():
        pre[name] = step_flops(cls(config), b, n, flags, "lm")
        config.num_labels = 2
        ft[name] = step_flops(heads[cls](config), ft_b, p.finetune_max_length, flags, "cls")
        print(f"| {name} | {pre[name] / 1e9:,.0f} | {ft[name] / 1e9:,.0f} |")
    pretrain_total = p.causal_steps * len(p.causal_seeds) * (pre["causal R2D"] + pre["causal twin"]) \
        + p.mlm_steps * len(p.mlm_seeds) * (pre["MLM R2D"] + pre["RoBERTa"])
    ft_steps = 31_842  # at most, counted from the local training sets (docs/experiment/README.md)
    ft_total = ft_steps * max(ft.values())
    total = pretrain_total + ft_total
    print(f"\npretraining: {pretrain_total / 1e15:,.1f} PFLOP; fine-tuning at most {ft_total / 1e15:,.1f} PFLOP "
          f"({ft_steps:,} steps at the dearest model's full-length step); total {total / 1e15:,.1f} PFLOP")
    need = total / 600
    print(f"10 minutes need {need / 1e12:,.0f} TFLOP/s sustained: {100 * need / H100_BF16_DENSE:.1f}% of an H100's "
          f"dense bf16 peak ({H100_BF16_DENSE / 1e12:,.0f} TFLOP/s)")


if __name__ == "__main__":
    main()
