"""Derivational affixes for the English list (``r2d build-list --affixes``): one-step ``(root, affix)`` candidates
(``quickly -> quick ~ly``, ``bigger -> big ~er``, ``unhappy -> un~happy``) and the context-free decompositions that
compose them with the inflections (``teachers -> teach ~er ~s``). Meaning is judged by the hand-checked
``data/en_affix_exceptions.txt``, not here.
"""

from __future__ import annotations

from typing import Iterable

from r2d.lists.deconstruct import Entry, spells_back, suffix_candidates
from r2d.lists.inflections import DEFAULT_AFFIXES, MIN_ROOT_ZIPF, MIN_RULE_ROOT_ZIPF, WORD, inflection_candidates, zipf

EXTRA_AFFIXES: tuple[str, ...] = ("~ly", "~er", "~est", "un~", "re~", "~ness")
"""Affixes beyond the inflections that :func:`~r2d.lists.english.build_english_list` splits off when asked
(``r2d build-list --affixes``); their meaning test is the hand-checked ``data/en_affix_exceptions.txt``. Other
affixes are split by the same rules but unchecked (a warning says so)."""

_COMPARATIVE_TAGS = {"~er": ("JJR", "RBR"), "~est": ("JJS", "RBS")}


def _lemmas(word: str) -> dict[str, tuple[str, ...]]:
    from lemminflect import getAllLemmas

    return getAllLemmas(word)


def _is_lemma(word: str, upos: Iterable[str] | None = None) -> bool:
    """Whether ``lemminflect`` lists ``word`` as a lemma of its own (of one of ``upos``, or of any part of speech)."""
    return any(word in lemmas for pos, lemmas in _lemmas(word).items() if upos is None or pos in upos)


def _suffix_rule_roots(word: str, suffix: str) -> list[str]:
    """Every root whose spellings with ``suffix`` (:func:`r2d.lists.deconstruct.suffix_candidates`) include ``word``:
    the inverse of the spelling rules, with no judgment of frequency or meaning (``happily -> happy``,
    ``bigger -> big``, ``gently -> gentle``, ``fully -> full``)."""
    x = suffix.lstrip("~")
    stems = set()
    for cut in range(max(1, len(x) - 1), len(x) + 3):
        if cut < len(word):
            stems.update(word[:-cut] + tail for tail in ("", "e", "y", "le", "ie", "l"))
    return sorted(r for r in stems if r != word and word in suffix_candidates(r, suffix))


def derivation_candidates(word: str, *, affixes: Iterable[str] = EXTRA_AFFIXES) -> list[tuple[str, str]]:
    """Plausible one-step ``(root, affix)`` deconstructions of a lowercase word with derivational affixes, best first.

    * ``~er``, ``~est``: a comparative or superlative that ``lemminflect`` lists for an adjective or adverb and that
      the spelling rules give (``bigger -> big``, ``happiest -> happy``; not the suppletive ``better``, ``worst``);
      and for ``~er`` also an agent noun whose root is a verb (``teacher -> teach``, ``runner -> run``).
    * other suffixes (``~ly``, ``~ness``, ...): the inverse of the spelling rules (``happily -> happy``).
    * prefixes (``un~``, ``re~``): the word minus the prefix (``unhappy -> happy``).

    A root must be a word that ``lemminflect`` lists as a lemma and, except for a listed comparative
    (:data:`MIN_ROOT_ZIPF`), at least :data:`MIN_RULE_ROOT_ZIPF` frequent and three letters long. Meaning is not
    judged (``early -> ear ~ly`` is a candidate: the exceptions file decides). Order: the more frequent root first.

    >>> derivation_candidates("happily"), derivation_candidates("unhappy"), derivation_candidates("bigger")
    ([('happy', '~ly')], [('happy', 'un~')], [('big', '~er')])
    """
    if not WORD.fullmatch(word):
        return []
    affixes = tuple(a for a in affixes if a not in DEFAULT_AFFIXES)
    out: list[tuple[str, str]] = []
    comparative: set[tuple[str, str]] = set()
    for affix in affixes:
        if affix.endswith("~"):
            pre = affix[:-1]
            if word.startswith(pre):
                out.append((word[len(pre):], affix))
            continue
        if affix in _COMPARATIVE_TAGS:
            from lemminflect import getAllInflections

            for upos in ("ADJ", "ADV"):
                for lemma in _lemmas(word).get(upos, ()):
                    forms = getAllInflections(lemma, upos=upos)
                    if (lemma != word and any(word in forms.get(t, ()) for t in _COMPARATIVE_TAGS[affix])
                            and word in suffix_candidates(lemma, affix) and zipf(lemma) >= MIN_ROOT_ZIPF):
                        comparative.add((lemma, affix))
                        out.append((lemma, affix))
            if affix == "~er" and (not _lemmas(word) or _is_lemma(word, ("NOUN",))):
                out += [(r, affix) for r in _suffix_rule_roots(word, affix) if _is_lemma(r, ("VERB",))]
            continue
        out += [(r, affix) for r in _suffix_rule_roots(word, affix)]
    kept = [
        (r, a) for r, a in dict.fromkeys(out)
        if (r, a) in comparative or (len(r) >= 3 and zipf(r) >= MIN_RULE_ROOT_ZIPF and _is_lemma(r))
    ]
    kept.sort(key=lambda c: (-zipf(c[0]), affixes.index(c[1]), c[0]))
    return [c for c in kept if spells_back(compose_entry(word, c[0], c[1]))]


def compose_entry(word: str, root: str, affix: str, inner: Entry | None = None) -> Entry:
    """``word`` as ``affix`` on ``root``, where ``inner`` (if any) is ``root``'s own deconstruction: prefixes go
    outside its prefixes, suffixes after its suffixes (``un~`` on ``happy ~ness``: ``un~happy ~ness``)."""
    base, prefixes, suffixes = (root, (), ()) if inner is None else (inner.root, inner.prefixes, inner.suffixes)
    if affix.endswith("~"):
        return Entry(word, base, (affix, *prefixes), suffixes)
    return Entry(word, base, prefixes, (*suffixes, affix))


class Decomposer:
    """Deconstructions that do not depend on the rest of the list (memoized): what a word is made of when it is the
    root of another entry (``teacher`` inside ``teachers``) or stands alone with an extra affix."""

    def __init__(self, affixes: tuple[str, ...], exceptions: dict[str, Entry], affix_exceptions: dict[str, Entry],
                 irregular_verbs: str):
        self.extra = tuple(a for a in affixes if a not in DEFAULT_AFFIXES)
        self.inflections = tuple(a for a in affixes if a in DEFAULT_AFFIXES)
        self.active = set(affixes)
        self.exc, self.irregular_verbs = exceptions, irregular_verbs
        # subtle: a forced split with an affix this build leaves out does not apply (amply -> ample ~ly without ~ly)
        self.affix_exc = {w: e for w, e in affix_exceptions.items() if not e.is_split or set(e.affixes) <= self.active}
        self._derived: dict[str, Entry | None] = {}
        self._full: dict[str, Entry | None] = {}

    def derive(self, word: str) -> Entry | None:
        """``word`` split by an extra affix first (``teacher -> teach ~er``, ``unhappiness -> un~happy ~ness``)."""
        if word not in self._derived:
            self._derived[word] = None  # subtle: a guard against cycles while the word is being decided
            self._derived[word] = self._derive(word)
        return self._derived[word]

    def _derive(self, word: str) -> Entry | None:
        forced = self.affix_exc.get(word)
        if forced is not None:
            return forced if forced.is_split else None
        found = derivation_candidates(word, affixes=self.extra)
        if not found:
            return None
        root, affix = found[0]
        composed = compose_entry(word, root, affix, self.full(root))
        return composed if spells_back(composed) else compose_entry(word, root, affix)

    def full(self, word: str) -> Entry | None:
        """``word``'s whole deconstruction as the root of another word: an inflection first (its root derived in
        turn: ``expected -> expect ~ed``), else :meth:`derive`; ``None`` when it stays whole."""
        if word not in self._full:
            self._full[word] = None
            self._full[word] = self._whole_word(word)
        return self._full[word]

    def _whole_word(self, word: str) -> Entry | None:
        e = self.exc.get(word)
        if e is not None:
            return self.compose(e) if e.is_split else None
        found = inflection_candidates(word, affixes=self.inflections, irregular_verbs=self.irregular_verbs)
        if found:
            return self.compose(Entry(word, found[0][0], (), (found[0][1],)))
        return self.derive(word)

    def compose(self, entry: Entry) -> Entry:
        """An inflection entry with its root derived (``teachers -> teacher ~s`` -> ``teach ~er ~s``), or as is
        when the root stays whole or the composition cannot spell the word back."""
        inner = self.derive(entry.root) if entry.root is not None else None
        if inner is None or entry.prefixes or len(entry.suffixes) != 1:
            return entry
        composed = compose_entry(entry.word, entry.root, entry.suffixes[0], inner)
        return composed if spells_back(composed) else entry


__all__ = ["EXTRA_AFFIXES", "derivation_candidates", "compose_entry", "Decomposer"]
