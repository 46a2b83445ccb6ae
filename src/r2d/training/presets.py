"""Model sizes and their training defaults, by preset name: ``tiny`` for tests, ``micro`` and ``mini`` for the scaling
study and the CPU experiment, ``small`` for a CPU, ``base`` (RoBERTa-base) for GPUs; and the MLM model config of one.
"""

from __future__ import annotations

from typing import Any

PRESETS: dict[str, dict[str, Any]] = {
    # tests: seconds on a CPU
    "tiny": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64),
    # the scaling study's size below mini: ~0.26M parameters outside the embeddings (a quarter of mini's)
    "micro": dict(hidden_size=64, num_hidden_layers=4, num_attention_heads=4, intermediate_size=256),
    # the experiment's cpu preset: ~1M parameters outside the embeddings, a few minutes per run on 2 cores
    "mini": dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, intermediate_size=512),
    # this 2-core CPU: minutes per model
    "small": dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024),
    # RoBERTa-base, for GPUs
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
}

TRAIN_DEFAULTS: dict[str, dict[str, Any]] = {
    "tiny": dict(max_length=64, batch_size=8, learning_rate=1e-3, warmup_steps=0, weight_decay=0.01,
                 logging_steps=1, eval_steps=50, save_steps=50),
    "micro": dict(max_length=128, batch_size=16, learning_rate=1e-3, warmup_steps=20, weight_decay=0.01,
                  logging_steps=10, eval_steps=50, save_steps=100),
    "mini": dict(max_length=128, batch_size=16, learning_rate=1e-3, warmup_steps=20, weight_decay=0.01,
                 logging_steps=10, eval_steps=50, save_steps=100),
    "small": dict(max_length=128, batch_size=16, learning_rate=5e-4, warmup_steps=50, weight_decay=0.01,
                  logging_steps=10, eval_steps=50, save_steps=100),
    "base": dict(max_length=512, batch_size=32, learning_rate=1e-4, warmup_steps=10000, weight_decay=0.01,
                 logging_steps=100, eval_steps=2000, save_steps=2000),
}


def model_config(kind: str, preset: str, *, vocab_size: int, max_length: int | None = None, **overrides):
    """The config of a preset-size model.

    Args:
        kind: ``"r2d"`` (-> ``R2DConfig``), ``"roberta"`` (-> ``RobertaConfig``), or an ELECTRA pair of that size:
            ``"r2d_electra"`` (-> ``R2DElectraConfig``), ``"electra_twin"`` (-> ``ElectraTwinConfig``); the generator
            takes its config's defaults (the same width, a third of the layers).
        preset: a key of :data:`PRESETS`.
        vocab_size: the tokenizer's ``len(tokenizer)``.
        max_length: longest sequence the model must take; sets ``max_position_embeddings = max_length + 2``
            (RoBERTa's offset). ``None`` = the preset's ``TRAIN_DEFAULTS`` max length.
        **overrides: any config field (``flag_names``, ``flag_pos_weight``, ``num_labels``, ...).
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    max_length = TRAIN_DEFAULTS[preset]["max_length"] if max_length is None else max_length
    kwargs = dict(PRESETS[preset], vocab_size=vocab_size, max_position_embeddings=max_length + 2,
                  pad_token_id=1, bos_token_id=0, eos_token_id=2, layer_norm_eps=1e-5, type_vocab_size=1)
    kwargs.update(overrides)
    if kind == "r2d":
        from r2d.modeling.encoder import R2DConfig

        return R2DConfig(**kwargs)
    if kind == "r2d_electra":
        from r2d.modeling.configuration import R2DElectraConfig

        return R2DElectraConfig(**kwargs)
    if kind in ("roberta", "electra_twin"):
        from transformers import RobertaConfig

        from r2d.modeling.configuration import ElectraTwinConfig

        for key in [k for k in kwargs if k.startswith("flag_") or k == "num_flags"]:
            kwargs.pop(key)
        return (RobertaConfig if kind == "roberta" else ElectraTwinConfig)(**kwargs)
    raise ValueError(f"unknown model kind {kind!r}; expected 'r2d', 'roberta', 'r2d_electra' or 'electra_twin'")


__all__ = ["PRESETS", "TRAIN_DEFAULTS", "model_config"]
