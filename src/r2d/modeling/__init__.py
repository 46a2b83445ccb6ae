"""Models that read flags and predict them (torch + transformers only; no data loading, no training loop).

Modules, in pipeline order: :mod:`~r2d.modeling.configuration` (``R2DConfig``), :mod:`~r2d.modeling.encoder`
(the RoBERTa-style MLM and classification models, calibrated ``flag_probs``), :mod:`~r2d.modeling.collator`
(MLM masking of ids and flags together, a word's flags hidden on all its rows), :mod:`~r2d.modeling.mlm_batches`
(masks seeded per example for a training run), :mod:`~r2d.modeling.causal`, :mod:`~r2d.modeling.causal_data` and
:mod:`~r2d.modeling.generation` (the causal model, its batches, sampling).
"""
