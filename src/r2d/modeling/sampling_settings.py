"""The ranges of the sampling settings (temperature, top-k, top-p): one check for the library, ``r2d generate`` and
the playground's API, each naming the setting its own way. Imports nothing heavy: options and requests are checked
before a model loads.
"""

from __future__ import annotations

import math

RULES = {"temperature": "must be >= 0 (0 = greedy)", "top_k": "must be >= 1", "top_p": "must be in (0, 1]"}


def sampling_problem(*, temperature: float, top_k: int | None,
                     top_p: float | None) -> tuple[str, str, float | int] | None:
    """The first setting out of range as ``(name, rule, value)``, e.g. ``("top_k", "must be >= 1", 0)``, or ``None``.

    >>> sampling_problem(temperature=0.8, top_k=None, top_p=1.5)
    ('top_p', 'must be in (0, 1]', 1.5)
    """
    if not (temperature >= 0 and math.isfinite(temperature)):  # subtle: NaN and inf would sample garbage
        return "temperature", RULES["temperature"], temperature
    if top_k is not None and top_k < 1:
        return "top_k", RULES["top_k"], top_k
    if top_p is not None and not 0 < top_p <= 1:
        return "top_p", RULES["top_p"], top_p
    return None


__all__ = ["RULES", "sampling_problem"]
