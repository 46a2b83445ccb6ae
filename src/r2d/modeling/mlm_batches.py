"""MLM batches for a training run: each example masked under its own seed, evaluation masks fixed once, and adapters
that let the R2D collator mask RoBERTa's rows by whole words too.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

logger = logging.getLogger(__name__)

TRAIN_STREAM, EVAL_STREAM = 0, 1
BOOKKEEPING_KEYS = ("epoch", "index")  # example keys that are not model inputs


def mask_seed(seed: int, stream: int, epoch: int, index: int) -> int:
    """A 64-bit seed for one example's mask: a hash of ``(seed, stream, epoch, index)`` (``numpy.SeedSequence``).

    >>> mask_seed(0, 0, 0, 1) != mask_seed(0, 0, 1, 0) != mask_seed(0, 1, 0, 0)
    True
    """
    entropy = [int(seed) % 2**64, int(stream), int(epoch), int(index)]
    return int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0])


class MLMBatches:
    """The collate function of MLM pretraining around an MLM collator.

    A training example (which carries ``epoch`` and ``index``: :class:`r2d.training.data.SequenceDataset`) is masked
    under a seed drawn from ``(seed, epoch, index)``, so its masks do not depend on the number of workers, the batch
    size or the number of processes, and a resumed run draws the masks of an uninterrupted one. Evaluation examples
    are masked once (:meth:`premask`).

    Args:
        collator: called as ``collator([feature])``; draws from torch's global RNG (R2D's collator without a
            ``seed``, or ``transformers.DataCollatorForLanguageModeling``).
        seed: the run's seed.
        pad_id: the tokenizer's pad id.
        num_flags: F for R2D examples (``flags``, ``hidden_flags``, ``flag_labels``), 0 for RoBERTa.
    """

    def __init__(self, collator, seed: int, pad_id: int, num_flags: int = 0):
        inner = getattr(collator, "collator", collator)
        if getattr(inner, "generator", None) is not None:
            raise ValueError("MLMBatches seeds torch's global RNG per example: build the collator without a seed")
        self.collator, self.seed, self.pad_id, self.num_flags = collator, int(seed), int(pad_id), int(num_flags)

    def mask_one(self, feature: Mapping[str, Any], stream: int = TRAIN_STREAM) -> dict[str, torch.Tensor]:
        """Mask one example under its own seed; returns unpadded tensors (T,) / (T, F) with its labels."""
        epoch, index = int(feature.get("epoch", 0)), int(feature["index"])
        example = {k: v for k, v in feature.items() if k not in BOOKKEEPING_KEYS}
        n = len(example["input_ids"])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(mask_seed(self.seed, stream, epoch, index))
            batch = self.collator([example])
        return {k: torch.as_tensor(v)[0, :n] for k, v in batch.items()}

    def premask(self, dataset) -> list[dict[str, torch.Tensor]]:
        """Mask every example of ``dataset`` once (evaluation stream); returns unpadded examples with labels."""
        return [self.mask_one(dataset[i], EVAL_STREAM) for i in range(len(dataset))]

    def pad(self, examples: Sequence[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """Right-pad masked examples: ids with the pad id, labels with -100, everything else with 0.

        Returns:
            the keys of the examples, (B, T) or (B, T, F).
        """
        t = max(len(e["input_ids"]) for e in examples)
        fill = {"input_ids": self.pad_id, "labels": -100, "flag_labels": -100}
        batch = {}
        for k, v in examples[0].items():
            shape = (len(examples), t, *torch.as_tensor(v).shape[1:])
            batch[k] = torch.full(shape, fill.get(k, 0), dtype=torch.long)  # (B, T) or (B, T, F)
        for i, e in enumerate(examples):
            n = len(e["input_ids"])
            for k in batch:
                batch[k][i, :n] = torch.as_tensor(e[k])
        return batch

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        if "labels" in features[0]:
            return self.pad(features)
        return self.pad([self.mask_one(f) for f in features])


class RobertaWordStarts:
    """RoBERTa's tokenizer seen through the attributes :class:`R2DDataCollatorForMLM` reads, with no flags.

    A token begins a word when it carries GPT-2's space marker ``Ġ`` (fairseq's whole-word masking for RoBERTa);
    used for ``--model roberta --whole-word-mask`` so both models get the same 80/10/10 whole-word masking
    (``transformers``' own whole-word option needs offset mappings and turns off the 10%/10% parts).
    """

    num_flags = 0

    def __init__(self, tokenizer):
        self.pad_token_id, self.mask_token_id = tokenizer.pad_token_id, tokenizer.mask_token_id
        self.all_special_ids = list(tokenizer.all_special_ids)
        self.size = len(tokenizer)
        self.word_start = np.zeros(self.size, dtype=bool)
        for token, i in tokenizer.get_vocab().items():
            if i < self.size and token.startswith("\u0120"):
                self.word_start[i] = True

    def __len__(self) -> int:
        return self.size


class NoFlags:
    """Adapts :class:`R2DDataCollatorForMLM` to flag-less (RoBERTa) examples: zero-width flags in, none out."""

    FLAG_KEYS = ("flags", "hidden_flags", "flag_labels")

    def __init__(self, collator):
        self.collator = collator

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        feats = [{**f, "flags": np.zeros((len(f["input_ids"]), 0), dtype=np.int64)} for f in features]
        batch = self.collator(feats)
        return {k: v for k, v in batch.items() if k not in self.FLAG_KEYS}


__all__ = ["MLMBatches", "RobertaWordStarts", "NoFlags", "mask_seed"]
