"""Decoding's cache: the text of every (flag row, id) spelled so far, and of words of several rows.

A row's *key* is its flag code times the vocabulary size V plus its id (see :mod:`r2d.tokenizer.flag_rows`).
The texts by row live in one dict per flag code (``by_key[code * V]``: ``{id: text}``), which one text's rows
look up directly; a batch looks its rows up with numpy in a (code, id) table of the same texts (``slots``, rows
for at most ``_MAX_CODE_ROWS`` codes), brought up to date by :meth:`WordCache.sync_table` before use. Words
whose text is not their rows' texts put together are kept whole (``multi_text``, by word key).
"""

from __future__ import annotations

import logging
from itertools import chain

import numpy as np

from r2d.tokenizer.arrays import Column

logger = logging.getLogger(__name__)

UNK_TEXT = "<unk>"  # how an id outside the vocabulary is written when special rows are kept
NO_TEXTS: dict[int, str] = {}  # (never written) what a flag code without texts finds
_MAX_CODE_ROWS = 64  # flag codes with a row in the (code, id) table (each row: 4 bytes per id); others: by dict
_MAX_PENDING = 1 << 12  # texts waiting for the table, in groups; more: the table is built again


class WordCache:
    """Texts by row key and by word key, bounded by ``size`` (emptied whole when full).

    Args:
        vocab_size: V.
        num_flags: F.
        special_text: each special id -> its token as written.
        size: how many texts to keep (rows of words and whole words together).
    """

    def __init__(self, vocab_size: int, num_flags: int, special_text: dict[int, str], size: int):
        self._vocab, self._num_flags, self._special_text = vocab_size, num_flags, special_text
        self.size = size
        self.clear()

    def clear(self) -> None:
        """Forget every text."""
        # code * V -> {id: text}; code 0 holds the special rows, as skipped (not counted as words)
        self.by_key: dict[int, dict[int, str]] = {0: dict.fromkeys(self._special_text, "")}
        self.row_dict: dict[tuple, dict[int, str]] = {}  # flag row tuple -> its code's dict in by_key
        self._n_words = 0  # texts in by_key, special rows left out
        self.multi_text: dict[int, str] = {}  # word key -> text
        self._clear_table()

    def _clear_table(self) -> None:
        # the table: entry of each (code's row, id) in `entries` (0: none); texts added to by_key since it was last
        # brought up to date wait in _pending (row keys and texts)
        self._code_row: dict[int, int] = {}  # flag code -> its row in slots (at most _MAX_CODE_ROWS)
        self._row_of_code = np.full(1 << self._num_flags, -1, dtype=np.int64) if self._num_flags <= 16 else None
        self.slots = np.zeros((0, self._vocab), dtype=np.int32)  # (code rows, V)
        self.entries = Column(object)
        first = self.entries.extend(np.array([None, "", UNK_TEXT, *self._special_text.values()], dtype=object))
        self.empty_entry, self.unk_entry = first + 1, first + 2  # special rows as skipped; <unk> as written
        self.kept_entry = np.zeros(self._vocab, dtype=np.int64)  # special rows as written, by id
        self.kept_entry[list(self._special_text)] = np.arange(first + 3, first + 3 + len(self._special_text))
        self._pending: list[tuple[list[int], list[str]]] = []
        self._stale = False  # True: too much waited; the table is built again from by_key

    def __len__(self) -> int:
        """Spelled words (and rows of words) held now."""
        return self._n_words + len(self.multi_text)

    def words_of(self, key: int) -> dict[int, str]:
        """The dict of texts by id of the flag code ``key // V`` (made if new)."""
        words = self.by_key.get(key)
        if words is None:
            words = self.by_key[key] = {}
        return words

    def add_rows(self, rows: dict[int, str]) -> None:
        """Add texts of row keys (the table takes them in at its next :meth:`sync_table`)."""
        vocab = self._vocab
        for key, text in rows.items():
            i = key % vocab
            words = self.words_of(key - i)
            self._n_words += i not in words
            words[i] = text
        self._wait((list(rows), list(rows.values())))

    def add_group(self, key: int, ids: list[int], texts: list[str]) -> None:
        """Add texts of the rows of one flag code (``key``: code * V)."""
        words = self.words_of(key)
        before = len(words)
        words.update(zip(ids, texts))
        self._n_words += len(words) - before
        self._wait(([key + i for i in ids], texts))

    def add_words(self, words: dict[int, str]) -> None:
        """Add texts of words of several rows, by word key."""
        self.multi_text.update(words)

    def _wait(self, rows: tuple[list[int], list[str]]) -> None:
        if not self._stale:
            self._pending.append(rows)
            if len(self._pending) > _MAX_PENDING:
                self._pending.clear()
                self._stale = True

    def sync_table(self) -> None:
        """Bring the (code, id) table up to date with ``by_key``."""
        if self._stale:
            self._clear_table()
            self._pending = [([key + i for i in words], list(words.values())) for key, words in self.by_key.items()]
        if not self._pending:
            return
        keys = np.fromiter(chain.from_iterable(k for k, _ in self._pending), dtype=np.int64)
        texts = np.array([*chain.from_iterable(t for _, t in self._pending), None], dtype=object)[:-1]
        self._pending.clear()
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

    def make_room(self, new: int) -> None:
        """Empty the cache if ``new`` more texts would not fit."""
        if len(self) + new > self.size:
            # subtle: emptied *before* this call's words go in; the words of the call in hand are in its texts
            logger.debug("word cache full (%d + %d > %d): emptied", len(self), new, self.size)
            self.clear()
