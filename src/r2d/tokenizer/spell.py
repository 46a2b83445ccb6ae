"""Spelling the words the decoder's cache lacks, and caching them: by template where a word's text is its rows'
texts put together (only NoSpace, FirstCap and AllCaps on), else by the deconstructor
(:meth:`r2d.text.transform.Deconstructor.join_many`), which never raises on model output.
"""

from __future__ import annotations

from itertools import repeat

import numpy as np

from r2d.flags import ALL_CAPS, FIRST_CAP, NO_SPACE
from r2d.text.transform import Deconstructor
from r2d.tokenizer.word_cache import NO_TEXTS, UNK_TEXT, WordCache

_MAX_KEY_ROWS = 32  # words of more rows (rare: long runs of unknown bytes) are spelled every time, not cached


class Speller:
    """Spells and caches the words a decoder found no text for. Its arguments are the
    :class:`~r2d.tokenizer.decode.Decoder`'s, and ``cache``: the decoder's cache, where spelled words go."""

    def __init__(self, deconstructor: Deconstructor, id_to_token: list[str], kind: np.ndarray,
                 token_bytes: list[bytes], cache: WordCache):
        self.deconstructor = deconstructor
        self.num_flags = deconstructor.num_flags
        self.id_to_token = id_to_token
        self._vocab = len(id_to_token)
        self.kind = kind
        self._kind_list: list[int] = kind.tolist()
        self.token_bytes = token_bytes
        self._pieces = [_valid_utf8(b) for b in token_bytes]  # per id: its bytes as text, None if not UTF-8
        self._piece_array = np.array(self._pieces + [None], dtype=object)[:-1]  # the same, for numpy gathers
        self._piece_len = np.array([-1 if p is None else len(p) for p in self._pieces], dtype=np.int64)
        names = deconstructor.schema.names
        # flag bits that keep a word's text the texts of its rows put together (see template), and the rest
        self._not_local = ~sum(1 << j for j, n in enumerate(names) if n in (NO_SPACE, FIRST_CAP, ALL_CAPS))
        self._templates: dict[int, tuple[str, int] | None] = {}  # flag code -> how it spells (see template)
        self.cache = cache

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
            row = [(code >> j) & 1 for j in range(self.num_flags)]
            probes = ["ab", "ǆa", "ßé", "1a", "a b", "İi", " ab", "\u0301a"]
            prefix = self.deconstructor.join_many([""], row)[0]
            got = self.deconstructor.join_many(probes, row)
            found = self._templates[code] = next(
                ((prefix, case) for case in range(3) if got == [prefix + cased(r, case) for r in probes]), None)
        return found

    def spell_rows(self, missing: np.ndarray) -> bool:
        """Cache the text of every row key in ``missing`` that is cached by row (numpy, for many new rows at
        once); ``False`` if there was none.

        Besides the rows of words put together from their rows, a one-row word whose flags need the
        deconstructor is cached by row too: a row that continues it is never cached by row (its flags have no
        template), so :meth:`fill` sees it and spells the whole word.
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
            form = self.template(code)
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
        self.cache.make_room(new)
        for group in groups:
            self.cache.add_group(*group)
        return True

    def fill(self, texts: list, ids, codes, bounds: list[int], skip_special_tokens: bool, by_row: bool = True
              ) -> None:
        """Write the rows no key found a text for: a word's text on its first row, "" on the others (``by_row``:
        cache new words by row where they allow it; ``False``: :meth:`spell_rows` has done so already)."""
        vocab, kind, pieces, starts = self._vocab, self._kind_list, self._pieces, set(bounds)
        by_key, multi_text = self.cache.by_key, self.cache.multi_text  # (nothing empties the cache before the end)
        top = 1 << self.num_flags  # subtle: a leading 1 above the code keeps word keys of different lengths apart
        new_rows: dict[int, str] = {}  # row key -> text, of new one-row words
        misses = []  # (first row, end row, code, key: row key, word key in the cache's multi_text, or None: not cached)
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
            code = codes[s] // vocab if codes is not None else 0
            first = ids[s]
            if by_row and kind[first] == 1 and pieces[first]:  # a new word (the common case): by row if it can
                form = self.template(code)
                if e - s == 1:
                    key = code * vocab + first
                    known = by_key.get(key - first, NO_TEXTS).get(first)  # (no table row for some codes)
                    if known is not None:
                        texts[s] = known
                    elif form is not None:
                        texts[s] = new_rows[key] = form[0] + cased(pieces[first], form[1])
                    else:  # a one-row word for the deconstructor, cached by row (see _spell_rows)
                        misses.append((s, e, code, key))
                        texts[s] = ""
                    j = e
                    continue
                rest = [pieces[x] for x in ids[s + 1:e]]
                if form is not None and None not in rest:
                    head = form[0] + cased(pieces[first], form[1])
                    if form[1] == 2:
                        rest = [x.upper() for x in rest]
                    texts[s:e] = [head, *rest]
                    base = code * vocab
                    known = by_key.get(base, NO_TEXTS)
                    new_rows.update((base + x, t) for x, t in zip(ids[s:e], texts[s:e]) if x not in known)
                    j = e
                    continue
            key = None
            if e - s <= _MAX_KEY_ROWS:
                key = code + top
                for x in ids[s:e]:
                    key = key * vocab + x
                hit = multi_text.get(key)
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
            self.cache.make_room(len(new_rows))
            self.cache.add_rows(new_rows)

    def _spell_words(self, misses: list[tuple], new_rows: dict[int, str], texts: list, ids: list[int]) -> None:
        """Spell the words :meth:`fill` left to the deconstructor (each distinct one once), cache them with
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
        self.cache.make_room(len(new_rows) + len(whole))
        self.cache.add_rows(new_rows)
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
            row = [(c >> j) & 1 for j in range(self.num_flags)]
            for n, t in zip(members, self.deconstructor.join_many([roots[n] for n in members], row)):
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
