"""Spelling the words the decoder's cache lacks, and caching them: row by row where a word's text is its rows'
texts put together (by template: only NoSpace, FirstCap and AllCaps on), else whole, by the deconstructor
(:meth:`r2d.text.transform.Deconstructor.join_many`), which never raises on model output.
"""

from __future__ import annotations

from itertools import repeat
from typing import Callable, Iterable, Sequence

import numpy as np

from r2d.flags import ALL_CAPS, FIRST_CAP, NO_SPACE
from r2d.text.transform import Deconstructor
from r2d.tokenizer.word_cache import UNK_TEXT, WordCache

_MAX_KEY_ROWS = 32  # words of more rows (rare: long runs of unknown bytes) are spelled every time, not cached


class Speller:
    """Spells the words a decoder found no text for, and keeps them in its cache (:attr:`cache`). Its arguments
    are the :class:`~r2d.tokenizer.decode.Decoder`'s, and ``special_text``: each special id -> its token."""

    def __init__(self, deconstructor: Deconstructor, id_to_token: list[str], kind: np.ndarray,
                 token_bytes: list[bytes], special_text: dict[int, str], cache_size: int):
        self.deconstructor = deconstructor
        self.num_flags = deconstructor.num_flags
        self.id_to_token = id_to_token
        self._vocab = len(id_to_token)
        self._kind_list: list[int] = kind.tolist()
        self.token_bytes = token_bytes
        self._pieces = [_valid_utf8(b) for b in token_bytes]  # per id: its bytes as text, None if not UTF-8
        names = deconstructor.schema.names
        # flag bits that keep a word's text the texts of its rows put together (see template), and the rest
        self._not_local = ~sum(1 << j for j, n in enumerate(names) if n in (NO_SPACE, FIRST_CAP, ALL_CAPS))
        self._templates: dict[int, tuple[str, int] | None] = {}  # flag code -> how it spells (see template)
        self.cache = WordCache(self._vocab, self.num_flags, special_text, cache_size, self.row_speller)

    def template(self, code: int) -> tuple[str, int] | None:
        """How a flag code spells a word whose text is the texts of its rows put together: ``(prefix, case)``
        with case 0 (as is), 1 (first character upper) or 2 (all upper); ``None`` for any other code.

        Only NoSpace, FirstCap and AllCaps may be on, and :meth:`Deconstructor.join_many` must spell probe roots
        as ``prefix + root`` in that case: the rule is read from the deconstructor, not restated here.
        """
        if code & self._not_local:
            return None
        found = self._templates.get(code, False)
        if found is False:
            probes = ["ab", "ǆa", "ßé", "1a", "a b", "İi", " ab", "\u0301a"]
            prefix = self.deconstructor.join_many([""], self._flag_row(code))[0]
            got = self.deconstructor.join_many(probes, self._flag_row(code))
            found = self._templates[code] = next(
                ((prefix, case) for case in range(3) if got == [prefix + cased(r, case) for r in probes]), None)
        return found

    def row_speller(self, code: int) -> tuple[Callable[[int], str | None], Callable[[Sequence[int]], list]]:
        """How the rows of a flag code spell alone: ``(one, many)``: an id -> its text, ids -> their texts;
        ``None`` where a row does not spell alone.

        Under a code with a :meth:`template`, a word's first row with text of its own and a row that continues a
        word spell alone, their bytes valid UTF-8. Under any other code only a word's first row does, spelled by
        the deconstructor as a one-row word: a row that continues it never spells alone, so :meth:`fill_words`
        sees it and spells the whole word.
        """
        kind, pieces, form = self._kind_list, self._pieces, self.template(code)
        if form is None:
            row, join = self._flag_row(code), self.deconstructor.join_many

            def many(ids: Sequence[int]) -> list[str | None]:
                heads = [n for n, i in enumerate(ids) if kind[i] == 1 and pieces[i]]
                texts = [None] * len(ids)
                for n, text in zip(heads, join([pieces[ids[n]] for n in heads], row)):
                    texts[n] = text
                return texts
            return (lambda i: many((i,))[0]), many
        prefix, case = form

        def one(i: int) -> str | None:
            piece, k = pieces[i], kind[i]
            if piece is None or k == 2 or (k == 1 and not piece):  # subtle: "" would take FirstCap's capital
                return None
            if k == 0:
                return piece.upper() if case == 2 else piece
            return prefix + cased(piece, case)
        return one, (lambda ids: list(map(one, ids)))

    def _flag_row(self, code: int) -> list[int]:
        return [(code >> j) & 1 for j in range(self.num_flags)]

    def spell_rows(self, keys: np.ndarray) -> None:
        """Spell the rows of many row keys at once (a batch of new text), into the cache."""
        codes, ids = np.divmod(keys, self._vocab)
        order = np.argsort(codes, kind="stable")
        bounds = np.flatnonzero(np.diff(codes[order], prepend=-1, append=-1)).tolist()
        for g, h in zip(bounds[:-1], bounds[1:]):
            group = order[g:h]
            self.cache.spell_rows(int(codes[group[0]]) * self._vocab, ids[group].tolist())

    def fill(self, texts: list, ids, codes, bounds: list[int], skip_special_tokens: bool) -> None:
        """Write the rows no key found a text for (``None``), of texts ``bounds[b]:bounds[b + 1]`` (``ids`` and
        ``codes``, each row's ``code * V`` or ``None``, read like lists): see :meth:`fill_words`; special and
        out-of-vocabulary rows as written or "" (``skip_special_tokens``)."""
        vocab, kind, starts = self._vocab, self._kind_list, set(bounds)
        words = []  # (first row, end row, flag code, ids)
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
                                    else UNK_TEXT, e - j)
                j = e
                continue
            s = j  # the word's first row: back over the continuation rows found by row
            while not kind[ids[s]] and s not in starts and 0 <= ids[s - 1] < vocab and kind[ids[s - 1]] != 2:
                s -= 1
            e = j + 1
            while e not in starts and 0 <= ids[e] < vocab and not kind[ids[e]]:
                e += 1
            words.append((s, e, codes[s] // vocab if codes is not None else 0, ids[s:e]))
            texts[s:e] = repeat("", e - s)
            j = e
        self.fill_words(texts, words)

    def fill_words(self, texts: list, words: Iterable[tuple[int, int, int, list[int]]]) -> None:
        """Write words ``(first row, end row, flag code, ids)`` that have a row without text: by row where every
        row spells alone, else whole (cached by word), on the first row, "" on the others."""
        words_of, multi_text = self.cache.words_of, self.cache.multi_text
        top = 1 << self.num_flags  # subtle: a leading 1 above the code keeps word keys of different lengths apart
        vocab, kind = self._vocab, self._kind_list
        misses = []  # (first row, flag code, ids, key: word key in the cache's multi_text, or None: not cached)
        for s, e, code, word in words:
            key = None
            if e - s <= _MAX_KEY_ROWS:
                key = code + top
                for x in word:
                    key = key * vocab + x
                hit = multi_text.get(key)
                if hit is not None:
                    texts[s:e] = [hit, *repeat("", e - s - 1)]
                    continue
            if kind[word[0]] == 1:  # by row, where every row of the word spells alone
                found = list(map(words_of(code * vocab).__getitem__, word))
                if None not in found:
                    texts[s:e] = found
                    continue
            misses.append((s, code, word, key))
            texts[s:e] = repeat("", e - s)
        if misses:
            self._spell_words(misses, texts)

    def _spell_words(self, misses: list[tuple], texts: list) -> None:
        """Spell the words :meth:`fill_words` left to the deconstructor (each distinct one once), cache them
        whole, write them."""
        tb = self.token_bytes
        order: dict[int, int] = {}  # key (-1 - first row: not cached) -> its number in the lists below
        refs: list[int] = []  # per miss: its key in `order`
        codes, roots = [], []
        for s, code, word, key in misses:
            ref = -1 - s if key is None else key
            if ref not in order:
                order[ref] = len(roots)
                codes.append(code)
                roots.append(_utf8(b"".join([tb[i] for i in word])))
            refs.append(ref)
        spelled = self._spell(codes, roots)
        whole = {k: spelled[n] for k, n in order.items() if k >= 0}
        self.cache.make_room(len(whole))
        self.cache.add_words(whole)
        for (s, *_), ref in zip(misses, refs):
            texts[s] = spelled[order[ref]]

    def _spell(self, codes: list[int], roots: list[str]) -> list[str]:
        """Spell words (root + flag code; bit j = flag j): by template where the code has one, else with the
        deconstructor, in groups that share a code."""
        texts = [""] * len(codes)
        groups: dict[int, list[int]] = {}
        for n, (c, root) in enumerate(zip(codes, roots)):
            form = self.template(c)
            if form is None:
                groups.setdefault(c, []).append(n)
            else:
                texts[n] = form[0] + cased(root, form[1])
        for c, members in groups.items():
            for n, t in zip(members, self.deconstructor.join_many([roots[n] for n in members], self._flag_row(c))):
                texts[n] = t
        return texts


def cased(text: str, case: int) -> str:
    """``text`` as is (case 0), with its first character upper (1) or all upper (2)."""
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


__all__ = ["Speller", "cased"]
