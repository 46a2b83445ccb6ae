"""Corpus text in, lines, documents and word counts out: the one reader of ``.txt``/``.gz`` corpora and WikiExtractor
markup (:func:`iter_corpus_lines`, :func:`iter_documents`), piece counts for tokenizer training, ``wordfreq`` counts.
"""

from __future__ import annotations

import logging
import math
import os
from collections import Counter
from typing import Callable, Iterable, Iterator, Mapping

import regex

from r2d.io import InputError, check_file, iter_lines
from r2d.text.pretokenize import split_pieces

logger = logging.getLogger(__name__)

WORDFREQ_PREFIX = "wordfreq:"
# Words as a deconstruction list sees them: letter runs, except the contraction pieces 's 't 're 've 'm 'll 'd
_LETTER_RUN = regex.compile(r"'(?:s|t|re|ve|m|ll|d)(?!\p{L})|\p{L}+")
# Frequencies are scaled to integer counts: a word of frequency f counts round(f * SCALE) (at least 1).
WORDFREQ_SCALE = 2_000_000
# wordfreq has no punctuation or white space. Roots that every English text is full of get a count equal to a
# frequent word's, so that each becomes one row. These are not measured rates, just a floor for the BPE.
_PUNCT_FLOOR = 1e-3
COMMON_SYMBOLS = (
    [c for c in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"]
    + ["\n", "\n\n", " ", "  ", "\t", "...", "--", "\u2013", "\u2014", "\u2019", "\u201c", "\u201d", "\u00a0",
       ").", "),", ".\"", ",\"", "\".", "\",", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "):", ");", ".)",
       "(\"", "\")", "'.", "',", ".'", "?\"", "!\"", "\u00b0", "%)", "$", "\u00a3", "\u20ac", "\"),", "\").",
       ".,", ".:", "%),", "%.", "\";", "\u2212", "[...]", "-,", "\"\u2014", "]],", "[[", "]]", "%,", "),\"", "\":"]
)


def _corpus_lines(files: Iterable[str | os.PathLike], progress: Callable[[int, int], None] | None
                  ) -> Iterator[str]:
    """Lines of every file in turn, each file checked before the first is read (a typo fails at once)."""
    files = [check_file(f) for f in files]
    total = sum(f.stat().st_size for f in files)
    done = 0
    for f in files:
        report = None if progress is None else (lambda pos, base=done: progress(base + pos, total))
        yield from iter_lines(f, progress=report)
        done += f.stat().st_size


def _is_markup(line: str) -> bool:
    return line.startswith(("<doc ", "</doc>")) or line.rstrip("\n") == "<doc>"


def iter_corpus_lines(files: Iterable[str | os.PathLike], *, show_progress: bool = False,
                      progress: Callable[[int, int], None] | None = None) -> Iterator[str]:
    """Lines of text files (``.gz`` too), newline kept; WikiExtractor ``<doc ...>``/``</doc>`` lines skipped.

    Args:
        files: text files, UTF-8, plain or gzip (recognised by content).
        show_progress: log the share of bytes read, every tenth.
        progress: called with (bytes read, bytes in all files) as the files are read (for a progress bar).

    Raises:
        r2d.io.InputError: a file is missing, a folder, not UTF-8 text or binary (file and line named).
    """
    if show_progress and progress is None:
        progress = _log_progress()
    for line in _corpus_lines(files, progress):
        if not _is_markup(line):
            yield line


def _log_progress() -> Callable[[int, int], None]:
    shown = [0]

    def report(done: int, total: int) -> None:
        tenth = 10 * done // max(total, 1)
        if tenth > shown[0]:
            shown[0] = tenth
            logger.info("read %d%% of the corpus (%.1f of %.1f MB)", 10 * tenth, done / 1e6, total / 1e6)

    return report


def iter_documents(files: Iterable[str | os.PathLike], *,
                   progress: Callable[[int], None] | None = None) -> Iterator[str]:
    """Documents of text files (``.gz`` too), in order.

    WikiExtractor output (``<doc ...>`` ... ``</doc>``): the non-blank lines in between, joined by newlines
    (the markup lines are dropped). Lines outside such markup: each non-blank line is a document.

    Args:
        progress: called now and then with the bytes of the files on disk read so far (all files together).

    Raises:
        r2d.io.InputError: as :func:`iter_corpus_lines`.
    """
    done = 0
    for f in [check_file(f) for f in files]:
        lines: list[str] | None = None  # the open <doc>'s lines; None outside a document
        report = None if progress is None else (lambda pos, base=done: progress(base + pos))
        done += f.stat().st_size
        for line in iter_lines(f, progress=report):
            line = line.rstrip("\n")
            if _is_markup(line):
                if lines:
                    yield "\n".join(lines)
                lines = None if line.startswith("</doc>") else []
            elif lines is not None:
                if line.strip():
                    lines.append(line)
            elif line.strip():
                yield line
        if lines:  # subtle: a file cut inside a document
            yield "\n".join(lines)


DOCUMENT_RULES = ("auto", "file", "lines")
"""How :func:`scored_documents` cuts a file into documents: ``auto`` = WikiExtractor ``<doc>`` articles where the
file has that markup, else ``file``; ``file`` = the whole file, every byte (line breaks included); ``lines`` = each
non-blank line, line breaks left out (the older rule)."""


def has_doc_markup(path: str | os.PathLike, *, probe_lines: int = 50) -> bool:
    """Whether a text file (``.gz`` too) holds WikiExtractor markup: a ``<doc ...>`` line among its first lines."""
    for n, line in enumerate(iter_lines(path)):
        if n >= probe_lines:
            return False
        if _is_markup(line):
            return True
    return False


def read_exact(path: str | os.PathLike) -> str:
    """The whole text of a file (``.gz`` too), every character as stored: no newline translation (``\r\n`` stays)."""
    return "".join(iter_lines(path, newline=""))


def scored_documents(files: Iterable[str | os.PathLike], rule: str = "auto") -> tuple[list[str], list[str]]:
    """The documents that bits per byte scores in ``files``, and the rule each file was read by (``DOCUMENT_RULES``).

    Returns:
        ``(documents, rules)``: ``rules[i]`` is ``"wikiextractor"``, ``"file"`` or ``"lines"`` for ``files[i]``.

    Raises:
        ValueError: an unknown ``rule``. r2d.io.InputError: as :func:`iter_lines`.
    """
    if rule not in DOCUMENT_RULES:
        raise ValueError(f"rule must be one of {DOCUMENT_RULES}, got {rule!r}")
    docs: list[str] = []
    rules: list[str] = []
    for f in [check_file(f) for f in files]:
        if rule != "file" and has_doc_markup(f):
            r = "wikiextractor"  # marked articles under auto and lines alike
        else:
            r = "lines" if rule == "lines" else "file"
        if r == "file":
            text = read_exact(f)
            docs += [text] if text else []
        else:
            docs += iter_documents([f])  # marked articles, or the non-blank lines
        rules.append(r)
    return docs, rules


def count_words(files: Iterable[str | os.PathLike], *,
                progress: Callable[[int, int], None] | None = None) -> Counter[str]:
    """Occurrences of each lowercased word (a run of letters) in text files: the words a list decides.

    Contraction pieces (``'s``, ``'t``, ...) are not words; ``NASA's`` counts ``nasa``, ``don't`` counts ``don``.

    Args:
        files: text files (``.gz`` too); WikiExtractor markup lines are skipped.
        progress: as for :func:`iter_corpus_lines`.

    Raises:
        r2d.io.InputError: as :func:`iter_corpus_lines`.
    """
    counts: Counter[str] = Counter()
    for line in iter_corpus_lines(files, progress=progress):
        counts.update(m.lower() for m in _LETTER_RUN.findall(line) if m[0] != "'")
    return counts


def count_texts(texts: Iterable[str]) -> Counter[str]:
    """Count pieces over texts (``" the"`` and ``"the"`` are different pieces)."""
    counts: Counter[str] = Counter()
    for t in texts:
        counts.update(split_pieces(t))
    return counts


def wordfreq_counts(lang: str = "en", n: int = 200_000) -> dict[str, int]:
    """``wordfreq``'s top ``n`` words of ``lang`` as integer counts of the pieces ``" word"``, plus numbers
    (0-1000 and years 1000-2100, with wordfreq's frequencies) and common punctuation and white space."""
    import wordfreq

    freqs: dict[str, float] = {}
    for w in wordfreq.top_n_list(lang, n):
        freqs[w] = wordfreq.word_frequency(w, lang)
    for num in list(range(0, 1001)) + list(range(1000, 2101)):
        freqs.setdefault(str(num), wordfreq.word_frequency(str(num), lang))
    counts: Counter[str] = Counter()
    for w, f in freqs.items():
        for p in split_pieces(" " + w):
            counts[p] += max(1, round(f * WORDFREQ_SCALE))
    for s in COMMON_SYMBOLS:
        counts[s] = max(counts[s], round(_PUNCT_FLOOR * WORDFREQ_SCALE))
    return dict(counts)


def wordfreq_language(spec: str, *, what: str, error: type[InputError] = InputError) -> str:
    """The language of a ``wordfreq:LANG`` source (``en`` when LANG is empty), checked before any counting.

    Args:
        spec: the source as the user gave it (``wordfreq:en``).
        what: the option it came from (``--words``), for the message.
        error: the :class:`r2d.io.InputError` kind to raise.

    Raises:
        error: wordfreq has no such language (wordfreq itself would raise ``LookupError`` mid-count).
    """
    import wordfreq

    lang = spec[len(WORDFREQ_PREFIX):] or "en"
    if lang not in wordfreq.available_languages():
        raise error(f"{what} {spec}", f"wordfreq has no language {lang!r}")
    return lang


def load_word_counts(spec: Mapping[str, float] | str | os.PathLike) -> dict[str, int]:
    """Word counts from a mapping, ``"wordfreq:LANG"``, or a file of ``word<TAB>count`` lines.

    Each word is pre-tokenized (``"don't"`` counts for ``don`` and ``'t``), so keys may be any text. A line
    without a count counts 1.

    Raises:
        r2d.io.InputError: the file cannot be read, or a count is not a number (file, line and field named).
    """
    if isinstance(spec, str) and spec.startswith(WORDFREQ_PREFIX):
        return wordfreq_counts(spec[len(WORDFREQ_PREFIX):] or "en")
    if isinstance(spec, Mapping):
        raw = spec.items()
    else:
        raw = [(w, 1.0 if c is None else c) for _, w, c in read_word_counts(spec)]
    counts: Counter[str] = Counter()
    for w, c in raw:
        c = max(1, round(float(c)))
        for p in split_pieces(w):
            counts[p] += c
    return dict(counts)


def read_word_counts(path: str | os.PathLike, *, what: str = "") -> Iterator[tuple[int, str, float | None]]:
    """The rows of a word-count file: ``word`` or ``word<TAB>count`` per line, ``#`` comment lines.

    Yields:
        ``(line number, word, count)`` in file order; ``count`` is None where the line has none.

    Raises:
        r2d.io.InputError: the file cannot be read as text, or a count is not a number >= 0 (file, line, field).
    """
    for i, line in enumerate(iter_lines(path, what=what), 1):
        body = line.rstrip("\r\n")
        if not body.strip() or body.startswith("#"):
            continue
        word, _, count = body.partition("\t")
        if not count.strip():
            yield i, word, None
            continue
        try:
            c = float(count)
        except ValueError:
            c = math.nan
        if not (math.isfinite(c) and c >= 0):
            raise InputError(f"{what} {path}" if what else path, f"{count!r} for {word!r} is not a number >= 0",
                             line=i, field="count")
        yield i, word, c
