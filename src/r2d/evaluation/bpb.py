"""Bits per byte of a causal model: the one fair comparison between R2D's rows and its twin's BPE tokens.

>>> # model, codec = load_causal_lm("runs/clm-r2d/model"); bits_per_byte(model, codec, ["Some text."]).bits_per_byte
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass

import numpy as np
import torch

from r2d.device import autocast, model_device, resolve_precision
from r2d.modeling.attention import causal_mask, implementation_of
from r2d.modeling.causal import IGNORE, row_nll
from r2d.modeling.causal_data import CausalCollator, RowCodec

logger = logging.getLogger(__name__)

LN2 = math.log(2)


@dataclass
class BpbResult:
    """Totals of one evaluation.

    Attributes:
        bits: total negative log-likelihood in bits (roots + free flags).
        bytes: UTF-8 bytes of the documents.
        rows: predicted rows (R2D rows, or the twin's tokens), ``</s>`` of each document included.
        root_bits, flag_bits: the two parts of ``bits``.
        free_flag_rows: rows whose flags were predicted (word-start rows; 0 for the twin).
        documents: documents scored. window, stride: the context rule used.
        precision: the forward passes' precision (``bf16`` or ``fp32``), device: where they ran.
        document_bits, document_bytes: per document, in order (with ``per_document=True``; else ``None``).
    """

    bits: float = 0.0
    bytes: int = 0
    rows: int = 0
    root_bits: float = 0.0
    flag_bits: float = 0.0
    free_flag_rows: int = 0
    documents: int = 0
    window: int = 0
    stride: int = 0
    precision: str = "fp32"
    device: str = "cpu"
    document_bits: list[float] | None = None
    document_bytes: list[int] | None = None

    @property
    def bits_per_byte(self) -> float:
        return self.bits / self.bytes if self.bytes else float("nan")

    @property
    def bits_per_row(self) -> float:
        return self.bits / self.rows if self.rows else float("nan")

    def to_dict(self) -> dict:
        """The totals as JSON (the per-document lists only where they were asked for)."""
        d = {k: v for k, v in asdict(self).items() if v is not None}
        return {"bits_per_byte": self.bits_per_byte, **d, "bits_per_row": self.bits_per_row}


def windows(n_rows: int, window: int, stride: int) -> Iterator[tuple[int, int, int]]:
    """The windows that score a document of ``n_rows`` rows (row 0 = ``<s>`` is never scored).

    Yields:
        ``(start, end, first_scored)``: feed rows ``[start, end)``, score rows ``[first_scored, end)``.

    >>> list(windows(5, 8, 4)), list(windows(12, 8, 4))
    ([(0, 5, 1)], [(0, 8, 1), (4, 12, 8)])
    """
    if n_rows <= window:
        yield 0, n_rows, 1
        return
    end = window
    yield 0, end, 1
    while end < n_rows:
        new_end = min(end + stride, n_rows)
        yield new_end - window, new_end, end
        end = new_end


def window_batch(collate: CausalCollator, features: list[dict]) -> dict[str, torch.Tensor]:
    """Windows ``{"input_ids": (T,), "flags": (T, F), "skip": n}`` -> a padded batch on the host whose ``labels``
    and ``flag_labels`` are -100 on each window's first ``skip`` rows (context only, not scored)."""
    batch = collate(features)
    for i, f in enumerate(features):  # rows before skip are context only
        batch["labels"][i, : f["skip"]] = IGNORE
        if "flag_labels" in batch:
            batch["flag_labels"][i, : f["skip"]] = IGNORE
    return batch


@torch.inference_mode()
def score_batch(model, batch: dict[str, torch.Tensor], *, precision: str = "auto"):
    """One forward pass over a :func:`window_batch` (moved to the model's device here).

    Returns:
        ``(batch, output, root_nll, flag_nll)``: the batch on the model's device, the model's output, and the
        (B, T-1) float32 nats of each row t+1 (0 where not scored), from :func:`r2d.modeling.causal.row_nll`.
    """
    device = model_device(model)
    padded = not bool(batch["attention_mask"].bool().all())  # on the host
    batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
    attention = positions = None  # unpadded: transformers' own causal path
    if padded:  # right padding: a mask made on the device, positions counted over real rows
        keys = batch["attention_mask"].bool()  # (B, T)
        attention = causal_mask(keys, keys.size(1), implementation_of(model))
        positions = (keys.long().cumsum(-1) - 1).clamp(min=0)  # (B, T)
    with autocast(device, precision):
        out = model(input_ids=batch["input_ids"], attention_mask=attention, position_ids=positions,
                    flags=batch.get("flags"))
    root, flag = row_nll(out.logits, out.flag_logits, batch["labels"], batch.get("flag_labels"))  # (B, T-1) each
    return batch, out, root, flag


def score_windows(model, collate: CausalCollator, features: list[dict], *, precision: str = "auto"):
    """:func:`score_batch` of :func:`window_batch`: one forward pass over windows, on the model's device."""
    return score_batch(model, window_batch(collate, features), precision=precision)


@torch.inference_mode()
def bits_per_byte(model, tokenizer, texts: Iterable[str], *, window: int | None = None, stride: int | None = None,
                  batch_size: int = 8, precision: str = "auto", per_document: bool = False) -> BpbResult:
    """Bits per UTF-8 byte of ``texts`` (one document each) under a causal model.

    ``bits_per_byte = sum(root bits + free flag bits) / sum(UTF-8 bytes)`` over every predicted row: each row's
    root, the free flags of word-start rows and each document's ``</s>``; fixed flags and ``<s>`` cost nothing. A
    document longer than ``window`` rows is scored in windows whose ends advance by ``stride`` rows, every row once
    and with at least ``window - stride`` rows of context (:func:`windows`). Only the canonical encoding is scored,
    so the figure is an upper bound on the model's true bits per byte (the twin's as well).

    Args:
        model: an :class:`~r2d.modeling.causal.R2DForCausalLM` (R2D or the twin).
        tokenizer: its tokenizer or :class:`~r2d.modeling.causal_data.RowCodec`.
        texts: documents; empty ones are skipped.
        window: rows per window, at most ``model.config.max_position_embeddings`` (the default): the model reads
            no longer input.
        stride: rows each window advances by (default ``window // 2``).
        batch_size: windows per forward pass.
        precision: ``auto``, ``bf16`` or ``fp32`` (:func:`r2d.device.autocast`).
        per_document: also keep each document's bits and bytes (``document_bits``, ``document_bytes``), e.g. for a
            paired bootstrap; the totals are the same.

    Returns:
        A :class:`BpbResult`.

    Raises:
        ValueError: ``window`` shorter than 2 rows or longer than the model reads, ``stride`` not in [1, window).
    """
    codec = tokenizer if isinstance(tokenizer, RowCodec) else RowCodec(tokenizer)
    limit = model.config.max_position_embeddings
    window = int(window or limit)
    stride = int(stride or max(1, window // 2))
    if window < 2:
        raise ValueError(f"window must be >= 2 rows, got {window}")
    if window > limit:
        raise ValueError(f"window {window} rows is longer than the model can read (max_position_embeddings {limit})")
    if not 1 <= stride < window:
        raise ValueError(f"stride must be in [1, window) = [1, {window}), got {stride}")
    collate = CausalCollator.for_codec(codec)
    device = model_device(model)
    result = BpbResult(window=window, stride=stride, precision=resolve_precision(device, precision),
                       device=str(device))
    pending: list[dict] = []
    nats: list[torch.Tensor] = []  # per batch, (B, 2) root and flag nats of each window, on the device
    owners: list[int] = []  # the document of each window, in order
    doc_bytes: list[int] = []

    def run() -> None:
        host = window_batch(collate, pending)
        result.rows += int(host["labels"][:, 1:].ne(IGNORE).sum())  # counted on the host, before the move
        if codec.num_flags:
            result.free_flag_rows += int(host["flag_labels"][:, 1:, 0].ne(IGNORE).sum())
        _, _, root, flag = score_batch(model, host, precision=precision)  # (B, T-1) each
        nats.append(torch.stack([root.sum(-1), flag.sum(-1)], -1))  # (B, 2)
        owners.extend(f["doc"] for f in pending)
        pending.clear()

    chunk: list[str] = []

    def encode_chunk() -> None:
        for text, (ids, flags) in zip(chunk, codec.encode(chunk)):
            doc = result.documents
            result.documents += 1
            doc_bytes.append(len(text.encode("utf-8", "surrogatepass")))
            for start, end, first in windows(len(ids), window, stride):
                pending.append({"input_ids": ids[start:end], "flags": flags[start:end], "skip": first - start,
                                "doc": doc})
                if len(pending) >= batch_size:
                    run()
        chunk.clear()

    for text in texts:
        if text:
            chunk.append(text)
            if len(chunk) >= 64:
                encode_chunk()
    encode_chunk()
    if pending:
        run()
    # subtle: float64 on the host (MPS has none); each window's sum is float32, over at most `window` rows
    per_window = torch.cat(nats).cpu().double().numpy() if nats else np.zeros((0, 2))  # (W, 2): the one read
    result.bytes = sum(doc_bytes)
    result.root_bits = float(per_window[:, 0].sum()) / LN2
    result.flag_bits = float(per_window[:, 1].sum()) / LN2
    result.bits = result.root_bits + result.flag_bits
    if per_document:
        bits = np.bincount(np.asarray(owners, dtype=np.int64), weights=per_window.sum(1),
                           minlength=result.documents) / LN2
        result.document_bits, result.document_bytes = bits.tolist(), doc_bytes
    logger.info("bits per byte %.4f over %d documents (%d bytes, %d rows)", result.bits_per_byte, result.documents,
                result.bytes, result.rows)
    return result


__all__ = ["BpbResult", "bits_per_byte", "score_batch", "score_windows", "window_batch", "windows"]
