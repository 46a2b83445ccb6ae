"""Recipe: MLM pretraining of R2D or of the RoBERTa baseline through one code path (``r2d pretrain``).

Pipeline stage: ``corpus -> ids (+ flags) -> masked batches -> model -> losses -> metrics``. Steps:

1. read documents: ``.txt``/``.txt.gz`` files (WikiExtractor ``<doc ...>``/``</doc>`` lines are markup: the lines
   between them form one document; in files without that markup every non-empty line is a document) or a
   Hugging Face dataset name ``name[:config]`` (e.g. ``wikitext:wikitext-103-raw-v1``, for machines with Hub
   access); the last ``--eval-fraction`` of the documents is held out for evaluation, identically for both models;
2. tokenize with the model's tokenizer (``R2DTokenizer`` for ``--model r2d``, the offline RoBERTa tokenizer for
   ``--model roberta``) and either truncate every document at ``--max-length`` rows like the article, or
   ``--pack`` the token stream (documents separated by ``</s>``) into full ``--max-length`` blocks;
3. measure the flag rates of the training rows and set ``pos_weight = (1 - p) / p`` (clamped);
4. train ``R2DForMaskedLM`` (collator :class:`r2d.modeling.collator.R2DDataCollatorForMLM`) or ``RobertaForMaskedLM``
   (``transformers.DataCollatorForLanguageModeling``) of the same ``--preset`` with the Hugging Face ``Trainer``
   (multi-GPU, mixed precision, gradient accumulation and checkpoints come from it);
5. write ``OUT/metrics.jsonl`` (training loss parts per logging step; eval loss, MLM accuracy and, for R2D,
   per-flag precision/recall/F1 with macro F1 at eval steps), TensorBoard logs (``OUT/runs``), checkpoints,
   ``OUT/args.json``, ``OUT/flag_rates.json``, ``OUT/summary.json`` and the final model with its tokenizer in
   ``OUT/model`` (what ``r2d finetune --model OUT/model`` takes).

``--resume`` continues from the newest complete checkpoint (also after ``kill -9``). This recipe does not
fine-tune (``r2d finetune``) or write reports (``r2d experiment``).
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import hashlib
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"
MODEL_DIR = "model"
CACHE_DIR = "data"


@dataclass
class PretrainArgs:
    """Arguments of ``r2d pretrain`` (each attribute docstring is its ``--help`` text)."""

    corpus: list[str]
    """corpus files (.txt or .txt.gz; WikiExtractor <doc> markup is dropped) or a Hub dataset name[:config]"""
    out: str
    """run folder: metrics.jsonl, args.json, checkpoints, TensorBoard logs, model/"""
    model: str = "r2d"
    """r2d (R2DForMaskedLM) or roberta (RobertaForMaskedLM baseline)"""
    preset: str = "tiny"
    """model size: tiny (tests), small (a CPU), base (RoBERTa-base)"""
    tokenizer: str | None = None
    """r2d: tokenizer folder or r2d-en (default r2d-en); roberta: folder or Hub name (default: offline baseline)"""
    max_steps: int = 1000
    """optimizer steps"""
    batch_size: int | None = None
    """per-device batch size (default: the preset's)"""
    grad_accum: int = 1
    """gradient accumulation steps"""
    lr: float | None = None
    """peak learning rate, AdamW with linear warm-up and decay (default: the preset's)"""
    warmup_steps: int | None = None
    """linear warm-up steps (default: the preset's, at most 10% of --max-steps)"""
    weight_decay: float | None = None
    """AdamW weight decay (default: the preset's)"""
    max_length: int | None = None
    """rows per sequence including <s> and </s> (default: the preset's)"""
    pack: bool = False
    """pack documents into full --max-length blocks instead of truncating each document"""
    max_docs: int | None = None
    """read at most this many documents (all corpus files together)"""
    eval_fraction: float = 0.02
    """share of the documents (taken from the end) held out for evaluation"""
    eval_size: int = 256
    """at most this many evaluation sequences"""
    eval_steps: int | None = None
    """evaluate every N steps (default: the preset's)"""
    logging_steps: int | None = None
    """log the training loss every N steps (default: the preset's)"""
    save_steps: int | None = None
    """checkpoint every N steps (default: the preset's)"""
    save_total_limit: int = 2
    """keep at most this many checkpoints"""
    mlm_probability: float = 0.15
    """share of rows (tokens) selected for prediction"""
    whole_word_mask: bool = False
    """select whole words for masking (r2d: by the tokenizer's word-start marker; roberta: by GPT-2's space marker)"""
    flag_combine: str = "concat_project"
    """r2d: concat_project, truncate_concat or linear_sum"""
    flag_values: str = "binary"
    """r2d: binary (0/1) or centered (-0.5/+0.5) flag inputs"""
    flag_loss_weight: float = 1.0
    """r2d: loss = mlm_loss + w * flag_loss"""
    flag_pos_weight_max: float = 100.0
    """r2d: clamp of the per-flag pos_weight (1-p)/p"""
    flag_pos_weight: bool = True
    """r2d: weight positive flags by (1-p)/p from the measured rates (--no-flag-pos-weight: all 1)"""
    max_minutes: float | None = None
    """stop training (then evaluate and save) once this many minutes of training have passed"""
    seed: int = 0
    """random seed (initialisation, data order, masking)"""
    resume: bool = False
    """continue from the newest complete checkpoint in --out"""
    bf16: bool = False
    """bf16 mixed precision"""
    gradient_checkpointing: bool = False
    """recompute activations in the backward pass to save memory"""
    num_workers: int = 0
    """data loader worker processes"""
    progress: bool = True
    """show a progress bar (--no-progress: log lines only)"""
    extra: dict[str, Any] = field(default_factory=dict)
    """further TrainingArguments (library use only)"""


class UsageError(Exception):
    """Bad input that should end the command with a clear message and exit code 2."""


# ---------------------------------------------------------------------------------------------------------
# corpus


def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return path.open("r", encoding="utf-8", errors="replace")


def iter_file_documents(path: str | os.PathLike) -> Iterator[str]:
    """Documents of one text file.

    WikiExtractor output (``<doc ...>`` ... ``</doc>``): the lines in between, joined by newlines (the markup
    lines are dropped). Other files: every non-empty line.
    """
    path = Path(path)
    in_doc = False
    lines: list[str] = []
    with _open_text(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("<doc ") or line == "<doc>":
                in_doc, lines = True, []
                continue
            if line == "</doc>":
                text = "\n".join(ln for ln in lines if ln.strip())
                if text:
                    yield text
                in_doc, lines = False, []
                continue
            if in_doc:
                lines.append(line)
            elif line.strip():
                yield line
    if in_doc and any(ln.strip() for ln in lines):  # subtle: a file cut inside a document
        yield "\n".join(ln for ln in lines if ln.strip())


def iter_hub_documents(name: str) -> Iterator[str]:
    """Non-empty ``text`` rows of the ``train`` split of a Hugging Face dataset ``name[:config]``."""
    import datasets

    ds_name, _, config = name.partition(":")
    try:
        ds = datasets.load_dataset(ds_name, config or None, split="train")
    except Exception as e:  # noqa: BLE001 - the datasets library raises many types for "cannot load"
        raise UsageError(f"--corpus {name}: not a file, and loading it as a Hub dataset failed: {e}") from e
    column = "text" if "text" in ds.column_names else ds.column_names[0]
    for row in ds:
        text = row[column]
        if text and text.strip():
            yield text


def is_file_source(source: str) -> bool:
    """True for a path-like corpus argument (exists, or ends like a text file)."""
    return Path(source).exists() or source.endswith((".txt", ".gz", ".raw")) or os.sep in source


def read_documents(sources: list[str], max_docs: int | None = None) -> list[str]:
    """All documents of the corpus arguments, in order (at most ``max_docs``)."""
    docs: list[str] = []
    for source in sources:
        if is_file_source(source):
            if not Path(source).is_file():
                raise UsageError(f"--corpus {source}: no such file")
            it = iter_file_documents(source)
        else:
            it = iter_hub_documents(source)
        for doc in it:
            docs.append(doc)
            if max_docs is not None and len(docs) >= max_docs:
                return docs
    return docs


# ---------------------------------------------------------------------------------------------------------
# tokenization into fixed-length examples


@dataclass
class TokenizedSet:
    """Sequences stored flat: ``ids`` (N,) int32, ``flags`` (N, F) int8 (R2D only), ``offsets`` (S + 1,)."""

    ids: np.ndarray
    offsets: np.ndarray
    flags: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def save(self, path: Path) -> None:
        arrays = {"ids": self.ids, "offsets": self.offsets}
        if self.flags is not None:
            arrays["flags"] = self.flags
        np.savez(path, **arrays)

    @classmethod
    def load(cls, path: Path) -> "TokenizedSet":
        with np.load(path) as z:
            return cls(ids=z["ids"], offsets=z["offsets"], flags=z["flags"] if "flags" in z.files else None)

    def rows(self, i: int) -> tuple[np.ndarray, np.ndarray | None]:
        a, b = self.offsets[i], self.offsets[i + 1]
        return self.ids[a:b], (self.flags[a:b] if self.flags is not None else None)


class MLMDataset:
    """A map-style dataset of examples ``{"input_ids", "attention_mask"[, "flags"]}`` over a :class:`TokenizedSet`."""

    def __init__(self, data: TokenizedSet):
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> dict[str, Any]:
        ids, flags = self.data.rows(i)
        ex: dict[str, Any] = {"input_ids": ids.astype(np.int64).tolist(), "attention_mask": [1] * len(ids)}
        if flags is not None:
            ex["flags"] = flags.astype(np.int64)
        return ex


def _encode(tokenizer, texts: list[str], with_flags: bool) -> tuple[list[list[int]], list[Any] | None]:
    if with_flags:
        enc = tokenizer(texts, add_special_tokens=False)
        return enc["input_ids"], enc["flags"]
    enc = tokenizer(texts, add_special_tokens=False, verbose=False)
    return enc["input_ids"], None


def tokenize_documents(docs: list[str], tokenizer, *, max_length: int, pack: bool, with_flags: bool,
                       num_flags: int = 0, batch_docs: int = 64) -> TokenizedSet:
    """Documents -> sequences of at most ``max_length`` rows, each ``<s> ... </s>``.

    Args:
        docs: document texts.
        tokenizer: ``R2DTokenizer`` (``with_flags=True``) or a ``transformers`` tokenizer.
        max_length: rows per sequence including ``<s>`` and ``</s>``.
        pack: concatenate documents (separated by ``</s>``) and cut into full blocks; else truncate each document.
        with_flags: keep the flag matrix.
        num_flags: F (for empty flag arrays).

    Returns:
        A :class:`TokenizedSet`.
    """
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    body = max_length - 2
    if body < 1:
        raise UsageError(f"--max-length {max_length} leaves no room for text (2 rows go to <s> and </s>)")
    ids_out: list[np.ndarray] = []
    flags_out: list[np.ndarray] = []
    lengths: list[int] = []
    zero = np.zeros((1, num_flags), dtype=np.int8)

    def emit(ids: np.ndarray, flags: np.ndarray | None) -> None:
        ids_out.append(np.concatenate([[bos], ids, [eos]]).astype(np.int32))
        if with_flags:
            flags_out.append(np.concatenate([zero, flags, zero]).astype(np.int8))
        lengths.append(len(ids) + 2)

    buf_ids: list[np.ndarray] = []
    buf_flags: list[np.ndarray] = []
    buffered = 0
    for start in range(0, len(docs), batch_docs):
        ids_list, flags_list = _encode(tokenizer, docs[start:start + batch_docs], with_flags)
        for k, ids in enumerate(ids_list):
            ids = np.asarray(ids, dtype=np.int64)
            fl = (np.asarray(flags_list[k], dtype=np.int8).reshape(len(ids), num_flags) if with_flags else None)
            if len(ids) == 0:
                continue
            if not pack:
                emit(ids[:body], fl[:body] if fl is not None else None)
                continue
            buf_ids += [ids, np.array([eos])]
            if with_flags:
                buf_flags += [fl, zero]
            buffered += len(ids) + 1
            if buffered >= body:
                all_ids = np.concatenate(buf_ids)
                all_flags = np.concatenate(buf_flags) if with_flags else None
                n_full = len(all_ids) // body
                for j in range(n_full):
                    emit(all_ids[j * body:(j + 1) * body],
                         all_flags[j * body:(j + 1) * body] if all_flags is not None else None)
                rest = n_full * body
                buf_ids = [all_ids[rest:]]
                buf_flags = [all_flags[rest:]] if with_flags else []
                buffered = len(all_ids) - rest
    if pack and buffered > 1:  # the last partial block (more than a lone separator)
        all_ids = np.concatenate(buf_ids)
        emit(all_ids, np.concatenate(buf_flags) if with_flags else None)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    ids = np.concatenate(ids_out) if ids_out else np.zeros(0, dtype=np.int32)
    flags = (np.concatenate(flags_out) if flags_out else np.zeros((0, num_flags), dtype=np.int8)) if with_flags else None
    return TokenizedSet(ids=ids, offsets=offsets, flags=flags)


# ---------------------------------------------------------------------------------------------------------
# models, tokenizers, metrics


def load_tokenizer(kind: str, name: str | None):
    """The tokenizer of a model kind: ``R2DTokenizer`` (default ``r2d-en``) or the RoBERTa baseline."""
    if kind == "r2d":
        from r2d.tokenizer.hf import R2DTokenizer

        try:
            return R2DTokenizer.from_pretrained(name or "r2d-en")
        except (FileNotFoundError, ValueError) as e:
            raise UsageError(f"--tokenizer {name or 'r2d-en'}: {e}") from e
    from r2d.tokenizer.baseline import roberta_tokenizer

    try:
        return roberta_tokenizer(name)
    except (OSError, ValueError) as e:
        raise UsageError(f"--tokenizer {name}: cannot load a RoBERTa tokenizer: {e}") from e


def _preprocess_logits(outputs, labels):
    """Reduce model outputs before the Trainer gathers them: argmax ids, flag logits, per-example losses.

    Returns:
        ``(pred_ids (B, T), flag_logits (B, T, F) or None, mlm_loss (B,), flag_loss (B,))``; the last three only
        for R2D.
    """
    import torch

    outs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    tensors = [o for o in outs if isinstance(o, torch.Tensor)]
    scalars = [o for o in tensors if o.dim() == 0]
    big = [o for o in tensors if o.dim() == 3]
    logits = max(big, key=lambda o: o.shape[-1])  # (B, T, V): the widest 3-D output
    pred = logits.argmax(-1)  # (B, T)
    flag_logits = [o for o in big if o is not logits]
    if not flag_logits:
        return pred
    b = pred.shape[0]
    parts = [s.detach().float().reshape(1).expand(b) for s in scalars[:2]]  # mlm_loss, flag_loss: (B,)
    return (pred, flag_logits[0].float(), *parts)


def make_compute_metrics(flag_names: list[str] | None):
    """``compute_metrics`` for the Trainer: MLM accuracy on labelled rows; for R2D the loss parts and flag P/R/F1."""
    from r2d.training.trainer import binary_prf

    def compute(pred) -> dict[str, float]:
        preds, labels = pred.predictions, pred.label_ids
        if isinstance(labels, (tuple, list)):
            labels, flag_labels = labels[0], (labels[1] if len(labels) > 1 else None)
        else:
            flag_labels = None
        ids = preds[0] if isinstance(preds, (tuple, list)) else preds
        sel = labels != -100
        out = {"mlm_accuracy": float((ids[sel] == labels[sel]).mean()) if sel.any() else 0.0}
        if flag_names is not None and isinstance(preds, (tuple, list)):
            if len(preds) >= 4:
                out["mlm_loss"] = float(np.mean(preds[2]))
                out["flag_loss"] = float(np.mean(preds[3]))
            if flag_labels is not None:
                flag_logits = preds[1]
                t = min(flag_logits.shape[1], flag_labels.shape[1])
                out.update(binary_prf(flag_logits[:, :t] > 0, flag_labels[:, :t], flag_names))
        return out

    return compute


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
        vocab = tokenizer.get_vocab()
        self.word_start = np.zeros(self.size, dtype=bool)
        for token, i in vocab.items():
            if i < self.size and token.startswith("\u0120"):
                self.word_start[i] = True

    def __len__(self) -> int:
        return self.size


class _NoFlags:
    """Adapts :class:`R2DDataCollatorForMLM` to flag-less (RoBERTa) examples: zero-width flags in, none out."""

    def __init__(self, collator):
        self.collator = collator

    def __call__(self, features):
        feats = [{**f, "flags": np.zeros((len(f["input_ids"]), 0), dtype=np.int64)} for f in features]
        batch = self.collator(feats)
        return {k: v for k, v in batch.items() if k not in ("flags", "flag_labels")}


class MLMBatches:
    """The recipe's collate function around an MLM collator (R2D's or ``transformers``').

    * Training batches are masked under a per-batch seed ``(seed, batch index)`` on a forked torch RNG, so the
      masks depend only on the batch's position in the run: a run resumed from a checkpoint redraws exactly the
      masks of an uninterrupted one (set :attr:`batches` to ``global_step * grad_accum`` before resuming; exact
      when every optimizer step consumes ``grad_accum`` batches).
    * Evaluation examples are masked once, up front (:meth:`premask`), so every evaluation scores the same rows;
      features that already carry ``labels`` are only padded.

    Args:
        collator: called as ``collator(features)``; uses torch's global RNG.
        seed: the run's seed.
        pad_id: the tokenizer's pad id.
        num_flags: F for R2D examples (``flags``/``flag_labels``), 0 for RoBERTa.
    """

    def __init__(self, collator, seed: int, pad_id: int, num_flags: int = 0):
        self.collator, self.seed, self.pad_id, self.num_flags = collator, int(seed), int(pad_id), int(num_flags)
        self.rank = int(os.environ.get("RANK", "0"))  # subtle: distinct masks on each process of a multi-GPU run
        self.batches = 0

    def _masked(self, features, stream: int, index: int) -> dict:
        import torch

        with torch.random.fork_rng(devices=[]):
            rank = self.rank if stream == 0 else 0
            torch.manual_seed(((self.seed * 1_000_003 + index) * 1024 + rank) * 2 + stream)
            return self.collator(features)

    def premask(self, dataset, batch_size: int = 64) -> list[dict[str, Any]]:
        """Mask every example of ``dataset`` once (fixed seed); returns unpadded examples with their labels."""
        out = []
        for start in range(0, len(dataset), batch_size):
            feats = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
            batch = self._masked(feats, 1, start)
            for j, f in enumerate(feats):
                n = len(f["input_ids"])
                out.append({k: v[j, :n].clone() for k, v in batch.items()})
        return out

    def pad_premasked(self, features) -> dict:
        import torch

        t = max(len(f["input_ids"]) for f in features)
        b = len(features)
        batch = {"input_ids": torch.full((b, t), self.pad_id, dtype=torch.long),
                 "attention_mask": torch.zeros((b, t), dtype=torch.long),
                 "labels": torch.full((b, t), -100, dtype=torch.long)}
        if self.num_flags:
            batch["flags"] = torch.zeros((b, t, self.num_flags), dtype=torch.long)
            batch["flag_labels"] = torch.full((b, t, self.num_flags), -100, dtype=torch.long)
        for i, f in enumerate(features):
            n = len(f["input_ids"])
            for k in batch:
                batch[k][i, :n] = torch.as_tensor(f[k])
        return batch

    def __call__(self, features):
        if "labels" in features[0]:
            return self.pad_premasked(features)
        index = self.batches
        self.batches += 1
        return self._masked(features, 0, index)


class TimeLimitCallback:
    """Stops training after ``minutes`` of wall time (the recipe then evaluates and saves as usual)."""

    def __new__(cls, minutes: float):
        from transformers import TrainerCallback

        class _Cb(TrainerCallback):
            def on_train_begin(self, args, state, control, **kwargs):
                self.t0 = time.perf_counter()

            def on_step_end(self, args, state, control, **kwargs):
                if time.perf_counter() - self.t0 > 60 * minutes:
                    logger.warning("--max-minutes %s reached at step %d: stopping", minutes, state.global_step)
                    control.should_training_stop = True
                    control.should_save = True

        return _Cb()


class SaveTokenizerCallback:
    """Saves the tokenizer into every checkpoint folder (so ``checkpoint-N`` is a complete model folder)."""

    def __new__(cls, tokenizer):
        from transformers import TrainerCallback

        class _Cb(TrainerCallback):
            def on_save(self, args, state, control, **kwargs):
                if state.is_world_process_zero:
                    ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
                    if ckpt.is_dir():
                        tokenizer.save_pretrained(str(ckpt))

        return _Cb()


def _cache_key(args: PretrainArgs, tokenizer_id: str) -> str:
    parts: dict[str, Any] = {"model": args.model, "tokenizer": tokenizer_id, "max_length": args.max_length,
                             "pack": args.pack, "max_docs": args.max_docs, "eval_fraction": args.eval_fraction,
                             "eval_size": args.eval_size, "corpus": []}
    for c in args.corpus:
        p = Path(c)
        parts["corpus"].append([str(p.resolve()), p.stat().st_size, int(p.stat().st_mtime)] if p.is_file() else c)
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def build_datasets(args: PretrainArgs, tokenizer, with_flags: bool, out: Path) -> tuple[TokenizedSet, TokenizedSet]:
    """Read, split and tokenize the corpus; cached in ``OUT/data`` (reused by ``--resume``)."""
    tok_id = str(args.tokenizer or ("r2d-en" if with_flags else "roberta-baseline"))
    key = _cache_key(args, tok_id)
    cache = out / CACHE_DIR
    meta = cache / "meta.json"
    if meta.is_file() and json.loads(meta.read_text(encoding="utf-8")).get("key") == key:
        logger.info("reusing tokenized data in %s", cache)
        return TokenizedSet.load(cache / "train.npz"), TokenizedSet.load(cache / "eval.npz")
    t0 = time.perf_counter()
    docs = read_documents(args.corpus, args.max_docs)
    if len(docs) < 2:
        raise UsageError(f"--corpus {' '.join(args.corpus)}: found {len(docs)} document(s); need at least 2 "
                         "(one for training, one for evaluation)")
    n_eval = min(len(docs) - 1, max(1, int(round(len(docs) * args.eval_fraction))))
    train_docs, eval_docs = docs[:-n_eval], docs[-n_eval:]
    num_flags = tokenizer.num_flags if with_flags else 0
    kw = dict(max_length=args.max_length, pack=args.pack, with_flags=with_flags, num_flags=num_flags)
    train = tokenize_documents(train_docs, tokenizer, **kw)
    evals = tokenize_documents(eval_docs, tokenizer, **kw)
    if len(evals) > args.eval_size:
        evals = TokenizedSet(ids=evals.ids[:evals.offsets[args.eval_size]], offsets=evals.offsets[:args.eval_size + 1],
                             flags=evals.flags[:evals.offsets[args.eval_size]] if evals.flags is not None else None)
    if len(train) == 0 or len(evals) == 0:
        raise UsageError(f"--corpus {' '.join(args.corpus)}: no text left after tokenization")
    cache.mkdir(parents=True, exist_ok=True)
    train.save(cache / "train.npz")
    evals.save(cache / "eval.npz")
    info = {"key": key, "documents": len(docs), "train_documents": len(train_docs), "eval_documents": len(eval_docs),
            "train_sequences": len(train), "eval_sequences": len(evals), "train_rows": int(len(train.ids)),
            "eval_rows": int(len(evals.ids)), "seconds": round(time.perf_counter() - t0, 2)}
    meta.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    logger.info("corpus: %d documents -> %d train / %d eval sequences (%d train rows) in %.1f s", len(docs),
                len(train), len(evals), len(train.ids), info["seconds"])
    return train, evals


def _fill_defaults(args: PretrainArgs) -> PretrainArgs:
    from r2d.training.trainer import TRAIN_DEFAULTS

    d = TRAIN_DEFAULTS[args.preset]
    a = dataclasses.replace(args)
    a.batch_size = a.batch_size or d["batch_size"]
    a.lr = a.lr if a.lr is not None else d["learning_rate"]
    a.warmup_steps = a.warmup_steps if a.warmup_steps is not None else min(d["warmup_steps"], a.max_steps // 10)
    a.weight_decay = a.weight_decay if a.weight_decay is not None else d["weight_decay"]
    a.max_length = a.max_length or d["max_length"]
    a.eval_steps = a.eval_steps or d["eval_steps"]
    a.logging_steps = a.logging_steps or d["logging_steps"]
    a.save_steps = a.save_steps or d["save_steps"]
    return a


# ---------------------------------------------------------------------------------------------------------
# the recipe


def pretrain(args: PretrainArgs, argv: list[str] | None = None) -> dict[str, Any]:
    """Run MLM pretraining as described in the module docstring.

    Args:
        args: the run arguments (``None`` fields take the preset's defaults).
        argv: the command line recorded in ``OUT/args.json`` (default ``sys.argv``).

    Returns:
        The content of ``OUT/summary.json``: steps, seconds, train rows/s, parameter count, the last eval metrics.
    """
    import torch
    from transformers import DataCollatorForLanguageModeling, RobertaForMaskedLM, TrainingArguments
    from transformers.trainer_callback import PrinterCallback

    from r2d.modeling.collator import R2DDataCollatorForMLM
    from r2d.modeling.encoder import R2DForMaskedLM
    from r2d.training.trainer import (MetricsJsonlCallback, R2DTrainer, RichProgressCallback, flag_rates_from_rows,
                              last_checkpoint, model_config, pos_weights, read_metrics, save_run_args, set_seed)

    args = _fill_defaults(args)
    out = Path(args.out)
    resume_from = last_checkpoint(out) if args.resume else None
    if not args.resume and (out / METRICS_FILE).exists():
        raise UsageError(f"--out {out}: already holds a run (metrics.jsonl); pass --resume to continue it "
                         "or choose another folder")
    if args.resume and resume_from is None:
        logger.warning("--resume: no complete checkpoint in %s, starting from step 0", out)
    out.mkdir(parents=True, exist_ok=True)
    save_run_args(out, args, argv=argv, resume=resume_from is not None)
    set_seed(args.seed)

    r2d = args.model == "r2d"
    tokenizer = load_tokenizer(args.model, args.tokenizer)
    train_set, eval_set = build_datasets(args, tokenizer, with_flags=r2d, out=out)

    overrides: dict[str, Any] = {}
    flag_names = None
    if r2d:
        flag_names = list(tokenizer.flag_names)
        special = list(tokenizer.all_special_ids)
        n = min(len(train_set), 20000)  # subtle: a sample is enough for rates; keeps start-up short
        rates = flag_rates_from_rows((train_set.rows(i)[0] for i in range(n)),
                                     (train_set.rows(i)[1] for i in range(n)), special, flag_names)
        weights = (pos_weights(rates, flag_names, args.flag_pos_weight_max) if args.flag_pos_weight
                   else [1.0] * len(flag_names))
        (out / "flag_rates.json").write_text(json.dumps({"rates": rates, "pos_weight": dict(zip(flag_names, weights)),
                                                         "sequences_sampled": n}, indent=2) + "\n", encoding="utf-8")
        logger.info("flag rates: %s", ", ".join(f"{k} {v:.3%}" for k, v in rates.items()))
        overrides = dict(flag_names=flag_names, flag_combine=args.flag_combine, flag_values=args.flag_values,
                         flag_loss_weight=args.flag_loss_weight, flag_pos_weight=weights,
                         flag_pos_weight_max=args.flag_pos_weight_max)
    config = model_config(args.model, args.preset, vocab_size=len(tokenizer), max_length=args.max_length, **overrides)
    model = R2DForMaskedLM(config) if r2d else RobertaForMaskedLM(config)
    if r2d:
        collator = R2DDataCollatorForMLM(tokenizer, mlm_probability=args.mlm_probability,
                                         whole_word_mask=args.whole_word_mask)
    elif args.whole_word_mask:
        collator = _NoFlags(R2DDataCollatorForMLM(RobertaWordStarts(tokenizer), mlm_probability=args.mlm_probability,
                                                  whole_word_mask=True))
    else:
        collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=args.mlm_probability)
    batches = MLMBatches(collator, args.seed, tokenizer.pad_token_id, tokenizer.num_flags if r2d else 0)
    eval_examples = batches.premask(MLMDataset(eval_set))

    targs = TrainingArguments(
        output_dir=str(out),
        max_steps=args.max_steps,
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=args.batch_size,
        gradient_accumulation_steps=args.grad_accum,
        learning_rate=args.lr,
        weight_decay=args.weight_decay,
        warmup_steps=args.warmup_steps,
        lr_scheduler_type="linear",
        adam_beta1=0.9,
        adam_beta2=0.98,  # RoBERTa's
        adam_epsilon=1e-6,
        max_grad_norm=1.0,
        logging_steps=args.logging_steps,
        logging_first_step=True,
        eval_strategy="steps",
        eval_steps=args.eval_steps,
        save_strategy="steps",
        save_steps=args.save_steps,
        save_total_limit=args.save_total_limit,
        report_to=["tensorboard"],
        seed=args.seed,
        data_seed=args.seed,
        bf16=args.bf16,
        activation_checkpointing=args.gradient_checkpointing,
        disable_tqdm=True,
        dataloader_num_workers=args.num_workers,
        remove_unused_columns=False,
        use_cpu=not torch.cuda.is_available(),
        **args.extra,
    )
    callbacks = [MetricsJsonlCallback(out / METRICS_FILE), RichProgressCallback(bar=args.progress)]
    if r2d:
        callbacks.append(SaveTokenizerCallback(tokenizer))
    if args.max_minutes:
        callbacks.append(TimeLimitCallback(args.max_minutes))
    trainer = R2DTrainer(
        model=model, args=targs, data_collator=batches,
        train_dataset=MLMDataset(train_set), eval_dataset=eval_examples,
        processing_class=None if r2d else tokenizer,
        compute_metrics=make_compute_metrics(flag_names),
        preprocess_logits_for_metrics=_preprocess_logits,
        callbacks=callbacks,
        loss_parts=("mlm_loss", "flag_loss") if r2d else (),
    )
    trainer.remove_callback(PrinterCallback)
    n_params = sum(p.numel() for p in model.parameters())
    logger.info("pretraining %s (%s, %.2fM parameters) for %d steps%s", args.model, args.preset, n_params / 1e6,
                args.max_steps, f", resuming from {resume_from}" if resume_from else "")
    t0 = time.perf_counter()
    start_step = 0
    if resume_from:
        start_step = json.loads((Path(resume_from) / "trainer_state.json").read_text())["global_step"]
        batches.batches = start_step * args.grad_accum
    result = trainer.train(resume_from_checkpoint=resume_from)
    seconds = time.perf_counter() - t0
    rows = read_metrics(out / METRICS_FILE)
    if not any(r.get("step") == trainer.state.global_step and "eval_loss" in r for r in rows):
        trainer.evaluate()
        rows = read_metrics(out / METRICS_FILE)
    final_dir = out / MODEL_DIR
    trainer.save_model(str(final_dir))
    tokenizer.save_pretrained(str(final_dir))

    last_eval = next((r for r in reversed(rows) if "eval_loss" in r), {})
    steps_run = trainer.state.global_step - start_step
    rows_per_step = args.batch_size * args.grad_accum * float(np.mean(np.diff(train_set.offsets)))
    summary = {
        "model": args.model, "preset": args.preset, "steps": trainer.state.global_step,
        "train_seconds_this_invocation": round(seconds, 1), "train_loss_this_invocation": result.training_loss,
        "train_rows_per_second": round(steps_run * rows_per_step / seconds, 1) if seconds > 0 else None,
        "num_parameters": n_params, "vocab_size": len(tokenizer),
        "train_sequences": len(train_set), "eval_sequences": len(eval_set),
        "last_eval": {k: v for k, v in last_eval.items() if k.startswith("eval_")},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


# ---------------------------------------------------------------------------------------------------------
# CLI


def _attribute_docs(cls) -> dict[str, str]:
    import ast
    import inspect

    body = ast.parse(inspect.getsource(cls)).body[0].body
    return {a.target.id: b.value.value for a, b in zip(body, body[1:])
            if isinstance(a, ast.AnnAssign) and isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant)}


def build_parser() -> argparse.ArgumentParser:
    """The ``r2d pretrain`` parser, generated from :class:`PretrainArgs` (attribute docstrings = help)."""
    doc = _attribute_docs(PretrainArgs)
    p = argparse.ArgumentParser(
        prog="r2d pretrain",
        description="MLM pretraining of R2D (root ids + flags) or of the RoBERTa baseline on the same corpus and "
                    "budget; writes OUT/metrics.jsonl, TensorBoard logs, checkpoints and OUT/model.",
        epilog="example:\n  r2d pretrain --model r2d --preset small --corpus ../shared/data/wikipedia_en/"
               "enwiki_AA_wiki_00-19.txt.gz --out runs/r2d-small --max-steps 600 --pack\n"
               "  r2d pretrain --model roberta --preset small --corpus ... --out runs/roberta-small --max-steps 600 "
               "--pack\n  (after kill -9: the same command with --resume)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    choices = {"model": ["r2d", "roberta"], "preset": ["tiny", "small", "base"],
               "flag_combine": ["concat_project", "truncate_concat", "linear_sum"],
               "flag_values": ["binary", "centered"]}
    types = {"int": int, "float": float, "int | None": int, "float | None": float, "str | None": str, "str": str}
    for f in dataclasses.fields(PretrainArgs):
        if f.name == "extra":
            continue
        flag = "--" + f.name.replace("_", "-")
        h = doc.get(f.name, "").replace("%", "%%")  # subtle: argparse %-formats help strings
        if f.type in ("bool", bool):
            p.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=f.default, help=h)
        elif f.name == "corpus":
            p.add_argument(flag, dest=f.name, nargs="+", required=True, metavar="FILE", help=h)
        else:
            required = f.default is dataclasses.MISSING
            p.add_argument(flag, dest=f.name, type=types.get(str(f.type), str), required=required,
                           choices=choices.get(f.name), default=None if required else f.default,
                           help=h + ("" if required or f.default is None else f" (default: {f.default})"))
    return p


def _check(args: argparse.Namespace) -> None:
    positive = ("max_steps", "batch_size", "grad_accum", "max_length", "eval_steps", "logging_steps", "save_steps",
                "eval_size", "max_docs", "save_total_limit")
    for name in positive:
        v = getattr(args, name)
        if v is not None and v < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {v}")
    if not 0 < args.mlm_probability <= 1:
        raise UsageError(f"--mlm-probability must be in (0, 1], got {args.mlm_probability}")
    if not 0 < args.eval_fraction < 1:
        raise UsageError(f"--eval-fraction must be in (0, 1), got {args.eval_fraction}")
    if args.flag_pos_weight_max <= 0:
        raise UsageError(f"--flag-pos-weight-max must be > 0, got {args.flag_pos_weight_max}")
    if args.lr is not None and args.lr <= 0:
        raise UsageError(f"--lr must be > 0, got {args.lr}")
    if args.max_length is not None and args.preset and args.max_length < 3:
        raise UsageError(f"--max-length must be >= 3 (<s>, one row, </s>), got {args.max_length}")
    for c in args.corpus:
        if is_file_source(c) and not Path(c).is_file():
            raise UsageError(f"--corpus {c}: no such file")


def main(argv: list[str] | None = None) -> int:
    """``r2d pretrain``: parse arguments, run :func:`pretrain`, print a one-line summary."""
    args = build_parser().parse_args(argv)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # subtle: "Writing model shards" bars at every checkpoint otherwise
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        _check(args)
        summary = pretrain(PretrainArgs(**vars(args)),
                           argv=["r2d", "pretrain", *(argv if argv is not None else sys.argv[1:])])
    except UsageError as e:
        print(f"r2d pretrain: {e}", file=sys.stderr)
        return 2
    ev = summary["last_eval"]
    shown = {k: v for k, v in ev.items() if k in ("eval_loss", "eval_mlm_accuracy", "eval_macro_f1",
                                                  "eval_mlm_loss", "eval_flag_loss")}
    print(f"{summary['model']} ({summary['preset']}): {summary['steps']} steps, "
          f"{summary['train_seconds_this_invocation']:.0f} s; "
          + ", ".join(f"{k}={v:.4f}" for k, v in shown.items()) + f"; model in {Path(args.out) / MODEL_DIR}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
