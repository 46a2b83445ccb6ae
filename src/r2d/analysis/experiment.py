"""Recipe: the whole R2D-vs-RoBERTa experiment in one resumable command (``r2d experiment``).

Pipeline stage: everything, end to end, over the library:

1. ``corpus``: a plain-text pretraining sample (train + held-out validation) from ``--data-dir``'s
   Wikipedia shards (or ``--corpus`` files);
2. ``tokenizers``: an R2D tokenizer and a RoBERTa-style byte-level BPE **of the same vocabulary size trained
   on the same sample** (preset ``base`` uses the bundled 50k ``r2d-en`` and the RoBERTa baseline instead);
3. ``pretrain-r2d`` / ``pretrain-roberta``: MLM pretraining of both models with the same preset size, steps,
   batch and sequence length, through :mod:`r2d.training.pretrain` (called in-process);
4. ``finetune/<task>/<model>/seed<k>``: :func:`r2d.training.finetune.finetune` of both on every task of the
   preset, several seeds where cheap;
5. ``report``: :func:`r2d.analysis.report.build_report` -> ``OUT/report.html``, ``OUT/summary.json``, ``OUT/charts``.

Resumable: a finished stage leaves ``OUT/stages/<stage>.json`` and is never rerun; a killed run started again
with the same command continues (pretraining from its last checkpoint, an unfinished fine-tuning run from
its start). This module adds no modelling of its own; it wires the recipes together and records settings. Its
arguments are :class:`ExperimentArgs` (the command line, :mod:`r2d.cli.experiment`, parses them); bad input raises
:class:`r2d.io.InputError` before anything is written.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

from r2d.io import InputError, check_file

logger = logging.getLogger(__name__)

MODELS = ("r2d", "roberta")


@dataclass(frozen=True)
class ExperimentPreset:
    """Sizes of one experiment; every field is recorded in ``summary.json``."""

    corpus_bytes: int
    """bytes of Wikipedia text for tokenizers and pretraining (train sample)"""
    valid_bytes: int
    """bytes of held-out text (the last shard) for pretraining evaluation"""
    vocab_size: int | None
    """vocabulary size of both trained tokenizers; None = bundled r2d-en and the RoBERTa baseline (50k)"""
    model_preset: str
    """model size preset of r2d.training.trainer.PRESETS (tiny / small / base)"""
    pretrain_steps: int
    """optimizer steps of each pretraining run (same for both models)"""
    pretrain_batch_size: int
    """pretraining batch size (sequences)"""
    max_length: int
    """pretraining sequence length (rows / tokens)"""
    tasks: tuple[str, ...]
    """fine-tuning tasks"""
    seeds: tuple[int, ...]
    """fine-tuning seeds per task and model"""
    finetune_steps: int
    """optimizer steps of each fine-tuning run (-1 = finetune_epochs)"""
    finetune_epochs: float
    """epochs when finetune_steps is -1"""
    finetune_eval_steps: int
    """evaluate fine-tuning runs every N steps"""
    finetune_batch_size: int
    """fine-tuning batch size"""
    finetune_lr: float
    """fine-tuning peak learning rate"""
    finetune_max_length: int
    """fine-tuning truncation length"""
    max_train_samples: int | None
    """cap on fine-tuning training examples (None = all)"""
    max_eval_samples: int | None
    """cap on examples per evaluation split (None = all)"""
    pretrain_eval_steps: int
    """evaluate pretraining (loss, per-flag F1) every N steps"""


PRESETS: dict[str, ExperimentPreset] = {
    # CI: tiny tokenizer on a 300 kB sample, tiny models, a few steps, 2 small tasks, 1 seed
    "smoke": ExperimentPreset(
        corpus_bytes=300_000, valid_bytes=30_000, vocab_size=512, model_preset="tiny", pretrain_steps=12,
        pretrain_batch_size=8, max_length=64, tasks=("rte", "stsb"), seeds=(0,), finetune_steps=6,
        finetune_epochs=1.0, finetune_eval_steps=3, finetune_batch_size=8, finetune_lr=1e-3,
        finetune_max_length=64, max_train_samples=48, max_eval_samples=48, pretrain_eval_steps=6),
    # this CPU, under an hour even when shared: 8k vocabularies, hidden 256 x 4 layers, 300 steps of 16 x 64
    # rows, the article's four tasks, 2 seeds of 80 fine-tuning steps each
    "small": ExperimentPreset(
        corpus_bytes=12_000_000, valid_bytes=400_000, vocab_size=8192, model_preset="small",
        pretrain_steps=300, pretrain_batch_size=16, max_length=64,
        tasks=("cola", "stsb", "mnli", "yelp_polarity"), seeds=(0, 1), finetune_steps=80, finetune_epochs=1.0,
        finetune_eval_steps=20, finetune_batch_size=16, finetune_lr=1e-4, finetune_max_length=64,
        max_train_samples=None, max_eval_samples=300, pretrain_eval_steps=50),
    # the article's scale, on GPUs: 50k vocabularies, RoBERTa-base, all tasks, 3 seeds, 3 epochs
    "base": ExperimentPreset(
        corpus_bytes=10**12, valid_bytes=5_000_000, vocab_size=None, model_preset="base",
        pretrain_steps=100_000, pretrain_batch_size=32, max_length=512,
        tasks=("cola", "sst2", "mrpc", "stsb", "qnli", "rte", "mnli", "yelp_polarity", "imdb"), seeds=(0, 1, 2),
        finetune_steps=-1, finetune_epochs=3.0, finetune_eval_steps=500, finetune_batch_size=32,
        finetune_lr=2e-5, finetune_max_length=256, max_train_samples=None, max_eval_samples=None,
        pretrain_eval_steps=2000),
}


# ---------------------------------------------------------------------------------------------------------
# stages


class Stages:
    """Marker files ``OUT/stages/<name>.json``: a stage that wrote its marker is done and is not rerun."""

    def __init__(self, out: Path):
        self.dir = out / "stages"
        self.dir.mkdir(parents=True, exist_ok=True)

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

    def run(self, name: str, fn: Callable[[], dict]) -> dict:
        """Run ``fn`` unless ``name`` is done; record its result (a JSON-able dict) and its duration."""
        prev = self.done(name)
        if prev is not None:
            logger.info("stage %s: done before, skipped", name)
            return prev
        logger.info("stage %s: running", name)
        t0 = time.perf_counter()
        result = dict(fn() or {})
        result["seconds"] = round(time.perf_counter() - t0, 2)
        result["finished"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        tmp = self._path(name).with_suffix(".tmp")
        tmp.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
        tmp.replace(self._path(name))  # atomic: a marker exists only for a finished stage
        return result


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


def prepare_corpus(out: Path, data_dir: Path | None, corpus: Sequence[str] | None, preset: ExperimentPreset) -> dict:
    """Write ``OUT/corpus/train.txt`` and ``valid.txt`` (one paragraph per line).

    Local data: train from the first Wikipedia shards, validation from the last shard (``enwiki_AB_*``, as
    its SOURCE.md suggests). ``corpus`` files: the first ``valid_bytes`` held out, the rest for training.
    """
    d = out / "corpus"
    d.mkdir(parents=True, exist_ok=True)
    if corpus:
        files = [check_file(c, what="--corpus") for c in corpus]
        lines = _plain_lines(files)
        valid = _take(lines, preset.valid_bytes)
        train = _take(lines, preset.corpus_bytes)
        source = [str(f) for f in files]
    else:
        shards = _shards(data_dir)
        if len(shards) < 2:
            raise InputError(data_dir / "wikipedia_en", "expected enwiki_*.txt.gz shards (see SOURCE.md)")
        train = _take(_plain_lines(shards[:-1]), preset.corpus_bytes)
        valid = _take(_plain_lines(shards[-1:]), preset.valid_bytes)
        source = [str(s) for s in shards]
    for name, lines in (("train.txt", train), ("valid.txt", valid)):
        (d / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"source": source, "train_file": str(d / "train.txt"), "valid_file": str(d / "valid.txt"),
            "train_lines": len(train), "train_bytes": (d / "train.txt").stat().st_size,
            "valid_lines": len(valid), "valid_bytes": (d / "valid.txt").stat().st_size}


def _shards(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "wikipedia_en").glob("enwiki_*.txt.gz"))


def train_roberta_bpe(files: Sequence[str], vocab_size: int):
    """A RoBERTa-style byte-level BPE trained on ``files``: same pre-tokenizer and special layout as the
    baseline (``<s>``=0, ``<pad>``=1, ``</s>``=2, ``<unk>``=3, ..., ``<mask>`` last), ``vocab_size`` in all.

    Returns:
        a ``transformers.PreTrainedTokenizerFast``.
    """
    from tokenizers import Tokenizer, decoders, pre_tokenizers, processors, trainers
    from tokenizers.models import BPE
    from transformers import PreTrainedTokenizerFast

    from r2d.tokenizer.baseline import MASK, SPECIALS

    tok = Tokenizer(BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - 1, min_frequency=2, special_tokens=list(SPECIALS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train([str(f) for f in files], trainer)
    tok.add_special_tokens([MASK])
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), add_prefix_space=False)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>",
        unk_token="<unk>", pad_token="<pad>", mask_token=MASK, model_max_length=512)


def prepare_tokenizers(out: Path, corpus_info: dict, preset: ExperimentPreset) -> dict:
    """Save both tokenizers under ``OUT/tokenizers/{r2d,roberta}``; report their sizes and rows per 1000 bytes."""
    from r2d.tokenizer.baseline import roberta_tokenizer
    from r2d.tokenizer.hf import R2DTokenizer

    d = out / "tokenizers"
    train_file = corpus_info["train_file"]
    if preset.vocab_size is None:
        r2d_tok, rob_tok = R2DTokenizer.from_pretrained("r2d-en"), roberta_tokenizer()
    else:
        r2d_tok = R2DTokenizer.train([train_file], vocab_size=preset.vocab_size, model_max_length=preset.max_length)
        rob_tok = train_roberta_bpe([train_file], preset.vocab_size)
    r2d_tok.save_pretrained(d / "r2d")
    rob_tok.save_pretrained(str(d / "roberta"))
    sample = Path(corpus_info["valid_file"]).read_text(encoding="utf-8").splitlines()[:200]
    nbytes = sum(len(s.encode("utf-8")) for s in sample) or 1
    rows_r2d = sum(len(x) for x in r2d_tok(sample, add_special_tokens=False)["input_ids"])
    rows_rob = sum(len(x) for x in rob_tok(sample, add_special_tokens=False)["input_ids"])
    return {"r2d": str(d / "r2d"), "roberta": str(d / "roberta"),
            "vocab_size": {"r2d": len(r2d_tok), "roberta": len(rob_tok)},
            "rows_per_1000_bytes_valid": {"r2d": round(1000 * rows_r2d / nbytes, 2),
                                          "roberta": round(1000 * rows_rob / nbytes, 2)}}


def run_pretrain(kind: str, out_dir: Path, tokenizer_dir: str, corpus_info: dict, preset: ExperimentPreset,
                 *, seed: int, progress: bool) -> dict:
    """Pretrain one model with :func:`r2d.training.pretrain.pretrain` (in-process); a killed run resumes.

    Both models read ``[train.txt, valid.txt]`` with ``eval_fraction`` set so that exactly the held-out
    ``valid.txt`` paragraphs (one document per line) are the evaluation documents.
    """
    from r2d.training.pretrain import METRICS_FILE, PretrainArgs, pretrain

    n_train, n_valid = corpus_info["train_lines"], corpus_info["valid_lines"]
    args = PretrainArgs(
        corpus=[corpus_info["train_file"], corpus_info["valid_file"]], out=str(out_dir), model=kind,
        preset=preset.model_preset, tokenizer=tokenizer_dir, max_steps=preset.pretrain_steps,
        batch_size=preset.pretrain_batch_size, max_length=preset.max_length, eval_fraction=n_valid / (n_train + n_valid),
        eval_steps=preset.pretrain_eval_steps, save_steps=max(preset.pretrain_eval_steps, preset.pretrain_steps // 4),
        seed=seed, resume=(out_dir / METRICS_FILE).exists(), progress=progress)
    summary = pretrain(args, argv=["r2d", "experiment", "(pretrain stage)"])
    return {"summary": summary, "args": dataclasses.asdict(args)}


def _checkpoint_dir(pretrain_out: Path) -> Path:
    """The final model folder of a pretraining run (``final/`` if present, else the run folder)."""
    for cand in (pretrain_out / "final", pretrain_out / "model", pretrain_out):
        if (cand / "config.json").is_file():
            return cand
    raise FileNotFoundError(f"{pretrain_out}: no config.json of a finished pretraining run")


# ---------------------------------------------------------------------------------------------------------
# the experiment


def run_experiment(preset: ExperimentPreset, out: str | Path, *, data_dir: str | Path | None = None,
                   corpus: Sequence[str] | None = None, preset_name: str = "custom", seed: int = 0,
                   progress: bool = True) -> tuple[Path, dict]:
    """Run (or continue) the whole experiment.

    Args:
        preset: the sizes.
        out: output folder (stages, runs, report).
        data_dir: local data in the layout of ``shared/data``; None = Hub (tasks) and ``corpus`` files.
        corpus: pretraining text files instead of ``data_dir``'s Wikipedia shards.
        preset_name: recorded in the settings.
        seed: pretraining seed (fine-tuning uses ``preset.seeds``).
        progress: show progress bars.

    Returns:
        (path of ``report.html``, the summary dict).
    """
    from r2d.analysis.plots import read_jsonl
    from r2d.training.finetune import FinetuneArgs, finetune
    from r2d.analysis.report import build_report

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data_dir = Path(data_dir) if data_dir is not None else None
    if data_dir is None and not corpus:
        raise InputError("r2d experiment", "give --data-dir DIR (local data) or --corpus FILE... (pretraining text)")
    stages = Stages(out)
    t0 = time.perf_counter()

    corpus_info = stages.run("corpus", lambda: prepare_corpus(out, data_dir, corpus, preset))
    toks = stages.run("tokenizers", lambda: prepare_tokenizers(out, corpus_info, preset))
    pre_out = {m: out / "pretrain" / m for m in MODELS}
    pre_info = {}
    for m in MODELS:
        pre_info[m] = stages.run(f"pretrain-{m}", lambda m=m: run_pretrain(
            m, pre_out[m], toks[m], corpus_info, preset, seed=seed, progress=progress))
    ckpt = {m: _checkpoint_dir(pre_out[m]) for m in MODELS}

    ft_out = out / "finetune"
    for task in preset.tasks:
        for s in preset.seeds:
            for m in MODELS:
                run_dir = ft_out / task / m / f"seed{s}"

                def job(task=task, s=s, m=m, run_dir=run_dir) -> dict:
                    res = finetune(FinetuneArgs(
                        task=task, model=str(ckpt[m]), out=str(run_dir),
                        data_dir=str(data_dir) if data_dir else None, seed=s, max_steps=preset.finetune_steps,
                        epochs=preset.finetune_epochs, eval_steps=preset.finetune_eval_steps,
                        logging_steps=max(1, preset.finetune_eval_steps // 5), batch_size=preset.finetune_batch_size,
                        lr=preset.finetune_lr, max_length=preset.finetune_max_length,
                        max_train_samples=preset.max_train_samples, max_eval_samples=preset.max_eval_samples,
                        save=False, progress=progress), argv=["r2d", "experiment"])
                    return {k: res[k] for k in ("final", "steps", "train_seconds", "train_examples", "num_parameters")}

                stages.run(f"finetune/{task}/{m}/seed{s}", job)

    def report() -> dict:
        pretrain_rows = {m: read_jsonl(pre_out[m] / "metrics.jsonl") for m in MODELS}
        finetune_rows = {t: {m: {s: read_jsonl(ft_out / t / m / f"seed{s}" / "metrics.jsonl") for s in preset.seeds}
                             for m in MODELS} for t in preset.tasks}
        settings = {
            "preset": preset_name, "sizes": asdict(preset), "data_dir": str(data_dir) if data_dir else None,
            "corpus": corpus_info, "tokenizers": toks,
            "pretrain": {m: pre_info[m] for m in MODELS},
            "pretrain_seed": seed, "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "versions": _versions(),
            "task_data": {t: _task_note(t, data_dir) for t in preset.tasks},
            "fairness": "both models: same preset size, pretraining steps, batch size, sequence length and "
                        "corpus sample; tokenizers of the same vocabulary size trained on the same sample",
        }
        flag_names = _flag_names(toks["r2d"])
        page, summary = build_report(pretrain_rows, finetune_rows, out, settings=settings, flag_names=flag_names)
        return {"report": str(page), "results": len(summary["results"])}

    if stages.done("report") is not None and not (out / "report.html").is_file():
        (stages.dir / "report.json").unlink()  # the report was deleted: draw it again
    stages.run("report", report)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    logger.info("experiment finished in %.0f s (this invocation): %s", time.perf_counter() - t0, out / "report.html")
    return out / "report.html", summary


def _flag_names(tokenizer_dir: str) -> list[str] | None:
    try:
        return list(json.loads((Path(tokenizer_dir) / "r2d_tokenizer.json").read_text(encoding="utf-8"))["flag_names"])
    except (OSError, ValueError, KeyError):
        return None


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


# ---------------------------------------------------------------------------------------------------------
# arguments


@dataclass
class ExperimentArgs:
    """Arguments of ``r2d experiment`` (each attribute docstring is its ``--help`` text)."""

    preset: Literal["smoke", "small", "base"]
    """experiment size (see the presets below)"""
    out: str
    """output folder (resumable: the same command continues a killed run)"""
    data_dir: str | None = None
    """local data in the layout of shared/data (default: the Hub for tasks, --corpus for text)"""
    corpus: list[str] | None = dataclasses.field(default=None, metadata={"metavar": "FILE"})
    """pretraining text files instead of --data-dir's Wikipedia shards"""
    tasks: list[str] | None = dataclasses.field(default=None, metadata={"metavar": "TASK"})
    """override the preset's fine-tuning tasks"""
    seeds: list[int] | None = dataclasses.field(default=None, metadata={"metavar": "SEED"})
    """override the preset's fine-tuning seeds"""
    pretrain_steps: int | None = None
    """override the preset's pretraining steps"""
    finetune_steps: int | None = None
    """override the preset's fine-tuning steps"""
    seed: int = 0
    """pretraining seed"""
    progress: bool = True
    """show progress bars"""


def resolve(args: ExperimentArgs) -> ExperimentPreset:
    """The preset with the overrides of ``args`` applied, after checking every input.

    Raises:
        r2d.io.InputError: an unknown preset or task, a step count below 1, a missing folder or corpus file,
            no Wikipedia shards in ``--data-dir``, or neither ``--data-dir`` nor ``--corpus``.
    """
    from r2d.training.tasks import TASKS

    if args.preset not in PRESETS:
        raise InputError(f"--preset {args.preset}", f"unknown; choose one of {', '.join(PRESETS)}")
    preset = PRESETS[args.preset]
    if args.tasks:
        bad = [t for t in args.tasks if t not in TASKS]
        if bad:
            raise InputError("--tasks", f"unknown task(s) {', '.join(bad)}; known: {', '.join(TASKS)}")
        preset = replace(preset, tasks=tuple(args.tasks))
    if args.seeds:
        preset = replace(preset, seeds=tuple(args.seeds))
    for name in ("pretrain_steps", "finetune_steps"):
        v = getattr(args, name)
        if v is not None:
            if v < 1:
                raise InputError(f"--{name.replace('_', '-')} {v}", "must be >= 1")
            preset = replace(preset, **{name: v})
    if args.data_dir is None and not args.corpus:
        raise InputError("r2d experiment", "give --data-dir DIR (local data) or --corpus FILE... (and tasks from "
                                           "the Hub)")
    if args.data_dir is not None and not Path(args.data_dir).is_dir():
        raise InputError(f"--data-dir {args.data_dir}", "not a folder")
    for f in args.corpus or ():
        check_file(f, what="--corpus")
    if not args.corpus and len(_shards(Path(args.data_dir))) < 2:
        raise InputError(f"--data-dir {args.data_dir}", f"expected enwiki_*.txt.gz shards in "
                                                        f"{Path(args.data_dir) / 'wikipedia_en'} (see its SOURCE.md)")
    return preset


def presets_table() -> str:
    """One line per preset: model size, vocabulary, steps, tasks, seeds."""
    return "\n".join(f"  {n:<6} {p.model_preset} models, vocab {p.vocab_size or '50k (bundled)'}, {p.pretrain_steps} "
                     f"pretraining steps, tasks {', '.join(p.tasks)}, seeds {list(p.seeds)}"
                     for n, p in PRESETS.items())
