"""Corpus -> sharded, memory-mapped rows: tokenized once, in parallel worker processes, read without loading.

A shard folder holds ``manifest.json`` (dtype, shapes, the tokenizer with a fingerprint of what it encodes, the
sources) and, per shard ``NAME``: ``NAME.ids`` (the rows' ids, raw little-endian, in the smallest unsigned type that
holds the vocabulary), ``NAME.flags`` (R2D only: the flag matrix packed 8 flags to a byte along a row) and
``NAME.docs`` (int64 row offsets of the shard's documents; documents never span shards). The format is
:mod:`~r2d.training.shard_format`'s; :mod:`~r2d.training.shard_writer` makes folders (:func:`prepare_shards`),
:mod:`~r2d.training.shard_reader` reads them (:class:`Shards`, :class:`ShardSequences`). Their names are all here.
"""

from __future__ import annotations

from r2d.training.shard_format import (FORMAT_NAME, FORMAT_VERSION, MANIFEST, flag_bytes, id_dtype, pack_flags,
                                       unpack_flags)
from r2d.training.shard_reader import OPEN_MAPS, Shards, ShardSequences, is_shard_folder, stale_reason
from r2d.training.shard_writer import (BATCH_CHARS, PREPARE_CACHE_SIZE, SHARD_ROWS, DocumentEncoder, ReadProgress,
                                       ShardWriter, changed_source, prepare_shards, source_record,
                                       tokenizer_fingerprint)

__all__ = ["id_dtype", "flag_bytes", "pack_flags", "unpack_flags", "tokenizer_fingerprint", "DocumentEncoder",
           "source_record", "changed_source", "ShardWriter", "ReadProgress", "prepare_shards", "stale_reason",
           "is_shard_folder", "Shards", "ShardSequences", "MANIFEST", "FORMAT_NAME", "FORMAT_VERSION", "SHARD_ROWS",
           "BATCH_CHARS", "OPEN_MAPS", "PREPARE_CACHE_SIZE"]
