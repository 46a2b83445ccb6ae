"""``R2DForCausalLM.generate`` for a 2D model: Hugging Face's arguments and ``GenerationConfig``, r2d's loop
(:mod:`r2d.modeling.decoding`: the root of each new row, then its flags), and what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from transformers.utils import ModelOutput

from r2d.device import model_device
from r2d.modeling.decoding import STOP_CHECK_EVERY, RowRules, check_fits, decode_rows
from r2d.modeling.rows import RowCodec, as_codec
from r2d.tokenizer.loading import load_tokenizer
from r2d.modeling.sampling import root_warpers


@dataclass
class R2DGenerateOutput(ModelOutput):
    """What ``R2DForCausalLM.generate`` returns for a 2D model (``tok.batch_decode(out.sequences, out.flags)``).

    Attributes:
        sequences: (B, T + N) the prompt rows (left-padded) then the generated ones, ``<pad>`` after ``</s>``.
        flags: (B, T + N, F) their flags (0 on padding).
    """

    sequences: torch.LongTensor | None = None
    flags: torch.LongTensor | None = None


# generation settings the 2D loop does not implement, with the values that mean "off"
_UNSUPPORTED = {"num_beams": 1, "num_return_sequences": 1, "repetition_penalty": 1.0, "no_repeat_ngram_size": 0,
                "min_length": 0, "min_new_tokens": None, "bad_words_ids": None, "typical_p": 1.0, "min_p": None,
                "top_h": None, "epsilon_cutoff": 0.0, "eta_cutoff": 0.0, "penalty_alpha": None, "guidance_scale": 1.0,
                "stop_strings": None, "suppress_tokens": None, "begin_suppress_tokens": None, "sequence_bias": None,
                "output_scores": False, "output_logits": False, "output_attentions": False,
                "output_hidden_states": False}


def model_codec(model, tokenizer=None) -> RowCodec:
    """The :class:`RowCodec` ``model.generate`` uses: of ``tokenizer``, else of the tokenizer saved in the folder the
    model was loaded from (``model.name_or_path``); kept on the model for the next call."""
    cached = model.__dict__.get("_r2d_generation_codec")  # (tokenizer or None, codec)
    if cached is not None and cached[0] is tokenizer:
        return cached[1]
    if tokenizer is not None:
        codec = as_codec(tokenizer)
    else:
        folder = Path(str(getattr(model, "name_or_path", "") or ""))
        if not (folder / "config.json").is_file():
            raise ValueError(f"{type(model).__name__}.generate needs the model's tokenizer (which ids start a word "
                             "decides which flags are drawn): pass tokenizer=, e.g. R2DTokenizer.from_pretrained(...)")
        try:
            codec = RowCodec(load_tokenizer(folder, r2d=model.config.num_flags > 0))
        except (OSError, ValueError) as e:
            raise ValueError(f"{type(model).__name__}.generate: no tokenizer in {folder} ({e}); pass tokenizer=") from None
    model.__dict__["_r2d_generation_codec"] = (tokenizer, codec)
    return codec


def generate_with_flags(model, inputs: torch.Tensor | None = None, generation_config=None, *,
                        flags: torch.Tensor | None = None, tokenizer=None, **kwargs) -> R2DGenerateOutput:
    """``R2DForCausalLM.generate`` for a 2D model: Hugging Face's arguments, r2d's loop (:mod:`r2d.modeling.decoding`).

    Args:
        model: an :class:`~r2d.modeling.causal.R2DForCausalLM` with ``num_flags > 0``.
        inputs: (B, T) prompt ids (or ``input_ids=``); left or right padding (padding is moved to the left).
        generation_config: a ``GenerationConfig``; keywords override it, ``model.generation_config`` fills the rest.
        flags: (B, T, F) the prompt rows' flags. tokenizer: the model's tokenizer (default: the one saved beside
            the model).
        **kwargs: ``attention_mask`` (B, T) and generation settings: ``max_new_tokens`` (or ``max_length``),
            ``do_sample`` (default False: greedy roots and flags), ``temperature``, ``top_k``, ``top_p`` (the roots;
            flags are yes/no draws at ``temperature``), ``use_cache``.

    Returns:
        :class:`R2DGenerateOutput`: ``sequences`` (B, T + N) and ``flags`` (B, T + N, F), the
        prompt rows (left-padded) then the new ones, padding after ``</s>``; ``tok.batch_decode(out.sequences,
        out.flags)`` gives the texts.

    Raises:
        ValueError: a setting this loop does not implement (``num_beams``, ...), missing flags or tokenizer.
    """
    config, extra = model._prepare_generation_config(generation_config, **kwargs)
    input_ids = inputs if inputs is not None else extra.pop("input_ids", None)
    attention_mask = extra.pop("attention_mask", None)
    if extra:
        raise ValueError(f"{type(model).__name__}.generate does not take {sorted(extra)}")
    unsupported = {k: getattr(config, k, off) for k, off in _UNSUPPORTED.items()
                   if getattr(config, k, off) not in (off, None)}
    if unsupported:
        raise ValueError(f"{type(model).__name__}.generate of a 2D model draws one row at a time (greedy or sampled "
                         f"with temperature/top_k/top_p); it does not implement "
                         + ", ".join(f"{k}={v!r}" for k, v in unsupported.items()))
    if input_ids is None:
        raise ValueError(f"{type(model).__name__}.generate needs input_ids (B, T), e.g. from encode_prompts(tok, texts)")
    f = model.config.num_flags
    if flags is None or flags.shape != (*input_ids.shape, f):
        got = None if flags is None else tuple(flags.shape)
        raise ValueError(f"{type(model).__name__}.generate needs flags (B, T, F={f}) next to input_ids, got {got}; "
                         "encode_prompts(tok, texts) returns both")
    codec = model_codec(model, tokenizer)
    check_fits(codec, model)
    t = input_ids.size(1)
    max_new_tokens = config.max_new_tokens if config.max_new_tokens is not None else config.max_length - t
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens} (max_length={config.max_length}, "
                         f"{t} prompt rows)")
    device = model_device(model)
    ids, flags = input_ids.to(device, torch.long), flags.to(device, torch.long)
    mask = ids.ne(codec.pad_token_id).long() if attention_mask is None else attention_mask.to(device, torch.long)
    order = mask.argsort(dim=1, stable=True)  # (B, T): padding first, real rows in order = left padding
    ids, mask = ids.gather(1, order), mask.gather(1, order)
    flags = flags.gather(1, order[..., None].expand_as(flags))  # (B, T, F)
    ids, flags = ids.masked_fill(mask.eq(0), codec.pad_token_id), flags.masked_fill(mask.eq(0)[..., None], 0)
    warpers = None
    if config.do_sample:
        warpers = root_warpers(temperature=config.temperature, top_k=config.top_k, top_p=config.top_p)
    steps = list(decode_rows(model, ids, flags, mask, RowRules.of(codec, device), max_new_tokens=max_new_tokens,
                             warpers=warpers, flag_temperature=config.temperature if config.do_sample else 0,
                             generator=None, use_cache=bool(config.use_cache), check_every=STOP_CHECK_EVERY,
                             precision="fp32"))  # as Hugging Face's generate: the caller's autocast, if any
    new_ids = torch.stack([s[0] for s in steps], 1)  # (B, S)
    new_flags = torch.stack([s[1] for s in steps], 1)  # (B, S, F)
    n = int(torch.stack([s[2] for s in steps], 1).any(0).sum())  # steps with a live sequence: a prefix
    return R2DGenerateOutput(sequences=torch.cat([ids, new_ids[:, :n]], 1),
                             flags=torch.cat([flags, new_flags[:, :n]], 1))


__all__ = ["R2DGenerateOutput", "generate_with_flags", "model_codec"]
