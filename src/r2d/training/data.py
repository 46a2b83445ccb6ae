"""Pretraining data: corpus documents -> fixed-length token sequences, cached, served in a seeded epoch order.

Pipeline stage: ``corpus -> documents -> ids (+ flag matrix) -> sequences``, the data side of every pretraining
objective. Documents come from text files through the one corpus reader, :func:`r2d.text.corpus.iter_documents`
(``.txt``/``.gz``, WikiExtractor ``<doc>`` markup), or from a Hugging Face dataset name ``name[:config]`` on
machines with Hub access. The last share of the documents is held out for evaluation; each document is
tokenized and either truncated at ``max_length`` rows or packed into full blocks (:func:`tokenize_documents`),
stored flat in a :class:`TokenizedSet` and cached in the run folder (:func:`build_datasets`).
:class:`SequenceDataset` and :class:`EpochSampler` serve the sequences so that every example knows its
``(epoch, index)``: what masking seeds are derived from (see :mod:`r2d.modeling.mlm_batches`).

It does not mask (the collators do), choose models or train (:mod:`r2d.training.pretrain`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from r2d.io import InputError, check_file

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------------------
# documents


def iter_hub_documents(name: str) -> Iterator[str]:
    """Non-empty ``text`` rows of the ``train`` split of a Hugging Face dataset ``name[:config]``."""
    import datasets

    ds_name, _, config = name.partition(":")
    try:
        ds = datasets.load_dataset(ds_name, config or None, split="train")
    except Exception as e:  # noqa: BLE001 - the datasets library raises many types for "cannot load"
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InputError(f"--corpus {name}", f"not a file, and loading it as a Hub dataset failed: {first}") from None
    column = "text" if "text" in ds.column_names else ds.column_names[0]
    for row in ds:
        text = row[column]
        if text and text.strip():
            yield text


def is_file_source(source: str) -> bool:
    """True for a path-like corpus argument (exists, or ends like a text file, or names a folder)."""
    return Path(source).exists() or source.endswith((".txt", ".gz", ".raw")) or os.sep in source


def check_corpus(sources: Sequence[str]) -> None:
    """Raise :class:`r2d.io.InputError` naming the first corpus file that is missing, a folder or unreadable."""
    for source in sources:
        if is_file_source(source):
            check_file(source, what="--corpus")


def read_documents(sources: Sequence[str], max_docs: int | None = None) -> list[str]:
    """All documents of the corpus arguments, in order (at most ``max_docs``).

    Args:
        sources: text files (see :func:`r2d.text.corpus.iter_documents`) or Hub dataset names ``name[:config]``.
        max_docs: stop after this many documents (all sources together).

    Raises:
        r2d.io.InputError: a file is missing, unreadable, not UTF-8 text or broken gzip (file and line named).
    """
    from r2d.text.corpus import iter_documents

    check_corpus(sources)
    docs: list[str] = []
    for source in sources:
        for doc in iter_documents([source]) if is_file_source(source) else iter_hub_documents(source):
            docs.append(doc)
            if max_docs is not None and len(docs) >= max_docs:
                return docs
    return docs


# ---------------------------------------------------------------------------------------------------------
# tokenization into fixed-length sequences


@dataclass
class TokenizedSet:
    """Sequences stored flat: ``ids`` (N,) int32, ``flags`` (N, F) int8 (R2D only), ``offsets`` (S + 1,)."""

    ids: np.ndarray
    offsets: np.ndarray
    flags: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def save(self, path: Path) -> None:
        arrays = {"ids": self.ids, "offsets": self.offsets}
        if self.flags is not None:
            arrays["flags"] = self.flags
        np.savez(path, **arrays)

    @classmethod
    def load(cls, path: Path) -> "TokenizedSet":
        with np.load(path) as z:
            return cls(ids=z["ids"], offsets=z["offsets"], flags=z["flags"] if "flags" in z.files else None)

    def rows(self, i: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Sequence ``i``: ids (T,) and flags (T, F) or None."""
        a, b = self.offsets[i], self.offsets[i + 1]
        return self.ids[a:b], (self.flags[a:b] if self.flags is not None else None)

    def head(self, n: int) -> "TokenizedSet":
        """The first ``n`` sequences."""
        if n >= len(self):
            return self
        end = self.offsets[n]
        return TokenizedSet(ids=self.ids[:end], offsets=self.offsets[:n + 1],
                            flags=self.flags[:end] if self.flags is not None else None)


def _encode(tokenizer, texts: list[str], with_flags: bool) -> tuple[list[list[int]], list[Any] | None]:
    if with_flags:
        enc = tokenizer(texts, add_special_tokens=False)
        return enc["input_ids"], enc["flags"]
    enc = tokenizer(texts, add_special_tokens=False, verbose=False)
    return enc["input_ids"], None


def tokenize_documents(docs: list[str], tokenizer, *, max_length: int, pack: bool, with_flags: bool,
                       num_flags: int = 0, batch_docs: int = 64) -> TokenizedSet:
    """Documents -> sequences of at most ``max_length`` rows, each ``<s> ... </s>``.

    Args:
        docs: document texts.
        tokenizer: ``R2DTokenizer`` (``with_flags=True``) or a ``transformers`` tokenizer.
        max_length: rows per sequence including ``<s>`` and ``</s>``.
        pack: concatenate documents (separated by ``</s>``) and cut into full blocks; else truncate each document.
        with_flags: keep the flag matrix.
        num_flags: F (for empty flag arrays).

    Returns:
        A :class:`TokenizedSet`.
    """
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    body = max_length - 2
    if body < 1:
        raise InputError(f"--max-length {max_length}", "leaves no room for text (2 rows go to <s> and </s>)")
    ids_out: list[np.ndarray] = []
    flags_out: list[np.ndarray] = []
    lengths: list[int] = []
    zero = np.zeros((1, num_flags), dtype=np.int8)

    def emit(ids: np.ndarray, flags: np.ndarray | None) -> None:
        ids_out.append(np.concatenate([[bos], ids, [eos]]).astype(np.int32))
        if with_flags:
            flags_out.append(np.concatenate([zero, flags, zero]).astype(np.int8))
        lengths.append(len(ids) + 2)

    buf_ids: list[np.ndarray] = []
    buf_flags: list[np.ndarray] = []
    buffered = 0
    for start in range(0, len(docs), batch_docs):
        ids_list, flags_list = _encode(tokenizer, docs[start:start + batch_docs], with_flags)
        for k, ids in enumerate(ids_list):
            ids = np.asarray(ids, dtype=np.int64)
            fl = (np.asarray(flags_list[k], dtype=np.int8).reshape(len(ids), num_flags) if with_flags else None)
            if len(ids) == 0:
                continue
            if not pack:
                emit(ids[:body], fl[:body] if fl is not None else None)
                continue
            buf_ids += [ids, np.array([eos])]
            if with_flags:
                buf_flags += [fl, zero]
            buffered += len(ids) + 1
            if buffered >= body:
                all_ids = np.concatenate(buf_ids)
                all_flags = np.concatenate(buf_flags) if with_flags else None
                n_full = len(all_ids) // body
                for j in range(n_full):
                    emit(all_ids[j * body:(j + 1) * body],
                         all_flags[j * body:(j + 1) * body] if all_flags is not None else None)
                rest = n_full * body
                buf_ids = [all_ids[rest:]]
                buf_flags = [all_flags[rest:]] if with_flags else []
                buffered = len(all_ids) - rest
    if pack and buffered > 1:  # the last partial block (more than a lone separator)
        all_ids = np.concatenate(buf_ids)
        emit(all_ids, np.concatenate(buf_flags) if with_flags else None)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    ids = np.concatenate(ids_out) if ids_out else np.zeros(0, dtype=np.int32)
    flags = (np.concatenate(flags_out) if flags_out else np.zeros((0, num_flags), dtype=np.int8)) if with_flags else None
    return TokenizedSet(ids=ids, offsets=offsets, flags=flags)


def _cache_key(settings: dict[str, Any], corpus: Sequence[str]) -> str:
    parts = dict(settings, corpus=[])
    for c in corpus:
        p = Path(c)
        parts["corpus"].append([str(p.resolve()), p.stat().st_size, int(p.stat().st_mtime)] if p.is_file() else c)
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def build_datasets(corpus: Sequence[str], tokenizer, *, cache_dir: Path, tokenizer_id: str, with_flags: bool,
                   max_length: int, pack: bool, max_docs: int | None, eval_fraction: float,
                   eval_size: int, tokenize=None) -> tuple[TokenizedSet, TokenizedSet]:
    """Read, split and tokenize the corpus; cached in ``cache_dir`` (reused by ``--resume``).

    The last ``eval_fraction`` of the documents (at least one) is held out; at most ``eval_size`` evaluation
    sequences are kept. ``cache_dir`` is written only once everything succeeded (no partial output).
    ``tokenize``: a function like :func:`tokenize_documents` (the default), e.g. the causal objective's
    :func:`r2d.training.clm.causal_blocks`.

    Returns:
        ``(train, eval)`` :class:`TokenizedSet` s.

    Raises:
        r2d.io.InputError: unreadable corpus, fewer than 2 documents, or no text left after tokenization.
    """
    tokenize = tokenize or tokenize_documents
    settings = {"tokenizer": tokenizer_id, "flags": with_flags, "max_length": max_length, "pack": pack,
                "max_docs": max_docs, "eval_fraction": eval_fraction, "eval_size": eval_size}
    if tokenize is not tokenize_documents:
        settings["tokenize"] = f"{tokenize.__module__}.{tokenize.__qualname__}"
    check_corpus(corpus)
    key = _cache_key(settings, corpus)
    meta = cache_dir / "meta.json"
    if meta.is_file() and json.loads(meta.read_text(encoding="utf-8")).get("key") == key:
        logger.info("reusing tokenized data in %s", cache_dir)
        return TokenizedSet.load(cache_dir / "train.npz"), TokenizedSet.load(cache_dir / "eval.npz")
    t0 = time.perf_counter()
    docs = read_documents(corpus, max_docs)
    if len(docs) < 2:
        raise InputError(f"--corpus {' '.join(corpus)}", f"found {len(docs)} document(s); need at least 2 "
                         "(one for training, one for evaluation)")
    n_eval = min(len(docs) - 1, max(1, int(round(len(docs) * eval_fraction))))
    train_docs, eval_docs = docs[:-n_eval], docs[-n_eval:]
    kw = dict(max_length=max_length, pack=pack, with_flags=with_flags,
              num_flags=tokenizer.num_flags if with_flags else 0)
    train = tokenize(train_docs, tokenizer, **kw)
    evals = tokenize(eval_docs, tokenizer, **kw).head(eval_size)
    if len(train) == 0 or len(evals) == 0:
        raise InputError(f"--corpus {' '.join(corpus)}", "no text left after tokenization")
    cache_dir.mkdir(parents=True, exist_ok=True)
    train.save(cache_dir / "train.npz")
    evals.save(cache_dir / "eval.npz")
    info = {"key": key, "documents": len(docs), "train_documents": len(train_docs), "eval_documents": len(eval_docs),
            "train_sequences": len(train), "eval_sequences": len(evals), "train_rows": int(len(train.ids)),
            "eval_rows": int(len(evals.ids)), "seconds": round(time.perf_counter() - t0, 2)}
    meta.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    logger.info("corpus: %d documents -> %d train / %d eval sequences (%d train rows) in %.1f s", len(docs),
                len(train), len(evals), len(train.ids), info["seconds"])
    return train, evals


# ---------------------------------------------------------------------------------------------------------
# serving: every example knows its (epoch, index)


class SequenceDataset:
    """A map-style dataset of examples ``{"input_ids", "attention_mask"[, "flags"], "epoch", "index"}``.

    ``len()`` is the number of sequences N. Item ``k`` is sequence ``k % N`` seen in epoch ``k // N``: an
    :class:`EpochSampler` asks for ``epoch * N + i``, a plain sampler for ``i`` (epoch 0). ``epoch`` and
    ``index`` are bookkeeping for the collate function (mask seeds), not model inputs.
    """

    def __init__(self, data: TokenizedSet):
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, k: int) -> dict[str, Any]:
        epoch, i = divmod(int(k), len(self.data))
        ids, flags = self.data.rows(i)
        ex: dict[str, Any] = {"input_ids": ids.astype(np.int64).tolist(), "attention_mask": [1] * len(ids),
                              "epoch": epoch, "index": i}
        if flags is not None:
            ex["flags"] = flags.astype(np.int64)
        return ex


class EpochSampler:
    """Shuffled order of a :class:`SequenceDataset`: one permutation per ``(seed, epoch)``, yielding
    ``epoch * N + i`` so that each example carries its epoch into the DataLoader's worker processes.

    Like ``DistributedSampler``, the epoch is set from outside (``Trainer`` calls :meth:`set_epoch` before each
    epoch); all processes of a multi-GPU run draw the same permutation and ``accelerate`` shards it.
    """

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch = int(n), int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng([self.seed % 2**63, self.epoch])
        return iter((self.epoch * self.n + rng.permutation(self.n)).tolist())


__all__ = ["read_documents", "check_corpus", "is_file_source", "iter_hub_documents", "TokenizedSet",
           "tokenize_documents", "build_datasets", "SequenceDataset", "EpochSampler"]
