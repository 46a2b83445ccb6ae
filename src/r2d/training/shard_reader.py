"""Shard folders read through memory maps, never loaded whole (:class:`Shards`), and documents laid out over them as
an objective's training sequences by index arithmetic (:class:`ShardSequences`), exactly as the in-memory builders
lay them out.
"""

from __future__ import annotations

import bisect
import json
import logging
import os
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from r2d.io import InputError
from r2d.training.shard_format import FORMAT_NAME, FORMAT_VERSION, MANIFEST, unpack_flags

logger = logging.getLogger(__name__)

OPEN_MAPS = 96
"""Shard files kept memory-mapped at once by a reader (the least recently used are closed)."""


def is_shard_folder(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder with a shard ``manifest.json``."""
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


__all__ = ["is_shard_folder", "Shards", "stale_reason", "ShardSequences", "OPEN_MAPS"]
