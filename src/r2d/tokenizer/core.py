"""The tokenizer core: a batch of texts <-> flat arrays of ids and flag rows, in the spirit of ``tiktoken``.

Stage 4 of the pipeline (``text -> pieces -> roots + flags -> ids + flag matrix``). Texts are split into pieces
(:mod:`r2d.text.pretokenize`), each piece into a root and a flag row (:mod:`r2d.text.transform`), and every
root into BPE ids by a byte-level BPE trained on roots only (``tokenizers``, Rust). The first BPE piece of a
root carries the word-start marker ``▁`` ("new word", not "space": spacing is the ``NoSpace`` flag); every
row of a word carries the word's flags.

Speed comes from computing each distinct piece once: a piece gets a number, its rows live in numpy tables,
and a batch is gathered from them with a few vectorised numpy operations (new roots go through the BPE in one
batched call). Decoding is the same idea backwards: each distinct (flag row, id) is spelled once, most words
row by row (a word's text is then its rows' texts put together), and a text is its rows' texts joined; one
text's rows are looked up in a dict, a batch's in a numpy table. Both caches are bounded by ``cache_size``;
the batch in hand is never cut short.

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
from itertools import accumulate, chain, compress, islice, repeat
from operator import add, is_
from typing import NamedTuple, Sequence

import numpy as np

from r2d.flags import ALL_CAPS, FIRST_CAP, NO_SPACE
from r2d.text.pretokenize import split_pieces
from r2d.text.transform import Deconstructor
from r2d.tokenizer.alphabet import MASK_TOKEN, SPECIAL_TOKENS, WORD_START, root_to_symbols, token_bytes
from r2d.tokenizer.arrays import Column, as_ids, flag_bits, flatten_batch, ragged

logger = logging.getLogger(__name__)

DEFAULT_CACHE_SIZE = 1_000_000
_UNK_TEXT = "<unk>"  # how an id outside the vocabulary is written when special rows are kept
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
        self.cache_size = cache_size
        self.id_to_token: list[str] = [""] * len(vocab)
        for s, i in vocab.items():
            self.id_to_token[i] = s
        self.special_ids = (0, 1, 2, 3, len(vocab) - 1)
        self._vocab = len(vocab)
        self._special_text = {i: self.id_to_token[i] for i in self.special_ids}  # special rows as written
        names = deconstructor.schema.names
        # flag bits that keep a word's text the texts of its rows put together (see _template), and the rest
        self._not_local = ~sum(1 << j for j, n in enumerate(names) if n in (NO_SPACE, FIRST_CAP, ALL_CAPS))
        self._templates: dict[int, tuple[str, int] | None] = {}  # flag code -> how it spells (see _template)
        self._small_codes = len(vocab) << self.num_flags < 1 << 62  # code * V fits in int64
        # per id: 2 = special (its own row), 1 = starts a word, 0 = continues the word before it
        kind = np.array([t.startswith(WORD_START) for t in self.id_to_token], dtype=np.int8)
        kind[list(self.special_ids)] = 2
        self.kind = kind
        self._kind_list: list[int] = kind.tolist()
        self.word_start = kind == 1
        self.token_bytes: list[bytes] = [token_bytes(t) for t in self.id_to_token]
        self._pieces = [_valid_utf8(b) for b in self.token_bytes]  # per id: its bytes as text, None if not UTF-8
        self._piece_array = np.array(self._pieces + [None], dtype=object)[:-1]  # the same, for numpy gathers
        self._piece_len = np.array([-1 if p is None else len(p) for p in self._pieces], dtype=np.int64)
        # The BPE of new roots: the same model, no added tokens, roots separated by spaces (a root's symbols
        # never hold a real space: every byte is mapped to a printable character).
        self._root_bpe = Tokenizer(bpe.model)
        self._root_bpe.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        self._space_col = deconstructor._ns
        zero = (0,) * self.num_flags
        self._flag_index: dict[tuple[int, ...], int] = {}  # flag row -> its index in the flag table
        self._row_number: dict[int, int] = {}  # id() of the flag row tuples in flag_tuples -> the same index
        # flag rows as tuples of 0/1 (the tokenizer's own and others seen) -> their flag code times the vocabulary
        # size (see decode_batch); bounded by _MAX_ROW_KEYS
        self._row_key: dict[tuple, int] = {}
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
        self._row_key[row] = sum(1 << j for j, v in enumerate(row) if v) * self._vocab
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
        if self._space_col is None:  # a schema without NoSpace keeps the space in the root, so in the span
            space = np.zeros(len(pieces), dtype=bool)
        else:
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
    # Decoding spells every distinct (flag row, id) once and caches its text; a text is then its rows' texts
    # joined. A word's text is cached by row where it is the texts of its rows put together: the first row
    # spelled with the word's flags, the others their bytes as they are (upper-cased under AllCaps). That
    # holds when the flags are only NoSpace, FirstCap and AllCaps (see `_template`) and every row's bytes are
    # valid UTF-8 alone: most words; a one-row word whose flags need the deconstructor is cached by row too.
    # Other words of several rows are cached whole (`_multi_text`). The texts by row live in one dict per flag
    # row (`_by_key`, keyed by its code * V: a row's *key* is code * V + id), which one text's rows look up
    # directly; a batch looks its rows up with numpy in a (code, id) table of the same texts (`_slots`),
    # brought up to date before use. Rows that find nothing go to `_fill`, which spells and caches new words.
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
        rows = self._rows_of_lists(ids, flags)
        if rows is None:
            rows = self._rows_of_arrays(ids, flags)
        if self._small_codes:
            return self._batch_texts(*rows, skip_special_tokens)
        return self._texts(*self._read_arrays(*rows, skip_special_tokens), skip_special_tokens)

    def decode(self, ids, flags=None, *, skip_special_tokens: bool = True) -> str:
        """One text's ids (T,) and flags (T, F) -> the text (see :meth:`decode_batch`)."""
        read = None
        if type(ids) in _SEQUENCES and (flags is None or type(flags) in _SEQUENCES and len(flags) == len(ids)):
            read = self._read_list(ids if type(ids) is list else list(ids), flags, skip_special_tokens)
        if read is None:
            read = self._read_arrays(*self._rows_of_arrays([ids], None if flags is None else [flags]),
                                     skip_special_tokens)
        return self._texts(*read, skip_special_tokens)[0]

    # Readers of decoding's input. They give the same rows for every input the fast ones take; a fast one
    # declines (None) whatever it cannot read exactly as the general one (_rows_of_arrays) does, which checks
    # and raises.
    def _rows_of_lists(self, ids, flags) -> tuple | None:
        """Fast reader of a batch of Python lists: ``(ids (N,), codes (N,) or None, starts (B + 1,))`` (int64;
        codes as :meth:`_code_keys` gives them), or ``None``."""
        if not self._small_codes or type(ids) not in _SEQUENCES or not set(map(type, ids)) <= _SEQUENCES:
            return None
        lengths = list(map(len, ids))
        if flags is not None and (type(flags) not in _SEQUENCES or not set(map(type, flags)) <= _SEQUENCES
                                  or list(map(len, flags)) != lengths):
            return None
        flat = list(chain.from_iterable(ids))
        try:
            if type(sum(flat)) is not int:  # floats, numpy scalars, ...: the general reader decides what they are
                return None
            flat_ids = np.array(flat, dtype=np.int64)
        except (TypeError, OverflowError):
            return None
        codes = None
        for attempt in range(4 if flags is not None else 0):
            try:  # flag rows as tuples seen before (every flag row encoding makes)
                codes = np.fromiter(map(self._row_key.__getitem__, chain.from_iterable(flags)), dtype=np.int64,
                                    count=len(flat))
                break
            except KeyError as new:  # a tuple not seen before: learn it and read again (a few times)
                if attempt == 3 or self._row_keys_of_bits([new.args[0]]) is None:
                    break
            except TypeError:  # lists
                break
        if flags is not None and codes is None:
            codes = self._row_keys_of_bits(list(chain.from_iterable(flags)))
            if codes is None:
                return None
            codes = np.array(codes, dtype=np.int64)
        return flat_ids, codes, np.array([0, *accumulate(lengths)], dtype=np.int64)

    def _read_list(self, ids: list, rows: Sequence | None, skip_special_tokens: bool) -> tuple | None:
        """Fast reader of one text of Python ints and flag rows (numpy costs more than it saves on a few rows):
        what :meth:`_read_arrays` gives, or ``None``."""
        try:
            if type(sum(ids)) is not int:  # floats, numpy scalars, ...: the general reader decides what they are
                return None
            kinds = bytes(map(self._kind_list.__getitem__, ids))  # IndexError: an id >= V
        except (IndexError, TypeError):
            return None
        if ids and min(ids) < 0:
            return None
        if rows is None:
            texts, codes = list(map(self._by_key[0].get, ids)), None
        else:
            try:  # flag rows as tuples seen before (every flag row encoding makes): straight to their texts
                dicts = list(map(self._row_dict.__getitem__, rows))
                codes = _KeysOfRows(rows, self._row_key)
            except (KeyError, TypeError):
                codes = self._row_keys_of_bits(rows)
                if codes is None:
                    return None
                dicts = self._dicts_of(rows, codes)
            if 0 in kinds:
                # subtle: a word takes its first row's flags; rows of a word that carry other flags (a model may
                # give them) need the word's flags spread over them: the general reader does that
                cont = kinds.translate(_IS_CONTINUATION)[1:]
                if list(compress(rows, cont)) != list(compress(islice(rows, 1, None), cont)):
                    return None
            texts = list(map(dict.get, dicts, ids))
        # a continuation row that begins the text or follows a special row is a word of its own
        lone = [at + 1 for at in _find_all(kinds, b"\x02\x00")]
        if kinds[:1] == b"\x00":
            lone.append(0)
        for at in lone:
            texts[at] = None
        if not skip_special_tokens:  # special rows as written: see _fill
            for at in _find_all(kinds, b"\x02"):
                texts[at] = None
        return texts, ids, codes, [0, len(ids)], lone

    def _dicts_of(self, rows: Sequence, codes: list[int]) -> list[dict]:
        """The texts dict of every flag row (``codes``: their codes times V), remembering tuples seen."""
        if rows and type(rows[0]) is tuple:
            try:
                distinct = dict(zip(rows, codes))
            except TypeError:  # lists among the tuples
                distinct = {}
            for row, key in distinct.items():  # subtle: only rows whose code _row_key remembers (_KeysOfRows)
                if row not in self._row_dict and row in self._row_key and len(self._row_dict) < _MAX_ROW_KEYS:
                    self._row_dict[row] = self._words_of(key)
        return list(map(self._by_key.get, codes, repeat(_NO_TEXTS)))

    def _words_of(self, key: int) -> dict[int, str]:
        """The dict of texts by id of the flag code ``key // V`` (made if new)."""
        words = self._by_key.get(key)
        if words is None:
            words = self._by_key[key] = {}
        return words

    def _row_keys_of_bits(self, rows: list) -> list[int] | None:
        """``code * V`` of flag rows given as sequences of integers 0/1 (tuples not seen before, lists from
        ``datasets`` or JSON), else ``None``. New tuples are remembered while there is room."""
        try:
            new = list(set(rows).difference(self._row_key))
        except TypeError:  # lists
            return self._bit_keys(rows)
        codes = self._bit_keys(new)
        if codes is None:
            return None
        if len(self._row_key) + len(new) <= _MAX_ROW_KEYS:
            self._row_key.update(zip(new, codes))
            return list(map(self._row_key.__getitem__, rows))
        known = dict(zip(new, codes))
        return list(map(known.get, rows, map(self._row_key.get, rows)))

    def _bit_keys(self, rows: Sequence) -> list[int] | None:
        try:
            if rows and set(map(len, rows)) != {self.num_flags}:
                return None
            raw = bytes(chain.from_iterable(rows))  # subtle: refuses floats and anything but integers 0-255
        except (TypeError, ValueError):
            return None
        if raw.translate(None, b"\0\1"):  # a value other than 0 and 1
            return None
        return self._code_keys(np.frombuffer(raw, dtype=np.uint8).reshape(len(rows), self.num_flags).view(bool)
                               ).tolist()

    def _rows_of_arrays(self, ids, flags) -> tuple:
        """General reader: any batch :func:`flatten_batch` reads, checked -> ``(ids, codes or None, starts)``."""
        flat_ids, starts = flatten_batch(ids, "ids", ndim=1)
        bits = None
        if flags is not None:
            flat_flags, fstarts = flatten_batch(flags, "flags", ndim=2, known_rows=(self._row_number, self.flag_table))
            if not np.array_equal(starts, fstarts):
                raise ValueError(f"decode got {np.diff(starts).tolist()} ids but {np.diff(fstarts).tolist()} "
                                 f"flag rows per text")
            if flat_flags.size or len(flat_ids):
                bits = flag_bits(flat_flags, self.num_flags)
        return as_ids(flat_ids), None if bits is None else self._code_keys(bits), starts

    def _code_keys(self, bits: np.ndarray) -> np.ndarray:
        """(N, F) bool -> (N,) each row's flag code times the vocabulary size (bit j of the code = flag j): int64,
        or Python ints (an object array) where that would not fit in int64."""
        packed = np.packbits(bits, axis=1, bitorder="little")  # (N, ceil(F / 8)) uint8
        if not packed.shape[1]:
            return np.zeros(len(bits), dtype=np.int64)
        if self._small_codes:
            if packed.shape[1] == 1:  # up to 8 flags (the default schema has 7)
                return packed[:, 0].astype(np.int64) * self._vocab
            weights = np.left_shift(1, 8 * np.arange(packed.shape[1], dtype=np.int64))
            return (packed.astype(np.int64) @ weights) * self._vocab
        return np.array([int.from_bytes(r, "little") * self._vocab for r in map(bytes, packed)] + [None],
                        dtype=object)[:-1]

    def _row_kinds(self, ids: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, ...]:
        """``(outside, inside, kind, special, lone)`` per row: whether the id is outside the vocabulary, the id
        clipped into it (0 outside), its kind (2 = a row of its own: a special token or an id outside the
        vocabulary; 1 = starts a word; 0 = continues one), whether it is a row of its own, and whether it is a
        continuation row that begins a word (after a text start or a special row: never found by row)."""
        n = len(ids)
        outside = (ids < 0) | (ids >= self._vocab)
        inside = np.where(outside, 0, ids)
        kind = self.kind[inside]
        kind[outside] = 2
        special = kind == 2
        boundary = np.zeros(n, dtype=bool)  # rows no word continues into: text starts, rows after a special
        boundary[starts[:-1][starts[:-1] < n]] = True
        boundary[1:] |= special[:-1]
        return outside, inside, kind, special, (kind == 0) & boundary

    def _read_arrays(self, ids: np.ndarray, codes: np.ndarray | None, starts: np.ndarray, skip_special_tokens: bool
                     ) -> tuple:
        """Rows as arrays -> ``(texts, ids, codes, bounds, lone)``: each row's cached text or ``None``, the ids and
        each row's word's ``code * V`` (``None``: all 0) read like lists, the bounds of the texts and the
        continuation rows that begin a word (never cached as what they are)."""
        n, vocab = len(ids), self._vocab
        outside, inside, kind, special, lone = self._row_kinds(ids, starts)
        look = np.zeros(n, dtype=np.int64)
        if codes is not None:
            # subtle: a model may give the rows of one word different flags; the word's first row decides
            codes = codes[np.maximum.accumulate(np.where((kind != 0) | lone, np.arange(n), 0))]  # (N,)
            look = codes.copy()
        look[special] = 0 if skip_special_tokens else -1  # special rows: cached as skipped; written by _fill
        look[outside | lone] = -1
        texts = list(map(dict.get, map(self._by_key.get, look.tolist(), repeat(_NO_TEXTS)), inside.tolist()))
        return texts, _Items(ids), None if codes is None else _Items(codes), starts.tolist(), \
            np.flatnonzero(lone).tolist()

    def _clear_words(self) -> None:
        """Empty the decoding cache (see the notes above :meth:`decode_batch`)."""
        # code * V -> {id: text}; code 0 holds the special rows, as skipped (not counted as words)
        self._by_key: dict[int, dict[int, str]] = {0: dict.fromkeys(self.special_ids, "")}
        self._row_dict: dict[tuple, dict[int, str]] = {}  # flag row tuple -> its code's dict in _by_key
        self._n_words = 0  # texts in _by_key, special rows left out
        self._multi_text: dict[int, str] = {}
        # the table: entry of each (code's row, id) in _entries (0: none); texts added to _by_key since it
        # was last brought up to date wait in _pending (row keys and texts)
        self._code_row: dict[int, int] = {}  # flag code -> its row in _slots (at most _MAX_CODE_ROWS)
        self._row_of_code = np.full(1 << self.num_flags, -1, dtype=np.int64) if self.num_flags <= 16 else None
        self._slots = np.zeros((0, self._vocab), dtype=np.int32)  # (code rows, V)
        self._entries = Column(object)
        first = self._entries.extend(np.array([None, "", _UNK_TEXT, *self._special_text.values()], dtype=object))
        self._empty_entry, self._unk_entry = first + 1, first + 2  # special rows as skipped; <unk> as written
        self._kept_entry = np.zeros(self._vocab, dtype=np.int64)  # special rows as written, by id
        self._kept_entry[list(self._special_text)] = np.arange(first + 3, first + 3 + len(self._special_text))
        self._pending: list[tuple[list[int], list[str]]] = []
        self._stale = False  # True: too much waited; the table is built again from _by_key

    @property
    def cached_words(self) -> int:
        """How many spelled words (and rows of words) the decoding cache holds now."""
        return self._n_words + len(self._multi_text)

    def _cache_rows(self, rows: dict[int, str]) -> None:
        """Add texts of row keys to the cache (the table takes them in at the next batch)."""
        vocab = self._vocab
        for key, text in rows.items():
            i = key % vocab
            words = self._words_of(key - i)
            self._n_words += i not in words
            words[i] = text
        self._wait((list(rows), list(rows.values())))

    def _cache_group(self, key: int, ids: list[int], texts: list[str]) -> None:
        """Add texts of the rows of one flag code (``key``: code * V) to the cache."""
        words = self._words_of(key)
        before = len(words)
        words.update(zip(ids, texts))
        self._n_words += len(words) - before
        self._wait(([key + i for i in ids], texts))

    def _wait(self, rows: tuple[list[int], list[str]]) -> None:
        if not self._stale:
            self._pending.append(rows)
            if len(self._pending) > _MAX_PENDING:
                self._pending.clear()
                self._stale = True

    def _sync_table(self) -> None:
        """Bring the (code, id) table up to date with ``_by_key``."""
        if self._stale:
            kept = self._by_key, self._row_dict, self._n_words, self._multi_text
            self._clear_words()
            self._by_key, self._row_dict, self._n_words, self._multi_text = kept
            self._pending = [([key + i for i in words], list(words.values())) for key, words in self._by_key.items()]
        if not self._pending:
            return
        keys = np.fromiter(chain.from_iterable(k for k, _ in self._pending), dtype=np.int64)
        texts = np.array([*chain.from_iterable(t for _, t in self._pending), None], dtype=object)[:-1]
        self._pending.clear()
        codes, ids = np.divmod(keys, self._vocab)
        rows = self._table_rows(codes)
        first = self._entries.extend(texts)
        kept = rows >= 0
        self._slots[rows[kept], ids[kept]] = first + np.flatnonzero(kept)

    def _table_rows(self, codes: np.ndarray) -> np.ndarray:
        """(N,) each flag code's row in the table, giving new codes a row while there is room; -1: none."""
        if self._row_of_code is None:
            uniq, inverse = np.unique(codes, return_inverse=True)
        else:
            rows = self._row_of_code[codes]
            if rows.min(initial=0) >= 0:
                return rows
            uniq = np.unique(codes[rows < 0])
        new = [c for c in uniq.tolist() if c not in self._code_row][:_MAX_CODE_ROWS - len(self._code_row)]
        if new:
            for c in new:
                self._code_row[c] = len(self._code_row)
                if self._row_of_code is not None:
                    self._row_of_code[c] = self._code_row[c]
            if len(self._code_row) > len(self._slots):  # room for twice the rows: grown seldom
                grown = np.zeros((min(2 * len(self._code_row), _MAX_CODE_ROWS), self._vocab), dtype=np.int32)
                grown[:len(self._slots)] = self._slots
                self._slots = grown
        if self._row_of_code is not None:
            return self._row_of_code[codes]
        return np.array([self._code_row.get(c, -1) for c in uniq.tolist()], dtype=np.int64)[inverse]

    def _make_room(self, new: int) -> None:
        if self.cached_words + new > self.cache_size:
            # subtle: emptied *before* this call's words go in; the words of the call in hand are in its texts
            logger.debug("word cache full (%d + %d > %d): emptied", self.cached_words, new, self.cache_size)
            self._clear_words()

    def _template(self, code: int) -> tuple[str, int] | None:
        """How a flag code spells a word whose text is the texts of its rows put together: ``(prefix, case)``
        with case 0 (as is), 1 (first character upper) or 2 (all upper); ``None`` for any other code.

        Only NoSpace, FirstCap and AllCaps may be on, and :meth:`Deconstructor.join_many` must spell probe roots
        as ``prefix + root`` in that case: the rule is read from the deconstructor, not restated here.
        """
        if code & self._not_local:
            return None
        found = self._templates.get(code, False)
        if found is False:
            row = [(code >> j) & 1 for j in range(self.num_flags)]
            probes = ["ab", "ǆa", "ßé", "1a", "a b", "İi", " ab", "\u0301a"]
            prefix = self.deconstructor.join_many([""], row)[0]
            got = self.deconstructor.join_many(probes, row)
            found = self._templates[code] = next(
                ((prefix, case) for case in range(3) if got == [prefix + _cased(r, case) for r in probes]), None)
        return found

    def _texts(self, texts: list, ids, codes, bounds: list[int], lone: list[int], skip_special_tokens: bool
               ) -> list[str]:
        """The texts from what a reader gives (:meth:`_read_arrays`): rows found, the rest worked out."""
        if len(bounds) == 2 and skip_special_tokens:
            try:
                return ["".join(texts)]
            except TypeError:  # some row found no text (None)
                pass
        if None in texts:
            by_row = len(texts) < 4096 or not (self._small_codes and texts.count(None) > len(texts) // 64)
            if not by_row:  # many new rows (a long new text): cached by row first, in bulk
                at = list(compress(range(len(texts)), map(is_, texts, repeat(None))))
                keys = [ids[p] + (codes[p] if codes is not None else 0) for p in at]
                if self._add_rows(np.unique(np.array(keys, dtype=np.int64))):
                    by_key, kind, vocab = self._by_key, self._kind_list, self._vocab
                    for p, key in zip(at, keys):
                        i = ids[p]
                        if 0 <= i < vocab and kind[i] != 2:  # subtle: special rows are left to _fill
                            texts[p] = by_key.get(key - i, _NO_TEXTS).get(i)
                    for p in lone:
                        texts[p] = None
            self._fill(texts, ids, codes, bounds, skip_special_tokens, by_row)
        return _joined(texts, bounds)

    def _batch_texts(self, ids: np.ndarray, codes: np.ndarray | None, starts: np.ndarray, skip_special_tokens: bool
                     ) -> list[str]:
        """The texts of a batch: ``ids`` (N,), each row's ``code * V`` (N,) or ``None`` (all 0), ``starts`` (B + 1,),
        with the table (see the notes above :meth:`decode_batch`)."""
        n, vocab = len(ids), self._vocab
        outside, inside, kind, special, lone = self._row_kinds(ids, starts)
        code = np.zeros(n, dtype=np.int64)
        if codes is not None:
            # subtle: a model may give the rows of one word different flags; the word's first row decides
            code = (codes // vocab)[np.maximum.accumulate(np.where((kind != 0) | lone, np.arange(n), 0))]  # (N,)
        self._sync_table()
        rows = self._table_rows(code)
        entry = self._slots[rows, inside]  # (N,) subtle: row -1 reads the last row; put right below
        entry[(rows < 0) | lone] = 0
        entry[special] = self._empty_entry if skip_special_tokens else np.where(
            outside, self._unk_entry, self._kept_entry[inside])[special]
        missing = np.flatnonzero(entry == 0)
        texts = self._entries.array[entry]  # (N,) subtle: taken before the cache may be emptied below
        by_row = len(missing) <= max(64, n // 64)
        if not by_row:  # many new rows (a batch of new text): cached by row first, in bulk
            keys = code[missing] * vocab + inside[missing]
            if self._add_rows(np.unique(keys[~lone[missing]])):
                self._sync_table()
                rows = self._table_rows(code[missing])
                texts[missing] = self._entries.array[
                    np.where((rows < 0) | lone[missing], 0, self._slots[rows, inside[missing]])]
        texts = texts.tolist()
        bounds = starts.tolist()
        if len(missing):
            self._fill(texts, _Items(ids), _Items(code, vocab), bounds, skip_special_tokens, by_row)
        return _joined(texts, bounds)

    def _add_rows(self, missing: np.ndarray) -> bool:
        """Cache the text of every row key in ``missing`` that is cached by row (numpy, for many new rows at
        once); ``False`` if there was none.

        Besides the rows of words put together from their rows, a one-row word whose flags need the
        deconstructor is cached by row too: a row that continues it is never cached by row (its flags have no
        template), so :meth:`_fill` sees it and spells the whole word.
        """
        codes, ids = np.divmod(missing[missing >= 0], self._vocab)  # (K,)
        kind, pieces = self.kind[ids], self._piece_array[ids]
        first = (kind == 1) & (self._piece_len[ids] > 0)  # a word's first row: never empty (FirstCap)
        usable = (first | (kind == 0)) & (self._piece_len[ids] >= 0)  # and bytes valid UTF-8 alone
        order = np.argsort(codes, kind="stable")
        order = order[usable[order]]
        bounds = np.flatnonzero(np.diff(codes[order], prepend=-1, append=-1)).tolist()
        groups = []  # (code * V, ids, texts)
        for g, h in zip(bounds[:-1], bounds[1:]):
            group = order[g:h]
            code = int(codes[group[0]])
            key = code * self._vocab
            form = self._template(code)
            heads = group[first[group]]
            head_pieces = pieces[heads].tolist()
            if form is None:  # one-row words for the deconstructor; continuation rows are not cached by row
                row = [(code >> j) & 1 for j in range(self.num_flags)]
                groups.append((key, ids[heads].tolist(), self.deconstructor.join_many(head_pieces, row)))
                continue
            prefix, case = form
            if case == 0:
                groups.append((key, ids[heads].tolist(), [prefix + p for p in head_pieces]))
            elif case == 1:
                groups.append((key, ids[heads].tolist(), [prefix + p[:1].upper() + p[1:] for p in head_pieces]))
            else:
                groups.append((key, ids[heads].tolist(), [prefix + p.upper() for p in head_pieces]))
            tails = group[kind[group] == 0]
            tail_pieces = pieces[tails].tolist()
            groups.append((key, ids[tails].tolist(), [p.upper() for p in tail_pieces] if case == 2 else tail_pieces))
        new = sum(len(g[1]) for g in groups)
        if not new:
            return False
        self._make_room(new)
        for group in groups:
            self._cache_group(*group)
        return True

    def _fill(self, texts: list, ids, codes, bounds: list[int], skip_special_tokens: bool, by_row: bool = True
              ) -> None:
        """Write the rows no key found a text for: a word's text on its first row, "" on the others (``by_row``:
        cache new words by row where they allow it; ``False``: :meth:`_add_rows` has done so already)."""
        vocab, kind, pieces, starts = self._vocab, self._kind_list, self._pieces, set(bounds)
        top = 1 << self.num_flags  # subtle: a leading 1 above the code keeps word keys of different lengths apart
        new_rows: dict[int, str] = {}  # row key -> text, of new one-row words
        misses = []  # (first row, end row, code, key: row key, word key in _multi_text, or None: not cached)
        j = 0
        while True:
            try:
                j = texts.index(None, j)
            except ValueError:
                break
            i = ids[j]
            k = kind[i] if 0 <= i < vocab else 2
            if k == 2:  # a special or out-of-vocabulary row: a row of its own (and so are the same rows after it)
                e = j + 1
                while e not in starts and ids[e] == i:  # subtle: the end of the rows is in starts
                    e += 1
                texts[j:e] = repeat("" if skip_special_tokens else self.id_to_token[i] if 0 <= i < vocab
                                    else _UNK_TEXT, e - j)
                j = e
                continue
            s = j  # the word's first row: back over the continuation rows found by row
            while not kind[ids[s]] and s not in starts and 0 <= ids[s - 1] < vocab and kind[ids[s - 1]] != 2:
                s -= 1
            e = j + 1
            while e not in starts and 0 <= ids[e] < vocab and not kind[ids[e]]:
                e += 1
            code = codes[s] // vocab if codes is not None else 0
            first = ids[s]
            if by_row and kind[first] == 1 and pieces[first]:  # a new word (the common case): by row if it can
                form = self._template(code)
                if e - s == 1:
                    key = code * vocab + first
                    known = self._by_key.get(key - first, _NO_TEXTS).get(first)  # (no table row for some codes)
                    if known is not None:
                        texts[s] = known
                    elif form is not None:
                        texts[s] = new_rows[key] = form[0] + _cased(pieces[first], form[1])
                    else:  # a one-row word for the deconstructor, cached by row (see _add_rows)
                        misses.append((s, e, code, key))
                        texts[s] = ""
                    j = e
                    continue
                rest = [pieces[x] for x in ids[s + 1:e]]
                if form is not None and None not in rest:
                    head = form[0] + _cased(pieces[first], form[1])
                    if form[1] == 2:
                        rest = [x.upper() for x in rest]
                    texts[s:e] = [head, *rest]
                    base = code * vocab
                    known = self._by_key.get(base, _NO_TEXTS)
                    new_rows.update((base + x, t) for x, t in zip(ids[s:e], texts[s:e]) if x not in known)
                    j = e
                    continue
            key = None
            if e - s <= _MAX_KEY_ROWS:
                key = code + top
                for x in ids[s:e]:
                    key = key * vocab + x
                hit = self._multi_text.get(key)
                if hit is not None:
                    texts[s:e] = [hit, *repeat("", e - s - 1)]
                    j = e
                    continue
            misses.append((s, e, code, key))
            texts[s:e] = repeat("", e - s)
            j = e
        if misses:
            self._spell_words(misses, new_rows, texts, ids)
        elif new_rows:
            self._make_room(len(new_rows))
            self._cache_rows(new_rows)

    def _spell_words(self, misses: list[tuple], new_rows: dict[int, str], texts: list, ids: list[int]) -> None:
        """Spell the words :meth:`_fill` left to the deconstructor (each distinct one once), cache them with
        ``new_rows`` (one-row words by row, others whole), write them."""
        tb, vocab = self.token_bytes, self._vocab
        order: dict[int, int] = {}  # key (-1 - first row: not cached) -> its number in the lists below
        refs: list[int] = []  # per miss: its key in `order`
        codes, roots = [], []
        for s, e, code, key in misses:
            ref = -1 - s if key is None else key
            if ref not in order:
                order[ref] = len(roots)
                codes.append(code)
                roots.append(_utf8(b"".join([tb[i] for i in ids[s:e]])))
            refs.append(ref)
        spelled = self._spell(codes, roots)
        single_end = (1 << self.num_flags) * vocab  # row keys are below it, word keys of _fill from it on
        new_rows.update((k, spelled[n]) for k, n in order.items() if 0 <= k < single_end)
        whole = {k: spelled[n] for k, n in order.items() if k >= single_end}
        self._make_room(len(new_rows) + len(whole))
        self._cache_rows(new_rows)
        self._multi_text.update(whole)
        for (s, *_), ref in zip(misses, refs):
            texts[s] = spelled[order[ref]]

    def _spell(self, codes: list[int], roots: list[str]) -> list[str]:
        """Spell words (root + flag code; bit j = flag j): by template where the code has one, else with the
        deconstructor, in groups that share a code."""
        texts = [""] * len(codes)
        groups: dict[int, list[int]] = {}
        for n, (c, root) in enumerate(zip(codes, roots)):
            form = self._template(c)
            if form is None:
                groups.setdefault(c, []).append(n)
            else:
                texts[n] = form[0] + _cased(root, form[1])
        for c, members in groups.items():
            row = [(c >> j) & 1 for j in range(self.num_flags)]
            for n, t in zip(members, self.deconstructor.join_many([roots[n] for n in members], row)):
                texts[n] = t
        return texts


_SEQUENCES = frozenset({list, tuple})
_NO_TEXTS: dict[int, str] = {}  # (never written) what a flag code without texts finds
_IS_CONTINUATION = bytes([1, 0, 0]).ljust(256, b"\0")  # kind (0 continuation, 1 word start, 2 special) -> 0/1
_MAX_CODE_ROWS = 64  # flag codes with a row in the (code, id) table (each row: 4 bytes per id); others: by dict
_MAX_PENDING = 1 << 12  # texts waiting for the table, in groups; more: the table is built again
_MAX_ROW_KEYS = 1 << 12  # flag rows remembered as tuples (the flag rows of encoding always are)
_MAX_KEY_ROWS = 32  # words of more rows (rare: long runs of unknown bytes) are spelled every time, not cached


class _KeysOfRows:
    """``code * V`` of flag row tuples read like a list, each when asked (decoding's rare slow path)."""

    def __init__(self, rows: Sequence, row_key: dict):
        self._rows, self._row_key = rows, row_key

    def __getitem__(self, k: int) -> int:
        return self._row_key[self._rows[k]]


class _Items:
    """A numpy array (times ``scale``) read like a list of Python ints, without converting all of it."""

    def __init__(self, a: np.ndarray, scale: int = 1):
        self._a, self._scale = a, scale

    def __getitem__(self, k):
        if isinstance(k, slice):
            return (self._a[k] * self._scale).tolist()
        return self._a.item(k) * self._scale


def _as_list(a):
    return _Items(a) if isinstance(a, np.ndarray) else a


def _find_all(data: bytes, sub: bytes):
    at = data.find(sub)
    while at >= 0:
        yield at
        at = data.find(sub, at + 1)


def _joined(texts: list[str], bounds: list[int]) -> list[str]:
    """The texts of rows ``bounds[b]:bounds[b + 1]`` put together, for each ``b``."""
    if len(bounds) == 2:
        return ["".join(texts)]
    return [*map("".join, map(texts.__getitem__, map(slice, bounds, islice(bounds, 1, None))))]


def _cased(text: str, case: int) -> str:
    return text if not case else text.upper() if case == 2 else text[:1].upper() + text[1:]


def _valid_utf8(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:  # a model's ids may spell invalid UTF-8: never raise on model output
        return raw.decode("utf-8", "replace")
