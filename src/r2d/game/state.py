"""The deconstruction game as plain state plus one pure transition, ``step(state, answer, now) -> Outcome``: no input,
output, file or clock here, so every rule is tested without a terminal.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from r2d.lists.deconstruct import Entry, ListError, parse_deconstruction, spellings, spells_back

LETTERS = "abcd"
"""Guess letters; the game shows at most this many guesses."""
HOUR = 3600.0
HELP = (
    "answers:  a-d  take that guess  |  type a split, e.g. 'house ~ing' or 'un~beat ~able'\n"
    "          Enter  keep the word whole  |  u  undo the last answer  |  s  skip for now\n"
    "          ?  this help  |  q or Ctrl-C  quit (every answer is already saved)\n"
    "the test: does the root share significant meaning with the word? (editor/edit yes; news/new no)"
)


class WordQueue:
    """Words to play, pulled lazily from an iterator (``wordfreq:en`` has hundreds of thousands).

    Args:
        words: words in playing order (already lowercased and filtered).
    """

    def __init__(self, words: Iterable[str]):
        self._it: Iterator[str] | None = iter(words)
        self._items: list[str] = []

    def _fill(self, n: int) -> None:
        while self._it is not None and len(self._items) < n:
            try:
                self._items.append(next(self._it))
            except StopIteration:
                self._it = None

    def get(self, i: int) -> str | None:
        """The ``i``-th word, or ``None`` past the end."""
        self._fill(i + 1)
        return self._items[i] if i < len(self._items) else None

    def append(self, word: str) -> None:
        """Put ``word`` at the very end (after everything the iterator still holds)."""
        self._fill(sys.maxsize)
        self._items.append(word)


@dataclass
class Outcome:
    """What one answer did.

    Attributes:
        kind: ``"decided"``, ``"undone"``, ``"skipped"``, ``"help"``, ``"invalid"``, ``"quit"`` or ``"nothing"``.
        message: text for the player (why an answer was refused, what undo did, the help).
        save: the list changed and must be written.
        entry: the entry decided or undone, if any.
    """

    kind: str
    message: str = ""
    save: bool = False
    entry: Entry | None = None


@dataclass
class GameState:
    """Everything the game knows; changed only by :func:`step`.

    Attributes:
        queue: words to play in order (words already in ``entries`` are passed over).
        entries: the list: word -> entry, in file order (entries read from FILE first).
        guesser: ``word, taken -> [Entry]``; ``taken(root, affixes)`` says a pair is already claimed.
        pos: index in ``queue`` of the word on screen.
        history: this session's answers, newest last: ``("decided", pos, entry)`` / ``("skipped", pos, word)``.
        decided_at: timestamps of this session's decisions (undo removes the last).
        started: session start (seconds, same clock as ``now``).
        deadline: when the session ends (``None``: no limit).
        offers: the guesses on screen for the current word.
        skipped: words skipped this session.
        done: the session is over.
    """

    queue: WordQueue
    entries: dict[str, Entry]
    guesser: Callable[..., list[Entry]]
    started: float
    deadline: float | None = None
    pos: int = 0
    history: list[tuple] = field(default_factory=list)
    decided_at: list[float] = field(default_factory=list)
    offers: list[Entry] = field(default_factory=list)
    skipped: int = 0
    done: bool = False
    _inverse: dict[tuple[str, frozenset[str]], str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._inverse = {(e.root, frozenset(e.affixes)): w for w, e in self.entries.items() if e.root is not None}
        self._settle()

    @property
    def word(self) -> str | None:
        """The word on screen (``None`` when there are no more words)."""
        return self.queue.get(self.pos)

    def taken(self, root: str, affixes: frozenset[str]) -> bool:
        """Whether another word of the list already claims ``root`` plus ``affixes``."""
        return (root, affixes) in self._inverse

    def _settle(self) -> None:
        """Move past words already decided and compute the offers for the word on screen."""
        while (w := self.queue.get(self.pos)) is not None and w in self.entries:
            self.pos += 1
        w = self.word
        self.offers = [] if w is None else self._offers_for(w)
        if w is None:
            self.done = True

    def _offers_for(self, word: str) -> list[Entry]:
        """The guesser's guesses that would make a valid list line (any guesser may be plugged in)."""
        ok = [e for e in self.guesser(word, taken=self.taken)
              if e.word == word and e.is_split and spells_back(e) and not self.taken(e.root, frozenset(e.affixes))]
        return ok[: len(LETTERS)]

    def _add(self, entry: Entry) -> None:
        self.entries[entry.word] = entry
        if entry.root is not None:
            self._inverse[(entry.root, frozenset(entry.affixes))] = entry.word

    def _remove(self, word: str) -> Entry:
        entry = self.entries.pop(word)
        if entry.root is not None:
            self._inverse.pop((entry.root, frozenset(entry.affixes)), None)
        return entry

    @property
    def decided(self) -> int:
        """Words decided this session."""
        return len(self.decided_at)


def parse_answer(state: GameState, text: str) -> Entry | str:
    """Turn a typed deconstruction for the word on screen into an entry, or say why it cannot be one."""
    word = state.word or ""
    try:
        entry = parse_deconstruction(word, text)
    except ListError as err:
        return err.reason
    if entry.root is not None and not spells_back(entry):
        rules = sorted(spellings(entry.root, entry.prefixes, entry.suffixes))[:3]
        return (f"{entry.deconstruction!r} does not spell {word!r} back "
                f"(the spelling rules give {', '.join(repr(r) for r in rules)})")
    if entry.root is not None:
        other = state._inverse.get((entry.root, frozenset(entry.affixes)))
        if other is not None and other != word:
            return f"{entry.deconstruction!r} already names {other!r}: a root plus affixes names one word"
    return entry


def step(state: GameState, answer: str, *, now: float) -> Outcome:
    """Apply one answer to the game (no input/output: the caller saves when ``Outcome.save``).

    Args:
        state: the game; changed in place.
        answer: the line the player typed (surrounding white space ignored).
        now: the current time in seconds (same clock as ``state.started``).

    Returns:
        What happened.
    """
    text = answer.strip()
    if text == "u":  # subtle: undo works even after the last word, so a finished game can take back its last answer
        return _undo(state)
    if state.done:
        return Outcome("quit")
    if text in ("q", "quit"):
        state.done = True
        return Outcome("quit")
    if text == "?":
        return Outcome("help", HELP)
    word = state.word
    if word is None:
        state.done = True
        return Outcome("quit", "no more words")
    if text == "s":
        state.history.append(("skipped", state.pos, word))
        state.skipped += 1
        state.queue.append(word)
        state.pos += 1
        state._settle()
        return Outcome("skipped", f"skipped {word!r} for now")
    if text == "":
        entry = Entry(word)
    elif len(text) == 1 and text in LETTERS:
        i = LETTERS.index(text)
        if i >= len(state.offers):
            have = f"a-{LETTERS[len(state.offers) - 1]}" if state.offers else "none"
            return Outcome("invalid", f"there is no guess {text!r} (guesses: {have}); '?' for help")
        entry = state.offers[i]
    else:
        parsed = parse_answer(state, text)
        if isinstance(parsed, str):
            return Outcome("invalid", parsed)
        entry = parsed
    state._add(entry)
    state.history.append(("decided", state.pos, entry))
    state.decided_at.append(now)
    state.pos += 1
    state._settle()
    if state.deadline is not None and now >= state.deadline:
        state.done = True
    return Outcome("decided", save=True, entry=entry)


def _undo(state: GameState) -> Outcome:
    if not state.history:
        return Outcome("nothing", "nothing to undo in this session")
    kind, pos, what = state.history.pop()
    state.done = False
    if kind == "skipped":
        state.skipped -= 1
        state.pos = pos
        state.offers = state._offers_for(what)
        # subtle: the re-queued copy at the end is passed over later, because the word gets decided first
        return Outcome("undone", f"undid the skip of {what!r}")
    entry = state._remove(what.word)
    state.decided_at.pop()
    state.pos = pos
    state.offers = state._offers_for(entry.word)
    said = entry.deconstruction or "keep whole"
    return Outcome("undone", f"undid {entry.word!r} ({said})", save=True, entry=entry)


# scores: timestamps in, numbers out

def best_hour(times: Iterable[float]) -> int:
    """The most decisions inside any 60-minute window."""
    ts = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(ts):
        while t - ts[lo] >= HOUR:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def rate_per_hour(count: int, seconds: float) -> float:
    """Words per hour; the first minute counts as a full minute so early rates are not absurd."""
    return count * HOUR / max(seconds, 60.0)
