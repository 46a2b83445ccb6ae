"""Text <-> rows for a causal model's tokenizer: one view of an ``R2DTokenizer`` and of the 1D twin's byte-level BPE.

:class:`RowCodec` gives both the same small interface (encode to rows, decode rows, which ids start a word, how a
row's piece reads), so that generation, bits per byte and the training recipe each have one code path for both.
Word starts: R2D's word-start pieces carry ``▁`` (they decide which flags are free); a twin's token starts a word
when it carries GPT-2's space marker ``Ġ`` (used only to cut the generated stream into words).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

GPT2_SPACE = "\u0120"  # Ġ


class RowCodec:
    """Text <-> rows for a causal model's tokenizer (``R2DTokenizer`` or a ``transformers`` byte-level BPE).

    Attributes:
        tokenizer: the wrapped tokenizer.
        num_flags: F (0 for the BPE twin). flag_names: their names.
        bos_token_id, eos_token_id, pad_token_id: ``<s>``, ``</s>``, ``<pad>`` (RoBERTa's 0, 2, 1).
        vocab_size: number of ids.
        word_start: (V,) bool, True for ids that start a word (never for special ids).
        special_ids: ids that are rows of their own (``<s>``, ``<pad>``, ``</s>``, ``<unk>``, ``<mask>``).
    """

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.r2d = hasattr(tokenizer, "flag_names") and hasattr(tokenizer, "word_start")
        self.num_flags = int(tokenizer.num_flags) if self.r2d else 0
        self.flag_names = tuple(tokenizer.flag_names) if self.r2d else ()
        self.bos_token_id, self.eos_token_id = int(tokenizer.bos_token_id), int(tokenizer.eos_token_id)
        self.pad_token_id = int(tokenizer.pad_token_id)
        self.vocab_size = len(tokenizer)
        self.special_ids = sorted(int(i) for i in tokenizer.all_special_ids)
        if self.r2d:
            self.word_start = np.asarray(tokenizer.word_start, dtype=bool)
            self._pieces = [_readable(b) for b in tokenizer._token_bytes]
        else:
            from r2d.tokenizer.hf import unicode_to_bytes

            table = unicode_to_bytes()
            tokens = [t or "" for t in tokenizer.convert_ids_to_tokens(list(range(self.vocab_size)))]
            self.word_start = np.array([t.startswith(GPT2_SPACE) for t in tokens], dtype=bool)
            self._pieces = [t if i in self.special_ids else _readable(bytes(table.get(c, 63) for c in t))
                            for i, t in enumerate(tokens)]
        self.word_start[self.special_ids] = False

    def encode(self, texts: Sequence[str], *, add_special_tokens: bool = True) -> list[tuple[list[int], np.ndarray]]:
        """Texts -> one ``(ids (T,), flags (T, F) int8)`` per text, ``<s> ... </s>`` when ``add_special_tokens``."""
        if not texts:
            return []
        if self.r2d:
            enc = self.tokenizer(list(texts), add_special_tokens=False)
            rows = [(list(ids), np.asarray(fl, dtype=np.int8).reshape(len(ids), self.num_flags))
                    for ids, fl in zip(enc["input_ids"], enc["flags"])]
        else:
            enc = self.tokenizer(list(texts), add_special_tokens=False, verbose=False)
            rows = [(list(ids), np.zeros((len(ids), 0), dtype=np.int8)) for ids in enc["input_ids"]]
        if not add_special_tokens:
            return rows
        zero = np.zeros((1, self.num_flags), dtype=np.int8)
        return [([self.bos_token_id, *ids, self.eos_token_id], np.concatenate([zero, flags, zero])) for ids, flags in rows]

    def decode(self, ids: Sequence[int], flags: Any = None) -> str:
        """Rows -> text, special rows dropped; total on any ids and flags (never raises on model output)."""
        ids = [int(i) for i in ids]
        if self.r2d:
            return self.tokenizer.decode(ids, flags, assume_flags_off=flags is None)
        ids = [i if 0 <= i < self.vocab_size else self.tokenizer.unk_token_id for i in ids]
        return self.tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def piece(self, token_id: int) -> str:
        """How one row's piece reads: R2D's root piece without the marker (``park``), the twin's token (`` park``)."""
        return self._pieces[token_id] if 0 <= token_id < self.vocab_size else "<unk>"


def _readable(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def as_codec(tokenizer) -> RowCodec:
    """A :class:`RowCodec` for a tokenizer (or the codec itself)."""
    return tokenizer if isinstance(tokenizer, RowCodec) else RowCodec(tokenizer)


__all__ = ["RowCodec", "as_codec"]
