"""r2d: 2D tokenization for language models.

Every word becomes a root token plus a row of binary flags (spacing, capitalisation, plural, -ed, -ing,
's, ...), losslessly. The pipeline, one module per stage::

    flags -> text (pretokenize, transform) -> lists (deconstruct) -> tokenizer -> modeling -> training
    around them: analysis (stats, report, experiment), game (the list game), cli (the ``r2d`` command)

Heavy modules (torch, transformers) are imported only when their names are first used; the first model class
used (``from r2d import R2DConfig``) registers both model types with the Auto classes (``AutoModelForMaskedLM``,
``AutoModelForCausalLM``, ``AutoModelForSequenceClassification``, ...).
"""

from __future__ import annotations

import importlib

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
    "R2DCausalConfig": "r2d.modeling.causal",
    "R2DForCausalLM": "r2d.modeling.causal",
}

__all__ = ["__version__", *_LAZY]


_MODELS = ("r2d.modeling.encoder", "r2d.modeling.causal")
"""importing these registers ``r2d`` and ``r2d_causal`` with transformers' Auto classes"""


def __getattr__(name: str):
    if name in _LAZY:
        if _LAZY[name] in _MODELS:  # any model class registers both model types, MLM and causal
            for module in _MODELS:
                importlib.import_module(module)
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'r2d' has no attribute {name!r}")
