"""The default English deconstruction list, built from ``wordfreq`` frequencies, ``lemminflect``'s inflections and a
hand-written exceptions file (:func:`build_english_list`; ``r2d build-list`` writes it).
"""

from __future__ import annotations

import logging
import os
import re
from importlib import resources
from pathlib import Path
from typing import Callable, Iterable

from r2d.lists.deconstruct import DeconstructionList, Entry, ListError, read_entries, spells_back
from r2d.lists.derivations import EXTRA_AFFIXES, Decomposer, derivation_candidates
from r2d.lists.inflections import (  # noqa: F401  (re-exported: importable from here as before)
    DEFAULT_AFFIXES,
    IRREGULAR_VERBS,
    MIN_ROOT_ZIPF,
    MIN_RULE_ROOT_ZIPF,
    WORD,
    inflection_candidates,
    one_of_two_past_forms,
)

logger = logging.getLogger(__name__)


def default_exceptions_path() -> Path:
    """The bundled hand-written exceptions file (``r2d/data/en_exceptions.txt``)."""
    return Path(str(resources.files("r2d") / "data" / "en_exceptions.txt"))


def default_affix_exceptions_path() -> Path:
    """The bundled hand-checked exceptions for :data:`EXTRA_AFFIXES` (``r2d/data/en_affix_exceptions.txt``)."""
    return Path(str(resources.files("r2d") / "data" / "en_affix_exceptions.txt"))


def default_list_path() -> Path:
    """The bundled English list (``r2d/data/en.tsv``, made by ``r2d build-list``)."""
    return Path(str(resources.files("r2d") / "data" / "en.tsv"))


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

    return [w for w in top_n_list("en", n_words) if WORD.fullmatch(w)]


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

    Each lowercase alphabetic word gets its candidates (:func:`~r2d.lists.inflections.inflection_candidates`), and
    conflicts are resolved greedily in frequency order, so the list for the top ``n`` words is a prefix of the list
    for any larger ``n``: the first word that claims ``root + suffix`` keeps it (``rode`` before ``ridden``), a later
    one falls back to its next candidate or stays out, and a word with several roots takes the most frequent real one
    (``leaves -> leave ~s``, not ``leaf``). Words left out of the list are kept whole by the tokenizer.

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
        out = _derive_pass(words, out, Decomposer(affixes, exc, affix_exc, irregular_verbs), progress, total)
    if progress is not None:
        progress(total, total)
    DeconstructionList(out, path="<built list>")  # raises on any inconsistency: never ship a bad list
    n_split = sum(e.is_split for e in out)
    logger.info("built %d entries (%d split, %d kept whole) from %d words", len(out), n_split, len(out) - n_split,
                len(words))
    return out


def _derive_pass(words: list[str], inflected: list[Entry], dec: Decomposer,
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


__all__ = ["DEFAULT_AFFIXES", "EXTRA_AFFIXES", "IRREGULAR_VERBS", "MIN_ROOT_ZIPF", "MIN_RULE_ROOT_ZIPF",
           "build_english_list", "default_affix_exceptions_path", "default_exceptions_path", "default_list_path",
           "derivation_candidates", "english_words", "inflection_candidates", "one_of_two_past_forms",
           "read_exceptions", "versions"]
