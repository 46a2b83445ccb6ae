"""Word counts for training: read corpora, count pieces, load ``wordfreq`` or count files.

A helper of :meth:`r2d.tokenizer.hf.R2DTokenizer.train` and of ``r2d stats``; it counts pieces (the units of
:mod:`r2d.text.pretokenize`), it does not deconstruct them.
"""

from __future__ import annotations

import gzip
import logging
import os
from collections import Counter
from pathlib import Path
from typing import Iterable, Iterator, Mapping

from r2d.text.pretokenize import split_pieces

logger = logging.getLogger(__name__)

WORDFREQ_PREFIX = "wordfreq:"
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


def iter_corpus_lines(files: Iterable[str | os.PathLike], *, show_progress: bool = False) -> Iterator[str]:
    """Lines of text files (``.gz`` too), newline kept; WikiExtractor ``<doc ...>``/``</doc>`` lines skipped.

    Raises:
        FileNotFoundError: a file does not exist (named in the message).
    """
    files = [Path(f) for f in files]
    for f in files:
        if not f.is_file():
            raise FileNotFoundError(f"corpus file not found: {f}")
    for f in files:
        opener = gzip.open if f.suffix == ".gz" else open
        with opener(f, "rt", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("<doc ") or line.startswith("</doc>"):
                    continue
                yield line


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


def load_word_counts(spec: Mapping[str, float] | str | os.PathLike) -> dict[str, int]:
    """Word counts from a mapping, ``"wordfreq:LANG"``, or a file of ``word<TAB>count`` lines.

    Each word is pre-tokenized (``"don't"`` counts for ``don`` and ``'t``), so keys may be any text.

    Raises:
        ValueError: a malformed line, with file and line number.
    """
    if isinstance(spec, str) and spec.startswith(WORDFREQ_PREFIX):
        return wordfreq_counts(spec[len(WORDFREQ_PREFIX):] or "en")
    if isinstance(spec, Mapping):
        raw = spec.items()
    else:
        raw = list(_read_count_file(Path(spec)))
    counts: Counter[str] = Counter()
    for w, c in raw:
        c = max(1, round(float(c)))
        for p in split_pieces(w):
            counts[p] += c
    return dict(counts)


def _read_count_file(path: Path) -> Iterator[tuple[str, float]]:
    if not path.is_file():
        raise FileNotFoundError(f"word-count file not found: {path}")
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            word, _, count = line.partition("\t")
            try:
                yield word, float(count) if count else 1.0
            except ValueError:
                raise ValueError(f"{path}:{i}: count {count!r} for {word!r} is not a number") from None
