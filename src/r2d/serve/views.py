"""What the playground's page shows for a text, as plain JSON-ready dicts (no HTTP here): :func:`tokenize_view`
(r2d's rows beside RoBERTa's tokens, and the raw model input in ``r2d tokenize --format json``'s format) and its
inverse :func:`decode_view`.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Sequence

# Short labels for the page's flag badges; flags not listed get one from their name (see ``flag_label``).
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
FLAG_LABELS = {"NoSpace": "NoSp", "FirstCap": "Cap", "AllCaps": "CAPS", "Contraction_s": "'s"}


def flag_label(name: str) -> str:
    """The short badge label of a flag: ``Suffix_ing`` -> ``~ing``, ``Prefix_un`` -> ``un~``.

    >>> [flag_label(n) for n in ("FirstCap", "Suffix_ed", "Prefix_re", "Custom")]
    ['Cap', '~ed', 're~', 'Custom']
    """
    if name in FLAG_LABELS:
        return FLAG_LABELS[name]
    if name.startswith("Suffix_"):
        return "~" + name[len("Suffix_"):]
    if name.startswith("Prefix_"):
        return name[len("Prefix_"):] + "~"
    return name


def bytes_label(raw: bytes) -> str:
    """Text of a token's bytes; a token that splits a UTF-8 character shows its bytes as ``<F0 9F 98>``.

    >>> bytes_label("é".encode()), bytes_label(b"\\xf0\\x9f")
    ('é', '<F0 9F>')
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "<" + " ".join(f"{b:02X}" for b in raw) + ">"


@functools.lru_cache(maxsize=1)
def _byte_table() -> dict[str, int]:
    from r2d.tokenizer.hf import unicode_to_bytes

    return unicode_to_bytes()


@functools.lru_cache(maxsize=200_000)  # bounded by the vocabularies' sizes in practice
def token_bytes(token: str) -> bytes:
    """Bytes of a byte-level BPE token (GPT-2's alphabet); r2d's word-start marker ``▁`` is dropped."""
    table = _byte_table()
    return bytes(table[c] for c in token if c in table)


@functools.lru_cache(maxsize=200_000)
def token_label(token: str) -> str:
    """:func:`bytes_label` of a byte-level BPE token, cached (the page shows the same tokens again and again)."""
    return bytes_label(token_bytes(token))


def root_text(pieces: Sequence[str]) -> str:
    """The root that a word's BPE pieces spell (the inverse of the tokenizer's root -> symbols)."""
    # subtle: roots are encoded with surrogatepass, so lone surrogates come back too
    return b"".join(map(token_bytes, pieces)).decode("utf-8", "surrogatepass")


@functools.lru_cache(maxsize=1)
def roberta_baseline():
    """RoBERTa's byte-level BPE (a ``tokenizers.Tokenizer``), offline; built once per process."""
    from tokenizers import processors

    from r2d.tokenizer.baseline import roberta_bpe

    tok = roberta_bpe()
    # subtle: untrimmed offsets, so a token's span includes the space it carries (as r2d's word text does)
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=False,
                                                      add_prefix_space=False)
    return tok


def tokenize_view(tok, text: str, *, name: str, roberta=None) -> dict[str, Any]:
    """Everything the page shows for ``text``.

    Args:
        tok: an ``R2DTokenizer``.
        text: any Unicode string.
        name: the tokenizer's name as the server lists it (written into ``raw``).
        roberta: a ``tokenizers.Tokenizer`` for the side-by-side baseline (default: RoBERTa's, offline).

    Returns:
        A dict with ``flag_names``; ``words``: one dict per step-1 row (``root``, ``text`` = the characters
        it covers including an attached space, ``span`` = [start, end) of ``text`` in code points, ``ids``,
        ``pieces`` = the BPE pieces of the root as text, ``flags`` = {name: 0/1}); ``roberta``: one dict per
        token (``id``, ``text``, ``span``); ``counts`` (``bytes``, ``words`` = whitespace-separated words,
        ``pieces`` = step-1 rows, ``rows`` = model rows without ``<s>``/``</s>``, ``roberta_tokens``,
        ``rows_per_1000_bytes``, ``roberta_per_1000_bytes``, ``round_trip``); ``raw``: ``tokenizer``,
        ``flag_names``, ``input_ids`` (T,), ``flags`` (T, F), ``tokens`` (T,), with ``<s>``/``</s>`` rows, as
        ``r2d tokenize --format json`` prints them.
    """
    names = list(tok.flag_names)
    enc = tok(text, return_offsets_mapping=True)
    ids, flags, offsets = list(enc["input_ids"]), [list(map(int, f)) for f in enc["flags"]], enc["offset_mapping"]
    tokens = tok.convert_ids_to_tokens(ids)
    word_start = tok.word_start
    # subtle: rows 0 and -1 are <s> and </s>; every root's first piece carries the word-start marker
    starts = [i for i in range(1, len(ids) - 1) if word_start[ids[i]]]
    ends = starts[1:] + [len(ids) - 1]
    ns = names.index("NoSpace") if "NoSpace" in names else None
    # a word's text starts one character before its span when it has a space (NoSpace 0): the space the
    # pre-tokenizer attached to it; words are contiguous, so each one ends where the next begins
    begins = [offsets[a][0] - (ns is not None and not flags[a][ns] and offsets[a][0] > 0) for a in starts]
    stops = begins[1:] + [len(text)]
    words = []
    for a, b, begin, stop in zip(starts, ends, begins, stops):
        pieces = tokens[a:b]
        words.append({
            "root": root_text(pieces),
            "text": text[begin:stop],
            "span": [begin, stop],
            "ids": ids[a:b],
            "pieces": [token_label(t) for t in pieces],
            "flags": dict(zip(names, flags[a])),
        })
    # subtle: RoBERTa's (Rust) tokenizer takes no lone surrogates; U+FFFD keeps the offsets in place
    rb = (roberta or roberta_baseline()).encode(_LONE_SURROGATE.sub("\ufffd", text), add_special_tokens=False)
    roberta_tokens = [{"id": i, "text": token_label(t), "span": list(o)}
                      for i, t, o in zip(rb.ids, rb.tokens, rb.offsets)]
    n_bytes = len(text.encode("utf-8", "surrogatepass"))
    n_rows = max(len(ids) - 2, 0)
    counts = {
        "bytes": n_bytes,
        "words": len(text.split()),
        "pieces": len(words),
        "rows": n_rows,
        "roberta_tokens": len(roberta_tokens),
        "rows_per_1000_bytes": round(1000 * n_rows / n_bytes, 1) if n_bytes else None,
        "roberta_per_1000_bytes": round(1000 * len(roberta_tokens) / n_bytes, 1) if n_bytes else None,
        "round_trip": tok.decode(ids, flags) == text,
    }
    raw = {"tokenizer": name, "flag_names": names, "input_ids": ids, "flags": flags, "tokens": tokens}
    return {"tokenizer": name, "flag_names": names, "words": words, "roberta": roberta_tokens, "counts": counts,
            "raw": raw}


def decode_view(tok, ids: Sequence[int], flags: Sequence[Sequence[float]] | None, *,
                skip_special_tokens: bool = True) -> dict[str, Any]:
    """Ids + flags -> ``{"text": ...}``; total on any ids and flags (``decode`` never raises on model output).

    Args:
        tok: an ``R2DTokenizer``.
        ids: (T,) token ids; ids outside the vocabulary decode as ``<unk>``.
        flags: (T, F) flag values (on when >= 0.5), or ``None`` for all off.
        skip_special_tokens: drop ``<s>``, ``</s>``, ``<pad>`` rows.
    """
    return {"text": tok.decode(list(ids), None if flags is None else [list(f) for f in flags],
                               skip_special_tokens=skip_special_tokens, assume_flags_off=flags is None)}
