"""Checks of what R2DTokenizer's methods are given: texts, decode input, padding/truncation/tensor settings.

Each check raises with a message that names the argument, or returns the value in the form the wrapper uses.
``transformers`` and ``torch`` are imported on first use (both are slow to import).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping
from typing import Any

PaddingArg = bool | str
TruncationArg = bool | str


@functools.cache
def transformers_api():
    """What this wrapper takes from ``transformers`` (imported on first use: it is slow to import)."""
    from types import SimpleNamespace

    from transformers.tokenization_utils_base import BatchEncoding, TruncationStrategy
    from transformers.utils import PaddingStrategy

    return SimpleNamespace(BatchEncoding=BatchEncoding, PaddingStrategy=PaddingStrategy,
                           TruncationStrategy=TruncationStrategy)


def torch_module():
    import torch

    return torch


def check_text(x: Any, what: str) -> None:
    if not isinstance(x, str):
        raise TypeError(f"{what} must be a str (or a list of str for a batch), got {type(x).__name__}")


def as_batch(x: Any, what: str) -> list[str]:
    if isinstance(x, str):
        return [x]
    if x is None or isinstance(x, (bytes, bytearray)) or not isinstance(x, (list, tuple)):
        raise TypeError(f"{what} must be a str or a list of str, got {type(x).__name__}")
    for i, t in enumerate(x):
        if not isinstance(t, str):
            raise TypeError(f"{what}[{i}] must be a str, got {type(t).__name__}")
    return list(x)


def ids_and_flags(ids: Any, flags: Any, assume_flags_off: bool, method: str, num_flags: int) -> tuple[Any, Any]:
    """What ``decode``/``batch_decode`` decode: ``(ids, flags or None)`` from ids and flags, or from an encoding passed
    whole; refuses flags given twice, warns when a tokenizer with flags gets none and was not told to expect that."""
    if type(ids) not in (list, tuple) and isinstance(ids, Mapping):
        if "input_ids" not in ids:
            raise ValueError(f"{method} got a mapping without 'input_ids' (keys: {sorted(ids)}): pass ids, or what "
                             f"the tokenizer returned")
        if flags is not None:
            raise ValueError(f"{method} got an encoding and flags: pass the encoding alone (its flags are used), or "
                             f"ids and flags")
        ids, flags = ids["input_ids"], ids.get("flags")
        if flags is not None and assume_flags_off:
            raise ValueError(f"{method} got an encoding with flags and assume_flags_off=True: pass one or the other")
    elif assume_flags_off and flags is not None:
        raise ValueError(f"{method} got flags and assume_flags_off=True: pass one or the other")
    if flags is None and not assume_flags_off and num_flags:
        # subtle: stacklevel 3 points at the caller of decode/batch_decode
        warnings.warn(f"{method} got ids but no flags: every flag is taken as off (no capitals, no suffixes, a space "
                      f"before every word); pass the flags (or the encoding whole), or assume_flags_off=True to "
                      f"decode ids alone on purpose", UserWarning, stacklevel=3)
    return ids, flags


def per_row(values: Any) -> bool:
    """Does a feature column hold a sequence per example (rather than one value per example)?"""
    if hasattr(values, "ndim"):
        return values.ndim >= 2
    first = values[0] if len(values) else None
    return isinstance(first, (list, tuple)) or getattr(first, "ndim", 0) >= 1


def padding_strategy(padding: PaddingArg) -> str:
    """``padding`` as the value of Hugging Face's ``PaddingStrategy`` (``True``: ``"longest"``)."""
    return _strategy("padding", padding, "longest", "do_not_pad", "PaddingStrategy",
                     "False, True, 'longest', 'max_length' or 'do_not_pad'")


def truncation_strategy(truncation: TruncationArg) -> str:
    """``truncation`` as the value of Hugging Face's ``TruncationStrategy`` (``True``: ``"longest_first"``)."""
    return _strategy("truncation", truncation, "longest_first", "do_not_truncate", "TruncationStrategy",
                     "False, True, 'longest_first', 'only_first' or 'only_second'")


def _strategy(what: str, value: bool | str | None, on: str, off: str, enum: str, expected: str) -> str:
    if value is True:
        return on
    if value is False or value is None:
        return off
    try:
        return getattr(transformers_api(), enum)(value).value
    except ValueError:
        raise ValueError(f"{what}={value!r}: expected {expected}") from None


def check_tensors(return_tensors: str | None) -> None:
    if return_tensors not in (None, "np", "pt"):
        raise ValueError(f"return_tensors={return_tensors!r}: expected None, 'np' or 'pt'")
