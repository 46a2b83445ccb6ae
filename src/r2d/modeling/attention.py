"""Attention masks built on the model's device from a (B, K) padding mask, so that ``transformers`` never reads it back.

Given a 2D mask, ``transformers`` checks on the host whether any row is padding, and on a GPU every forward pass
then waits for the device. Callers that know a batch is unpadded pass no mask; a padded one gets the 4D mask made
here (``sdpa``: bool, True = attend; ``eager``: additive 0 / -inf; any other implementation: the 2D mask back).
Training keeps the 2D mask: its blocks are packed.
"""

from __future__ import annotations

import torch

FOUR_D = ("sdpa", "eager")
"""attention implementations that take the 4D masks made here"""


def _as_implementation(allowed: torch.Tensor, implementation: str | None) -> torch.Tensor:
    if implementation == "sdpa":
        return allowed
    return torch.zeros(allowed.shape, device=allowed.device).masked_fill(~allowed, float("-inf"))


def causal_mask(keys: torch.Tensor, q: int, implementation: str | None) -> torch.Tensor:
    """The causal mask of the last ``q`` of ``K`` rows, padding hidden: (B, K) bool -> (B, 1, q, K).

    A padding row sees itself only: every row attends to something (no NaN), and no real row sees padding. Works
    for left padding (generation) and right padding (scoring).
    """
    if implementation not in FOUR_D:
        return keys.long()
    k = keys.size(1)
    rows = torch.arange(k - q, k, device=keys.device)[:, None]  # (q, 1) the absolute row of each query
    cols = torch.arange(k, device=keys.device)[None, :]  # (1, K)
    allowed = (cols <= rows) & (keys.bool()[:, None, None, :] | (cols == rows))  # (B, 1, q, K)
    return _as_implementation(allowed, implementation)


def padding_mask(keys: torch.Tensor, implementation: str | None) -> torch.Tensor:
    """The bidirectional mask of an encoder, padding hidden: (B, K) bool -> (B, 1, 1, K) (broadcast over queries)."""
    if implementation not in FOUR_D:
        return keys.long()
    return _as_implementation(keys.bool()[:, None, None, :], implementation)


def implementation_of(model) -> str | None:
    """The attention implementation a model's config names (``sdpa``, ``eager``, ...)."""
    return getattr(getattr(model, "config", None), "_attn_implementation", None)


__all__ = ["FOUR_D", "causal_mask", "implementation_of", "padding_mask"]
