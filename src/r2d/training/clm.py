"""The causal objective of ``r2d pretrain --objective clm``: R2D (``--model r2d``) and its 1D twin (``--model bpe``)
through one code path, predicting each next row's root, then its flags.

Layout (:func:`causal_blocks`; the shards lay documents out alike): every document is ``<s> rows </s>``; with
``--pack`` the documents form one stream cut into blocks of exactly ``--max-length`` rows (a block may start or end
inside a document), else each document is one sequence cut after ``--max-length`` rows. Every row but a block's
first is predicted, except ``<s>`` rows, exactly as :mod:`r2d.evaluation.bpb` scores text.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from r2d.io import atomic_folder
from r2d.modeling.rows import RowCodec
from r2d.tokenizer.baseline import train_byte_level_bpe
from r2d.tokenizer.hf import R2DTokenizer
from r2d.tokenizer.loading import load_tokenizer
from r2d.training.data import SequenceDataset, TokenizedSet, iter_corpus_documents, train_documents
from r2d.training.objective import Objective
from r2d.training.presets import PRESETS

logger = logging.getLogger(__name__)

TOKENIZER_DIR = "tokenizer"


def bf16_available() -> bool:
    """True where bf16 autocast runs on native bf16 instructions (a CUDA GPU with bf16, or a CPU with
    AVX512-BF16 or AMX): there it roughly halves a CPU training step (see ``benchmarks/bench_causal.py``)."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    probes = (getattr(torch.cpu, "_is_avx512_bf16_supported", None), getattr(torch.cpu, "_is_amx_tile_supported", None))
    return any(bool(p()) for p in probes if p is not None)


def causal_blocks(docs: Sequence[str], tokenizer, *, max_length: int, pack: bool, with_flags: bool, num_flags: int = 0,
                  batch_docs: int = 64):
    """Documents -> causal training sequences (module docstring), as a :class:`r2d.training.data.TokenizedSet`.

    Args:
        docs: document texts.
        tokenizer: ``R2DTokenizer`` or the twin's ``transformers`` tokenizer.
        max_length: rows per block (``pack``) or at most per document.
        pack: one stream cut into full blocks; otherwise one sequence per document.
        with_flags: keep the flag matrix (R2D). num_flags: F.
        batch_docs: documents encoded per tokenizer call.
    """
    codec = RowCodec(tokenizer)
    ids_parts: list[np.ndarray] = []
    flag_parts: list[np.ndarray] = []
    for start in range(0, len(docs), batch_docs):
        for ids, flags in codec.encode([d for d in docs[start:start + batch_docs] if d]):
            ids_parts.append(np.asarray(ids if pack else ids[:max_length], dtype=np.int32))
            flag_parts.append((flags if pack else flags[:max_length]).astype(np.int8))  # (T, F)
    ids = np.concatenate(ids_parts) if ids_parts else np.zeros(0, dtype=np.int32)
    flags = np.concatenate(flag_parts) if flag_parts else np.zeros((0, codec.num_flags), dtype=np.int8)
    if pack:
        ends = list(range(max_length, len(ids), max_length)) + [len(ids)]
        offsets = np.array([0, *ends], dtype=np.int64)
        if len(offsets) > 2 and offsets[-1] - offsets[-2] < 2:  # subtle: a 1-row tail predicts nothing
            offsets = offsets[:-1]
            ids, flags = ids[: offsets[-1]], flags[: offsets[-1]]
    else:
        offsets = np.zeros(len(ids_parts) + 1, dtype=np.int64)
        np.cumsum([len(p) for p in ids_parts], out=offsets[1:])
    return TokenizedSet(ids=ids, offsets=offsets, flags=flags if with_flags else None)


def causal_config(preset: str, *, vocab_size: int, max_length: int, **overrides):
    """An :class:`r2d.modeling.causal.R2DCausalConfig` of a size preset (:data:`r2d.training.presets.PRESETS`)."""
    from r2d.modeling.causal import R2DCausalConfig

    return R2DCausalConfig(**PRESETS[preset], vocab_size=vocab_size, max_position_embeddings=max_length, **overrides)


class CausalBatches:
    """The recipe's collate function: :class:`r2d.modeling.causal_data.CausalCollator`, plus an empty
    ``flag_labels`` (B, T, 0) for the twin so that both kinds give the ``Trainer`` the same label names."""

    def __init__(self, collator):
        self.collator = collator

    def __call__(self, features):
        import torch

        batch = self.collator(features)
        if "flag_labels" not in batch:
            batch["flag_labels"] = torch.zeros((*batch["input_ids"].shape, 0), dtype=torch.long)
        return batch


class CausalEvaluation:
    """What causal evaluation keeps of the model output, by name, and the metrics computed from it.

    Kept per sequence: ``root_nats`` and ``flag_nats`` (B,), its summed losses (the model's own
    :func:`r2d.modeling.causal.row_nll`), and ``rows`` (B,), its predicted rows. Metrics, pooled over the held-out
    sequences (each counted once, however the batches and processes cut them): ``root_loss``, ``flag_loss`` and
    ``loss`` in nats per predicted row, ``bits_per_row = loss / ln 2`` (bits per byte needs the texts: ``r2d eval
    bpb``), ``scored_rows``.
    """

    keys = ("root_nats", "flag_nats", "rows")

    def outputs(self, out: Mapping[str, Any], batch: Mapping[str, Any]) -> dict:
        from r2d.modeling.causal import row_nll

        labels = batch["labels"]  # (B, T)
        root, flag = row_nll(out["logits"], out.get("flag_logits"), labels, batch.get("flag_labels"))  # (B, T-1)
        return {"root_nats": root.sum(1), "flag_nats": flag.sum(1), "rows": labels[:, 1:].ne(-100).sum(1)}  # (B,)

    def metrics(self, pred) -> dict[str, float]:
        sums = {k: float(np.sum(v, dtype=np.float64)) for k, v in zip(self.keys, pred.predictions)}
        rows = max(sums["rows"], 1.0)
        root, flag = sums["root_nats"] / rows, sums["flag_nats"] / rows
        # subtle: "loss" replaces Trainer's eval_loss, a mean of per-batch means that counts padding repeats
        return {"loss": root + flag, "root_loss": root, "flag_loss": flag, "bits_per_row": (root + flag) / math.log(2),
                "scored_rows": int(sums["rows"])}


def clm_objective(args, tokenizer, train_set, eval_set, out: Path):
    """The causal objective for :data:`r2d.training.pretrain.OBJECTIVES` (``--model r2d`` or ``bpe``)."""
    from r2d.modeling.causal import R2DForCausalLM
    from r2d.modeling.causal_data import CausalCollator
    from r2d.training.callbacks import SaveTokenizerCallback

    codec = RowCodec(tokenizer)
    flags = dict(flag_combine=args.flag_combine, flag_values=args.flag_values) if codec.num_flags else {}
    config = causal_config(args.preset, vocab_size=codec.vocab_size, max_length=args.max_length,
                           num_flags=codec.num_flags, flag_names=list(codec.flag_names), **flags)
    model = R2DForCausalLM(config)
    logger.info("causal %s: %.2fM parameters, %.2fM outside the root embedding", args.model,
                sum(p.numel() for p in model.parameters()) / 1e6, model.num_non_embedding_parameters() / 1e6)
    evaluation = CausalEvaluation()
    return Objective(model=model, collate=CausalBatches(CausalCollator.for_codec(codec)),
                     eval_dataset=SequenceDataset(eval_set), compute_metrics=evaluation.metrics,
                     eval_outputs=evaluation.outputs, loss_parts=("root_loss", "flag_loss"),
                     callbacks=[SaveTokenizerCallback(tokenizer)])


def train_run_tokenizer(args, out: Path):
    """``--train-tokenizer N``: the run's tokenizer trained on its training documents (or the one saved before).

    R2D: ``R2DTokenizer.train`` with the bundled English list; ``bpe`` and ``roberta``: a byte-level BPE in
    RoBERTa's layout (:func:`r2d.tokenizer.baseline.train_byte_level_bpe`). The documents are the corpus minus
    the held-out evaluation share (:func:`r2d.training.data.train_documents`), streamed from the files.
    """
    folder = out / TOKENIZER_DIR
    if folder.is_dir():
        logger.info("reusing the run's tokenizer in %s", folder)
        return load_tokenizer(folder, r2d=args.model == "r2d")
    # subtle: two passes over the corpus (count, then the training share), so it is never held in memory
    n_docs = sum(1 for _ in iter_corpus_documents(args.corpus, args.max_docs))
    n_train = train_documents(n_docs, args.eval_fraction)
    train_docs = iter_corpus_documents(args.corpus, n_train)
    logger.info("training a %s tokenizer of %d ids on %d documents", args.model, args.train_tokenizer, n_train)
    if args.model == "r2d":
        tokenizer = R2DTokenizer.train(texts=train_docs, vocab_size=args.train_tokenizer,
                                       model_max_length=args.max_length)
    else:
        tokenizer = train_byte_level_bpe(train_docs, args.train_tokenizer)
    with atomic_folder(folder, tmp=out / (TOKENIZER_DIR + ".tmp")) as tmp:  # no half-written tokenizer to reuse
        tokenizer.save_pretrained(str(tmp))
    return tokenizer


__all__ = ["bf16_available", "causal_blocks", "causal_config", "clm_objective", "CausalBatches",
           "CausalEvaluation", "train_run_tokenizer", "TOKENIZER_DIR"]
