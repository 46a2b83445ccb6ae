"""Where a model runs and in what precision: the one rule that generation, scoring, training and the playground share.

* ``--device auto`` (every command's default) = CUDA when there is a GPU, else Apple's MPS, else the CPU;
* ``--precision auto`` = bf16 autocast on a CUDA GPU that computes bf16 natively, float32 elsewhere (``bf16`` and
  ``fp32`` ask for one). Autocast is entered around each forward pass, never around a generator: its state is
  per thread, and the playground runs each step of a generation in whichever worker thread is free;
* on CUDA, float32 matrix products may use TF32 (:func:`use_tf32`, set once when a model is placed there).

Work that follows a model reads its device from the model (:func:`model_device`): tensors built from text are made
on the host and moved once, everything else is created on that device. torch is imported when first needed, so that
the commands' option tables (``DEVICE_HELP``, ``PRECISIONS``) cost nothing.

>>> import torch
>>> resolve_precision(torch.device("cpu"), "auto")
'fp32'
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

Precision = Literal["auto", "bf16", "fp32"]
PRECISIONS = ("auto", "bf16", "fp32")
DEVICE_HELP = "where the model runs: auto (a CUDA GPU, else Apple's MPS, else the CPU), cpu, cuda, cuda:1, mps"
PRECISION_HELP = ("auto (bf16 autocast on a CUDA GPU that has bf16, float32 elsewhere), bf16 (autocast) or fp32 "
                  "(no autocast)")


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"`` (or ``None``) -> the best device here; anything else as ``torch.device`` reads it.

    Raises:
        ValueError: a device torch does not know, or one this machine does not have (``cuda`` without a GPU).
    """
    import torch

    if device is None or str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"unknown device {device!r} ({e}); use auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r}: this machine has no CUDA GPU (torch {torch.__version__})")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device {device!r}: MPS is not available here")
    return dev


def model_device(model) -> torch.device:
    """The device of a model's first parameter (CPU for a model without parameters)."""
    import torch

    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def place(model, device: str | torch.device | None = "auto"):
    """Move ``model`` to ``device`` (:func:`resolve_device`) and return it; on CUDA also :func:`use_tf32`."""
    dev = resolve_device(device)
    if dev.type == "cuda":
        use_tf32()
    if model_device(model) != dev:
        model = model.to(dev)
    logger.info("model on %s", dev)
    return model


def use_tf32() -> bool:
    """Let float32 matrix products on CUDA use TF32 (``torch.set_float32_matmul_precision("high")``).

    Leaves a choice already made alone: a precision other than torch's default ``"highest"``, or one set through
    torch's per-backend API (transformers' ``--tf32`` does that; torch refuses to mix the two APIs).

    Returns:
        True when TF32 is on for CUDA's matrix products after the call.
    """
    import torch

    if not torch.cuda.is_available():
        return False
    try:
        current = torch.get_float32_matmul_precision()
    except RuntimeError:  # subtle: set through the per-backend API; reading it the legacy way raises
        return getattr(torch.backends.cuda.matmul, "fp32_precision", "") == "tf32"
    if current == "highest":
        torch.set_float32_matmul_precision("high")
        return True
    return current != "highest"


def bf16_native(device: torch.device) -> bool:
    """Whether ``device`` is a CUDA GPU that computes bf16 natively (Ampere and later)."""
    import torch

    return device.type == "cuda" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def resolve_precision(device: torch.device, precision: str = "auto") -> str:
    """``"auto"`` -> ``"bf16"`` on a CUDA GPU with native bf16, else ``"fp32"``; ``"bf16"``/``"fp32"`` as given.

    Raises:
        ValueError: an unknown precision.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "bf16" if bf16_native(device) else "fp32"
    return precision


def autocast(device: torch.device, precision: str = "auto"):
    """A context for one forward pass: bf16 autocast on ``device`` when the precision resolves to ``bf16``, else
    nothing. Scores that leave the model are upcast by the callers (``logits.float()``) before any softmax."""
    if resolve_precision(device, precision) == "bf16":
        import torch

        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


__all__ = ["DEVICE_HELP", "PRECISIONS", "PRECISION_HELP", "Precision", "autocast", "bf16_native", "model_device",
           "place", "resolve_device", "resolve_precision", "use_tf32"]
