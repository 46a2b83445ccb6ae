"""Inflection candidates for the English list: ``(root, suffix)`` pairs for the three flag suffixes ``~s`` (plural
nouns NNS, third person VBZ), ``~ed`` (VBD/VBN) and ``~ing`` (VBG), regular and irregular (``children -> child ~s``,
``rode -> ride ~ed``), from ``lemminflect``'s dictionary and, for words it does not know (``counties``, ``apps``),
from inverting the spelling rules of :func:`r2d.lists.deconstruct.spell` towards a frequent root.

>>> inflection_candidates("riding")
[('ride', '~ing')]
>>> inflection_candidates("communities")
[('community', '~s')]
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable

from r2d.lists.deconstruct import PENN_TAGS, Entry, spell, spells_back

DEFAULT_AFFIXES: tuple[str, ...] = ("~s", "~ed", "~ing")
"""The suffixes that are flags in the default schema (``Suffix_s``, ``Suffix_ed``, ``Suffix_ing``)."""

MIN_ROOT_ZIPF = 2.5
"""A root must be at least this frequent in ``wordfreq`` (Zipf scale: 3 = once per million words, about the
60,000th English word is 2.4). Keeps out rare dictionary lemmas such as ``datum`` or ``dure`` (``during``)."""


MIN_RULE_ROOT_ZIPF = 3.0
"""For words ``lemminflect`` does not know, a root found by inverting the spelling rules must be this frequent
and at least three letters long (``apps -> app``; not ``los -> lo``)."""

_UPOS = ("VERB", "NOUN")  # subtle: AUX and ADJ lemmas are left out (is -> be, better -> good are not our flags)
WORD = re.compile(r"[a-z]+")
"""What the list considers: lowercase alphabetic words."""


@lru_cache(maxsize=None)
def zipf(word: str) -> float:
    """``wordfreq``'s Zipf frequency of an English word (remembered)."""
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en")


def _lemminflect_candidates(word: str, affixes: tuple[str, ...]) -> list[tuple[str, str]]:
    from lemminflect import getAllInflections, getAllLemmas

    found: list[tuple[str, str]] = []
    lemmas = getAllLemmas(word)
    for upos in _UPOS:
        for lemma in lemmas.get(upos, ()):
            if lemma == word or not WORD.fullmatch(lemma):
                continue
            forms = getAllInflections(lemma, upos=upos)
            for suffix in affixes:
                if any(word in forms.get(tag, ()) for tag in PENN_TAGS[suffix]):
                    found.append((lemma, suffix))
    return found


IRREGULAR_VERBS = ("split", "whole")
"""How :func:`~r2d.lists.english.build_english_list` writes an irregular verb whose past tense and participle
differ (*wore*/*worn*, *hid*/*hidden*): ``whole`` (the default) keeps both whole; ``split`` gives ``~ed`` to the more
frequent of the two and keeps the other whole, so the flag means a past tense for some verbs and a participle for
others (the list before, worse on BLiMP's irregular participles: docs/experiment/README.md)."""


def one_of_two_past_forms(word: str, root: str) -> bool:
    """Whether ``word -> root ~ed`` would name only one of two forms: ``word`` is an irregular form (not the ``~ed``
    spelling rule's: *fitted*, *spelled* are not) of a verb whose past tense and participle differ in
    ``lemminflect``, and it is only one of them (*wore*, *hidden*; not *paid*, both past forms of *pay*).

    >>> one_of_two_past_forms("hidden", "hide"), one_of_two_past_forms("paid", "pay")
    (True, False)
    """
    from lemminflect import getAllInflections

    if spell(root, suffixes=("~ed",)) == word:
        return False
    forms = getAllInflections(root, upos="VERB")
    past, participle = set(forms.get("VBD", ())), set(forms.get("VBN", ()))
    return bool(past and participle and past != participle and (word in past) != (word in participle))


def _rule_roots(word: str, suffix: str) -> list[str]:
    """Roots whose first-choice spelling with ``suffix`` is exactly ``word`` (the inverse of :func:`spell`)."""
    x = suffix.lstrip("~")
    stems: set[str] = set()
    if x == "s":
        if word.endswith("s"):
            stems.add(word[:-1])
        if word.endswith("es"):
            stems.add(word[:-2])
        if word.endswith("ies"):
            stems.add(word[:-3] + "y")
    elif word.endswith(x):
        base = word[: -len(x)]
        stems.update({base, base + "e"})
        if len(base) >= 2 and base[-1] == base[-2]:
            stems.add(base[:-1])  # planned -> plan
        if x == "ed" and base.endswith("i"):
            stems.add(base[:-1] + "y")  # carried -> carry
        if x == "ing" and base.endswith("y"):
            stems.add(base[:-1] + "ie")  # lying -> lie
    return sorted(s for s in stems if s and spell(s, suffixes=(suffix,)) == word)


def inflection_candidates(
    word: str,
    *,
    affixes: Iterable[str] = DEFAULT_AFFIXES,
    rules: bool | None = None,
    min_root_zipf: float = MIN_ROOT_ZIPF,
    irregular_verbs: str = "split",
) -> list[tuple[str, str]]:
    """Plausible ``(root, suffix)`` deconstructions of a lowercase word, best first.

    Candidates come from ``lemminflect`` (the word is a listed NNS/VBZ, VBD/VBN or VBG form of a noun or verb
    lemma, irregulars included) and, when ``rules`` allows, from inverting the English spelling rules. Every
    candidate spells back (:func:`r2d.lists.deconstruct.spells_back`) and has a root of at least ``min_root_zipf`` in
    ``wordfreq`` (rule roots: :data:`MIN_RULE_ROOT_ZIPF` and three letters). Order: dictionary candidates
    before rule candidates, then the more frequent root first (``leaves``: ``leave`` before ``leaf``).
    Meaning is not judged here: ``founded -> found ~ed`` is a candidate.

    Args:
        word: a lowercase word (anything else gives ``[]``).
        affixes: the suffixes to consider (of ``~s``, ``~ed``, ``~ing``; others are ignored).
        rules: also invert spelling rules: ``True`` always, ``False`` never, ``None`` (default) only when
            ``lemminflect`` does not know the word at all.
        min_root_zipf: the least ``wordfreq`` Zipf frequency of a dictionary root.
        irregular_verbs: ``"split"`` (default: every candidate) or ``"whole"``: leave out ``~ed`` candidates that
            name one of two past forms (:func:`one_of_two_past_forms`, :data:`IRREGULAR_VERBS`); the list build
            passes its own setting.

    Returns:
        A list of ``(root, suffix)``, without duplicates; empty when nothing fits.

    >>> inflection_candidates("leaves")
    [('leave', '~s'), ('leaf', '~s')]
    >>> inflection_candidates("ring")
    []
    """
    affixes = tuple(a for a in affixes if a in DEFAULT_AFFIXES)
    if not WORD.fullmatch(word) or not affixes:
        return []
    dictionary = [
        (r, s) for r, s in _lemminflect_candidates(word, affixes) if zipf(r) >= min_root_zipf
    ]
    dictionary.sort(key=lambda c: (-zipf(c[0]), affixes.index(c[1]), c[0]))
    out = list(dict.fromkeys(dictionary))
    if rules is None:
        from lemminflect import getAllLemmas

        rules = not getAllLemmas(word)
    if rules:
        ruled = [
            (r, s)
            for s in affixes
            for r in _rule_roots(word, s)
            if len(r) >= 3 and zipf(r) >= MIN_RULE_ROOT_ZIPF and (r, s) not in out
        ]
        ruled.sort(key=lambda c: (-zipf(c[0]), affixes.index(c[1]), c[0]))
        out += ruled
    if irregular_verbs == "whole":
        out = [(r, x) for r, x in out if x != "~ed" or not one_of_two_past_forms(word, r)]
    return [c for c in out if spells_back(Entry(word, c[0], (), (c[1],)))]


__all__ = ["DEFAULT_AFFIXES", "MIN_ROOT_ZIPF", "MIN_RULE_ROOT_ZIPF", "IRREGULAR_VERBS", "WORD", "zipf",
           "inflection_candidates", "one_of_two_past_forms"]
