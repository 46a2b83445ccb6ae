"""Word sources of the deconstruction game and ``r2d suggest plurals``: ``SOURCE -> words``, most frequent first,
lowercased, each once. A SOURCE is ``wordfreq:LANG``, a word list (``word[<TAB>count]`` per line) or a corpus.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Callable, Iterable, Iterator

import regex

from r2d.io import InputError, check_file, is_gzip, iter_lines
from r2d.text.corpus import WORDFREQ_PREFIX, count_words, read_word_counts, wordfreq_language

_WORD = regex.compile(r"^\p{Ll}+$")
_WORD_LIST_LINE = regex.compile(r"^[^\s]+(\t[^\t]*)?$")


class SourceError(InputError):
    """A bad SOURCE, with where (file and line when known)."""


def normalize_word(word: str) -> str | None:
    """The lowercased word if it is made of letters only (what the tokenizer looks up), else ``None``."""
    w = word.strip().lower()
    return w if _WORD.match(w) else None


def read_word_list(path: str | os.PathLike) -> list[str]:
    """A word list file: ``word`` or ``word<TAB>count`` per line, ``#`` comments; most frequent first.

    With counts the words are sorted by count (ties keep file order); without, file order is kept.

    Raises:
        r2d.io.InputError: the file cannot be read, or a count is not a number (file, line, field).
    """
    rows = [(-(c or 0.0), i, w) for i, w, c in read_word_counts(path, what="--words")]
    rows.sort()
    return [w for _, _, w in rows]


def looks_like_word_list(path: Path) -> bool:
    """Sniff the first lines: one token (optionally TAB count) per line means a word list, not a corpus."""
    if is_gzip(path):
        return False
    seen = 0
    for line in iter_lines(path, what="--words"):
        body = line.rstrip("\r\n")
        if not body.strip() or body.startswith("#"):
            continue
        if not _WORD_LIST_LINE.match(body):
            return False
        seen += 1
        if seen >= 200:
            break
    return seen > 0


@contextlib.contextmanager
def byte_progress(label: str, show: bool = True) -> Iterator[Callable[[int, int], None] | None]:
    """A ``rich`` progress bar on stderr over bytes read, as a ``progress(done, total)`` callback (or None)."""
    if not show:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    bar = Progress(label, BarColumn(), DownloadColumn(), TimeRemainingColumn(), console=Console(stderr=True),
                   transient=True)
    task = bar.add_task(label, total=None)
    with bar:
        yield lambda done, total: bar.update(task, completed=done, total=total)


def load_words(source: str, *, progress: bool = True) -> tuple[Iterable[str], str]:
    """Words of a SOURCE, most frequent first, lowercased, letters only, each once.

    Args:
        source: ``wordfreq:LANG``, a word list file, or a text corpus (``.txt``/``.gz``).
        progress: progress bar while counting a corpus.

    Returns:
        ``(words, lang)``: an iterable of words and the language for root frequencies (``"en"`` unless the
        source is ``wordfreq:LANG``).

    Raises:
        SourceError: unknown ``wordfreq`` language, a missing file or folder.
        r2d.io.InputError: a file that is not UTF-8 text, or a bad count (file, line, field).
    """
    if source.startswith(WORDFREQ_PREFIX):
        import wordfreq

        lang = wordfreq_language(source, what="--words", error=SourceError)
        return _unique_words(wordfreq.iter_wordlist(lang)), lang
    try:
        path = check_file(source, what="--words")
    except InputError as err:
        raise SourceError(err.path, f"{err.reason} (expected a word list, a .txt/.gz corpus, or wordfreq:LANG)"
                          ) from None
    if looks_like_word_list(path):
        words = read_word_list(path)
    else:
        with byte_progress("counting words", progress and sys.stderr.isatty()) as report:
            words = [w for w, _ in count_words([path], progress=report).most_common()]
    words = list(_unique_words(words))
    if not words:
        raise SourceError(f"--words {source}", "has no words (letters only, e.g. 'house' or 'house<TAB>120')")
    return words, "en"


def _unique_words(words: Iterable[str]) -> Iterator[str]:
    seen: set[str] = set()
    for w in words:
        n = normalize_word(w)
        if n is not None and n not in seen:
            seen.add(n)
            yield n
