"""Tests for r2d experiment: a ``smoke`` run end to end (interrupted once, then continued), its report's
files and numbers, resumability, and CLI errors. Needs ../shared/data (skipped otherwise).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from r2d.analysis.plots import read_jsonl, series
from r2d.training.tasks import get_task

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
if not SHARED.is_dir():
    SHARED = Path("/work/shared/data")
needs_data = pytest.mark.skipif(not (SHARED / "wikipedia_en").is_dir(), reason="shared/data not present")


class Interrupted(RuntimeError):
    pass


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """The smoke experiment, stopped by a failure at its first fine-tuning run, then continued.

    Returns (out dir, pretraining stage markers after the first invocation).
    """
    import r2d.training.finetune as ft
    from r2d.cli import main

    out = tmp_path_factory.mktemp("exp") / "smoke"
    argv = ["experiment", "--preset", "smoke", "--data-dir", str(SHARED), "--out", str(out), "--no-progress"]
    real = ft.finetune

    def boom(*a, **k):
        raise Interrupted("simulated crash in the first fine-tuning run")

    ft.finetune = boom
    try:
        with pytest.raises(Interrupted):
            main(argv)
    finally:
        ft.finetune = real
    first = {p.name: p.read_text() for p in (out / "stages").glob("*.json")}
    mtimes = {m: (out / "pretrain" / m / "metrics.jsonl").stat().st_mtime_ns for m in ("r2d", "roberta")}
    assert main(argv) == 0
    return out, first, mtimes


@needs_data
def test_interrupted_run_continues_without_redoing_stages(smoke_run):
    out, first, mtimes = smoke_run
    assert set(first) == {"corpus.json", "tokenizers.json", "pretrain-r2d.json", "pretrain-roberta.json"}
    for name, text in first.items():
        assert (out / "stages" / name).read_text() == text  # finished stages were not rerun
    for m, t in mtimes.items():
        assert (out / "pretrain" / m / "metrics.jsonl").stat().st_mtime_ns == t
    stages = {p.name for p in (out / "stages").glob("*.json")}
    assert {"report.json", "finetune__rte__r2d__seed0.json", "finetune__stsb__roberta__seed0.json"} <= stages


@needs_data
def test_report_files_and_numbers(smoke_run):
    out, _, _ = smoke_run
    from r2d.analysis.experiment import PRESETS

    preset = PRESETS["smoke"]
    summary = json.loads((out / "summary.json").read_text())
    assert (out / "report.html").stat().st_size > 10_000
    for rel in summary["charts"]:
        assert (out / rel).read_bytes().startswith(b"\x89PNG")
    expected = {(t, s) for t in preset.tasks for s in get_task(t).eval_splits}
    assert {(r["task"], r["split"]) for r in summary["results"]} == expected
    for r in summary["results"]:
        assert set(r["models"]) == {"r2d", "roberta"}
        means = {}
        for m, v in r["models"].items():
            assert v["seeds"] == list(preset.seeds)
            # the summary's final value is the last evaluation in that run's metrics.jsonl
            for seed, value in zip(v["seeds"], v["values"]):
                rows = read_jsonl(out / "finetune" / r["task"] / m / f"seed{seed}" / "metrics.jsonl")
                steps, vals = series(rows, r["key"])
                assert steps[-1] == preset.finetune_steps and value == pytest.approx(vals[-1])
            means[m] = v["mean"]
            assert v["mean"] == pytest.approx(sum(v["values"]) / len(v["values"]))
        assert r["difference"] == pytest.approx(means["r2d"] - means["roberta"])
    pre = summary["pretrain"]
    assert pre["r2d"]["step"] == pre["roberta"]["step"] == preset.pretrain_steps
    assert {"mlm_loss", "flag_loss"} <= set(pre["r2d"]) and set(pre["r2d"]["flag_f1"]) >= {"NoSpace", "FirstCap"}
    s = summary["settings"]
    assert s["preset"] == "smoke" and s["tokenizers"]["vocab_size"] == {"r2d": 512, "roberta": 512}
    md = (out / "summary.md").read_text()
    assert md.count("\n| rte |") + md.count("\n| stsb |") == 3  # rte accuracy, stsb pearson + spearmanr


@needs_data
def test_rerun_of_finished_experiment_skips_everything(smoke_run, capsys):
    from r2d.cli import main

    out, _, _ = smoke_run
    before = {p.name: p.stat().st_mtime_ns for p in (out / "stages").glob("*.json")}
    assert main(["experiment", "--preset", "smoke", "--data-dir", str(SHARED), "--out", str(out), "--no-progress"]) == 0
    assert {p.name: p.stat().st_mtime_ns for p in (out / "stages").glob("*.json")} == before
    assert "| rte | validation | accuracy |" in capsys.readouterr().out


@pytest.mark.parametrize("argv,msg", [
    (["--preset", "smoke", "--out", "x", "--data-dir", "/nonexistent/d"], "--data-dir /nonexistent/d: not a folder"),
    (["--preset", "smoke", "--out", "x"], "give --data-dir DIR"),
    (["--preset", "smoke", "--out", "x", "--data-dir", ".", "--tasks", "rte", "glue"], "unknown task(s) glue"),
    (["--preset", "smoke", "--out", "x", "--data-dir", ".", "--pretrain-steps", "0"], "--pretrain-steps 0: must be >= 1"),
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

    from r2d.analysis.experiment import PRESETS, ExperimentArgs

    assert typing.get_args(typing.get_type_hints(ExperimentArgs)["preset"]) == tuple(PRESETS)


def test_missing_corpus_shards_exit_2(tmp_path: Path, capsys):
    from r2d.cli import main

    (tmp_path / "data").mkdir()
    rc = main(["experiment", "--preset", "smoke", "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "o"),
               "--no-progress"])
    assert rc == 2 and "expected enwiki_*.txt.gz shards" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_stage_markers(tmp_path: Path):
    from r2d.analysis.experiment import Stages

    st = Stages(tmp_path)
    calls = []
    assert st.run("a/b", lambda: calls.append(1) or {"x": 1})["x"] == 1
    assert st.run("a/b", lambda: calls.append(2) or {"x": 2})["x"] == 1 and calls == [1]
    (tmp_path / "stages" / "c.json").write_text('{"x": ')  # a marker cut by a kill counts as not done
    assert st.done("c") is None


@needs_data
def test_kill_9_during_pretraining_then_continue(tmp_path: Path):
    out = tmp_path / "smoke"
    cmd = [sys.executable, "-m", "r2d.cli", "experiment", "--preset", "smoke", "--data-dir", str(SHARED),
           "--out", str(out), "--no-progress", "--pretrain-steps", "16", "--tasks", "rte"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 900
    ckpt = out / "pretrain" / "r2d"
    while time.time() < deadline and not any(ckpt.glob("checkpoint-*/trainer_state.json")):
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "stages" / "pretrain-r2d.json").exists()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-2000:]
    args = json.loads((ckpt / "args.json").read_text())
    assert args.get("resumed")  # the pretraining continued from its checkpoint
    assert json.loads((out / "summary.json").read_text())["pretrain"]["r2d"]["step"] == 16
