"""Corpus statistics of a 2D tokenizer against RoBERTa's: flag rates, list coverage, top-N word coverage, rows per
1,000 bytes (``r2d stats``). Flag rates are :mod:`r2d.tokenizer.rates`' (re-exported as :func:`flag_rates`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from r2d.tokenizer.rates import flag_rates  # noqa: F401  (re-exported: stats' flag rates are the tokenizer's)

# The article's rates on OpenWebText (R2D.md section 1), for side-by-side display.
ARTICLE_FLAG_RATES = {"NoSpace": 0.23, "FirstCap": 0.18, "AllCaps": 0.011, "Suffix_s": 0.030, "Suffix_ed": 0.017,
                      "Suffix_ing": 0.013, "Contraction_s": 0.009}


@dataclass
class ListCoverage:
    words: int          # letter-word occurrences in the sample
    split: int          # occurrences the list splits into root + affix flags
    decided: int        # occurrences of words the list decides (split or kept whole), or roots of split words

    @property
    def split_share(self) -> float:
        return self.split / self.words if self.words else 0.0

    @property
    def decided_share(self) -> float:
        return self.decided / self.words if self.words else 0.0


def list_coverage(tok, texts: Iterable[str]) -> ListCoverage:
    """How much of a sample's word occurrences the tokenizer's list splits, and how much it decides."""
    from r2d.text.pretokenize import split_pieces

    d = tok.deconstructor
    affix_cols = set(d._col_affix)
    # subtle: only entries the flag set can apply count (a `case` tokenizer carries a list it never uses)
    active = d._split  # word -> (root, ...): entries whose affixes are all flags of the schema
    listed = set(active) | {e.word for e in d.list if not e.is_split} if affix_cols else set()
    roots = {v[0] for v in active.values()}
    words = split = decided = 0
    for t in texts:
        for p in split_pieces(t):
            w = p.lstrip(" ")
            if not w[:1].isalpha():
                continue
            words += 1
            root, flags = d.split(p)
            if any(flags[c] for c in affix_cols):
                split += 1
                decided += 1
            elif root in listed or root in roots:
                decided += 1
    return ListCoverage(words, split, decided)


def top_n_coverage(tok, n: int = 50_000, lang: str = "en") -> dict[str, int]:
    """Of ``wordfreq``'s top ``n`` words, how many are one token: r2d (the word's root, as ``" word"``) and
    RoBERTa (``" word"``; and ``" word"`` or ``"word"``)."""
    import wordfreq

    from r2d.tokenizer.baseline import roberta_bpe

    words = wordfreq.top_n_list(lang, n)
    enc = tok([" " + w for w in words], add_special_tokens=False)
    r2d_single = sum(1 for ids in enc["input_ids"] if len(ids) == 1)
    rb = roberta_bpe()
    spaced = rb.encode_batch([" " + w for w in words], add_special_tokens=False)
    bare = rb.encode_batch(words, add_special_tokens=False)
    rob_spaced = sum(1 for e in spaced if len(e.ids) == 1)
    rob_either = sum(1 for a, b in zip(spaced, bare) if len(a.ids) == 1 or len(b.ids) == 1)
    return {"words": len(words), "r2d": r2d_single, "roberta": rob_spaced, "roberta_either": rob_either}


def rows_per_kb(tok, texts: Sequence[str], batch_size: int = 1000) -> dict[str, float]:
    """Rows per 1,000 UTF-8 bytes: r2d rows vs RoBERTa tokens on the same texts (no special tokens)."""
    from r2d.tokenizer.baseline import roberta_bpe

    rb = roberta_bpe()
    nbytes = sum(len(t.encode("utf-8")) for t in texts)
    r2d_rows = roberta_rows = 0
    for i in range(0, len(texts), batch_size):
        chunk = list(texts[i:i + batch_size])
        r2d_rows += sum(map(len, tok(chunk, add_special_tokens=False)["input_ids"]))
        roberta_rows += sum(len(e.ids) for e in rb.encode_batch(chunk, add_special_tokens=False))
    kb = nbytes / 1000 if nbytes else 1.0
    return {"bytes": nbytes, "r2d_rows": r2d_rows, "roberta_rows": roberta_rows, "r2d_per_kb": r2d_rows / kb,
            "roberta_per_kb": roberta_rows / kb, "ratio": r2d_rows / roberta_rows if roberta_rows else 0.0}
