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

This module does not judge meaning (the exceptions file does), does not write files (see
``r2d build-list``), and does not handle prefixes or derivational suffixes (``~er``, ``~ly``; the game does).

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

from r2d.lists.deconstruct import PENN_TAGS, DeconstructionList, Entry, ListError, read_entries, spell, spells_back

logger = logging.getLogger(__name__)

DEFAULT_AFFIXES: tuple[str, ...] = ("~s", "~ed", "~ing")
"""The suffixes that are flags in the default schema (``Suffix_s``, ``Suffix_ed``, ``Suffix_ing``)."""

MIN_ROOT_ZIPF = 2.5
"""A root must be at least this frequent in ``wordfreq`` (Zipf scale: 3 = once per million words, about the
60,000th English word is 2.4). Keeps out rare dictionary lemmas such as ``datum`` or ``dure`` (``during``)."""

MIN_RULE_ROOT_ZIPF = 3.0
"""For words ``lemminflect`` does not know, a root found by inverting the spelling rules must be this frequent
and at least three letters long (``apps -> app``; not ``los -> lo``)."""

_UPOS = ("VERB", "NOUN")  # subtle: AUX and ADJ lemmas are left out (is -> be, better -> good are not our flags)
_WORD = re.compile(r"[a-z]+")


def default_exceptions_path() -> Path:
    """The bundled hand-written exceptions file (``r2d/data/en_exceptions.txt``)."""
    return Path(str(resources.files("r2d") / "data" / "en_exceptions.txt"))


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


def _as_exceptions(exceptions: str | os.PathLike | Iterable[Entry] | None) -> dict[str, Entry]:
    if exceptions is None:
        return read_exceptions(default_exceptions_path())
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
    affixes: tuple[str, ...] = DEFAULT_AFFIXES,
    *,
    irregular_verbs: str = "whole",
    progress: Callable[[int, int], None] | None = None,
) -> list[Entry]:
    """Build the English deconstruction list for the top ``n_words`` words of ``wordfreq``.

    Args:
        n_words: how many of ``wordfreq``'s most frequent English words to consider.
        exceptions: a tilde-format exceptions file, or entries; ``None`` uses the bundled
            ``data/en_exceptions.txt``, ``()`` none at all. A keep-whole exception is emitted as ``word<TAB>``;
            a split exception replaces the automatic choice.
        affixes: the suffixes to split off (of ``~s``, ``~ed``, ``~ing``).
        irregular_verbs: ``"whole"`` (the shipped list) or ``"split"``: how a verb whose past tense and participle
            differ is written (:data:`IRREGULAR_VERBS`).
        progress: called as ``progress(done, total)`` every 1,000 words (for a progress bar).

    Returns:
        Entries in frequency order (line numbers 0): split words plus the exceptions' keep-whole words that are
        among the top ``n_words``. They load in :class:`r2d.lists.deconstruct.DeconstructionList`.

    Raises:
        ListError: a forced split in the exceptions conflicts with an earlier entry.
    """
    if irregular_verbs not in IRREGULAR_VERBS:
        raise ValueError(f"irregular_verbs must be one of {IRREGULAR_VERBS}, got {irregular_verbs!r}")
    exc = _as_exceptions(exceptions)
    words = english_words(n_words)
    claimed: dict[tuple[str, str], str] = {}
    forced = {(e.root, e.suffixes[0]): e.word for e in exc.values() if e.root is not None and len(e.suffixes) == 1}
    out: list[Entry] = []
    for i, word in enumerate(words):
        if progress is not None and i % 1000 == 0:
            progress(i, len(words))
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
    if progress is not None:
        progress(len(words), len(words))
    DeconstructionList(out, path="<built list>")  # raises on any inconsistency: never ship a bad list
    n_split = sum(e.is_split for e in out)
    logger.info("built %d entries (%d split, %d kept whole) from %d words", len(out), n_split, len(out) - n_split,
                len(words))
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
