"""Drawing the next row: roots through ``transformers``' logits warpers (temperature, top-k, top-p), flags as yes/no
draws, every draw on the model's device from one seeded ``torch.Generator``.
"""

from __future__ import annotations

import torch

from r2d.modeling.sampling_settings import sampling_problem


def check_settings(*, max_new_tokens: int, temperature: float, top_k: int | None, top_p: float | None) -> None:
    """Raise ``ValueError`` naming the first bad generation setting."""
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    problem = sampling_problem(temperature=temperature, top_k=top_k, top_p=top_p)
    if problem:
        name, rule, value = problem
        raise ValueError(f"{name} {rule}, got {value}")


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


def make_generator(seed: int | None, device: torch.device) -> torch.Generator:
    """The run's generator on ``device``, seeded with ``seed`` (``None``: a fresh random seed)."""
    g = torch.Generator(device=device)
    if seed is None:
        g.seed()  # subtle: a fresh Generator has a fixed default seed; None means "any"
    else:
        g.manual_seed(int(seed))
    return g


__all__ = ["check_settings", "root_warpers", "draw_roots", "draw", "sample_roots", "sample_flags", "make_generator"]
