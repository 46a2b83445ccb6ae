"""r2d: 2D tokenization for language models.

Every word becomes a root token plus a row of binary flags (spacing, case, plural, -ed, -ing, 's, ...), losslessly.
``import r2d`` stays light: the names below load torch and transformers only when first used, and r2d's configs,
models and tokenizer register with transformers' Auto classes (``AutoConfig``, ``AutoTokenizer``,
``AutoModelForCausalLM``, ...) as transformers loads them (:func:`r2d.modeling.register_with_auto_classes`).
"""

from __future__ import annotations

import importlib

from r2d.modeling import register_with_auto_classes

__version__ = "0.1.0"

_LAZY = {
    "FlagSchema": "r2d.flags",
    "DeconstructionList": "r2d.lists.deconstruct",
    "R2DTokenizer": "r2d.tokenizer.hf",
    "R2DConfig": "r2d.modeling.encoder",
    "R2DModel": "r2d.modeling.encoder",
    "R2DForMaskedLM": "r2d.modeling.encoder",
    "R2DForSequenceClassification": "r2d.modeling.encoder",
    "R2DDataCollatorForMLM": "r2d.modeling.collator",
    "R2DElectraConfig": "r2d.modeling.electra",
    "R2DElectraForPreTraining": "r2d.modeling.electra",
    "R2DElectraForSequenceClassification": "r2d.modeling.electra",
    "R2DCausalConfig": "r2d.modeling.causal",
    "R2DForCausalLM": "r2d.modeling.causal",
    "R2DCausalForSequenceClassification": "r2d.modeling.causal",
    "load_causal_lm": "r2d.modeling.causal_data",
    "generate": "r2d.modeling.generation",
    "stream_generate": "r2d.modeling.generation",
    "encode_prompts": "r2d.modeling.generation",
}

__all__ = ["__version__", *_LAZY]


register_with_auto_classes()


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'r2d' has no attribute {name!r}")
