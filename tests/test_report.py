"""Tests for r2d.analysis.report: summary.json numbers from stage files (bits per byte, BLiMP, fine-tuning, flags),
a verdict that follows the numbers, self-contained HTML, and a real headless-browser load.

The run folders are written by the code ``r2d experiment`` writes them with (stage markers by
:class:`r2d.experiment.stages.Stages`, BLiMP results by :func:`r2d.evaluation.blimp.aggregate`), so a change of
either format breaks these tests unless the report follows it. The browser test needs Debian's chromium
(``apt-get install -y chromium``); it is skipped, with that reason, where no chromium binary is on PATH.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from r2d.experiment.stages import Stages
from r2d.analysis.report import build_report, summary_markdown
from r2d.evaluation.blimp import Pair, aggregate
from r2d.training.finetune import PREDICTIONS_FILE

CHROMIUM = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (apt-get install -y chromium)")

FIELDS = ("morphology", "syntax")
PAIRS = [Pair("good", "bad", field, f"{field}_{i // 50}", f"{field}.jsonl", i + 1)
         for field in FIELDS for i in range(100)]  # the first 100 pairs morphology, the rest syntax


def make_run(out: Path, *, r2d_bits: float = 1.0, r2d_right: float = 0.8, r2d_noise: float = 0.1) -> Path:
    """A run folder as r2d experiment leaves it: 2 causal seeds x 2 kinds, BLiMP, STS-B with 3 seeds, flags."""
    stages = Stages(out)

    def record(name: str, result: dict) -> None:
        stages.run(name, lambda: result)

    rng = np.random.default_rng(0)
    nbytes = [100 + 10 * i for i in range(20)]
    for seed in (0, 1):
        for kind, bits in (("r2d", r2d_bits), ("bpe", 1.2)):
            for step, scale in ((0, 8.0), (5, 2.0), (10, 1.0)):
                per_doc = [b * bits * scale * (1 + 0.01 * seed) for b in nbytes]
                seconds = step * (1.5 if kind == "r2d" else 1.0)
                snapshot = {"step": step, "rows_seen": step * 64, "train_seconds": seconds}
                record(f"eval/bpb/clm-{kind}/seed{seed}/step-{step}",
                       {"wikipedia_heldout": {"bits": per_doc, "bytes": nbytes}, "snapshot": snapshot})
            for untrained, p in (("-untrained", 0.5), ("", r2d_right if kind == "r2d" else 0.7)):
                right = (rng.random(200) < p).tolist()
                right[:100] = (rng.random(100) < p).tolist()
                record(f"eval/blimp/clm-{kind}{untrained}/seed{seed}", {**aggregate(PAIRS, right).to_dict(),
                       "rule": "causal", "right": "".join("1" if r else "0" for r in right)})
    labels = np.linspace(0, 5, 60)
    for kind, noise in (("r2d", r2d_noise), ("roberta", 1.0), ("r2d-untrained", 3.0), ("roberta-untrained", 3.0)):
        for seed in (0, 1, 2):
            pred = labels + np.random.default_rng(seed).normal(0, noise, 60)
            run = out / "finetune" / "stsb" / f"mlm-{kind}" / f"seed{seed}"
            run.mkdir(parents=True)
            (run / PREDICTIONS_FILE).write_text(json.dumps(
                {"validation": {"predictions": pred.tolist(), "labels": labels.tolist()}}))
            record(f"finetune/stsb/mlm-{kind}/seed{seed}", {
                "final": {"eval_pearson": float(np.corrcoef(pred, labels)[0, 1])}, "best_step": 10 * (seed + 1),
                "stopped_at": 40, "train_seconds": 3.0, "trainable_parameters": 1000})
    ci = {"difference": 0.2, "low": 0.1, "high": 0.3, "level": 0.95, "excludes_zero": True}
    record("eval/flags/mlm-r2d/seed0", {"rows": 500, "flags": {
        "NoSpace": {"f1": 0.9, "always_on_f1": 0.4, "positives": 120, "rate": 0.24, "difference_ci": ci}}})
    return out


def test_summary_numbers(tmp_path: Path):
    out = make_run(tmp_path / "run")
    _, summary = build_report(out, settings={"preset": "unit", "sizes": {"curve_docs": 10}}, n_boot=200)
    saved = json.loads((out / "summary.json").read_text())
    assert saved["settings"]["preset"] == "unit" and saved["bpb"] == summary["bpb"]
    # "bpb": {RUN: {DATASET: x}}: last step for the model, step 0 for its untrained row, mean over seeds
    assert saved["bpb"]["clm-r2d"]["wikipedia_heldout"] == pytest.approx(1.0 * 1.005)
    assert saved["bpb"]["clm-bpe-untrained"]["wikipedia_heldout"] == pytest.approx(1.2 * 8 * 1.005)
    assert saved["bpb_seeds"]["clm-r2d"]["wikipedia_heldout"]["values"] == pytest.approx([1.0, 1.01])
    # learning curve points use only the first curve_docs documents
    pts = saved["curves"]["clm-r2d"]["0"]
    assert [p["rows_seen"] for p in pts] == [0, 320, 640] and pts[1]["bits_per_byte"] == pytest.approx(2.0)
    # "blimp": {RUN: {"overall": x, FIELD: x}}
    right = [Stages(out).done(f"eval/blimp/clm-bpe/seed{s}")["right"] for s in (0, 1)]
    assert saved["blimp"]["clm-bpe"]["overall"] == pytest.approx(np.mean([r.count("1") / 200 for r in right]))
    assert set(saved["blimp"]["clm-r2d-untrained"]) == {"overall", *FIELDS}  # not the stage's seconds
    assert saved["blimp_pairs"]["clm-r2d"] == 200
    # fine-tuning: seed values from the stage files; untrained rows present
    ft = saved["finetune"]["stsb"]
    assert set(ft) == {"mlm-r2d", "mlm-roberta", "mlm-r2d-untrained", "mlm-roberta-untrained"}
    assert ft["mlm-r2d"]["pearson"]["n"] == 3 and ft["mlm-r2d"]["best_step"] == [10, 20, 30]
    for rel in saved["charts"]:
        assert (out / rel).read_bytes().startswith(b"\x89PNG")
    assert len(saved["charts"]) == 6  # 2 curves, bpb, blimp, stsb, flags of mlm-r2d
    md = summary_markdown(saved)
    assert "| mlm-r2d | NoSpace | 24.000% | 120 | 0.900 | 0.400 | +0.200 [+0.100, +0.300] |" in md


def _comparison(summary: dict, what: str, a: str, b: str) -> dict:
    return next(c for c in summary["comparisons"] if c["what"] == what and (c["a"], c["b"]) == (a, b))


def test_verdict_follows_the_numbers(tmp_path: Path):
    """The same run with R2D better, then worse: the computed verdict changes with it."""
    _, good = build_report(make_run(tmp_path / "a", r2d_bits=1.0, r2d_right=0.9, r2d_noise=0.1), n_boot=200)
    _, bad = build_report(make_run(tmp_path / "b", r2d_bits=1.5, r2d_right=0.5, r2d_noise=3.0), n_boot=200)
    bpb = "bits per byte, wikipedia_heldout"
    assert _comparison(good, bpb, "clm-r2d", "clm-bpe")["difference"] < 0
    assert _comparison(bad, bpb, "clm-r2d", "clm-bpe")["difference"] > 0
    line = next(v for v in good["verdict"] if v.startswith(bpb) and "clm-r2d 1.0050 vs clm-bpe" in v)
    assert "clm-r2d ahead by" in line and "excludes zero" in line
    line = next(v for v in bad["verdict"] if v.startswith(bpb) and "vs clm-bpe " in v)
    assert "clm-bpe ahead by" in line
    stsb = _comparison(good, "stsb pearson (validation)", "mlm-r2d", "mlm-r2d-untrained")
    assert stsb["excludes_zero"] and stsb["low"] > 0
    assert good["signal"]["shown"] and good["verdict"][-1] == "Signal shown: yes."
    assert not bad["signal"]["shown"] and bad["verdict"][-1] == "Signal shown: no."


def test_html_self_contained(tmp_path: Path):
    page, summary = build_report(make_run(tmp_path / "run"), n_boot=100)
    text = page.read_text()
    srcs = re.findall(r'(?:src|href)="([^"]*)"', text)
    assert srcs and all(s.startswith("data:") for s in srcs)
    assert text.count("data:image/png;base64,") == len(summary["charts"])
    assert "<script" not in text
    assert 'id="verdict"' in text and 'id="protocol"' in text and "published: GPT-2" in text


def browser_load(page: Path, png: Path) -> tuple[int, list[str]]:
    """Open ``page`` in headless chromium; return (return code, console messages) and write a screenshot."""
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
         "--window-size=1200,1600", f"--screenshot={png}", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120, cwd=png.parent,
    )
    console = [ln for ln in proc.stderr.splitlines() if ":CONSOLE" in ln]
    return proc.returncode, console


def _non_blank(png: Path) -> bool:
    import matplotlib.image as mpimg

    img = mpimg.imread(png)
    return img.ndim == 3 and float(img[..., :3].std()) > 0.01


@needs_chromium
def test_report_opens_in_headless_chromium(tmp_path: Path):
    page, _ = build_report(make_run(tmp_path / "run"), n_boot=100)
    shot = tmp_path / "screenshot.png"
    rc, console = browser_load(page, shot)
    assert rc == 0
    assert console == []
    assert shot.read_bytes().startswith(b"\x89PNG") and _non_blank(shot)


@needs_chromium
def test_console_error_detection_works(tmp_path: Path):
    # the check above must be able to fail: a page with a script error is caught
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body>x<script>console.error('boom'); notAFunction();</script></body></html>")
    _, console = browser_load(bad, tmp_path / "bad.png")
    assert any("boom" in c for c in console) and any("notAFunction" in c for c in console)
