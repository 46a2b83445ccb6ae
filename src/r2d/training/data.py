"""Pretraining data: corpus documents (text files or a streamed Hub dataset) -> memory-mapped shards -> an objective's
sequences, split into training and held-out documents by one rule (:func:`train_documents`) and served in a seeded
epoch order, each example knowing its ``(epoch, index)`` (what masking seeds derive from).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from r2d.io import InputError, atomic_write_text, check_file
from r2d.text.corpus import iter_documents
from r2d.training.shards import (ReadProgress, Shards, ShardSequences, changed_source, is_shard_folder, prepare_shards,
                                 source_record, stale_reason, tokenizer_fingerprint)

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------------------
# documents


def iter_hub_documents(name: str) -> Iterator[str]:
    """Non-empty ``text`` rows of the ``train`` split of a Hugging Face dataset ``name[:config]``, streamed (the
    dataset is never downloaded whole)."""
    import datasets

    ds_name, _, config = name.partition(":")
    try:
        ds = datasets.load_dataset(ds_name, config or None, split="train", streaming=True)
        rows = iter(ds)
        first = next(rows, None)
    except Exception as e:  # noqa: BLE001 - the datasets library raises many types for "cannot load"
        first_line = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InputError(f"--corpus {name}", f"not a file, and loading it as a Hub dataset failed: {first_line}"
                         ) from None
    if first is None:
        return
    columns = list(ds.column_names or first)
    column = "text" if "text" in columns else columns[0]
    for row in itertools.chain([first], rows):
        text = row[column]
        if text and text.strip():
            yield text


def is_file_source(source: str) -> bool:
    """True for a path-like corpus argument (exists, or ends like a text file, or names a folder)."""
    return Path(source).exists() or source.endswith((".txt", ".gz", ".raw")) or os.sep in source


def check_corpus(sources: Sequence[str]) -> None:
    """Raise :class:`r2d.io.InputError` naming the first corpus file that is missing, a folder or unreadable; a
    folder of prepared shards (``manifest.json``) is taken alone."""
    for source in sources:
        if is_shard_folder(source):
            if len(sources) > 1:
                raise InputError(f"--corpus {source}", "prepared shards are a whole corpus: give them alone")
        elif Path(source).is_dir():
            raise InputError(f"--corpus {source}", "is a folder, not a file or prepared shards (no manifest.json)")
        elif is_file_source(source):
            check_file(source, what="--corpus")


def iter_corpus_documents(sources: Sequence[str], max_docs: int | None = None,
                          progress: Callable[[int, int | None], None] | None = None) -> Iterator[str]:
    """The documents of the corpus arguments, in order, read as they are asked for (at most ``max_docs``).

    Args:
        sources: text files (see :func:`r2d.text.corpus.iter_documents`) or Hub dataset names ``name[:config]``.
        max_docs: stop after this many documents (all sources together).
        progress: called with (bytes read, bytes of all files), or (characters read, None) for Hub datasets.

    Raises:
        r2d.io.InputError: a file is missing, unreadable, not UTF-8 text or broken gzip (file and line named).
    """
    check_corpus(sources)
    files = [s for s in sources if is_file_source(s)]
    total = sum(Path(f).stat().st_size for f in files) if len(files) == len(sources) else None
    n = done = 0
    for source in sources:
        if is_file_source(source):
            size = Path(source).stat().st_size
            report = None if progress is None else (lambda pos, base=done: progress(base + pos, total))
            docs = iter_documents([source], progress=report)
        else:
            size, docs = 0, iter_hub_documents(source)
        for doc in docs:
            if max_docs is not None and n >= max_docs:
                return
            n += 1
            if progress is not None and not is_file_source(source):
                done += len(doc)
                progress(done, None)
            yield doc
            if max_docs is not None and n >= max_docs:  # subtle: not a line further (it may be bad input)
                return
        done += size


def read_documents(sources: Sequence[str], max_docs: int | None = None) -> list[str]:
    """All documents of the corpus arguments, in order (at most ``max_docs``); see :func:`iter_corpus_documents`."""
    return list(iter_corpus_documents(sources, max_docs))


def held_out(n_docs: int, eval_fraction: float) -> int:
    """How many of ``n_docs`` documents (the last ones) are held out for evaluation: ``eval_fraction`` of them,
    rounded, at least one, and one fewer than all (every run and tokenizer splits by this one rule).

    >>> held_out(100, 0.02), held_out(10, 0.02), held_out(2, 0.5)
    (2, 1, 1)
    """
    return min(n_docs - 1, max(1, int(round(n_docs * eval_fraction))))


def train_documents(n_docs: int, eval_fraction: float) -> int:
    """How many of ``n_docs`` documents (the first ones) train, a run's model and its tokenizer alike: all but the
    :func:`held_out` ones.

    >>> train_documents(100, 0.02), train_documents(1, 0.02)
    (98, 1)
    """
    return n_docs - held_out(n_docs, eval_fraction) if n_docs > 1 else n_docs


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

    @property
    def num_rows(self) -> int:
        """Rows in all sequences."""
        return int(self.offsets[-1])

    def mean_rows(self) -> float:
        """Mean rows per sequence."""
        return self.num_rows / len(self) if len(self) else 0.0

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


SHARDS_DIR = "shards"
SMALL_CORPUS = 4 << 20
"""Corpus files below this many bytes on disk are tokenized in the training process by default (no worker start-up)."""


def default_workers(sources: Sequence[str]) -> int:
    """Tokenizer processes for a corpus: none (this process) for small files, else one per core, at most 8."""
    files = [Path(s) for s in sources if is_file_source(s)]
    if len(files) == len(sources) and sum(f.stat().st_size for f in files) < SMALL_CORPUS:
        return 0
    return max(1, min(8, os.cpu_count() or 1))


def corpus_shards(corpus: Sequence[str], tokenizer, *, folder: Path, tokenizer_name: str, max_docs: int | None = None,
                  workers: int | None = None, progress: bool = False):
    """The corpus as :class:`r2d.training.shards.Shards`: a prepared shard folder given as the corpus (checked
    against the tokenizer), or shards of the corpus files in ``folder``, reused when they are up to date and
    (re)made otherwise.

    Args:
        corpus: corpus files or Hub names, or one prepared shard folder.
        tokenizer: the run's tokenizer. tokenizer_name: how the user named it.
        folder: where this run keeps its shards of raw files.
        max_docs: only the first documents are needed.
        workers: tokenizer processes (``None``: :func:`default_workers`).
        progress: a progress bar while preparing (else log lines).

    Raises:
        r2d.io.InputError: a bad corpus file; prepared shards of another tokenizer, of changed files, or broken.
    """
    check_corpus(corpus)
    fingerprint = tokenizer_fingerprint(tokenizer)
    if is_shard_folder(corpus[0]):
        shards = Shards(corpus[0], what="--corpus")
        reason = stale_reason(shards, fingerprint=fingerprint)
        if reason:
            raise InputError(f"--corpus {corpus[0]}", f"these shards were {reason}, not with this run's tokenizer "
                             f"({tokenizer_name}); prepare the corpus with it (r2d prepare-corpus --tokenizer ...)")
        for record in shards.manifest["sources"]:
            changed = changed_source(record)
            if changed:
                raise InputError(f"--corpus {corpus[0]}", f"stale: {changed}; prepare the corpus again")
        if not shards.manifest["complete"] and (max_docs is None or max_docs > shards.documents):
            logger.warning("%s holds only the first %d documents of its corpus (prepared with --max-docs)",
                           corpus[0], shards.documents)
        return shards
    sources = [source_record(s) for s in corpus]
    with _lock(folder):
        if is_shard_folder(folder):
            try:
                shards = Shards(folder)
                reason = stale_reason(shards, sources=sources, fingerprint=fingerprint, max_docs=max_docs)
            except InputError as e:
                reason = str(e)
            if reason is None:
                logger.info("reusing the corpus shards in %s", folder)
                return shards
            logger.info("remaking the corpus shards in %s: %s", folder, reason)
        workers = default_workers(corpus) if workers is None else workers
        with ReadProgress("tokenizing the corpus", bar=progress) as bar:
            return prepare_shards(iter_corpus_documents(corpus, max_docs, progress=bar), tokenizer, folder,
                                  sources=sources, tokenizer_name=tokenizer_name, fingerprint=fingerprint,
                                  max_docs=max_docs, workers=workers)


@contextlib.contextmanager
def _lock(folder: Path) -> Iterator[None]:
    """One process at a time checks or makes a run's shards (``torchrun`` starts one per device, all alike): the
    first makes them, the others then find them up to date."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: one process per run folder
        yield
        return
    with open(folder.parent / f".{folder.name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def build_datasets(corpus: Sequence[str], tokenizer, *, cache_dir: Path, tokenizer_id: str, with_flags: bool,
                   max_length: int, pack: bool, max_docs: int | None, eval_fraction: float, eval_size: int,
                   objective: str = "mlm", workers: int | None = None, progress: bool = False,
                   write_meta: bool = True):
    """Tokenize the corpus into shards (:func:`corpus_shards`; reused by ``--resume``), split it and lay it out.

    The last ``eval_fraction`` of the documents (:func:`train_documents`) is held out; at most ``eval_size`` evaluation
    sequences are kept. ``objective``: the layout, ``"mlm"`` (:func:`tokenize_documents`'s) or ``"clm"``
    (:func:`r2d.training.clm.causal_blocks`'). Writes ``cache_dir/meta.json`` (the split, counts, the shards used)
    unless ``write_meta`` is false (the other processes of a multi-process run, after the main one made it).

    Returns:
        ``(train, eval)`` :class:`r2d.training.shards.ShardSequences`.

    Raises:
        r2d.io.InputError: unreadable corpus, fewer than 2 documents, or no text left after tokenization.
    """
    t0 = time.perf_counter()
    shards = corpus_shards(corpus, tokenizer, folder=cache_dir / SHARDS_DIR, tokenizer_name=tokenizer_id,
                           max_docs=max_docs, workers=workers, progress=progress)
    n_docs = shards.documents if max_docs is None else min(shards.documents, max_docs)
    if n_docs < 2:
        raise InputError(f"--corpus {' '.join(corpus)}", f"found {n_docs} document(s); need at least 2 "
                         "(one for training, one for evaluation)")
    n_train = train_documents(n_docs, eval_fraction)
    n_eval = n_docs - n_train
    kw = dict(objective=objective, max_length=max_length, pack=pack, with_flags=with_flags)
    train = ShardSequences(shards, 0, n_train, **kw)
    evals = ShardSequences(shards, n_train, n_docs, **kw).head(eval_size)
    if len(train) == 0 or len(evals) == 0:
        raise InputError(f"--corpus {' '.join(corpus)}", "no text left after tokenization")
    info = {"documents": n_docs, "train_documents": n_train, "eval_documents": n_eval,
            "train_sequences": len(train), "eval_sequences": len(evals), "train_rows": train.num_rows,
            "eval_rows": evals.num_rows, "shards": str(shards.folder.resolve()),
            "tokenizer_fingerprint": shards.manifest["tokenizer"]["fingerprint"],
            "seconds": round(time.perf_counter() - t0, 2)}
    if write_meta:
        cache_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(cache_dir / "meta.json", json.dumps(info, indent=2) + "\n")
    logger.info("corpus: %d documents -> %d train / %d eval sequences (%d train rows)", n_docs, len(train),
                len(evals), info["train_rows"])
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
        return map(int, self.epoch * self.n + rng.permutation(self.n))  # subtle: no list of N Python ints


__all__ = ["read_documents", "iter_corpus_documents", "check_corpus", "is_file_source", "iter_hub_documents",
           "held_out", "train_documents", "TokenizedSet", "tokenize_documents", "default_workers", "corpus_shards",
           "build_datasets", "SequenceDataset", "EpochSampler", "SHARDS_DIR"]
