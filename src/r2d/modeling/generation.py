"""Generation with a causal model, R2D or its twin: prompts -> text, as a batch (:func:`generate`) or word by word
(:func:`stream_generate`). The same seed gives the same text on the same device and precision.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from r2d.device import model_device
from r2d.modeling.decoding import STOP_CHECK_EVERY, EndWatch, RowRules, check_fits, decode_rows
from r2d.modeling.model_generate import generate_with_flags, model_codec
from r2d.modeling.rows import RowCodec, as_codec
from r2d.modeling.sampling import (check_settings, draw, draw_roots, make_generator, root_warpers, sample_flags,
                                   sample_roots)


@dataclass
class Generation:
    """One generated continuation.

    Attributes:
        prompt: the prompt text.
        text: the text the generated rows add to the prompt.
        ids: generated root ids (``</s>`` included when reached).
        flags: generated flag rows, one list of F 0/1 values per id.
        finished: True when the sequence ended with ``</s>``.
    """

    prompt: str
    text: str
    ids: list[int] = field(default_factory=list)
    flags: list[list[int]] = field(default_factory=list)
    finished: bool = False


def _left_padded(codec: RowCodec, prompts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``<s> rows`` of each prompt, left-padded, on the host: ids (B, T), flags (B, T, F), attention mask (B, T)."""
    rows = [(ids[:-1], flags[:-1]) for ids, flags in codec.encode(list(prompts))]  # <s> rows, no </s>
    b, t, f = len(rows), max(len(r[0]) for r in rows), codec.num_flags
    host = torch.device("cpu")
    ids_t = torch.full((b, t), codec.pad_token_id, dtype=torch.long, device=host)
    flags_t = torch.zeros((b, t, f), dtype=torch.long, device=host)
    mask = torch.zeros((b, t), dtype=torch.long, device=host)
    for i, (ids, flags) in enumerate(rows):
        n = len(ids)
        ids_t[i, t - n:] = torch.tensor(ids, dtype=torch.long, device=host)
        flags_t[i, t - n:] = torch.from_numpy(np.asarray(flags, dtype=np.int64).reshape(n, f))
        mask[i, t - n:] = 1
    return ids_t, flags_t, mask


def encode_prompts(tokenizer, prompts: str | Sequence[str]) -> dict[str, torch.Tensor]:
    """Prompts as ``model.generate`` takes them: ``<s> rows`` (no ``</s>``), left-padded.

    Returns:
        ``input_ids`` (B, T), ``attention_mask`` (B, T) and, for an R2D tokenizer, ``flags`` (B, T, F).

    >>> # out = model.generate(**encode_prompts(tok, ["The cat"]), max_new_tokens=20)
    >>> # tok.batch_decode(out.sequences, out.flags)
    """
    codec = as_codec(tokenizer)
    prompts = [prompts] if isinstance(prompts, str) else list(prompts)
    if not prompts:
        raise ValueError("encode_prompts needs at least one prompt")
    ids, flags, mask = _left_padded(codec, prompts)
    enc = {"input_ids": ids, "attention_mask": mask}
    if codec.num_flags:
        enc["flags"] = flags
    return enc


def _prompt_rows(model, codec: RowCodec, prompts: Sequence[str], *, max_new_tokens: int, temperature: float,
                 top_k: int | None, top_p: float | None, seed: int | None, use_cache: bool, check_every: int,
                 precision: str):
    check_settings(max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p)
    check_fits(codec, model)
    device = model_device(model)
    host = _left_padded(codec, prompts)
    padded = not bool(host[2].bool().all())  # known on the host: no read of the device
    ids, flags, mask = (x.to(device, non_blocking=True) for x in host)
    warpers = None if temperature == 0 else root_warpers(temperature=temperature, top_k=top_k, top_p=top_p)
    return decode_rows(model, ids, flags, mask, RowRules.of(codec, device), max_new_tokens=max_new_tokens,
                       warpers=warpers, flag_temperature=temperature, generator=make_generator(seed, device),
                       use_cache=use_cache, check_every=check_every, precision=precision, padded=padded)


def generate_rows(model, codec: RowCodec, prompts: Sequence[str], *, max_new_tokens: int, temperature: float = 1.0,
                  top_k: int | None = None, top_p: float | None = None, seed: int | None = None,
                  use_cache: bool = True, precision: str = "auto"
                  ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """The generation loop (:func:`~r2d.modeling.decoding.decode_rows`) over prompts: one new row per sequence and
    step.

    Args:
        model: an :class:`~r2d.modeling.causal.R2DForCausalLM`, on any device.
        codec: the model's :class:`RowCodec`.
        prompts: B prompt texts.
        max_new_tokens, temperature, top_k, top_p, seed, use_cache, precision: see :func:`generate`.

    Yields:
        ``(ids (B,), flags (B, F), active (B,) bool)`` per step, on the model's device; ``active`` is False for
        sequences that had already ended (their row is padding and is to be ignored). Stops once all have ended.
    """
    return _prompt_rows(model, codec, prompts, max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k,
                        top_p=top_p, seed=seed, use_cache=use_cache, check_every=1, precision=precision)


def _continuation_text(codec: RowCodec, prefix_ids, prefix_flags, printed: str, ids, flags) -> str:
    """The text that rows ``ids``/``flags`` add after the prefix rows whose text is ``printed``."""
    full = codec.decode(list(prefix_ids) + list(ids), list(prefix_flags) + list(flags) if codec.num_flags else None)
    if full.startswith(printed):
        return full[len(printed):]
    return codec.decode(ids, flags if codec.num_flags else None)  # subtle: invalid UTF-8 at the seam


def generate(model, tokenizer, prompts: str | Sequence[str], *, max_new_tokens: int = 64, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None, seed: int | None = None,
             use_cache: bool = True, precision: str = "auto") -> list[Generation]:
    """Generate a continuation of each prompt (one batch, left padding, each stops at ``</s>``).

    Args:
        model: an :class:`~r2d.modeling.causal.R2DForCausalLM` (either kind), on any device: the loop runs there.
        tokenizer: its tokenizer or :class:`RowCodec`.
        prompts: one prompt or a list.
        max_new_tokens: at most this many new rows per prompt.
        temperature: 0 = greedy; top_k, top_p: sampling filters (``None`` = off).
        seed: seed of the run's generator (``None`` = random); use_cache: the KV cache (same output, faster).
        precision: ``auto`` (bf16 autocast on a CUDA GPU), ``bf16`` or ``fp32`` (:mod:`r2d.device`). A seed gives
            the same text on the same device and precision; other devices draw other random numbers.

    Returns:
        One :class:`Generation` per prompt, in order.

    >>> # model, tok = load_causal_lm("runs/clm/model"); generate(model, tok, ["The cat"], temperature=0)[0].text
    """
    codec = as_codec(tokenizer)
    prompts = [prompts] if isinstance(prompts, str) else list(prompts)
    if not prompts:
        return []
    steps = list(_prompt_rows(model, codec, prompts, max_new_tokens=max_new_tokens, temperature=temperature,
                              top_k=top_k, top_p=top_p, seed=seed, use_cache=use_cache, check_every=STOP_CHECK_EVERY,
                              precision=precision))
    rows = torch.stack([torch.cat([i[:, None], fl, on[:, None].long()], 1) for i, fl, on in steps], 1)  # (B, S, 1+F+1)
    rows = rows.tolist()  # one transfer from the device
    all_ids = [[r[0] for r in seq] for seq in rows]  # (B, S)
    all_flags = [[r[1:-1] for r in seq] for seq in rows]  # (B, S, F)
    all_active = [[r[-1] for r in seq] for seq in rows]  # (B, S)
    results = []
    for i, (prompt, (p_ids, p_flags)) in enumerate(zip(prompts, codec.encode(prompts, add_special_tokens=False))):
        ids = [x for x, on in zip(all_ids[i], all_active[i]) if on]
        flags = [x for x, on in zip(all_flags[i], all_active[i]) if on]
        finished = bool(ids) and ids[-1] == codec.eos_token_id
        printed = codec.decode(p_ids, p_flags if codec.num_flags else None)
        text = _continuation_text(codec, p_ids, p_flags.tolist(), printed, ids, flags)
        results.append(Generation(prompt=prompt, text=text, ids=ids, flags=flags, finished=finished))
    return results


def stream_generate(model, tokenizer, prompt: str, *, max_new_tokens: int, temperature: float, top_k: int | None,
                    top_p: float | None, seed: int | None, precision: str = "auto") -> Iterator[dict]:
    """Generate from one prompt with the KV cache, yielding each word as soon as it is complete.

    A word is complete when the next word-start row or ``</s>`` arrives (or generation ends). Text already
    yielded never changes; the concatenated ``text`` values equal ``generate(...)[0].text``.

    Args:
        model, tokenizer, prompt: as in :func:`generate` (one prompt).
        max_new_tokens, temperature, top_k, top_p, seed, precision: as in :func:`generate`.

    Yields:
        ``{"text": str, "rows": [{"root": str, "id": int, "flags": {flag_name: 0 or 1}}, ...]}`` per word:
        ``text`` is what the word adds to the output, ``rows`` its generated rows (the twin's ``flags`` is ``{}``).
    """
    return stream_words(model, tokenizer, prompt, max_new_tokens=max_new_tokens, temperature=temperature,
                        top_k=top_k, top_p=top_p, seed=seed, precision=precision)


def stream_words(model, tokenizer, prompt: str, *, max_new_tokens: int, temperature: float = 1.0,
                 top_k: int | None = None, top_p: float | None = None, seed: int | None = None,
                 use_cache: bool = True, precision: str = "auto") -> Iterator[dict]:
    """:func:`stream_generate` with the cache optional (``use_cache=False`` recomputes every row; same words)."""
    codec = as_codec(tokenizer)
    (p_ids, p_flags), = codec.encode([prompt], add_special_tokens=False)
    all_ids, all_flags = list(p_ids), p_flags.tolist()
    printed = codec.decode(all_ids, all_flags if codec.num_flags else None)
    word: list[tuple[int, list[int]]] = []

    def flush() -> dict:
        nonlocal printed
        ids, flags = [r[0] for r in word], [r[1] for r in word]
        text = _continuation_text(codec, all_ids, all_flags, printed, ids, flags)
        all_ids.extend(ids)
        all_flags.extend(flags)
        printed += text
        rows = [{"root": codec.piece(i), "id": i, "flags": dict(zip(codec.flag_names, map(int, fl)))}
                for i, fl in word]
        word.clear()
        return {"text": text, "rows": rows}

    for ids, flags, _ in generate_rows(model, codec, [prompt], max_new_tokens=max_new_tokens, temperature=temperature,
                                       top_k=top_k, top_p=top_p, seed=seed, use_cache=use_cache, precision=precision):
        i, *row = torch.cat([ids[:1], flags[0]]).tolist()  # streaming: each row to the host as it comes, one copy
        if word and (i == codec.eos_token_id or codec.word_start[i]):
            yield flush()
        if i == codec.eos_token_id:
            return
        word.append((i, row))
    if word:
        yield flush()


__all__ = ["Generation", "generate", "generate_rows", "stream_generate", "stream_words", "encode_prompts",
           # re-exported: the loop and its draws, importable from here as before
           "generate_with_flags", "decode_rows", "EndWatch", "RowRules", "root_warpers", "draw_roots",
           "draw", "sample_roots", "sample_flags", "check_settings", "as_codec", "model_codec"]
