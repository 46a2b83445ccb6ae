"""Multi-process training (``torchrun``, CPU, gloo): 2 processes train like 1 at the same global batch, evaluate
each held-out sequence once, write the run folder once, print once, and resume.

Each 2-process run is ``python -m torch.distributed.run --standalone --nproc_per_node 2 -m r2d.cli ...`` with
``--batch-size B``; the 1-process run is the same command in this process with ``--batch-size 2B``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from r2d.cli import main
from r2d.training.trainer import read_metrics
from test_clm import corpus  # noqa: F401  (fixture: 120 generated lines)
from test_finetune import data_dir  # noqa: F401  (fixture: a tiny STS-B, 32 training pairs, 12 for evaluation)

# Tolerance of the losses, 2 processes vs 1. Each process's loss is the mean over the predicted rows of its half of
# the batch and DDP averages the two halves' gradients, while 1 process takes the mean over all rows of the batch:
# the halves hold slightly different numbers of predicted rows (a <s> row is not predicted), so the logged losses
# differ a little (measured over these 4 steps: the loss by at most 1.6e-4, its flag part 1.0e-3, evaluations 6e-5),
# and the weights after a step by as little.
LOSS_RTOL = 5e-3
# Tolerance of an evaluation of the same weights: only float sums in another order differ.
SAME_WEIGHTS_RTOL = 1e-5

CLM = ["--objective", "clm", "--model", "r2d", "--preset", "tiny", "--pack", "--max-length", "32", "--max-steps", "4",
       "--eval-steps", "2", "--save-steps", "2", "--logging-steps", "1", "--eval-fraction", "0.2", "--seed", "0",
       # subtle: 13 held-out sequences, 8 a global batch: 2 processes pad their last batches with 3 repeats
       "--eval-size", "13", "--snapshot-steps", "0", "2", "--bf16", "false", "--no-progress"]


def torchrun(nproc: int, *args: str) -> subprocess.CompletedProcess:
    """``r2d ARGS`` on ``nproc`` CPU processes (gloo), one thread each; fails the test with its output if it fails."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                           str(nproc), "-m", "r2d.cli", *args], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def in_process(*args: str) -> str:
    """``r2d ARGS`` in this process; what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(list(args)) == 0
    return out.getvalue()


def run_files(out: Path) -> set[str]:
    """The files of a run folder, with the names that depend on the machine or the number of processes made alike:
    TensorBoard's event file (host, pid, time) and Trainer's RNG states (``rng_state.pth`` for 1 process,
    ``rng_state_0.pth``, ``rng_state_1.pth`` for 2)."""
    names = set()
    for p in out.rglob("*"):
        if p.is_file() and not p.name.startswith("."):
            name = str(p.relative_to(out))
            name = re.sub(r"runs/[^/]+/events\.out\.tfevents\..*", "runs/events.out.tfevents", name)
            names.add(re.sub(r"rng_state(_\d+)?\.pth", "rng_state.pth", name))
    return names


def training_rows(out: Path) -> list[dict]:
    return [r for r in read_metrics(out / "metrics.jsonl") if "train_runtime" not in r]


def assert_same_losses(one: list[dict], two: list[dict], keys: tuple[str, ...]) -> None:
    assert [(r["step"], sorted(r)) for r in one] == [(r["step"], sorted(r)) for r in two]  # each line once
    for a, b in zip(one, two):
        for k in keys:
            if k in a:
                assert b[k] == pytest.approx(a[k], rel=LOSS_RTOL), (a["step"], k)


@pytest.fixture(scope="module")
def clm_runs(tmp_path_factory, corpus, tiny_tok) -> dict:
    """The causal R2D pretraining run on 1 process (batch 8) and on 2 (batch 4 each); what each printed."""
    d = tmp_path_factory.mktemp("clm")
    tiny_tok.save_pretrained(d / "tok")
    common = ["pretrain", *CLM, "--corpus", str(corpus), "--tokenizer", str(d / "tok")]
    printed_one = in_process(*common, "--batch-size", "8", "--out", str(d / "one"))
    two = torchrun(2, *common, "--batch-size", "4", "--out", str(d / "two"))
    return {"one": d / "one", "two": d / "two", "printed_one": printed_one, "printed_two": two.stdout,
            "log_two": two.stderr, "common": common}


def test_two_processes_pretrain_like_one_and_write_the_run_folder_once(clm_runs):
    one, two = clm_runs["one"], clm_runs["two"]
    a, b = training_rows(one), training_rows(two)
    assert_same_losses(a, b, ("loss", "root_loss", "flag_loss", "eval_loss", "eval_root_loss", "eval_flag_loss"))
    evals = [(x, y) for x, y in zip(a, b) if "eval_loss" in x]
    assert len(evals) == 2
    # every held-out predicted row scored once: 2 processes' padding repeats are not counted
    assert all(x["eval_scored_rows"] == y["eval_scored_rows"] > 0 for x, y in evals)
    for x, y in evals:
        assert x["eval_loss"] == pytest.approx(x["eval_root_loss"] + x["eval_flag_loss"], rel=1e-9)
        assert y["eval_loss"] == pytest.approx(y["eval_root_loss"] + y["eval_flag_loss"], rel=1e-9)

    assert run_files(one) == run_files(two)
    assert {"args.json", "metrics.jsonl", "summary.json", "data/meta.json", "model/model.safetensors",
            "snapshots/step-0/snapshot.json", "snapshots/step-2/snapshot.json",
            "checkpoint-4/trainer_state.json"} <= run_files(two)
    assert not list(two.rglob("*.tmp"))
    record = json.loads((two / "args.json").read_text())
    assert "resumed" not in record and record["argv"][:2] == ["r2d", "pretrain"]
    for step in (0, 2):  # rows seen count the global batch
        snap = lambda out: json.loads((out / f"snapshots/step-{step}/snapshot.json").read_text())["rows_seen"]
        assert snap(one) == snap(two)
    summary = lambda out: json.loads((out / "summary.json").read_text())
    assert summary(two)["steps"] == summary(one)["steps"] == 4
    assert summary(two)["last_eval"]["eval_scored_rows"] == summary(one)["last_eval"]["eval_scored_rows"]

    # printed once: the closing summary and the recipe's log lines come from the main process only
    assert clm_runs["printed_one"].count("r2d (tiny): 4 steps") == 1
    assert clm_runs["printed_two"].count("r2d (tiny): 4 steps") == 1
    assert clm_runs["log_two"].count("INFO r2d.training.pretrain: pretraining r2d") == 1
    assert clm_runs["log_two"].count("step 4/4: loss=") == 1


def test_two_processes_resume_from_a_checkpoint(clm_runs, tmp_path):
    """The 2-process run cut after checkpoint-2 (as after a kill: no model, a half-written checkpoint-4, metrics
    beyond step 2) resumes on 2 processes to the uninterrupted run."""
    full, cut = clm_runs["two"], tmp_path / "cut"
    shutil.copytree(full, cut)
    shutil.rmtree(cut / "model")
    (cut / "summary.json").unlink()
    (cut / "checkpoint-4" / "trainer_state.json").unlink()
    # --max-minutes: each step the main process's clock tells both whether to stop (here: never)
    torchrun(2, *clm_runs["common"], "--batch-size", "4", "--out", str(cut), "--resume", "--max-minutes", "1000")
    key = lambda out: [(r["step"], r.get("loss"), r.get("eval_loss")) for r in training_rows(out)]
    a, b = key(full), key(cut)
    assert [s for s, _, _ in a] == [s for s, _, _ in b]
    for (_, la, ea), (_, lb, eb) in zip(a, b):
        assert (la is None or lb == pytest.approx(la, rel=SAME_WEIGHTS_RTOL)) and \
            (ea is None or eb == pytest.approx(ea, rel=SAME_WEIGHTS_RTOL))
    assert len(json.loads((cut / "args.json").read_text())["resumed"]) == 1
    assert (cut / "model" / "model.safetensors").is_file() and run_files(cut) == run_files(full)


def test_two_processes_finetune_like_one(clm_runs, data_dir, tmp_path):
    """Fine-tuning the causal model on STS-B: the same losses; the evaluation before training (same weights) agrees
    to float precision although 2 processes pad the 12 examples to 16."""
    common = ["finetune", "--task", "stsb", "--model", str(clm_runs["one"] / "model"), "--data-dir", str(data_dir),
              "--max-steps", "4", "--eval-steps", "2", "--logging-steps", "1", "--lr", "1e-3", "--seed", "0",
              "--bf16", "false", "--no-progress"]
    printed_one = in_process(*common, "--batch-size", "8", "--eval-batch-size", "8", "--out", str(tmp_path / "one"))
    two = torchrun(2, *common, "--batch-size", "4", "--eval-batch-size", "4", "--out", str(tmp_path / "two"))
    a, b = training_rows(tmp_path / "one"), training_rows(tmp_path / "two")
    assert_same_losses(a, b, ("loss", "eval_loss"))
    assert a[0]["step"] == 0 and b[0]["eval_loss"] == pytest.approx(a[0]["eval_loss"], rel=SAME_WEIGHTS_RTOL)
    assert run_files(tmp_path / "one") == run_files(tmp_path / "two")
    results = lambda out: json.loads((out / "results.json").read_text())
    assert results(tmp_path / "two")["steps"] == results(tmp_path / "one")["steps"] == 4
    assert printed_one.count("stsb (") == 1 and two.stdout.count("stsb (") == 1


def test_two_processes_pretrain_mlm_like_one(corpus, tiny_tok, tmp_path):
    """Masked LM (R2D: roots and flags): the same masks on 1 and 2 processes; each process draws its own dropout, so
    the losses agree to the dropout's noise (10% dropout in the tiny preset), not to LOSS_RTOL."""
    tiny_tok.save_pretrained(tmp_path / "tok")
    common = ["pretrain", "--objective", "mlm", "--model", "r2d", "--preset", "tiny", "--max-length", "32",
              "--max-steps", "4", "--eval-steps", "2", "--save-steps", "4", "--logging-steps", "1", "--seed", "0",
              "--eval-fraction", "0.2", "--eval-size", "13", "--no-progress", "--corpus", str(corpus),
              "--tokenizer", str(tmp_path / "tok")]
    in_process(*common, "--batch-size", "8", "--out", str(tmp_path / "one"))
    torchrun(2, *common, "--batch-size", "4", "--out", str(tmp_path / "two"))
    a, b = training_rows(tmp_path / "one"), training_rows(tmp_path / "two")
    assert [(r["step"], sorted(r)) for r in a] == [(r["step"], sorted(r)) for r in b]
    for x, y in zip(a, b):
        for k in ("loss", "eval_loss", "eval_mlm_loss", "eval_flag_loss"):
            if k in x:
                assert y[k] == pytest.approx(x[k], rel=0.03), (x["step"], k)  # measured: at most 1e-2
        if "eval_scored_rows" in x:
            assert x["eval_scored_rows"] == y["eval_scored_rows"] > 0
    assert run_files(tmp_path / "one") == run_files(tmp_path / "two")
    assert json.loads((tmp_path / "two" / "flag_rates.json").read_text()) == \
        json.loads((tmp_path / "one" / "flag_rates.json").read_text())
