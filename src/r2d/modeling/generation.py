"""Generation with a causal model: the root of the next row is drawn first, then its flags; text decodes as it goes.

Pipeline stage: ``prompt -> rows -> model -> next row -> ... -> text``. One loop serves the R2D model and its
1D twin (:class:`~r2d.modeling.causal.R2DForCausalLM` with ``num_flags`` F > 0 or 0):

1. the prompts are encoded as ``<s> rows`` (no ``</s>``) and **left-padded** into one batch; positions count
   real rows only, so padding changes nothing;
2. each step runs the decoder on the new rows only (``use_cache=True``: a ``transformers`` ``DynamicCache``
   holds the earlier ones) or on all rows again (``use_cache=False``, same numbers, for checking);
3. the root of the next row is drawn from the root logits: ``temperature`` 0 = greedy (argmax), otherwise
   ``softmax(logits / temperature)`` restricted to the ``top_k`` best and/or the smallest set whose
   probability reaches ``top_p``. Special ids other than ``</s>`` are never drawn;
4. its flags: free on a word-start root, drawn from ``sigmoid(flag_logits / temperature)`` given that root
   (greedy: logit > 0; top-k/top-p do not apply to yes/no choices); **fixed** otherwise and copied, as the
   tokenizer would write them: a continuation piece carries its word's flags, a special row none;
5. a sequence stops at ``</s>`` or after ``max_new_tokens`` rows. All draws use one ``torch.Generator``
   seeded with ``seed``: the same seed gives the same text.

``subtle:`` R2D never continues the prompt's last word: its spelling depends on the word's flags and pieces
together (``dog`` + Suffix_s then a piece ``ma`` spells ``dogmas``, not ``dogs`` + ``ma``), so text already
shown would change. The first generated R2D row therefore starts a word (or is ``</s>``). The twin appends
bytes and has no such rule.

:func:`stream_generate` yields one dict per completed word (a word is complete when the next word-start row or
``</s>`` arrives); text already yielded never changes, and decoding is total, so any model output prints.

This module does not train or score text (:mod:`r2d.evaluation.bpb`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from r2d.modeling.causal_data import RowCodec

logger = logging.getLogger(__name__)


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


def as_codec(tokenizer) -> RowCodec:
    """A :class:`RowCodec` for a tokenizer (or the codec itself)."""
    return tokenizer if isinstance(tokenizer, RowCodec) else RowCodec(tokenizer)


def check_settings(*, max_new_tokens: int, temperature: float, top_k: int | None, top_p: float | None) -> None:
    """Raise ``ValueError`` naming the first bad sampling setting."""
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if not temperature >= 0:
        raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")


def sample_roots(logits: torch.Tensor, *, temperature: float, top_k: int | None, top_p: float | None,
                 generator: torch.Generator) -> torch.Tensor:
    """Draw one id per row of logits.

    Args:
        logits: (B, V) root scores (-inf = forbidden).
        temperature: 0 = argmax; otherwise the logits are divided by it.
        top_k: keep the k best ids (``None`` = all).
        top_p: keep the smallest set of best ids whose probability reaches ``top_p`` (``None`` = all).
        generator: the run's random generator.

    Returns:
        (B,) long ids.
    """
    if temperature == 0:
        return logits.argmax(-1)
    scores = logits.float() / temperature  # (B, V)
    if top_k is not None and top_k < scores.size(-1):
        kth = scores.topk(top_k, dim=-1).values[:, -1:]  # (B, 1)
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if top_p is not None and top_p < 1:
        sorted_scores, order = scores.sort(dim=-1, descending=True)  # (B, V)
        probs = sorted_scores.softmax(-1)
        # drop an id when the ids before it already reach top_p (the best id always stays)
        drop_sorted = probs.cumsum(-1) - probs >= top_p  # (B, V)
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        scores = scores.masked_fill(drop, float("-inf"))
    probs = scores.softmax(-1)  # (B, V)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)  # (B,)


def sample_flags(flag_logits: torch.Tensor, *, temperature: float, generator: torch.Generator) -> torch.Tensor:
    """Draw 0/1 flags: (B, F) logits -> (B, F) long; greedy (temperature 0) = logit > 0."""
    if temperature == 0:
        return (flag_logits > 0).long()
    p = torch.sigmoid(flag_logits.float() / temperature)  # (B, F)
    return (torch.rand(p.shape, generator=generator) < p).long()


def _make_generator(seed: int | None) -> torch.Generator:
    g = torch.Generator()
    if seed is None:
        g.seed()  # subtle: a fresh Generator has a fixed default seed; None means "any"
    else:
        g.manual_seed(int(seed))
    return g


def _left_padded(codec: RowCodec, prompts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``<s> rows`` of each prompt, left-padded: ids (B, T), flags (B, T, F), attention mask (B, T)."""
    rows = [(ids[:-1], flags[:-1]) for ids, flags in codec.encode(list(prompts))]  # <s> rows, no </s>
    b, t, f = len(rows), max(len(r[0]) for r in rows), codec.num_flags
    ids_t = torch.full((b, t), codec.pad_token_id, dtype=torch.long)
    flags_t = torch.zeros((b, t, f), dtype=torch.long)
    mask = torch.zeros((b, t), dtype=torch.long)
    for i, (ids, flags) in enumerate(rows):
        n = len(ids)
        ids_t[i, t - n:] = torch.tensor(ids, dtype=torch.long)
        flags_t[i, t - n:] = torch.as_tensor(np.asarray(flags, dtype=np.int64).reshape(n, f))
        mask[i, t - n:] = 1
    return ids_t, flags_t, mask


@torch.inference_mode()
def generate_rows(model, codec: RowCodec, prompts: Sequence[str], *, max_new_tokens: int, temperature: float = 1.0,
                  top_k: int | None = None, top_p: float | None = None, seed: int | None = None,
                  use_cache: bool = True) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """The generation loop (module docstring, steps 1-5): yields one new row per sequence and step.

    Args:
        model: an :class:`~r2d.modeling.causal.R2DForCausalLM`.
        codec: the model's :class:`RowCodec`.
        prompts: B prompt texts.
        max_new_tokens, temperature, top_k, top_p, seed, use_cache: see the module docstring.

    Yields:
        ``(ids (B,), flags (B, F), active (B,) bool)`` per step; ``active`` is False for sequences that had
        already ended (their row is padding and is to be ignored).
    """
    from transformers import DynamicCache

    check_settings(max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p)
    if (codec.vocab_size, codec.num_flags) != (model.config.vocab_size, model.config.num_flags):
        raise ValueError(f"the tokenizer ({codec.vocab_size} ids, {codec.num_flags} flags) does not fit the model "
                         f"({model.config.vocab_size} ids, {model.config.num_flags} flags)")
    device = next(model.parameters()).device
    ids, flags, mask = (x.to(device) for x in _left_padded(codec, prompts))
    b, f = ids.size(0), codec.num_flags
    generator = _make_generator(seed)
    word_start = torch.as_tensor(codec.word_start, device=device)  # (V,)
    special = torch.zeros_like(word_start)
    special[codec.special_ids] = True
    banned = special.clone()  # (V,): every special id but </s>
    banned[codec.eos_token_id] = False
    continuation = ~word_start & ~special  # (V,)
    cache = DynamicCache(config=model.config) if use_cache else None
    active = torch.ones(b, dtype=torch.bool, device=device)
    feed_ids, feed_flags = ids, flags
    last_flags = flags[:, -1]  # (B, F)
    for step in range(max_new_tokens):
        out = model(input_ids=feed_ids, flags=feed_flags if f else None, attention_mask=mask, cache=cache,
                    use_cache=use_cache, flag_logits=False)
        hidden, logits = out.last_hidden_state[:, -1], out.logits[:, -1].float()  # (B, H), (B, V)
        logits = logits.masked_fill(banned, float("-inf"))
        if step == 0 and f:  # subtle: R2D does not continue the prompt's last word (module docstring)
            logits = logits.masked_fill(continuation, float("-inf"))
        next_ids = sample_roots(logits, temperature=temperature, top_k=top_k, top_p=top_p, generator=generator)
        next_ids = torch.where(active, next_ids, torch.full_like(next_ids, codec.pad_token_id))  # (B,)
        next_flags = torch.zeros((b, f), dtype=torch.long, device=device)  # (B, F)
        if f:
            free = word_start[next_ids] & active  # (B,)
            drawn = sample_flags(model.next_flag_logits(hidden, next_ids), temperature=temperature,
                                 generator=generator)  # (B, F)
            is_cont = continuation[next_ids] & active  # (B,)
            next_flags = torch.where(free[:, None], drawn, next_flags)
            next_flags = torch.where(is_cont[:, None], last_flags, next_flags)  # copied: fixed flags
        yield next_ids, next_flags, active.clone()
        last_flags = next_flags
        ids = torch.cat([ids, next_ids[:, None]], dim=1)  # (B, T+1)
        flags = torch.cat([flags, next_flags[:, None]], dim=1)  # (B, T+1, F)
        mask = torch.cat([mask, active.long()[:, None]], dim=1)  # (B, T+1)
        active = active & next_ids.ne(codec.eos_token_id)
        if not bool(active.any()):
            return
        feed_ids, feed_flags = (ids[:, -1:], flags[:, -1:]) if use_cache else (ids, flags)


def _continuation_text(codec: RowCodec, prefix_ids, prefix_flags, printed: str, ids, flags) -> str:
    """The text that rows ``ids``/``flags`` add after the prefix rows whose text is ``printed``."""
    full = codec.decode(list(prefix_ids) + list(ids), list(prefix_flags) + list(flags) if codec.num_flags else None)
    if full.startswith(printed):
        return full[len(printed):]
    return codec.decode(ids, flags if codec.num_flags else None)  # subtle: invalid UTF-8 at the seam


def generate(model, tokenizer, prompts: str | Sequence[str], *, max_new_tokens: int = 64, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None, seed: int | None = None,
             use_cache: bool = True) -> list[Generation]:
    """Generate a continuation of each prompt (one batch, left padding, each stops at ``</s>``).

    Args:
        model: an :class:`~r2d.modeling.causal.R2DForCausalLM` (either kind).
        tokenizer: its tokenizer or :class:`RowCodec`.
        prompts: one prompt or a list.
        max_new_tokens: at most this many new rows per prompt.
        temperature: 0 = greedy; top_k, top_p: sampling filters (``None`` = off).
        seed: seed of the run's generator (``None`` = random); use_cache: the KV cache (same output, faster).

    Returns:
        One :class:`Generation` per prompt, in order.

    >>> # model, tok = load_causal_lm("runs/clm/model"); generate(model, tok, ["The cat"], temperature=0)[0].text
    """
    codec = as_codec(tokenizer)
    prompts = [prompts] if isinstance(prompts, str) else list(prompts)
    if not prompts:
        return []
    steps = list(generate_rows(model, codec, prompts, max_new_tokens=max_new_tokens, temperature=temperature,
                               top_k=top_k, top_p=top_p, seed=seed, use_cache=use_cache))
    results = []
    for i, (prompt, (p_ids, p_flags)) in enumerate(zip(prompts, codec.encode(prompts, add_special_tokens=False))):
        ids = [int(s[0][i]) for s in steps if s[2][i]]
        flags = [s[1][i].tolist() for s in steps if s[2][i]]
        finished = bool(ids) and ids[-1] == codec.eos_token_id
        printed = codec.decode(p_ids, p_flags if codec.num_flags else None)
        text = _continuation_text(codec, p_ids, p_flags.tolist(), printed, ids, flags)
        results.append(Generation(prompt=prompt, text=text, ids=ids, flags=flags, finished=finished))
    return results


def stream_generate(model, tokenizer, prompt: str, *, max_new_tokens: int, temperature: float, top_k: int | None,
                    top_p: float | None, seed: int | None) -> Iterator[dict]:
    """Generate from one prompt with the KV cache, yielding each word as soon as it is complete.

    A word is complete when the next word-start row or ``</s>`` arrives (or generation ends). Text already
    yielded never changes; the concatenated ``text`` values equal ``generate(...)[0].text``.

    Args:
        model, tokenizer, prompt: as in :func:`generate` (one prompt).
        max_new_tokens, temperature, top_k, top_p, seed: as in :func:`generate`.

    Yields:
        ``{"text": str, "rows": [{"root": str, "id": int, "flags": {flag_name: 0 or 1}}, ...]}`` per word:
        ``text`` is what the word adds to the output, ``rows`` its generated rows (the twin's ``flags`` is ``{}``).
    """
    return stream_words(model, tokenizer, prompt, max_new_tokens=max_new_tokens, temperature=temperature,
                        top_k=top_k, top_p=top_p, seed=seed)


def stream_words(model, tokenizer, prompt: str, *, max_new_tokens: int, temperature: float = 1.0,
                 top_k: int | None = None, top_p: float | None = None, seed: int | None = None,
                 use_cache: bool = True) -> Iterator[dict]:
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
                                       top_k=top_k, top_p=top_p, seed=seed, use_cache=use_cache):
        i = int(ids[0])
        if word and (i == codec.eos_token_id or codec.word_start[i]):
            yield flush()
        if i == codec.eos_token_id:
            return
        word.append((i, flags[0].tolist()))
    if word:
        yield flush()


__all__ = ["Generation", "generate", "generate_rows", "stream_generate", "stream_words", "sample_roots", "sample_flags",
           "check_settings", "as_codec"]
