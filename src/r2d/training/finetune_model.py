"""The checkpoint a fine-tuning run starts from: its own tokenizer (R2D's, a ``transformers`` one, or the offline
RoBERTa baseline), its config, the classification model on top of it, and LoRA adapters.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from r2d.io import InputError
from r2d.tokenizer import loading

logger = logging.getLogger(__name__)


def is_r2d_checkpoint(path: str) -> bool:
    """True if ``path`` is a 2D checkpoint: ``config.json`` with ``model_type`` ``"r2d"`` (MLM) or ``"r2d_electra"``
    (the ELECTRA pair), or ``"r2d_causal"`` with flags (the causal twin, ``num_flags == 0``, reads 1D ids from a
    ``transformers`` tokenizer, as does ELECTRA's ``"electra_twin"``)."""
    cfg = Path(path) / "config.json"
    if not cfg.is_file():
        return False
    config = json.loads(cfg.read_text(encoding="utf-8"))
    return config.get("model_type") in ("r2d", "r2d_electra") or (config.get("model_type") == "r2d_causal"
                                                                  and config.get("num_flags", 0) > 0)


def load_tokenizer(model: str, tokenizer: str | None = None):
    """The tokenizer that belongs to a checkpoint.

    Args:
        model: checkpoint folder or Hub name.
        tokenizer: an explicit tokenizer folder / name, overriding the search.

    Returns:
        (tokenizer, kind) with kind ``"r2d"`` (an :class:`r2d.R2DTokenizer`) or ``"hf"`` (a ``transformers``
        tokenizer; the offline RoBERTa baseline if the checkpoint folder has no tokenizer files).

    Raises:
        r2d.io.InputError: the tokenizer cannot be loaded (named as ``--tokenizer``, or ``--model``).
    """
    what = f"--tokenizer {tokenizer}" if tokenizer is not None else f"--model {model}"
    try:
        if is_r2d_checkpoint(model):
            return loading.load_tokenizer(tokenizer or model, r2d=True), "r2d"
        if tokenizer is not None:
            return loading.load_tokenizer(tokenizer, r2d=False), "hf"
        if Path(model).is_dir() and not loading.has_tokenizer_files(model):
            logger.warning("%s has no tokenizer files: using the offline RoBERTa baseline tokenizer", model)
            return loading.load_tokenizer(None, r2d=False), "hf"
        return loading.load_tokenizer(model, r2d=False), "hf"
    except InputError:
        raise
    except (OSError, ValueError) as e:
        raise InputError(what, f"cannot load its tokenizer ({_first_line(e)})") from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _unloadable(model: str, e: BaseException) -> InputError:
    where = "not a checkpoint" if Path(model).exists() else "no such folder, and not loadable from the Hub"
    return InputError(f"--model {model}", f"{where} ({_first_line(e)})")


def load_config(model: str):
    """The ``transformers`` config of a checkpoint folder or Hub name (R2D's model types registered).

    Raises:
        r2d.io.InputError: it cannot be loaded (no such folder, not on the Hub or the Hub unreachable).
    """
    from transformers import AutoConfig

    import r2d.modeling.causal  # noqa: F401  (registers r2d_causal with the Auto classes)
    import r2d.modeling.electra  # noqa: F401  (registers r2d_electra and electra_twin with the Auto classes)
    import r2d.modeling.encoder  # noqa: F401  (registers r2d with the Auto classes)

    try:
        return AutoConfig.from_pretrained(model)
    except (OSError, ValueError) as e:
        raise _unloadable(model, e) from None


def load_model(model: str, *, num_labels: int, problem_type: str, vocab_size: int):
    """``AutoModelForSequenceClassification`` of a checkpoint folder or Hub name, with a new task head.

    Raises:
        r2d.io.InputError: it cannot be loaded (no such folder, not on the Hub or the Hub unreachable), or its
            vocabulary is smaller than the tokenizer's.
    """
    from transformers import AutoModelForSequenceClassification

    import r2d.modeling.causal  # noqa: F401  (registers r2d_causal with the Auto classes)
    import r2d.modeling.electra  # noqa: F401  (registers r2d_electra and electra_twin with the Auto classes)
    import r2d.modeling.encoder  # noqa: F401  (registers r2d with the Auto classes)

    try:
        net = AutoModelForSequenceClassification.from_pretrained(model, num_labels=num_labels,
                                                                 problem_type=problem_type)
    except (OSError, ValueError) as e:
        raise _unloadable(model, e) from None
    if net.config.vocab_size < vocab_size:
        raise InputError(f"--model {model}", f"the model's vocab_size {net.config.vocab_size} is smaller than its "
                                             f"tokenizer's {vocab_size}: wrong --tokenizer?")
    return net


def with_lora(model, r: int, alpha: float | None):
    """``model`` wrapped by peft with LoRA adapters of rank ``r`` on the attention query and value projections
    (``query``/``value`` of the encoders, ``q_proj``/``v_proj`` of the causal decoders); the classification head
    (``classifier`` or ``score``) stays fully trainable."""
    from peft import LoraConfig, get_peft_model

    causal = hasattr(model, "score")
    # subtle: no task_type: peft's sequence-classification wrapper passes inputs_embeds=None itself, which R2D's
    # forward (it builds inputs_embeds from ids and flags) cannot take twice
    config = LoraConfig(r=r, lora_alpha=alpha or 2 * r, lora_dropout=0.1,
                        target_modules=["q_proj", "v_proj"] if causal else ["query", "value"],
                        modules_to_save=["score" if causal else "classifier"])
    return get_peft_model(model, config)


__all__ = ["is_r2d_checkpoint", "load_tokenizer", "load_config", "load_model", "with_lora"]
