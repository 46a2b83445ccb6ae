"""Tests for r2d.analysis.report: numbers in summary.json, self-contained HTML, and a real headless-browser load.

The browser test needs Debian's chromium (``apt-get install -y chromium``); it is skipped, with that
reason, where no chromium binary is on PATH.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from r2d.analysis.report import build_report, summary_markdown

CHROMIUM = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (apt-get install -y chromium)")


def _ft(final: float, key: str, steps=(5, 10)) -> list[dict]:
    rows = [{"step": 1, "loss": 1.0}]
    for i, s in enumerate(steps):
        rows.append({"step": s, key: final - 0.1 * (len(steps) - 1 - i)})
    return rows


@pytest.fixture()
def experiment_metrics():
    pretrain = {
        "r2d": [{"step": s, "loss": 9.0 / s, "mlm_loss": 7.0 / s, "flag_loss": 2.0 / s} for s in (1, 2, 4)]
        + [{"step": 4, "eval_loss": 2.5, "eval_f1_NoSpace": 0.9, "eval_f1_Suffix_s": 0.2, "eval_flag_f1_macro": 0.55}],
        "roberta": [{"step": s, "loss": 10.0 / s} for s in (1, 2, 4)],
    }
    finetune = {
        "rte": {"r2d": {0: _ft(0.60, "eval_accuracy"), 1: _ft(0.64, "eval_accuracy")},
                "roberta": {0: _ft(0.55, "eval_accuracy"), 1: _ft(0.57, "eval_accuracy")}},
        "mnli": {m: {0: _ft(v, "eval_validation_matched_accuracy") + _ft(v - 0.02, "eval_validation_mismatched_accuracy")}
                 for m, v in (("r2d", 0.40), ("roberta", 0.45))},
    }
    return pretrain, finetune


def test_summary_numbers(tmp_path: Path, experiment_metrics):
    page, summary = build_report(*experiment_metrics, tmp_path, settings={"preset": "unit"})
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["settings"] == {"preset": "unit"} and saved["results"] == summary["results"]
    rows = {(r["task"], r["split"], r["metric"]): r for r in saved["results"]}
    assert set(rows) == {("rte", "validation", "accuracy"), ("mnli", "validation_matched", "accuracy"),
                         ("mnli", "validation_mismatched", "accuracy")}
    rte = rows["rte", "validation", "accuracy"]
    assert rte["models"]["r2d"]["values"] == pytest.approx([0.60, 0.64])
    assert rte["models"]["r2d"]["mean"] == pytest.approx(0.62)
    assert rte["models"]["r2d"]["std"] == pytest.approx(np.std([0.60, 0.64], ddof=1))
    assert rte["models"]["roberta"]["mean"] == pytest.approx(0.56)
    assert rte["difference"] == pytest.approx(0.06)
    assert rte["models"]["r2d"]["step"] == 10
    assert rows["mnli", "validation_mismatched", "accuracy"]["difference"] == pytest.approx(-0.05)
    assert saved["pretrain"]["r2d"]["flag_f1"] == {"NoSpace": 0.9, "Suffix_s": 0.2}
    assert saved["pretrain"]["r2d"]["loss"] == pytest.approx(9.0 / 4) and saved["pretrain"]["roberta"]["step"] == 4
    for rel in saved["charts"]:
        assert (tmp_path / rel).read_bytes().startswith(b"\x89PNG")
    assert len(saved["charts"]) == 5  # loss, r2d flag F1, rte, mnli matched, mnli mismatched
    md = summary_markdown(saved)
    assert "| rte | validation | accuracy | 0.6200 ± 0.0283 (2) | 0.5600 ± 0.0141 (2) | +0.0600 |" in md


def test_html_self_contained(tmp_path: Path, experiment_metrics):
    page, summary = build_report(*experiment_metrics, tmp_path)
    text = page.read_text()
    srcs = re.findall(r'(?:src|href)="([^"]*)"', text)
    assert srcs and all(s.startswith("data:") for s in srcs)
    assert text.count("data:image/png;base64,") == len(summary["charts"])
    assert "<script" not in text
    assert "+0.0600" in text and "-0.0500" in text


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
def test_report_opens_in_headless_chromium(tmp_path: Path, experiment_metrics):
    page, _ = build_report(*experiment_metrics, tmp_path / "run")
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


def test_summary_rows_follow_the_tasks_own_metrics(monkeypatch):
    import dataclasses

    from r2d.analysis.report import summarize
    from r2d.training.tasks import TASKS

    monkeypatch.setitem(TASKS, "rte", dataclasses.replace(TASKS["rte"], metrics=("f1", "accuracy")))
    finetune = {"rte": {"r2d": {0: [{"step": 5, "eval_f1": 0.7, "eval_accuracy": 0.6}]},
                        "roberta": {0: [{"step": 5, "eval_f1": 0.5, "eval_accuracy": 0.55}]}}}
    rows = summarize({}, finetune)["results"]
    assert [(r["metric"], r["key"]) for r in rows] == [("f1", "eval_f1"), ("accuracy", "eval_accuracy")]
    assert [r["difference"] for r in rows] == [pytest.approx(0.2), pytest.approx(0.05)]
