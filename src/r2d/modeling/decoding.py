"""The generation loop on the device: one new row per sequence and step over a left-padded batch, until ``</s>``.

The host never waits for the device inside the loop: ids, flags and stop decisions stay there, and whether every
sequence has ended reaches the host without blocking (:class:`EndWatch`).

``subtle:`` R2D never continues the prompt's last word: its spelling depends on the word's flags and pieces
together (``dog`` + Suffix_s then a piece ``ma`` spells ``dogmas``, not ``dogs`` + ``ma``), so text already shown
would change. The first generated R2D row therefore starts a word (or is ``</s>``). The twin has no such rule.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from r2d.device import autocast
from r2d.modeling.attention import causal_mask, implementation_of
from r2d.modeling.rows import RowCodec
from r2d.modeling.sampling import draw_roots, sample_flags

STOP_CHECK_EVERY = 8
"""steps the host may run ahead of the device before it waits to learn whether every sequence has ended"""


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


def check_fits(codec: RowCodec, model) -> None:
    """Raise ``ValueError`` when the tokenizer's ids or flags are not the model's."""
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
    """The loop over a left-padded batch already on the model's device.

    Each step runs the decoder on the new rows (or, without ``use_cache``, all rows again: same numbers), draws the
    next root (never a special id other than ``</s>``), then its flags: free on a word-start root and drawn given
    it, otherwise copied as the tokenizer would write them. Positions count real rows only.

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


__all__ = ["STOP_CHECK_EVERY", "RowRules", "check_fits", "EndWatch", "decode_rows"]
