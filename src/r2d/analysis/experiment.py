"""Recipe: the comparison of 2D and 1D tokenization at equal compute, in one resumable command (``r2d experiment``).

Units, each a stage that runs once:

1. ``corpus``: Wikipedia text for tokenizers and pretraining (all shards but the last), held-out documents of the
   last shard (paragraphs never trained on) and whole articles of wikitext-2-raw's test split;
2. ``tokenizers``: an R2D tokenizer and a byte-level BPE **of the same size, trained on the same text**;
3. ``pretrain/<run>/seed<k>``: the causal pair (``clm-r2d``, ``clm-bpe``: :class:`r2d.modeling.causal.R2DForCausalLM`
   with and without flags) for every causal seed, and the MLM pair (``mlm-r2d``, ``mlm-roberta``) where the preset
   has one (``mlm_steps`` > 0), through
   :func:`r2d.training.pretrain.pretrain` in-process: the same size preset, rows per step (packed, no padding),
   steps, learning rate and seeds within a pair; snapshots at log-spaced steps, step 0 being the untrained model;
4. ``eval/bpb/...`` (every snapshot of the causal runs: learning curves; the untrained and final models on every
   dataset), ``eval/blimp/...`` (untrained and final; the MLM pair too where the preset asks) and
   ``eval/flags/...`` (per-flag F1 of the R2D MLM against always on), each keeping its per-item numbers
   (documents, minimal pairs, masked rows) for the paired bootstrap;
5. ``finetune/<task>/<run>/seed<k>``: :func:`r2d.training.finetune.finetune` of the pretrained and the untrained MLM
   models (and of the causal pair on ``causal_tasks``) with early stopping on a dev set carved from the training
   data, and LoRA against full fine-tuning (every LoRA seed, on the first task of the MLM pair, or of the causal
   pair where the preset has no MLM pair);
6. with ``--scaling``, the scaling study: the causal pair again at the preset's other model sizes and shorter
   schedules (:func:`r2d.analysis.presets.scaling_points`; runs ``clm-r2d@micro``, ``clm-bpe@1250steps``...), each
   pretrained and scored like the pair, after everything above;
7. ``report``: :func:`r2d.analysis.report.build_report` -> ``OUT/report.html``, ``OUT/summary.json``,
   ``OUT/summary.md`` and ``OUT/charts`` (numbers, intervals, protocol and verdict computed from the stages).

Resumable: a finished unit leaves ``OUT/stages/<unit>.json`` (its result and the settings it depends on) and is never
rerun; a killed run started again with the same command continues (pretraining from its last checkpoint, an
unfinished fine-tuning run from its start). Resumed with other settings, a finished unit stops the run and names them
(its marker deleted, it runs again); the report is redrawn whenever a unit ran. Presets:
``smoke`` (CI, a minute), ``cpu`` (the causal pair alone, 100 minutes on 2 quiet cores) and ``gpu`` (about 10
minutes on one H100 by estimate, not run here). Its arguments are
:class:`ExperimentArgs` (the command line, :mod:`r2d.cli.experiment`, parses them); bad input raises
:class:`r2d.io.InputError` before anything is written.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from r2d.io import InputError, check_file
from r2d.analysis.presets import (  # noqa: F401  (re-exported: the recipe's public names)
    FLAG_ARMS, PAIRS, PRESETS, UNTRAINED, ExperimentArgs, ExperimentPreset, presets_table, resolve, snapshot_steps,
    scaling_points, wikipedia_shards)
from r2d.training.metrics import precision_recall_f1

if TYPE_CHECKING:
    from r2d.training.finetune import FinetuneArgs

logger = logging.getLogger(__name__)

CAUSAL, MODELS = dict(PAIRS)["clm"], dict(PAIRS)["mlm"]
"""the causal pair (R2D and its 1D twin on a byte-level BPE) and the MLM pair (R2D and the RoBERTa baseline)"""


# ---------------------------------------------------------------------------------------------------------
# stages


class Stages:
    """Marker files ``OUT/stages/<name>.json``: a stage that wrote its marker is done and is not rerun.

    Attributes:
        ran: the stages this object ran (not skipped), in order.
    """

    def __init__(self, out: Path):
        self.dir = out / "stages"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ran: list[str] = []

    def _path(self, name: str) -> Path:
        return self.dir / (name.replace("/", "__") + ".json")

    def done(self, name: str) -> dict | None:
        """The stage's recorded result, or None if it has not finished."""
        p = self._path(name)
        if not p.is_file():
            return None
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except ValueError:  # subtle: a marker cut short by a kill: the stage runs again
            return None

    def run(self, name: str, fn: Callable[[], dict], inputs: dict | None = None) -> dict:
        """Run ``fn`` unless ``name`` is done; record its result (a JSON-able dict), its duration and ``inputs``
        (the settings its result depends on, :func:`stage_inputs`).

        Raises:
            r2d.io.InputError: ``name`` is done, but with other ``inputs`` (a changed preset or other data resumed
                into the same folder): its result would be reported as this run's. Only the settings the marker
                recorded are compared: a marker written before a setting was recorded (or before any were) is taken
                as it is.
        """
        prev = self.done(name)
        if prev is not None:
            recorded, now = prev.get("inputs"), json.loads(json.dumps(inputs, default=str))
            changed = ", ".join(f"{k} {recorded[k]!r} -> {now.get(k)!r}" for k in sorted(recorded)
                                if recorded[k] != now.get(k)) if recorded is not None and now is not None else ""
            if changed:
                raise InputError(self._path(name), f"this stage was done with other settings ({changed}); delete "
                                                   "its marker to run it again with these, or give another --out")
            logger.info("stage %s: done before, skipped", name)
            return prev
        logger.info("stage %s: running", name)
        t0 = time.perf_counter()
        result = dict(fn() or {})
        result["seconds"] = round(time.perf_counter() - t0, 2)
        result["finished"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        if inputs is not None:
            result["inputs"] = inputs
        tmp = self._path(name).with_suffix(".tmp")
        tmp.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
        tmp.replace(self._path(name))  # atomic: a marker exists only for a finished stage
        self.ran.append(name)
        return result


_CORPUS_INPUTS = ("corpus_bytes", "heldout_docs", "wikitext_bytes")
_PRETRAIN_INPUTS = ("vocab_size", "model_preset", "batch_size", "max_length", "lr", "curve_points")


def stage_inputs(preset: ExperimentPreset, objective: str | None = None, **extra: Any) -> dict:
    """The settings a stage's result depends on, recorded in its marker so that a run resumed with another preset
    stops instead of mixing results: the corpus sizes; with ``objective`` (``"clm"`` or ``"mlm"``) also the
    tokenizers' and that pair's pretraining settings, its step count included; then ``extra``."""
    fields = _CORPUS_INPUTS + (_PRETRAIN_INPUTS + (f"{'causal' if objective == 'clm' else 'mlm'}_steps",)
                               if objective else ())
    return {**{f: getattr(preset, f) for f in fields}, **extra}


def data_fingerprint(paths: Sequence[Path]) -> list[list]:
    """``[name, bytes]`` of every file a run reads from ``paths`` (folders: every file below, named from the folder
    on; a missing path: ``[name, None]``), sorted: recorded in the stage markers, so that a run resumed on other data
    stops. Sizes, not hashes: a corpus of many gigabytes would be read again at every resume."""
    rows = []
    for p in map(Path, paths):
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        rows += [[f.relative_to(p.parent).as_posix(), f.stat().st_size if f.is_file() else None] for f in files]
    return sorted(rows)


def corpus_sources(data_dir: Path | None, corpus: Sequence[str] | None) -> list[Path]:
    """The files :func:`prepare_corpus` reads: the ``corpus`` files or the Wikipedia shards, and wikitext-2's test
    split."""
    files = [Path(c) for c in corpus] if corpus else wikipedia_shards(data_dir) if data_dir else []
    return files + ([data_dir / "wikitext-2-raw" / "wiki.test.raw"] if data_dir else [])


def _plain_lines(files: Sequence[Path]):
    """Paragraph lines of corpus files (``.gz`` too), WikiExtractor ``<doc>`` tag lines and blanks dropped."""
    from r2d.text.corpus import iter_corpus_lines

    for line in iter_corpus_lines(files):
        line = line.strip()
        if line:
            yield line


def _take(lines, budget: int) -> list[str]:
    out, n = [], 0
    for line in lines:
        if n >= budget:
            break
        out.append(line)
        n += len(line.encode("utf-8")) + 1
    return out


def wikitext_articles(path: Path, budget: int) -> list[str]:
    """Whole articles of a wikitext-2-raw file (cut before its `` = Title = `` lines), up to ``budget`` bytes.

    Every byte is kept (``\r\n`` line ends, blank lines): the articles joined are exactly the file's first bytes, so
    bits per byte counts and predicts the line breaks like any other text.
    """
    import re

    from r2d.text.corpus import read_exact

    text = read_exact(path)
    titles = [m.start() for m in re.finditer(r"(?m)^ = [^=\r\n].* = \r?$", text)]
    cuts = [0, *titles[1:], len(text)]  # whatever precedes the first title belongs to the first article
    articles, n = [], 0
    for a, b in zip(cuts, cuts[1:]):
        if a == b:
            continue
        if n >= budget:
            break
        articles.append(text[a:b])
        n += len(text[a:b].encode("utf-8"))
    return articles


def prepare_corpus(out: Path, data_dir: Path | None, corpus: Sequence[str] | None, preset: ExperimentPreset) -> dict:
    """Write ``OUT/corpus/train.txt``, ``heldout.txt`` (one paragraph per line) and ``wikitext.json`` (articles).

    Local data: train from the first Wikipedia shards, held-out documents from the last shard (never read for
    training or tokenizers); ``corpus`` files: the first ``heldout_docs`` paragraphs held out, the rest train.
    """
    d = out / "corpus"
    d.mkdir(parents=True, exist_ok=True)
    if corpus:
        files = [check_file(c, what="--corpus") for c in corpus]
        lines = _plain_lines(files)
        heldout = [next(lines) for _ in range(preset.heldout_docs)]
        train = _take(lines, preset.corpus_bytes)
        source = [str(f) for f in files]
    else:
        shards = wikipedia_shards(data_dir)
        if len(shards) < 2:
            raise InputError(data_dir / "wikipedia_en", "expected enwiki_*.txt.gz shards (see SOURCE.md)")
        train = _take(_plain_lines(shards[:-1]), preset.corpus_bytes)
        lines = _plain_lines(shards[-1:])
        heldout = [line for _, line in zip(range(preset.heldout_docs), (x for x in lines if len(x) > 200))]
        source = [str(s) for s in shards]
    wikitext: list[str] = []
    wt = data_dir / "wikitext-2-raw" / "wiki.test.raw" if data_dir else None
    if wt is not None and wt.is_file():
        wikitext = wikitext_articles(wt, preset.wikitext_bytes)
    (d / "train.txt").write_text("\n".join(train) + "\n", encoding="utf-8")
    (d / "heldout.txt").write_text("\n".join(heldout) + "\n", encoding="utf-8")
    (d / "wikitext.json").write_text(json.dumps(wikitext), encoding="utf-8")
    return {"source": source, "train_file": str(d / "train.txt"), "heldout_file": str(d / "heldout.txt"),
            "wikitext_file": str(d / "wikitext.json"), "train_lines": len(train),
            "train_bytes": (d / "train.txt").stat().st_size, "heldout_docs": len(heldout),
            "heldout_bytes": sum(len(x.encode("utf-8")) for x in heldout), "wikitext_articles": len(wikitext),
            "wikitext_bytes": sum(len(x.encode("utf-8")) for x in wikitext)}


def heldout_docs(corpus_info: dict) -> list[str]:
    return Path(corpus_info["heldout_file"]).read_text(encoding="utf-8").splitlines()


def eval_sets(corpus_info: dict) -> dict[str, list[str]]:
    """Bits-per-byte datasets: ``wikipedia_heldout`` and (when present) ``wikitext2``, one document each."""
    sets = {"wikipedia_heldout": heldout_docs(corpus_info)}
    wikitext = json.loads(Path(corpus_info["wikitext_file"]).read_text(encoding="utf-8"))
    if wikitext:
        sets["wikitext2"] = wikitext
    return sets


def _rows_per_1000_bytes(tok, sample: list[str]) -> float:
    """Rows (or tokens) per 1,000 UTF-8 bytes of ``sample``, specials left out."""
    nbytes = sum(len(s.encode("utf-8")) for s in sample) or 1
    return round(1000 * sum(len(x) for x in tok(sample, add_special_tokens=False)["input_ids"]) / nbytes, 2)


def prepare_tokenizers(out: Path, corpus_info: dict, preset: ExperimentPreset) -> dict:
    """An R2D tokenizer and a byte-level BPE of the same size, trained on the same text (``OUT/tokenizers``)."""
    from r2d.tokenizer.baseline import train_byte_level_bpe
    from r2d.tokenizer.hf import R2DTokenizer

    d = out / "tokenizers"
    train_file = corpus_info["train_file"]
    r2d_tok = R2DTokenizer.train([train_file], vocab_size=preset.vocab_size, model_max_length=preset.max_length)
    bpe_tok = train_byte_level_bpe(Path(train_file).read_text(encoding="utf-8").splitlines(), preset.vocab_size)
    r2d_tok.save_pretrained(d / "r2d")
    bpe_tok.save_pretrained(str(d / "bpe"))
    sample = heldout_docs(corpus_info)[:200]
    return {"r2d": str(d / "r2d"), "bpe": str(d / "bpe"), "roberta": str(d / "bpe"),
            "vocab_size": {"r2d": len(r2d_tok), "bpe": len(bpe_tok)},
            "rows_per_1000_bytes_heldout": {"r2d": _rows_per_1000_bytes(r2d_tok, sample),
                                            "bpe": _rows_per_1000_bytes(bpe_tok, sample)}}


def prepare_arm_tokenizer(out: Path, corpus_info: dict, preset: ExperimentPreset, arm: str) -> dict:
    """The R2D tokenizer of one flag set of the ablation (:data:`FLAG_ARMS`), like the pair's in all else: the same
    vocabulary size and training text; its list is the bundled one or built with the arm's affixes (saved beside)."""
    from r2d.flags import FlagSchema
    from r2d.lists.english import DEFAULT_AFFIXES
    from r2d.tokenizer.hf import R2DTokenizer

    schema = FlagSchema.parse(FLAG_ARMS[arm])
    d = out / "tokenizers" / f"r2d-{arm}"
    d.mkdir(parents=True, exist_ok=True)
    lst: str | Path = "en"
    affixes = tuple(schema.affix_flags)  # the list splits off exactly the schema's affixes
    if set(affixes) - set(DEFAULT_AFFIXES):  # more than the bundled list has
        from r2d.lists.deconstruct import write_entries
        from r2d.lists.english import build_english_list

        lst = out / "tokenizers" / f"r2d-{arm}.list.tsv"
        write_entries(lst, build_english_list(affixes=affixes),
                      header=f"the list of flag set {arm!r}: build_english_list(affixes={list(affixes)})\n")
    tok = R2DTokenizer.train([corpus_info["train_file"]], vocab_size=preset.vocab_size, deconstruction_list=lst,
                             flag_names=schema.names, model_max_length=preset.max_length)
    tok.save_pretrained(d)
    return {"path": str(d), "flags": list(tok.flag_names), "list": str(lst), "vocab_size": len(tok),
            "rows_per_1000_bytes_heldout": _rows_per_1000_bytes(tok, heldout_docs(corpus_info)[:200])}


def run_pretrain(objective: str, kind: str, out_dir: Path, tokenizer_dir: str, corpus_info: dict,
                 preset: ExperimentPreset, *, seed: int, progress: bool) -> dict:
    """Pretrain one model with :func:`r2d.training.pretrain.pretrain` (in-process; a killed run resumes).

    Every model reads ``train.txt`` packed into full ``max_length`` blocks, for the same steps and batch: the same
    rows for both models of a pair. Snapshots at :func:`snapshot_steps` (step 0 = the untrained row).
    """
    from r2d.training.pretrain import METRICS_FILE, PretrainArgs, pretrain

    steps = preset.causal_steps if objective == "clm" else preset.mlm_steps
    points = preset.curve_points if objective == "clm" else 1
    args = PretrainArgs(
        corpus=[corpus_info["train_file"]], out=str(out_dir), model=kind.split("-")[0], objective=objective,
        preset=preset.model_preset, tokenizer=tokenizer_dir, max_steps=steps, batch_size=preset.batch_size,
        max_length=preset.max_length, pack=True, lr=preset.lr, warmup_steps=max(1, steps // 10),
        eval_fraction=0.01, eval_size=64, eval_steps=max(1, steps // 2), logging_steps=max(1, steps // 20),
        save_steps=max(1, steps // 4), seed=seed, bf16=_bf16(), compile=preset.compile,
        snapshot_steps=snapshot_steps(steps, points),
        resume=(out_dir / METRICS_FILE).exists(), progress=progress)
    summary = pretrain(args, argv=["r2d", "experiment", "(pretrain stage)"])
    return {"summary": summary, "args": asdict(args)}


def _bf16() -> bool:
    from r2d.training.clm import bf16_available

    return bf16_available()


# ---------------------------------------------------------------------------------------------------------
# evaluations of one model folder (each a stage: per-item numbers for the paired bootstrap)


def eval_bpb(model_dir: str, sets: dict[str, list[str]], *, limit: int | None = None) -> dict:
    """Bits per byte of a causal model on each dataset (on a GPU where there is one), with every document's bits and
    bytes."""
    from r2d.device import place
    from r2d.evaluation.bpb import bits_per_byte
    from r2d.modeling.causal_data import RowCodec, load_causal_lm

    model, codec = load_causal_lm(model_dir)
    model = place(model)
    codec = codec if isinstance(codec, RowCodec) else RowCodec(codec)
    out = {}
    for name, docs in sets.items():
        docs = docs[:limit] if limit else docs
        r = bits_per_byte(model, codec, docs, batch_size=16, per_document=True)
        scored = iter(zip(r.document_bits or [], r.document_bytes or []))  # empty documents are not scored: 0, 0
        bits, nbytes = map(list, zip(*[next(scored) if d else (0.0, 0) for d in docs])) if docs else ([], [])
        out[name] = {"bits_per_byte": sum(bits) / max(1, sum(nbytes)), "bits": bits, "bytes": nbytes,
                     "precision": r.precision}
    return out


def eval_blimp(model_dir: str, pairs) -> dict:
    """BLiMP accuracy overall, per field and per paradigm, and every pair's right/wrong as a 0/1 string."""
    from r2d.evaluation.blimp import aggregate
    from r2d.evaluation.scoring import load_scorer

    scorer, rule = load_scorer(model_dir, batch_size=64)
    right: list[bool] = []
    for start in range(0, len(pairs), 256):
        chunk = pairs[start:start + 256]
        scores = list(scorer([p.good for p in chunk] + [p.bad for p in chunk]))
        right.extend(g > b for g, b in zip(scores[:len(chunk)], scores[len(chunk):]))
    return {**aggregate(pairs, right).to_dict(), "rule": rule, "right": "".join("1" if r else "0" for r in right)}


def eval_flags(model_dir: str, docs: list[str], *, max_length: int, seed: int = 0) -> dict:
    """Per-flag F1 of an R2D MLM on masked held-out rows: calibrated ``flag_probs`` at 0.5 against always "on"
    (F1 = 2p / (1 + p) at positive rate p), with a bootstrap interval of the difference over the masked rows."""
    import torch
    from transformers import AutoModelForMaskedLM

    import r2d.modeling.encoder  # noqa: F401  (registers model_type "r2d")
    from r2d.evaluation.bootstrap import paired_bootstrap
    from r2d.modeling.collator import R2DDataCollatorForMLM
    from r2d.modeling.mlm_batches import MLMBatches
    from r2d.tokenizer.hf import R2DTokenizer
    from r2d.training.data import SequenceDataset, tokenize_documents

    tok = R2DTokenizer.from_pretrained(model_dir)
    model = AutoModelForMaskedLM.from_pretrained(model_dir).eval()
    ts = tokenize_documents(docs, tok, max_length=max_length, pack=True, with_flags=True, num_flags=tok.num_flags)
    batches = MLMBatches(R2DDataCollatorForMLM(tok, mlm_probability=0.15), seed, tok.pad_token_id, tok.num_flags)
    examples = batches.premask(SequenceDataset(ts))
    probs, labels = [], []
    with torch.inference_mode():
        for start in range(0, len(examples), 32):
            batch = batches.pad(examples[start:start + 32])
            fl = batch.pop("flag_labels")
            batch.pop("labels", None)
            res = model(**batch)
            sel = fl[..., 0].ne(-100)  # (B, T) masked rows
            probs.append(res.flag_probs[sel].float().numpy())
            labels.append(fl[sel].numpy())
    p, y = np.concatenate(probs), np.concatenate(labels)  # (N, F) each

    def f1(yy: np.ndarray, pp: np.ndarray) -> float:
        return precision_recall_f1(yy, pp)[2]  # positive where the probability is >= 0.5

    flags = {}
    for j, name in enumerate(tok.flag_names):
        yj, pj = y[:, j].astype(bool), p[:, j]
        always = np.ones(len(yj))
        ci = paired_bootstrap(lambda idx: f1(yj[idx], pj[idx]), lambda idx: f1(yj[idx], always[idx]), len(yj),
                              n_boot=500)
        flags[name] = {"f1": f1(yj, pj), "always_on_f1": f1(yj, always), "positives": int(yj.sum()),
                       "rate": float(yj.mean()), "difference_ci": ci}
    return {"rows": int(len(y)), "flags": flags}


# ---------------------------------------------------------------------------------------------------------
# the experiment


def _run_name(objective: str, kind: str, untrained: bool = False, suffix: str = "") -> str:
    """``clm-r2d``, ``mlm-roberta-untrained``, ``clm-bpe@micro-untrained``: the model kind and objective, the scaling
    study's point (:func:`scaling_points`) and the untrained row (summary.json's RUN)."""
    return f"{objective}-{kind}" + (f"@{suffix}" if suffix else "") + (f"-{UNTRAINED}" if untrained else "")


def run_experiment(preset: ExperimentPreset, out: str | Path, *, data_dir: str | Path | None = None,
                   corpus: Sequence[str] | None = None, preset_name: str = "custom", threads: int | None = None,
                   progress: bool = True) -> tuple[Path, dict]:
    """Run (or continue) the whole experiment (module docstring); every unit is a stage, skipped once done.

    Args:
        preset: the sizes.
        out: output folder (stages, runs, report).
        data_dir: local data in the layout of ``shared/data`` (Wikipedia, wikitext-2-raw, BLiMP, tasks).
        corpus: pretraining text files instead of ``data_dir``'s Wikipedia shards.
        preset_name: recorded in the settings.
        threads: torch threads for the whole run (None: leave torch's setting).
        progress: show progress bars.

    Returns:
        (path of ``report.html``, the summary dict).
    """
    import torch

    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return _run(preset, Path(out), data_dir=data_dir, corpus=corpus, preset_name=preset_name, progress=progress)
    finally:
        torch.set_num_threads(previous)  # subtle: the setting is process-wide; callers (tests) keep theirs


def _run(preset: ExperimentPreset, out: Path, *, data_dir, corpus, preset_name: str, progress: bool):
    # subtle: import every stage's code now, so that a long run uses one version of it throughout (a module
    # first imported an hour in would be whatever the working tree holds then)
    import importlib

    for name in ("r2d.modeling.encoder", "r2d.modeling.causal", "r2d.modeling.causal_data", "r2d.modeling.collator",
                 "r2d.modeling.mlm_batches", "r2d.training.data", "r2d.training.trainer", "r2d.training.tasks",
                 "r2d.training.metrics", "r2d.training.flag_metrics", "r2d.tokenizer.rates", "r2d.tokenizer.hf",
                 "r2d.tokenizer.baseline", "r2d.evaluation.bpb", "r2d.evaluation.scoring"):
        importlib.import_module(name)
    from r2d.analysis.report import build_report
    from r2d.evaluation import bootstrap as _bootstrap  # noqa: F401
    from r2d.evaluation.blimp import read_pairs
    from r2d.training import clm as _clm  # noqa: F401
    from r2d.training.finetune import finetune
    from r2d.training.pretrain import snapshots
    from r2d.training.tasks import get_task

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data_dir = Path(data_dir) if data_dir is not None else None
    if data_dir is None and not corpus:
        raise InputError("--data-dir, --corpus", "give one: --data-dir DIR (local data) or --corpus FILE...")
    stages = Stages(out)
    t0 = time.perf_counter()

    # the data every stage rests on: in full in the corpus stage's marker (a resume on other files stops there and
    # names them), as a digest in every other stage's
    source = data_fingerprint(corpus_sources(data_dir, corpus))
    digest = hashlib.sha256(json.dumps(source).encode()).hexdigest()[:16]
    inputs = functools.partial(stage_inputs, preset, corpus=digest)
    corpus_info = stages.run("corpus", lambda: prepare_corpus(out, data_dir, corpus, preset),
                             stage_inputs(preset, source=source))
    toks = stages.run("tokenizers", lambda: prepare_tokenizers(out, corpus_info, preset),
                      inputs(vocab_size=preset.vocab_size))
    sets = eval_sets(corpus_info)
    blimp_dir = data_dir / "blimp" if data_dir else None
    pairs = read_pairs(blimp_dir, limit_per_paradigm=preset.blimp_limit) if blimp_dir and blimp_dir.is_dir() else []
    blimp_source = data_fingerprint([blimp_dir]) if pairs else []

    # the ablation's flag sets: one more R2D tokenizer each (kind r2d-<arm>, run clm-r2d-<arm>)
    arms = tuple(f"r2d-{a}" for a in preset.flag_arms)
    for arm in preset.flag_arms:
        res = stages.run(f"tokenizers/r2d-{arm}", lambda a=arm: prepare_arm_tokenizer(out, corpus_info, preset, a),
                         inputs(vocab_size=preset.vocab_size, **_arm_inputs(f"r2d-{arm}")))
        toks[f"r2d-{arm}"] = res["path"]

    def pretrain_unit(objective: str, kind: str, seed: int, p: ExperimentPreset, suffix: str = "",
                      untrained: bool = True) -> dict:
        """Pretrain one model (preset ``p``), then for a causal one bits per byte at every snapshot and BLiMP at
        step 0 (unless not ``untrained``: a shorter schedule's step 0 is its pair's) and the end."""
        run = _run_name(objective, kind, suffix=suffix)
        p_inputs = functools.partial(stage_inputs, p, corpus=digest)
        run_dir = out / "pretrain" / run / f"seed{seed}"
        stages.run(f"pretrain/{run}/seed{seed}", lambda: run_pretrain(objective, kind, run_dir, toks[kind],
                                                                      corpus_info, p, seed=seed, progress=progress),
                   p_inputs(objective, **_arm_inputs(kind)))
        snaps = snapshots(run_dir)
        unit = {"dir": run_dir, "snapshots": snaps, "final": str(run_dir / "model"), "untrained": snaps[0]["path"]}
        if objective != "clm":
            return unit
        last = snaps[-1]["step"]
        for snap in snaps[0 if untrained else 1:]:
            whole = snap["step"] in (0, last)
            stages.run(f"eval/bpb/{run}/seed{seed}/step-{snap['step']}",
                       lambda snap=snap, whole=whole: {**eval_bpb(
                           snap["path"], sets if whole else {"wikipedia_heldout": sets["wikipedia_heldout"]},
                           limit=None if whole else p.curve_docs), "snapshot": {k: v for k, v in snap.items()
                                                                               if k != "path"}},
                       p_inputs(objective, curve_docs=p.curve_docs, **_arm_inputs(kind)))
        if pairs:
            for label, path in (("untrained", snaps[0]["path"]), ("final", str(run_dir / "model")))[
                    0 if untrained else 1:]:
                stages.run(f"eval/blimp/{_run_name(objective, kind, label == 'untrained', suffix)}/seed{seed}",
                           lambda path=path: eval_blimp(path, pairs),
                           p_inputs(objective, blimp_limit=p.blimp_limit, blimp=blimp_source, **_arm_inputs(kind)))
        return unit

    # 1. causal pair: pretraining (seeds), then bits per byte at every snapshot and BLiMP at step 0 and the end
    units: list[tuple[str, str, int]] = [("clm", k, s) for s in preset.causal_seeds for k in CAUSAL + arms]
    if preset.mlm_steps:
        units += [("mlm", k, s) for s in preset.mlm_seeds for k in MODELS]
    runs: dict[tuple[str, str, int], dict] = {}
    for objective, kind, seed in units:
        runs[objective, kind, seed] = pretrain_unit(objective, kind, seed, preset)

    # 2. MLM pair: flags, BLiMP (optional), fine-tuning with untrained rows and one LoRA comparison
    if preset.mlm_steps:
        s0 = preset.mlm_seeds[0]
        for untrained in (False, True):
            r = runs["mlm", "r2d", s0]
            stages.run(f"eval/flags/{_run_name('mlm', 'r2d', untrained)}/seed{s0}", lambda r=r, u=untrained: eval_flags(
                r["untrained"] if u else r["final"], heldout_docs(corpus_info)[:preset.flag_eval_docs],
                max_length=preset.max_length), inputs("mlm", flag_eval_docs=preset.flag_eval_docs))
            if preset.blimp_mlm and pairs:
                for kind in MODELS:
                    r = runs["mlm", kind, s0]
                    stages.run(f"eval/blimp/{_run_name('mlm', kind, untrained)}/seed{s0}",
                               lambda r=r, u=untrained: eval_blimp(r["untrained"] if u else r["final"], pairs),
                               inputs("mlm", blimp_limit=preset.blimp_limit, blimp=blimp_source))

    # 3. fine-tuning: each pair's pretrained and untrained models (its first pretraining seed) on its tasks, every
    # fine-tuning seed; LoRA against full fine-tuning once (see lora_objective; first task, right after its runs)
    jobs = finetune_jobs(preset)
    task_data = {t: data_fingerprint([data_dir / get_task(t).local_dir]) if data_dir else _task_note(t, None)
                 for t in dict.fromkeys(job[0] for job in jobs)}
    seed0 = {"mlm": preset.mlm_seeds[0], "clm": preset.causal_seeds[0]}
    for task, objective, kind, untrained, s, lora in jobs:
        name = _run_name(objective, kind, untrained) + (f"-lora{lora}" if lora else "")
        run_dir = out / "finetune" / task / name / f"seed{s}"
        src = runs[objective, kind, seed0[objective]]["untrained" if untrained else "final"]

        args = finetune_args(preset, task, src, run_dir, s, data_dir=data_dir, lora=lora, progress=progress)

        def job(run_dir=run_dir, args=args) -> dict:
            import shutil

            shutil.rmtree(run_dir, ignore_errors=True)  # subtle: a killed fine-tuning run starts over
            res = finetune(args, argv=["r2d", "experiment"])
            return {k: res.get(k) for k in ("final", "steps", "best_step", "best_dev", "stopped_at",
                                            "train_seconds", "train_examples", "num_parameters",
                                            "trainable_parameters")}

        # the run's own settings, less where it reads and writes (a moved folder is the same run), the display and
        # the machine's precision (bf16 where the CPU has it)
        recipe = {f"finetune_{k}": v for k, v in asdict(args).items()
                  if k not in ("model", "out", "data_dir", "progress", "extra", "bf16", "compile")}
        stages.run(f"finetune/{task}/{name}/seed{s}", job, inputs(objective, **recipe, task_data=task_data[task]))

    # 4. the scaling study: the causal pair at other model sizes and shorter schedules (cheapest first)
    for suffix, p, seeds in scaling_points(preset):
        for seed in seeds:
            for kind in CAUSAL:
                pretrain_unit("clm", kind, seed, p, suffix, untrained=p.model_preset != preset.model_preset)

    def report() -> dict:
        settings = {
            "preset": preset_name, "sizes": asdict(preset), "data_dir": str(data_dir) if data_dir else None,
            "corpus": corpus_info, "tokenizers": toks,
            "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "versions": _versions(),
            "task_data": {t: _task_note(t, data_dir) for t in dict.fromkeys(preset.tasks + preset.causal_tasks)},
            "lora_objective": lora_objective(preset),
            "blimp_pairs": len(pairs),
        }
        page, summary = build_report(out, settings=settings)
        return {"report": str(page)}

    if stages.done("report") is not None and (stages.ran or not (out / "report.html").is_file()):
        (stages.dir / "report.json").unlink()  # a stage ran again, or the report was deleted: draw it again
    stages.run("report", report)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    logger.info("experiment finished in %.0f s (this invocation): %s", time.perf_counter() - t0, out / "report.html")
    return out / "report.html", summary


def _arm_inputs(kind: str) -> dict:
    """The flag set a unit of the ablation depends on (recorded in its marker); nothing for the pair's own models."""
    arm = FLAG_ARMS.get(kind.removeprefix("r2d-")) if kind.startswith("r2d-") else None
    return {"flag_arm": arm} if arm else {}


def finetune_jobs(preset: ExperimentPreset) -> list[tuple[str, str, str, bool, int, int]]:
    """Every fine-tuning run of a preset, in order: ``(task, objective, kind, untrained, seed, LoRA rank)``.

    Each pair's pretrained and untrained models on its tasks (the MLM pair only where it is pretrained), every
    fine-tuning seed; the LoRA runs of :func:`lora_objective` right after its first task's runs.
    """
    jobs = []
    lora_pair = lora_objective(preset)
    for objective, kinds, tasks in (("mlm", MODELS, preset.tasks if preset.mlm_steps else ()),
                                    ("clm", CAUSAL, preset.causal_tasks)):
        for i, task in enumerate(tasks):
            jobs += [(task, objective, kind, u, s, 0) for s in preset.seeds for u in (False, True) for kind in kinds]
            if objective == lora_pair and i == 0:
                jobs += [(task, objective, "r2d", False, s, preset.lora_r) for s in preset.lora_seeds]
    return jobs


def finetune_args(preset: ExperimentPreset, task: str, model: str | Path, out: str | Path, seed: int, *,
                  data_dir: str | Path | None, lora: int = 0, progress: bool = False) -> FinetuneArgs:
    """The arguments of one of the preset's fine-tuning runs (full, or LoRA of rank ``lora``) of ``model`` on
    ``task``: early stopping on the preset's dev set, bf16 where the CPU has it, nothing saved."""
    from r2d.training.finetune import FinetuneArgs

    return FinetuneArgs(
        task=task, model=str(model), out=str(out), data_dir=str(data_dir) if data_dir else None,
        seed=seed, epochs=preset.finetune_epochs, eval_steps=preset.finetune_eval_steps,
        logging_steps=max(1, preset.finetune_eval_steps // 5), batch_size=preset.finetune_batch_size,
        lr=preset.lora_lr if lora else preset.finetune_lr, max_length=preset.finetune_max_length,
        max_train_samples=preset.max_train_samples, max_eval_samples=preset.max_eval_samples,
        dev_size=preset.dev_size, patience=preset.patience, eval_on_start=False, lora_r=lora,
        save=False, progress=progress, extra={"bf16": _bf16()})


def lora_objective(preset: ExperimentPreset) -> str | None:
    """The pair whose pretrained R2D model meets LoRA on its first task: the MLM pair where it is fine-tuned, else
    the causal pair (a preset without the MLM pair keeps the one LoRA-vs-full comparison); None = no LoRA run."""
    if not preset.lora_r:
        return None
    if preset.mlm_steps and preset.tasks:
        return "mlm"
    return "clm" if preset.causal_tasks else None


def _task_note(task: str, data_dir: Path | None) -> str:
    from r2d.training.tasks import get_task

    t = get_task(task)
    return f"Hugging Face Hub {t.hub_path} {t.hub_config or ''}".strip() if data_dir is None else t.local_note


def _versions() -> dict[str, Any]:
    import platform

    import torch
    import transformers

    import r2d

    return {"r2d": r2d.__version__, "python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "threads": torch.get_num_threads()}


