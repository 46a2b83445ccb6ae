"""Bits per byte: the one fair comparison between tokenizations (R2D rows vs the twin's BPE tokens).

Evaluation stage (``model + texts -> numbers``). For every document, the causal model scores everything it
predicts: each row's root, the free flags of word-start rows, and the end of the document (``</s>``). Fixed
flags (continuation pieces, special rows) and the document's start (``<s>``: given) cost nothing. The total
negative log-likelihood, in bits, divided by the documents' UTF-8 bytes is the figure::

    bits_per_byte = sum(root bits + free flag bits) / sum(len(document.encode("utf-8")))

**Context rule** (the same for both kinds, counted in rows because rows are what each model was trained on):
a document ``<s> x1 ... xn </s>`` of at most ``window`` rows is scored in one pass, every row seeing all rows
before it. A longer one is scored in windows of ``window`` rows whose ends advance by ``stride`` rows; each
window scores only the rows no earlier window scored, so every row is scored exactly once and every row past
the first window sees at least ``window - stride`` rows of context. Defaults: ``window`` = the model's
``max_position_embeddings`` (its training length, also the longest window it takes), ``stride`` = ``window // 2``.

R2D's figure scores the canonical encoding only (the tokenizer's one way of writing a text); the model also
gives some probability to other rows that spell the same text, so its figure is an **upper bound** on its
true bits per byte. The twin's byte-level BPE is in the same position (non-canonical token sequences).

This module reads models and texts and writes numbers; it does not read files (``r2d eval bpb`` does, with
:func:`r2d.text.corpus.iter_documents`) or train.

>>> # model, codec = load_causal_lm("runs/clm-r2d/model"); bits_per_byte(model, codec, ["Some text."]).bits_per_byte
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass

import torch

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

    @property
    def bits_per_byte(self) -> float:
        return self.bits / self.bytes if self.bytes else float("nan")

    @property
    def bits_per_row(self) -> float:
        return self.bits / self.rows if self.rows else float("nan")

    def to_dict(self) -> dict:
        return {"bits_per_byte": self.bits_per_byte, **asdict(self), "bits_per_row": self.bits_per_row}


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


@torch.inference_mode()
def bits_per_byte(model, tokenizer, texts: Iterable[str], *, window: int | None = None, stride: int | None = None,
                  batch_size: int = 8) -> BpbResult:
    """Bits per UTF-8 byte of ``texts`` (one document each) under a causal model (module docstring).

    Args:
        model: an :class:`~r2d.modeling.causal.R2DForCausalLM` (R2D or the twin).
        tokenizer: its tokenizer or :class:`~r2d.modeling.causal_data.RowCodec`.
        texts: documents; empty ones are skipped.
        window: rows per window, at most ``model.config.max_position_embeddings`` (the default): the model reads
            no longer input.
        stride: rows each window advances by (default ``window // 2``).
        batch_size: windows per forward pass.

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
    result = BpbResult(window=window, stride=stride)
    pending: list[dict] = []

    def run() -> None:
        batch = collate(pending)
        for i, f in enumerate(pending):  # rows before first_scored are context only
            batch["labels"][i, : f["skip"]] = IGNORE
            if codec.num_flags:
                batch["flag_labels"][i, : f["skip"]] = IGNORE
        device = next(model.parameters()).device
        batch = {k: v.to(device) for k, v in batch.items()}
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], flags=batch.get("flags"))
        root, flag = row_nll(out.logits, out.flag_logits, batch["labels"], batch.get("flag_labels"))
        result.root_bits += float(root.double().sum()) / LN2
        result.flag_bits += float(flag.double().sum()) / LN2
        result.rows += int(batch["labels"][:, 1:].ne(IGNORE).sum())
        if codec.num_flags:
            result.free_flag_rows += int(batch["flag_labels"][:, 1:, 0].ne(IGNORE).sum())
        pending.clear()

    chunk: list[str] = []

    def encode_chunk() -> None:
        for text, (ids, flags) in zip(chunk, codec.encode(chunk)):
            result.documents += 1
            result.bytes += len(text.encode("utf-8", "surrogatepass"))
            for start, end, first in windows(len(ids), window, stride):
                pending.append({"input_ids": ids[start:end], "flags": flags[start:end], "skip": first - start})
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
    result.bits = result.root_bits + result.flag_bits
    logger.info("bits per byte %.4f over %d documents (%d bytes, %d rows)", result.bits_per_byte, result.documents,
                result.bytes, result.rows)
    return result


__all__ = ["BpbResult", "bits_per_byte", "windows"]
