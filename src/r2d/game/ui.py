"""``r2d game``: the thin terminal loop around :func:`r2d.game.state.step`.

Read a line, ``step``, write the list and the score file atomically after every answer (a ``kill -9`` never
loses an answer nor leaves a broken file), print. The screen looks like the article author's::

    [communities] (a: community ~s) (b: communite ~s)>? a

Words already in the list are skipped, so a second run resumes. Scores (words decided per hour, best hour) are
kept in ``FILE.game.json``. The list is rewritten whole after each answer; its leading comment block is kept,
other comment lines are not. Rules live in :mod:`r2d.game.state`, word sources in :mod:`r2d.game.words`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from r2d.game.state import HELP, LETTERS, GameState, WordQueue, best_hour, rate_per_hour, step
from r2d.game.words import load_words
from r2d.io import InputError, atomic_write_json, iter_lines
from r2d.lists.deconstruct import Entry, check_file as check_list, read_entries, write_entries

PROG = "r2d game"


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


def _read_list(path: Path) -> tuple[dict[str, Entry], str]:
    """Entries of an existing list and its leading comment block (kept as the header when rewriting)."""
    if not path.exists():
        return {}, "deconstruction list made with 'r2d game' (tilde format: word<TAB>root ~affix)"
    header: list[str] = []
    for line in iter_lines(path):
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
        prog=PROG,
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


def _fail(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    """``r2d game --words SOURCE --list FILE [--minutes N]``."""
    args = _build_parser().parse_args(argv)
    if args.minutes is not None and args.minutes <= 0:
        return _fail(f"--minutes must be positive, got {args.minutes}")
    list_path = Path(args.list_path)
    try:
        if list_path.exists():
            problems = check_list(list_path)
            if problems:
                more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
                return _fail(f"{problems[0]}{more}; fix the list first (r2d list check {list_path})")
        elif not list_path.parent.is_dir():
            return _fail(f"--list {list_path}: folder {list_path.parent} does not exist")
        words, lang = load_words(args.words, progress=sys.stderr.isatty())
        entries, header = _read_list(list_path)
    except InputError as err:
        return _fail(str(err))
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
        atomic_write_json(score_file, scores)

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
