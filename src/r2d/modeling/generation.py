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

**Devices.** The loop runs where the model is (:mod:`r2d.device`): the prompts are built on the host and moved
once, the generator and every draw are on the model's device, and the host never waits for the device inside the
loop: ids, flags and stop decisions stay there, roots are drawn without ``torch.multinomial`` (whose input checks
read the probabilities back), padded prompts get an attention mask made on the device
(:mod:`r2d.modeling.attention`), and whether every sequence has ended reaches the host without blocking
(:class:`EndWatch`). ``precision="auto"`` runs the forward passes under bf16 autocast on a CUDA GPU.

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
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from r2d.device import autocast, model_device
from r2d.modeling.attention import causal_mask, implementation_of
from r2d.modeling.causal import R2DGenerateOutput
from r2d.modeling.causal_data import RowCodec, load_tokenizer_for

logger = logging.getLogger(__name__)

STOP_CHECK_EVERY = 8
"""steps the host may run ahead of the device before it waits to learn whether every sequence has ended"""


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


def root_warpers(*, temperature: float, top_k: int | None, top_p: float | None):
    """``transformers``' warpers for sampling roots, in ``generate``'s order: temperature, top-k, top-p.

    Returns a ``LogitsProcessorList`` (empty when nothing filters); temperature must be > 0 (greedy draws none).
    """
    from transformers.generation.logits_process import (LogitsProcessorList, TemperatureLogitsWarper,
                                                        TopKLogitsWarper, TopPLogitsWarper)

    warpers = LogitsProcessorList()
    if temperature != 1.0:
        warpers.append(TemperatureLogitsWarper(float(temperature)))
    if top_k is not None and top_k != 0:
        warpers.append(TopKLogitsWarper(top_k=int(top_k)))
    if top_p is not None and top_p < 1.0:
        warpers.append(TopPLogitsWarper(top_p=float(top_p)))
    return warpers


def draw_roots(logits: torch.Tensor, warpers, generator: torch.Generator | None,
               input_ids: torch.Tensor | None = None) -> torch.Tensor:
    """(B, V) logits -> (B,) ids: argmax when ``warpers`` is ``None``, else a draw from the warped softmax.

    ``generator`` must be on the logits' device (``None``: that device's default generator).
    """
    if warpers is None:
        return logits.argmax(-1)
    scores = warpers(input_ids, logits.float())  # (B, V), -inf = filtered out
    return draw(scores.softmax(-1), generator)


def draw(probs: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One index per row of (B, V) probabilities: ``torch.multinomial(probs, 1)`` without its host reads.

    The exponential race: ``argmax(p / E)`` with ``E ~ Exp(1)`` picks index i with probability ``p_i``. It is
    ``torch.multinomial``'s own path for one sample, so a seeded generator draws the same ids; multinomial first
    checks the probabilities on the host (two device reads per call), which this skips (the softmax above makes
    valid ones).
    """
    race = torch.empty_like(probs).exponential_(1, generator=generator)  # (B, V)
    return (probs / race).argmax(-1)  # (B,)


def sample_roots(logits: torch.Tensor, *, temperature: float, top_k: int | None, top_p: float | None,
                 generator: torch.Generator | None) -> torch.Tensor:
    """Draw one id per row of logits.

    Args:
        logits: (B, V) root scores (-inf = forbidden).
        temperature: 0 = argmax; otherwise the logits are divided by it.
        top_k: keep the k best ids (``None`` = all).
        top_p: keep the smallest set of best ids whose probability reaches ``top_p`` (``None`` = all).
        generator: the run's random generator, on the logits' device.

    Returns:
        (B,) long ids.
    """
    warpers = None if temperature == 0 else root_warpers(temperature=temperature, top_k=top_k, top_p=top_p)
    return draw_roots(logits, warpers, generator)


def sample_flags(flag_logits: torch.Tensor, *, temperature: float, generator: torch.Generator | None) -> torch.Tensor:
    """Draw 0/1 flags: (B, F) logits -> (B, F) long; greedy (temperature 0) = logit > 0. Drawn on the logits'
    device (``generator`` must be there too)."""
    if temperature == 0:
        return (flag_logits > 0).long()
    p = torch.sigmoid(flag_logits.float() / temperature)  # (B, F)
    return (torch.rand(p.shape, generator=generator, device=p.device) < p).long()


def _make_generator(seed: int | None, device: torch.device) -> torch.Generator:
    g = torch.Generator(device=device)
    if seed is None:
        g.seed()  # subtle: a fresh Generator has a fixed default seed; None means "any"
    else:
        g.manual_seed(int(seed))
    return g


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


@dataclass(frozen=True)
class RowRules:
    """What the loop must know of the tokenizer, as (V,) bool tables on the model's device."""

    word_start: torch.Tensor  # ids that start a word: their flags are drawn
    continuation: torch.Tensor  # ids that continue a word: their flags are copied
    banned: torch.Tensor  # ids never drawn: every special id but </s>
    eos_token_id: int
    pad_token_id: int

    @classmethod
    def of(cls, codec: RowCodec, device: torch.device) -> "RowRules":
        word_start = torch.as_tensor(codec.word_start, device=device)  # (V,)
        special = torch.zeros_like(word_start)
        special[codec.special_ids] = True
        banned = special.clone()
        banned[codec.eos_token_id] = False
        return cls(word_start=word_start, continuation=~word_start & ~special, banned=banned,
                   eos_token_id=codec.eos_token_id, pad_token_id=codec.pad_token_id)


def _check_fits(codec: RowCodec, model) -> None:
    if (codec.vocab_size, codec.num_flags) != (model.config.vocab_size, model.config.num_flags):
        raise ValueError(f"the tokenizer ({codec.vocab_size} ids, {codec.num_flags} flags) does not fit the model "
                         f"({model.config.vocab_size} ids, {model.config.num_flags} flags)")


class EndWatch:
    """Tells the generation loop that every sequence has ended, without making the host wait for the device.

    The loop hands it the (B,) ``active`` flags after each step. On the CPU they are read at once (there is no
    device to wait for). On CUDA each step's "all ended" is copied into pinned host memory without blocking and
    read once the copy's event has completed; the host waits only when it runs more than ``lag`` steps ahead of
    the device (then the device is the bottleneck and a wait costs it nothing). Elsewhere (MPS) it reads the flags
    every ``lag`` steps. Either way at most ``lag`` steps may follow the one where the last sequence ended.

    Args:
        device: the device of the flags.
        lag: see above (>= 1).
        event: a function returning an object with ``record()``, ``query()`` and ``synchronize()`` (default: CUDA's
            ``torch.cuda.Event`` on CUDA); given, the watch works as on CUDA on any device.
    """

    def __init__(self, device: torch.device, *, lag: int, event: Callable[[], object] | None = None):
        self.lag = max(1, int(lag))
        self.mode = ("async" if device.type == "cuda" or event is not None
                     else "now" if device.type == "cpu" else "every")
        self.event = event if event is not None else torch.cuda.Event if device.type == "cuda" else None
        self.steps = 0
        self.pending: deque = deque()  # (event, slot index), oldest first
        if self.mode == "async":  # subtle: a slot is reused lag + 1 steps later, after its value was read
            self.slots = torch.zeros(self.lag + 1, dtype=torch.bool, pin_memory=device.type == "cuda")

    def ended(self, active: torch.Tensor) -> bool:
        """Whether the host now knows that every sequence had ended (at this step or up to ``lag`` steps ago)."""
        self.steps += 1
        if self.mode == "now":
            return not bool(active.any())
        if self.mode == "every":
            return self.steps % self.lag == 0 and not bool(active.any())
        slot = self.steps % (self.lag + 1)
        self.slots[slot].copy_(~active.any(), non_blocking=True)
        event = self.event()
        event.record()
        self.pending.append((event, slot))
        while self.pending and (len(self.pending) > self.lag or self.pending[0][0].query()):
            event, slot = self.pending.popleft()
            event.synchronize()  # at once after query() said done; waits only when the host ran lag steps ahead
            if bool(self.slots[slot]):
                return True
        return False


@torch.inference_mode()
def decode_rows(model, ids: torch.Tensor, flags: torch.Tensor, mask: torch.Tensor, rules: RowRules, *,
                max_new_tokens: int, warpers, flag_temperature: float, generator: torch.Generator | None,
                use_cache: bool = True, check_every: int = 1, precision: str = "auto", padded: bool | None = None
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """The loop (module docstring, steps 2-5) over a left-padded batch already on the model's device.

    Args:
        ids: (B, T) prompt rows. flags: (B, T, F) (F = 0 for the twin). mask: (B, T) 1 = real row.
        warpers: ``root_warpers(...)`` or ``None`` (greedy roots). flag_temperature: 0 = greedy flags.
        generator: on the model's device (``None``: its default generator).
        check_every: at most this many steps may pass between the end of the last sequence and the loop's return
            (the host learns it without waiting, :class:`EndWatch`).
        precision: ``auto``, ``bf16`` or ``fp32`` (:func:`r2d.device.autocast`), per forward pass.
        padded: whether any prompt is left-padded (``None``: read from ``mask``, the one read before the loop).

    Yields:
        ``(ids (B,), flags (B, F), active (B,) bool)`` per step, on the device; ``active`` is False for sequences
        that had already ended (their row is padding, flags 0). After the last sequence ends up to
        ``check_every`` such all-padding steps may follow.
    """
    from transformers import DynamicCache

    b, t, f = ids.size(0), ids.size(1), flags.size(-1)
    device = ids.device
    cache = DynamicCache(config=model.config) if use_cache else None
    if padded is None:
        padded = not bool(mask.bool().all())  # the one read before the loop
    # every row the loop will have: the prompt's padding hidden, each new row seen (an ended sequence's rows too:
    # nothing reads them); positions count real rows only
    keys = torch.cat([mask.bool(), torch.ones((b, max_new_tokens), dtype=torch.bool, device=device)], 1)  # (B, T+N)
    first_new = mask.long().sum(-1, keepdim=True)  # (B, 1) the first new row's position
    positions = torch.cat([(mask.long().cumsum(-1) - 1).clamp(min=0),
                           first_new + torch.arange(max_new_tokens, device=device)], 1)  # (B, T+N)
    implementation = implementation_of(model)
    watch = EndWatch(device, lag=check_every)
    active = torch.ones(b, dtype=torch.bool, device=device)
    pad = torch.full((b,), rules.pad_token_id, dtype=torch.long, device=device)
    no_flags = torch.zeros((b, f), dtype=torch.long, device=device)
    feed_ids, feed_flags = ids, flags
    last_flags = flags[:, -1]  # (B, F)
    for step in range(max_new_tokens):
        end, q = t + step, feed_ids.size(1)  # rows so far, rows fed now
        # subtle: without padding transformers numbers the rows itself; given positions and no mask, it would read
        # them back to look for packed sequences
        attention = causal_mask(keys[:, :end], q, implementation) if padded else None
        with autocast(device, precision):
            out = model(input_ids=feed_ids, flags=feed_flags if f else None, attention_mask=attention,
                        position_ids=positions[:, end - q:end] if padded else None, cache=cache, use_cache=use_cache,
                        flag_logits=False, logits_to_keep=1)
        hidden, logits = out.last_hidden_state[:, -1], out.logits[:, -1].float()  # (B, H), (B, V)
        logits = logits.masked_fill(rules.banned, float("-inf"))
        if step == 0 and f:  # subtle: R2D does not continue the prompt's last word (module docstring)
            logits = logits.masked_fill(rules.continuation, float("-inf"))
        next_ids = torch.where(active, draw_roots(logits, warpers, generator, ids), pad)  # (B,)
        next_flags = no_flags  # (B, F)
        if f:
            free = rules.word_start[next_ids] & active  # (B,)
            with autocast(device, precision):
                flag_logits = model.next_flag_logits(hidden, next_ids)  # (B, F)
            drawn = sample_flags(flag_logits, temperature=flag_temperature, generator=generator)  # (B, F)
            is_cont = rules.continuation[next_ids] & active  # (B,)
            next_flags = torch.where(free[:, None], drawn, next_flags)
            next_flags = torch.where(is_cont[:, None], last_flags, next_flags)  # copied: fixed flags
        yield next_ids, next_flags, active.clone()
        last_flags = next_flags
        ids = torch.cat([ids, next_ids[:, None]], dim=1)  # (B, T+1)
        flags = torch.cat([flags, next_flags[:, None]], dim=1)  # (B, T+1, F)
        active = active & next_ids.ne(rules.eos_token_id)
        if watch.ended(active):
            return
        feed_ids, feed_flags = (ids[:, -1:], flags[:, -1:]) if use_cache else (ids, flags)


def _prompt_rows(model, codec: RowCodec, prompts: Sequence[str], *, max_new_tokens: int, temperature: float,
                 top_k: int | None, top_p: float | None, seed: int | None, use_cache: bool, check_every: int,
                 precision: str):
    check_settings(max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p)
    _check_fits(codec, model)
    device = model_device(model)
    host = _left_padded(codec, prompts)
    padded = not bool(host[2].bool().all())  # known on the host: no read of the device
    ids, flags, mask = (x.to(device, non_blocking=True) for x in host)
    warpers = None if temperature == 0 else root_warpers(temperature=temperature, top_k=top_k, top_p=top_p)
    return decode_rows(model, ids, flags, mask, RowRules.of(codec, device), max_new_tokens=max_new_tokens,
                       warpers=warpers, flag_temperature=temperature, generator=_make_generator(seed, device),
                       use_cache=use_cache, check_every=check_every, precision=precision, padded=padded)


def generate_rows(model, codec: RowCodec, prompts: Sequence[str], *, max_new_tokens: int, temperature: float = 1.0,
                  top_k: int | None = None, top_p: float | None = None, seed: int | None = None,
                  use_cache: bool = True, precision: str = "auto"
                  ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """The generation loop (module docstring, steps 1-5): yields one new row per sequence and step.

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
            codec = RowCodec(load_tokenizer_for(folder, model.config.num_flags))
        except (OSError, ValueError) as e:
            raise ValueError(f"{type(model).__name__}.generate: no tokenizer in {folder} ({e}); pass tokenizer=") from None
    model.__dict__["_r2d_generation_codec"] = (tokenizer, codec)
    return codec


def generate_with_flags(model, inputs: torch.Tensor | None = None, generation_config=None, *,
                        flags: torch.Tensor | None = None, tokenizer=None, **kwargs) -> R2DGenerateOutput:
    """``R2DForCausalLM.generate`` for a 2D model: Hugging Face's arguments, r2d's loop (module docstring).

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
        :class:`~r2d.modeling.causal.R2DGenerateOutput`: ``sequences`` (B, T + N) and ``flags`` (B, T + N, F), the
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
    _check_fits(codec, model)
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


__all__ = ["Generation", "generate", "generate_rows", "stream_generate", "stream_words", "encode_prompts",
           "generate_with_flags", "decode_rows", "EndWatch", "RowRules", "root_warpers", "draw_roots",
           "draw", "sample_roots", "sample_flags", "check_settings", "as_codec", "model_codec"]
