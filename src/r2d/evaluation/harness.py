"""r2d's causal models in EleutherAI's lm-evaluation-harness: the model class ``r2d`` (:class:`R2DLM`) and tasks that
read local files (:func:`write_tasks`). Needs the ``eval`` extra; ``import r2d`` never imports this module.

>>> # import lm_eval; from r2d.evaluation.harness import R2DLM, task_manager
>>> # lm_eval.simple_evaluate(model=R2DLM("runs/clm-r2d/model"), tasks=["blimp", "wikitext"],
>>> #     task_manager=task_manager("tasks/", blimp_dir="../shared/data/blimp", wikitext="wiki.test.raw"))
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lm_eval.models  # noqa: F401  (lm-eval's own names first: get_model imports them only into an empty registry)
import numpy as np
import torch
from lm_eval.api.instance import Instance
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model
from lm_eval.api.task import ConfigurableTask

from r2d.device import autocast, model_device, place, resolve_precision
from r2d.evaluation.bpb import score_windows, windows
from r2d.io import read_text
from r2d.modeling.causal import IGNORE
from r2d.modeling.causal_data import CausalCollator, RowCodec, load_causal_lm

logger = logging.getLogger(__name__)

WIKITEXT_FUNCTIONS = "lm_eval.tasks.wikitext.preprocess_wikitext"
"""lm-eval's own detokenizer and metrics of its ``wikitext`` task: the local task reuses them as they are."""


def _positive_int(name: str, value: Any) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a whole number, got {value!r}") from None
    if n < 1:
        raise ValueError(f"{name} must be >= 1, got {n}")
    return n


@register_model("r2d")
class R2DLM(LM):
    """lm-eval's view of an :class:`~r2d.modeling.causal.R2DForCausalLM` (R2D or the twin), scored with the code of
    ``r2d eval bpb``: every predicted root and free flag counts, fixed flags cost nothing. Sequences longer than
    ``max_length`` rows are scored in windows advancing by ``stride`` rows, each row once.

    Args:
        pretrained: a causal model folder (``OUT/model`` of ``r2d pretrain --objective clm``) or Hub name, or a
            loaded model (then ``tokenizer`` or the folder it was loaded from gives the tokenizer).
        tokenizer: the model's tokenizer (or :class:`~r2d.modeling.causal_data.RowCodec`), for a loaded model.
        batch_size: sequences (windows) per forward pass, or prompts per ``generate`` call; ``"auto"`` = 8.
        device: ``"auto"`` (a GPU when there is one, :func:`r2d.device.resolve_device`), ``"cpu"``, ``"cuda:1"``, ...
        precision: ``"auto"`` (bf16 autocast on a CUDA GPU), ``"bf16"`` or ``"fp32"``: as ``r2d eval bpb``.
        dtype: the weights' dtype, ``"float32"``, ``"bfloat16"``, ``"float16"`` or ``"auto"`` (as saved, the default).
        max_length: rows per window (default and most: the model's ``max_position_embeddings``).
        stride: rows a window advances (default ``max_length // 2``).
        revision, cache_dir, token, local_files_only: for a Hub name, as in ``from_pretrained``.
        max_batch_size: accepted for lm-eval's command line; unused.

    Arguments from lm-eval's ``model_args`` string arrive as text and are converted.
    """

    def __init__(self, pretrained: Any = None, *, tokenizer=None, batch_size: int | str = 8,
                 device: str | None = "auto", precision: str = "auto", dtype: str | torch.dtype | None = None,
                 max_length: int | str | None = None, stride: int | str | None = None, revision: str | None = None,
                 cache_dir: str | None = None, token: str | None = None, local_files_only: bool | str = False,
                 max_batch_size: Any = None):
        super().__init__()
        if pretrained is None or pretrained == "":
            raise ValueError("R2DLM needs pretrained= a causal model folder (e.g. model_args='pretrained=DIR')")
        if isinstance(pretrained, (str, os.PathLike)):
            model, codec = load_causal_lm(pretrained, dtype=_dtype(dtype), revision=revision, cache_dir=cache_dir,
                                          token=token, local_files_only=str(local_files_only).lower() == "true")
            if tokenizer is not None:
                codec = tokenizer if isinstance(tokenizer, RowCodec) else RowCodec(tokenizer)
        else:
            from r2d.modeling.generation import model_codec

            model = pretrained.eval()
            codec = model_codec(model, tokenizer)
            if (dt := _dtype(dtype)) is not None:
                model = model.to(dt)
        if (codec.vocab_size, codec.num_flags) != (model.config.vocab_size, model.config.num_flags):
            raise ValueError(f"the tokenizer ({codec.vocab_size} ids, {codec.num_flags} flags) does not fit the model "
                             f"({model.config.vocab_size} ids, {model.config.num_flags} flags)")
        self.model = place(model, device or "auto")
        self._device = model_device(self.model)
        resolve_precision(self._device, precision)  # an unknown precision raises here, not at the first batch
        self.precision = precision
        self.codec = codec
        self.tokenizer = codec.tokenizer  # lm-eval logs its special tokens
        if isinstance(batch_size, str) and batch_size.startswith("auto"):
            logger.info("batch_size %s: r2d does not search for a batch size; using 8", batch_size)
            batch_size = 8
        self.batch_size = _positive_int("batch_size", batch_size)
        limit = model.config.max_position_embeddings
        self.max_length = limit if max_length is None else _positive_int("max_length", max_length)
        if not 2 <= self.max_length <= limit:
            raise ValueError(f"max_length must be in [2, {limit}] rows (the model reads at most "
                             f"max_position_embeddings {limit}), got {self.max_length}")
        self.stride = max(1, self.max_length // 2) if stride is None else _positive_int("stride", stride)
        if self.stride >= self.max_length:
            raise ValueError(f"stride must be smaller than max_length ({self.max_length}), got {self.stride}")
        self._collate = CausalCollator.for_codec(codec)
        special = torch.zeros(codec.vocab_size, dtype=torch.bool)
        special[codec.special_ids] = True
        special[codec.eos_token_id] = False
        self._banned = special.to(self._device)  # (V,) never drawn by generation: not "greedy" either

    # ------------------------------------------------------------------------------------------ lm-eval's API

    def loglikelihood(self, requests: list[Instance], disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        """``(log p(continuation | context), is_greedy)`` per request; ``is_greedy``: every root is the arg-max
        (special ids other than ``</s>`` excluded) and every free flag its own greedy choice (logit > 0)."""
        pairs = []
        for context, continuation in (r.args[:2] for r in requests):
            n_spaces = len(context) - len(context.rstrip())
            if n_spaces:  # lm-eval's rule: the context's trailing spaces belong to the continuation
                context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
            pairs.append((context, continuation))
        return [(-nll, greedy) for nll, greedy in self._score(self._pair_rows(pairs))]

    def loglikelihood_rolling(self, requests: list[Instance], disable_tqdm: bool = False) -> list[float]:
        """``log p(<s> text </s>)`` per request: the whole document, its end included (bits per byte's numerator)."""
        rows = self.codec.encode([r.args[0] for r in requests])
        return [-nll for nll, _ in self._score([(ids, flags, 1) for ids, flags in rows])]

    def generate_until(self, requests: list[Instance], disable_tqdm: bool = False) -> list[str]:
        """Greedy (or sampled, with ``do_sample``) continuations, cut at the first ``until`` string."""
        out: list[str | None] = [None] * len(requests)
        groups: dict[str, list[int]] = defaultdict(list)  # one generate call per set of settings
        for i, r in enumerate(requests):
            groups[json.dumps(r.args[1], sort_keys=True, default=str)].append(i)
        for members in groups.values():
            kwargs = dict(requests[members[0]].args[1] or {})
            until = kwargs.pop("until", None) or []
            until = [until] if isinstance(until, str) else list(until)
            max_new = _positive_int("max_gen_toks", kwargs.pop("max_gen_toks", 256))
            if float(kwargs.get("temperature", 1.0)) == 0.0:  # lm-eval's way of saying greedy
                kwargs.pop("temperature")
                kwargs.setdefault("do_sample", False)
            if not kwargs.get("do_sample"):
                kwargs = {k: v for k, v in kwargs.items() if k not in ("temperature", "top_k", "top_p")}
            members = sorted(members, key=lambda i: -len(requests[i].args[0]))
            for start in range(0, len(members), self.batch_size):
                chunk = members[start:start + self.batch_size]
                texts = self._generate([requests[i].args[0] for i in chunk], max_new, kwargs)
                for i, text in zip(chunk, texts):
                    for stop in until:
                        if stop:
                            text = text.split(stop)[0]
                    out[i] = text
        return out  # type: ignore[return-value]

    def get_model_info(self) -> dict:
        cfg = self.model.config
        return {"model_num_parameters": sum(p.numel() for p in self.model.parameters()),
                "model_dtype": str(next(self.model.parameters()).dtype), "r2d_kind": "r2d" if cfg.num_flags else "bpe",
                "r2d_flags": list(self.codec.flag_names), "max_length": self.max_length, "stride": self.stride,
                "device": str(self._device), "precision": resolve_precision(self._device, self.precision)}

    # ------------------------------------------------------------------------------------------ rows

    def _pair_rows(self, pairs: Sequence[tuple[str, str]]) -> list[tuple[list[int], np.ndarray, int]]:
        """``(ids, flags, first continuation row)`` of ``<s> context continuation`` per pair.

        The text is encoded whole and cut where the context's rows end, so a continuation's leading space sets its
        first word's NoSpace flag; where the cut falls inside a word (``"dog"`` + ``"s"`` is one row), the
        continuation is encoded on its own, as a new word.
        """
        codec, zero = self.codec, np.zeros((1, self.codec.num_flags), dtype=np.int8)
        contexts = codec.encode([c for c, _ in pairs], add_special_tokens=False)
        wholes = codec.encode([c + x for c, x in pairs], add_special_tokens=False)
        alone = codec.encode([x for _, x in pairs], add_special_tokens=False)
        out = []
        for (context, _), (c_ids, c_fl), (w_ids, w_fl), (x_ids, x_fl) in zip(pairs, contexts, wholes, alone):
            n = len(c_ids)
            if context and w_ids[:n] == c_ids and np.array_equal(w_fl[:n], c_fl):
                x_ids, x_fl = w_ids[n:], w_fl[n:]
            elif context:
                logger.debug("context %r ends inside a word: the continuation is encoded alone", context[-20:])
            out.append(([codec.bos_token_id, *c_ids, *x_ids], np.concatenate([zero, c_fl, x_fl]), n + 1))
        return out

    def _plan(self, n: int, skip: int) -> list[tuple[int, int, int]]:
        """Windows ``(start, end, first scored)`` that score rows ``[skip, n)`` each once, with the most context a
        window holds; ``skip=1`` is exactly bits per byte's rule (:func:`r2d.evaluation.bpb.windows`)."""
        w = self.max_length
        if n - skip <= w - 1:  # one window: the continuation and as much context before it as fits
            start = max(0, n - w)
            return [(start, n, skip)]
        offset = max(0, skip - (w - self.stride))  # a long continuation: its first row keeps w - stride of context
        return [(offset + a, offset + b, offset + max(f, skip - offset))
                for a, b, f in windows(n - offset, w, self.stride)]

    @torch.inference_mode()
    def _score(self, jobs: Sequence[tuple[list[int], np.ndarray, int]]) -> list[tuple[float, bool]]:
        """Negative log-likelihood (nats) of rows ``[skip, n)`` of each ``(ids, flags, skip)``, and whether each of
        those rows is the greedy choice."""
        parts = [{"input_ids": ids[a:b], "flags": flags[a:b], "skip": f - a, "job": j}
                 for j, (ids, flags, skip) in enumerate(jobs) if skip < len(ids)
                 for a, b, f in self._plan(len(ids), skip)]
        parts.sort(key=lambda p: -len(p["input_ids"]))  # similar lengths together: little padding
        nats, rights = [], []  # per batch, (B,) on the device: read once at the end
        for start in range(0, len(parts), self.batch_size):
            chunk = parts[start:start + self.batch_size]
            batch, out, root, flag = score_windows(self.model, self._collate, chunk, precision=self.precision)
            labels = batch["labels"][:, 1:]  # (B, T-1) the row each output position predicts
            best = out.logits[:, :-1].float().masked_fill(self._banned, float("-inf")).argmax(-1)  # (B, T-1)
            right = (best.eq(labels) | labels.eq(IGNORE)).all(-1)  # (B,)
            if out.flag_logits is not None and "flag_labels" in batch:
                target = batch["flag_labels"][:, 1:]  # (B, T-1, F)
                right &= ((out.flag_logits > 0).long().eq(target) | target.eq(IGNORE)).flatten(1).all(-1)
            nats.append(torch.stack([root.sum(-1), flag.sum(-1)], -1))  # (B, 2) float32, as bits per byte sums
            rights.append(right)
        nll = [0.0] * len(jobs)
        greedy = [True] * len(jobs)
        if parts:
            owners = [p["job"] for p in parts]
            totals = torch.cat(nats).cpu().double().sum(-1).tolist()  # subtle: float64 on the host (MPS has none)
            for j, t, r in zip(owners, totals, torch.cat(rights).cpu().tolist()):
                nll[j] += t
                greedy[j] &= bool(r)
        return list(zip(nll, greedy))

    def _generate(self, prompts: list[str], max_new: int, kwargs: dict) -> list[str]:
        """Continuations of ``prompts`` (one batch) by ``model.generate``: the text the new rows add."""
        from r2d.modeling.generation import _continuation_text, encode_prompts

        codec = self.codec
        enc = encode_prompts(codec, prompts)  # <s> rows, left-padded
        keep = max(1, self.max_length - max_new)  # like lm-eval's HF model: the prompt's last rows that fit
        enc = {k: v[:, -keep:].to(self._device) for k, v in enc.items()}
        t = enc["input_ids"].size(1)
        with autocast(self._device, self.precision):  # model.generate runs under its caller's autocast
            if codec.num_flags:
                res = self.model.generate(**enc, max_new_tokens=max_new, tokenizer=codec, **kwargs)
                seqs, flags = res.sequences.tolist(), res.flags.tolist()
            else:
                seqs = self.model.generate(**enc, max_new_tokens=max_new, pad_token_id=codec.pad_token_id,
                                           eos_token_id=codec.eos_token_id, **kwargs).tolist()
                flags = [[[] for _ in s] for s in seqs]
        mask = enc["attention_mask"].tolist()
        texts = []
        for ids, fl, m in zip(seqs, flags, mask):
            prompt = [(i, f) for i, f, on in zip(ids[:t], fl[:t], m) if on and i not in codec.special_ids]
            new = ids[t:]
            n = new.index(codec.eos_token_id) if codec.eos_token_id in new else len(new)
            p_ids, p_fl = [i for i, _ in prompt], [f for _, f in prompt]
            printed = codec.decode(p_ids, p_fl if codec.num_flags else None)
            texts.append(_continuation_text(codec, p_ids, p_fl, printed, new[:n], fl[t:t + n]))
        return texts


def _dtype(value) -> torch.dtype | None:
    if value is None or isinstance(value, torch.dtype):
        return value
    if value == "auto":
        return None
    table = {"float32": torch.float32, "float": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16,
             "half": torch.float16}
    if value not in table:
        raise ValueError(f"dtype must be one of auto, {', '.join(table)}; got {value!r}")
    return table[value]


# ---------------------------------------------------------------------------------------------- tasks


class BlimpPairs(ConfigurableTask):
    """A BLiMP paradigm scored by ``r2d eval blimp``'s rule: each sentence as a whole document (two rolling
    requests per pair, ``<s> sentence </s>``); ``acc`` = the good sentence strictly more probable."""

    def __init__(self, config: dict | None = None, **kwargs):
        super().__init__(config={k: v for k, v in (config or {}).items() if k != "class"}, **kwargs)

    def construct_requests(self, doc: dict, ctx, **kwargs) -> list[Instance]:
        kwargs.pop("apply_chat_template", None)
        kwargs.pop("chat_template", None)
        return [Instance(request_type="loglikelihood_rolling", doc=doc, arguments=(sentence,), idx=i, **kwargs)
                for i, sentence in enumerate(self.doc_to_choice(doc))]

    def process_results(self, doc: dict, results) -> dict:
        good, bad = results
        return {"acc": float(good > bad)}  # a tie counts as wrong, as in r2d eval blimp


def wikitext_pages(text: str) -> list[str]:
    """wikitext's raw text cut into articles, as the document-level dataset lm-eval reads
    (``EleutherAI/wikitext_document_level``): a new article at each top-level `` = Title = `` line, lines joined by
    ``\\n`` (the line break before a title is dropped), blank articles left out.

    >>> wikitext_pages(" = A = \\n a . \\n = = B = = \\n b . \\n = C = \\n c . \\n")
    [' = A = \\n a . \\n = = B = = \\n b . ', ' = C = \\n c . \\n']
    """
    pages, lines = [], []
    for line in text.split("\n"):
        heading = line.replace("= = =", "===").replace("= =", "==").strip()
        if heading.startswith("= ") and heading.endswith(" ="):
            if (page := "\n".join(lines)).strip():
                pages.append(page)
            lines = []
        lines.append(line)
    if (page := "\n".join(lines)).strip():
        pages.append(page)
    return pages


def _yaml(config: dict[str, Any], functions: dict[str, str]) -> str:
    """A task configuration as YAML: values in JSON (a subset of YAML), ``functions`` as ``!function`` tags."""
    lines = [f"{key}: {json.dumps(value, ensure_ascii=False)}" for key, value in config.items()]
    lines += [f"{key}: !function {target}" for key, target in functions.items()]
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8", newline="\n")


def write_tasks(folder: str | os.PathLike, *, blimp_dir: str | os.PathLike | None = None,
                wikitext: str | os.PathLike | None = None) -> list[str]:
    """Write lm-eval task configurations that read local files into ``folder`` (an ``include_path``); return the
    names of the tasks and groups written.

    Args:
        folder: where the YAML files and the data they read go (created if missing).
        blimp_dir: a folder of BLiMP ``*.jsonl`` files as published: one task ``blimp_<file stem>`` per file
            (``acc``), and the group ``blimp`` over all of them (``acc``: mean over all pairs). Each sentence is
            scored as a whole document, ``<s> sentence </s>``, as ``r2d eval blimp`` does (lm-eval's own
            ``blimp_*`` tasks score ``" sentence"`` without its end).
        wikitext: wikitext-2's raw test file (``wiki.test.raw``): the task ``wikitext``, lm-eval's own
            (its detokenizer and its ``word_perplexity``, ``byte_perplexity``, ``bits_per_byte``), on the file's
            articles (:func:`wikitext_pages`).

    Raises:
        r2d.io.InputError: a BLiMP folder or file that cannot be read (naming file, line and field), or a
            wikitext file that is missing, not UTF-8 text or holds no article.
    """
    from r2d.evaluation.blimp import read_pairs

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    cache = str((out / ".datasets").resolve())  # datasets' arrow cache stays beside the configurations
    names: list[str] = []
    if blimp_dir is not None:
        by_file: dict[str, list] = defaultdict(list)
        for pair in read_pairs(blimp_dir):  # the checks of r2d eval blimp: one reader for both
            by_file[pair.file].append(pair)
        paradigms = []
        for file, pairs in by_file.items():
            name = f"blimp_{Path(file).stem}"
            data = (out / f"{name}.jsonl").resolve()
            _write(data, "".join(json.dumps({"sentence_good": p.good, "sentence_bad": p.bad, "field": p.field,
                                             "UID": p.uid}, ensure_ascii=False) + "\n" for p in pairs))
            _write(out / f"{name}.yaml", _yaml({
                "task": name, "dataset_path": "json",
                "dataset_kwargs": {"data_files": {"test": str(data)}, "cache_dir": cache},
                "test_split": "test", "output_type": "loglikelihood_rolling", "num_fewshot": 0,
                "doc_to_text": "", "doc_to_target": 0, "doc_to_choice": "{{[sentence_good, sentence_bad]}}",
                "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
                "metadata": {"version": 1.0, "source": str(Path(blimp_dir) / file),
                             "rule": "full-sentence log-probability of <s> sentence </s> (r2d eval blimp)"},
            }, {"class": f"{__name__}.BlimpPairs"}))
            paradigms.append(name)
        _write(out / "blimp_group.yaml", _yaml({
            "group": "blimp", "task": paradigms,
            "aggregate_metric_list": [{"metric": "acc", "aggregation": "mean", "weight_by_size": True}],
            "metadata": {"version": 1.0},
        }, {}))
        names += [*paradigms, "blimp"]
    if wikitext is not None:
        pages = wikitext_pages(read_text(wikitext, what="--wikitext"))
        data = (out / "wikitext.jsonl").resolve()
        _write(data, "".join(json.dumps({"page": p}, ensure_ascii=False) + "\n" for p in pages))
        _write(out / "wikitext.yaml", _yaml({
            "task": "wikitext", "dataset_path": "json",
            "dataset_kwargs": {"data_files": {"test": str(data)}, "cache_dir": cache},
            "test_split": "test", "output_type": "loglikelihood_rolling", "doc_to_text": "",
            "should_decontaminate": True, "doc_to_decontamination_query": "{{page}}",
            "metric_list": [{"metric": metric, "aggregation": aggregation, "higher_is_better": False}
                            for metric, aggregation in (("word_perplexity", "weighted_perplexity"),
                                                        ("byte_perplexity", "weighted_perplexity"),
                                                        ("bits_per_byte", "bits_per_byte"))],
            "metadata": {"version": 2.0, "source": str(wikitext), "articles": len(pages)},
        }, {"doc_to_target": f"{WIKITEXT_FUNCTIONS}.wikitext_detokenizer",
            "process_results": f"{WIKITEXT_FUNCTIONS}.process_results"}))
        names.append("wikitext")
    return names


def task_manager(folder: str | os.PathLike, *, blimp_dir: str | os.PathLike | None = None,
                 wikitext: str | os.PathLike | None = None, include_defaults: bool = False):
    """:func:`write_tasks` into ``folder``, then a ``lm_eval.tasks.TaskManager`` over it (with lm-eval's own tasks
    too when ``include_defaults``; the local ``blimp*`` and ``wikitext`` then take the place of lm-eval's)."""
    from lm_eval.tasks import TaskManager

    write_tasks(folder, blimp_dir=blimp_dir, wikitext=wikitext)
    return TaskManager(include_path=str(folder), include_defaults=include_defaults)


__all__ = ["R2DLM", "BlimpPairs", "task_manager", "wikitext_pages", "write_tasks"]
