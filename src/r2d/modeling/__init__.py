"""Models that read flags and predict them (torch + transformers only; no data loading, no training loop).

Modules: :mod:`~r2d.modeling.encoder` (``R2DConfig``, the RoBERTa-style MLM and classification models),
:mod:`~r2d.modeling.collator` (MLM masking of ids and flags together).
"""
