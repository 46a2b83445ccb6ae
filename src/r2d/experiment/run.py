"""The comparison of 2D and 1D tokenization at equal compute, in one resumable command (``r2d experiment``).

:func:`run_experiment` runs the units in order: corpus, tokenizers (R2D and a byte-level BPE of the same size,
trained on the same text), pretraining of the causal pair and of any ``--flag-sets`` (and of the MLM pair where the
preset has one or ``--electra`` asks for it, then the ELECTRA pair at its training FLOPs), bits per byte, BLiMP and
flag F1, fine-tuning against the untrained rows (and LoRA against full), the ``--scaling`` points, then the report.
Each unit is a stage (:mod:`r2d.experiment.stages`), so the same command continues a killed run.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from r2d.experiment.data import (corpus_sources, eval_sets, heldout_docs, prepare_arm_tokenizer, prepare_corpus,
                                 prepare_tokenizers)
from r2d.experiment.presets import FLAG_ARMS, UNTRAINED, ExperimentPreset, scaling_points
from r2d.experiment.stages import Stages, data_fingerprint, stage_inputs
from r2d.experiment.units import (CAUSAL, MODELS, electra_cap, electra_jobs, eval_blimp, eval_bpb, eval_flags,
                                  finetune_args, finetune_jobs, lora_objective, run_pretrain, task_note)
from r2d.io import InputError

logger = logging.getLogger(__name__)


def _run_name(objective: str, kind: str, untrained: bool = False, suffix: str = "") -> str:
    """``clm-r2d``, ``mlm-roberta-untrained``, ``clm-bpe@micro-untrained``: the model kind and objective, the scaling
    study's point (:func:`scaling_points`) and the untrained row (summary.json's RUN)."""
    return f"{objective}-{kind}" + (f"@{suffix}" if suffix else "") + (f"-{UNTRAINED}" if untrained else "")


def run_experiment(preset: ExperimentPreset, out: str | Path, *, data_dir: str | Path | None = None,
                   corpus: Sequence[str] | None = None, preset_name: str = "custom", threads: int | None = None,
                   progress: bool = True) -> tuple[Path, dict]:
    """Run (or continue) the whole experiment; every unit is a stage, skipped once done.

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
                 "r2d.tokenizer.baseline", "r2d.evaluation.bpb", "r2d.evaluation.scoring", "r2d.modeling.electra",
                 "r2d.training.electra", "r2d.experiment.compute"):
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
    _check_recorded_paths(corpus_info, out)
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

    # the ELECTRA arm: the ELECTRA pair for the steps whose training FLOPs match the MLM pair's
    if preset.electra:
        plan = stages.run("electra/compute", lambda: _arm_compute(preset, toks), inputs("mlm"))
        for seed in preset.mlm_seeds:
            for kind in MODELS:
                run_dir = out / "pretrain" / _run_name("electra", kind) / f"seed{seed}"
                stages.run(f"pretrain/{_run_name('electra', kind)}/seed{seed}",
                           lambda kind=kind, run_dir=run_dir, seed=seed: run_pretrain(
                               "electra", kind, run_dir, toks[kind], corpus_info, preset, seed=seed,
                               progress=progress, steps=plan["steps"]["electra"]),
                           inputs("mlm", electra_steps=plan["steps"]["electra"]))
                runs["electra", kind, seed] = {"final": str(run_dir / "model")}

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
    jobs = finetune_jobs(preset) + electra_jobs(preset)
    task_data = {t: data_fingerprint([data_dir / get_task(t).local_dir]) if data_dir else task_note(t, None)
                 for t in dict.fromkeys(job[0] for job in jobs)}
    seed0 = {"mlm": preset.mlm_seeds[0], "electra": preset.mlm_seeds[0], "clm": preset.causal_seeds[0]}
    for task, objective, kind, untrained, s, lora in jobs:
        name = _run_name(objective, kind, untrained) + (f"-lora{lora}" if lora else "")
        run_dir = out / "finetune" / task / name / f"seed{s}"
        src = runs[objective, kind, seed0[objective]]["untrained" if untrained else "final"]

        args = finetune_args(preset, task, src, run_dir, s, data_dir=data_dir, lora=lora, progress=progress,
                             max_train_samples=electra_cap(preset, task, objective) if preset.electra else None)

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
        stages.run(f"finetune/{task}/{name}/seed{s}", job,
                   inputs("mlm" if objective == "electra" else objective, **recipe, task_data=task_data[task]))

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
            "task_data": {t: task_note(t, data_dir) for t in dict.fromkeys(
                preset.tasks + preset.causal_tasks + (preset.electra_tasks if preset.electra else ()))},
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


def _check_recorded_paths(corpus_info: dict, out: Path) -> None:
    """Stop a resume whose recorded paths do not resolve from here: the stage markers hold the paths the experiment
    wrote as typed, relative to the directory it first ran from."""
    for key in ("train_file", "heldout_file"):
        if not Path(corpus_info[key]).is_file():
            raise InputError(out / "stages" / "corpus.json",
                             f"{corpus_info[key]} is not found from {Path.cwd()}: this experiment's stages hold paths "
                             "relative to the directory it first ran from; run the command from there",
                             field=key)


def _arm_compute(preset: ExperimentPreset, toks: dict) -> dict:
    """The ELECTRA arm's plan (:func:`r2d.experiment.compute.arm_compute`) for the run's tokenizers."""
    from r2d.experiment.compute import arm_compute

    flags = json.loads((Path(toks["r2d"]) / "r2d_tokenizer.json").read_text(encoding="utf-8"))["flag_names"]
    sizes = toks["vocab_size"]
    return arm_compute(preset=preset.model_preset, mlm_steps=preset.mlm_steps,
                       rows_per_step=preset.batch_size * preset.max_length, max_length=preset.max_length,
                       vocab_size={"r2d": sizes["r2d"], "roberta": sizes["bpe"]}, flag_names=flags)


def _arm_inputs(kind: str) -> dict:
    """The flag set a unit of the ablation depends on (recorded in its marker); nothing for the pair's own models."""
    arm = FLAG_ARMS.get(kind.removeprefix("r2d-")) if kind.startswith("r2d-") else None
    return {"flag_arm": arm} if arm else {}


def _versions() -> dict[str, Any]:
    import platform

    import torch
    import transformers

    import r2d

    return {"r2d": r2d.__version__, "python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "threads": torch.get_num_threads()}
