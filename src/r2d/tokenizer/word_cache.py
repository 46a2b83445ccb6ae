"""Decoding's cache: the text of every (flag row, id) spelled so far, and of words of several rows.

A row's *key* is its flag code times the vocabulary size V plus its id (see :mod:`r2d.tokenizer.flag_rows`).
The texts by row live in one dict per flag code (``by_key[code * V]``: ``{id: text}``), which one text's rows
look up directly, spelling a row the first time it is looked up (:class:`RowTexts`); a batch looks its rows up
with numpy in a (code, id) table of the same texts (``slots``, rows for at most ``_MAX_CODE_ROWS`` codes),
brought up to date by :meth:`WordCache.sync_table` before use. Words whose text is not their rows' texts put
together are kept whole (``multi_text``, by word key).
"""

from __future__ import annotations

import logging
from typing import Callable, Sequence

import numpy as np

from r2d.tokenizer.arrays import Column

logger = logging.getLogger(__name__)

UNK_TEXT = "<unk>"  # how an id outside the vocabulary is written when special rows are kept
_MAX_CODE_ROWS = 64  # flag codes with a row in the (code, id) table (each row: 4 bytes per id); others: by dict


class RowTexts(dict):
    """``{id: text}`` of the rows of one flag code. A row looked up with ``[]`` for the first time is spelled
    then, by ``spell`` (ids -> their texts, ``None`` where a row does not spell alone), and kept."""

    __slots__ = ("_cache", "_key", "_spell_one", "spell")

    def __init__(self, cache: "WordCache", key: int,
                 spell: tuple[Callable[[int], str | None], Callable[[Sequence[int]], list[str | None]]]):
        super().__init__()
        self._cache, self._key = cache, key
        self._spell_one, self.spell = spell

    def __missing__(self, i: int) -> str | None:
        text = self[i] = self._spell_one(i)
        self._cache.added_one(self._key + i, text)
        return text


class WordCache:
    """Texts by row key and by word key, bounded by ``size`` (emptied whole when full).

    Args:
        vocab_size: V.
        num_flags: F.
        special_text: each special id -> its token as written.
        size: how many texts to keep (rows of words and whole words together).
        row_speller: flag code -> how its rows spell: ``(one, many)`` (an id -> its text, ids -> texts; ``None``
            where a row does not spell alone).
    """

    def __init__(self, vocab_size: int, num_flags: int, special_text: dict[int, str], size: int,
                 row_speller: Callable[[int], tuple[Callable, Callable]]):
        self._vocab, self._num_flags, self._special_text = vocab_size, num_flags, special_text
        self._row_speller = row_speller
        self.size = size
        self.clear()

    def __getstate__(self) -> dict:
        # pickled empty (worker processes): the texts' dicts spell through closures, which do not pickle
        return {k: self.__dict__[k] for k in ("_vocab", "_num_flags", "_special_text", "_row_speller", "size")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.clear()

    def clear(self) -> None:
        """Forget every text."""
        self.by_key: dict[int, RowTexts] = {}  # code * V -> {id: text}
        self.row_dict: dict[tuple, RowTexts] = {}  # flag row tuple -> its code's dict in by_key
        self._n_words = 0  # texts in by_key (None included), special rows left out
        self.multi_text: dict[int, str] = {}  # word key -> text
        self._clear_table()

    def _clear_table(self) -> None:
        # the table: entry of each (code's row, id) in `entries` (0: none); texts added to by_key since it was last
        # brought up to date wait in _pending_keys and _pending_texts
        self._code_row: dict[int, int] = {}  # flag code -> its row in slots (at most _MAX_CODE_ROWS)
        self._row_of_code = np.full(1 << self._num_flags, -1, dtype=np.int64) if self._num_flags <= 16 else None
        self.slots = np.zeros((0, self._vocab), dtype=np.int32)  # (code rows, V)
        self.entries = Column(object)
        first = self.entries.extend(np.array([None, "", UNK_TEXT, *self._special_text.values()], dtype=object))
        self.empty_entry, self.unk_entry = first + 1, first + 2  # special rows as skipped; <unk> as written
        self.kept_entry = np.zeros(self._vocab, dtype=np.int64)  # special rows as written, by id
        self.kept_entry[list(self._special_text)] = np.arange(first + 3, first + 3 + len(self._special_text))
        self._pending_keys: list[int] = []
        self._pending_texts: list[str] = []

    def __len__(self) -> int:
        """Spelled words (and rows of words) held now."""
        return self._n_words + len(self.multi_text)

    def words_of(self, key: int) -> RowTexts:
        """The texts by id of the flag code ``key // V`` (made if new; code 0 holds the special rows, as skipped)."""
        words = self.by_key.get(key)
        if words is None:
            words = self.by_key[key] = RowTexts(self, key, self._row_speller(key // self._vocab))
            if key == 0:
                dict.update(words, dict.fromkeys(self._special_text, ""))
        return words

    def spell_rows(self, key: int, ids: list[int]) -> None:
        """Spell the rows ``ids`` of the flag code ``key // V`` that it does not hold yet, at once."""
        words = self.words_of(key)
        new = [i for i in ids if i not in words]
        texts = words.spell(new)
        dict.update(words, zip(new, texts))
        self.added([key + i for i in new], texts)

    def added(self, keys: list[int], texts: list[str | None]) -> None:
        """Count rows spelled into ``by_key`` (the table takes them in at its next :meth:`sync_table`); empty the
        cache when it is full."""
        self._n_words += len(keys)
        if None in texts:
            keys = [k for k, t in zip(keys, texts) if t is not None]
            texts = [t for t in texts if t is not None]
        self._pending_keys += keys  # subtle: bounded like the cache (clear() empties it with the rest)
        self._pending_texts += texts
        if self._n_words + len(self.multi_text) > self.size:
            # subtle: rows being looked up in a dict of the emptied cache still find their texts (the dict holds them)
            self.make_room()

    def added_one(self, key: int, text: str | None) -> None:
        """:meth:`added` of one row (the common case when decoding one text at a time)."""
        self._n_words += 1
        if text is not None:
            self._pending_keys.append(key)
            self._pending_texts.append(text)
        if self._n_words + len(self.multi_text) > self.size:
            self.make_room()

    def add_words(self, words: dict[int, str]) -> None:
        """Add texts of words of several rows, by word key."""
        self.multi_text.update(words)

    def sync_table(self) -> None:
        """Bring the (code, id) table up to date with ``by_key``."""
        if not self._pending_keys:
            return
        keys = np.array(self._pending_keys, dtype=np.int64)
        texts = np.array([*self._pending_texts, None], dtype=object)[:-1]
        self._pending_keys, self._pending_texts = [], []
        codes, ids = np.divmod(keys, self._vocab)
        rows = self.table_rows(codes)
        first = self.entries.extend(texts)
        kept = rows >= 0
        self.slots[rows[kept], ids[kept]] = first + np.flatnonzero(kept)

    def table_rows(self, codes: np.ndarray) -> np.ndarray:
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
            if len(self._code_row) > len(self.slots):  # room for twice the rows: grown seldom
                grown = np.zeros((min(2 * len(self._code_row), _MAX_CODE_ROWS), self._vocab), dtype=np.int32)
                grown[:len(self.slots)] = self.slots
                self.slots = grown
        if self._row_of_code is not None:
            return self._row_of_code[codes]
        return np.array([self._code_row.get(c, -1) for c in uniq.tolist()], dtype=np.int64)[inverse]

    def make_room(self, new: int = 0) -> None:
        """Empty the cache if ``new`` more texts would not fit (``0``: if it holds more than ``size``)."""
        if len(self) + new > self.size:
            # subtle: emptied *before* this call's words go in; the words of the call in hand are in its texts
            logger.debug("word cache full (%d + %d > %d): emptied", len(self), new, self.size)
            self.clear()
