"""R2DTokenizer: text <-> ids + flag matrix, losslessly, with the Hugging Face tokenizer interface.

A thin wrapper over the core (:mod:`r2d.tokenizer.core`): argument handling, RoBERTa's special-row layout
(``<s>``=0, ``<pad>``=1, ``</s>``=2, ``<unk>``=3, BPE tokens, ``<mask>`` last; pairs as ``<s> A </s></s> B </s>``),
truncation and padding (:mod:`r2d.tokenizer.layout`), a real ``transformers.BatchEncoding`` as output (its
``convert_to_tensors`` makes the tensors), save/load (:mod:`r2d.tokenizer.files`) and training
(:mod:`r2d.tokenizer.train`). Special and padding rows carry no flags.

A saved folder has a ``tokenizer_config.json`` naming the class, which is how ``AutoTokenizer.from_pretrained``
finds it once the class is registered. The model side registers it (:mod:`r2d.modeling.encoder`, for both model
types; importing any r2d model class does it), not this module: ``transformers.models.auto`` imports torch, which
``r2d tokenize`` never loads, and the registration takes a config class, which lives in :mod:`r2d.modeling`.

>>> tok = R2DTokenizer.from_pretrained("r2d-en")
>>> text = "I enjoyed riding in Australia's parks."
>>> [(r.root, r.flags) for r in tok.split(text)][:2]
[('i', (1, 1, 0, 0, 0, 0, 0)), ('enjoy', (0, 0, 0, 0, 1, 0, 0))]
>>> enc = tok(text)
>>> tok.decode(enc["input_ids"], enc["flags"]) == text
True
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from r2d.flags import FlagSchema
from r2d.lists.deconstruct import DeconstructionList
from r2d.text.pretokenize import split_pieces_with_offsets
from r2d.text.transform import Deconstructor
from r2d.tokenizer import files, layout
from r2d.tokenizer.alphabet import (  # noqa: F401  (bytes_to_unicode & co. re-exported for older importers)
    MASK_TOKEN, SPECIAL_TOKENS, WORD_START, bytes_to_unicode, root_to_symbols, unicode_to_bytes,
)
from r2d.tokenizer.arrays import flatten_batch, to_numpy
from r2d.tokenizer.core import DEFAULT_CACHE_SIZE, TokenizerCore
from r2d.tokenizer.files import bundled_path, load_list  # noqa: F401  (re-exported for older importers)
from r2d.tokenizer.hf_args import (PaddingArg, TruncationArg, as_batch, check_tensors, check_text, ids_and_flags,
                                   padding_strategy, per_row, torch_module, transformers_api, truncation_strategy)
from r2d.tokenizer.train import check_min_frequency, check_vocab_size, count_roots, train_bpe, unused_affixes

logger = logging.getLogger(__name__)



@dataclass(frozen=True)
class Row:
    """One row of step 1: a root and its flags (one 0/1 per flag name), with its piece's offsets."""

    root: str
    flags: tuple[int, ...]
    start: int = 0
    end: int = 0


class R2DTokenizer:
    """The 2D tokenizer: encode text to ``input_ids`` + ``flags``, decode them back exactly.

    Build one with :meth:`from_pretrained` (``"r2d-en"`` or a saved folder) or :meth:`train`. The arrays-only
    core (no padding, no specials) is :attr:`core`.

    Args:
        bpe: a ``tokenizers.Tokenizer`` whose model is the byte-level BPE over roots, with the four RoBERTa
            special tokens at ids 0-3 and ``<mask>`` as the last id.
        deconstruction_list: the list that defines affix flags (``None``: no affix flag is ever set).
        flag_names: the flag schema (default: the article's seven flags).
        model_max_length: the length ``truncation=True`` cuts to when ``max_length`` is not given.
        cache_size: distinct pieces (and decoded words) kept in memory; see :class:`r2d.tokenizer.core.TokenizerCore`.
    """

    model_input_names = ["input_ids", "attention_mask", "flags"]
    padding_side = "right"
    # RoBERTa's special tokens; ``__init__`` gives their ids (the core checks the vocabulary has them there)
    bos_token, pad_token, eos_token, unk_token = SPECIAL_TOKENS
    cls_token, sep_token = bos_token, eos_token  # <s> A </s></s> B </s>
    mask_token = MASK_TOKEN

    def __init__(
        self,
        *,
        bpe,
        deconstruction_list: DeconstructionList | None = None,
        flag_names: Sequence[str] | None = None,
        model_max_length: int = 512,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ):
        self.schema = FlagSchema(tuple(flag_names)) if flag_names is not None else FlagSchema.default()
        self.deconstructor = Deconstructor(deconstruction_list, self.schema)
        self.model_max_length = model_max_length
        self.core = TokenizerCore(bpe, self.deconstructor, cache_size=cache_size)
        self._bpe = bpe
        self._id_to_token = self.core.id_to_token
        self.bos_token_id, self.pad_token_id, self.eos_token_id, self.unk_token_id = 0, 1, 2, 3
        self.cls_token_id, self.sep_token_id = 0, 2
        self.mask_token_id = len(self._id_to_token) - 1
        self.all_special_ids = list(self.core.special_ids)
        self.word_start = self.core.word_start  # (V,) bool: the id begins a word
        self._token_bytes = self.core.token_bytes  # (V,) the bytes each id stands for (kept for older callers)

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
    def cache_size(self) -> int:
        """Distinct pieces (and decoded words) kept in memory; setting it takes effect at the next call."""
        return self.core.cache_size

    @cache_size.setter
    def cache_size(self, n: int) -> None:
        if n < 1:
            raise ValueError(f"cache_size={n}: expected a positive number of pieces")
        self.core.cache_size = n

    @property
    def special_tokens(self) -> dict[str, int]:
        return {**{s: i for i, s in enumerate(SPECIAL_TOKENS)}, MASK_TOKEN: self.mask_token_id}

    @property
    def special_tokens_map(self) -> dict[str, str]:
        """Role -> token, as Hugging Face tokenizers give it (``{"bos_token": "<s>", ...}``)."""
        return {role: getattr(self, role) for role in _SPECIAL_ROLES}

    @property
    def all_special_tokens(self) -> list[str]:
        """The special tokens, in the order of ``all_special_ids``."""
        return self.convert_ids_to_tokens(self.all_special_ids)

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
        check_text(text, "text")
        return [Row(*self.deconstructor.split(p), s, e) for p, s, e in split_pieces_with_offsets(text)]

    def join(self, rows: Iterable[Row | tuple[str, Sequence]]) -> str:
        """Inverse of :meth:`split`: rows (or ``(root, flags)`` pairs) -> text."""
        return "".join(self.deconstructor.join(r[0] if isinstance(r, tuple) else r.root,
                                               r[1] if isinstance(r, tuple) else r.flags) for r in rows)

    # ------------------------------------------------------------------------------------------ step 2
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
            return_tensors: ``None`` (lists), ``"np"`` or ``"pt"`` (int64).
            return_offsets_mapping: add ``offset_mapping``: each row's ``(start, end)`` in its text; all rows of
                a word share the word's span (the attached space excluded); special and pad rows ``(0, 0)``.
            return_special_tokens_mask: add ``special_tokens_mask`` (1 on special and pad rows).

        Returns:
            A ``transformers.BatchEncoding`` with ``input_ids`` (B, T), ``attention_mask`` (B, T) and
            ``flags`` (B, T, F) of 0/1; unbatched (T,), (T, F) for a single string. Without tensors, ``flags``
            holds one tuple per row.
        """
        batched = not isinstance(text, str)
        texts = as_batch(text, "text")
        pairs = None
        if text_pair is not None:
            pairs = as_batch(text_pair, "text_pair")
            if batched != (not isinstance(text_pair, str)) or len(pairs) != len(texts):
                raise ValueError(
                    f"text_pair must match text: got {len(texts)} text(s) and {len(pairs)} pair(s) "
                    f"({'batched' if batched else 'single'} text)")
        padding = padding_strategy(padding)
        truncation = truncation_strategy(truncation)
        check_tensors(return_tensors)
        n_special = (4 if pairs is not None else 2) if add_special_tokens else 0
        if truncation != "do_not_truncate" and max_length is None:
            max_length = self.model_max_length
        if truncation != "do_not_truncate" and max_length < n_special + 1:
            raise ValueError(
                f"max_length={max_length} leaves no room for text: {n_special} special rows are needed "
                f"({'<s> A </s></s> B </s>' if pairs is not None else '<s> A </s>'}), so use max_length >= {n_special + 1}")
        if padding == "max_length" and max_length is None:
            raise ValueError("padding='max_length' needs max_length")

        a = self.core.encode_batch(texts, offsets=return_offsets_mapping)
        b = self.core.encode_batch(pairs, offsets=return_offsets_mapping) if pairs is not None else None
        keep_a, keep_b = a.lengths, None if b is None else b.lengths
        if truncation != "do_not_truncate":
            keep_a, keep_b = layout.truncate(keep_a, keep_b, max_length - n_special, truncation)
        rows = layout.lay_out(a, b, keep_a, keep_b, add_special_tokens=add_special_tokens,
                              bos=self.bos_token_id, eos=self.eos_token_id)
        columns = {"input_ids": rows.ids, "flags": rows.flag_rows}
        if return_offsets_mapping:
            columns["offset_mapping"] = rows.offsets
        if return_special_tokens_mask:
            columns["special_tokens_mask"] = rows.special
        length = None
        if padding != "do_not_pad":
            length = layout.padded_length(rows.lengths, padding, max_length, pad_to_multiple_of)
        return self._batch_encoding(columns, rows.starts, length, return_tensors, batched,
                                    flag_table=self.core.flag_rows.table, attention_mask=return_attention_mask)

    def _batch_encoding(self, columns: dict[str, np.ndarray], starts: np.ndarray, length: int | None,
                        return_tensors: str | None, batched: bool, flag_table: np.ndarray | None = None,
                        attention_mask: bool = False):
        """Flat per-row columns -> a ``transformers.BatchEncoding`` (padded to ``length`` rows unless ``None``).

        Args:
            columns: key -> (N, ...) values of all rows, text ``b`` at ``starts[b]:starts[b + 1]``.
            flag_table: when given, ``columns["flags"]`` holds indices into it (0 = all off), not flag values.
            attention_mask: add ``attention_mask`` (1 on every row of ``columns``, 0 on padding).
        """
        text_lengths = np.diff(starts)
        if attention_mask:  # 1 on every row here, 0 on the padding added below
            columns = {"input_ids": columns["input_ids"],
                       "attention_mask": np.ones(len(columns["input_ids"]), dtype=np.int64), **columns}
        if length is not None:
            columns = {k: layout.pad(v, starts, length, self._pad_value(k)).reshape(-1, *v.shape[1:])
                       for k, v in columns.items()}
            starts = np.arange(len(starts), dtype=np.int64) * length
        lengths = np.diff(starts)
        data: dict[str, Any] = {}
        if return_tensors is not None:
            if len(set(lengths.tolist())) > 1:
                raise ValueError(f"cannot make a tensor: the texts have {lengths.min()} to {lengths.max()} rows; "
                                 f"use padding=True")
            shape = (len(lengths), int(lengths[0]) if len(lengths) else 0)
            for k, v in columns.items():
                if flag_table is not None and k == "flags":
                    v = flag_table[v]
                v = v.astype(np.float32 if v.dtype.kind == "f" else np.int64, copy=False)
                v = v.reshape(*shape, *v.shape[1:])
                data[k] = v if batched else v[0]
        else:
            for k, v in columns.items():
                if attention_mask and length is None and k == "attention_mask":
                    data[k] = [[1] * n for n in text_lengths.tolist()]  # subtle: faster than slicing a list of ones
                    continue
                if flag_table is not None and k == "flags":
                    values = self.core.flag_rows.objects[v].tolist()  # one shared tuple per distinct row
                elif v.ndim == 2:
                    values = list(zip(*v.T.tolist())) if len(v) else []
                else:
                    values = v.tolist()
                data[k] = layout.split(values, starts)
            if not batched:
                data = {k: v[0] for k, v in data.items()}
        return transformers_api().BatchEncoding(data, tensor_type=return_tensors)

    def _pad_value(self, key: str):
        return self.pad_token_id if key == "input_ids" else layout.PAD_VALUES.get(key, 0)

    def pad(self, features, *, padding: PaddingArg = True, max_length: int | None = None,
            pad_to_multiple_of: int | None = None, return_tensors: str | None = "pt", **_: Any):
        """Pad already-encoded features (a list of dicts, or a dict of lists), like HF ``tokenizer.pad``.

        ``input_ids`` pad with ``<pad>``, ``attention_mask`` with 0, ``flags`` with all-zero rows, ``labels``
        and ``flag_labels`` with -100, other per-row keys with 0; per-example keys (e.g. a sequence-level
        ``label``) pass through. Works as the ``collate_fn`` of a PyTorch ``DataLoader`` and inside
        ``DataCollatorWithPadding``.

        Returns:
            A ``transformers.BatchEncoding`` (int64 tensors; float per-example values as float32).

        Raises:
            ValueError: no features, no ``input_ids``, or a per-row key whose rows do not match ``input_ids``.
        """
        if isinstance(features, Mapping):
            columns = dict(features)
        else:
            features = list(features)
            if not features:
                raise ValueError("pad() got no features")
            columns = {k: [f[k] for f in features] for k in features[0].keys()}
        if "input_ids" not in columns:
            raise ValueError(f"pad() needs 'input_ids' in every feature, got keys {sorted(columns)}")
        padding = padding_strategy(padding)
        check_tensors(return_tensors)
        _, starts = flatten_batch(columns["input_ids"], "input_ids", ndim=1)
        rows: dict[str, np.ndarray] = {}
        examples: dict[str, Any] = {}
        for k, v in columns.items():
            if not per_row(v):
                examples[k] = v
                continue
            flat, key_starts = flatten_batch(v, k)
            if not np.array_equal(key_starts, starts):
                if k in _ROW_KEYS:
                    raise ValueError(f"pad(): {k!r} has {np.diff(key_starts).tolist()} rows per example, "
                                     f"input_ids {np.diff(starts).tolist()}")
                examples[k] = v
                continue
            rows[k] = flat
        length = None
        if padding != "do_not_pad":
            length = layout.padded_length(np.diff(starts), padding, max_length, pad_to_multiple_of)
        out = self._batch_encoding(rows, starts, length, return_tensors, batched=True,
                                   attention_mask="attention_mask" not in rows)
        for k, v in examples.items():  # one value per example: numbers become tensors, anything else stays
            a = to_numpy(v)
            if return_tensors is None or a.dtype.kind not in "biuf":
                out[k] = v
                continue
            a = a.astype(np.float32) if a.dtype.kind == "f" else a
            out[k] = a if return_tensors == "np" else torch_module().from_numpy(np.ascontiguousarray(a))
        return out

    # ------------------------------------------------------------------------------------------ decoding
    def decode(self, ids, flags=None, *, skip_special_tokens: bool = True, assume_flags_off: bool = False) -> str:
        """Ids + flags -> text. Exact inverse of encoding; total on any ids and valid flags a model may produce.

        Args:
            ids: (T,) token ids (list, numpy or torch), or what ``tok(text)`` returned, whole (its ``input_ids``
                and ``flags`` are used). Ids outside the vocabulary decode as ``<unk>``.
            flags: (T, F) flags as 0/1 (bools or integers) or as probabilities in [0, 1] (a flag is on when its
                probability is >= 0.5), e.g. a model's ``flag_probs`` or ``torch.sigmoid(flag_logits)``. A word
                takes the flags of its first row.
            skip_special_tokens: drop special and padding rows (otherwise they are written as ``<s>`` etc.).
                A pair ``<s> A </s></s> B </s>`` then comes back as ``A + B``, nothing between them, as Hugging Face
                tokenizers decode a pair; keep the special rows (or decode each side of ``</s></s>``) to part them.
            assume_flags_off: decode without flags on purpose (every flag off: no capitals, no suffixes, a space
                before every word). Without flags and without it, decoding warns (``UserWarning``): ids alone
                rarely give the text back.

        Raises:
            ValueError: flags outside [0, 1] (raw logits), NaN, or a shape that does not match ``ids``; flags
                given twice (in the encoding and as ``flags``) or together with ``assume_flags_off``.
            TypeError: ids that are not integers, flags that are not numbers.

        >>> tok = R2DTokenizer.from_pretrained("r2d-en")
        >>> tok.decode(tok("Dogs riding"))
        'Dogs riding'
        >>> tok.decode(tok("Dogs riding")["input_ids"], assume_flags_off=True)
        ' dog ride'
        """
        ids, flags = ids_and_flags(ids, flags, assume_flags_off, "decode", self.num_flags)
        return self.core.decoder.decode(ids, flags, skip_special_tokens=skip_special_tokens)

    def batch_decode(self, ids_batch, flags_batch=None, *, skip_special_tokens: bool = True,
                     assume_flags_off: bool = False) -> list[str]:
        """Decode a batch: (B, T) ids and (B, T, F) flags (or lists of different lengths), or what
        ``tok(texts)`` returned, whole; see :meth:`decode`."""
        ids_batch, flags_batch = ids_and_flags(ids_batch, flags_batch, assume_flags_off, "batch_decode",
                                                self.num_flags)
        return self.core.decoder.decode_batch(ids_batch, flags_batch, skip_special_tokens=skip_special_tokens)

    # ------------------------------------------------------------------------------------------ save / load
    def save_pretrained(self, directory: str | os.PathLike) -> list[str]:
        """Write the tokenizer to a folder (see :mod:`r2d.tokenizer.files` for the format).

        Returns:
            The paths written.
        """
        return files.write_folder(directory, bpe=self._bpe, deconstruction_list=self.deconstructor.list,
                                  flag_names=self.flag_names, special_tokens=self.special_tokens,
                                  model_max_length=self.model_max_length, tokenizer_class=type(self).__name__)

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike = "r2d-en", **overrides: Any) -> "R2DTokenizer":
        """Load ``"r2d-en"`` (bundled, no network) or a folder written by :meth:`save_pretrained`.

        Args:
            name_or_path: a bundled name or a folder.
            overrides: constructor arguments that replace the saved ones (e.g. ``cache_size``). The options about
                fetching files that ``AutoTokenizer.from_pretrained`` passes on (``revision``, ``_from_auto``, ...)
                are ignored: a folder on disk needs none of them.

        Raises:
            FileNotFoundError: no such bundled name or folder.
            ValueError: the folder is not an r2d tokenizer, or its version is newer than this r2d.
        """
        settings = {k: v for k, v in overrides.items() if k not in _HF_LOADER_OPTIONS}
        return cls(**{**files.read_folder(name_or_path), **settings})

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

        Raises:
            ValueError: ``vocab_size`` or ``min_frequency`` out of range (checked before anything is counted).
        """
        lst = load_list(deconstruction_list)
        schema = FlagSchema(tuple(flag_names)) if flag_names is not None else FlagSchema.default()
        check_vocab_size(vocab_size)
        check_min_frequency(min_frequency)
        unused = unused_affixes(lst, schema)
        if unused:
            logger.warning("the deconstruction list never splits off %s: flags %s will always be 0",
                           ", ".join(unused), ", ".join(schema.affix_flags[a] for a in unused))
        roots = count_roots(Deconstructor(lst, schema), files=files, texts=texts, word_counts=word_counts,
                            show_progress=show_progress)
        bpe = train_bpe(roots, vocab_size, min_frequency, show_progress)
        return cls(bpe=bpe, deconstruction_list=lst, flag_names=schema.names, model_max_length=model_max_length)


# ---------------------------------------------------------------------------------------------- helpers
# Hugging Face's special-token roles, in the order of its ``special_tokens_map``.
_SPECIAL_ROLES = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")

# What ``AutoTokenizer.from_pretrained`` passes on about fetching files (``_from_auto``, ``_commit_hash`` and
# ``revision`` always); ``R2DTokenizer.from_pretrained`` reads a folder on disk and needs none of them.
_HF_LOADER_OPTIONS = frozenset({"_from_auto", "_commit_hash", "revision", "cache_dir", "force_download",
                                "local_files_only", "token", "proxies"})

# Keys that hold one value per row and must have as many rows as input_ids.
_ROW_KEYS = ("input_ids", "attention_mask", "flags", "flag_labels", "special_tokens_mask", "offset_mapping",
             "token_type_ids")
