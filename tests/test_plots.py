"""Tests for r2d.analysis.plots: metrics.jsonl parsing, key discovery, mean/spread over seeds, PNG output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from r2d.analysis.plots import (flag_f1_keys, mean_spread, plot_flag_f1, plot_pretrain_loss, plot_task, read_jsonl,
                       series)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _rows(seed: int, n: int = 6) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(1, n + 1):
        rows.append({"step": s * 10, "loss": 8.0 / s + rng.random(), "mlm_loss": 6.0 / s, "flag_loss": 2.0 / s})
        if s % 2 == 0:
            rows.append({"step": s * 10, "eval_f1_NoSpace": min(1.0, 0.2 * s), "eval_f1_Suffix_ing": 0.05 * s,
                         "eval_flag_f1_macro": 0.1 * s, "eval_accuracy": 0.5 + 0.01 * s + 0.01 * seed})
    return rows


def test_read_jsonl_skips_truncated_tail(tmp_path: Path):
    p = tmp_path / "metrics.jsonl"
    p.write_text(json.dumps({"step": 1, "loss": 2.0}) + "\n\n" + '{"step": 2, "lo', encoding="utf-8")
    assert read_jsonl(p) == [{"step": 1, "loss": 2.0}]


def test_series_sorted_finite_last_wins():
    rows = [{"step": 3, "x": 1.0}, {"step": 1, "x": 5}, {"step": 2, "x": float("nan")}, {"step": 3, "x": 2.0},
            {"x": 9.0}, {"step": 4, "x": True}]
    x, y = series(rows, "x")
    assert x.tolist() == [1.0, 3.0] and y.tolist() == [5.0, 2.0]


def test_flag_f1_keys_formats():
    rows = [{"eval_f1_NoSpace": 1, "f1/FirstCap": 1, "AllCaps_f1": 1, "eval_flag_f1_macro": 1, "eval_f1": 1,
             "eval_precision_NoSpace": 1}]
    assert flag_f1_keys(rows) == {"AllCaps": "AllCaps_f1", "FirstCap": "f1/FirstCap", "NoSpace": "eval_f1_NoSpace"}
    assert list(flag_f1_keys(rows, ["NoSpace", "AllCaps", "Suffix_s"])) == ["NoSpace", "AllCaps"]


def test_mean_spread_over_seeds():
    a = [{"step": 10, "m": 0.5}, {"step": 20, "m": 0.7}, {"step": 30, "m": 0.9}]
    b = [{"step": 10, "m": 0.7}, {"step": 20, "m": 0.9}]
    x, m, lo, hi = mean_spread([a, b], "m")
    assert x.tolist() == [10.0, 20.0]  # only steps all seeds reached
    assert m == pytest.approx([0.6, 0.8]) and lo == pytest.approx([0.5, 0.7]) and hi == pytest.approx([0.7, 0.9])
    assert all(len(v) == 0 for v in mean_spread([[{"step": 1}]], "m"))


def test_charts_are_pngs(tmp_path: Path):
    r2d, rob = _rows(0), _rows(1)
    outs = [
        plot_pretrain_loss({"r2d": r2d, "roberta": rob}, tmp_path / "a" / "loss.png"),
        plot_flag_f1(r2d, tmp_path / "f1.png", flag_names=["NoSpace", "Suffix_ing"]),
        plot_task("rte", {"r2d": [r2d, _rows(2)], "roberta": [rob]}, "eval_accuracy", tmp_path / "rte.png"),
        plot_flag_f1([{"step": 1, "loss": 1.0}], tmp_path / "empty.png"),  # nothing to draw: still a chart
    ]
    for p in outs:
        data = p.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000


def test_plots_never_import_torch_nor_touch_the_callers_matplotlib(tmp_path: Path):
    """No torch, and no process-wide side effect: the caller's backend stays, pyplot is never imported."""
    code = ("import sys, matplotlib; matplotlib.use('pdf'); import r2d.analysis.plots as p; "
            f"p.plot_task('rte', {{'r2d': [[{{'step': 1, 'm': 0.5}}]]}}, 'm', {str(tmp_path / 'c.png')!r}); "
            "print('torch' in sys.modules, matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "pdf", "False"]
    assert (tmp_path / "c.png").read_bytes().startswith(PNG_MAGIC)


def test_charts_draw_the_numbers_they_are_given(tmp_path: Path, monkeypatch):
    """What is on each chart, line by line (the PNG test above only shows that a file is written)."""
    from r2d.analysis import plots

    drawn = {}
    finish = plots._finish

    def spy(fig, ax, out, *args):
        drawn[Path(out).stem] = {ln.get_label(): (ln.get_xdata().tolist(), ln.get_ydata().tolist())
                                 for ln in ax.get_lines()}
        return finish(fig, ax, out, *args)

    monkeypatch.setattr(plots, "_finish", spy)
    r2d = [{"step": 10, "loss": 3.0, "mlm_loss": 2.0}, {"step": 20, "loss": 2.0, "mlm_loss": 1.5}]
    rob = [{"step": 10, "loss": 4.0}, {"step": 20, "loss": 3.5}]
    plot_pretrain_loss({"r2d": r2d, "roberta": rob}, tmp_path / "loss.png", keys=("loss", "mlm_loss"))
    assert drawn["loss"] == {"r2d loss": ([10, 20], [3.0, 2.0]), "r2d mlm_loss": ([10, 20], [2.0, 1.5]),
                             "roberta loss": ([10, 20], [4.0, 3.5])}
    f1 = [{"step": 5, "eval_f1_NoSpace": 0.5, "eval_f1_Suffix_s": 0.1, "eval_flag_f1_macro": 0.3}]
    plot_flag_f1(f1, tmp_path / "f1.png", flag_names=["Suffix_s", "NoSpace"])
    assert drawn["f1"] == {"Suffix_s": ([5], [0.1]), "NoSpace": ([5], [0.5]), "macro mean": ([5], [0.3])}
    seeds = [[{"step": 1, "eval_accuracy": 0.5}, {"step": 2, "eval_accuracy": 0.7}],
             [{"step": 1, "eval_accuracy": 0.6}, {"step": 2, "eval_accuracy": 0.9}]]
    plot_task("rte", {"r2d": seeds}, "eval_accuracy", tmp_path / "rte.png")
    (x, y), = drawn["rte"].values()
    assert x == [1, 2] and y == pytest.approx([0.55, 0.8])  # the mean over seeds


def test_comparison_charts_draw_the_numbers_they_are_given(tmp_path: Path, monkeypatch):
    """plot_curves: mean over seeds at each point; plot_bars: one bar per run and group, reference lines."""
    from r2d.analysis import plots

    drawn = {}
    finish = plots._finish

    def spy(fig, ax, out, *args, **kwargs):
        drawn[Path(out).stem] = {
            "lines": {ln.get_label(): (np.asarray(ln.get_xdata()).tolist(), np.asarray(ln.get_ydata()).tolist())
                      for ln in ax.get_lines()},
            "bars": [round(b.get_height(), 6) for b in ax.patches], "hatches": [b.get_hatch() for b in ax.patches]}
        return finish(fig, ax, out, *args, **kwargs)

    monkeypatch.setattr(plots, "_finish", spy)
    curves = {"clm-r2d": [[(0, 9.0), (10, 4.0), (100, 2.0)], [(0, 9.0), (10, 6.0), (100, 3.0)]]}
    assert plots.plot_curves(curves, tmp_path / "c.png", title="t", xlabel="x", ylabel="y").read_bytes()[:8] == PNG_MAGIC
    (label, (x, y)), = drawn["c"]["lines"].items()
    assert x == [10, 100] and y == pytest.approx([5.0, 2.5]) and "2 seeds" in label  # x = 0 left out on a log axis
    plots.plot_bars(["overall", "syntax"], {"clm-r2d": [(0.6, 0.01), (0.7, 0.02)], "clm-bpe": [(0.5, 0.0), (0.4, 0.0)]},
                    tmp_path / "b.png", title="t", ylabel="acc", references={"GPT-2": 0.83})
    assert drawn["b"]["bars"] == [0.6, 0.7, 0.5, 0.4]
    plots.plot_bars(["stsb"], {"clm-r2d": [(0.1, 0.0)], "mlm-r2d": [(0.2, 0.0)], "mlm-r2d-lora8": [(0.3, 0.0)],
                               "clm-r2d-lora8": [(0.3, 0.0)]}, tmp_path / "f.png", title="t", ylabel="pearson")
    # same colour for one kind: the objective and LoRA by hatch, both on a causal LoRA run
    assert [h or "" for h in drawn["f"]["hatches"]] == ["//", "", "..", "//.."]
    assert drawn["b"]["lines"]["GPT-2"][1] == [0.83, 0.83]


def test_interval_chart_keeps_each_label_on_its_own_row_across_panels(tmp_path: Path, monkeypatch):
    """plot_intervals: a panel that lacks some labels (STS-B ran on the pair alone) must not shift the rows of the
    shared y axis, so each point sits at its own label's height in every panel."""
    from matplotlib.figure import Figure

    from r2d.analysis import plots

    saved = {}
    monkeypatch.setattr(Figure, "savefig", lambda fig, out, **kw: saved.setdefault("fig", fig))
    plots.plot_intervals({"BLiMP": [("a", 0.03, 0.02, 0.04), ("b", 0.02, 0.01, 0.03), ("c", 0.01, 0.0, 0.02)],
                          "stsb": [("a", -0.01, -0.03, 0.02)]}, tmp_path / "i.png", title="t")
    blimp, stsb = saved["fig"].axes
    ticks = dict(zip([t.get_text() for t in blimp.get_yticklabels()], blimp.get_yticks()))
    assert list(ticks) == ["a", "b", "c"]
    heights = lambda ax: [ln.get_ydata()[0] for ln in ax.get_lines() if ln.get_marker() == "o"]  # noqa: E731
    assert heights(blimp) == [ticks["a"], ticks["b"], ticks["c"]]
    assert heights(stsb) == [ticks["a"]]  # was drawn at the bottom row, "c"'s, before
