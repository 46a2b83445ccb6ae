"""The decoder: ids + flag rows back to text, losslessly, for any ids and flags a model may give.

Each distinct (flag row, id) is spelled once and cached (:mod:`r2d.tokenizer.word_cache`); a text is then its
rows' texts joined. One text's rows are looked up in a dict (which spells a row met for the first time), a
batch's in a numpy table; words that are not their rows put together are spelled by :mod:`r2d.tokenizer.spell`.
The cache is bounded by ``cache_size``; the batch in hand is never cut short.
"""

from __future__ import annotations

from itertools import accumulate, chain, compress, islice
from typing import Sequence

import numpy as np

from r2d.text.transform import Deconstructor
from r2d.tokenizer.arrays import as_ids, flag_bits, flatten_batch, ragged
from r2d.tokenizer.flag_rows import MAX_ROW_KEYS, FlagRows
from r2d.tokenizer.spell import Speller
from r2d.tokenizer.word_cache import RowTexts


class Decoder:
    """Decode ids and flag rows to texts.

    Args:
        deconstructor: step 1 (piece <-> root + flags) for the flag schema and list in use.
        id_to_token: the vocabulary, by id.
        kind: (V,) int8 per id: 2 = special (its own row), 1 = starts a word, 0 = continues the word before it.
        token_bytes: per id, the bytes it stands for.
        flag_rows: the flag rows the tokenizer has met (shared with encoding).
        special_ids: the ids of the special tokens.
        cache_size: how many spelled words (and rows of words) to remember.
    """

    def __init__(self, deconstructor: Deconstructor, id_to_token: list[str], kind: np.ndarray,
                 token_bytes: list[bytes], flag_rows: FlagRows, special_ids: Sequence[int], *, cache_size: int):
        self.deconstructor = deconstructor
        self.num_flags = deconstructor.num_flags
        self._vocab = len(id_to_token)
        self.kind = kind
        # per id its kind, then 3 for V more: an id in [V, 2V) or in [-V, 0) reads 3 (outside the vocabulary)
        self._kind_or_3: list[int] = kind.tolist() + [3] * len(kind)
        self._flag_rows = flag_rows
        self._row_key = flag_rows.key  # (the same dict, never replaced)
        self._small_codes = flag_rows.small_codes
        self.speller = Speller(deconstructor, id_to_token, kind, token_bytes, {i: id_to_token[i] for i in special_ids},
                               cache_size)
        self.cache = self.speller.cache

    @property
    def cached_words(self) -> int:
        """How many spelled words (and rows of words) the cache holds now."""
        return len(self.cache)

    # A word's text is cached by row where it is the texts of its rows put together: the first row spelled with
    # the word's flags, the others their bytes as they are (upper-cased under AllCaps). That holds when the
    # flags are only NoSpace, FirstCap and AllCaps (see `Speller.template`) and every row's bytes are valid UTF-8 alone:
    # most words; a one-row word whose flags need the deconstructor is cached by row too (`Speller.row_speller`).
    # Other words of several rows are cached whole: their rows find nothing (None) and go to `Speller.fill`.
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
        codes as :meth:`FlagRows.code_keys` gives them), or ``None``."""
        if not self._small_codes or type(ids) not in _SEQUENCES or not set(map(type, ids)) <= _SEQUENCES:
            return None
        lengths = list(map(len, ids))
        if flags is not None and (type(flags) not in _SEQUENCES or not set(map(type, flags)) <= _SEQUENCES
                                  or list(map(len, flags)) != lengths):
            return None
        starts = np.array([0, *accumulate(lengths)], dtype=np.int64)
        n = int(starts[-1])
        try:
            # floats, numpy scalars, ...: the general reader decides what they are
            if type(sum(chain.from_iterable(ids))) is not int:
                return None
            flat_ids = np.fromiter(chain.from_iterable(ids), dtype=np.int64, count=n)
        except (TypeError, OverflowError):
            return None
        codes = None
        if flags is not None:
            codes = self._flag_rows.key_array(flags, n)
            if codes is None:
                return None
        return flat_ids, codes, starts

    def _read_list(self, ids: list, rows: Sequence | None, skip_special_tokens: bool) -> tuple | None:
        """Fast reader of one text of Python ints and flag rows (numpy costs more than it saves on a few rows):
        what :meth:`_read_arrays` gives, or ``None``."""
        try:
            if type(sum(ids)) is not int:  # floats, numpy scalars, ...: the general reader decides what they are
                return None
            kinds = bytes(map(self._kind_or_3.__getitem__, ids))  # IndexError: an id far outside
        except (IndexError, TypeError):
            return None
        if 3 in kinds:  # an id outside the vocabulary
            return None
        if rows is None:
            texts, codes = list(map(self.cache.words_of(0).__getitem__, ids)), None
        else:
            try:  # flag rows as tuples seen before (every flag row encoding makes): straight to their texts
                dicts = list(map(self.cache.row_dict.__getitem__, rows))
                codes = _KeysOfRows(rows, self._row_key)
            except (KeyError, TypeError):
                codes = self._flag_rows.keys_of_bits(rows)
                if codes is None:
                    return None
                dicts = self._dicts_of(rows, codes)
            if 0 in kinds:
                # subtle: a word takes its first row's flags; rows of a word that carry other flags (a model may
                # give them) need the word's flags spread over them: the general reader does that
                cont = kinds.translate(_IS_CONTINUATION)[1:]
                if list(compress(rows, cont)) != list(compress(islice(rows, 1, None), cont)):
                    return None
            texts = list(map(dict.__getitem__, dicts, ids))  # rows met for the first time are spelled here
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

    def _dicts_of(self, rows: Sequence, codes: list[int]) -> list[RowTexts]:
        """The texts dict of every flag row (``codes``: their codes times V), remembering tuples seen."""
        if rows and type(rows[0]) is tuple:
            try:
                distinct = dict(zip(rows, codes))
            except TypeError:  # lists among the tuples
                distinct = {}
            row_dict = self.cache.row_dict
            for row, key in distinct.items():  # subtle: only rows whose code _row_key remembers (_KeysOfRows)
                if row not in row_dict and row in self._row_key and len(row_dict) < MAX_ROW_KEYS:
                    row_dict[row] = self.cache.words_of(key)
        for key in set(codes):
            self.cache.words_of(key)  # (made if new)
        return list(map(self.cache.by_key.__getitem__, codes))

    def _rows_of_arrays(self, ids, flags) -> tuple:
        """General reader: any batch :func:`flatten_batch` reads, checked -> ``(ids, codes or None, starts)``."""
        flat_ids, starts = flatten_batch(ids, "ids", ndim=1)
        bits = None
        if flags is not None:
            flat_flags, fstarts = flatten_batch(flags, "flags", ndim=2, known_rows=self._flag_rows.values_by_identity)
            if not np.array_equal(starts, fstarts):
                raise ValueError(f"decode got {np.diff(starts).tolist()} ids but {np.diff(fstarts).tolist()} "
                                 f"flag rows per text")
            if flat_flags.size or len(flat_ids):
                bits = flag_bits(flat_flags, self.num_flags)
        return as_ids(flat_ids), None if bits is None else self._flag_rows.code_keys(bits), starts

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
        n = len(ids)
        outside, inside, kind, special, lone = self._row_kinds(ids, starts)
        look = np.zeros(n, dtype=np.int64)
        if codes is not None:
            # subtle: a model may give the rows of one word different flags; the word's first row decides
            codes = codes[np.maximum.accumulate(np.where((kind != 0) | lone, np.arange(n), 0))]  # (N,)
            look = codes.copy()
        look[special | outside] = 0  # special rows: code 0 holds them as skipped (rows outside: see below)
        look = look.tolist()
        for key in set(look):
            self.cache.words_of(key)  # (made if new)
        # rows met for the first time are spelled here
        texts = list(map(dict.__getitem__, map(self.cache.by_key.__getitem__, look), inside.tolist()))
        for p in np.flatnonzero(outside | lone | (special & (not skip_special_tokens))).tolist():
            texts[p] = None  # written by fill
        return texts, _Items(ids), None if codes is None else _Items(codes), starts.tolist(), \
            np.flatnonzero(lone).tolist()

    def _texts(self, texts: list, ids, codes, bounds: list[int], lone: list[int], skip_special_tokens: bool
               ) -> list[str]:
        """The texts from what a reader gives (:meth:`_read_arrays`): rows found, the rest worked out."""
        if len(bounds) == 2 and skip_special_tokens:
            try:
                return ["".join(texts)]
            except TypeError:  # some row found no text (None)
                pass
        if None in texts:
            self.speller.fill(texts, ids, codes, bounds, skip_special_tokens)
        return _joined(texts, bounds)

    def _batch_texts(self, ids: np.ndarray, codes: np.ndarray | None, starts: np.ndarray, skip_special_tokens: bool
                     ) -> list[str]:
        """The texts of a batch: ``ids`` (N,), each row's ``code * V`` (N,) or ``None`` (all 0), ``starts`` (B + 1,),
        looked up in the cache's (code, id) table."""
        n, vocab, cache = len(ids), self._vocab, self.cache  # (the same object after it is emptied)
        outside, inside, kind, special, lone = self._row_kinds(ids, starts)
        first = (kind != 0) | lone  # (N,) rows that begin a word (or are a row of their own)
        head = np.maximum.accumulate(np.where(first, np.arange(n), 0))  # (N,) each row's word's first row
        code = np.zeros(n, dtype=np.int64)
        if codes is not None:
            code = (codes // vocab)[head]  # subtle: a model may give the rows of one word different flags
        cache.sync_table()
        rows = cache.table_rows(code)
        entry = cache.slots[rows, inside]  # (N,) subtle: row -1 reads the last row; put right below
        entry[(rows < 0) | lone] = 0
        entry[special] = cache.empty_entry if skip_special_tokens else np.where(
            outside, cache.unk_entry, cache.kept_entry[inside])[special]
        missing = np.flatnonzero(entry == 0)
        texts = cache.entries.array[entry]  # (N,) subtle: taken before the cache may be emptied below
        if len(missing) > max(64, n // 64):  # many new rows (a batch of new text): cached by row first, in bulk
            keys = code[missing] * vocab + inside[missing]
            self.speller.spell_rows(np.unique(keys[~lone[missing]]))
            cache.sync_table()
            rows = cache.table_rows(code[missing])
            found = np.where((rows < 0) | lone[missing], 0, cache.slots[rows, inside[missing]])
            texts[missing] = cache.entries.array[found]
            missing = missing[found == 0]
        texts = texts.tolist()
        if len(missing):  # the words with a row not found, spelled whole or by row
            s = np.unique(head[missing])  # (W,)
            word_starts = np.flatnonzero(first)
            e = np.append(word_starts, n)[np.searchsorted(word_starts, s, side="right")]  # (W,)
            lengths = (e - s).tolist()
            word_ids = iter(ids[ragged(s, e)].tolist())
            self.speller.fill_words(texts, zip(s.tolist(), e.tolist(), code[s].tolist(),
                                               [list(islice(word_ids, k)) for k in lengths]))
        return _joined(texts, starts.tolist())


_SEQUENCES = frozenset({list, tuple})
_IS_CONTINUATION = bytes([1, 0, 0]).ljust(256, b"\0")  # kind (0 continuation, 1 word start, 2 special) -> 0/1


class _KeysOfRows:
    """``code * V`` of flag row tuples read like a list, each when asked (decoding's rare slow path)."""

    def __init__(self, rows: Sequence, row_key: dict):
        self._rows, self._row_key = rows, row_key

    def __getitem__(self, k: int) -> int:
        return self._row_key[self._rows[k]]


class _Items:
    """A numpy array read like a list of Python ints, without converting all of it."""

    def __init__(self, a: np.ndarray):
        self._a = a

    def __getitem__(self, k):
        if isinstance(k, slice):
            return self._a[k].tolist()
        return self._a.item(k)


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
