"""The comparison's presets (``smoke``, ``cpu``, ``gpu``: every size, step count, seed and task of a run) and the
arguments of ``r2d experiment``, which :func:`resolve` checks and turns into a preset.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np

from r2d.analysis.protocol import PAIRS, UNTRAINED  # noqa: F401  (the experiment's names for them)
from r2d.io import InputError, check_file



FLAG_ARMS: dict[str, str] = {
    "case": "case",  # NoSpace, FirstCap, AllCaps: spacing and case alone, no morphology
    "affixes": "default+~ly,~er,~est,un~,re~,~ness",  # the seven and six more affixes, from a list built with them
}
"""The ablation's flag sets (name -> :meth:`r2d.flags.FlagSchema.parse` spec) besides the pair's own R2D model
(``clm-r2d``, the default flags and list); each is run as ``clm-r2d-<name>`` with a tokenizer of its own, of the same
vocabulary size, trained on the same text, and a list built with its affixes where they go beyond the bundled list's."""


def wikipedia_shards(data_dir: Path) -> list[Path]:
    """The ``enwiki_*.txt.gz`` shards under ``DATA_DIR/wikipedia_en``, sorted (the last one is held out)."""
    return sorted((data_dir / "wikipedia_en").glob("enwiki_*.txt.gz"))


@dataclass(frozen=True)
class ExperimentPreset:
    """Sizes of one experiment; every field is recorded in ``summary.json``."""

    corpus_bytes: int
    """bytes of Wikipedia text (all shards but the last) for both tokenizers and all pretraining"""
    heldout_docs: int
    """held-out Wikipedia documents (paragraphs of the last shard, never trained on) for bits per byte and flags"""
    curve_docs: int
    """the first N held-out documents score every learning-curve snapshot (all of them score the final models)"""
    wikitext_bytes: int
    """bytes of wikitext-2-raw's test split (whole articles) for bits per byte"""
    vocab_size: int
    """vocabulary size of both tokenizers (R2D and byte-level BPE, trained on the same text)"""
    model_preset: str
    """model size of r2d.training.presets.PRESETS for every model (tiny / micro / mini / small / base)"""
    causal_steps: int
    """optimizer steps of each causal pretraining run (the same rows for both models: packed blocks)"""
    causal_seeds: tuple[int, ...]
    """pretraining seeds of the causal pair (bits per byte, BLiMP, learning curves)"""
    curve_points: int
    """log-spaced snapshots per causal run (plus step 0 = the untrained model)"""
    mlm_steps: int
    """optimizer steps of each MLM pretraining run; 0 = no MLM pair"""
    mlm_seeds: tuple[int, ...]
    """pretraining seeds of the MLM pair (the first one is fine-tuned)"""
    batch_size: int
    """pretraining batch size (sequences)"""
    max_length: int
    """pretraining rows per sequence (packed: every sequence full)"""
    lr: float
    """pretraining peak learning rate"""
    blimp_limit: int | None
    """pairs per BLiMP paradigm (None = all)"""
    blimp_mlm: bool
    """also score the MLM pair on BLiMP by pseudo-log-likelihood (one forward pass per row: slow on a CPU)"""
    flag_eval_docs: int
    """held-out documents for per-flag F1 of the R2D MLM (masked rows)"""
    tasks: tuple[str, ...]
    """fine-tuning tasks (MLM pair and its untrained rows)"""
    seeds: tuple[int, ...]
    """fine-tuning seeds per task and model"""
    finetune_epochs: float
    """at most this many epochs (early stopping on dev usually ends sooner)"""
    finetune_eval_steps: int
    """evaluate on dev every N steps"""
    patience: int
    """stop after N dev evaluations without improvement"""
    dev_size: int
    """training examples held out as the dev set (model selection); the task's validation split is the test"""
    finetune_batch_size: int
    """fine-tuning batch size"""
    finetune_lr: float
    """fine-tuning peak learning rate"""
    finetune_max_length: int
    """fine-tuning truncation length"""
    max_train_samples: int | None
    """cap on fine-tuning training examples (None = the full training set)"""
    max_eval_samples: int | None
    """cap on examples per evaluation split (None = all)"""
    lora_r: int
    """LoRA rank of the one LoRA-vs-full comparison (first task, pretrained R2D, every seed); 0 = none"""
    lora_lr: float
    """LoRA learning rate"""
    lora_seeds: tuple[int, ...] = (0,)
    """fine-tuning seeds of the LoRA runs"""
    causal_tasks: tuple[str, ...] = ()
    """fine-tuning tasks of the causal pair (its first seed's final and untrained models, every fine-tuning seed;
    a head on the last row)"""
    compile: bool = False
    """torch.compile every pretraining run (r2d pretrain --compile)"""
    flag_arms: tuple[str, ...] = ()
    """flag sets of the ablation (:data:`FLAG_ARMS`), each one more causal R2D model per causal seed, scored like the
    pair (bits per byte, BLiMP; not fine-tuned)"""
    scaling_sizes: tuple[tuple[str, tuple[int, ...]], ...] = ()
    """the scaling study (``--scaling``): the causal pair at these other model sizes of r2d.training.presets.PRESETS,
    each with its pretraining seeds; everything else as the pair (corpus, vocabulary, rows, steps, schedule shape)"""
    scaling_steps: tuple[int, ...] = ()
    """the scaling study's data axis: the causal pair at the preset's size trained for these step counts, each to the
    end of its own schedule (warm-up and decay scaled with it), every causal seed"""
    electra: bool = False
    """the ELECTRA arm (``--electra``): the MLM pair and the ELECTRA pair (R2D ELECTRA, its 1D twin) at equal training
    FLOPs, fine-tuned on :attr:`electra_tasks` with the MLM pair's untrained rows, and the discriminators' detection"""
    electra_mlm_steps: int = 0
    """the arm's MLM steps on a preset without the MLM pair (``mlm_steps`` 0); the ELECTRA runs get the steps that
    match their FLOPs (:func:`r2d.experiment.compute.electra_steps`)"""
    electra_tasks: tuple[str, ...] = ()
    """fine-tuning tasks of the arm (all four models and the untrained rows, every fine-tuning seed)"""
    electra_max_train_samples: tuple[tuple[str, int], ...] = ()
    """(task, cap on its training examples) for the arm's fine-tuning where a task is too large for the preset's
    machine; other tasks take ``max_train_samples``"""
    left_out: str = ""
    """what this preset leaves out and why (written into the report)"""


PRESETS: dict[str, ExperimentPreset] = {
    # CI: every stage runs once at toy size
    "smoke": ExperimentPreset(
        corpus_bytes=200_000, heldout_docs=24, curve_docs=8, wikitext_bytes=8_000, vocab_size=400,
        model_preset="tiny", causal_steps=8, causal_seeds=(0, 1), curve_points=2, mlm_steps=6, mlm_seeds=(0,),
        batch_size=4, max_length=64, lr=1e-3, blimp_limit=4, blimp_mlm=True, flag_eval_docs=16,
        tasks=("stsb",), seeds=(0, 1), finetune_epochs=1.0, finetune_eval_steps=3, patience=2, dev_size=8,
        finetune_batch_size=8, finetune_lr=1e-3, finetune_max_length=64, max_train_samples=40, max_eval_samples=24,
        lora_r=2, lora_lr=1e-3, lora_seeds=(0, 1), causal_tasks=("stsb",),
        scaling_sizes=(("micro", (0,)),), scaling_steps=(4,), electra_tasks=("stsb",),
        left_out="everything but the plumbing: toy sizes"),
    # sized for 2 hours on a 2-core CPU: the causal pair alone (left_out says why)
    "cpu": ExperimentPreset(
        corpus_bytes=40_000_000, heldout_docs=400, curve_docs=100, wikitext_bytes=200_000, vocab_size=4096,
        model_preset="mini", causal_steps=5000, causal_seeds=(0, 1, 2), curve_points=5, mlm_steps=0,
        mlm_seeds=(0,), batch_size=16, max_length=128, lr=2e-3, blimp_limit=None, blimp_mlm=False,
        flag_eval_docs=400, tasks=(), seeds=(0, 1, 2), finetune_epochs=3.0,
        finetune_eval_steps=50, patience=4, dev_size=1000, finetune_batch_size=32, finetune_lr=1e-3,
        finetune_max_length=128, max_train_samples=None, max_eval_samples=None, lora_r=8, lora_lr=1e-3,
        lora_seeds=(0, 1, 2), causal_tasks=("stsb",),
        # the scaling study: micro, mini and small (a quarter and 4x mini's parameters outside the root embedding;
        # small, the costliest, has one seed); 1,250 / 2,500 / 5,000 steps at mini
        scaling_sizes=(("micro", (0, 1, 2)), ("small", (0,))), scaling_steps=(1250, 2500),
        # the ELECTRA arm, about 3.5 hours on 2 quiet cores, estimated from the committed cpu runs
        # (docs/experiment, BENCHMARKS.md 'Pretraining speed'): the MLM pair at ~18,400 rows/s is 2 x 9.3 min for
        # 5,000 steps of 16 x 128 rows, the ELECTRA pair (~1.25x an MLM step's FLOPs, ~4,000 steps) about the same
        # again: ~40 min of pretraining; fine-tuning 6 rows x 3 seeds x 2 tasks = 36 runs at ~3.5 min (the MLM
        # pair's STS-B runs: 42 min for 12), SST-2 capped at 8,000 training sentences (3 epochs = 750 steps, as
        # STS-B's ~450 with early stopping; all 67,349 would be 8x that): ~2.1 hours; ~3.3 hours in all
        electra_mlm_steps=5000, electra_tasks=("stsb", "sst2"), electra_max_train_samples=(("sst2", 8000),),
        left_out="the MLM pair (R2D MLM vs RoBERTa: BLiMP, per-flag F1, fine-tuning): at 10,000 steps its "
                 "pretraining took 36 minutes, its BLiMP scoring 6 and its fine-tuning 42, and it still did not beat "
                 "its untrained rows on STS-B (the cpu run at commit a096034), while the causal pair did after 10,000 "
                 "steps (a one-seed pilot; docs/experiment/README.md), so this preset spends its 2 hours on the causal "
                 "pair; the gpu and smoke presets run both pairs. Fine-tuning tasks other than STS-B (12 runs each); "
                 "models larger than mini (1.05M and 1.10M parameters outside the root embedding)"),
    # one H100 in bf16, aimed at about 10 minutes (an estimate, not yet run: docs/experiment/README.md)
    "gpu": ExperimentPreset(
        corpus_bytes=60_000_000, heldout_docs=2000, curve_docs=300, wikitext_bytes=1_300_000, vocab_size=8192,
        model_preset="small", causal_steps=3000, causal_seeds=(0, 1, 2), curve_points=8, mlm_steps=3000,
        mlm_seeds=(0,), batch_size=64, max_length=256, lr=1e-3, blimp_limit=None, blimp_mlm=True,
        flag_eval_docs=2000, tasks=("stsb", "sst2", "imdb", "cola", "mrpc", "rte"), seeds=(0, 1, 2),
        finetune_epochs=3.0, finetune_eval_steps=100, patience=3, dev_size=1000, finetune_batch_size=128,
        finetune_lr=2e-4, finetune_max_length=256, max_train_samples=None, max_eval_samples=None, lora_r=8,
        lora_lr=1e-3, lora_seeds=(0, 1, 2), causal_tasks=("stsb",), electra_tasks=("stsb", "sst2"),
        left_out="nothing of the issue's list; the causal pair fine-tuned on more than STS-B; models larger than "
                 "`small`"),
}


def scaling_points(preset: ExperimentPreset) -> list[tuple[str, ExperimentPreset, tuple[int, ...]]]:
    """The scaling study's extra points of the causal pair, in the order they run (cheapest first, the largest size
    last): ``(suffix, the preset that point trains with, its seeds)``. Runs are named ``clm-r2d@<suffix>`` and
    ``clm-bpe@<suffix>``; a point keeps only its untrained and final snapshots (``curve_points=1``).

    >>> for suffix, p, seeds in scaling_points(PRESETS["cpu"]):
    ...     print(suffix, p.model_preset, p.causal_steps, seeds)
    micro micro 5000 (0, 1, 2)
    1250steps mini 1250 (0, 1, 2)
    2500steps mini 2500 (0, 1, 2)
    small small 5000 (0,)
    """
    from r2d.training.presets import PRESETS as SIZES

    def width(size: str) -> int:
        return SIZES[size]["hidden_size"]

    main = width(preset.model_preset)
    sizes = [(n, replace(preset, model_preset=n, curve_points=1), seeds)
             for n, seeds in sorted(preset.scaling_sizes, key=lambda s: width(s[0]))]
    steps = [(f"{n}steps", replace(preset, causal_steps=n, curve_points=1), preset.causal_seeds)
             for n in sorted(preset.scaling_steps)]
    return ([s for s in sizes if width(s[1].model_preset) < main] + steps
            + [s for s in sizes if width(s[1].model_preset) >= main])


def snapshot_steps(steps: int, points: int) -> list[int]:
    """Step 0 and ``points`` log-spaced steps ending at ``steps`` (the learning curve's fixed amounts of text).

    >>> snapshot_steps(200, 5)
    [0, 12, 24, 49, 99, 200]
    """
    if points < 1 or steps < 1:
        return [0, max(steps, 0)]
    first = max(1, steps // 16)
    grid = np.geomspace(first, steps, points) if points > 1 else np.array([steps])
    return sorted({0, *(int(round(x)) for x in grid), steps})


# ---------------------------------------------------------------------------------------------------------
# arguments


@dataclass
class ExperimentArgs:
    """Arguments of ``r2d experiment`` (each field's ``metadata["help"]`` is its ``--help`` text)."""

    preset: Literal["smoke", "cpu", "gpu"] = dataclasses.field(metadata={"help": (
        "experiment size (see the presets below)")})
    out: str = dataclasses.field(metadata={"help": (
        "output folder (resumable: the same command, run from the same directory, continues a killed run; finished "
        "units are skipped; the stages record the paths they wrote as typed, relative to that directory)")})
    data_dir: str | None = dataclasses.field(default=None, metadata={"help": (
        "local data in the layout of shared/data (Wikipedia shards, wikitext-2-raw, blimp, GLUE, imdb)")})
    corpus: list[str] | None = dataclasses.field(default=None, metadata={"metavar": "FILE", "help": (
        "pretraining text files instead of --data-dir's Wikipedia shards")})
    tasks: list[str] | None = dataclasses.field(default=None, metadata={"metavar": "TASK", "help": (
        "override the preset's fine-tuning tasks (of the MLM pair, and of the causal pair where the preset fine-tunes "
        "it)")})
    seeds: list[int] | None = dataclasses.field(default=None, metadata={"metavar": "SEED", "help": (
        "override the preset's fine-tuning seeds")})
    causal_seeds: list[int] | None = dataclasses.field(default=None, metadata={"metavar": "SEED", "help": (
        "override the preset's causal pretraining seeds")})
    causal_steps: int | None = dataclasses.field(default=None, metadata={"help": (
        "override the preset's causal pretraining steps")})
    mlm_steps: int | None = dataclasses.field(default=None, metadata={"help": (
        "override the preset's MLM pretraining steps; on a preset without the MLM pair (cpu) this brings the pair "
        "back, fine-tuned only on the tasks of --tasks (cpu has none of its own)")})
    scaling: bool = dataclasses.field(default=False, metadata={"help": (
        "the scaling study: also train the causal pair at the preset's other model sizes (cpu: micro, a quarter of "
        "mini's parameters outside the embedding, and small, 4x) and shorter schedules (cpu: 1,250 and 2,500 steps), "
        "each to the end of its own schedule; the report adds the gap against parameters and rows seen")})
    flag_sets: list[str] | None = dataclasses.field(default=None, metadata={"metavar": "SET", "help": (
        "the ablation: also train a causal R2D model per seed for each of these flag sets (case: spacing and case "
        "only; affixes: the seven flags and ~ly ~er ~est un~ re~ ~ness), compared with the pair at equal compute")})
    electra: bool = dataclasses.field(default=False, metadata={"help": (
        "the ELECTRA arm: also train the MLM pair (R2D, RoBERTa; cpu: 5,000 steps) and the ELECTRA pair (R2D ELECTRA, "
        "its 1D twin) for the steps that give the same training FLOPs, fine-tune all four and the untrained rows "
        "(cpu: STS-B and SST-2, SST-2 capped at 8,000 training sentences) and report the discriminators' detection "
        "of replaced roots and changed flags")})
    compile: bool | None = dataclasses.field(default=None, metadata={"help": (
        "torch.compile every pretraining run (default: the preset's, off; BENCHMARKS.md compares it with eager)")})
    threads: int | None = dataclasses.field(default=None, metadata={"help": (
        "torch threads (default: torch's own choice)")})
    progress: bool = dataclasses.field(default=True, metadata={"help": "show progress bars"})


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
        preset = replace(preset, tasks=tuple(args.tasks), causal_tasks=tuple(args.tasks) if preset.causal_tasks else ())
    if args.seeds:
        preset = replace(preset, seeds=tuple(args.seeds))
    if args.causal_seeds:
        preset = replace(preset, causal_seeds=tuple(args.causal_seeds))
    for name in ("causal_steps", "mlm_steps", "threads"):
        v = getattr(args, name)
        if v is not None and v < 1:
            raise InputError(f"--{name.replace('_', '-')} {v}", "must be >= 1")
        if v is not None and name != "threads":  # threads is not a preset field: run_experiment takes it
            preset = replace(preset, **{name: v})
    if args.compile is not None:
        preset = replace(preset, compile=args.compile)
    if args.flag_sets:
        bad = [f for f in args.flag_sets if f not in FLAG_ARMS]
        if bad:
            raise InputError("--flag-sets", f"unknown flag set(s) {', '.join(bad)}; known: {', '.join(FLAG_ARMS)}")
        preset = replace(preset, flag_arms=tuple(dict.fromkeys(args.flag_sets)))
    if args.electra:
        if not preset.electra_tasks:
            raise InputError(f"--preset {args.preset} --electra", "this preset has no ELECTRA arm")
        preset = replace(preset, electra=True, mlm_steps=preset.mlm_steps or preset.electra_mlm_steps,
                         electra_tasks=tuple(args.tasks) if args.tasks else preset.electra_tasks)
    if not args.scaling:
        preset = replace(preset, scaling_sizes=(), scaling_steps=())
    elif not (preset.scaling_sizes or preset.scaling_steps):
        raise InputError(f"--preset {args.preset} --scaling", "this preset has no scaling study; presets that have "
                                                               "one: " + ", ".join(n for n, p in PRESETS.items()
                                                                                   if p.scaling_sizes))
    if args.data_dir is None and not args.corpus:
        raise InputError("--data-dir, --corpus", "give one: --data-dir DIR (local data) or --corpus FILE... (and "
                                                 "tasks from the Hub)")
    if args.data_dir is not None and not Path(args.data_dir).is_dir():
        raise InputError(f"--data-dir {args.data_dir}", "not a folder")
    for f in args.corpus or ():
        check_file(f, what="--corpus")
    if not args.corpus and len(wikipedia_shards(Path(args.data_dir))) < 2:
        raise InputError(f"--data-dir {args.data_dir}", f"expected enwiki_*.txt.gz shards in "
                                                        f"{Path(args.data_dir) / 'wikipedia_en'} (see its SOURCE.md)")
    return preset


def presets_table() -> str:
    """One line per preset: model size, vocabulary, steps, seeds, tasks, the ELECTRA arm."""
    return "\n".join(f"  {n:<6} {p.model_preset} models, vocab {p.vocab_size}, causal pair {p.causal_steps} steps x "
                     f"{len(p.causal_seeds)} seeds, "
                     + (f"MLM pair {p.mlm_steps} steps, fine-tuning {', '.join(p.tasks) or 'none'} (causal pair: "
                        f"{', '.join(p.causal_tasks) or 'none'})" if p.mlm_steps else
                        f"no MLM pair, fine-tuning the causal pair on {', '.join(p.causal_tasks) or 'nothing'}")
                     + f" x {len(p.seeds)} seeds"
                     + (f"; --electra: MLM pair {p.mlm_steps or p.electra_mlm_steps} steps and the ELECTRA pair at "
                        f"their FLOPs, fine-tuning {', '.join(p.electra_tasks)}" if p.electra_tasks else "")
                     for n, p in PRESETS.items())
