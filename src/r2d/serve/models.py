"""Load the causal models the playground's generation panel serves (torch and transformers imported lazily); every
loading failure becomes a :class:`ModelLoadError` of one clear line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    """A causal model and the tokenizer saved beside it, ready for ``generate_fn``; ``device`` is where the model runs
    (generation follows it, :mod:`r2d.device`)."""

    model: Any
    tokenizer: Any
    path: str = ""
    device: str = ""


class ModelLoadError(Exception):
    """A model folder that cannot be served; the message says which and why, in one line."""


def load_model(path: str, device: str = "auto") -> LoadedModel:
    """A causal model and the tokenizer saved beside it, in eval mode, on ``device``.

    Args:
        path: a folder written by ``save_pretrained`` of a causal model and its tokenizer.
        device: where the model runs (:func:`r2d.device.resolve_device`).

    Raises:
        ModelLoadError: no such folder, no generation support in this r2d, the model or tokenizer fails to load, or
            the device is not here.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise ModelLoadError(f"{path}: no such folder (expected a causal model saved with save_pretrained)")
    try:
        import r2d.modeling.causal  # noqa: F401  (registers model_type "r2d_causal" with AutoModelForCausalLM)
        import r2d.modeling.generation  # noqa: F401
    except ImportError as err:
        raise ModelLoadError(f"{path}: this r2d has no causal generation ({err})") from None
    try:
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(folder)
    except Exception as err:  # transformers raises many kinds; the user needs one line
        raise ModelLoadError(f"{path}: cannot load a causal model: {type(err).__name__}: {_first_line(err)}") from None
    try:
        from r2d.tokenizer.loading import load_tokenizer

        tokenizer = load_tokenizer(folder)  # R2D's or the twin's, by the files saved with the model
    except Exception as err:
        raise ModelLoadError(f"{path}: cannot load the tokenizer saved with the model: {type(err).__name__}: "
                             f"{_first_line(err)}") from None
    from r2d.device import model_device, place

    try:
        model = place(model.eval(), device)
    except (ValueError, RuntimeError) as err:  # no such device here, or out of its memory
        raise ModelLoadError(f"{path}: cannot place the model on {device}: {_first_line(err)}") from None
    log.info("loaded %s (%s, %s) on %s", path, type(model).__name__, type(tokenizer).__name__, model_device(model))
    return LoadedModel(model=model, tokenizer=tokenizer, path=str(folder), device=str(model_device(model)))


def default_generate_fn(model, tokenizer, prompt: str, **kwargs):
    """:func:`r2d.modeling.generation.stream_generate`, imported when first called."""
    from r2d.modeling.generation import stream_generate

    return stream_generate(model, tokenizer, prompt, **kwargs)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else "(no message)"
