"""The tokenizer core: a batch of texts <-> flat arrays of ids and flag rows, in the spirit of ``tiktoken``.

Texts are split into pieces (:mod:`r2d.text.pretokenize`), each piece into a root and a flag row
(:mod:`r2d.text.transform`), and every root into BPE ids by a byte-level BPE trained on roots only (``tokenizers``,
Rust). The first BPE piece of a root carries the word-start marker ``▁`` ("new word", not "space": spacing is the
``NoSpace`` flag); every row of a word carries the word's flags. Decoding is :mod:`r2d.tokenizer.decode`.

Speed comes from computing each distinct piece once: a piece gets a number, its rows live in numpy tables,
and a batch is gathered from them with a few vectorised numpy operations (new roots go through the BPE in one
batched call). The cache is bounded by ``cache_size``; the batch in hand is never cut short.

Padding, truncation, pairs, special-token layout and tensors are the Hugging Face-compatible wrapper's
(:mod:`r2d.tokenizer.hf`). It never touches process-wide state (no GC switching).

>>> from r2d.tokenizer.hf import R2DTokenizer
>>> core = R2DTokenizer.from_pretrained("r2d-en").core
>>> enc = core.encode_batch(["I enjoyed riding.", "Dogs"])
>>> enc[0].ids.dtype, enc[0].flags.shape, enc[1].flags.tolist()
(dtype('int32'), (4, 7), [[1, 1, 0, 1, 0, 0, 0]])
>>> core.decode_batch([enc[0].ids, enc[1].ids], [enc[0].flags, enc[1].flags])
['I enjoyed riding.', 'Dogs']
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from itertools import chain, repeat
from typing import NamedTuple, Sequence

import numpy as np

from r2d.text.pretokenize import split_pieces
from r2d.text.transform import Deconstructor
from r2d.tokenizer.alphabet import MASK_TOKEN, SPECIAL_TOKENS, WORD_START, root_to_symbols, token_bytes
from r2d.tokenizer.arrays import Column, ragged
from r2d.tokenizer.decode import Decoder
from r2d.tokenizer.flag_rows import FlagRows

logger = logging.getLogger(__name__)

DEFAULT_CACHE_SIZE = 1_000_000
_ROOTS_PER_CALL = 4096  # new roots per BPE string: several strings let `tokenizers` use its threads

# ---------------------------------------------------------------------------------------------- results
class TextRows(NamedTuple):
    """The rows of one text: ``ids`` (T,) int32, ``flags`` (T, F) uint8, ``offsets`` (T, 2) int32 or ``None``."""

    ids: np.ndarray
    flags: np.ndarray
    offsets: np.ndarray | None


@dataclass(frozen=True)
class Encoded:
    """A batch encoded to flat arrays: text ``b`` owns rows ``starts[b]:starts[b + 1]``.

    Attributes:
        ids: (N,) int32 token ids of all texts, one after the other.
        flag_rows: (N,) int32: each row's flag row, as an index into ``flag_table``.
        flag_table: (K, F) uint8 distinct flag rows; row 0 is all zeros.
        starts: (B + 1,) int64 row boundaries of the texts.
        offsets: (N, 2) int32 ``(start, end)`` character span of each row's word in its text (the space the
            pre-tokenizer attached is not part of it), or ``None`` when not asked for.
    """

    ids: np.ndarray
    flag_rows: np.ndarray
    flag_table: np.ndarray
    starts: np.ndarray
    offsets: np.ndarray | None = None

    @property
    def flags(self) -> np.ndarray:
        """(N, F) uint8 flag matrix of all rows."""
        return self.flag_table[self.flag_rows]

    @property
    def lengths(self) -> np.ndarray:
        """(B,) rows per text."""
        return np.diff(self.starts)

    def __len__(self) -> int:
        return len(self.starts) - 1

    def __getitem__(self, b: int) -> TextRows:
        s, e = int(self.starts[b]), int(self.starts[b + 1])
        return TextRows(self.ids[s:e], self.flag_table[self.flag_rows[s:e]],
                        None if self.offsets is None else self.offsets[s:e])


# ---------------------------------------------------------------------------------------------- the core
class TokenizerCore:
    """Encode texts to arrays and decode arrays to texts, losslessly.

    Args:
        bpe: a ``tokenizers.Tokenizer`` whose model is the byte-level BPE over roots, with the four RoBERTa
            special tokens at ids 0-3 and ``<mask>`` as the last id.
        deconstructor: step 1 (piece <-> root + flags) for the flag schema and list in use.
        cache_size: how many distinct pieces (encoding) and words (decoding) to remember. When the cache is
            full it is emptied before the next batch's new pieces are added; the pieces of the batch in hand
            are always kept, so the cache holds at most ``max(cache_size, distinct pieces of one call)``.
    """

    def __init__(self, bpe, deconstructor: Deconstructor, *, cache_size: int = DEFAULT_CACHE_SIZE):
        from tokenizers import Tokenizer, pre_tokenizers

        if cache_size < 1:
            raise ValueError(f"cache_size={cache_size}: expected a positive number of pieces")
        vocab = bpe.get_vocab(with_added_tokens=True)
        for i, s in enumerate(SPECIAL_TOKENS):
            if vocab.get(s) != i:
                raise ValueError(f"the BPE vocabulary must have {s} at id {i} (RoBERTa's layout), found {vocab.get(s)}")
        if vocab.get(MASK_TOKEN) != len(vocab) - 1:
            raise ValueError(f"the BPE vocabulary must end with {MASK_TOKEN} (found id {vocab.get(MASK_TOKEN)})")
        self.bpe = bpe
        self.deconstructor = deconstructor
        self.num_flags = deconstructor.num_flags
        self.id_to_token: list[str] = [""] * len(vocab)
        for s, i in vocab.items():
            self.id_to_token[i] = s
        self.special_ids = (0, 1, 2, 3, len(vocab) - 1)
        # per id: 2 = special (its own row), 1 = starts a word, 0 = continues the word before it
        kind = np.array([t.startswith(WORD_START) for t in self.id_to_token], dtype=np.int8)
        kind[list(self.special_ids)] = 2
        self.kind = kind
        self.word_start = kind == 1
        self.token_bytes: list[bytes] = [token_bytes(t) for t in self.id_to_token]
        # The BPE of new roots: the same model, no added tokens, roots separated by spaces (a root's symbols
        # never hold a real space: every byte is mapped to a printable character).
        self._root_bpe = Tokenizer(bpe.model)
        self._root_bpe.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        self._space_col = deconstructor._ns
        self.flag_rows = FlagRows(self.num_flags, len(vocab))
        self.decoder = Decoder(deconstructor, self.id_to_token, kind, self.token_bytes, self.flag_rows,
                               self.special_ids, cache_size=cache_size)
        self._cache_size = cache_size
        self._clear_pieces()

    @property
    def cache_size(self) -> int:
        """How many distinct pieces (encoding) and words (decoding) to remember; takes effect at the next call."""
        return self._cache_size

    @cache_size.setter
    def cache_size(self, n: int) -> None:
        self._cache_size = self.decoder.cache.size = n

    @property
    def flag_table(self) -> np.ndarray:
        """(K, F) uint8 the distinct flag rows met so far; row 0 is all zeros."""
        return self.flag_rows.table

    @property
    def flag_objects(self) -> np.ndarray:
        """(K,) the same rows as shared tuples (an object array, for fast gathers)."""
        return self.flag_rows.objects

    @property
    def cached_words(self) -> int:
        """How many spelled words (and rows of words) the decoding cache holds now."""
        return self.decoder.cached_words

    # ------------------------------------------------------------------------------------------ caches
    def _clear_pieces(self) -> None:
        self._piece_index: dict[str, int] = {}  # piece -> its number in the tables below
        # subtle: tables of numbers, never a Python tuple per entry: the garbage collector would walk them all
        self._root_index: dict[str, int] = {}  # root -> its number in the two columns below
        self._r_first = Column(np.int64)  # per root: its first row in _rows
        self._r_nrows = Column(np.int64)  # per root: its number of rows
        self._rows = Column(np.int32)  # the BPE ids of every cached root, one root after the other
        self._p_first = Column(np.int64)  # per piece: first row of its root in _rows
        self._p_nrows = Column(np.int64)  # per piece: number of rows
        self._p_flags = Column(np.int32)  # per piece: its flag row (index into the flag table)
        self._p_space = Column(np.int64)  # per piece: 1 if a leading space is not part of the word's span

    @property
    def cached_pieces(self) -> int:
        """How many distinct pieces the encoding cache holds now."""
        return len(self._piece_index)

    def _piece_numbers(self, pieces: list[str]) -> np.ndarray:
        """(P,) int64: the number of every piece, computing the pieces not cached yet."""
        numbers = np.fromiter(map(self._piece_index.get, pieces, repeat(-1)), dtype=np.int64, count=len(pieces))
        missing = np.flatnonzero(numbers < 0)
        if len(missing):
            new = set(map(pieces.__getitem__, missing.tolist()))
            if len(self._piece_index) + len(new) > self._cache_size:
                # subtle: emptied *before* this batch's pieces go in, so none of them can go missing
                logger.debug("piece cache full (%d + %d > %d): emptied", len(self._piece_index), len(new),
                             self._cache_size)
                self._clear_pieces()
                new, missing = set(pieces), np.arange(len(pieces))
            self._add_pieces(list(new))
            numbers[missing] = np.fromiter(map(self._piece_index.__getitem__, map(pieces.__getitem__, missing.tolist())),
                                           dtype=np.int64, count=len(missing))
        return numbers

    def _add_pieces(self, pieces: list[str]) -> None:
        roots, rows = self.deconstructor.split_many(pieces)
        missing = list(set(roots).difference(self._root_index))
        if missing:
            self._add_roots(missing)
        for row in set(rows).difference(self.flag_rows.number):
            self.flag_rows.add(row)
        root_no = np.fromiter(map(self._root_index.__getitem__, roots), dtype=np.int64, count=len(pieces))
        flags = np.fromiter(map(self.flag_rows.number.__getitem__, rows), dtype=np.int32, count=len(pieces))
        spaced = np.fromiter(map(str.startswith, pieces, repeat(" ")), dtype=bool, count=len(pieces))
        if self._space_col is None:  # a schema without NoSpace keeps the space in the root, so in the span
            space = np.zeros(len(pieces), dtype=bool)
        else:
            space = spaced & (self.flag_rows.table[flags, self._space_col] == 0)
        base = self._p_first.extend(self._r_first.array[root_no])
        self._p_nrows.extend(self._r_nrows.array[root_no])
        self._p_flags.extend(flags)
        self._p_space.extend(space.astype(np.int64))
        self._piece_index.update(zip(pieces, range(base, base + len(pieces))))

    def _add_roots(self, roots: list[str]) -> None:
        """BPE every new root (several roots per ``tokenizers`` string, the strings in one batched call)."""
        texts = [" ".join(map(root_to_symbols, roots[i:i + _ROOTS_PER_CALL]))
                 for i in range(0, len(roots), _ROOTS_PER_CALL)]
        encs = self._root_bpe.encode_batch_fast(texts, add_special_tokens=False)
        ids = np.fromiter(chain.from_iterable(e.ids for e in encs), dtype=np.int32)
        starts = np.flatnonzero(self.word_start[ids])
        if len(starts) != len(roots):
            raise ValueError(f"the BPE split {len(roots)} roots into {len(starts)} words: its alphabet must hold "
                             f"the word-start marker {WORD_START!r} and all 256 byte symbols")
        base = self._rows.extend(ids)
        self._r_nrows.extend(np.diff(starts, append=len(ids)))
        first = self._r_first.extend(starts + base)
        self._root_index.update(zip(roots, range(first, first + len(roots))))

    # ------------------------------------------------------------------------------------------ encoding
    def encode_batch(self, texts: Sequence[str], *, offsets: bool = False) -> Encoded:
        """Encode texts (no special rows) to flat arrays.

        Args:
            texts: the texts (each a ``str``; the caller checks types).
            offsets: also compute each row's word span ``(start, end)`` in its text.

        Returns:
            An :class:`Encoded` batch: ``ids`` (N,) int32, ``flags`` (N, F) uint8, ``starts`` (B + 1,).
        """
        counts: list[int] = []

        def pieces_of(text: str) -> list[str]:
            pieces = split_pieces(text)
            counts.append(len(pieces))
            return pieces

        # subtle: each text's list of pieces is freed as soon as it is read, so a batch does not make a thousand
        # live lists for the garbage collector to count and walk
        flat = list(chain.from_iterable(map(pieces_of, texts)))
        per_text = np.array(counts, dtype=np.int64)
        numbers = self._piece_numbers(flat)  # (P,)
        nrows = self._p_nrows.array[numbers]  # (P,)
        ends = np.cumsum(nrows)  # (P,) row after each piece
        n = int(ends[-1]) if len(ends) else 0
        first = self._p_first.array[numbers]
        if n == len(numbers):  # every piece one row (common in small batches): no repeat needed
            rows, flag_rows = first, self._p_flags.array[numbers]
        else:
            rows = ragged(first, first + nrows)
            flag_rows = np.repeat(self._p_flags.array[numbers], nrows)
        piece_bounds = np.concatenate(([0], np.cumsum(per_text)))  # (B + 1,)
        row_bounds = np.concatenate(([0], ends))[piece_bounds]  # (B + 1,)
        offs = None
        if offsets:
            offs = self._offsets(flat, numbers, nrows, piece_bounds)
        return Encoded(self._rows.array[rows], flag_rows.astype(np.int32, copy=False), self.flag_rows.table,
                       row_bounds.astype(np.int64), offs)

    def _offsets(self, flat: list[str], numbers, nrows, piece_bounds) -> np.ndarray:
        """(N, 2) int32 word spans: pieces cover their text, so spans are running sums of piece lengths."""
        lengths = np.fromiter(map(len, flat), dtype=np.int64, count=len(flat))
        end = np.cumsum(lengths)
        start = end - lengths
        text_base = np.concatenate(([0], end))[piece_bounds[:-1]]  # (B,) first character of each text
        base = np.repeat(text_base, np.diff(piece_bounds))
        start = start - base + self._p_space.array[numbers]
        end = end - base
        return np.stack([np.repeat(start, nrows), np.repeat(end, nrows)], axis=1).astype(np.int32)

    def encode(self, text: str) -> TextRows:
        """One text -> ``TextRows(ids (T,), flags (T, F), None)``."""
        return self.encode_batch([text])[0]

    # ------------------------------------------------------------------------------------------ decoding
    def decode_batch(self, ids: Sequence, flags: Sequence | None = None, *, skip_special_tokens: bool = True
                     ) -> list[str]:
        """Ids + flags of several texts -> the texts (see :meth:`r2d.tokenizer.decode.Decoder.decode_batch`)."""
        return self.decoder.decode_batch(ids, flags, skip_special_tokens=skip_special_tokens)

    def decode(self, ids, flags=None, *, skip_special_tokens: bool = True) -> str:
        """One text's ids (T,) and flags (T, F) -> the text (see :meth:`r2d.tokenizer.decode.Decoder.decode`)."""
        return self.decoder.decode(ids, flags, skip_special_tokens=skip_special_tokens)
