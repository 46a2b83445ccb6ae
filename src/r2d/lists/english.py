"""The default English deconstruction list, built from word frequencies and an inflection dictionary.

Stage 2a of the pipeline, upstream of :mod:`r2d.lists.deconstruct`: it *makes* the list that module reads. Words come
from ``wordfreq.top_n_list("en", n)`` in frequency order; for each lowercase alphabetic word,
:func:`inflection_candidates` proposes ``(root, suffix)`` pairs for the three flag suffixes ``~s`` (plural nouns
NNS, third person VBZ), ``~ed`` (VBD/VBN) and ``~ing`` (VBG), regular and irregular
(``children -> child ~s``, ``rode -> ride ~ed``), from ``lemminflect``'s dictionary and, for words it does not
know (``counties``, ``apps``), from inverting the spelling rules of :func:`r2d.lists.deconstruct.spell` towards a
frequent root. :func:`build_english_list` then applies a hand-written exceptions file
(``data/en_exceptions.txt``: words whose split does not share meaning with the root, such as ``news``,
``glasses``, ``founded``, ``evening``; or a forced deconstruction) and resolves conflicts greedily in frequency
order, so that the list for the top ``n`` words is a prefix of the list for any larger ``n``:

- the first (most frequent) word that claims ``root + suffix`` keeps it (``rode`` before ``ridden``); a later
  word falls back to its next candidate or stays out of the list;
- a word with several roots takes the most frequent real one (``leaves -> leave ~s``, not ``leaf``).

Only split entries and the exceptions' explicit keep-whole entries are emitted; other words are simply absent
(the tokenizer keeps absent words whole). Every entry spells back (:func:`r2d.lists.deconstruct.spells_back`) and the
whole loads in :class:`r2d.lists.deconstruct.DeconstructionList`.

With more affixes (:data:`EXTRA_AFFIXES`: ``~ly ~er ~est un~ re~ ~ness``), :func:`derivation_candidates` inverts
the spelling rules for them too (``quickly -> quick ~ly``, ``bigger -> big ~er``, ``unhappy -> un~happy``), and a
second pass composes them with the inflections (``teachers -> teach ~er ~s``); their meaning test is a second
hand-checked file, ``data/en_affix_exceptions.txt``. The default build is unchanged by that option.

This module does not judge meaning (the exceptions files do) and does not write files (see ``r2d build-list``).

>>> inflection_candidates("riding")
[('ride', '~ing')]
>>> inflection_candidates("communities")
[('community', '~s')]
"""

from __future__ import annotations

import logging
import os
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Callable, Iterable

from r2d.lists.deconstruct import (PENN_TAGS, DeconstructionList, Entry, ListError, read_entries, spell, spells_back,
                                   suffix_candidates)

logger = logging.getLogger(__name__)

DEFAULT_AFFIXES: tuple[str, ...] = ("~s", "~ed", "~ing")
"""The suffixes that are flags in the default schema (``Suffix_s``, ``Suffix_ed``, ``Suffix_ing``)."""

MIN_ROOT_ZIPF = 2.5
"""A root must be at least this frequent in ``wordfreq`` (Zipf scale: 3 = once per million words, about the
60,000th English word is 2.4). Keeps out rare dictionary lemmas such as ``datum`` or ``dure`` (``during``)."""

EXTRA_AFFIXES: tuple[str, ...] = ("~ly", "~er", "~est", "un~", "re~", "~ness")
"""Affixes beyond the inflections that :func:`build_english_list` splits off when asked (``r2d build-list
--affixes``); their meaning test is the hand-checked ``data/en_affix_exceptions.txt``. Other affixes are split by
the same rules but unchecked (a warning says so)."""

MIN_RULE_ROOT_ZIPF = 3.0
"""For words ``lemminflect`` does not know, a root found by inverting the spelling rules must be this frequent
and at least three letters long (``apps -> app``; not ``los -> lo``)."""

_UPOS = ("VERB", "NOUN")  # subtle: AUX and ADJ lemmas are left out (is -> be, better -> good are not our flags)
_WORD = re.compile(r"[a-z]+")


def default_exceptions_path() -> Path:
    """The bundled hand-written exceptions file (``r2d/data/en_exceptions.txt``)."""
    return Path(str(resources.files("r2d") / "data" / "en_exceptions.txt"))


def default_affix_exceptions_path() -> Path:
    """The bundled hand-checked exceptions for :data:`EXTRA_AFFIXES` (``r2d/data/en_affix_exceptions.txt``)."""
    return Path(str(resources.files("r2d") / "data" / "en_affix_exceptions.txt"))


def default_list_path() -> Path:
    """The bundled English list (``r2d/data/en.tsv``, made by ``r2d build-list``)."""
    return Path(str(resources.files("r2d") / "data" / "en.tsv"))


@lru_cache(maxsize=None)
def _zipf(word: str) -> float:
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en")


def _lemminflect_candidates(word: str, affixes: tuple[str, ...]) -> list[tuple[str, str]]:
    from lemminflect import getAllInflections, getAllLemmas

    found: list[tuple[str, str]] = []
    lemmas = getAllLemmas(word)
    for upos in _UPOS:
        for lemma in lemmas.get(upos, ()):
            if lemma == word or not _WORD.fullmatch(lemma):
                continue
            forms = getAllInflections(lemma, upos=upos)
            for suffix in affixes:
                if any(word in forms.get(tag, ()) for tag in PENN_TAGS[suffix]):
                    found.append((lemma, suffix))
    return found


IRREGULAR_VERBS = ("split", "whole")
"""How :func:`build_english_list` writes an irregular verb whose past tense and participle differ (*wore*/*worn*,
*hid*/*hidden*): ``whole`` (the default) keeps both whole; ``split`` gives ``~ed`` to the more frequent of the two
and keeps the other whole, so the flag means a past tense for some verbs and a participle for others (the list
before, worse on BLiMP's irregular participles: docs/experiment/README.md)."""


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
    if not _WORD.fullmatch(word) or not affixes:
        return []
    dictionary = [
        (r, s) for r, s in _lemminflect_candidates(word, affixes) if _zipf(r) >= min_root_zipf
    ]
    dictionary.sort(key=lambda c: (-_zipf(c[0]), affixes.index(c[1]), c[0]))
    out = list(dict.fromkeys(dictionary))
    if rules is None:
        from lemminflect import getAllLemmas

        rules = not getAllLemmas(word)
    if rules:
        ruled = [
            (r, s)
            for s in affixes
            for r in _rule_roots(word, s)
            if len(r) >= 3 and _zipf(r) >= MIN_RULE_ROOT_ZIPF and (r, s) not in out
        ]
        ruled.sort(key=lambda c: (-_zipf(c[0]), affixes.index(c[1]), c[0]))
        out += ruled
    if irregular_verbs == "whole":
        out = [(r, x) for r, x in out if x != "~ed" or not one_of_two_past_forms(word, r)]
    return [c for c in out if spells_back(Entry(word, c[0], (), (c[1],)))]


# ----------------------------------------------------------------------------------------------------------
# Derivational affixes (--affixes beyond ~s ~ed ~ing): candidates, and context-free decompositions that compose.

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
    if not _WORD.fullmatch(word):
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
                            and word in suffix_candidates(lemma, affix) and _zipf(lemma) >= MIN_ROOT_ZIPF):
                        comparative.add((lemma, affix))
                        out.append((lemma, affix))
            if affix == "~er" and (not _lemmas(word) or _is_lemma(word, ("NOUN",))):
                out += [(r, affix) for r in _suffix_rule_roots(word, affix) if _is_lemma(r, ("VERB",))]
            continue
        out += [(r, affix) for r in _suffix_rule_roots(word, affix)]
    kept = [
        (r, a) for r, a in dict.fromkeys(out)
        if (r, a) in comparative or (len(r) >= 3 and _zipf(r) >= MIN_RULE_ROOT_ZIPF and _is_lemma(r))
    ]
    kept.sort(key=lambda c: (-_zipf(c[0]), affixes.index(c[1]), c[0]))
    return [c for c in kept if spells_back(_entry(word, c[0], c[1]))]


def _entry(word: str, root: str, affix: str, inner: Entry | None = None) -> Entry:
    """``word`` as ``affix`` on ``root``, where ``inner`` (if any) is ``root``'s own deconstruction: prefixes go
    outside its prefixes, suffixes after its suffixes (``un~`` on ``happy ~ness``: ``un~happy ~ness``)."""
    base, prefixes, suffixes = (root, (), ()) if inner is None else (inner.root, inner.prefixes, inner.suffixes)
    if affix.endswith("~"):
        return Entry(word, base, (affix, *prefixes), suffixes)
    return Entry(word, base, prefixes, (*suffixes, affix))


class _Decomposer:
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
        composed = _entry(word, root, affix, self.full(root))
        return composed if spells_back(composed) else _entry(word, root, affix)

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
        composed = _entry(entry.word, entry.root, entry.suffixes[0], inner)
        return composed if spells_back(composed) else entry


def _key(e: Entry) -> tuple[str | None, frozenset[str]]:
    return e.root, frozenset(e.affixes)


def read_exceptions(path: str | os.PathLike) -> dict[str, Entry]:
    """Read an exceptions file (tilde format): ``word<TAB>`` keeps a word whole, ``word<TAB>root ~x`` forces
    a deconstruction.

    Raises:
        ListError: a malformed line or a duplicate word, with file and line.
    """
    out: dict[str, Entry] = {}
    for e in read_entries(path):
        if e.word in out:
            raise ListError(str(path), e.line, f"duplicate word {e.word!r} (first on line {out[e.word].line})")
        if e.root is not None and not spells_back(e):
            raise ListError(str(path), e.line, f"{e.deconstruction!r} cannot spell {e.word!r} back")
        out[e.word] = e
    return out


def _as_exceptions(exceptions: str | os.PathLike | Iterable[Entry] | None,
                   default: Callable[[], Path] = default_exceptions_path) -> dict[str, Entry]:
    if exceptions is None:
        return read_exceptions(default())
    if isinstance(exceptions, (str, os.PathLike)):
        return read_exceptions(exceptions)
    return {e.word: e for e in exceptions}


def english_words(n_words: int) -> list[str]:
    """The lowercase alphabetic words among ``wordfreq``'s top ``n_words`` English words, in frequency order
    (``it's``, ``u.s``, ``2019`` are skipped, so the result is a little shorter than ``n_words``)."""
    from wordfreq import top_n_list

    return [w for w in top_n_list("en", n_words) if _WORD.fullmatch(w)]


def build_english_list(
    n_words: int = 60000,
    exceptions: str | os.PathLike | Iterable[Entry] | None = None,
    affixes: Iterable[str] = DEFAULT_AFFIXES,
    *,
    affix_exceptions: str | os.PathLike | Iterable[Entry] | None = None,
    irregular_verbs: str = "whole",
    progress: Callable[[int, int], None] | None = None,
) -> list[Entry]:
    """Build the English deconstruction list for the top ``n_words`` words of ``wordfreq``.

    With only ``~s``, ``~ed``, ``~ing`` (the default) every split entry has one suffix. Extra affixes
    (:data:`EXTRA_AFFIXES`) add a second pass in the same frequency order: an inflected word's root is derived in
    turn (``teachers -> teach ~er ~s``, ``rebuilt -> re~build ~ed``), and a word with no inflection is split by
    the extra affixes (``quickly -> quick ~ly``, ``unhappiness -> un~happy ~ness``), so that every form of a word
    shares one root. A root plus affixes still names one word: a later word that would name a taken one keeps its
    inflection entry as it was, or stays out of the list.

    Args:
        n_words: how many of ``wordfreq``'s most frequent English words to consider.
        exceptions: a tilde-format exceptions file, or entries; ``None`` uses the bundled
            ``data/en_exceptions.txt``, ``()`` none at all. A keep-whole exception is emitted as ``word<TAB>``;
            a split exception replaces the automatic choice.
        affixes: the affixes to split off: ``~s``, ``~ed``, ``~ing`` and any of :data:`EXTRA_AFFIXES` (others are
            split by the rules, unchecked).
        affix_exceptions: the meaning test for the extra affixes, like ``exceptions`` (``None``: the bundled
            ``data/en_affix_exceptions.txt``). A keep-whole word is emitted as ``word<TAB>`` when the build would
            otherwise split it with an extra affix; it may still be the root of other words (``early ~er``).
        irregular_verbs: ``"whole"`` (the shipped list) or ``"split"``: how a verb whose past tense and participle
            differ is written (:data:`IRREGULAR_VERBS`).
        progress: called as ``progress(done, total)`` every 1,000 words (for a progress bar).

    Returns:
        Entries in frequency order (line numbers 0): split words plus the exceptions' keep-whole words that are
        among the top ``n_words``. They load in :class:`r2d.lists.deconstruct.DeconstructionList`.

    Raises:
        ListError: a forced split in the exceptions conflicts with an earlier entry.
        ValueError: an affix that is not in tilde format, or a bad ``irregular_verbs``.
    """
    if irregular_verbs not in IRREGULAR_VERBS:
        raise ValueError(f"irregular_verbs must be one of {IRREGULAR_VERBS}, got {irregular_verbs!r}")
    affixes = tuple(dict.fromkeys(affixes))
    for a in affixes:
        if not re.fullmatch(r"~[a-z]+|[a-z]+~", a):
            raise ValueError(f"not an affix in tilde format (expected '~ly' or 'un~'): {a!r}")
    unchecked = [a for a in affixes if a not in DEFAULT_AFFIXES + EXTRA_AFFIXES]
    if unchecked:
        logger.warning("no hand-checked exceptions for %s: their splits are the rules' alone", ", ".join(unchecked))
    exc = _as_exceptions(exceptions)
    words = english_words(n_words)
    extra = tuple(a for a in affixes if a not in DEFAULT_AFFIXES)
    total = len(words) * (2 if extra else 1)
    claimed: dict[tuple[str, str], str] = {}
    forced = {(e.root, e.suffixes[0]): e.word for e in exc.values() if e.root is not None and len(e.suffixes) == 1}
    out: list[Entry] = []
    for i, word in enumerate(words):
        if progress is not None and i % 1000 == 0:
            progress(i, total)
        if word in exc:
            e = exc[word]
            if e.root is not None:
                key = (e.root, e.suffixes[0]) if len(e.suffixes) == 1 else (e.root, "".join(e.affixes))
                if key in claimed:
                    raise ListError(
                        "<exceptions>", e.line, f"{word!r} -> {e.deconstruction!r} is already taken by {claimed[key]!r}"
                    )
                claimed[key] = word
            out.append(Entry(e.word, e.root, e.prefixes, e.suffixes))
            continue
        for root, suffix in inflection_candidates(word, affixes=affixes, irregular_verbs=irregular_verbs):
            key = (root, suffix)
            if key in claimed or forced.get(key, word) != word:
                continue  # subtle: a more frequent word (or a forced exception) names this root + suffix
            claimed[key] = word
            out.append(Entry(word, root, (), (suffix,)))
            break
    if extra:
        affix_exc = _as_exceptions(affix_exceptions, default_affix_exceptions_path)
        out = _derive_pass(words, out, _Decomposer(affixes, exc, affix_exc, irregular_verbs), progress, total)
    if progress is not None:
        progress(total, total)
    DeconstructionList(out, path="<built list>")  # raises on any inconsistency: never ship a bad list
    n_split = sum(e.is_split for e in out)
    logger.info("built %d entries (%d split, %d kept whole) from %d words", len(out), n_split, len(out) - n_split,
                len(words))
    return out


def _derive_pass(words: list[str], inflected: list[Entry], dec: _Decomposer,
                 progress: Callable[[int, int], None] | None, total: int) -> list[Entry]:
    """The extra affixes over the inflection entries, in frequency order (see :func:`build_english_list`)."""
    first = {e.word: e for e in inflected}
    taken: dict[tuple[str | None, frozenset[str]], str] = {}
    out: list[Entry] = []
    for i, word in enumerate(words):
        if progress is not None and i % 1000 == 0:
            progress(len(words) + i, total)
        e = first.get(word)
        if e is not None and e.is_split:
            composed = dec.compose(e)
            e = composed if _key(composed) not in taken else e
            taken[_key(e)] = word
        elif e is None and word in dec.affix_exc:
            e = dec.affix_exc[word]
            if e.is_split and _key(e) in taken:
                raise ListError("<affix exceptions>", e.line,
                                f"{word!r} -> {e.deconstruction!r} is already taken by {taken[_key(e)]!r}")
            if e.is_split:
                taken[_key(e)] = word
            elif not derivation_candidates(word, affixes=dec.extra):
                continue  # subtle: a keep-whole decision is written only where this build would split the word
            e = Entry(e.word, e.root, e.prefixes, e.suffixes)
        elif e is None:
            e = dec.derive(word)
            if e is None or _key(e) in taken:
                continue
            taken[_key(e)] = word
        out.append(e)
    return out


def versions() -> dict[str, str]:
    """Versions of the data sources, for the list's header (``{"wordfreq": "3.1.1", "lemminflect": ...}``)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("wordfreq", "lemminflect"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:  # pragma: no cover
            out[pkg] = "unknown"
    return out
