"""Guessed deconstructions for the deconstruction game: ``word -> [Entry, ...]``, likely answer first.

Candidates come from ``lemminflect`` (``ran -> run ~ed``) and from English spelling rules run backwards for common
affixes (:data:`SUFFIX_ENDINGS`, :data:`PREFIXES`); each must spell the word back, and they are ranked by root
frequency plus evidence. An inflection is split off alone (``players -> player ~s``); derivational affixes down to
the base word (``unbeatable -> un~beat ~able``), as in ``tests/data/guess_sample.tsv``. Guesses decide nothing: only
the player can judge whether a root shares the word's meaning.

>>> [e.deconstruction for e in guesses("communities")][:1]
['community ~s']
>>> [e.deconstruction for e in guesses("housing")][:1]
['house ~ing']
>>> guesses("quick")
[]
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from typing import Callable, Collection, Iterable

from r2d.lists.deconstruct import PENN_TAGS, Entry, spellings, spells_back

logger = logging.getLogger(__name__)

INFLECTIONS = ("~s", "~ed", "~ing", "~er", "~est", "~en")
"""Inflectional suffixes: split off alone, never stacked under a derivational analysis."""

# affix -> surface endings to strip when looking for a root (the forward rules decide what really spells).
SUFFIX_ENDINGS: dict[str, tuple[str, ...]] = {
    "~s": ("s", "es", "ies", "ves", "i", "a"),
    "~ed": ("ed", "d", "ied"),
    "~ing": ("ing", "ying"),
    "~er": ("er", "r", "ier"),
    "~est": ("est", "st", "iest"),
    "~en": ("en", "n"),
    "~ly": ("ly", "ily", "ally", "y"),
    "~ment": ("ment",),
    "~tion": ("tion", "ation", "ition", "ion", "sion", "ication", "ption"),
    "~ness": ("ness", "iness"),
    "~able": ("able", "iable"),
    "~ible": ("ible",),
    "~ful": ("ful", "iful"),
    "~less": ("less", "iless"),
    "~ity": ("ity", "ality"),
    "~al": ("al", "ial"),
    "~ous": ("ous", "ious"),
    "~ive": ("ive", "ative"),
    "~ize": ("ize",),
    "~ise": ("ise",),
    "~ist": ("ist",),
    "~ism": ("ism",),
    "~ish": ("ish",),
    "~or": ("or",),
    "~ic": ("ic",),
    "~y": ("y",),
    "~ship": ("ship",),
    "~hood": ("hood",),
    "~dom": ("dom",),
    "~ance": ("ance",),
    "~ence": ("ence",),
    "~ant": ("ant",),
    "~ent": ("ent",),
    "~ery": ("ery", "ry"),
    "~ee": ("ee",),
    "~ian": ("ian", "an"),
    "~ward": ("ward",),
    "~wise": ("wise",),
}

PREFIXES: tuple[str, ...] = (
    "un~", "re~", "dis~", "in~", "im~", "il~", "ir~", "non~", "pre~", "mis~", "over~", "under~", "out~",
    "anti~", "de~", "inter~", "sub~", "super~", "co~", "semi~", "multi~", "counter~", "trans~", "post~",
)

# Score = the root's Zipf frequency plus evidence. Common affixes cost nothing, rare ones a little; prefixes
# that are often opaque (im~migration, de~press) cost more than transparent ones (un~, re~, dis~).
_COMMON = {"~s", "~ed", "~ing", "~er", "~ly", "~ment", "~tion", "~ness", "~able", "un~", "re~", "dis~"}
_TRANSPARENT_PREFIXES = {"un~", "re~", "dis~", "non~", "mis~", "over~", "under~", "out~", "anti~", "semi~",
                         "multi~", "super~", "counter~"}
_RARE_PENALTY = 0.4
_OPAQUE_PREFIX_PENALTY = 1.5
_EXTRA_AFFIX_PENALTY = 0.5
_CONFIRMED_BONUS = 3.0
_CONTRADICTED_PENALTY = 5.0
MIN_ROOT_ZIPF = 2.5
"""A root must be at least this frequent (Zipf scale, ``wordfreq``) unless ``lemminflect`` vouches for it."""
MIN_INNER_ZIPF = 2.0
"""The word inside a two-suffix analysis (``hopeful`` in ``hope ~ful ~ly``) must be at least this frequent."""
MIN_SCORE = 2.0
"""Candidates scoring below this are not shown (they are almost never the answer)."""

_DERIVATIONAL = tuple(s for s in SUFFIX_ENDINGS if s not in INFLECTIONS) + ("~er",)  # ~er: also agent nouns
_TAG_SUFFIX = {tag: suffix for suffix, tags in PENN_TAGS.items() for tag in tags}  # "NNS" -> "~s", ...
_LEMMA_CHECKED = ("~s", "~ed", "~ing")  # inflections whose root lemminflect should know when it knows the word
_LEMMA_OTHER_CHECKED = ("~en", "~er", "~est")  # ... when it knows the word as a form of another lemma
_WORD = re.compile(r"^[a-z]+$")


@dataclass(frozen=True)
class Guess:
    """One ranked guess.

    Attributes:
        entry: the split, ready to write to a list.
        score: higher is likelier (root Zipf frequency plus evidence).
        source: ``"lemminflect"`` or ``"rules"``.
    """

    entry: Entry
    score: float
    source: str


@functools.lru_cache(maxsize=200_000)
def zipf(word: str, lang: str = "en") -> float:
    """``wordfreq`` Zipf frequency of ``word`` (0 when unknown or ``wordfreq`` is missing)."""
    try:
        from wordfreq import zipf_frequency
    except ImportError:  # pragma: no cover - wordfreq is a dependency
        return 0.0
    return zipf_frequency(word, lang)


@functools.lru_cache(maxsize=50_000)
def _lemmas(word: str) -> dict[str, tuple[str, ...]]:
    try:
        from lemminflect import getAllLemmas
    except ImportError:  # pragma: no cover
        return {}
    return dict(getAllLemmas(word))


@functools.lru_cache(maxsize=50_000)
def _inflections(lemma: str) -> dict[str, tuple[str, ...]]:
    try:
        from lemminflect import getAllInflections
    except ImportError:  # pragma: no cover
        return {}
    return dict(getAllInflections(lemma))


def lemminflect_splits(word: str) -> list[Entry]:
    """Inflections ``lemminflect`` knows: ``ran -> run ~ed``, ``better -> good ~er``, ``taken -> take ~en``.

    A past participle that differs from the past tense (``spoken`` vs ``spoke``) gets ``~en`` when the rules
    spell it (``taken``) and nothing otherwise, because ``speak ~ed`` names ``spoke`` in a list.
    """
    out: list[Entry] = []
    for lemma in {lem for lemmas in _lemmas(word).values() for lem in lemmas}:
        if lemma == word or not _WORD.match(lemma):
            continue
        forms = _inflections(lemma)
        for tag, suffix in _TAG_SUFFIX.items():
            if word not in forms.get(tag, ()):
                continue
            if tag == "VBN" and word not in forms.get("VBD", ()):
                if word in spellings(lemma, (), ("~en",)):
                    out.append(Entry(word, lemma, (), ("~en",)))
                continue
            e = Entry(word, lemma, (), (suffix,))
            if spells_back(e):
                out.append(e)
    return list(dict.fromkeys(out))


def _root_candidates(word: str, ending: str) -> set[str]:
    """Roots that may give ``word`` when a suffix spelled ``ending`` attaches (over-generates on purpose)."""
    stem = word[: -len(ending)] if ending else word
    if len(stem) < 2:
        return set()
    c = {stem, stem + "e", stem + "y", stem + "te", stem + "de", stem + "be", stem + "le", stem + "f",
         stem + "fe", stem + "us", stem + "is", stem + "on", stem + "um", stem + "ic", stem + "t", stem + "d",
         stem + "ie", stem + "ate", stem + "y" + "e"}
    if len(stem) >= 3 and stem[-1] == stem[-2]:
        c.add(stem[:-1])
    if stem.endswith("i"):
        c |= {stem[:-1] + "y", stem[:-1] + "ie"}
    if stem.endswith("y"):
        c.add(stem[:-1] + "ie")
    if stem.endswith("ck"):
        c.add(stem[:-1])
    return {r for r in c if r != word and _WORD.match(r)}


def suffix_splits(word: str, suffixes: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """``(root, suffix)`` pairs such that the spelling rules turn ``root + suffix`` into ``word``.

    Args:
        word: lowercase word.
        suffixes: affixes to try (default: all of :data:`SUFFIX_ENDINGS`).
    """
    out: list[tuple[str, str]] = []
    for suffix in SUFFIX_ENDINGS if suffixes is None else suffixes:
        for ending in SUFFIX_ENDINGS.get(suffix, (suffix.lstrip("~"),)):
            if not word.endswith(ending):
                continue
            for root in sorted(_root_candidates(word, ending)):
                if word in spellings(root, (), (suffix,)):
                    out.append((root, suffix))
    return list(dict.fromkeys(out))


def _prefix_splits(word: str) -> list[tuple[str, str]]:
    """``(prefix, rest)`` for every listed prefix that ``word`` starts with, leaving 3+ letters."""
    return [(p, word[len(p) - 1:]) for p in PREFIXES if word.startswith(p[:-1]) and len(word) - len(p) + 1 >= 3]


def _analyses(word: str) -> list[tuple[Entry, str]]:
    """Every structurally possible split, unranked and unfiltered by frequency."""
    found: list[tuple[Entry, str]] = [(e, "lemminflect") for e in lemminflect_splits(word)]
    for root, suffix in suffix_splits(word):
        found.append((Entry(word, root, (), (suffix,)), "rules"))
        if suffix in INFLECTIONS:
            continue  # an inflection is split off alone: players -> player ~s, not play ~er ~s
        # a second derivational layer on a real word (hopefully -> hope ~ful ~ly), and a prefix on the root
        # (imprison ~ment, unbeat ~able: that root need not be a word)
        if zipf(root) >= MIN_INNER_ZIPF:
            for root2, suffix2 in suffix_splits(root, _DERIVATIONAL):
                found.append((Entry(word, root2, (), (suffix2, suffix)), "rules"))
        for prefix, rest in _prefix_splits(root):
            found.append((Entry(word, rest, (prefix,), (suffix,)), "rules"))
    for prefix, rest in _prefix_splits(word):
        found.append((Entry(word, rest, (prefix,), ()), "rules"))
    return found


def _score(entry: Entry, source: str, known: bool, lemmas: set[str], lang: str) -> float | None:
    """Score of one analysis (root frequency plus evidence), or ``None`` when its root is not a word."""
    root = entry.root or ""
    z = zipf(root, lang)
    confirmed = source == "lemminflect" or (len(entry.suffixes) == 1 and not entry.prefixes and root in lemmas)
    if not confirmed and (z < MIN_ROOT_ZIPF or len(root) < 3):
        return None
    score = z + (_CONFIRMED_BONUS if confirmed else 0.0)
    for a in entry.affixes:
        if a not in _COMMON:
            score -= _RARE_PENALTY
    for p in entry.prefixes:
        if p not in _TRANSPARENT_PREFIXES:
            score -= _OPAQUE_PREFIX_PENALTY
    score -= _EXTRA_AFFIX_PENALTY * (len(entry.affixes) - 1)
    if not confirmed and len(entry.affixes) == 1 and entry.suffixes:
        # subtle: lemminflect knows `news` only as the noun `news`, so `new ~s` contradicts it; and it knows
        # `spoken` as a form of `speak`, so `spoke ~en` contradicts it
        s = entry.suffixes[0]
        if (s in _LEMMA_CHECKED and known) or (s in _LEMMA_OTHER_CHECKED and lemmas):
            score -= _CONTRADICTED_PENALTY
    return score


def ranked_guesses(
    word: str,
    *,
    lang: str = "en",
    taken: Collection[tuple[str, frozenset[str]]] | Callable[[str, frozenset[str]], bool] = (),
    min_score: float = MIN_SCORE,
) -> list[Guess]:
    """All plausible splits of ``word``, best first, each one spelling ``word`` back.

    Args:
        word: the word (lowercased here).
        lang: language for root frequencies (``wordfreq`` code); the affix rules are English.
        taken: ``(root, frozenset(affixes))`` pairs already claimed by another word of the list (or a
            predicate over them); such guesses are left out because a list cannot hold them twice.
        min_score: drop candidates scoring below this.

    Returns:
        Guesses sorted by descending score (ties: fewer affixes, then alphabetical).
    """
    word = word.lower()
    if not _WORD.match(word) or len(word) < 3:
        return []
    is_taken = taken if callable(taken) else (lambda r, a, _t=set(taken): (r, a) in _t)
    known_as = _lemmas(word)
    lemmas = {lem for ls in known_as.values() for lem in ls if lem != word}
    found = _analyses(word)
    structures = {(e.root, e.prefixes, e.suffixes) for e, _ in found}
    best: dict[Entry, Guess] = {}
    for entry, source in found:
        if entry.root == word or not spells_back(entry):
            continue
        if entry.suffixes and entry.suffixes[-1] == "~y" and (entry.root, entry.prefixes,
                                                               entry.suffixes[:-1] + ("~ly",)) in structures:
            continue  # subtle: the doubling rule also spells hopeful ~y as "hopefully"; ~ly is meant
        if is_taken(entry.root, frozenset(entry.affixes)):
            continue
        s = _score(entry, source, bool(known_as), lemmas, lang)
        if s is None or s < min_score:
            continue
        key = Entry(entry.word, entry.root, entry.prefixes, entry.suffixes)
        if key not in best or best[key].score < s:
            best[key] = Guess(key, s, source)
    return sorted(best.values(), key=lambda g: (-g.score, len(g.entry.affixes), g.entry.deconstruction))


def guesses(word: str, *, limit: int = 4, **kwargs) -> list[Entry]:
    """The top ``limit`` guesses for ``word`` as list entries (see :func:`ranked_guesses` for options).

    >>> [e.deconstruction for e in guesses("planned")][:1]
    ['plan ~ed']
    """
    return [g.entry for g in ranked_guesses(word, **kwargs)[:limit]]


@dataclass(frozen=True)
class Accuracy:
    """How well the guesses match a hand-checked list.

    Attributes:
        split_words: sample words whose right answer is a split.
        split_first: ... of them where the right split is guess ``a``.
        split_among: ... of them where it is among the guesses shown.
        whole_words: sample words whose right answer is "keep whole".
        whole_no_guess: ... of them shown with no guess at all (the empty answer is the obvious one).
        misses: ``(word, right answer, guesses shown)`` for every split word not answered by guess ``a``
            and every whole word shown a guess.
    """

    split_words: int
    split_first: int
    split_among: int
    whole_words: int
    whole_no_guess: int
    misses: tuple[tuple[str, str, tuple[str, ...]], ...]

    @property
    def first_rate(self) -> float:
        return self.split_first / max(self.split_words, 1)

    @property
    def among_rate(self) -> float:
        return self.split_among / max(self.split_words, 1)

    @property
    def whole_rate(self) -> float:
        return self.whole_no_guess / max(self.whole_words, 1)

    @property
    def default_rate(self) -> float:
        """Share of all words where the first offer is right: guess ``a`` for a split, no guess for a whole."""
        return (self.split_first + self.whole_no_guess) / max(self.split_words + self.whole_words, 1)


def _same(a: Entry, b: Entry) -> bool:
    return (a.root, a.prefixes, a.suffixes) == (b.root, b.prefixes, b.suffixes)


def evaluate(sample: Iterable[Entry], *, limit: int = 4, lang: str = "en") -> Accuracy:
    """Compare the guesses for every word of a hand-checked ``sample`` with its right answer.

    Args:
        sample: entries of a hand-checked list (split or kept whole).
        limit: guesses shown per word (the game shows 4).
        lang: language for root frequencies.
    """
    counts = dict(split_words=0, split_first=0, split_among=0, whole_words=0, whole_no_guess=0)
    misses = []
    for right in sample:
        shown = guesses(right.word, limit=limit, lang=lang)
        texts = tuple(g.deconstruction for g in shown)
        if right.is_split:
            counts["split_words"] += 1
            hit = [i for i, g in enumerate(shown) if _same(g, right)]
            counts["split_first"] += bool(hit) and hit[0] == 0
            counts["split_among"] += bool(hit)
            if not hit or hit[0] != 0:
                misses.append((right.word, right.deconstruction, texts))
        else:
            counts["whole_words"] += 1
            counts["whole_no_guess"] += not shown
            if shown:
                misses.append((right.word, "", texts))
    return Accuracy(**counts, misses=tuple(misses))


# ----------------------------------------------------------------------------------------------------------
# The article's proposed automation for plurals

PLURAL_EXCEPTIONS = frozenset("""
news pants glasses goods odds shorts clothes manners customs series species physics economics politics
mathematics ethics athletics gymnastics linguistics electronics headquarters premises spectacles scissors
trousers jeans sometimes besides towards afterwards backwards upwards downwards outwards anyways
nowadays indoors outdoors ours yours hers theirs whereas always perhaps
""".split())
"""Words ending in ``s`` that are not the plural of their stem (the article's ``news``, ``pants``, ``glasses``,
plus pluralia tantum, fields of study, adverbs and pronouns). Written from general knowledge, not fitted."""


def plural_suggestion(
    word: str,
    *,
    lang: str = "en",
    min_ratio: float = 1.0,
    exceptions: Collection[str] | None = PLURAL_EXCEPTIONS,
    use_lemmas: bool = True,
) -> Entry | None:
    """The article's automation: a word ending in ``s`` whose stem is a more frequent word is a plural.

    Args:
        word: lowercase word.
        lang: ``wordfreq`` language for frequencies.
        min_ratio: the stem must be at least this many times as frequent as the word.
        exceptions: words never suggested (``None``: none).
        use_lemmas: also refuse when ``lemminflect`` knows the word but not the stem as its lemma
            (``news`` is a noun of its own).

    Returns:
        ``Entry(word, stem, suffixes=("~s",))`` or ``None``.
    """
    word = word.lower()
    if not word.endswith("s") or not _WORD.match(word) or (exceptions is not None and word in exceptions):
        return None
    roots = [r for r, _ in suffix_splits(word, ["~s"]) if len(r) >= 3 and not word.endswith("ss")]
    if not roots:
        return None
    root = max(roots, key=lambda r: (zipf(r, lang), r))
    if zipf(root, lang) <= 0 or zipf(root, lang) < zipf(word, lang) + _log10(min_ratio):
        return None
    if use_lemmas:
        known = _lemmas(word)
        if known and root not in {lem for ls in known.values() for lem in ls}:
            return None
    return Entry(word, root, (), ("~s",))


def _log10(x: float) -> float:
    import math

    return math.log10(x) if x > 0 else float("-inf")


@dataclass(frozen=True)
class Precision:
    """Plural suggestions against a hand-checked sample.

    Attributes:
        words: sample size.
        suggested: words the rule suggested.
        correct: suggestions equal to the hand-checked answer.
        plurals: sample words whose answer is ``root ~s``.
        wrong: ``(word, suggestion, right answer)`` for every wrong suggestion.
    """

    words: int
    suggested: int
    correct: int
    plurals: int
    wrong: tuple[tuple[str, str, str], ...]

    @property
    def precision(self) -> float:
        return self.correct / max(self.suggested, 1)

    @property
    def recall(self) -> float:
        return self.correct / max(self.plurals, 1)


def plural_precision(sample: Iterable[Entry], **kwargs) -> Precision:
    """Measure :func:`plural_suggestion` (``kwargs`` passed on) against hand-checked entries."""
    words = suggested = correct = plurals = 0
    wrong = []
    for right in sample:
        words += 1
        is_plural = right.is_split and right.suffixes == ("~s",) and not right.prefixes
        plurals += is_plural
        s = plural_suggestion(right.word, **kwargs)
        if s is None:
            continue
        suggested += 1
        if is_plural and s.root == right.root:
            correct += 1
        else:
            wrong.append((right.word, s.deconstruction, right.deconstruction))
    return Precision(words, suggested, correct, plurals, tuple(wrong))
