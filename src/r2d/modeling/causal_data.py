"""Causal batches and model folders: padded batches with their targets (:class:`CausalCollator`), and a model loaded
with its tokenizer seen as rows (:func:`load_causal_lm`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from r2d.modeling.causal import causal_targets
from r2d.modeling.rows import RowCodec
from r2d.tokenizer.loading import load_tokenizer


class CausalCollator:
    """Features ``{"input_ids": (T,)[, "flags": (T, F)]}`` -> a right-padded causal batch with its targets.

    The batch has ``input_ids`` (B, T), ``attention_mask`` (B, T), ``labels`` (B, T) and, when F > 0, ``flags``
    (B, T, F) and ``flag_labels`` (B, T, F), from :func:`r2d.modeling.causal.causal_targets` (``<s>`` and padding
    are not predicted; only word-start rows' flags are).

    Args:
        word_start: (V,) bool table (:attr:`RowCodec.word_start`).
        pad_token_id, bos_token_id: ``<pad>`` and ``<s>``.
        num_flags: F (0 for the twin).
    """

    def __init__(self, word_start: np.ndarray, *, pad_token_id: int = 1, bos_token_id: int = 0, num_flags: int = 0):
        self.word_start = torch.as_tensor(np.asarray(word_start, dtype=bool))
        self.pad_token_id, self.bos_token_id, self.num_flags = int(pad_token_id), int(bos_token_id), int(num_flags)

    @classmethod
    def for_codec(cls, codec: RowCodec) -> "CausalCollator":
        return cls(codec.word_start, pad_token_id=codec.pad_token_id, bos_token_id=codec.bos_token_id,
                   num_flags=codec.num_flags)

    def __call__(self, features: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        b, t = len(features), max(len(f["input_ids"]) for f in features)
        ids = torch.full((b, t), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((b, t), dtype=torch.long)
        flags = torch.zeros((b, t, self.num_flags), dtype=torch.long)
        for i, f in enumerate(features):
            n = len(f["input_ids"])
            ids[i, :n] = torch.as_tensor(np.asarray(f["input_ids"], dtype=np.int64))
            mask[i, :n] = 1
            if self.num_flags:
                flags[i, :n] = torch.as_tensor(np.asarray(f["flags"], dtype=np.int64).reshape(n, self.num_flags))
        labels, flag_labels = causal_targets(ids, flags if self.num_flags else None, mask, self.word_start,
                                             bos_token_id=self.bos_token_id)
        batch = {"input_ids": ids, "attention_mask": mask, "labels": labels}
        if self.num_flags:
            batch.update(flags=flags, flag_labels=flag_labels)
        return batch


def _hub_name(name: str) -> bool:
    """Whether ``name`` can be a Hub model name (``org/name`` or ``name``), not a path."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return not name.startswith((".", "~"))


def resolve_model_folder(path: str | os.PathLike, *, revision: str | None = None,
                         cache_dir: str | os.PathLike | None = None, token: str | bool | None = None,
                         local_files_only: bool = False) -> Path:
    """The local folder of a model: ``path`` itself when it is a folder, else the snapshot of the Hub model of that
    name (``huggingface_hub.snapshot_download``: the cache first, the Hub where reachable).

    Raises:
        FileNotFoundError: neither a folder nor a Hub model that can be had (the reason in the message).
    """
    d = Path(path)
    if d.is_dir() or not _hub_name(str(path)):
        return d
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(str(path), revision=revision, cache_dir=cache_dir, token=token,
                                      local_files_only=local_files_only))
    except Exception as e:  # huggingface_hub raises many kinds (offline, not found, no such revision); one line
        reason = " ".join([type(e).__name__ + ":", *str(e).strip().splitlines()[-1:]])
        raise FileNotFoundError(f"{path}: no model here (expected a folder with config.json, e.g. OUT/model of "
                                f"'r2d pretrain --objective clm', or a Hub model name: {reason})") from None


def load_causal_lm(path: str | os.PathLike, *, dtype: torch.dtype | None = None, revision: str | None = None,
                   cache_dir: str | os.PathLike | None = None, token: str | bool | None = None,
                   local_files_only: bool = False):
    """Load a causal model folder (``r2d pretrain --objective clm`` writes ``OUT/model``), or a Hub model of that
    name: model and codec.

    Args:
        path: a folder with ``config.json`` (``model_type`` ``r2d_causal``), the weights and the tokenizer, or a
            Hub name (``org/name``) whose repository holds them.
        dtype: load the weights in this dtype (default: as saved).
        revision, cache_dir, token, local_files_only: for a Hub name, as in ``from_pretrained``.

    Returns:
        ``(model in eval mode, RowCodec)``.

    Raises:
        FileNotFoundError: no such folder or Hub model, or no ``config.json`` in it.
        ValueError: not a causal r2d model, or its tokenizer does not fit it.
    """
    from transformers import AutoModelForCausalLM

    import r2d.modeling.causal  # noqa: F401  (registers r2d_causal with the Auto classes)

    d = resolve_model_folder(path, revision=revision, cache_dir=cache_dir, token=token,
                             local_files_only=local_files_only)
    cfg_path = d / "config.json"
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{path}: no model here (expected a folder with config.json, e.g. OUT/model "
                                "of 'r2d pretrain --objective clm')")
    try:
        model_type = json.loads(cfg_path.read_text(encoding="utf-8")).get("model_type")
    except json.JSONDecodeError as e:
        raise ValueError(f"{cfg_path}: not JSON ({e})") from None
    if model_type != "r2d_causal":
        raise ValueError(f"{path}: model_type is {model_type!r}, not a causal r2d model ('r2d_causal'); "
                         "MLM models (r2d pretrain --objective mlm) cannot generate or score text left to right")
    model = AutoModelForCausalLM.from_pretrained(str(d), dtype=dtype)
    model.eval()
    try:
        tokenizer = load_tokenizer(d, r2d=model.config.num_flags > 0)
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: cannot load the model's tokenizer: {e}") from None
    codec = RowCodec(tokenizer)
    if codec.vocab_size != model.config.vocab_size or codec.num_flags != model.config.num_flags:
        raise ValueError(f"{path}: tokenizer ({codec.vocab_size} ids, {codec.num_flags} flags) does not fit the model "
                         f"({model.config.vocab_size} ids, {model.config.num_flags} flags)")
    return model, codec


__all__ = ["RowCodec", "CausalCollator", "load_causal_lm", "resolve_model_folder"]
