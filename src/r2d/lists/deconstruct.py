"""The deconstruction list in tilde format: parse, validate, write, look up, and spell back.

One entry per line; prefixes are glued to the root with ``~``, suffixes follow as separate ``~x`` tokens in the
order they attach, and nothing after the tab means "keep the word whole" (a decision, not a gap)::

    riding<TAB>ride ~ing
    unbeatable<TAB>un~beat ~able
    news<TAB>
    # a comment line

``(root, affixes) -> word`` is exact for every entry, and :func:`spell` is a total fallback (English spelling rules)
for pairs the list never saw, so decoding a model's output never fails.

>>> e = parse_entry("riding\\tride ~ing")
>>> e.root, e.suffixes, format_entry(e)
('ride', ('~ing',), 'riding\\tride ~ing')
>>> spell("community", suffixes=("~s",)), spell("plan", suffixes=("~ed",)), spell("ride", suffixes=("~ing",))
('communities', 'planned', 'riding')
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from r2d.io import InputError, atomic_write_text, iter_lines

logger = logging.getLogger(__name__)

_AFFIX = r"[a-z]+"
_ROOT_TOKEN = re.compile(rf"^((?:{_AFFIX}~)*)([^\s~]+)$")
_SUFFIX_TOKEN = re.compile(rf"^~{_AFFIX}$")
VOWELS = set("aeiou")


class ListError(InputError):
    """A problem in a deconstruction list, with where it is (``path:line: reason``).

    Attributes:
        path: the file (or ``"<string>"``).
        line: 1-based line number (0 when the problem is not on one line).
        reason: what is wrong.
    """

    def __init__(self, path: str, line: int, reason: str):
        super().__init__(path, reason, line=line)


@dataclass(frozen=True)
class Entry:
    """One decision: ``word`` is ``prefixes + root + suffixes``, or kept whole when ``root`` is ``None``."""

    word: str
    root: str | None = None
    prefixes: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()
    line: int = field(default=0, compare=False)

    @property
    def is_split(self) -> bool:
        return self.root is not None

    @property
    def affixes(self) -> tuple[str, ...]:
        """Prefixes (``"un~"``) then suffixes (``"~ing"``)."""
        return self.prefixes + self.suffixes

    @property
    def deconstruction(self) -> str:
        """The right-hand side in tilde format (``"un~beat ~able"``); ``""`` when kept whole."""
        if self.root is None:
            return ""
        return " ".join(["".join(self.prefixes) + self.root, *self.suffixes])


def parse_deconstruction(word: str, text: str, *, path: str = "<string>", line: int = 0) -> Entry:
    """Parse the right-hand side ``text`` (``"un~beat ~able"``) for ``word``; ``""`` means keep whole.

    Raises:
        ListError: malformed affix or root, with ``path`` and ``line``.
    """
    tokens = text.split()
    if not tokens:
        return Entry(word, line=line)
    m = _ROOT_TOKEN.match(tokens[0])
    if m is None:
        raise ListError(
            path, line, f"malformed root {tokens[0]!r} for {word!r}: expected 'root' or 'un~root' (lowercase prefixes)"
        )
    prefixes = tuple(p + "~" for p in m.group(1).split("~") if p)
    root = m.group(2)
    for t in tokens[1:]:
        if not _SUFFIX_TOKEN.match(t):
            raise ListError(path, line, f"malformed affix {t!r} for {word!r}: expected '~' then lowercase letters")
    suffixes = tuple(tokens[1:])
    if not prefixes and not suffixes:
        raise ListError(path, line, f"{word!r} -> {text!r} has no affix: leave the right side empty to keep it whole")
    return Entry(word, root, prefixes, suffixes, line=line)


def parse_entry(line_text: str, *, path: str = "<string>", line: int = 0) -> Entry | None:
    """Parse one list line; ``None`` for blank and comment lines."""
    body = line_text.rstrip("\r\n")
    if not body.strip() or body.lstrip().startswith("#"):
        return None
    word, tab, rest = body.partition("\t")
    if not tab:
        raise ListError(path, line, f"no tab after the word {word.strip()!r}: expected 'word<TAB>deconstruction'")
    if "#" in rest:
        rest = rest.split("#", 1)[0]
    word = word.strip()
    if not word or any(c.isspace() for c in word):
        raise ListError(path, line, f"the word {word!r} is empty or has white space")
    return parse_deconstruction(word, rest, path=path, line=line)


def format_entry(entry: Entry) -> str:
    """One list line, without the newline (the inverse of :func:`parse_entry`)."""
    return f"{entry.word}\t{entry.deconstruction}"


# ----------------------------------------------------------------------------------------------------------
# Spelling: (root, affixes) -> word. The list's own entries are exact; these rules are the total fallback.

def _is_cvc(root: str) -> bool:
    """consonant-vowel-consonant ending, whose last consonant doubles before a vowel suffix (plan -> planned)."""
    return (
        len(root) >= 3
        and root[-1] not in VOWELS
        and root[-1] not in "wxy"
        and root[-2] in VOWELS
        and root[-3] not in VOWELS
    )


def _short(root: str) -> bool:
    """One syllable (one vowel group), where doubling is the usual spelling (stop, plan, run; not visit)."""
    return len(re.findall(r"[aeiouy]+", root)) == 1


def suffix_candidates(root: str, suffix: str) -> list[str]:
    """Plausible spellings of ``root + suffix`` under English rules, most likely first.

    Args:
        root: the root (any string; rules apply to lowercase ASCII endings).
        suffix: a tilde-format suffix such as ``"~ing"``.
    """
    x = suffix.lstrip("~")
    if not root:
        return [x]
    out: list[str] = []
    last = root[-1]
    cons_y = len(root) >= 2 and last == "y" and root[-2] not in VOWELS
    if x == "s":
        if cons_y:
            out.append(root[:-1] + "ies")
        if root.endswith(("s", "x", "z", "ch", "sh")):
            out.append(root + "es")
        out.append(root + "s")
        if root.endswith("o"):
            out.append(root + "es")
        if root.endswith("fe"):
            out.append(root[:-2] + "ves")
        if root.endswith("f"):
            out.append(root[:-1] + "ves")
        if root.endswith("us"):
            out.append(root[:-2] + "i")
        if root.endswith("is"):
            out.append(root[:-2] + "es")
        if root.endswith("on") or root.endswith("um"):
            out.append(root[:-2] + "a")
        return _unique(out)
    if x == "ing":
        if root.endswith("ie"):
            out.append(root[:-2] + "ying")
        if last == "e" and not root.endswith(("ee", "ye", "oe")) and len(root) > 2:
            out.append(root[:-1] + "ing")
        if _is_cvc(root) and _short(root):
            out.append(root + last + "ing")
        out.append(root + "ing")
        if _is_cvc(root):
            out.append(root + last + "ing")
        if last == "c":
            out.append(root + "king")
        return _unique(out)
    if x == "tion":
        if root.endswith("ify"):
            out.append(root[:-1] + "ication")
        if root.endswith("te"):
            out.append(root[:-1] + "ion")
        if last == "e":
            out += [root[:-1] + "ation", root[:-1] + "tion", root[:-1] + "ion"]
        if last == "t":
            out.append(root + "ion")
        if root.endswith("ce"):
            out.append(root[:-2] + "tion")
        if root.endswith("be"):
            out.append(root[:-2] + "ption")
        if root.endswith("d"):
            out.append(root[:-1] + "sion")
        out += [root + "ation", root + "tion", root + "ion"]
        return _unique(out)
    if x == "ly":
        if cons_y and _vowel_before_y(root):
            out.append(root[:-1] + "ily")
        if root.endswith("le") and len(root) > 3 and root[-3] not in VOWELS:
            out.append(root[:-1] + "y")  # gentle -> gently, possible -> possibly (not sole -> soly)
        if root.endswith("ue"):
            out.append(root[:-1] + "ly")  # true -> truly, due -> duly
        if root.endswith("ic"):
            out.append(root + "ally")
        if root.endswith("ll"):
            out.append(root + "y")
        out.append(root + "ly")
        if cons_y:
            out.append(root[:-1] + "ily")  # drily beside dryly
        return _unique(out)
    starts_vowel = x[0] in VOWELS or x[0] == "y"
    if root.endswith(("able", "ible")) and x.startswith("ity"):
        out.append(root[:-2] + "il" + x)  # accountable -> accountability
    if cons_y and x[0] != "i" and (starts_vowel or _vowel_before_y(root)):
        out.append(root[:-1] + "i" + x)  # happier, happiness; but shyness, dryness
    if starts_vowel:
        if last == "e" and x[0] == "e":
            out.append(root + x[1:])
        elif last == "e" and not root.endswith(("ee", "oe")) and len(root) > 2:
            out.append(root[:-1] + x)
        if _is_cvc(root) and _short(root):
            out.append(root + last + x)
    out.append(root + x)
    if cons_y and x[0] != "i":
        out.append(root[:-1] + "i" + x)  # shiness beside shyness: a spelling, not the first choice
    if starts_vowel and _is_cvc(root):
        out.append(root + last + x)
    if last == "e" and not starts_vowel:
        out.append(root[:-1] + x)  # argue -> argument, true -> truly
    return _unique(out)


def _vowel_before_y(root: str) -> bool:
    """Whether a root ending in ``y`` has another vowel (``happy``; not ``shy``, ``dry``, whose ``y`` stays)."""
    return any(c in VOWELS for c in root[:-1])


def _unique(xs: list[str]) -> list[str]:
    return list(dict.fromkeys(xs))


def spell(root: str, *, prefixes: Iterable[str] = (), suffixes: Iterable[str] = ()) -> str:
    """Fallback spelling of a root plus affixes with English rules. Total: any strings give a string.

    Prefixes are glued on (``un~`` + ``beat`` -> ``unbeat``); suffixes attach in order, each with
    :func:`suffix_candidates`' first choice.
    """
    word = root
    for s in suffixes:
        word = suffix_candidates(word, s)[0]
    for p in reversed(tuple(prefixes)):
        word = p.rstrip("~") + word
    return word


def spellings(root: str, prefixes: tuple[str, ...] = (), suffixes: tuple[str, ...] = ()) -> set[str]:
    """Every spelling the rules allow (used to check that a deconstruction can spell its word back)."""
    forms = {root}
    for s in suffixes:
        forms = {c for f in forms for c in suffix_candidates(f, s)}
    pre = "".join(p.rstrip("~") for p in prefixes)
    return {pre + f for f in forms}


PENN_TAGS: dict[str, tuple[str, ...]] = {"~s": ("NNS", "VBZ"), "~ed": ("VBD", "VBN"), "~ing": ("VBG",),
                                        "~er": ("JJR", "RBR"), "~est": ("JJS", "RBS")}
"""The one table of Penn Treebank tags each inflectional suffix realises (plural nouns and third person ``~s``,
past and participle ``~ed``, ...): how ``lemminflect``'s forms map to list suffixes, here, in the English
build and in the guesser."""


def spells_back(entry: Entry) -> bool:
    """Whether a split entry's word is a spelling of its root plus affixes: by the rules, or as an irregular
    inflection that ``lemminflect`` knows (``ran -> run ~ed``, ``children -> child ~s``)."""
    if entry.root is None:
        return True
    if entry.word in spellings(entry.root, entry.prefixes, entry.suffixes):
        return True
    if len(entry.suffixes) == 1 and entry.suffixes[0] in PENN_TAGS:
        pre = "".join(p.rstrip("~") for p in entry.prefixes)
        if not entry.word.startswith(pre):
            return False
        try:
            from lemminflect import getInflection
        except ImportError:  # pragma: no cover - lemminflect is a dependency
            return False
        body = entry.word[len(pre):]
        for tag in PENN_TAGS[entry.suffixes[0]]:
            if body in getInflection(entry.root, tag=tag, inflect_oov=False):
                return True
    return False


# ----------------------------------------------------------------------------------------------------------

class DeconstructionList:
    """A validated deconstruction list: ``word -> Entry`` and its exact inverse ``(root, affixes) -> word``.

    Args:
        entries: the entries, in file order.
        path: where they came from (for messages).
        check_spelling: refuse entries whose word is not a spelling of root plus affixes.

    Raises:
        ListError: on a duplicate word, two words claiming the same root and affixes, or an entry that
            cannot spell its word back.
    """

    def __init__(self, entries: Iterable[Entry] = (), *, path: str = "<list>", check_spelling: bool = True):
        self.path = str(path)
        self.entries: dict[str, Entry] = {}
        self._inverse: dict[tuple[str, frozenset[str]], str] = {}
        errors = self._add_all(entries, check_spelling)
        if errors:
            raise errors[0]

    def _add_all(self, entries: Iterable[Entry], check_spelling: bool) -> list[ListError]:
        errors: list[ListError] = []
        for e in entries:
            try:
                self.add(e, check_spelling=check_spelling)
            except ListError as err:
                errors.append(err)
        return errors

    def add(self, entry: Entry, *, check_spelling: bool = True) -> None:
        """Add one entry after checking it against the list (see the class for what is refused)."""
        if entry.word in self.entries:
            first = self.entries[entry.word].line
            raise ListError(self.path, entry.line, f"duplicate word {entry.word!r} (first on line {first})")
        if entry.root is not None:
            if check_spelling and not spells_back(entry):
                raise ListError(
                    self.path, entry.line,
                    f"{entry.deconstruction!r} cannot spell {entry.word!r} back "
                    f"(the rules give {sorted(spellings(entry.root, entry.prefixes, entry.suffixes))[:4]})",
                )
            key = (entry.root, frozenset(entry.affixes))
            other = self._inverse.get(key)
            if other is not None:
                raise ListError(
                    self.path, entry.line,
                    f"{entry.word!r} and {other!r} (line {self.entries[other].line}) both claim "
                    f"{entry.deconstruction!r}: root plus affixes must name one word",
                )
            self._inverse[key] = entry.word
        self.entries[entry.word] = entry

    @classmethod
    def read(cls, path: str | os.PathLike, *, check_spelling: bool = True) -> "DeconstructionList":
        """Read and validate a list file; the first problem raises :class:`ListError` with file and line."""
        entries = list(read_entries(path))
        return cls(entries, path=str(path), check_spelling=check_spelling)

    @classmethod
    def from_string(cls, text: str, *, path: str = "<string>", check_spelling: bool = True) -> "DeconstructionList":
        entries = [e for i, ln in enumerate(text.splitlines(), 1) if (e := parse_entry(ln, path=path, line=i))]
        return cls(entries, path=path, check_spelling=check_spelling)

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, word: str) -> bool:
        return word in self.entries

    def __iter__(self):
        return iter(self.entries.values())

    def get(self, word: str) -> Entry | None:
        return self.entries.get(word)

    def word_for(self, root: str, affixes: Iterable[str]) -> str | None:
        """The listed word for ``root`` plus ``affixes`` (order-free), or ``None``."""
        return self._inverse.get((root, frozenset(affixes)))

    def split_table(self, active_affixes: Iterable[str]) -> dict[str, tuple[str, tuple[str, ...]]]:
        """``word -> (root, affixes)`` for the split entries whose affixes are all in ``active_affixes``."""
        active = set(active_affixes)
        return {
            e.word: (e.root, e.affixes)
            for e in self.entries.values()
            if e.root is not None and set(e.affixes) <= active
        }

    def write(self, path: str | os.PathLike, *, header: str = "") -> None:
        """Write the list atomically (temp file + rename): a crash never leaves a half-written file."""
        write_entries(path, self.entries.values(), header=header)


def _lines(path: str | os.PathLike) -> Iterator[str]:
    """The lines of a list file, strictly UTF-8; a file that cannot be read is a :class:`ListError`."""
    try:
        yield from iter_lines(path)
    except InputError as err:
        raise ListError(err.path, err.line, err.reason) from None


def read_entries(path: str | os.PathLike) -> Iterable[Entry]:
    """Yield the entries of a list file (syntax only; :class:`DeconstructionList` validates the whole).

    Raises:
        ListError: a line that does not parse, or a file that is missing, a folder, or not UTF-8 text.
    """
    for i, ln in enumerate(_lines(path), 1):
        e = parse_entry(ln, path=str(path), line=i)
        if e is not None:
            yield e


def check_file(path: str | os.PathLike, *, check_spelling: bool = True) -> list[ListError]:
    """Every problem in a list file (syntax and consistency), each with file, line and reason.

    Raises:
        ListError: the file is not a list file at all: missing, a folder, not UTF-8 text or binary.
    """
    errors: list[ListError] = []
    good: list[Entry] = []
    for i, ln in enumerate(_lines(path), 1):
        try:
            e = parse_entry(ln, path=str(path), line=i)
        except ListError as err:
            errors.append(err)
            continue
        if e is not None:
            good.append(e)
    lst = DeconstructionList(path=str(path))
    errors += lst._add_all(good, check_spelling)
    return sorted(errors, key=lambda e: e.line)


def write_entries(path: str | os.PathLike, entries: Iterable[Entry], *, header: str = "") -> None:
    """Write entries in tilde format, atomically (see :func:`atomic_write_text`)."""
    lines = [f"# {h}\n" if h else "#\n" for h in header.splitlines()]
    lines += [format_entry(e) + "\n" for e in entries]
    atomic_write_text(path, "".join(lines))
