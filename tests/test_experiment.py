"""Tests for r2d experiment: a ``smoke`` run end to end (interrupted once, then continued), the numbers of its
summary against the stage files they come from, equal compute within each pair, resumability after ``kill -9``,
and CLI errors. Needs ../shared/data (skipped otherwise).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
if not SHARED.is_dir():
    SHARED = Path("/work/shared/data")
needs_data = pytest.mark.skipif(not (SHARED / "wikipedia_en").is_dir(), reason="shared/data not present")


class Interrupted(RuntimeError):
    pass


def _argv(out: Path, *extra: str) -> list[str]:
    return ["experiment", "--preset", "smoke", "--data-dir", str(SHARED), "--out", str(out), "--no-progress",
            "--threads", "1", *extra]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """The smoke experiment, stopped by a failure at its first fine-tuning run, then continued.

    Returns (out dir, stage files after the first invocation).
    """
    import r2d.training.finetune as ft
    from r2d.cli import main

    out = tmp_path_factory.mktemp("exp") / "smoke"
    real = ft.finetune

    def boom(*a, **k):
        raise Interrupted("simulated crash in the first fine-tuning run")

    ft.finetune = boom
    try:
        with pytest.raises(Interrupted):
            main(_argv(out))
    finally:
        ft.finetune = real
    first = {p.name: p.read_text() for p in (out / "stages").glob("*.json")}
    assert main(_argv(out)) == 0
    return out, first


def _extended(smoke_run, out: Path, *flags: str) -> Path:
    """A copy of the finished smoke run in ``out``, continued with ``flags``; its finished stages are reused as they
    are (checked), not rerun."""
    import shutil

    from r2d.cli import main

    shutil.copytree(smoke_run[0], out)
    before = {p.name: p.read_text() for p in (out / "stages").glob("*.json") if p.name != "report.json"}
    assert main(_argv(out, *flags)) == 0
    for name, text in before.items():
        assert (out / "stages" / name).read_text() == text, name
    return out


def _stage(out: Path, name: str) -> dict:
    return json.loads((out / "stages" / (name.replace("/", "__") + ".json")).read_text())


@needs_data
def test_interrupted_run_continues_without_redoing_stages(smoke_run):
    out, first = smoke_run
    assert {"corpus.json", "tokenizers.json", "pretrain__clm-r2d__seed1.json", "pretrain__mlm-roberta__seed0.json",
            "eval__blimp__clm-bpe-untrained__seed0.json", "eval__flags__mlm-r2d__seed0.json"} <= set(first)
    assert not any(n.startswith("finetune") for n in first)
    for name, text in first.items():
        assert (out / "stages" / name).read_text() == text  # finished stages were not rerun
    stages = {p.name for p in (out / "stages").glob("*.json")}
    assert {"report.json", "finetune__stsb__mlm-r2d-untrained__seed1.json",
            "finetune__stsb__mlm-r2d-lora2__seed0.json"} <= stages


@needs_data
def test_pairs_see_the_same_rows_and_snapshots(smoke_run):
    from r2d.experiment.presets import PRESETS, snapshot_steps
    from r2d.training.pretrain import snapshots

    out, _ = smoke_run
    p = PRESETS["smoke"]
    for seed in p.causal_seeds:
        snaps = {k: snapshots(out / "pretrain" / f"clm-{k}" / f"seed{seed}") for k in ("r2d", "bpe")}
        assert [s["step"] for s in snaps["r2d"]] == snapshot_steps(p.causal_steps, p.curve_points)
        assert [(s["step"], s["rows_seen"]) for s in snaps["r2d"]] == [(s["step"], s["rows_seen"]) for s in snaps["bpe"]]
        assert snaps["r2d"][-1]["rows_seen"] == p.causal_steps * p.batch_size * p.max_length  # packed: no padding
    sizes = _stage(out, "tokenizers")["vocab_size"]
    assert sizes["r2d"] == sizes["bpe"] == p.vocab_size
    from transformers import AutoConfig

    import r2d.modeling.causal  # noqa: F401
    configs = [AutoConfig.from_pretrained(out / "pretrain" / f"clm-{k}" / "seed0" / "model") for k in ("r2d", "bpe")]
    assert [(c.hidden_size, c.num_hidden_layers, c.intermediate_size) for c in configs][0] == \
        [(c.hidden_size, c.num_hidden_layers, c.intermediate_size) for c in configs][1]


@needs_data
def test_summary_numbers_come_from_the_stage_files(smoke_run):
    from r2d.experiment.presets import PRESETS
    from r2d.training.metrics import compute_task_metrics
    from r2d.training.tasks import TASKS

    out, _ = smoke_run
    p = PRESETS["smoke"]
    summary = json.loads((out / "summary.json").read_text())
    assert (out / "report.html").stat().st_size > 10_000
    for rel in summary["charts"]:
        assert (out / rel).read_bytes().startswith(b"\x89PNG")
    # "bpb": {RUN: {DATASET: x}}: the mean over seeds of sum(bits) / sum(bytes) at the last (or first) snapshot
    assert set(summary["bpb"]) == {"clm-r2d", "clm-bpe", "clm-r2d-untrained", "clm-bpe-untrained"}
    for run, step in (("clm-r2d", p.causal_steps), ("clm-bpe-untrained", 0)):
        for ds in ("wikipedia_heldout", "wikitext2"):
            vals = []
            for seed in p.causal_seeds:
                d = _stage(out, f"eval/bpb/{run.removesuffix('-untrained')}/seed{seed}/step-{step}")[ds]
                vals.append(sum(d["bits"]) / sum(d["bytes"]))
            assert summary["bpb"][run][ds] == pytest.approx(np.mean(vals))
    # "blimp": {RUN: {"overall": x, FIELD: x}}
    assert {"clm-r2d", "clm-bpe-untrained", "mlm-roberta", "mlm-r2d-untrained"} <= set(summary["blimp"])
    rights = [_stage(out, f"eval/blimp/clm-bpe/seed{s}")["right"] for s in p.causal_seeds]
    assert summary["blimp"]["clm-bpe"]["overall"] == pytest.approx(np.mean([r.count("1") / len(r) for r in rights]))
    assert {"overall", "morphology", "syntax"} <= set(summary["blimp"]["clm-bpe"])
    # fine-tuning: every row, untrained ones included, is the metric of its saved test predictions
    ft = summary["finetune"]["stsb"]
    assert set(ft) == {"mlm-r2d", "mlm-roberta", "mlm-r2d-untrained", "mlm-roberta-untrained", "mlm-r2d-lora2",
                       "clm-r2d", "clm-bpe", "clm-r2d-untrained", "clm-bpe-untrained"}  # both pairs fine-tuned
    assert {(c["a"], c["b"]) for c in summary["comparisons"] if c["what"].startswith("stsb")} >= {
        ("clm-r2d", "clm-bpe"), ("clm-bpe", "clm-bpe-untrained"), ("mlm-r2d", "mlm-roberta")}
    # both pairs read the same BLiMP pairs (the MLM pair by pseudo-log-likelihood)
    paradigms = len(list((SHARED / "blimp").glob("*.jsonl")))
    assert summary["blimp_pairs"]["mlm-r2d"] == summary["blimp_pairs"]["clm-r2d"] == p.blimp_limit * paradigms
    for run, row in ft.items():
        vals = []
        for seed in p.seeds:
            pred = json.loads((out / "finetune" / "stsb" / run / f"seed{seed}" / "predictions.json").read_text())
            v = pred["validation"]
            scores = compute_task_metrics(TASKS["stsb"], np.array(v["predictions"]), np.array(v["labels"]))
            vals.append(scores["pearson"])
        assert row["pearson"]["values"] == pytest.approx(vals, nan_ok=True)
    # the verdict is one line per comparison plus the signal lines, computed from those numbers
    comps = summary["comparisons"]
    assert len(summary["verdict"]) == len(comps) + len(summary["signal"]["checks"]) + 1
    c = next(c for c in comps if c["what"] == "bits per byte, wikitext2" and c["b"] == "clm-bpe")
    assert c["difference"] == pytest.approx(summary["bpb"]["clm-r2d"]["wikitext2"] - summary["bpb"]["clm-bpe"]["wikitext2"])
    assert c["low"] <= c["difference"] <= c["high"]
    md = (out / "summary.md").read_text()
    assert "## Verdict (computed from the numbers)" in md and "## Protocol" in md


@needs_data
def test_rerun_of_finished_experiment_skips_everything(smoke_run, capsys):
    from r2d.cli import main

    out, _ = smoke_run
    before = {p.name: p.stat().st_mtime_ns for p in (out / "stages").glob("*.json")}
    assert main(_argv(out)) == 0
    assert {p.name: p.stat().st_mtime_ns for p in (out / "stages").glob("*.json")} == before
    assert "## Verdict" in capsys.readouterr().out


@needs_data
def test_flag_set_ablation_adds_its_runs_to_a_finished_experiment(smoke_run, tmp_path, monkeypatch):
    import r2d.experiment.presets as exp
    from r2d.experiment.run import run_experiment
    from r2d import R2DTokenizer
    from r2d.io import InputError
    from r2d.modeling.causal_data import load_causal_lm

    out = _extended(smoke_run, tmp_path / "smoke", "--flag-sets", "case")  # the pair's stages are reused
    tok_stage = _stage(out, "tokenizers/r2d-case")
    tok = R2DTokenizer.from_pretrained(tok_stage["path"])
    assert tok.flag_names == ("NoSpace", "FirstCap", "AllCaps") == tuple(tok_stage["flags"])
    assert [r.root for r in tok.split(" Riding parks")] == ["riding", "parks"]  # no suffix flags: whole words
    model, _ = load_causal_lm(out / "pretrain" / "clm-r2d-case" / "seed0" / "model")
    assert model.config.num_flags == 3  # the model reads the flag set of its tokenizer
    summary = json.loads((out / "summary.json").read_text())
    rows = {r["run"]: r for r in summary["ablation"]}
    assert list(rows) == ["clm-r2d", "clm-r2d-case", "clm-bpe"]
    case = rows["clm-r2d-case"]
    assert case["flags"] == ["NoSpace", "FirstCap", "AllCaps"] and len(rows["clm-r2d"]["flags"]) == 7
    assert case["rows_per_1000_bytes"] == tok_stage["rows_per_1000_bytes_heldout"]
    assert case["rows_vs_twin"] == pytest.approx(case["rows_per_1000_bytes"] / rows["clm-bpe"]["rows_per_1000_bytes"])
    comp = next(c for c in summary["comparisons"] if (c["what"], c["a"], c["b"]) ==
                ("bits per byte, wikitext2", "clm-r2d-case", "clm-bpe"))
    assert case["vs_twin"]["bits per byte, wikitext2"]["difference"] == comp["difference"]
    assert comp["difference"] == pytest.approx(summary["bpb"]["clm-r2d-case"]["wikitext2"]
                                               - summary["bpb"]["clm-bpe"]["wikitext2"])
    assert "BLiMP overall accuracy" in case["vs_twin"] and case["step_time_vs_twin"] > 0
    assert (out / "charts" / "ablation.png").read_bytes().startswith(b"\x89PNG")
    assert 'id="ablation"' in (out / "report.html").read_text() and "## Which flags carry" in (out / "summary.md").read_text()
    # a flag set redefined under the same name is another experiment: resuming stops and names it
    monkeypatch.setitem(exp.FLAG_ARMS, "case", "NoSpace,FirstCap")
    with pytest.raises(InputError, match="flag_arm"):
        run_experiment(exp.resolve(exp.ExperimentArgs(preset="smoke", out=str(out), data_dir=str(SHARED),
                                                          flag_sets=["case"])), out, data_dir=SHARED, progress=False)


@needs_data
def test_scaling_study_adds_its_points_to_a_finished_experiment(smoke_run, tmp_path):
    from r2d.training.trainer import PRESETS

    out = _extended(smoke_run, tmp_path / "smoke", "--scaling")  # the pair's stages are the study's middle point
    # smoke: the pair is tiny x 8 steps x seeds 0, 1; the study adds micro (seed 0) and 4 steps (seeds 0, 1)
    for run, seeds in (("micro", (0,)), ("4steps", (0, 1))):
        for kind in ("r2d", "bpe"):
            for s in seeds:
                st = _stage(out, f"pretrain/clm-{kind}@{run}/seed{s}")["summary"]
                assert (st["preset"], st["steps"]) == (("micro", 8) if run == "micro" else ("tiny", 4))
    stages = {p.stem.replace("__", "/") for p in (out / "stages").glob("*.json")}
    # a shorter schedule starts from its pair's untrained model: no untrained row of its own
    assert "eval/bpb/clm-r2d@4steps/seed0/step-4" in stages and "eval/bpb/clm-r2d@4steps/seed0/step-0" not in stages
    assert "eval/blimp/clm-r2d@micro-untrained/seed0" in stages and not any("4steps-untrained" in s for s in stages)
    summary = json.loads((out / "summary.json").read_text())
    assert "clm-r2d@4steps-untrained" not in summary["bpb"] and "clm-r2d@micro-untrained" in summary["bpb"]
    points = {p["point"]: p for p in summary["scaling"]}
    assert list(points) == ["(the pair)", "4steps", "micro"]
    assert points["(the pair)"]["axes"] == ["size", "rows"]
    assert points["micro"]["axes"] == ["size"] and points["4steps"]["axes"] == ["rows"]
    micro = points["micro"]
    st = _stage(out, "pretrain/clm-r2d@micro/seed0")["summary"]
    assert micro["non_embedding"] == st["num_parameters"] - st["vocab_size"] * PRESETS["micro"]["hidden_size"]
    assert points["4steps"]["rows_seen"] * 2 == points["(the pair)"]["rows_seen"] == 8 * 4 * 64
    comp = next(c for c in summary["comparisons"] if (c["what"], c["a"], c["b"]) ==
                ("bits per byte, wikitext2", "clm-r2d@micro", "clm-bpe@micro"))
    gap = micro["gap"]["bits per byte, wikitext2"]
    assert gap["difference"] == comp["difference"] == pytest.approx(
        summary["bpb"]["clm-r2d@micro"]["wikitext2"] - summary["bpb"]["clm-bpe@micro"]["wikitext2"])
    assert gap["relative"]["difference"] == pytest.approx(comp["difference"] / summary["bpb"]["clm-bpe@micro"]["wikitext2"])
    assert "BLiMP overall accuracy" in micro["gap"]
    trend = summary["scaling_trend"]["size"]["bits per byte, wikitext2"]
    rel = [points[k]["gap"]["bits per byte, wikitext2"]["relative"]["difference"] for k in ("(the pair)", "micro")]
    x = [points[k]["non_embedding"] for k in ("(the pair)", "micro")]
    assert trend["points"] == 2 and trend["per_4x"] == pytest.approx((rel[1] - rel[0]) / np.log(x[1] / x[0]) * np.log(4))
    assert (out / "charts" / "scaling.png").read_bytes().startswith(b"\x89PNG")
    assert 'id="scaling"' in (out / "report.html").read_text()
    assert "## The gain against scale" in (out / "summary.md").read_text()
    assert any(v.startswith("Scaling trend, bits per byte, wikitext2 against parameters") for v in summary["verdict"])


@pytest.mark.parametrize("argv,msg", [
    (["--preset", "smoke", "--out", "x", "--data-dir", "/nonexistent/d"], "--data-dir /nonexistent/d: not a folder"),
    (["--preset", "smoke", "--out", "x", "--data-dir", ".", "--flag-sets", "tiny"], "unknown flag set(s) tiny"),
    (["--preset", "smoke", "--out", "x"], "r2d experiment: error: --data-dir, --corpus: give one: --data-dir DIR"),
    (["--preset", "smoke", "--out", "x", "--data-dir", ".", "--tasks", "rte", "glue"], "unknown task(s) glue"),
    (["--preset", "smoke", "--out", "x", "--data-dir", ".", "--causal-steps", "0"], "--causal-steps 0: must be >= 1"),
    (["--preset", "smoke", "--out", "x", "--data-dir", ".", "--threads", "0"], "--threads 0: must be >= 1"),
    (["--preset", "gpu", "--out", "x", "--data-dir", ".", "--scaling"], "this preset has no scaling study"),
    (["--preset", "smoke", "--out", "x", "--corpus", "missing.txt"], "--corpus missing.txt: no such file"),
    (["--preset", "huge", "--out", "x", "--data-dir", "."], "invalid choice: 'huge'"),
])
def test_cli_bad_input(argv, msg, capsys, tmp_path, monkeypatch):
    from r2d.cli import main

    monkeypatch.chdir(tmp_path)
    if "huge" in argv:
        with pytest.raises(SystemExit) as exc:
            main(["experiment", *argv])
        assert exc.value.code == 2
    else:
        assert main(["experiment", *argv]) == 2
    err = capsys.readouterr().err
    assert msg in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()  # no partial output


def test_cli_presets_match_the_library():
    import typing

    from r2d.experiment.presets import PRESETS, ExperimentArgs

    assert typing.get_args(typing.get_type_hints(ExperimentArgs)["preset"]) == tuple(PRESETS) == ("smoke", "cpu", "gpu")


def test_presets_keep_the_protocol():
    """Every preset: >= 3 causal, fine-tuning and LoRA seeds outside smoke, full training sets, early stopping on a
    dev set."""
    from r2d.experiment.presets import PRESETS
    from r2d.training.tasks import TASKS

    for name, p in PRESETS.items():
        assert p.dev_size > 0 and p.patience >= 1 and all(t in TASKS for t in p.tasks + p.causal_tasks)
        assert "stsb" in p.causal_tasks  # both pairs meet their untrained rows on the first task
        if name != "smoke":
            assert len(p.causal_seeds) >= 3 and len(p.seeds) >= 3 and len(p.lora_seeds) >= 3 and p.left_out
            assert p.max_train_samples is None and p.max_eval_samples is None
    assert set(PRESETS["gpu"].tasks) == {"stsb", "sst2", "imdb", "cola", "mrpc", "rte"}


def test_finetune_jobs_keep_one_lora_comparison_with_or_without_the_mlm_pair():
    from dataclasses import replace

    from r2d.experiment.presets import PRESETS
    from r2d.experiment.units import finetune_jobs

    smoke = PRESETS["smoke"]
    jobs = finetune_jobs(smoke)
    assert {j[1] for j in jobs if j[5]} == {"mlm"}
    assert len(jobs) == 2 * 2 * len(smoke.seeds) * (len(smoke.tasks) + len(smoke.causal_tasks)) + len(smoke.lora_seeds)
    alone = finetune_jobs(replace(smoke, mlm_steps=0))  # no MLM pair: its tasks are ignored, LoRA moves to clm
    assert {j[1] for j in alone} == {"clm"}
    assert [j for j in alone if j[5]] == [("stsb", "clm", "r2d", False, s, smoke.lora_r) for s in smoke.lora_seeds]
    assert not any(j[5] for j in finetune_jobs(replace(smoke, lora_r=0)))
    cpu = finetune_jobs(PRESETS["cpu"])
    assert len(cpu) == 2 * 2 * len(PRESETS["cpu"].seeds) + len(PRESETS["cpu"].lora_seeds)


def test_tasks_override_both_pairs_where_the_preset_fine_tunes_the_causal_pair(tmp_path: Path):
    from dataclasses import replace

    import r2d.experiment.presets as presets
    from r2d.experiment.presets import ExperimentArgs, resolve

    (tmp_path / "wikipedia_en").mkdir()
    for i in range(2):
        (tmp_path / "wikipedia_en" / f"enwiki_0{i}.txt.gz").write_bytes(b"")
    args = ExperimentArgs(preset="cpu", out=str(tmp_path / "o"), data_dir=str(tmp_path), tasks=["rte"])
    assert (resolve(args).tasks, resolve(args).causal_tasks) == (("rte",), ("rte",))
    original = presets.PRESETS["cpu"]
    presets.PRESETS["cpu"] = replace(original, causal_tasks=())
    try:
        assert resolve(args).causal_tasks == ()
    finally:
        presets.PRESETS["cpu"] = original


def test_missing_corpus_shards_exit_2(tmp_path: Path, capsys):
    from r2d.cli import main

    (tmp_path / "data").mkdir()
    rc = main(["experiment", "--preset", "smoke", "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "o"),
               "--no-progress"])
    assert rc == 2 and "expected enwiki_*.txt.gz shards" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_stage_markers(tmp_path: Path):
    from r2d.experiment.stages import Stages
    from r2d.io import InputError

    st = Stages(tmp_path)
    calls = []
    assert st.run("a/b", lambda: calls.append(1) or {"x": 1}, {"steps": 5, "lr": 0.1})["x"] == 1
    assert st.run("a/b", lambda: calls.append(2) or {"x": 2}, {"steps": 5, "lr": 0.1})["x"] == 1 and calls == [1]
    assert st.ran == ["a/b"]
    # resumed with other settings: stop and say which, rather than report the old result as the new one
    with pytest.raises(InputError, match=r"a__b\.json: .*other settings \(steps 5 -> 6\)"):
        st.run("a/b", lambda: calls.append(3) or {"x": 3}, {"steps": 6, "lr": 0.1})
    assert calls == [1] and st.done("a/b")["inputs"] == {"steps": 5, "lr": 0.1}
    # a marker from before settings were recorded is taken as it is
    (tmp_path / "stages" / "old.json").write_text('{"x": 7}')
    assert st.run("old", lambda: calls.append(4) or {"x": 4}, {"steps": 6})["x"] == 7 and calls == [1]
    (tmp_path / "stages" / "c.json").write_text('{"x": ')  # a marker cut by a kill counts as not done
    assert st.done("c") is None
    # a setting recorded later than the marker was written is not a change; one the marker has is compared
    assert st.run("a/b", lambda: calls.append(5) or {"x": 5}, {"steps": 5, "lr": 0.1, "source": ["f", 3]})["x"] == 1
    with pytest.raises(InputError, match=r"other settings \(lr 0\.1 -> None\)"):
        st.run("a/b", lambda: calls.append(6) or {"x": 6}, {"steps": 5})
    assert calls == [1]


def test_data_fingerprint_names_files_by_relative_path_and_size(tmp_path: Path):
    from r2d.experiment.stages import data_fingerprint

    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "b.txt").write_text("bb")
    (tmp_path / "d" / "sub" / "a.txt").write_text("a")
    fp = data_fingerprint([tmp_path / "d"])
    assert fp == [["d/b.txt", 2], ["d/sub/a.txt", 1]]
    assert data_fingerprint([tmp_path / "d" / "b.txt"]) == [["b.txt", 2]]
    (tmp_path / "d" / "b.txt").write_text("bbb")  # other content of another size: another fingerprint
    assert data_fingerprint([tmp_path / "d"]) != fp
    assert data_fingerprint([tmp_path / "missing"]) == [["missing", None]]


@needs_data
def test_resuming_with_a_changed_fine_tuning_protocol_stops_before_mixing_results(smoke_run, capsys, monkeypatch):
    from dataclasses import replace

    import r2d.experiment.presets as presets
    from r2d.cli import main

    out, _ = smoke_run
    before = {p.name: p.read_text() for p in (out / "stages").glob("*.json")}
    smoke = presets.PRESETS["smoke"]
    monkeypatch.setitem(presets.PRESETS, "smoke", replace(smoke, patience=smoke.patience + 1))
    assert main(_argv(out)) == 2
    err = capsys.readouterr().err
    assert "finetune__stsb__" in err and f"finetune_patience {smoke.patience} -> {smoke.patience + 1}" in err
    assert {p.name: p.read_text() for p in (out / "stages").glob("*.json")} == before  # nothing rerun or lost


@needs_data
def test_resuming_on_other_data_stops_at_the_corpus(smoke_run, capsys, tmp_path: Path):
    import shutil

    from r2d.cli import main

    out, _ = smoke_run
    before = {p.name: p.read_text() for p in (out / "stages").glob("*.json")}
    other = tmp_path / "data"
    for d in ("wikipedia_en", "wikitext-2-raw"):
        shutil.copytree(SHARED / d, other / d)
    shard = sorted((other / "wikipedia_en").glob("enwiki_*.txt.gz"))[0]
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])  # a shard of other content
    argv = _argv(out)
    argv[argv.index("--data-dir") + 1] = str(other)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "corpus.json" in err and shard.name in err
    assert {p.name: p.read_text() for p in (out / "stages").glob("*.json")} == before


@needs_data
def test_a_stage_run_again_redraws_the_report(smoke_run):
    from r2d.cli import main

    out, _ = smoke_run
    marker = out / "stages" / "finetune__stsb__clm-bpe-untrained__seed1.json"
    drawn = {p: (out / p).stat().st_mtime_ns for p in ("stages/report.json", "report.html", "summary.json")}
    marker.unlink()
    assert main(_argv(out)) == 0
    assert marker.is_file()
    # the report is not left describing the stage's previous result
    assert all((out / p).stat().st_mtime_ns != t for p, t in drawn.items())


def test_wikitext_articles_split_at_titles(tmp_path: Path):
    from r2d.experiment.data import wikitext_articles

    f = tmp_path / "wiki.test.raw"
    raw = " \r\n = A = \r\n \r\n text a \r\n = = Sub = = \r\n more a \n \n = B = \r\n \r\n text b \r\n"
    f.write_bytes(raw.encode("utf-8"))
    arts = wikitext_articles(f, 10**6)
    assert len(arts) == 2 and arts[0].startswith(" \r\n = A =") and "Sub" in arts[0] and arts[1].startswith(" = B =")
    assert "".join(arts) == raw  # every byte, line ends as stored: bits per byte counts them all
    assert wikitext_articles(f, 1) == arts[:1]


@needs_data
def test_kill_9_during_pretraining_then_continue(tmp_path: Path):
    out = tmp_path / "smoke"
    cmd = [sys.executable, "-m", "r2d.cli", *_argv(out, "--causal-steps", "24", "--causal-seeds", "0")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 900
    run = out / "pretrain" / "clm-r2d" / "seed0"
    while time.time() < deadline and not any(run.glob("checkpoint-*/trainer_state.json")):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "stages" / "pretrain__clm-r2d__seed0.json").exists()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-2000:]
    args = json.loads((run / "args.json").read_text())
    assert args.get("resumed")  # the pretraining continued from its checkpoint
    summary = json.loads((out / "summary.json").read_text())
    steps = [p["step"] for p in summary["curves"]["clm-r2d"]["0"]]
    assert steps[0] == 0 and steps[-1] == 24
    seconds = [p["train_seconds"] for p in summary["curves"]["clm-r2d"]["0"]]
    assert seconds == sorted(seconds)  # the training clock continued across the kill


def test_threads_setting_does_not_leak(tmp_path: Path):
    """--threads is process-wide in torch: the experiment restores the caller's setting, also on failure."""
    import torch

    from r2d.experiment.presets import PRESETS
    from r2d.experiment.run import run_experiment
    from r2d.io import InputError

    before = torch.get_num_threads()
    with pytest.raises(InputError):
        run_experiment(PRESETS["smoke"], tmp_path / "o", threads=before + 1)  # no data: fails at once
    assert torch.get_num_threads() == before


@needs_data
def test_electra_arm_adds_both_pairs_at_equal_flops_to_a_finished_experiment(smoke_run, tmp_path):
    """--electra on the finished smoke run: the MLM pair is reused, the ELECTRA pair trains for the steps of equal
    estimated FLOPs, all four and the untrained rows are fine-tuned, summary and report get the arm's section."""
    from r2d.experiment.presets import PRESETS

    out = _extended(smoke_run, tmp_path / "smoke", "--electra")  # the MLM pair's stages are the arm's
    smoke = PRESETS["smoke"]
    plan = _stage(out, "electra/compute")
    steps = plan["steps"]
    assert steps["mlm"] == smoke.mlm_steps and 1 <= steps["electra"] < steps["mlm"]  # a generator's extra cost
    models = plan["models"]
    mlm = np.mean([models[f"mlm-{k}"]["training_flops"] for k in ("r2d", "roberta")])
    electra = np.mean([models[f"electra-{k}"]["training_flops"] for k in ("r2d", "roberta")])
    per_step = np.mean([models[f"electra-{k}"]["flops_per_row"] for k in ("r2d", "roberta")]) * plan["rows_per_step"]
    assert abs(electra - mlm) <= per_step / 2  # equal within half a step
    for kind in ("r2d", "roberta"):
        st = _stage(out, f"pretrain/electra-{kind}/seed0")["summary"]
        assert (st["objective"], st["steps"], st["model"]) == ("electra", steps["electra"], kind)
        assert "eval_replaced_f1" in st["last_eval"]
        for run in (f"electra-{kind}", f"mlm-{kind}", f"mlm-{kind}-untrained"):
            for s in smoke.seeds:
                assert _stage(out, f"finetune/stsb/{run}/seed{s}")["final"]
    summary = json.loads((out / "summary.json").read_text())
    arm = summary["electra"]
    assert arm["compute"]["steps"] == steps and summary["settings"]["sizes"]["electra"]
    assert set(arm["finetune"]["stsb"]) == {"mlm-r2d", "mlm-roberta", "electra-r2d", "electra-roberta",
                                            "mlm-r2d-untrained", "mlm-roberta-untrained"}
    pairs = {(c["a"], c["b"]) for c in arm["comparisons"]}
    assert {("electra-r2d", "electra-roberta"), ("electra-r2d", "mlm-r2d"),
            ("electra-roberta", "mlm-roberta-untrained")} <= pairs
    det = arm["detection"]["electra-r2d"]["seed0"]
    assert det["always_not_replaced_accuracy"] == pytest.approx(1 - det["replaced_rate"])
    assert {"change_f1_NoSpace", "always_unchanged_accuracy_Suffix_s"} <= set(det)
    assert not any(k.startswith("change_") for k in arm["detection"]["electra-roberta"]["seed0"])
    page, md = (out / "report.html").read_text(), (out / "summary.md").read_text()
    assert 'id="electra"' in page and 'id="detection"' in page
    assert "## ELECTRA against MLM at equal training FLOPs" in md and "NoSpace changed" in md
    assert any(p.startswith("ELECTRA arm:") for p in summary["protocol"])


def test_electra_arm_jobs_and_caps():
    """The arm fine-tunes the MLM pair, its untrained rows and the ELECTRA pair on its tasks, jobs the preset runs
    anyway once; cpu caps SST-2's training set for the arm only."""
    from dataclasses import replace

    from r2d.experiment.presets import PRESETS, ExperimentArgs, resolve
    from r2d.experiment.units import electra_cap, electra_jobs, finetune_jobs

    cpu = replace(PRESETS["cpu"], electra=True, mlm_steps=PRESETS["cpu"].electra_mlm_steps)
    jobs = electra_jobs(cpu)
    assert len(jobs) == 2 * 3 * 2 * len(cpu.seeds) and {j[0] for j in jobs} == {"stsb", "sst2"}
    assert {(j[1], j[2], j[3]) for j in jobs} == {("mlm", "r2d", False), ("mlm", "roberta", False),
                                                 ("mlm", "r2d", True), ("mlm", "roberta", True),
                                                 ("electra", "r2d", False), ("electra", "roberta", False)}
    assert electra_cap(cpu, "sst2", "electra") == electra_cap(cpu, "sst2", "mlm") == 8000
    assert electra_cap(cpu, "stsb", "electra") is None and electra_cap(cpu, "sst2", "clm") is None
    smoke = replace(PRESETS["smoke"], electra=True)
    assert not set(electra_jobs(smoke)) & set(finetune_jobs(smoke))  # the MLM pair's STS-B runs are not redone
    assert {j[1] for j in electra_jobs(smoke)} == {"electra"}
    assert electra_jobs(PRESETS["cpu"]) == []  # no --electra, no arm
    p = resolve(ExperimentArgs(preset="cpu", out="x", data_dir=str(SHARED), electra=True)) if SHARED.is_dir() else cpu
    assert p.electra and p.mlm_steps == 5000 and p.tasks == ()


def test_resuming_from_another_directory_says_where_to_run_it(tmp_path: Path, monkeypatch, capsys):
    # the stage markers hold the paths the experiment wrote as typed (relative to where it first ran): a resume from
    # elsewhere stops at the corpus stage and says so, instead of failing later on some missing file
    import r2d.experiment.run as run_module
    from r2d.cli import main

    text = tmp_path / "corpus.txt"
    text.write_text("".join(f"Paragraph {i}: the dogs were riding in Australia's parks, and the cats watched them. "
                            * 4 + "\n" for i in range(80)), encoding="utf-8")
    first, other = tmp_path / "first", tmp_path / "other"
    first.mkdir()
    other.mkdir()

    def stop(*a, **k):
        raise Interrupted("stop after the corpus stage")

    monkeypatch.setattr(run_module, "prepare_tokenizers", stop)
    argv = ["experiment", "--preset", "smoke", "--corpus", str(text), "--out", "exp", "--no-progress",
            "--threads", "1"]
    monkeypatch.chdir(first)
    with pytest.raises(Interrupted):
        main(argv)
    assert json.loads((first / "exp" / "stages" / "corpus.json").read_text())["train_file"] == "exp/corpus/train.txt"
    monkeypatch.chdir(other)
    assert main([*argv[:6], str(first / "exp"), *argv[7:]]) == 2
    err = capsys.readouterr().err
    assert "corpus.json" in err and "exp/corpus/train.txt" in err and str(other) in err
    monkeypatch.chdir(first)  # from where it first ran, the resume goes on past the corpus stage
    with pytest.raises(Interrupted):
        main(argv)
