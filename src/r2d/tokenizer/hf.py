"""R2DTokenizer: text <-> ids + flag matrix, losslessly (step 1 and step 2 of 2D tokenization).

Stage 4 of the pipeline. ``text -> pieces`` (:mod:`r2d.text.pretokenize`) ``-> roots + flags`` (:mod:`r2d.text.transform`)
``-> ids + flags``: every root is split by a byte-level BPE trained on roots only, and the first BPE piece of
every root carries the word-start marker ``▁`` (it means "new word", not "space": spacing is the ``NoSpace``
flag), so word boundaries survive on their own. Every piece row carries its word's flags; special and padding
rows carry none. Ids follow RoBERTa's layout: ``<s>``=0, ``<pad>``=1, ``</s>``=2, ``<unk>``=3, BPE tokens,
``<mask>`` last; pairs are ``<s> A </s></s> B </s>``.

The BPE itself runs in ``tokenizers`` (Rust); pre-tokenization and deconstruction stay in Python (a custom
pre-tokenizer cannot be serialised inside a ``tokenizers.Tokenizer``) and are saved beside the BPE file.
Encoding is fast because a piece's rows are computed once and cached.

This module does not mask (see :mod:`r2d.modeling.collator`) or model anything.

>>> tok = R2DTokenizer.from_pretrained("r2d-en")
>>> text = "I enjoyed riding in Australia's parks."
>>> [(r.root, r.flags) for r in tok.split(text)][:2]
[('i', (1, 1, 0, 0, 0, 0, 0)), ('enjoy', (0, 0, 0, 0, 1, 0, 0))]
>>> enc = tok(text)
>>> tok.decode(enc["input_ids"], enc["flags"]) == text
True
"""

from __future__ import annotations

import contextlib
import functools
import gc
from itertools import chain
import json
import logging
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from r2d.lists.deconstruct import DeconstructionList
from r2d.flags import FlagSchema
from r2d.text.pretokenize import split_pieces, split_pieces_with_offsets
from r2d.text.transform import Deconstructor

logger = logging.getLogger(__name__)

FORMAT_NAME = "r2d-tokenizer"
FORMAT_VERSION = 1
CONFIG_FILE = "r2d_tokenizer.json"
BPE_FILE = "bpe.json"
LIST_FILE = "deconstruction.tsv"
WORD_START = "\u2581"  # ▁ : outside the byte-level alphabet, so it can never be confused with a byte
SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>")
MASK_TOKEN = "<mask>"
BUNDLED = {"r2d-en": "r2d-en"}
_CACHE_LIMIT = 1_000_000

PaddingArg = bool | str
TruncationArg = bool | str


@functools.lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table (the byte-level BPE alphabet: 256 characters)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    table, n = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + n)
            n += 1
    return table


@functools.lru_cache(maxsize=1)
def unicode_to_bytes() -> dict[str, int]:
    return {c: b for b, c in bytes_to_unicode().items()}


def root_to_symbols(root: str) -> str:
    """The string the BPE sees for one root: the word-start marker, then the root's UTF-8 bytes as characters."""
    # subtle: decoding UTF-8 bytes as latin-1 gives one character per byte, which translate() maps in C
    # surrogatepass: a Python string may hold lone surrogates, and they must round-trip too
    return WORD_START + root.encode("utf-8", "surrogatepass").decode("latin-1").translate(bytes_to_unicode())


@dataclass(frozen=True)
class Row:
    """One row of step 1: a root and its flags (one 0/1 per flag name), with its piece's offsets."""

    root: str
    flags: tuple[int, ...]
    start: int = 0
    end: int = 0


class R2DTokenizer:
    """The 2D tokenizer: encode text to ``input_ids`` + ``flags``, decode them back exactly.

    Build one with :meth:`from_pretrained` (``"r2d-en"`` or a saved folder) or :meth:`train`.

    Args:
        bpe: a ``tokenizers.Tokenizer`` whose model is the byte-level BPE over roots, with the four RoBERTa
            special tokens at ids 0-3 and ``<mask>`` as the last id.
        deconstruction_list: the list that defines affix flags (``None``: no affix flag is ever set).
        flag_names: the flag schema (default: the article's seven flags).
        model_max_length: the length ``truncation=True`` cuts to when ``max_length`` is not given.
    """

    def __init__(
        self,
        *,
        bpe,
        deconstruction_list: DeconstructionList | None = None,
        flag_names: Sequence[str] | None = None,
        model_max_length: int = 512,
    ):
        self.schema = FlagSchema(tuple(flag_names)) if flag_names is not None else FlagSchema.default()
        self.deconstructor = Deconstructor(deconstruction_list, self.schema)
        self.model_max_length = model_max_length
        self._bpe = bpe
        vocab = bpe.get_vocab(with_added_tokens=True)
        for i, s in enumerate(SPECIAL_TOKENS):
            if vocab.get(s) != i:
                raise ValueError(f"the BPE vocabulary must have {s} at id {i} (RoBERTa's layout), found {vocab.get(s)}")
        if vocab.get(MASK_TOKEN) != len(vocab) - 1:
            raise ValueError(f"the BPE vocabulary must end with {MASK_TOKEN} (found id {vocab.get(MASK_TOKEN)})")
        self._id_to_token: list[str] = [""] * len(vocab)
        for s, i in vocab.items():
            self._id_to_token[i] = s
        self.bos_token_id, self.pad_token_id, self.eos_token_id, self.unk_token_id = 0, 1, 2, 3
        self.cls_token_id, self.sep_token_id = 0, 2
        self.mask_token_id = len(vocab) - 1
        self.all_special_ids = [0, 1, 2, 3, self.mask_token_id]
        self._zero_row = (0,) * self.num_flags
        self.word_start = np.array(
            [t.startswith(WORD_START) and i not in self.all_special_ids for i, t in enumerate(self._id_to_token)]
        )
        self._token_bytes: list[bytes] = [self._bytes_of(t) for t in self._id_to_token]
        # per id: 2 = special (its own row), 1 = starts a word, 0 = continues the word before it
        self._kind: list[int] = [2 if i in self.all_special_ids else int(self.word_start[i]) for i in range(len(vocab))]
        self._word_cache: dict[tuple, str] = {}  # (ids of a word, its flag row) -> text
        self._ids_cache: dict[str, list[int]] = {}  # piece -> its BPE ids
        self._flags_cache: dict[str, list[tuple[int, ...]]] = {}  # piece -> one flag row per id
        self._root_cache: dict[str, list[int]] = {}  # root -> its BPE ids

    # ------------------------------------------------------------------------------------------ properties
    @property
    def flag_names(self) -> tuple[str, ...]:
        return self.schema.names

    @property
    def num_flags(self) -> int:
        return len(self.schema)

    @property
    def vocab_size(self) -> int:
        return len(self._id_to_token)

    def __len__(self) -> int:
        return self.vocab_size

    @property
    def special_tokens(self) -> dict[str, int]:
        return {**{s: i for i, s in enumerate(SPECIAL_TOKENS)}, MASK_TOKEN: self.mask_token_id}

    def get_vocab(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self._id_to_token)}

    def convert_ids_to_tokens(self, ids: Iterable[int]) -> list[str]:
        return [self._id_to_token[i] if 0 <= i < self.vocab_size else "<unk>" for i in map(int, ids)]

    def __repr__(self) -> str:
        return (f"R2DTokenizer(vocab_size={self.vocab_size}, flag_names={list(self.flag_names)}, "
                f"list_entries={len(self.deconstructor.list)})")

    # ------------------------------------------------------------------------------------------ step 1
    def split(self, text: str) -> list[Row]:
        """Step 1: text -> rows of ``(root, flags)``, one per piece, with character offsets.

        Args:
            text: any Unicode string.
        """
        _check_text(text, "text")
        return [Row(*self.deconstructor.split(p), s, e) for p, s, e in split_pieces_with_offsets(text)]

    def join(self, rows: Iterable[Row | tuple[str, Sequence]]) -> str:
        """Inverse of :meth:`split`: rows (or ``(root, flags)`` pairs) -> text."""
        return "".join(self.deconstructor.join(r[0] if isinstance(r, tuple) else r.root,
                                               r[1] if isinstance(r, tuple) else r.flags) for r in rows)

    # ------------------------------------------------------------------------------------------ step 2
    def _fill(self, pieces: Iterable[str]) -> None:
        """Cache the rows of every piece not cached yet: step 1, then the BPE once per new root."""
        new = set(pieces).difference(self._ids_cache)
        if not new:
            return
        if len(self._ids_cache) + len(new) > _CACHE_LIMIT:
            self._ids_cache.clear()
            self._flags_cache.clear()
            self._root_cache.clear()
        split = self.deconstructor.split
        rows = [(p, *split(p)) for p in new]
        roots = list({r for _, r, _ in rows}.difference(self._root_cache))
        if len(roots) > 1024:  # many: one batched call spreads them over threads
            encs = self._bpe.encode_batch_fast([root_to_symbols(r) for r in roots], add_special_tokens=False)
            for r, e in zip(roots, encs):
                self._root_cache[r] = e.ids
        else:  # few: calling the model directly skips the thread hand-off
            tokenize = self._bpe.model.tokenize
            for r in roots:
                self._root_cache[r] = [t.id for t in tokenize(root_to_symbols(r))]
        root_ids, ids_cache, flags_cache = self._root_cache, self._ids_cache, self._flags_cache
        for p, root, flags in rows:
            ids = root_ids[root]
            ids_cache[p] = ids
            flags_cache[p] = [flags] * len(ids)

    def _encode_pieces(self, pieces: list[str], spans=None) -> tuple[list[int], list, list | None]:
        """Rows of one text's pieces (all cached): ``(ids, flag rows, offsets or None)``."""
        # subtle: chain over dict lookups keeps the hot loop in C; this is what makes encoding fast
        ids = list(chain.from_iterable(map(self._ids_cache.__getitem__, pieces)))
        flags = list(chain.from_iterable(map(self._flags_cache.__getitem__, pieces)))
        offs = None
        if spans is not None:
            offs = []
            ns = self.deconstructor._ns
            for p, s, e in spans:
                rows = self._flags_cache[p]
                if p[0] == " " and rows[0][ns] == 0:
                    s += 1  # the attached space is not part of the word's span
                offs += [(s, e)] * len(rows)
        return ids, flags, offs

    def _encode_texts(self, texts: list[str], offsets: bool) -> list[tuple[list[int], list, list | None]]:
        if offsets:
            spans = [split_pieces_with_offsets(t) for t in texts]
            pieces = [[p for p, _, _ in sp] for sp in spans]
        else:
            spans = [None] * len(texts)
            pieces = [split_pieces(t) for t in texts]
        self._fill(chain.from_iterable(pieces))
        return [self._encode_pieces(p, sp) for p, sp in zip(pieces, spans)]

    def encode(self, text: str, text_pair: str | None = None, *, add_special_tokens: bool = True) -> list[int]:
        """Ids only (use ``tok(text)`` for ids + flags)."""
        return self(text, text_pair, add_special_tokens=add_special_tokens)["input_ids"]

    def __call__(
        self,
        text: str | Sequence[str],
        text_pair: str | Sequence[str] | None = None,
        *,
        add_special_tokens: bool = True,
        padding: PaddingArg = False,
        truncation: TruncationArg = False,
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
        return_tensors: str | None = None,
        return_offsets_mapping: bool = False,
        return_special_tokens_mask: bool = False,
        return_attention_mask: bool = True,
    ):
        """Encode one text (unbatched result) or a batch of texts, optionally with pairs.

        Args:
            text: a string or a list of strings.
            text_pair: second segments (same batching as ``text``), laid out ``<s> A </s></s> B </s>``.
            add_special_tokens: add ``<s>``/``</s>`` rows (flags all 0).
            padding: ``False``/``"do_not_pad"``, ``True``/``"longest"``, or ``"max_length"``.
            truncation: ``False``, ``True``/``"longest_first"``, ``"only_first"`` or ``"only_second"``.
            max_length: length to truncate or pad to (default for truncation: ``model_max_length``).
            pad_to_multiple_of: round padded lengths up to a multiple of this.
            return_tensors: ``None`` (lists), ``"np"`` or ``"pt"``.
            return_offsets_mapping: add ``offset_mapping``: each row's ``(start, end)`` in its text; all rows of
                a word share the word's span (the attached space excluded); special and pad rows ``(0, 0)``.
            return_special_tokens_mask: add ``special_tokens_mask`` (1 on special and pad rows).

        Returns:
            A ``transformers.BatchEncoding`` with ``input_ids`` (B, T), ``attention_mask`` (B, T) and
            ``flags`` (B, T, F) of 0/1; unbatched (T,), (T, F) for a single string.
        """
        with _no_gc():
            return self._call(text, text_pair, add_special_tokens=add_special_tokens, padding=padding,
                              truncation=truncation, max_length=max_length, pad_to_multiple_of=pad_to_multiple_of,
                              return_tensors=return_tensors, return_offsets_mapping=return_offsets_mapping,
                              return_special_tokens_mask=return_special_tokens_mask,
                              return_attention_mask=return_attention_mask)

    def _call(self, text, text_pair, *, add_special_tokens, padding, truncation, max_length, pad_to_multiple_of,
              return_tensors, return_offsets_mapping, return_special_tokens_mask, return_attention_mask):
        batched = not isinstance(text, str)
        texts = _as_batch(text, "text")
        pairs = None
        if text_pair is not None:
            pairs = _as_batch(text_pair, "text_pair")
            if batched != (not isinstance(text_pair, str)) or len(pairs) != len(texts):
                raise ValueError(
                    f"text_pair must match text: got {len(texts)} text(s) and {len(pairs)} pair(s) "
                    f"({'batched' if batched else 'single'} text)")
        padding = _padding_strategy(padding)
        truncation = _truncation_strategy(truncation)
        n_special = (4 if pairs is not None else 2) if add_special_tokens else 0
        if truncation != "do_not_truncate" and max_length is None:
            max_length = self.model_max_length
        if truncation != "do_not_truncate" and max_length < n_special + 1:
            raise ValueError(
                f"max_length={max_length} leaves no room for text: {n_special} special rows are needed "
                f"({'<s> A </s></s> B </s>' if pairs is not None else '<s> A </s>'}), so use max_length >= {n_special + 1}")
        if padding == "max_length" and max_length is None:
            raise ValueError("padding='max_length' needs max_length")

        firsts = self._encode_texts(texts, return_offsets_mapping)
        seconds = self._encode_texts(pairs, return_offsets_mapping) if pairs is not None else [None] * len(texts)
        rows = []
        for a, b in zip(firsts, seconds):
            if truncation != "do_not_truncate":
                a, b = _truncate(a, b, max_length - n_special, truncation)
            rows.append(self._with_specials(a, b, add_special_tokens))

        out: dict[str, list] = {"input_ids": [r[0] for r in rows]}
        if return_attention_mask:
            out["attention_mask"] = [[1] * len(r[0]) for r in rows]
        out["flags"] = [r[1] for r in rows]
        if return_offsets_mapping:
            out["offset_mapping"] = [r[2] for r in rows]
        if return_special_tokens_mask:
            out["special_tokens_mask"] = [r[3] for r in rows]
        if padding != "do_not_pad":
            target = max_length if padding == "max_length" else max((len(r[0]) for r in rows), default=0)
            out = self._pad_dict(out, target, pad_to_multiple_of)
        if not batched:
            out = {k: v[0] for k, v in out.items()}
        return _batch_encoding(out, return_tensors, self.num_flags)

    def _with_specials(self, a, b, add_special_tokens: bool):
        """Lay out ``<s> A </s>`` / ``<s> A </s></s> B </s>``; returns (ids, flags, offsets, special mask)."""
        zero = self._zero_row
        ids, flags, offs = a
        specials = [0] * len(ids)
        if add_special_tokens:
            ids.insert(0, self.bos_token_id)
            ids.append(self.eos_token_id)
            flags.insert(0, zero)
            flags.append(zero)
            specials = [1] + specials + [1]
            offs = None if offs is None else [(0, 0)] + offs + [(0, 0)]
        if b is not None:
            mid = [self.eos_token_id] if add_special_tokens else []
            end = [self.eos_token_id] if add_special_tokens else []
            ids += mid + list(b[0]) + end
            flags += [zero] * len(mid) + list(b[1]) + [zero] * len(end)
            specials += [1] * len(mid) + [0] * len(b[0]) + [1] * len(end)
            if offs is not None:
                offs += [(0, 0)] * len(mid) + list(b[2]) + [(0, 0)] * len(end)
        return ids, flags, offs, specials

    _PAD_VALUES = {"input_ids": 1, "attention_mask": 0, "special_tokens_mask": 1, "token_type_ids": 0,
                   "offset_mapping": (0, 0), "labels": -100}

    def _pad_dict(self, out: dict[str, list], target: int, multiple: int | None) -> dict[str, list]:
        if multiple:
            target = -(-target // multiple) * multiple
        zero = (0,) * self.num_flags
        padded = {}
        for k, seqs in out.items():
            fill = zero if k == "flags" else self._PAD_VALUES.get(k, 0)
            if k == "flag_labels":
                fill = (-100,) * self.num_flags
            padded[k] = [list(s) + [fill] * (target - len(s)) for s in seqs]
        return padded

    def pad(self, features, *, padding: PaddingArg = True, max_length: int | None = None,
            pad_to_multiple_of: int | None = None, return_tensors: str | None = "pt", **_: Any):
        """Pad already-encoded features (a list of dicts, or a dict of lists), like HF ``tokenizer.pad``.

        ``input_ids`` pad with ``<pad>``, ``attention_mask`` with 0, ``flags`` with all-zero rows, ``labels``
        with -100; other per-row keys with 0; scalar keys (e.g. a sequence-level ``labels``) pass through.
        Works as the ``collate_fn`` of a PyTorch ``DataLoader`` and inside ``DataCollatorWithPadding``.
        """
        if isinstance(features, Mapping):
            out = {k: list(v) for k, v in features.items()}
        else:
            features = list(features)
            if not features:
                raise ValueError("pad() got no features")
            out = {k: [_tolist(f[k]) for f in features] for k in features[0]}
        out = {k: [_tolist(x) for x in v] for k, v in out.items()}
        seq_keys = [k for k, v in out.items() if v and isinstance(v[0], list)]
        padding = _padding_strategy(padding)
        lengths = [len(s) for s in out["input_ids"]]
        if padding == "max_length":
            if max_length is None:
                raise ValueError("padding='max_length' needs max_length")
            target = max_length
        elif padding == "do_not_pad":
            target = None
        else:
            target = max(lengths, default=0)
        if target is not None:
            padded = self._pad_dict({k: out[k] for k in seq_keys}, target, pad_to_multiple_of)
            out.update(padded)
        if "attention_mask" not in out:
            t = len(out["input_ids"][0]) if out["input_ids"] else 0
            out["attention_mask"] = [[1] * n + [0] * (t - n) for n in lengths]
        return _batch_encoding(out, return_tensors, self.num_flags)

    # ------------------------------------------------------------------------------------------ decoding
    @staticmethod
    def _bytes_of(token: str) -> bytes:
        if token in SPECIAL_TOKENS or token == MASK_TOKEN:
            return token.encode()
        table = unicode_to_bytes()
        body = token[1:] if token.startswith(WORD_START) else token
        return bytes(table[c] for c in body if c in table)

    def decode(self, ids, flags=None, *, skip_special_tokens: bool = True) -> str:
        """Ids + flags -> text. Exact inverse of encoding; total on any ids and flags a model may produce.

        Args:
            ids: (T,) token ids (list, numpy or torch). Ids outside the vocabulary decode as ``<unk>``.
            flags: (T, F) flag values, a flag is on when >= 0.5; ``None`` means all off.
            skip_special_tokens: drop special and padding rows (otherwise they are written as ``<s>`` etc.).
        """
        with _no_gc():
            return self._decode(ids, flags, skip_special_tokens)

    def _decode(self, ids, flags, skip_special_tokens: bool) -> str:
        ids = _tolist(ids)
        if ids and not all(type(i) is int for i in ids):
            ids = [int(i) for i in ids]
        if flags is None:
            flags = [self._zero_row] * len(ids)
        else:
            flags = _tolist(flags)
            if len(flags) != len(ids):
                raise ValueError(f"decode got {len(ids)} ids but {len(flags)} flag rows")
        kind, cache, size = self._kind, self._word_cache, self.vocab_size
        out: list[str] = []
        i, n = 0, len(ids)
        while i < n:
            t = ids[i]
            if not 0 <= t < size or kind[t] == 2:  # special, padding or out of range: its own row, no word
                if not skip_special_tokens:
                    out.append(self._id_to_token[t] if 0 <= t < size else "<unk>")
                i += 1
                continue
            j = i + 1
            while j < n and 0 <= ids[j] < size and kind[ids[j]] == 0:
                j += 1
            # subtle: a word takes the flags of its first row (a model may predict different ones per row)
            key = (tuple(ids[i:j]), tuple(flags[i]))
            text = cache.get(key)
            if text is None:
                text = self._join_word([self._token_bytes[x] for x in ids[i:j]], flags[i])
                if len(cache) >= _CACHE_LIMIT:
                    cache.clear()
                cache[key] = text
            out.append(text)
            i = j
        return "".join(out)

    def _join_word(self, parts: list[bytes], flags) -> str:
        raw = b"".join(parts)
        try:
            root = raw.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:  # a model's ids may spell invalid UTF-8: never raise on model output
            root = raw.decode("utf-8", "replace")
        return self.deconstructor.join(root, flags)

    def batch_decode(self, ids_batch, flags_batch=None, *, skip_special_tokens: bool = True) -> list[str]:
        """Decode a batch: (B, T) ids and (B, T, F) flags; padding rows are dropped."""
        ids_batch = _tolist(ids_batch)
        flags_batch = [None] * len(ids_batch) if flags_batch is None else _tolist(flags_batch)
        with _no_gc():
            return [self._decode(i, f, skip_special_tokens) for i, f in zip(ids_batch, flags_batch)]

    # ------------------------------------------------------------------------------------------ save / load
    def save_pretrained(self, directory: str | os.PathLike) -> list[str]:
        """Write the tokenizer to a folder: ``r2d_tokenizer.json`` (versioned settings and flag schema),
        ``bpe.json`` (the BPE, ``tokenizers`` format) and ``deconstruction.tsv`` (the list).

        Returns:
            The paths written.
        """
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        config = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "flag_names": list(self.flag_names),
            "word_start_marker": WORD_START,
            "special_tokens": self.special_tokens,
            "model_max_length": self.model_max_length,
            "vocab_size": self.vocab_size,
            "bpe_file": BPE_FILE,
            "deconstruction_list": LIST_FILE,
        }
        (d / CONFIG_FILE).write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        self._bpe.save(str(d / BPE_FILE), pretty=True)
        self.deconstructor.list.write(d / LIST_FILE, header="r2d deconstruction list (tilde format)")
        return [str(d / CONFIG_FILE), str(d / BPE_FILE), str(d / LIST_FILE)]

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike = "r2d-en", **overrides: Any) -> "R2DTokenizer":
        """Load ``"r2d-en"`` (bundled, no network) or a folder written by :meth:`save_pretrained`.

        Raises:
            FileNotFoundError: no such bundled name or folder.
            ValueError: the folder is not an r2d tokenizer, or its version is newer than this r2d.
        """
        path = Path(name_or_path)
        if str(name_or_path) in BUNDLED and not path.exists():
            path = bundled_path(str(name_or_path))
        cfg_path = path / CONFIG_FILE
        if not cfg_path.is_file():
            raise FileNotFoundError(
                f"no r2d tokenizer at {str(name_or_path)!r}: expected a folder with {CONFIG_FILE} "
                f"or one of the bundled names {sorted(BUNDLED)}")
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
        if cfg.get("format") != FORMAT_NAME:
            raise ValueError(f"{cfg_path}: 'format' is {cfg.get('format')!r}, expected {FORMAT_NAME!r}")
        if int(cfg.get("version", 0)) > FORMAT_VERSION:
            raise ValueError(f"{cfg_path}: format version {cfg['version']} is newer than this r2d "
                             f"({FORMAT_VERSION}); upgrade r2d")
        from tokenizers import Tokenizer

        bpe = Tokenizer.from_file(str(path / cfg.get("bpe_file", BPE_FILE)))
        list_path = path / cfg.get("deconstruction_list", LIST_FILE)
        lst = DeconstructionList.read(list_path, check_spelling=False) if list_path.is_file() else None
        kwargs = dict(bpe=bpe, deconstruction_list=lst, flag_names=cfg["flag_names"],
                      model_max_length=cfg.get("model_max_length", 512))
        kwargs.update(overrides)
        return cls(**kwargs)

    # ------------------------------------------------------------------------------------------ training
    @classmethod
    def train(
        cls,
        files: Iterable[str | os.PathLike] | None = None,
        *,
        texts: Iterable[str] | None = None,
        word_counts: Mapping[str, float] | str | None = None,
        vocab_size: int = 50_265,
        deconstruction_list: DeconstructionList | str | os.PathLike | None = "en",
        flag_names: Sequence[str] | None = None,
        min_frequency: int = 2,
        model_max_length: int = 512,
        show_progress: bool = False,
    ) -> "R2DTokenizer":
        """Train the root BPE from corpus files, an iterator of texts, or word counts.

        Every text (or word) goes through step 1 first, so the BPE sees roots only, each once per occurrence
        (``riding`` counts for ``ride``; ``Dogs`` for ``dog``).

        Args:
            files: text files (``.gz`` read transparently; WikiExtractor ``<doc>`` lines are skipped).
            texts: texts to count instead of (or besides) files.
            word_counts: ``{word: count}`` (floats are scaled), or ``"wordfreq:en"`` (wordfreq's top English
                words with their frequencies, plus numbers and punctuation), or a file of ``word<TAB>count``.
            vocab_size: the whole vocabulary: 4 specials + BPE tokens + ``<mask>``.
            deconstruction_list: ``"en"`` (the bundled English list), a path, a list, or ``None``.
            flag_names: the flag schema (default: the seven flags; add ``Suffix_ly`` etc. to split more).
            min_frequency: merges seen fewer times than this are not learned.
        """
        from r2d.text.corpus import count_texts, iter_corpus_lines, load_word_counts

        lst = load_list(deconstruction_list)
        schema = FlagSchema(tuple(flag_names)) if flag_names is not None else FlagSchema.default()
        decon = Deconstructor(lst, schema)
        if vocab_size < len(SPECIAL_TOKENS) + 1 + 257:
            raise ValueError(f"vocab_size={vocab_size} is too small: 4 specials + 257 base symbols + <mask> "
                             f"need at least {len(SPECIAL_TOKENS) + 258}")
        counts: Counter[str] = Counter()
        if files is not None:
            counts.update(count_texts(iter_corpus_lines(files, show_progress=show_progress)))
        if texts is not None:
            counts.update(count_texts(texts))
        if word_counts is not None:
            counts.update(load_word_counts(word_counts))
        if not counts:
            raise ValueError("train() needs files, texts or word_counts with at least one word")
        root_counts: Counter[str] = Counter()
        for piece, c in counts.items():
            root_counts[decon.split(piece)[0]] += c
        bpe = _train_bpe(root_counts, vocab_size, min_frequency, show_progress)
        return cls(bpe=bpe, deconstruction_list=lst, flag_names=schema.names, model_max_length=model_max_length)


@contextlib.contextmanager
def _no_gc():
    """Pause the cyclic garbage collector while encoding: the output is millions of small lists and tuples that
    hold no cycles, and every collection would also walk all the (large) data the caller keeps alive."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def bundled_path(name: str) -> Path:
    """Folder of a bundled tokenizer inside the package."""
    return Path(__file__).resolve().parents[1] / "data" / BUNDLED[name]


def load_list(spec: DeconstructionList | str | os.PathLike | None) -> DeconstructionList | None:
    """``"en"`` -> the bundled English list; a path -> that file (validated); a list or ``None`` as is."""
    if spec is None or isinstance(spec, DeconstructionList):
        return spec
    if str(spec) == "en":
        spec = Path(__file__).resolve().parents[1] / "data" / "en.tsv"
    return DeconstructionList.read(spec)


def _train_bpe(root_counts: Mapping[str, int], vocab_size: int, min_frequency: int, show_progress: bool):
    from tokenizers import Tokenizer, pre_tokenizers, trainers
    from tokenizers.models import BPE

    alphabet = sorted(set(bytes_to_unicode().values())) + [WORD_START]
    tok = Tokenizer(BPE())
    # The training text is "▁word ▁word ..." (no real spaces occur: bytes are mapped to printable characters),
    # so whitespace splitting gives back the roots, each with its count, without one Python string per use.
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - 1, min_frequency=min_frequency, special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=alphabet, show_progress=show_progress, limit_alphabet=len(alphabet),
    )

    def chunks() -> Iterator[str]:
        for root, c in root_counts.items():
            sym = root_to_symbols(root)
            c = int(c)
            while c > 0:
                k = min(c, 4096)
                yield " ".join([sym] * k)
                c -= k

    tok.train_from_iterator(chunks(), trainer=trainer)
    tok.pre_tokenizer = None
    tok.add_special_tokens([MASK_TOKEN])
    return tok


# ---------------------------------------------------------------------------------------------- helpers
def _check_text(x: Any, what: str) -> None:
    if not isinstance(x, str):
        raise TypeError(f"{what} must be a str (or a list of str for a batch), got {type(x).__name__}")


def _as_batch(x: Any, what: str) -> list[str]:
    if isinstance(x, str):
        return [x]
    if x is None or isinstance(x, (bytes, bytearray)) or not isinstance(x, (list, tuple)):
        raise TypeError(f"{what} must be a str or a list of str, got {type(x).__name__}")
    for i, t in enumerate(x):
        if not isinstance(t, str):
            raise TypeError(f"{what}[{i}] must be a str, got {type(t).__name__}")
    return list(x)


def _padding_strategy(padding: PaddingArg) -> str:
    if padding is True or padding == "longest":
        return "longest"
    if padding is False or padding == "do_not_pad" or padding is None:
        return "do_not_pad"
    if padding == "max_length":
        return "max_length"
    raise ValueError(f"padding={padding!r}: expected False, True, 'longest', 'max_length' or 'do_not_pad'")


def _truncation_strategy(truncation: TruncationArg) -> str:
    if truncation is True or truncation == "longest_first":
        return "longest_first"
    if truncation is False or truncation is None or truncation == "do_not_truncate":
        return "do_not_truncate"
    if truncation in ("only_first", "only_second"):
        return truncation
    raise ValueError(f"truncation={truncation!r}: expected False, True, 'longest_first', 'only_first' or 'only_second'")


def _cut(seq, n: int):
    ids, flags, offs = seq
    return ids[:n], flags[:n], None if offs is None else offs[:n]


def _truncate(a, b, room: int, strategy: str):
    """Cut (ids, flags, offsets) triples so that they fit ``room`` rows together."""
    la, lb = len(a[0]), len(b[0]) if b is not None else 0
    if la + lb <= room:
        return a, b
    if b is None or strategy == "only_first":
        keep = room - lb
        if keep < 0:
            raise ValueError(f"truncation='only_first' cannot fit: the second text alone has {lb} rows, room is {room}")
        return _cut(a, keep), b
    if strategy == "only_second":
        keep = room - la
        if keep < 0:
            raise ValueError(f"truncation='only_second' cannot fit: the first text alone has {la} rows, room is {room}")
        return a, _cut(b, keep)
    # longest_first: take rows from the longer one, one at a time (ties: from the first)
    while la + lb > room:
        if la >= lb:
            la -= 1
        else:
            lb -= 1
    return _cut(a, la), _cut(b, lb)


def _tolist(x: Any):
    if hasattr(x, "tolist"):
        return x.tolist()
    if isinstance(x, tuple):
        return list(x)
    return x


class BatchEncoding(dict):
    """The encoder's output: a ``dict`` of model inputs (so ``datasets``, ``DataLoader`` and the HF ``Trainer``
    take it as is) with attribute access and ``.to(device)``, like ``transformers.BatchEncoding``."""

    def __getattr__(self, key: str):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def to(self, device) -> "BatchEncoding":
        """Move every tensor to ``device`` (other values are kept)."""
        return BatchEncoding({k: v.to(device) if hasattr(v, "to") else v for k, v in self.items()})


def _batch_encoding(data: dict, return_tensors: str | None, num_flags: int) -> BatchEncoding:
    if return_tensors is None:
        return BatchEncoding(data)
    if return_tensors not in ("np", "pt"):
        raise ValueError(f"return_tensors={return_tensors!r}: expected None, 'np' or 'pt'")
    arrays = {}
    for k, v in data.items():
        try:
            arr = np.asarray(v, dtype=np.int64)
        except ValueError as err:
            raise ValueError(f"cannot make a tensor of {k!r}: sequences differ in length; use padding=True") from err
        if k == "flags" and arr.size == 0 and (arr.ndim == 1 or arr.shape[-1] != num_flags):
            arr = arr.reshape(*arr.shape, num_flags)  # subtle: no rows at all still has F columns
        arrays[k] = arr
    if return_tensors == "pt":
        import torch

        arrays = {k: torch.from_numpy(v) for k, v in arrays.items()}
    return BatchEncoding(arrays)
