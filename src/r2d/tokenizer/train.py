"""Training the root BPE of a 2D tokenizer: count the roots of a corpus, learn the merges.

The corpus is split into pieces and roots (:mod:`r2d.text.transform`) and a byte-level BPE is trained on the roots
only, so that ``riding`` counts for ``ride`` and ``Dogs`` for ``dog``; the result is in RoBERTa's special-token
layout, and :meth:`r2d.tokenizer.hf.R2DTokenizer.train` wraps it.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Iterable, Iterator, Mapping

from r2d.flags import DEFAULT_FLAG_NAMES, FlagSchema
from r2d.lists.deconstruct import DeconstructionList
from r2d.text.transform import Deconstructor
from r2d.tokenizer.alphabet import MASK_TOKEN, SPECIAL_TOKENS, WORD_START, bytes_to_unicode, root_to_symbols


def count_roots(decon: Deconstructor, *, files: Iterable[str | os.PathLike] | None = None,
                texts: Iterable[str] | None = None, word_counts: Mapping[str, float] | str | None = None,
                show_progress: bool = False) -> Counter[str]:
    """Count the roots of every piece in ``files``, ``texts`` and ``word_counts`` (see ``R2DTokenizer.train``).

    Raises:
        ValueError: no word at all was given.
    """
    from r2d.text.corpus import count_texts, iter_corpus_lines, load_word_counts

    counts: Counter[str] = Counter()
    if files is not None:
        counts.update(count_texts(iter_corpus_lines(files, show_progress=show_progress)))
    if texts is not None:
        counts.update(count_texts(texts))
    if word_counts is not None:
        counts.update(load_word_counts(word_counts))
    if not counts:
        raise ValueError("train() needs files, texts or word_counts with at least one word")
    roots: Counter[str] = Counter()
    for piece, c in counts.items():
        roots[decon.split(piece)[0]] += c
    return roots


def check_vocab_size(vocab_size: int) -> None:
    """Raises ``ValueError`` when ``vocab_size`` cannot hold the specials, the 257 base symbols and ``<mask>``."""
    if vocab_size < len(SPECIAL_TOKENS) + 1 + 257:
        raise ValueError(f"vocab_size={vocab_size} is too small: 4 specials + 257 base symbols + <mask> "
                         f"need at least {len(SPECIAL_TOKENS) + 258}")


def check_min_frequency(min_frequency: int) -> None:
    """Raises ``ValueError`` for a negative ``min_frequency`` (the BPE trainer takes an unsigned count)."""
    if min_frequency < 0:
        raise ValueError(f"min_frequency={min_frequency}: expected a count >= 0")


def unused_affixes(deconstruction_list: DeconstructionList | None, schema: FlagSchema) -> list[str]:
    """The affixes of the schema's extra flags (beyond the article's seven) that no list entry splits off.

    Step 1 splits a word only by its list entry, so such a flag is 0 on every row: a column the model can never
    learn from. The article's own flags are left out: they are the default schema whatever the list.
    """
    active = schema.affix_flags
    extra = [a for a, name in active.items() if name not in DEFAULT_FLAG_NAMES]
    if not extra:
        return []
    table = deconstruction_list.split_table(active) if deconstruction_list is not None else {}
    used = {a for _, affixes in table.values() for a in affixes}
    return [a for a in extra if a not in used]


def train_bpe(root_counts: Mapping[str, int], vocab_size: int, min_frequency: int = 2, show_progress: bool = False):
    """Train the byte-level BPE over roots: 4 specials, BPE tokens, ``<mask>`` last (``vocab_size`` in all).

    Returns:
        A ``tokenizers.Tokenizer`` (no pre-tokenizer: r2d pre-tokenizes in Python).
    """
    from tokenizers import Tokenizer, pre_tokenizers, trainers
    from tokenizers.models import BPE

    check_vocab_size(vocab_size)
    check_min_frequency(min_frequency)
    alphabet = sorted(set(bytes_to_unicode().values())) + [WORD_START]
    tok = Tokenizer(BPE())
    # The training text is "▁word ▁word ..." (no real spaces occur: bytes are mapped to printable characters),
    # so whitespace splitting gives back the roots, each with its count, without one Python string per use.
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - 1, min_frequency=min_frequency, special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=alphabet, show_progress=show_progress, limit_alphabet=len(alphabet),
    )

    def chunks() -> Iterator[str]:
        for root, c in root_counts.items():
            sym = root_to_symbols(root)
            c = int(c)
            while c > 0:
                k = min(c, 4096)
                yield " ".join([sym] * k)
                c -= k

    tok.train_from_iterator(chunks(), trainer=trainer)
    tok.pre_tokenizer = None
    tok.add_special_tokens([MASK_TOKEN])
    return tok
