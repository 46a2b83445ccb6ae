"""Corpus -> shard files: documents streamed through a tokenizer (in worker processes, in order) and appended to
shards with a manifest naming the tokenizer (a fingerprint of what it encodes) and the sources; memory holds a few
batches of text, never the corpus.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from r2d.io import InputError, atomic_folder, atomic_write_text
from r2d.training.shard_format import FORMAT_NAME, FORMAT_VERSION, MANIFEST, flag_bytes, id_dtype, pack_flags
from r2d.training.shard_reader import Shards

logger = logging.getLogger(__name__)

SHARD_ROWS = 1 << 27
"""Rows per shard (a document is never split, so a shard may hold a little more): 256 MB of uint16 ids."""
BATCH_CHARS = 1 << 20
"""Characters of text per tokenizer call (one task for a worker process)."""
PREPARE_CACHE_SIZE = 1 << 17
"""Distinct pieces an R2D tokenizer keeps cached while preparing: bounds each worker's memory whatever the corpus."""


# ---------------------------------------------------------------------------------------------------------
# tokenizers: what a worker needs, and what identifies one


def is_r2d_tokenizer(tokenizer) -> bool:
    return hasattr(tokenizer, "core") and hasattr(tokenizer, "flag_names")


def tokenizer_fingerprint(tokenizer) -> str:
    """A sha256 of everything that decides a tokenizer's rows for a text (not its length limit or call settings).

    R2D: its saved BPE, deconstruction list and flag schema; a ``transformers`` tokenizer: its backend's JSON
    without the truncation and padding a call leaves behind, and its special ids.
    """
    h = hashlib.sha256()
    if is_r2d_tokenizer(tokenizer):
        with tempfile.TemporaryDirectory(prefix="r2d-fingerprint-") as d:
            tokenizer.save_pretrained(d)
            for p in sorted(Path(d).iterdir()):
                data = p.read_bytes()
                if p.suffix == ".json":
                    try:
                        cfg = json.loads(data)
                    except ValueError:
                        cfg = None
                    if isinstance(cfg, dict):
                        cfg.pop("model_max_length", None)
                        data = json.dumps(cfg, sort_keys=True).encode()
                h.update(p.name.encode() + b"\0" + data + b"\0")
    else:
        spec = json.loads(tokenizer.backend_tokenizer.to_str())
        spec.pop("truncation", None)
        spec.pop("padding", None)
        h.update(json.dumps(spec, sort_keys=True).encode())
    specials = [tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id, len(tokenizer)]
    h.update(json.dumps(specials).encode())
    return h.hexdigest()


class DocumentEncoder:
    """Texts -> ``(rows per text (B,), ids (N,), packed flags (N, ceil(F/8)) or None, UTF-8 bytes)``.

    Picklable and light: an R2D tokenizer's core, or a copy of a ``transformers`` tokenizer's backend
    (``tokenizers`` only), so that a worker process imports neither torch nor transformers. The rows equal
    ``tokenizer(texts, add_special_tokens=False)``'s.
    """

    def __init__(self, tokenizer, *, cache_size: int | None = PREPARE_CACHE_SIZE):
        self.num_flags = int(tokenizer.num_flags) if is_r2d_tokenizer(tokenizer) else 0
        self.dtype = id_dtype(len(tokenizer))
        self.cache_size = cache_size
        if self.num_flags:
            self.core, self.backend = tokenizer.core, None
        else:
            from tokenizers import Tokenizer

            self.core, self.backend = None, Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
            self.backend.no_truncation()
            self.backend.no_padding()

    def __call__(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
        n_bytes = sum(len(t.encode("utf-8")) for t in texts)
        if self.core is not None:
            before = self.core.cache_size
            if self.cache_size:
                self.core.cache_size = min(before, self.cache_size)
            try:
                enc = self.core.encode_batch(list(texts))
            finally:
                self.core.cache_size = before
            return (np.diff(enc.starts), enc.ids.astype(self.dtype), pack_flags(enc.flags), n_bytes)
        encs = self.backend.encode_batch_fast(list(texts), add_special_tokens=False)
        lengths = np.fromiter((len(e.ids) for e in encs), dtype=np.int64, count=len(encs))
        ids = np.fromiter((i for e in encs for i in e.ids), dtype=self.dtype, count=int(lengths.sum()))
        return lengths, ids, None, n_bytes


_WORKER_ENCODER: DocumentEncoder | None = None


def _init_worker(encoder: DocumentEncoder) -> None:
    global _WORKER_ENCODER
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # subtle: the processes are the parallelism
    _WORKER_ENCODER = encoder


def _encode_in_worker(texts: list[str]):
    assert _WORKER_ENCODER is not None
    return _WORKER_ENCODER(texts)


# ---------------------------------------------------------------------------------------------------------
# sources: what the shards were made from


def source_record(source: str) -> dict[str, Any]:
    """How the manifest names one corpus source: a file's resolved path, size and mtime, or a Hub name."""
    p = Path(source)
    if p.is_file():
        st = p.stat()
        return {"path": str(p.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    return {"hub": source}


def changed_source(record: dict) -> str | None:
    """Why a recorded source file no longer is what the shards were made from; None if it is, or is gone."""
    if "path" not in record:
        return None
    p = Path(record["path"])
    if not p.is_file():
        return None
    st = p.stat()
    if (st.st_size, st.st_mtime_ns) != (record.get("size"), record.get("mtime_ns")):
        return f"{p} changed since the shards were made (size {record.get('size')} -> {st.st_size}, or its time)"
    return None


# ---------------------------------------------------------------------------------------------------------
# writing


class ShardWriter:
    """Appends documents' rows to shard files in a folder; :meth:`close` returns the shards' manifest entries.

    Args:
        folder: an empty folder.
        dtype: the ids' type (:func:`id_dtype`).
        num_flags: F (0: no flag files).
        shard_rows: start a new shard once the current one holds this many rows.
    """

    def __init__(self, folder: Path, *, dtype: np.dtype, num_flags: int, shard_rows: int = SHARD_ROWS):
        self.folder, self.dtype, self.num_flags = Path(folder), np.dtype(dtype), int(num_flags)
        self.shard_rows = max(1, int(shard_rows))
        self.shards: list[dict[str, Any]] = []
        self.documents = self.rows = 0
        self._files: dict[str, Any] | None = None
        self._docs = self._rows = 0

    def _open(self) -> None:
        name = f"shard-{len(self.shards):05d}"
        self._files = {"name": name, "ids": open(self.folder / f"{name}.ids", "wb"),
                       "docs": open(self.folder / f"{name}.docs", "wb")}
        if self.num_flags:
            self._files["flags"] = open(self.folder / f"{name}.flags", "wb")
        np.zeros(1, dtype="<i8").tofile(self._files["docs"])
        self._docs = self._rows = 0

    def _close_shard(self) -> None:
        if self._files is None:
            return
        for k in ("ids", "docs", "flags"):
            if k in self._files:
                self._files[k].close()
        self.shards.append({"name": self._files["name"], "documents": self._docs, "rows": self._rows})
        self._files = None

    def add(self, lengths: np.ndarray, ids: np.ndarray, flags: np.ndarray | None) -> None:
        """Append documents: ``lengths`` (B,) rows each, their ``ids`` (N,) and packed ``flags`` (N, bytes)."""
        lengths = np.asarray(lengths, dtype=np.int64)
        if (lengths < 1).any():
            # subtle: every document the readers yield has text, so rows; a document of none would shift the
            # objectives' layouts (MLM skips it, the causal one does not)
            raise ValueError(f"document {self.documents + int(np.argmin(lengths))} has no rows")
        ends = np.cumsum(lengths)
        first = 0  # the first document of the batch not written yet
        while first < len(lengths):
            if self._files is None:
                self._open()
            base = int(ends[first - 1]) if first else 0
            room = self.shard_rows - self._rows
            # documents that fit, and at least one: a shard is closed only between documents
            last = max(first + 1, int(np.searchsorted(ends, base + room, side="right")))
            last = min(last, len(lengths))
            a, b = base, int(ends[last - 1])
            f = self._files
            ids[a:b].astype(self.dtype.newbyteorder("<"), copy=False).tofile(f["ids"])
            if self.num_flags:
                np.ascontiguousarray(flags[a:b]).tofile(f["flags"])
            (self._rows + ends[first:last] - base).astype("<i8").tofile(f["docs"])
            self._rows += b - a
            self._docs += last - first
            self.documents += last - first
            self.rows += b - a
            first = last
            if self._rows >= self.shard_rows:
                self._close_shard()

    def close(self) -> dict[str, Any]:
        """Close the last shard; returns the manifest fields that describe the files (dtype, shapes, shards)."""
        self._close_shard()
        return {"format": FORMAT_NAME, "version": FORMAT_VERSION, "ids_dtype": self.dtype.newbyteorder("<").str,
                "num_flags": self.num_flags, "flag_bytes": flag_bytes(self.num_flags), "flag_bitorder": "big",
                "documents": self.documents, "rows": self.rows, "shards": self.shards}


class ReadProgress:
    """Progress of reading a corpus, ``(bytes read, bytes in all)``: a rich bar on stderr, or a log line every
    tenth (``bar=False``). Use as a context manager; call it with the counts."""

    def __init__(self, description: str, *, bar: bool):
        self.description, self.bar = description, bar
        self._progress = self._task = None
        self._tenth = 0

    def __enter__(self) -> "ReadProgress":
        if self.bar:
            from rich.console import Console
            from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn, TransferSpeedColumn)

            self._progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(),
                                      TransferSpeedColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                                      console=Console(stderr=True), transient=True)
            self._progress.start()
            self._task = self._progress.add_task(self.description, total=None)
        return self

    def __call__(self, done: int, total: int | None) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=done, total=total)
        elif total:
            tenth = 10 * done // total
            if tenth > self._tenth:
                self._tenth = tenth
                logger.info("%s: %d%% (%.1f of %.1f MB read)", self.description, 10 * tenth, done / 1e6, total / 1e6)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()


def _batches(documents: Iterable[str], max_chars: int) -> Iterator[list[str]]:
    batch: list[str] = []
    size = 0
    for doc in documents:
        batch.append(doc)
        size += len(doc)
        if size >= max_chars:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _encoded(encoder: DocumentEncoder, batches: Iterator[list[str]], workers: int):
    """The encoded batches in order: in this process (``workers=0``) or in a pool of spawned processes, with at
    most two batches in flight per worker (what bounds memory)."""
    if workers == 0:
        for texts in batches:
            yield encoder(texts)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    # subtle: spawn, not fork: the parent may hold torch's and tokenizers' threads
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_init_worker, initargs=(encoder,)) as pool:
        pending: deque = deque()
        try:
            for texts in batches:
                pending.append(pool.submit(_encode_in_worker, texts))
                if len(pending) >= 2 * workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        except BrokenProcessPool:
            raise RuntimeError("a corpus preparation worker died (out of memory? try fewer --workers)") from None
        finally:
            for fut in pending:
                fut.cancel()


def prepare_shards(documents: Iterable[str], tokenizer, folder: str | os.PathLike, *, sources: Sequence[dict],
                   tokenizer_name: str, fingerprint: str | None = None, max_docs: int | None = None, workers: int = 0,
                   shard_rows: int = SHARD_ROWS, batch_chars: int = BATCH_CHARS,
                   cache_size: int | None = PREPARE_CACHE_SIZE) -> "Shards":
    """Tokenize documents into a new shard folder (replacing ``folder`` only once all of it is written).

    Args:
        documents: the texts, in order (read lazily).
        tokenizer: an ``R2DTokenizer`` (ids + flags) or a ``transformers`` tokenizer (ids).
        folder: where the shards go; written as a sibling temp folder, then renamed.
        sources: :func:`source_record` of each corpus source, for the manifest.
        tokenizer_name: how the user named the tokenizer (for messages).
        fingerprint: :func:`tokenizer_fingerprint` of the tokenizer, when the caller has it already.
        max_docs: the documents were cut at this many (recorded: shards of a cut corpus serve only as many).
        workers: tokenizer processes (0: this process).
        shard_rows: rows per shard. batch_chars: text per tokenizer call.
        cache_size: distinct pieces an R2D tokenizer caches meanwhile (``None``: its own setting).

    Returns:
        The new :class:`Shards`.
    """
    folder = Path(folder)
    encoder = DocumentEncoder(tokenizer, cache_size=cache_size)
    fingerprint = fingerprint or tokenizer_fingerprint(tokenizer)
    t0 = time.perf_counter()
    with atomic_folder(folder) as tmp:
        writer = ShardWriter(tmp, dtype=encoder.dtype, num_flags=encoder.num_flags, shard_rows=shard_rows)
        text_bytes = 0
        for lengths, ids, flags, n_bytes in _encoded(encoder, _batches(documents, batch_chars), workers):
            writer.add(lengths, ids, flags)
            text_bytes += n_bytes
        files = writer.close()
        seconds = time.perf_counter() - t0
        manifest = {
            **files,
            "flag_names": list(getattr(tokenizer, "flag_names", ())) if encoder.num_flags else [],
            "tokenizer": {"name": tokenizer_name, "kind": "r2d" if encoder.num_flags else "bpe",
                          "fingerprint": fingerprint, "vocab_size": len(tokenizer),
                          "bos_token_id": int(tokenizer.bos_token_id), "eos_token_id": int(tokenizer.eos_token_id)},
            "sources": list(sources), "max_docs": max_docs,
            "complete": max_docs is None or writer.documents < max_docs,
            "text_bytes": text_bytes, "workers": workers, "seconds": round(seconds, 2),
        }
        if writer.documents == 0:
            raise InputError("--corpus " + " ".join(_source_names(sources)), "has no documents")
        atomic_write_text(tmp / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    logger.info("prepared %d documents (%.1f MB of text) into %d rows in %d shard(s) in %s: %.1f s, %.2f MB/s, "
                "%d worker(s)", writer.documents, text_bytes / 1e6, writer.rows, len(files["shards"]), folder, seconds,
                text_bytes / 1e6 / max(seconds, 1e-9), workers)
    return Shards(folder)


def _source_names(sources: Sequence[dict]) -> list[str]:
    return [s.get("path") or s.get("hub") or "?" for s in sources]


__all__ = ["tokenizer_fingerprint", "DocumentEncoder", "source_record", "changed_source", "ShardWriter",
           "ReadProgress", "prepare_shards", "SHARD_ROWS", "BATCH_CHARS", "PREPARE_CACHE_SIZE"]
