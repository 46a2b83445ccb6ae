"""What the recipes check and seed alike: option ranges, said as the option is typed (``--seed -1: must be >= 0``),
and the seeds of python, numpy and torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from r2d.io import InputError

MAX_SEED = 2**32 - 1
"""The largest seed :func:`set_seed` takes (numpy's limit)."""


def check_ranges(args: Any, at_least: Mapping[str, float], at_most: Mapping[str, float] | None = None,
                 positive: Sequence[str] = ()) -> None:
    """Raise :class:`r2d.io.InputError` naming the first option of ``args`` out of range; options not set pass.

    The message names the option as typed and says the bound: ``--warmup-steps -1: must be >= 0``.

    Args:
        args: a recipe's arguments dataclass.
        at_least: attribute name -> smallest allowed value.
        at_most: attribute name -> largest allowed value.
        positive: attribute names whose value must be > 0 (learning rates, time limits).
    """
    for name, least in at_least.items():
        if (value := getattr(args, name)) is not None and value < least:
            raise InputError(f"--{name.replace('_', '-')} {value}", f"must be >= {least}")
    for name, most in (at_most or {}).items():
        if (value := getattr(args, name)) is not None and value > most:
            raise InputError(f"--{name.replace('_', '-')} {value}", f"must be <= {most}")
    for name in positive:
        if (value := getattr(args, name)) is not None and not value > 0:
            raise InputError(f"--{name.replace('_', '-')} {value}", "must be > 0")


def set_seed(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    from transformers import set_seed as hf_set_seed

    hf_set_seed(int(seed))


__all__ = ["MAX_SEED", "check_ranges", "set_seed"]
