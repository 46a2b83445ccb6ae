"""The tokenizer core: a batch of texts <-> flat arrays of ids and flag rows, in the spirit of ``tiktoken``.

Stage 4 of the pipeline (``text -> pieces -> roots + flags -> ids + flag matrix``). Texts are split into pieces
(:mod:`r2d.text.pretokenize`), each piece into a root and a flag row (:mod:`r2d.text.transform`), and every
root into BPE ids by a byte-level BPE trained on roots only (``tokenizers``, Rust). The first BPE piece of a
root carries the word-start marker ``▁`` ("new word", not "space": spacing is the ``NoSpace`` flag); every
row of a word carries the word's flags.

Speed comes from computing each distinct piece once: a piece gets a number, its rows live in numpy tables,
and a batch is gathered from them with a few vectorised numpy operations (new roots go through the BPE in one
batched call). Decoding is the same idea backwards: words are found with numpy, each distinct (flag row, ids)
word is spelled once into a byte arena, and a batch's text is gathered from the arena with numpy and decoded
from UTF-8 in one call. Both caches are bounded by ``cache_size``; the batch in hand is never cut short.

This module knows nothing of padding, truncation, pairs, special-token layout or tensors: that is the Hugging
Face-compatible wrapper, :mod:`r2d.tokenizer.hf`. It never touches process-wide state (no GC switching).

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
from r2d.tokenizer.arrays import Column, as_ids, flag_bits, flatten_batch, ragged

logger = logging.getLogger(__name__)

DEFAULT_CACHE_SIZE = 1_000_000
_UNK_TEXT = "<unk>"  # how an id outside the vocabulary is written when special rows are kept
_ROOTS_PER_CALL = 4096  # new roots per BPE string: several strings let `tokenizers` use its threads
_MAX_CODE_ROWS = 64  # distinct flag rows with a row in the one-row-word table (each row: 4 bytes per id); others: a dict


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
        self.cache_size = cache_size
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
        zero = (0,) * self.num_flags
        self._flag_index: dict[tuple[int, ...], int] = {}  # flag row -> its index in the flag table
        self._row_number: dict[int, int] = {}  # id() of the flag row tuples in flag_tuples -> the same index
        self.flag_tuples: list[tuple[int, ...]] = []
        self._add_flag_row(zero)
        self._clear_pieces()
        self._clear_words()

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

    def _add_flag_row(self, row: tuple[int, ...]) -> None:
        # subtle: new tables, not grown ones: Encoded batches keep the table they were made with
        self._flag_index[row] = self._row_number[id(row)] = len(self.flag_tuples)
        self.flag_tuples.append(row)
        self.flag_table = np.array(self.flag_tuples, dtype=np.uint8).reshape(-1, self.num_flags)
        self.flag_objects = np.empty(len(self.flag_tuples), dtype=object)  # the same tuples, for fast gathers
        for i, t in enumerate(self.flag_tuples):
            self.flag_objects[i] = t

    def _piece_numbers(self, pieces: list[str]) -> np.ndarray:
        """(P,) int64: the number of every piece, computing the pieces not cached yet."""
        numbers = np.fromiter(map(self._piece_index.get, pieces, repeat(-1)), dtype=np.int64, count=len(pieces))
        missing = np.flatnonzero(numbers < 0)
        if len(missing):
            new = set(map(pieces.__getitem__, missing.tolist()))
            if len(self._piece_index) + len(new) > self.cache_size:
                # subtle: emptied *before* this batch's pieces go in, so none of them can go missing
                logger.debug("piece cache full (%d + %d > %d): emptied", len(self._piece_index), len(new),
                             self.cache_size)
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
        for row in set(rows).difference(self._flag_index):
            self._add_flag_row(row)
        root_no = np.fromiter(map(self._root_index.__getitem__, roots), dtype=np.int64, count=len(pieces))
        flags = np.fromiter(map(self._flag_index.__getitem__, rows), dtype=np.int32, count=len(pieces))
        spaced = np.fromiter(map(str.startswith, pieces, repeat(" ")), dtype=bool, count=len(pieces))
        space = spaced & (self.flag_table[flags, self._space_col] == 0)
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
        return Encoded(self._rows.array[rows], flag_rows.astype(np.int32, copy=False), self.flag_table,
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
        """Ids + flags of several texts -> the texts. Total on any ids and valid flags (see :func:`flag_bits`).

        Args:
            ids: (B, T) ids, or B sequences of different lengths (lists, numpy arrays or tensors).
            flags: matching (B, T, F) or B arrays (T_b, F) of 0/1 or probabilities; ``None``: all flags off.
            skip_special_tokens: drop special, padding and out-of-vocabulary rows (else write ``<s>`` etc.).

        Raises:
            ValueError: flags are not 0/1 or probabilities in [0, 1] (e.g. logits), or shapes disagree.
            TypeError: ids are not integers or flags not numbers.
        """
        flat_ids, starts = flatten_batch(ids, "ids", ndim=1)
        bits = None
        if flags is not None:
            flat_flags, fstarts = flatten_batch(flags, "flags", ndim=2, known_rows=(self._row_number, self.flag_table))
            if not np.array_equal(starts, fstarts):
                raise ValueError(f"decode got {np.diff(starts).tolist()} ids but {np.diff(fstarts).tolist()} "
                                 f"flag rows per text")
            if flat_flags.size or len(flat_ids):
                bits = flag_bits(flat_flags, self.num_flags)
        return self._decode_flat(as_ids(flat_ids), bits, starts, skip_special_tokens)

    def decode(self, ids, flags=None, *, skip_special_tokens: bool = True) -> str:
        """One text's ids (T,) and flags (T, F) -> the text (see :meth:`decode_batch`)."""
        return self.decode_batch([ids], None if flags is None else [flags],
                                 skip_special_tokens=skip_special_tokens)[0]

    def _clear_words(self) -> None:
        """Empty the decoding cache: spelled words as UTF-8 in one byte arena, found by (flag row, ids)."""
        vocab = len(self.id_to_token)
        self._arena = Column(np.uint8)  # the UTF-8 bytes of every cached word text, one after the other
        self._e_start = Column(np.int64)  # per entry: first byte in the arena
        self._e_bytes = Column(np.int64)  # per entry: its length in bytes
        self._e_chars = Column(np.int64)  # per entry: its length in characters
        self._code_rows: dict[int, int] = {}  # a word's flag row (as a number) -> its row in _slots
        self._row_of_code = np.full(1 << self.num_flags, -1, dtype=np.int64) if self.num_flags <= 16 else None
        self._slots = np.full((0, vocab), -1, dtype=np.int32)  # (flag rows, V): entry of a one-row word
        self._multi: dict[bytes | tuple, int] = {}  # _word_keys key -> entry of a word outside the table
        texts = [_UNK_TEXT] + [self.id_to_token[i] for i in self.special_ids]
        first = self._add_entries(texts)
        self._special_entry = np.full(vocab, first, dtype=np.int64)  # special rows as written (not skipped)
        self._special_entry[list(self.special_ids)] = np.arange(first + 1, first + len(texts))
        self._unk_entry = first

    @property
    def cached_words(self) -> int:
        """How many spelled words the decoding cache holds now."""
        return self._e_bytes.n - len(self.special_ids) - 1

    def _add_entries(self, texts: list[str]) -> int:
        """Append word texts to the arena; returns the entry number of the first."""
        raw = [t.encode("utf-8", "surrogatepass") for t in texts]
        nbytes = np.fromiter(map(len, raw), dtype=np.int64, count=len(raw))
        start = self._arena.extend(np.frombuffer(b"".join(raw), dtype=np.uint8)) + np.cumsum(nbytes) - nbytes
        self._e_start.extend(start)
        self._e_chars.extend(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)))
        return self._e_bytes.extend(nbytes)

    def _decode_flat(self, ids: np.ndarray, bits: np.ndarray | None, starts: np.ndarray,
                     skip_special_tokens: bool) -> list[str]:
        n, vocab = len(ids), len(self.id_to_token)
        outside = (ids < 0) | (ids >= vocab)
        kind = self.kind[np.where(outside, 0, ids)]
        kind[outside] = 2  # an id outside the vocabulary is a row of its own, like a special token
        special = kind == 2
        boundary = np.zeros(n, dtype=bool)  # rows no word continues into: text starts, rows after a special
        boundary[starts[:-1][starts[:-1] < n]] = True
        boundary[1:] |= special[:-1]
        word = (kind == 1) | ((kind == 0) & boundary)  # (N,) rows that begin a word
        cut = np.flatnonzero(word | special | boundary)  # every row where a word may end before
        ws = cut[word[cut]]  # (W,) first row of each word
        we = np.append(cut, n)[np.flatnonzero(word[cut]) + 1]  # (W,) row after each word
        entry = np.zeros(n, dtype=np.int64)  # (N,) the arena entry each output row writes
        entry[ws] = self._word_entries(ids, self._codes(bits, ws), ws, we)
        unit = word
        if not skip_special_tokens:
            unit = word | special
            entry[special] = np.where(outside, self._unk_entry, self._special_entry[np.where(outside, 0, ids)])[special]
        units = entry[unit]  # (U,) in text order
        start = self._e_start.array[units]
        at = ragged(start, start + self._e_bytes.array[units])  # the bytes of every unit, in order
        text = self._arena.array[at].tobytes().decode("utf-8", "surrogatepass")
        unit_bounds = np.concatenate(([0], np.cumsum(unit)))[starts]  # (B + 1,)
        char_bounds = np.concatenate(([0], np.cumsum(self._e_chars.array[units])))[unit_bounds].tolist()
        return [text[a:b] for a, b in zip(char_bounds[:-1], char_bounds[1:])]

    def _codes(self, bits: np.ndarray | None, ws: np.ndarray) -> np.ndarray:
        """(W,) each word's flag row as a number (bit j = flag j); a word takes the flags of its first row."""
        # subtle: a model may predict different flags for the rows of one word; the first row decides
        if bits is None:
            return np.zeros(len(ws), dtype=np.int64)
        packed = np.packbits(bits[ws], axis=1, bitorder="little")  # (W, ceil(F / 8)) uint8
        if packed.shape[1] == 1:  # up to 8 flags (the default schema has 7)
            return packed[:, 0].astype(np.int64)
        if packed.shape[1] <= 7:
            return packed.astype(np.int64) @ np.left_shift(1, 8 * np.arange(packed.shape[1], dtype=np.int64))
        return np.array([int.from_bytes(r.tobytes(), "little") for r in packed], dtype=object)  # > 56 flags

    def _word_entries(self, ids: np.ndarray, code: np.ndarray, ws: np.ndarray, we: np.ndarray) -> np.ndarray:
        """(W,) the arena entry of every word (rows ``ws[k]:we[k]``, flag row ``code[k]``), spelling new ones.

        One-row words (most) are found in a (flag row, id) table; words of several rows, and one-row words
        whose flag row has no table row (more than ``_MAX_CODE_ROWS`` distinct rows), in a dict.
        """
        single = we - ws == 1
        first_ids = ids[ws]
        for attempt in range(2):
            rows = self._table_rows(code, single)  # (W,) the word's row in the table, -1: in the dict
            table = np.flatnonzero(rows >= 0)
            listed = np.flatnonzero(rows < 0)
            keys = _word_keys(ids, code[listed], ws[listed], we[listed])
            entries = np.empty(len(ws), dtype=np.int64)
            entries[table] = self._slots[rows[table], first_ids[table]]
            entries[listed] = np.fromiter(map(self._multi.get, keys, repeat(-1)), dtype=np.int64, count=len(keys))
            miss = np.flatnonzero(entries < 0)
            if attempt == 0 and self.cached_words + len(miss) > self.cache_size:
                # subtle: emptied *before* this call's words go in, so none of them can go missing
                self._clear_words()
                continue
            break
        if not len(miss):
            return entries
        m1 = miss[rows[miss] >= 0]  # table words not cached: one entry per distinct (flag row, id)
        if len(m1):
            vocab = self._slots.shape[1]
            pair, first = np.unique(rows[m1] * vocab + first_ids[m1], return_index=True)
            self._slots[pair // vocab, pair % vocab] = self._spell(
                code[m1[first]], [self.token_bytes[i] for i in first_ids[m1[first]].tolist()])
            entries[m1] = self._slots[rows[m1], first_ids[m1]]
        m2 = np.searchsorted(listed, miss[rows[miss] < 0])  # dict words not cached, as key numbers
        if len(m2):
            missing_keys = list(map(keys.__getitem__, m2.tolist()))
            fresh = list(dict.fromkeys(missing_keys))
            tb = self.token_bytes
            words = [_key_numbers(k) for k in fresh]  # [code, id, id, ...] each
            spelled = self._spell(np.array([w[0] for w in words], dtype=code.dtype),
                                  [b"".join([tb[i] for i in w[1:]]) for w in words])
            self._multi.update(zip(fresh, spelled.tolist()))
            entries[listed[m2]] = np.fromiter(map(self._multi.__getitem__, missing_keys), dtype=np.int64,
                                              count=len(m2))
        return entries

    def _table_rows(self, code: np.ndarray, single: np.ndarray) -> np.ndarray:
        """(W,) each one-row word's row in the (flag row, id) table, giving new flag rows a row while there is
        room; -1 for words of several rows and for flag rows left out."""
        rows = self._rows_of(code)
        new = single & (rows < 0)
        room = _MAX_CODE_ROWS - len(self._code_rows)
        if new.any() and room > 0:
            fresh = np.unique(code[new])[:room].tolist()
            for c in fresh:
                self._code_rows[c] = len(self._code_rows)
                if self._row_of_code is not None:
                    self._row_of_code[c] = self._code_rows[c]
            grown = np.full((len(self._code_rows), self._slots.shape[1]), -1, dtype=np.int32)
            grown[:len(self._slots)] = self._slots
            self._slots = grown
            rows = self._rows_of(code)
        rows[~single] = -1
        return rows

    def _rows_of(self, code: np.ndarray) -> np.ndarray:
        """(K,) the row of each flag code in the one-row-word table, -1 where it has none yet."""
        if self._row_of_code is not None:
            return self._row_of_code[code]
        uniq, inverse = np.unique(code, return_inverse=True)
        return np.array([self._code_rows.get(c, -1) for c in uniq.tolist()], dtype=np.int64)[inverse]

    def _spell(self, code: np.ndarray, raw_roots: list[bytes]) -> np.ndarray:
        """Spell new words (root bytes + flag row), in groups that share a flag row; returns their entries."""
        roots = [_utf8(r) for r in raw_roots]
        texts: list[str] = [""] * len(roots)
        order = np.argsort(code, kind="stable")
        groups = np.flatnonzero(np.diff(code[order], prepend=-1) != 0).tolist() + [len(order)]
        for g, h in zip(groups[:-1], groups[1:]):
            sel = order[g:h].tolist()
            c = int(code[sel[0]])
            row = [(c >> j) & 1 for j in range(self.num_flags)]
            for i, t in zip(sel, self.deconstructor.join_many([roots[i] for i in sel], row)):
                texts[i] = t
        first = self._add_entries(texts)
        return np.arange(first, first + len(texts), dtype=np.int64)


def _word_keys(ids: np.ndarray, code: np.ndarray, ws: np.ndarray, we: np.ndarray) -> list:
    """One hashable key per word (rows ``ws[k]:we[k]``): its flag code and ids, as the bytes of int64 numbers.

    Bytes, not tuples: bytes objects are not tracked by the garbage collector. Codes too big for int64 (over 56
    flags) make tuples instead.
    """
    if code.dtype == object:
        flat = ids[ragged(ws, we)].tolist()
        offs = np.concatenate(([0], np.cumsum(we - ws))).tolist()
        return [(c, *flat[a:b]) for c, a, b in zip(code.tolist(), offs[:-1], offs[1:])]
    size = we - ws + 1  # (K,) numbers per key: the code, then the ids
    end = np.cumsum(size)
    numbers = np.empty(int(end[-1]) if len(end) else 0, dtype=np.int64)
    is_code = np.zeros(len(numbers), dtype=bool)
    is_code[end - size] = True
    numbers[is_code] = code
    numbers[~is_code] = ids[ragged(ws, we)]
    buf, bounds = numbers.tobytes(), (np.concatenate(([0], end)) * 8).tolist()
    return [buf[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def _key_numbers(key) -> list[int]:
    """Inverse of :func:`_word_keys` for one key: ``[code, id, id, ...]``."""
    return list(key) if isinstance(key, tuple) else np.frombuffer(key, dtype=np.int64).tolist()


def _utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:  # a model's ids may spell invalid UTF-8: never raise on model output
        return raw.decode("utf-8", "replace")
