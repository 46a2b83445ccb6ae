"""Reads of device data by the host, counted on a machine without a GPU (a test helper, not a test module).

On a GPU every such read makes the host wait for the device. On a CPU nothing waits, so these reads are counted
instead: a tensor counts as *on the device* when it is one of the model's parameters or buffers, the result of
``.to(model's device, non_blocking=True)`` (r2d's way of moving host-built batches: on a CPU, host and device are
the same, so a plain ``.to(x.device)`` is taken as the host's), or computed from such tensors. A read is
``.item()``, ``bool()``, ``int()`` or ``float()`` of one (``aten.item``/``_local_scalar_dense``), ``.tolist()``,
``.numpy()`` or ``.cpu()`` of one, or an op whose output size depends on its values (``nonzero``, boolean indexing,
``unique``, ``multinomial``'s input checks, ...), which CUDA answers only after a read. Tensors made on the host and
never moved are not counted.

What it cannot see: a tensor created directly on the device (``torch.zeros(..., device=d)``) counts as the host's
until it meets a device tensor. The CUDA tests run the same code under ``torch.cuda.set_sync_debug_mode("error")``.
"""

from __future__ import annotations

import traceback
import weakref
from contextlib import contextmanager

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

# ops whose CUDA kernels read device data back to the host (or whose output shape depends on the data)
READING_OPS = {"_local_scalar_dense", "item", "nonzero", "masked_select", "multinomial", "unique", "_unique",
               "_unique2", "unique_consecutive", "unique_dim", "equal", "is_nonzero", "bincount", "repeat_interleave",
               "masked_scatter_", "histc", "allclose"}


class HostReads(TorchDispatchMode):
    """Counts host reads of device tensors (module docstring) while active.

    Attributes:
        reads: one ``(what, where)`` per read: the op or method name and the innermost frame of the caller's code.
    """

    def __init__(self, model):
        super().__init__()
        self.device = next(model.parameters()).device
        self._on_device: dict[int, weakref.ref] = {}
        self.reads: list[tuple[str, str]] = []
        for t in [*model.parameters(), *model.buffers()]:
            self.mark(t)

    def mark(self, t) -> None:
        if isinstance(t, torch.Tensor):
            self._on_device[id(t)] = weakref.ref(t, lambda _, key=id(t): self._on_device.pop(key, None))

    def unmark(self, t) -> None:
        self._on_device.pop(id(t), None)

    def on_device(self, t) -> bool:
        ref = self._on_device.get(id(t)) if isinstance(t, torch.Tensor) else None
        return ref is not None and ref() is t

    def record(self, what: str) -> None:
        frames = [f for f in traceback.extract_stack()[:-2] if "/torch/" not in f.filename
                  and not f.filename.endswith("host_reads.py")]
        where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
        self.reads.append((what, where))

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        flat, _ = tree_flatten((args, kwargs))
        touched = any(self.on_device(t) for t in flat)
        name = func.overloadpacket.__name__
        if touched and (name in READING_OPS or (name in ("index", "index_put", "index_put_") and any(
                isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in tree_flatten(args[1])[0]))):
            self.record(name)
        out = func(*args, **kwargs)
        if touched:
            for t in tree_flatten(out)[0]:
                self.mark(t)
        return out


@contextmanager
def count_host_reads(model):
    """``with count_host_reads(model) as r: ...``; then ``r.reads`` lists the reads (see :class:`HostReads`)."""
    mode = HostReads(model)
    originals = {name: getattr(torch.Tensor, name) for name in ("tolist", "numpy", "cpu", "to")}

    def reading(name):
        def method(self, *args, **kwargs):
            if not mode.on_device(self):
                return originals[name](self, *args, **kwargs)
            mode.record(name)
            out = originals[name](self, *args, **kwargs)
            if out is self:  # subtle: on the CPU .cpu() returns the tensor itself; what it returns is the host's
                out = out.clone()
                mode.unmark(out)
            return out
        return method

    def to(self, *args, **kwargs):
        out = originals["to"](self, *args, **kwargs)
        target = kwargs.get("device", args[0] if args else None)
        moved = (isinstance(target, (str, torch.device)) and torch.device(target) == mode.device
                 and kwargs.get("non_blocking", False))
        if moved and not mode.on_device(self):
            out = out.clone() if out is self else out  # subtle: on the CPU .to(cpu) returns the host tensor itself
            mode.mark(out)
        return out

    for name in ("tolist", "numpy", "cpu"):
        setattr(torch.Tensor, name, reading(name))
    torch.Tensor.to = to
    try:
        with mode:
            yield mode
    finally:
        for name, fn in originals.items():
            setattr(torch.Tensor, name, fn)
