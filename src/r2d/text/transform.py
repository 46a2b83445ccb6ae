"""Piece -> (root, flags) and back: step 1 of 2D tokenization (:class:`Deconstructor`).

>>> d = Deconstructor(DeconstructionList.from_string("riding\\tride ~ing"))
>>> d.split(" Riding")
('ride', (0, 1, 0, 0, 0, 1, 0))
>>> d.join("ride", (0, 1, 0, 0, 0, 1, 0))
' Riding'
"""

from __future__ import annotations

from typing import Iterable, Sequence

from r2d.lists.deconstruct import DeconstructionList, spell
from r2d.flags import INFERRED_FLAGS, FlagSchema, flag_to_affix

# Suffixes attach in this order when the fallback spells several at once (build ~ing ~s -> buildings):
# derivational first, inflectional last.
_INFLECTIONAL_LAST = ("~er", "~est", "~ed", "~ing", "~s")


class Deconstructor:
    """Splits pieces into (root, flags) and joins them back exactly, for one flag schema and one list.

    * ``NoSpace``: the piece has no leading space (else its one leading space is removed); white-space pieces keep
      their spaces (they are their own root, with ``NoSpace``).
    * ``Contraction_s``: a trailing ASCII ``'s`` after a letter word, removed.
    * ``FirstCap`` (first letter upper, rest lower) and ``AllCaps`` (two or more letters, all upper): set only when
      lowering and re-casing give back the exact string (``ß``, ``İ`` and titlecase digraphs keep their case in the
      root); any other casing stays in the root.
    * Affix flags: a lowercase root that the list splits into affixes that are *all* active flags is replaced by
      the list's root (``riding -> ride`` + ``Suffix_ing``).

    :meth:`join` is total: any root with any flags spells something (the list's inverse first, English spelling
    rules as the fallback), so decoding model output never raises.

    Args:
        deconstruction_list: the list; ``None`` for none (no affix flag is ever set by encoding).
        schema: the flag schema (any subset of the inferred flags, any affix flags); an inferred flag left out
            leaves what it would strip in the root, so encoding stays lossless.
    """

    def __init__(self, deconstruction_list: DeconstructionList | None = None, schema: FlagSchema | None = None):
        self.schema = schema or FlagSchema.default()
        self.list = deconstruction_list or DeconstructionList()
        names = self.schema.names
        self.num_flags = len(names)
        # columns of the inferred flags; None = not in the schema: what the flag would strip stays in the root
        # (no NoSpace: " dog" is a root; no case flags: "Dog" is; no Contraction_s: "dog's" is), still lossless
        self._ns, self._fc, self._ac, self._cs = (names.index(f) if f in names else None for f in INFERRED_FLAGS)
        affix_cols = {flag_to_affix(n): i for i, n in enumerate(names) if flag_to_affix(n) is not None}
        self._affix_col = affix_cols
        self._col_affix = {i: a for a, i in affix_cols.items()}
        self._zero = (0,) * self.num_flags
        self._first_cap = tuple(int(i == self._fc) for i in range(self.num_flags))
        # the shortcuts of split_many need the flags they set
        self._fast_lower, self._fast_cap = self._ns is not None, self._ns is not None and self._fc is not None
        # word -> (root, columns of its affix flags, flag row of " word", flag row of " Word")
        self._split = {}
        for w, (root, affixes) in self.list.split_table(affix_cols).items():
            cols = tuple(affix_cols[a] for a in affixes)
            row = tuple(int(i in cols) for i in range(self.num_flags))
            self._split[w] = (root, cols, row, tuple(max(a, b) for a, b in zip(row, self._first_cap)))

    def split(self, piece: str) -> tuple[str, tuple[int, ...]]:
        """One piece -> ``(root, flags)``; flags is a tuple of 0/1 in schema order.

        Args:
            piece: a piece from :func:`r2d.text.pretokenize.split_pieces` (any non-empty string works).
        """
        roots, rows = self.split_many([piece])
        return roots[0], rows[0]

    def split_many(self, pieces: Iterable[str]) -> tuple[list[str], list[tuple[int, ...]]]:
        """:meth:`split` for many pieces: ``(roots, flag rows)``, without a tuple per piece."""
        roots: list[str] = []
        rows: list[tuple[int, ...]] = []
        add_root, add_row, table = roots.append, rows.append, self._split
        for piece in pieces:
            w = piece[1:]
            if piece[:1] == " " and w.isalpha() and self._fast_lower:
                if w.islower():  # fast path: " word", the most common piece
                    hit = table.get(w)
                    add_root(w if hit is None else hit[0])
                    add_row(self._zero if hit is None else hit[2])
                    continue
                if self._fast_cap and w.isascii() and w[1:].islower():  # fast path: " Word" (re-cases exactly)
                    low = w.lower()
                    hit = table.get(low)
                    add_root(low if hit is None else hit[0])
                    add_row(self._first_cap if hit is None else hit[3])
                    continue
            root, row = self.split_by_rules(piece)
            add_root(root)
            add_row(row)
        return roots, rows

    def split_by_rules(self, piece: str) -> tuple[str, tuple[int, ...]]:
        """:meth:`split` by the general rules only, without its shortcuts (the reference they are tested against)."""
        flags = [0] * self.num_flags
        w = piece
        if self._ns is not None:
            if len(w) > 1 and w[0] == " " and not w[1].isspace():
                w = w[1:]
            else:
                flags[self._ns] = 1
        if self._cs is not None and len(w) > 2 and w.endswith("'s") and w[-3].isalpha():
            w = w[:-2]
            flags[self._cs] = 1
        low = w.lower()
        if low != w:
            if self._fc is not None and low[:1].upper() + low[1:] == w:
                flags[self._fc] = 1
                w = low
            elif self._ac is not None and len(w) >= 2 and low.upper() == w:
                flags[self._ac] = 1
                w = low
            # subtle: anything else (iPhone, İstanbul, ǅ) keeps its case and is never deconstructed
        if w == low:
            hit = self._split.get(w)
            if hit is not None:
                w = hit[0]
                for c in hit[1]:
                    flags[c] = 1
        return w, tuple(flags)

    def join(self, root: str, flags: Sequence) -> str:
        """``(root, flags)`` -> piece. Total: any root with any flags gives a string.

        Args:
            root: the root text.
            flags: one value per schema column; a flag is on when its value is >= 0.5
                (0/1 ints, bools and probabilities all work).
        """
        return self.join_many([root], flags)[0]

    def join_many(self, roots: list[str], flags: Sequence) -> list[str]:
        """:meth:`join` for many roots that share one flag row (how decoding spells a batch's words)."""
        on = {i for i, v in enumerate(flags) if v >= 0.5}
        affixes = [self._col_affix[i] for i in sorted(on) if i in self._col_affix]
        words = roots
        if affixes:
            words = [self._with_affixes(r, affixes) for r in words]
        if self._ac in on:
            words = [w.upper() for w in words]
        elif self._fc in on:
            words = [w[:1].upper() + w[1:] for w in words]
        if self._cs in on:
            words = [w + "'s" for w in words]
        if self._ns is not None and self._ns not in on:
            words = [" " + w for w in words]
        return list(words)

    def _with_affixes(self, root: str, affixes: list[str]) -> str:
        listed = self.list.word_for(root, affixes)
        if listed is not None:
            return listed
        prefixes = [a for a in affixes if a.endswith("~")]
        suffixes = sorted((a for a in affixes if a.startswith("~")), key=_suffix_order)
        return spell(root, prefixes=prefixes, suffixes=suffixes)


def _suffix_order(suffix: str) -> int:
    return _INFLECTIONAL_LAST.index(suffix) + 1 if suffix in _INFLECTIONAL_LAST else 0
