"""Loading a tokenizer by folder or name: an ``R2DTokenizer``, or a ``transformers`` one (the offline RoBERTa
baseline when no name is given). Every command, recipe and app loads its tokenizer through :func:`load_tokenizer`
and words its own error around it.
"""

from __future__ import annotations

import os
from pathlib import Path

from r2d.tokenizer.files import CONFIG_FILE

HF_FILES = ("tokenizer.json", "vocab.json", "tokenizer_config.json")
"""Files of which a ``transformers`` tokenizer folder holds at least one."""


def has_tokenizer_files(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` holds a ``transformers`` tokenizer's files (a model folder saved without one does not)."""
    return any((Path(folder) / f).is_file() for f in HF_FILES)


def load_tokenizer(name: str | os.PathLike | None = None, *, r2d: bool | None = None):
    """The tokenizer ``name`` names: an ``R2DTokenizer`` or a ``transformers`` tokenizer.

    Args:
        name: a folder, ``"r2d-en"``, or a Hub name; ``None``: ``r2d-en`` for R2D, else the offline RoBERTa baseline.
        r2d: ``True`` an ``R2DTokenizer``; ``False`` a ``transformers`` one
            (:func:`r2d.tokenizer.baseline.roberta_tokenizer`); ``None`` decides by the folder (``r2d_tokenizer.json``).

    Raises:
        OSError, ValueError: it cannot be loaded (callers name the option or file it came from).
    """
    if r2d is None:
        r2d = name is not None and (Path(name) / CONFIG_FILE).is_file()
    if r2d:
        from r2d.tokenizer.hf import R2DTokenizer

        return R2DTokenizer.from_pretrained("r2d-en" if name is None else name)
    from r2d.tokenizer.baseline import roberta_tokenizer

    return roberta_tokenizer(None if name is None else str(name))


__all__ = ["load_tokenizer", "has_tokenizer_files", "HF_FILES"]
