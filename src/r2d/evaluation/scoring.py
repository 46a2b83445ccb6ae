"""Sentence scorers for BLiMP: a trained model folder -> a function from sentences to their total log-probabilities.

Causal models (R2D and its twin) give the full-sentence log-probability of ``<s> sentence </s>`` (every predicted
root and free flag, as in bits per byte); masked models (R2D's MLM, RoBERTa) the pseudo-log-likelihood (Salazar et
al., 2020), each row masked in turn.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from r2d.device import autocast, model_device, place
from r2d.modeling.attention import implementation_of, padding_mask

logger = logging.getLogger(__name__)

SentenceScorer = Callable[[Sequence[str]], list[float]]

_EPS = 1e-6


def model_type(path: str | Path) -> str:
    """The ``model_type`` in a model folder's ``config.json``.

    Raises:
        FileNotFoundError: no folder or no ``config.json``.
        ValueError: ``config.json`` is not JSON.
    """
    cfg = Path(path) / "config.json"
    if not cfg.is_file():
        raise FileNotFoundError(f"{path}: no model here (expected a folder with config.json, e.g. OUT/model of "
                                "'r2d pretrain')")
    try:
        return str(json.loads(cfg.read_text(encoding="utf-8")).get("model_type"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{cfg}:{e.lineno}: not JSON ({e.msg})") from None


def load_scorer(path: str | Path, *, batch_size: int = 32, device: str = "auto",
                precision: str = "auto") -> tuple[SentenceScorer, str]:
    """A sentence scorer for the model in ``path``, and its rule (``"causal"`` or ``"pseudo"``).

    Args:
        path: a model folder written by ``r2d pretrain`` (``OUT/model``): causal (R2D or twin), R2D MLM or RoBERTa.
        batch_size: sequences per forward pass.
        device: where the model runs (:func:`r2d.device.resolve_device`: a GPU when there is one).
        precision: ``auto``, ``bf16`` or ``fp32`` (:func:`r2d.device.autocast`).

    Raises:
        FileNotFoundError, ValueError: not a model folder, or a model type r2d cannot score.
    """
    kind = model_type(path)
    if kind == "r2d_causal":
        from r2d.modeling.causal_data import load_causal_lm

        model, codec = load_causal_lm(path)
        return causal_scorer(place(model, device), codec, batch_size=batch_size, precision=precision), "causal"
    if kind == "r2d":
        from transformers import AutoModelForMaskedLM

        import r2d.modeling.encoder  # noqa: F401  (registers model_type "r2d")
        from r2d.tokenizer.loading import load_tokenizer

        model = place(AutoModelForMaskedLM.from_pretrained(str(path)).eval(), device)
        return r2d_pseudo_scorer(model, load_tokenizer(path, r2d=True), batch_size=batch_size,
                                 precision=precision), "pseudo"
    if kind == "roberta":
        from transformers import AutoModelForMaskedLM

        from r2d.tokenizer.loading import has_tokenizer_files, load_tokenizer

        model = place(AutoModelForMaskedLM.from_pretrained(str(path)).eval(), device)
        tokenizer = load_tokenizer(path if has_tokenizer_files(path) else None, r2d=False)
        return roberta_pseudo_scorer(model, tokenizer, batch_size=batch_size, precision=precision), "pseudo"
    raise ValueError(f"{path}: cannot score a model of type {kind!r} (expected r2d_causal, r2d or roberta)")


def _to_host(parts: list[torch.Tensor]) -> list[float]:
    """Per-batch (B,) float32 scores on the device -> one list of floats (the call's one read of the device)."""
    return torch.cat(parts).cpu().double().tolist() if parts else []


def causal_scorer(model, codec, *, batch_size: int = 32, precision: str = "auto") -> SentenceScorer:
    """Full-sentence log-probabilities ``log p(<s> sentence </s>)`` under a causal model: every row's root, the free
    flags of word-start rows and the end, the same total as bits per byte.

    Args:
        model: an :class:`~r2d.modeling.causal.R2DForCausalLM` (R2D or the twin), on any device.
        codec: its :class:`~r2d.modeling.causal_data.RowCodec` (or the tokenizer, wrapped here).
        precision: ``auto``, ``bf16`` or ``fp32`` (:func:`r2d.device.autocast`).
    """
    from r2d.evaluation.bpb import score_batch
    from r2d.modeling.causal_data import CausalCollator, RowCodec

    codec = codec if isinstance(codec, RowCodec) else RowCodec(codec)
    collate = CausalCollator.for_codec(codec)

    @torch.inference_mode()
    def score(sentences: Sequence[str]) -> list[float]:
        parts: list[torch.Tensor] = []
        rows = codec.encode(list(sentences))
        for start in range(0, len(rows), batch_size):
            batch = collate([{"input_ids": ids, "flags": fl} for ids, fl in rows[start:start + batch_size]])
            _, _, root, flag = score_batch(model, batch, precision=precision)  # (B, T-1) each, on the device
            parts.append(-(root + flag).sum(-1))  # (B,) float32
        return _to_host(parts)

    return score


def masked_copies(collator, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One masked copy per scored row of one sequence, with the rows whose flags it hides.

    The word grouping is the MLM collator's (:meth:`~r2d.modeling.collator.R2DDataCollatorForMLM.words_of`), so
    scoring hides exactly what pretraining hid.

    Args:
        collator: an :class:`~r2d.modeling.collator.R2DDataCollatorForMLM` of the model's tokenizer.
        ids: (T,) the sequence's ids, special rows included.

    Returns:
        ``positions`` (N,) the scored rows (every non-special row), ``hidden`` (N, T) bool: the rows of each
        position's word, ``first`` (N,) bool: the position starts its word (its flags are scored there).
    """
    ids = ids.unsqueeze(0)  # (1, T)
    cand = collator.candidates(ids)[0]  # (T,)
    positions = torch.nonzero(cand).flatten()  # (N,)
    selected = torch.zeros((len(positions), ids.shape[1]), dtype=torch.bool)
    selected[torch.arange(len(positions)), positions] = True  # (N, T) one selected row per copy
    hidden = collator.words_of(ids.expand(len(positions), -1), selected)  # (N, T)
    first = collator.word_owner(ids, cand.unsqueeze(0))[0, positions] == positions  # (N,)
    return positions, hidden, first


def r2d_pseudo_scorer(model, tokenizer, *, batch_size: int = 32, precision: str = "auto") -> SentenceScorer:
    """Pseudo-log-likelihoods under an :class:`~r2d.modeling.encoder.R2DForMaskedLM`, on the model's device.

    Each row is masked in turn with its whole word's flags hidden (as in pretraining); the root is scored at every
    row, the word's flags once, at its first row, with the calibrated ``flag_probs``.
    """
    from r2d.modeling.collator import R2DDataCollatorForMLM

    collator = R2DDataCollatorForMLM(tokenizer)
    mask_id = int(tokenizer.mask_token_id)

    @torch.inference_mode()
    def score(sentences: Sequence[str]) -> list[float]:
        enc = tokenizer(list(sentences))
        jobs = []  # (sentence index, input ids (T,), flags (T, F), hidden rows (T,), position, flags scored here)
        for s, (ids, flags) in enumerate(zip(enc["input_ids"], enc["flags"])):
            ids = torch.as_tensor(list(ids), dtype=torch.long)
            flags = torch.as_tensor(np.asarray(flags, dtype=np.int64).reshape(len(ids), -1))
            for p, hidden, first in zip(*masked_copies(collator, ids)):
                jobs.append((s, ids, flags, hidden, int(p), bool(first)))
        device = model_device(model)
        parts: list[torch.Tensor] = []
        for start in range(0, len(jobs), batch_size):
            chunk = jobs[start:start + batch_size]
            b, t = len(chunk), max(len(j[1]) for j in chunk)
            ids = torch.full((b, t), tokenizer.pad_token_id, dtype=torch.long)
            flags = torch.zeros((b, t, tokenizer.num_flags), dtype=torch.long)
            hidden = torch.zeros((b, t), dtype=torch.long)
            target = torch.zeros(b, dtype=torch.long)  # (B,) the masked row's root id
            target_flags = torch.zeros((b, tokenizer.num_flags), dtype=torch.long)  # (B, F) its word's flags
            for i, (_, row_ids, row_flags, row_hidden, p, _) in enumerate(chunk):
                n = len(row_ids)
                ids[i, :n], ids[i, p] = row_ids, mask_id
                flags[i, :n] = row_flags.masked_fill(row_hidden.unsqueeze(-1), 0)
                hidden[i, :n] = row_hidden.long()
                target[i], target_flags[i] = row_ids[p], row_flags[p]
            position = torch.tensor([j[4] for j in chunk])  # (B,)
            first = torch.tensor([j[5] for j in chunk])  # (B,) the word's flags are scored at this row
            batch = {k: v.to(device, non_blocking=True) for k, v in dict(
                ids=ids, flags=flags, hidden=hidden, target=target, target_flags=target_flags, position=position,
                first=first).items()}
            attention = padding_mask(batch["ids"].ne(tokenizer.pad_token_id), implementation_of(model))
            with autocast(device, precision):
                out = model(input_ids=batch["ids"], attention_mask=attention, flags=batch["flags"],
                            hidden_flags=batch["hidden"])
            rows = torch.arange(b, device=device)
            logits = out.logits[rows, batch["position"]].float()  # (B, V) the masked rows only
            total = torch.log_softmax(logits, dim=-1)[rows, batch["target"]]  # (B,)
            probs = out.flag_probs[rows, batch["position"]].float().clamp(_EPS, 1 - _EPS)  # (B, F)
            on = batch["target_flags"].bool()
            flag_logp = torch.where(on, probs.log(), (1 - probs).log()).sum(-1)  # (B,)
            parts.append(total + flag_logp * batch["first"])  # (B,)
        totals = [0.0] * len(sentences)
        for (s, *_), value in zip(jobs, _to_host(parts)):
            totals[s] += value
        return totals

    return score


def roberta_pseudo_scorer(model, tokenizer, *, batch_size: int = 32, precision: str = "auto") -> SentenceScorer:
    """Pseudo-log-likelihoods under a ``RobertaForMaskedLM`` with a ``transformers`` tokenizer, on the model's
    device."""
    special = set(int(i) for i in tokenizer.all_special_ids)

    @torch.inference_mode()
    def score(sentences: Sequence[str]) -> list[float]:
        enc = tokenizer(list(sentences))
        jobs = [(s, list(ids), p) for s, ids in enumerate(enc["input_ids"]) for p, i in enumerate(ids)
                if i not in special]
        device = model_device(model)
        parts: list[torch.Tensor] = []
        for start in range(0, len(jobs), batch_size):
            chunk = jobs[start:start + batch_size]
            b, t = len(chunk), max(len(j[1]) for j in chunk)
            ids = torch.full((b, t), tokenizer.pad_token_id, dtype=torch.long)
            for i, (_, row_ids, p) in enumerate(chunk):
                ids[i, :len(row_ids)] = torch.tensor(row_ids)
                ids[i, p] = tokenizer.mask_token_id
            position = torch.tensor([p for _, _, p in chunk]).to(device, non_blocking=True)  # (B,)
            target = torch.tensor([row_ids[p] for _, row_ids, p in chunk]).to(device, non_blocking=True)  # (B,)
            ids = ids.to(device, non_blocking=True)
            attention = padding_mask(ids.ne(tokenizer.pad_token_id), implementation_of(model))
            with autocast(device, precision):
                out = model(input_ids=ids, attention_mask=attention)
            rows = torch.arange(b, device=device)
            parts.append(torch.log_softmax(out.logits[rows, position].float(), dim=-1)[rows, target])  # (B,)
        totals = [0.0] * len(sentences)
        for (s, *_), value in zip(jobs, _to_host(parts)):
            totals[s] += value
        return totals

    return score


__all__ = ["causal_scorer", "load_scorer", "masked_copies", "model_type", "r2d_pseudo_scorer",
           "roberta_pseudo_scorer"]
