"""Corpus -> sharded, memory-mapped rows: tokenized once, in parallel worker processes, read without loading.

Pipeline stage: ``documents -> ids + packed flags on disk -> training sequences``. :func:`prepare_shards` streams
documents through a tokenizer (in ``workers`` processes, in order) and appends each document's rows (no special
rows) to the current shard; memory holds a few batches of text, never the corpus. A shard folder holds
``manifest.json`` and, per shard ``NAME``:

* ``NAME.ids``: the rows' ids, raw little-endian, in the smallest unsigned type that holds the vocabulary;
* ``NAME.flags``: the flag matrix packed 8 flags to a byte (``numpy.packbits`` along a row), R2D only;
* ``NAME.docs``: int64 row offsets of the shard's documents (documents never span shards).

The manifest names the dtype, the shapes, the tokenizer (with a fingerprint of what it encodes) and the sources
(path, size and modification time, or a Hub name), so stale shards are found (:func:`stale_reason`).
:class:`Shards` reads a folder through ``numpy.memmap``; :class:`ShardSequences` lays documents out as training
sequences exactly as the in-memory builders do (:func:`r2d.training.data.tokenize_documents` for MLM,
:func:`r2d.training.clm.causal_blocks` for the causal objective), by index arithmetic over the memory maps.

It does not read corpus files (:mod:`r2d.training.data` does) or choose the held-out split.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from r2d.io import InputError, atomic_write_text

logger = logging.getLogger(__name__)

FORMAT_NAME = "r2d-shards"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SHARD_ROWS = 1 << 27
"""Rows per shard (a document is never split, so a shard may hold a little more): 256 MB of uint16 ids."""
BATCH_CHARS = 1 << 20
"""Characters of text per tokenizer call (one task for a worker process)."""
OPEN_MAPS = 96
"""Shard files kept memory-mapped at once by a reader (the least recently used are closed)."""
PREPARE_CACHE_SIZE = 1 << 17
"""Distinct pieces an R2D tokenizer keeps cached while preparing: bounds each worker's memory whatever the corpus."""


# ---------------------------------------------------------------------------------------------------------
# the encoding of one array


def id_dtype(vocab_size: int) -> np.dtype:
    """The smallest unsigned integer type that holds ids ``0 .. vocab_size - 1``.

    >>> id_dtype(300), id_dtype(50265), id_dtype(70000)
    (dtype('uint16'), dtype('uint16'), dtype('uint32'))
    """
    for dt in (np.uint8, np.uint16, np.uint32):
        if vocab_size - 1 <= np.iinfo(dt).max:
            return np.dtype(dt)
    return np.dtype(np.uint64)


def flag_bytes(num_flags: int) -> int:
    """Bytes per row of packed flags."""
    return (num_flags + 7) // 8


def pack_flags(flags: np.ndarray) -> np.ndarray:
    """(N, F) 0/1 flags -> (N, ceil(F / 8)) uint8, the first flag in the high bit of the first byte."""
    return np.packbits(np.asarray(flags, dtype=bool), axis=1)


def unpack_flags(packed: np.ndarray, num_flags: int) -> np.ndarray:
    """The inverse of :func:`pack_flags`: (N, F) uint8 of 0/1."""
    return np.unpackbits(np.asarray(packed, dtype=np.uint8), axis=1, count=num_flags)


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


def _changed_source(record: dict) -> str | None:
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
    folder.parent.mkdir(parents=True, exist_ok=True)
    encoder = DocumentEncoder(tokenizer, cache_size=cache_size)
    fingerprint = fingerprint or tokenizer_fingerprint(tokenizer)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    t0 = time.perf_counter()
    try:
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
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("prepared %d documents (%.1f MB of text) into %d rows in %d shard(s) in %s: %.1f s, %.2f MB/s, "
                "%d worker(s)", writer.documents, text_bytes / 1e6, writer.rows, len(files["shards"]), folder, seconds,
                text_bytes / 1e6 / max(seconds, 1e-9), workers)
    return Shards(folder)


def _source_names(sources: Sequence[dict]) -> list[str]:
    return [s.get("path") or s.get("hub") or "?" for s in sources]


def stale_reason(shards: "Shards", *, sources: Sequence[dict] | None = None, fingerprint: str | None = None,
                 max_docs: int | None = None) -> str | None:
    """Why a shard folder cannot serve a run (other sources or tokenizer, too few documents); None if it can."""
    m = shards.manifest
    if fingerprint is not None and m["tokenizer"]["fingerprint"] != fingerprint:
        return f"made with another tokenizer ({m['tokenizer']['name']})"
    if sources is not None and [dict(s) for s in m["sources"]] != [dict(s) for s in sources]:
        return "made from other corpus files (or the files changed since)"
    if not m["complete"] and (max_docs is None or max_docs > m["documents"]):
        return f"holds only the first {m['documents']} documents"
    return None


# ---------------------------------------------------------------------------------------------------------
# reading


def is_shard_folder(path: str | os.PathLike) -> bool:
    p = Path(path)
    return p.is_dir() and (p / MANIFEST).is_file()


class Shards:
    """A shard folder, read through memory maps (opened on first use, never loaded whole).

    Raises:
        r2d.io.InputError: no or a bad ``manifest.json`` (the field named), or a shard file missing or of the
            wrong size (cut short by a full disk or a copy).
    """

    def __init__(self, folder: str | os.PathLike, *, what: str = ""):
        self.folder = Path(folder)
        path = self.folder / MANIFEST
        name = f"{what} {path}" if what else str(path)
        if not path.is_file():
            raise InputError(f"{what} {self.folder}" if what else self.folder, "no manifest.json: not a shard folder "
                             "(r2d prepare-corpus makes one)")
        try:
            m = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise InputError(name, f"not JSON ({e})") from None
        if not isinstance(m, dict) or m.get("format") != FORMAT_NAME:
            raise InputError(name, f"not an r2d shard manifest (expected {FORMAT_NAME!r})", field="format")
        if int(m.get("version", 0)) > FORMAT_VERSION:
            raise InputError(name, f"version {m.get('version')} is newer than this r2d reads ({FORMAT_VERSION})",
                             field="version")
        for key, kind in (("ids_dtype", str), ("num_flags", int), ("flag_bytes", int), ("tokenizer", dict),
                          ("sources", list), ("documents", int), ("rows", int), ("shards", list),
                          ("complete", bool)):
            if not isinstance(m.get(key), kind) or (kind is int and isinstance(m.get(key), bool)):
                what = {str: "a string", int: "an integer", dict: "an object", list: "a list", bool: "true or false"}
                raise InputError(name, f"missing or not {what[kind]}", field=key)
        try:
            self.dtype = np.dtype(m["ids_dtype"])
        except TypeError:
            raise InputError(name, f"{m['ids_dtype']!r} is not a numpy dtype", field="ids_dtype") from None
        self.manifest = m
        self.num_flags, self.flag_bytes = int(m["num_flags"]), int(m["flag_bytes"])
        docs, rows = [0], [0]
        for i, s in enumerate(m["shards"]):
            if not isinstance(s, dict) or not all(isinstance(s.get(k), int) for k in ("documents", "rows")):
                raise InputError(name, f"shard {i} needs 'name', 'documents' and 'rows'", field="shards")
            for suffix, size in ((".ids", s["rows"] * self.dtype.itemsize), (".docs", (s["documents"] + 1) * 8),
                                 (".flags", s["rows"] * self.flag_bytes)):
                if suffix == ".flags" and not self.num_flags:
                    continue
                f = self.folder / f"{s['name']}{suffix}"
                if not f.is_file():
                    raise InputError(f"{what} {f}" if what else f, "missing (the shard folder is incomplete)")
                if f.stat().st_size != size:
                    raise InputError(f"{what} {f}" if what else f, f"{f.stat().st_size} bytes, the manifest says "
                                     f"{size}: cut short or not this folder's")
            docs.append(docs[-1] + s["documents"])
            rows.append(rows[-1] + s["rows"])
        if docs[-1] != m["documents"] or rows[-1] != m["rows"]:
            raise InputError(name, "the shards' documents and rows do not add up to the totals", field="documents")
        self._doc_base, self._row_base = docs, rows  # (S + 1,) each: the shards' first document and row
        self._maps: OrderedDict[tuple[int, str], np.ndarray] = OrderedDict()

    # -- what it holds
    @property
    def documents(self) -> int:
        return int(self.manifest["documents"])

    @property
    def rows(self) -> int:
        return int(self.manifest["rows"])

    @property
    def bos_token_id(self) -> int:
        return int(self.manifest["tokenizer"]["bos_token_id"])

    @property
    def eos_token_id(self) -> int:
        return int(self.manifest["tokenizer"]["eos_token_id"])

    def __getstate__(self) -> dict:  # subtle: a memory map pickles as a full copy of its data
        return {**self.__dict__, "_maps": OrderedDict()}

    def _map(self, s: int, kind: str) -> np.ndarray:
        key = (s, kind)
        arr = self._maps.get(key)
        if arr is not None:
            self._maps.move_to_end(key)
        else:
            if len(self._maps) >= OPEN_MAPS:  # subtle: each map holds a file descriptor
                self._maps.popitem(last=False)
            info = self.manifest["shards"][s]
            n = info["documents"] + 1 if kind == "docs" else info["rows"]
            dtype, shape = {"ids": (self.dtype, (n,)), "docs": (np.dtype("<i8"), (n,)),
                            "flags": (np.dtype(np.uint8), (n, self.flag_bytes))}[kind]
            if n == 0:
                arr = np.zeros(shape, dtype=dtype)
            else:
                arr = np.memmap(self.folder / f"{info['name']}.{kind}", dtype=dtype, mode="r", shape=shape)
            self._maps[key] = arr
        return arr

    def _shard_of(self, k: int) -> int:
        return min(bisect.bisect_right(self._doc_base, k) - 1, len(self._doc_base) - 2)

    # -- documents
    def doc_start(self, k: int) -> int:
        """The first row of document ``k`` in the rows of all shards (``k == documents``: the number of rows)."""
        s = self._shard_of(k)
        return self._row_base[s] + int(self._map(s, "docs")[k - self._doc_base[s]])

    def doc_rows(self, k: int, start: int = 0, stop: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Rows ``start:stop`` of document ``k``: ids (T,) and flags (T, F) uint8, or None without flags."""
        s = self._shard_of(k)
        offs = self._map(s, "docs")
        a, b = int(offs[k - self._doc_base[s]]), int(offs[k - self._doc_base[s] + 1])
        a, b = min(a + start, b), b if stop is None else min(a + stop, b)
        ids = np.asarray(self._map(s, "ids")[a:b])
        flags = unpack_flags(self._map(s, "flags")[a:b], self.num_flags) if self.num_flags else None
        return ids, flags

    def doc_lengths(self, first: int, stop: int) -> Iterator[np.ndarray]:
        """The rows of documents ``first:stop``, one array per shard they fall in."""
        for s in range(self._shard_of(first), len(self._doc_base) - 1):
            lo, hi = max(first, self._doc_base[s]), min(stop, self._doc_base[s + 1])
            if lo >= hi:
                if self._doc_base[s] >= stop:
                    break
                continue
            offs = self._map(s, "docs")
            yield np.diff(np.asarray(offs[lo - self._doc_base[s]:hi - self._doc_base[s] + 1]))


# ---------------------------------------------------------------------------------------------------------
# training sequences over the shards


class ShardSequences:
    """Documents ``first:stop`` of :class:`Shards` as the training sequences of an objective (no copy).

    The layouts, each equal to its in-memory builder's (tests hold them equal):

    * ``mlm`` (:func:`r2d.training.data.tokenize_documents`): ``<s> rows </s>`` per document, cut at
      ``max_length``; with ``pack``, the stream ``doc </s> doc </s> ...`` cut into blocks of ``max_length - 2``
      rows, each inside ``<s> ... </s>``, a last partial block kept if it holds more than one row;
    * ``clm`` (:func:`r2d.training.clm.causal_blocks`): each document as ``<s> rows </s>``, cut after
      ``max_length`` rows; with ``pack``, the stream of those cut into blocks of ``max_length`` rows, a 1-row
      last block dropped.

    Sequence ``i``: :meth:`rows`; ``len()``: the number of sequences. Flags are returned when ``with_flags``.
    """

    def __init__(self, shards: Shards, first: int, stop: int, *, objective: str, max_length: int, pack: bool,
                 with_flags: bool, limit: int | None = None):
        if objective not in ("mlm", "clm"):
            raise ValueError(f"objective must be 'mlm' or 'clm', got {objective!r}")
        if with_flags and not shards.num_flags:
            raise ValueError("the shards hold no flags (made with a 1D tokenizer)")
        self.shards, self.first, self.stop = shards, int(first), int(stop)
        self.objective, self.max_length, self.pack, self.with_flags = objective, int(max_length), bool(pack), with_flags
        self.bos, self.eos = shards.bos_token_id, shards.eos_token_id
        self.num_flags = shards.num_flags if with_flags else 0
        mlm = objective == "mlm"
        self.prefix = 0 if mlm else 1  # special rows before a document's rows in the stream
        self.extra = 1 if mlm else 2  # special rows per document in the stream
        self.block = self.max_length - 2 if mlm else self.max_length  # stream rows per sequence
        if self.block < 1:
            raise ValueError(f"max_length={max_length} leaves no room for text")
        n_docs = max(0, self.stop - self.first)
        if not pack:
            n = n_docs
            self.stream = 0
        else:
            base = shards.doc_start(self.first) if n_docs else 0
            self.stream = (shards.doc_start(self.stop) - base + self.extra * n_docs) if n_docs else 0
            full, tail = divmod(self.stream, self.block)
            if mlm:
                n = full + (tail > 1)
            else:
                n = full + (tail > 0)
                if n > 1 and 0 < tail < 2:  # subtle: a 1-row tail predicts nothing
                    n -= 1
                    self.stream = full * self.block
            self._base = base
        self.n = n if limit is None else min(n, int(limit))
        self._num_rows: int | None = None

    def __len__(self) -> int:
        return self.n

    def head(self, n: int) -> "ShardSequences":
        """The first ``n`` sequences."""
        return ShardSequences(self.shards, self.first, self.stop, objective=self.objective,
                              max_length=self.max_length, pack=self.pack, with_flags=self.with_flags,
                              limit=min(self.n, n))

    @property
    def num_rows(self) -> int:
        """Rows in all sequences (special rows included)."""
        if self._num_rows is None:
            if self.pack:
                total = 0 if self.n == 0 else (self.n - 1) * self.block + len(self._stream_range(self.n - 1))
                self._num_rows = total + (2 * self.n if self.objective == "mlm" else 0)
            else:
                total = 0
                stop = self.first + self.n
                for lengths in self.shards.doc_lengths(self.first, stop):
                    if self.objective == "mlm":
                        total += int(np.minimum(lengths, self.block).sum()) + 2 * len(lengths)
                    else:
                        total += int(np.minimum(lengths + 2, self.block).sum())
                self._num_rows = total
        return self._num_rows

    def mean_rows(self) -> float:
        """Mean rows per sequence."""
        return self.num_rows / self.n if self.n else 0.0

    def _stream_range(self, i: int) -> range:
        a = i * self.block
        return range(a, min(a + self.block, self.stream))

    def _vstart(self, k: int) -> int:
        """Where document ``k`` begins in the stream."""
        return self.shards.doc_start(k) - self._base + self.extra * (k - self.first)

    def _zeros(self, n: int) -> np.ndarray:
        return np.zeros((n, self.num_flags), dtype=np.uint8)

    def _doc_part(self, k: int, lo: int, hi: int, ids: list, flags: list) -> None:
        """Rows ``lo:hi`` of document ``k`` as laid out in the stream (prefix, its rows, ``</s>``)."""
        p = self.prefix
        if lo < p:
            ids.append(np.array([self.bos], dtype=np.int64))
            flags.append(self._zeros(1))
        a, b = max(lo - p, 0), hi - p
        body_ids, body_flags = self.shards.doc_rows(k, a, b)
        if len(body_ids):
            ids.append(body_ids.astype(np.int64))
            flags.append(body_flags if self.with_flags else self._zeros(len(body_ids)))
        if b > a + len(body_ids):  # the stream's </s> after the document is in range
            ids.append(np.array([self.eos], dtype=np.int64))
            flags.append(self._zeros(1))

    def _stream_rows(self, a: int, b: int) -> tuple[list, list]:
        ids: list[np.ndarray] = []
        flags: list[np.ndarray] = []
        k = bisect.bisect_right(range(self.first, self.stop), a, key=self._vstart) - 1 + self.first
        pos = a
        while pos < b and k < self.stop:
            start, end = self._vstart(k), self._vstart(k + 1)
            hi = min(b, end)
            self._doc_part(k, pos - start, hi - start, ids, flags)
            pos, k = hi, k + 1
        return ids, flags

    def rows(self, i: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Sequence ``i``: ids (T,) int64 and flags (T, F) uint8, or None without flags."""
        if not 0 <= i < self.n:
            raise IndexError(f"sequence {i} of {self.n}")
        mlm = self.objective == "mlm"
        if self.pack:
            r = self._stream_range(i)
            ids, flags = self._stream_rows(r.start, r.stop)
        else:
            k = self.first + i
            ids, flags = [], []
            if mlm:  # the document's first rows; </s> comes below, not the stream's separator
                body_ids, body_flags = self.shards.doc_rows(k, 0, self.block)
                ids.append(body_ids.astype(np.int64))
                flags.append(body_flags if self.with_flags else self._zeros(len(body_ids)))
            else:
                self._doc_part(k, 0, self.block, ids, flags)
        if mlm:
            ids = [np.array([self.bos], dtype=np.int64), *ids, np.array([self.eos], dtype=np.int64)]
            flags = [self._zeros(1), *flags, self._zeros(1)]
        out_ids = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
        out_flags = np.concatenate(flags) if flags else self._zeros(0)
        return out_ids, (out_flags if self.with_flags else None)


__all__ = ["id_dtype", "flag_bytes", "pack_flags", "unpack_flags", "tokenizer_fingerprint", "DocumentEncoder",
           "source_record", "ShardWriter", "ReadProgress", "prepare_shards", "stale_reason", "is_shard_folder",
           "Shards", "ShardSequences", "MANIFEST", "SHARD_ROWS", "PREPARE_CACHE_SIZE"]
