"""The deconstruction game: decide, word by word in frequency order, how each word splits into root + affixes.

Stage 2a tooling: it makes the tilde-format list that :mod:`r2d.lists.deconstruct` reads and the tokenizer uses.
The article's author built his list this way; the screen looks like his::

    [communities] (a: community ~s) (b: communite ~s)>? a

Answers: a guess letter; a typed deconstruction (``un~beat ~able``), checked at once (it must spell the word
back); nothing = keep the word whole; ``u`` undo; ``s`` skip for now; ``?`` help; ``q`` or Ctrl-C quit.

The module has two layers:

* :class:`GameState` and :func:`step` — the whole game as plain state plus one pure transition (no input,
  output, files or clock: the caller passes ``now``), so every rule is tested without a terminal;
* :func:`main` — a thin terminal loop: read a line, ``step``, write the list and the score file
  atomically after every answer (a ``kill -9`` never loses an answer nor leaves a broken file), print.

Words come from a SOURCE (:func:`load_words`): a word list (``word[<TAB>count]`` per line), a text corpus
(``.txt``/``.gz``, counted here with a progress bar) or ``wordfreq:LANG``. Words already in the list are
skipped, so a second run resumes. Scores (words decided per hour, best hour) are kept in ``FILE.game.json``.
The list is rewritten whole after each answer; its leading comment block is kept, other comment lines are not.

This module does not guess (see :mod:`r2d.lists.guess`) nor judge meaning: the player does.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import regex

from r2d.lists.deconstruct import Entry, ListError, check_file, parse_deconstruction, read_entries, spellings, \
    spells_back, write_entries, atomic_write_text

logger = logging.getLogger(__name__)

LETTERS = "abcd"
"""Guess letters; the game shows at most this many guesses."""
HOUR = 3600.0
_WORD = regex.compile(r"^\p{Ll}+$")
# Words as the tokenizer sees them: letter runs, except the contraction pieces 's 't 're 've 'm 'll 'd
_LETTER_RUN = regex.compile(r"'(?:s|t|re|ve|m|ll|d)(?!\p{L})|\p{L}+")
HELP = (
    "answers:  a-d  take that guess  |  type a split, e.g. 'house ~ing' or 'un~beat ~able'\n"
    "          Enter  keep the word whole  |  u  undo the last answer  |  s  skip for now\n"
    "          ?  this help  |  q or Ctrl-C  quit (every answer is already saved)\n"
    "the test: does the root share significant meaning with the word? (editor/edit yes; news/new no)"
)


# ----------------------------------------------------------------------------------------------------------
# Words to play


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


class SourceError(ValueError):
    """A bad SOURCE, with where (file and line when known)."""


def normalize_word(word: str) -> str | None:
    """The lowercased word if it is made of letters only (what the tokenizer looks up), else ``None``."""
    w = word.strip().lower()
    return w if _WORD.match(w) else None


def read_word_list(path: str | os.PathLike) -> list[str]:
    """A word list file: ``word`` or ``word<TAB>count`` per line, ``#`` comments; most frequent first.

    With counts the words are sorted by count (ties keep file order); without, file order is kept.

    Raises:
        SourceError: a count that is not a number, with file and line.
    """
    rows: list[tuple[float, int, str]] = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            body = line.rstrip("\r\n")
            if not body.strip() or body.startswith("#"):
                continue
            word, _, count = body.partition("\t")
            try:
                c = float(count) if count.strip() else 0.0
            except ValueError:
                raise SourceError(f"{path}:{i}: count {count!r} for {word!r} is not a number") from None
            rows.append((-c, i, word))
    rows.sort()
    return [w for _, _, w in rows]


def _looks_like_word_list(path: Path) -> bool:
    """Sniff the first lines: one token (optionally TAB count) per line means a word list."""
    if path.suffix == ".gz":
        return False
    pattern = regex.compile(r"^[^\s]+(\t[^\t]*)?$")
    seen = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            body = line.rstrip("\r\n")
            if not body.strip() or body.startswith("#"):
                continue
            if not pattern.match(body):
                return False
            seen += 1
            if seen >= 200:
                break
    return seen > 0


def count_corpus(paths: Iterable[str | os.PathLike], *, progress: bool = True) -> Counter[str]:
    """Count lowercased letter runs (the words the list decides) in text files (``.gz`` too).

    Args:
        paths: text files.
        progress: show a ``rich`` progress bar over the bytes read (on stderr).
    """
    paths = [Path(p) for p in paths]
    counts: Counter[str] = Counter()
    total = sum(p.stat().st_size for p in paths)
    bar = None
    if progress:
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

        bar = Progress("counting words", BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                       console=Console(stderr=True), transient=True)
        task = bar.add_task("count", total=total)
        bar.start()
    try:
        done = 0
        for p in paths:
            with open(p, "rb") as raw:
                stream = gzip.open(raw, "rt", encoding="utf-8", errors="replace") if p.suffix == ".gz" else \
                    open(raw.fileno(), "rt", encoding="utf-8", errors="replace", closefd=False)
                with stream:
                    for line in stream:
                        if line.startswith(("<doc ", "</doc>")):
                            continue  # WikiExtractor markup
                        counts.update(m.lower() for m in _LETTER_RUN.findall(line) if m[0] != "'")
                        if bar is not None:
                            bar.update(task, completed=done + raw.tell())
            done += p.stat().st_size
    finally:
        if bar is not None:
            bar.stop()
    return counts


def load_words(source: str, *, progress: bool = True) -> tuple[Iterable[str], str]:
    """Words of a SOURCE, most frequent first, lowercased, letters only, each once.

    Args:
        source: ``wordfreq:LANG``, a word list file, or a text corpus (``.txt``/``.gz``).
        progress: progress bar while counting a corpus.

    Returns:
        ``(words, lang)``: an iterable of words and the language for root frequencies (``"en"`` unless the
        source is ``wordfreq:LANG``).

    Raises:
        SourceError: unknown ``wordfreq`` language, missing file, bad count.
    """
    if source.startswith("wordfreq:"):
        lang = source.split(":", 1)[1] or "en"
        import wordfreq

        if lang not in wordfreq.available_languages():
            raise SourceError(f"--words {source}: wordfreq has no language {lang!r}")
        return _unique_words(wordfreq.iter_wordlist(lang)), lang
    path = Path(source)
    if not path.is_file():
        raise SourceError(f"--words {source}: no such file (expected a word list, a .txt/.gz corpus, "
                          "or wordfreq:LANG)")
    if _looks_like_word_list(path):
        return _unique_words(read_word_list(path)), "en"
    counts = count_corpus([path], progress=progress)
    return _unique_words(w for w, _ in counts.most_common()), "en"


def _unique_words(words: Iterable[str]) -> Iterator[str]:
    seen: set[str] = set()
    for w in words:
        n = normalize_word(w)
        if n is not None and n not in seen:
            seen.add(n)
            yield n


# ----------------------------------------------------------------------------------------------------------
# The game as state + step


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


# ----------------------------------------------------------------------------------------------------------
# Scores


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


def scores_path(list_path: str | os.PathLike) -> Path:
    """Where the game keeps its scores: beside the list, ``FILE.game.json``."""
    return Path(str(list_path) + ".game.json")


def read_scores(path: str | os.PathLike) -> dict:
    """The score file (``{"version": 1, "sessions": [...], "decisions": [timestamps]}``); empty if missing
    or unreadable (scores are secondary: a broken score file never stops the game)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if isinstance(data, dict) and isinstance(data.get("decisions"), list):
            return data
    except (OSError, ValueError):
        pass
    return {"version": 1, "sessions": [], "decisions": []}


def write_json_atomic(path: str | os.PathLike, data: dict) -> None:
    """Write JSON atomically (never half-written)."""
    atomic_write_text(path, json.dumps(data, indent=1))


# ----------------------------------------------------------------------------------------------------------
# The terminal loop


def _read_list(path: Path) -> tuple[dict[str, Entry], str]:
    """Entries of an existing list and its leading comment block (kept as the header when rewriting)."""
    if not path.exists():
        return {}, "deconstruction list made with 'r2d game' (tilde format: word<TAB>root ~affix)"
    header: list[str] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                header.append(line[1:].rstrip("\n").removeprefix(" "))
            elif line.strip():
                break
    return {e.word: e for e in read_entries(path)}, "\n".join(header)


class Screen:
    """Terminal output through ``rich``: colour where the terminal has it (not with NO_COLOR or a pipe)."""

    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console(highlight=False, soft_wrap=True)
        if sys.stdin.isatty():
            try:
                import readline  # noqa: F401  (line editing for input(): arrows, backspace, history)
            except ImportError:  # pragma: no cover - not on every platform
                pass

    def say(self, text: str, style: str = "") -> None:
        from rich.text import Text

        self.console.print(Text(text, style=style))

    def prompt(self, word: str, offers: list[Entry]) -> str:
        from rich.text import Text

        t = Text()
        t.append(f"[{word}]", style="bold")
        for letter, e in zip(LETTERS, offers):
            t.append(" (")
            t.append(f"{letter}:", style="cyan")
            t.append(f" {e.deconstruction})")
        t.append(">? ")
        self.console.print(t, end="")
        self.console.file.flush()
        return input()


def _status(state: GameState, now: float, best: int) -> str:
    parts = [f"{state.decided} decided", f"{rate_per_hour(state.decided, now - state.started):.0f} words/hour"]
    if state.deadline is not None:
        left = max(0, int(state.deadline - now))
        parts.append(f"{left // 60}:{left % 60:02d} left")
    parts.append(f"best hour {best}")
    return " · ".join(parts)


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="r2d game",
        description="The deconstruction game: words in frequency order, each with guessed splits; answer "
                    "with a guess letter, your own split in tilde format, or Enter to keep the word whole. "
                    "Every answer is saved at once; run again to resume.",
        epilog="example:\n  r2d game --words wordfreq:en --list my_list.tsv --minutes 20\n"
               "  r2d game --words corpus.txt.gz --list my_list.tsv\n\n" + HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--words", required=True, metavar="SOURCE",
                   help="word list (word[TAB count] per line), text corpus (.txt/.gz), or wordfreq:LANG")
    p.add_argument("--list", required=True, metavar="FILE", dest="list_path",
                   help="the deconstruction list to extend (created if missing)")
    p.add_argument("--minutes", type=float, default=None, metavar="N", help="stop after N minutes")
    return p


def main(argv: list[str] | None = None) -> int:
    """``r2d game --words SOURCE --list FILE [--minutes N]``."""
    args = _build_parser().parse_args(argv)
    if args.minutes is not None and args.minutes <= 0:
        print(f"r2d game: --minutes must be positive, got {args.minutes}", file=sys.stderr)
        return 2
    list_path = Path(args.list_path)
    if list_path.exists():
        problems = check_file(list_path)
        if problems:
            for err in problems[:20]:
                print(f"r2d game: {err}", file=sys.stderr)
            print(f"r2d game: {list_path} has {len(problems)} problem(s); fix them first "
                  f"(r2d list check {list_path})", file=sys.stderr)
            return 2
    elif not list_path.parent.is_dir():
        print(f"r2d game: --list {list_path}: folder {list_path.parent} does not exist", file=sys.stderr)
        return 2
    try:
        words, lang = load_words(args.words, progress=sys.stderr.isatty())
    except (SourceError, OSError) as err:
        print(f"r2d game: {err}", file=sys.stderr)
        return 2
    entries, header = _read_list(list_path)
    for stale in list_path.parent.glob(list_path.name + ".*.tmp"):
        stale.unlink(missing_ok=True)  # left by a kill -9 during a write; the real files are whole

    from r2d.lists.guess import guesses

    def guesser(word: str, taken) -> list[Entry]:
        return guesses(word, limit=len(LETTERS), lang=lang, taken=taken)

    state = GameState(WordQueue(words), entries, guesser, started=0.0)
    score_file = scores_path(list_path)
    scores = read_scores(score_file)
    past = [float(t) for t in scores["decisions"]]
    screen = Screen()
    n_split = sum(e.is_split for e in entries.values())
    screen.say(f"{list_path}: {len(entries)} words decided so far ({n_split} split). '?' for help, 'q' to quit.",
               "dim")
    # subtle: the clock starts once the first word is ready (loading guess data takes a second or two)
    now = state.started = time.time()
    state.deadline = None if args.minutes is None else now + args.minutes * 60
    session = {"start": now, "end": now, "decided": 0}
    scores["sessions"].append(session)

    def save_scores(t: float) -> None:
        session.update(end=t, decided=state.decided)
        scores["decisions"] = past + state.decided_at
        scores["best_hour"] = best_hour(scores["decisions"])
        write_json_atomic(score_file, scores)

    while not state.done:
        t = time.time()
        if state.deadline is not None and t >= state.deadline:
            break
        screen.say(_status(state, t, best_hour(past + state.decided_at)), "dim")
        try:
            answer = screen.prompt(state.word, state.offers)
        except (KeyboardInterrupt, EOFError):
            screen.say("")
            break
        t = time.time()
        out = step(state, answer, now=t)
        if out.save:
            write_entries(list_path, state.entries.values(), header=header)
            save_scores(t)
        if out.kind == "invalid":
            screen.say(out.message, "red")
        elif out.kind in ("undone", "nothing", "skipped"):
            screen.say(out.message, "yellow")
        elif out.kind == "help":
            screen.say(out.message)
    end = time.time()
    save_scores(end)
    _summary(screen, state, list_path, end, best_hour(past + state.decided_at))
    return 0


def _summary(screen: Screen, state: GameState, list_path: Path, end: float, best: int) -> None:
    new = [h[2] for h in state.history if h[0] == "decided"]
    split = sum(e.is_split for e in new)
    minutes = (end - state.started) / 60
    screen.say(f"session over: {len(new)} words decided ({split} split, {len(new) - split} kept whole), "
               f"{state.skipped} skipped, in {minutes:.1f} min", "bold")
    screen.say(f"rate {rate_per_hour(len(new), end - state.started):.0f} words/hour · best hour {best} · "
               f"{len(state.entries)} words in {list_path}")
    if state.word is None:
        screen.say("no more words in the source")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
