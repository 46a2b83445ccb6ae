"""MLM masking of root ids and flags together: the batch builder for R2D pretraining.

A *word* is a word-start row plus the continuation rows after it; every row of a word carries the word's flags.
Ids are masked BERT's way (15% of rows, 80/10/10); a word with any selected row has its flags hidden on **all** its
rows (else its sibling rows would show them), with ``hidden_flags`` (B, T) = 1 there so that a hidden row is not read
as an all-off one. ``labels`` (B, T) and ``flag_labels`` (B, T, F) are -100 except on selected and hidden rows.

>>> import numpy as np, torch
>>> class Tok:  # the attributes the collator reads from an R2DTokenizer
...     pad_token_id, mask_token_id, all_special_ids, num_flags = 1, 9, [0, 1, 2, 3, 9], 2
...     word_start = np.ones(10, dtype=bool)
...     def __len__(self): return 10
>>> collate = R2DDataCollatorForMLM(Tok(), mlm_probability=0.5, seed=0)
>>> out = collate([{"input_ids": [0, 5, 6, 2], "flags": [[0, 0], [1, 0], [0, 1], [0, 0]]}, {"input_ids": [0, 7, 2], "flags": [[0, 0], [1, 1], [0, 0]]}])
>>> sorted(out), tuple(out["flags"].shape)
(['attention_mask', 'flag_labels', 'flags', 'hidden_flags', 'input_ids', 'labels'], (2, 4, 2))
>>> out["input_ids"][1, 3].item(), out["attention_mask"][1].tolist()
(1, [1, 1, 1, 0])
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

logger = logging.getLogger(__name__)


def _as_long(x: Any) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.long()
    return torch.as_tensor(np.asarray(x), dtype=torch.long)


def word_start_rows(input_ids: torch.Tensor, candidates: torch.Tensor, word_start: torch.Tensor) -> torch.Tensor:
    """(B, T) bool: candidate rows that begin a word (word-start id, or first candidate after a non-candidate).

    Args:
        input_ids: (B, T). candidates: (B, T) bool, the rows that belong to words (not special, not padding).
        word_start: (V,) bool, True for the ids that begin a word.
    """
    prev = torch.zeros_like(candidates)
    prev[:, 1:] = candidates[:, :-1]
    ws = word_start[input_ids.clamp(0, len(word_start) - 1)]  # (B, T)
    return candidates & (ws | ~prev)


def word_owner(input_ids: torch.Tensor, candidates: torch.Tensor, word_start: torch.Tensor) -> torch.Tensor:
    """(B, T) long: the first row of each row's word (meaningful on candidate rows only); arguments as in
    :func:`word_start_rows`."""
    starts = word_start_rows(input_ids, candidates, word_start)  # (B, T)
    pos = torch.arange(input_ids.shape[1], device=input_ids.device).expand_as(input_ids) * starts  # (B, T)
    return torch.cummax(pos, dim=1).values  # (B, T) index of each row's start


class R2DDataCollatorForMLM:
    """Pads R2D examples and masks ids and flags together (see the module docstring).

    Args:
        tokenizer: an ``R2DTokenizer`` or any object with ``pad_token_id``, ``mask_token_id``,
            ``all_special_ids``, ``num_flags``, ``len()`` and (when it has flags or for whole-word masking)
            ``word_start`` (numpy bool (V,), True where the id begins a word).
        mlm_probability: fraction of candidate rows (or words) selected; 0.15 as in BERT/RoBERTa.
        whole_word_mask: select whole words instead of single rows.
        pad_to_multiple_of: pad T up to a multiple of this (e.g. 8 for tensor cores); ``None`` = longest.
        mask_replace_prob: share of selected rows replaced by ``<mask>`` (0.8).
        random_replace_prob: share of selected rows replaced by a random non-special id (0.1); the rest stay.
        seed: seed of a private ``torch.Generator``; ``None`` = torch's global RNG (seeded by ``Trainer``).
    """

    def __init__(self, tokenizer, mlm_probability: float = 0.15, whole_word_mask: bool = False,
                 pad_to_multiple_of: int | None = None, mask_replace_prob: float = 0.8,
                 random_replace_prob: float = 0.1, seed: int | None = None):
        if not 0.0 <= mlm_probability <= 1.0:
            raise ValueError(f"mlm_probability must be in [0, 1], got {mlm_probability}")
        if mask_replace_prob < 0 or random_replace_prob < 0 or mask_replace_prob + random_replace_prob > 1:
            raise ValueError(
                f"mask_replace_prob={mask_replace_prob} and random_replace_prob={random_replace_prob} must be >= 0 "
                "and sum to at most 1"
            )
        if tokenizer.mask_token_id is None or tokenizer.pad_token_id is None:
            raise ValueError("the tokenizer needs a mask token and a pad token for MLM masking")
        self.tokenizer = tokenizer
        self.mlm_probability = float(mlm_probability)
        self.whole_word_mask = bool(whole_word_mask)
        self.pad_to_multiple_of = pad_to_multiple_of
        self.mask_replace_prob = float(mask_replace_prob)
        self.random_replace_prob = float(random_replace_prob)
        self.generator = torch.Generator().manual_seed(seed) if seed is not None else None

        self.pad_id = int(tokenizer.pad_token_id)
        self.mask_id = int(tokenizer.mask_token_id)
        self.num_flags = int(tokenizer.num_flags)
        vocab_size = len(tokenizer)
        self.special_ids = torch.tensor(sorted({int(i) for i in tokenizer.all_special_ids} | {self.pad_id,
                                                                                               self.mask_id}))
        normal = torch.ones(vocab_size, dtype=torch.bool)
        normal[self.special_ids[self.special_ids < vocab_size]] = False
        self.normal_ids = torch.nonzero(normal).flatten()  # ids a random replacement may take
        if len(self.normal_ids) == 0:
            raise ValueError("the tokenizer has no non-special ids to sample random replacements from")
        self.word_start = None
        if self.whole_word_mask or self.num_flags:
            ws = getattr(tokenizer, "word_start", None)
            if ws is None:
                raise ValueError("the collator needs tokenizer.word_start (bool per id: begins a word) to find the "
                                 "rows of each word (whole-word masking, hiding a word's flags)")
            self.word_start = torch.as_tensor(np.asarray(ws, dtype=bool))
            if len(self.word_start) < vocab_size:
                raise ValueError(f"tokenizer.word_start has {len(self.word_start)} entries for {vocab_size} ids")

    # ------------------------------------------------------------------------------------------------ padding

    def pad(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        """Right-pad examples into tensors.

        Args:
            features: dicts with ``input_ids`` (T_i,), ``flags`` (T_i, F) and optionally ``attention_mask`` (T_i,).

        Returns:
            ``input_ids`` (B, T) padded with the pad id, ``attention_mask`` (B, T), ``flags`` (B, T, F) padded
            with 0 rows.
        """
        if not features:
            raise ValueError("cannot collate an empty list of examples")
        ids = [_as_long(f["input_ids"]).flatten() for f in features]
        longest = max(len(x) for x in ids)
        if self.pad_to_multiple_of:
            m = self.pad_to_multiple_of
            longest = ((longest + m - 1) // m) * m
        b = len(features)
        input_ids = torch.full((b, longest), self.pad_id, dtype=torch.long)
        attention_mask = torch.zeros((b, longest), dtype=torch.long)
        flags = torch.zeros((b, longest, self.num_flags), dtype=torch.long)
        for i, (f, x) in enumerate(zip(features, ids)):
            n = len(x)
            if "flags" not in f:
                raise KeyError(f"example {i} has no 'flags' (keys: {sorted(f)}); R2D examples need a flag matrix")
            fl = _as_long(f["flags"]).reshape(n, -1) if n else torch.zeros((0, self.num_flags), dtype=torch.long)
            if fl.shape[1] != self.num_flags:
                raise ValueError(f"example {i}: flags have {fl.shape[1]} columns, the tokenizer has {self.num_flags}")
            input_ids[i, :n] = x
            flags[i, :n] = fl
            att = f.get("attention_mask")
            attention_mask[i, :n] = _as_long(att).flatten() if att is not None else 1
        return {"input_ids": input_ids, "attention_mask": attention_mask, "flags": flags}

    # ------------------------------------------------------------------------------------------------ masking

    def _rand(self, shape) -> torch.Tensor:
        return torch.rand(shape, generator=self.generator)

    def candidates(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T) bool: rows that may be selected (not special, not padding, attended)."""
        cand = ~torch.isin(input_ids, self.special_ids)
        if attention_mask is not None:
            cand &= attention_mask.bool()
        return cand

    def word_starts(self, input_ids: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """(B, T) bool: candidate rows that begin a word (:func:`word_start_rows`)."""
        return word_start_rows(input_ids, candidates, self.word_start)

    def word_owner(self, input_ids: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """(B, T) long: the first row of each row's word (:func:`word_owner`)."""
        return word_owner(input_ids, candidates, self.word_start)

    def select(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T) bool: the rows chosen for prediction (rows, or whole words with ``whole_word_mask``)."""
        cand = self.candidates(input_ids, attention_mask)
        draw = self._rand(input_ids.shape) < self.mlm_probability  # (B, T)
        if not self.whole_word_mask:
            return cand & draw
        owner = self.word_owner(input_ids, cand)  # (B, T)
        starts = owner == torch.arange(input_ids.shape[1])  # (B, T) a row that owns itself starts its word
        return cand & (draw & starts).gather(1, owner)

    def words_of(self, input_ids: torch.Tensor, selected: torch.Tensor,
                 attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T) bool: every row of every word that has a selected row."""
        cand = self.candidates(input_ids, attention_mask)
        owner = self.word_owner(input_ids, cand)  # (B, T)
        hit = torch.zeros(owner.shape, dtype=torch.long).scatter_add_(1, owner, (selected & cand).long())  # (B, T)
        return cand & (hit > 0).gather(1, owner)

    def mask_tokens(self, input_ids: torch.Tensor, flags: torch.Tensor,
                    attention_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """Select rows and apply the 80/10/10 replacement to ids and flags.

        Args:
            input_ids: (B, T) ids. flags: (B, T, F) 0/1. attention_mask: (B, T) or None.

        Returns:
            ``(input_ids, flags, hidden_flags, labels, flag_labels)``: masked copies (B, T) and (B, T, F), the
            hidden-flag rows (B, T) long, labels (B, T) with -100 off the selected rows and flag labels
            (B, T, F) with -100 off the hidden rows.
        """
        selected = self.select(input_ids, attention_mask)  # (B, T)
        hidden = self.words_of(input_ids, selected, attention_mask) if self.num_flags else selected  # (B, T)
        labels = torch.where(selected, input_ids, torch.full_like(input_ids, -100))
        flag_labels = torch.where(hidden.unsqueeze(-1), flags, torch.full_like(flags, -100))  # (B, T, F)

        r = self._rand(input_ids.shape)
        to_mask = selected & (r < self.mask_replace_prob)
        to_random = selected & (r >= self.mask_replace_prob) & (r < self.mask_replace_prob + self.random_replace_prob)
        input_ids = input_ids.clone()
        input_ids[to_mask] = self.mask_id
        n_random = int(to_random.sum())
        if n_random:
            pick = torch.randint(len(self.normal_ids), (n_random,), generator=self.generator)
            input_ids[to_random] = self.normal_ids[pick]
        flags = flags.clone()
        flags[hidden] = 0  # subtle: the 10% kept ids keep their id, not their flags (the word is a target)
        return input_ids, flags, hidden.long(), labels, flag_labels

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        """Pad and mask a list of examples.

        Returns:
            ``input_ids`` (B, T), ``attention_mask`` (B, T), ``flags`` (B, T, F), ``hidden_flags`` (B, T),
            ``labels`` (B, T), ``flag_labels`` (B, T, F).
        """
        batch = self.pad(features)
        ids, flags, hidden, labels, flag_labels = self.mask_tokens(batch["input_ids"], batch["flags"],
                                                                   batch["attention_mask"])
        return {"input_ids": ids, "attention_mask": batch["attention_mask"], "flags": flags, "hidden_flags": hidden,
                "labels": labels, "flag_labels": flag_labels}


__all__ = ["R2DDataCollatorForMLM", "word_start_rows", "word_owner"]
