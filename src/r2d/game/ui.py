"""The game's terminal session: the thin loop around :func:`r2d.game.state.step` that ``r2d game`` runs.

After every answer the list and the score file (``FILE.game.json``) are written atomically, so a ``kill -9`` never
loses an answer; words already in the list are skipped, so a second run resumes. The list's leading comment block is
kept, other comment lines are not. The prompt looks like the article author's::

    [communities] (a: community ~s) (b: communite ~s)>? a
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

from r2d.game.state import LETTERS, GameState, WordQueue, best_hour, rate_per_hour, step
from r2d.game.words import load_words
from r2d.io import atomic_write_json, iter_lines
from r2d.lists.deconstruct import Entry, check_file as check_list, read_entries, write_entries

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


class CtrlC:
    """Owns SIGINT (Ctrl-C) while the game runs, so that a Ctrl-C is never swallowed nor cuts a save short.

    Inside :meth:`interruptible` (waiting for an answer, loading) a Ctrl-C raises ``KeyboardInterrupt`` at once;
    elsewhere (saving, printing) it is only noted in :attr:`pressed`, and the next :meth:`interruptible` raises.

    Python alone can swallow one: its handler runs only when the main thread checks, and ``input()`` with
    readline waits in ``select()`` without a timeout. A Ctrl-C that lands after ``input()``'s last check and
    before that ``select()``, or on another thread (numpy's BLAS threads take signals too), sets CPython's flag
    but wakes no one, until the next Enter. So the signal also writes to a wakeup pipe
    (:func:`signal.set_wakeup_fd`), and a watcher thread re-sends SIGINT to the main thread every 50 ms until
    the handler has run: ``select()`` then fails with EINTR and readline runs the handler. The handler is
    installed even where SIGINT was ignored when the game started (a background job of a script starts so, and
    Python leaves it ignored): a game at a terminal is always quit with Ctrl-C.
    """

    def __init__(self) -> None:
        self.pressed = False
        self._interruptible = False
        self._seen = threading.Event()      # the handler has run on the main thread
        self._stop = threading.Event()
        self._old_handler = None
        self._old_wakeup_fd = -1
        self._pipe: tuple[int, int] | None = None
        self._watcher: threading.Thread | None = None

    def __enter__(self) -> CtrlC:
        if threading.current_thread() is not threading.main_thread():
            return self                     # signals are the main thread's: leave them alone
        self._old_handler = signal.signal(signal.SIGINT, self._on_sigint)
        if hasattr(signal, "pthread_kill"):  # POSIX
            r, w = os.pipe()
            os.set_blocking(w, False)       # set_wakeup_fd's rule; the watcher reads r blocking
            self._pipe = (r, w)
            self._old_wakeup_fd = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
            self._watcher = threading.Thread(target=self._watch, args=(r, threading.get_ident()),
                                             name="r2d-game-ctrl-c", daemon=True)
            self._watcher.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._pipe is not None:
            signal.set_wakeup_fd(self._old_wakeup_fd)
            self._stop.set()
            os.close(self._pipe[1])         # the watcher reads end-of-file and returns
            self._watcher.join(timeout=5)
            os.close(self._pipe[0])
        if self._old_handler is not None:   # after the watcher: no re-sent SIGINT reaches the old handler
            signal.signal(signal.SIGINT, self._old_handler)

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """Within: a Ctrl-C, also one pressed before, raises ``KeyboardInterrupt`` (once)."""
        self._interruptible = True
        try:
            if self.pressed:
                self._interruptible = False
                raise KeyboardInterrupt
            yield
        finally:
            self._interruptible = False

    def _on_sigint(self, signum, frame) -> None:
        self.pressed = True
        self._seen.set()
        if self._interruptible:
            self._interruptible = False     # once: a re-sent SIGINT must not hit the caller's except block
            raise KeyboardInterrupt

    def _watch(self, r: int, main_thread: int) -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})  # a Ctrl-C goes to a thread that can act
        while data := os.read(r, 64):
            if signal.SIGINT in data:
                while not self._seen.wait(0.05) and not self._stop.is_set():
                    signal.pthread_kill(main_thread, signal.SIGINT)


class Screen:
    """Terminal output through ``rich``: colour where the terminal has it (not with NO_COLOR or a pipe)."""

    def __init__(self, ctrl_c: CtrlC) -> None:
        from rich.console import Console

        self.console = Console(highlight=False, soft_wrap=True)
        self.ctrl_c = ctrl_c
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
        with self.ctrl_c.interruptible():
            return input()


def _status(state: GameState, now: float, best: int) -> str:
    parts = [f"{state.decided} decided", f"{rate_per_hour(state.decided, now - state.started):.0f} words/hour"]
    if state.deadline is not None:
        left = max(0, int(state.deadline - now))
        parts.append(f"{left // 60}:{left % 60:02d} left")
    parts.append(f"best hour {best}")
    return " · ".join(parts)


class Refused(Exception):
    """A reason not to start the game, said in full (the message after ``r2d game: error:``)."""


def load(source: str, list_path: Path) -> tuple[GameState, str]:
    """The game ready at its first word, and the list's header; :class:`InputError` or :class:`Refused` if
    the input is bad."""
    if list_path.exists():
        problems = check_list(list_path)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise Refused(f"{problems[0]}{more}; fix the list first (r2d list check {list_path})")
    elif not list_path.parent.is_dir():
        raise Refused(f"--list {list_path}: folder {list_path.parent} does not exist")
    words, lang = load_words(source, progress=sys.stderr.isatty())
    entries, header = _read_list(list_path)
    for stale in list_path.parent.glob(list_path.name + ".*.tmp"):
        stale.unlink(missing_ok=True)  # left by a kill -9 during a write; the real files are whole

    from r2d.lists.guess import guesses

    def guesser(word: str, taken) -> list[Entry]:
        return guesses(word, limit=len(LETTERS), lang=lang, taken=taken)

    return GameState(WordQueue(words), entries, guesser, started=0.0), header


def play(state: GameState, header: str, list_path: Path, minutes: float | None, screen: Screen,
          ctrl_c: CtrlC) -> int:
    """The session: prompt, ``step``, save, until done, out of time, ``q``, Ctrl-D or Ctrl-C; then the summary."""
    entries = state.entries
    score_file = scores_path(list_path)
    scores = read_scores(score_file)
    past = [float(t) for t in scores["decisions"]]
    n_split = sum(e.is_split for e in entries.values())
    screen.say(f"{list_path}: {len(entries)} words decided so far ({n_split} split). '?' for help, 'q' to quit.",
               "dim")
    # subtle: the clock starts once the first word is ready (loading guess data takes a second or two)
    now = state.started = time.time()
    state.deadline = None if minutes is None else now + minutes * 60
    session = {"start": now, "end": now, "decided": 0}
    scores["sessions"].append(session)

    def save_scores(t: float) -> None:
        session.update(end=t, decided=state.decided)
        scores["decisions"] = past + state.decided_at
        scores["best_hour"] = best_hour(scores["decisions"])
        atomic_write_json(score_file, scores)

    while not state.done and not ctrl_c.pressed:
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
