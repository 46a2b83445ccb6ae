"""Charts of training runs and of the report: ``metrics.jsonl`` rows and summary numbers in, PNG files out.

Figures use matplotlib's object API (``Figure``, rendered by Agg when saved), never ``pyplot``: no display is
needed, and the caller's backend and open figures are left alone. Never imports torch.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from r2d.io import read_jsonl  # noqa: F401  (re-exported: the one reader of metrics.jsonl files)

logger = logging.getLogger(__name__)

COLORS = {"r2d": "#d62728", "roberta": "#1f77b4"}
"""Fixed colours per model name, so every chart of a report reads the same way."""

_FALLBACK = ("#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#ff7f0e")


def _figure(figsize: tuple[float, float]):
    """A new (figure, axes) outside pyplot: no global backend switch, no figure registry to leak into."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots()


def _color(name: str, i: int) -> str:
    return COLORS.get(name.lower(), _FALLBACK[i % len(_FALLBACK)])


def series(rows: Iterable[Mapping], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of every row that has a finite number under ``key``; a later row wins a repeated step.

    Returns:
        two float arrays (N,), sorted by step.
    """
    by_step: dict[float, float] = {}
    for r in rows:
        v = r.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) and "step" in r:
            by_step[float(r["step"])] = float(v)
    steps = np.array(sorted(by_step), dtype=float)
    return steps, np.array([by_step[s] for s in steps], dtype=float)


def flag_f1_keys(rows: Iterable[Mapping], flag_names: Sequence[str] | None = None) -> dict[str, str]:
    """Map flag name -> metrics key of its F1 (e.g. ``eval_f1_NoSpace``, ``f1/NoSpace``, ``NoSpace_f1``).

    Args:
        rows: metrics rows.
        flag_names: the flags to look for; None = every key that looks like a per-flag F1
            (macro means and the always-on baselines excluded).
    """
    keys = sorted({k for r in rows for k in r if re.search(r"(^|[_/.])f1($|[_/.])", k, re.I)})
    out: dict[str, str] = {}
    for k in keys:
        name = re.sub(r"(^|[_/.])(eval|flag|flags|f1)(?=$|[_/.])", "", k, flags=re.I).strip("_/.")
        if not name or any(w in name.lower() for w in ("macro", "mean", "always_on")):
            continue  # subtle: always_on_f1_<flag> is the F1 of predicting the flag everywhere, a baseline
        if flag_names is None or name in flag_names:
            out.setdefault(name, k)
    if flag_names is not None:
        out = {n: out[n] for n in flag_names if n in out}
    return out


def _finish(fig, ax, out: str | Path, title: str, xlabel: str, ylabel: str, *, legend_outside: bool = False) -> Path:
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, **({"loc": "upper left", "bbox_to_anchor": (1.01, 1)} if legend_outside else {}))
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    return out


def plot_pretrain_loss(runs: Mapping[str, Sequence[Mapping]], out: str | Path, *,
                       keys: Sequence[str] = ("loss", "mlm_loss", "flag_loss", "eval_loss"),
                       title: str = "MLM pretraining loss") -> Path:
    """Pretraining loss curves of several runs in one chart.

    Args:
        runs: model name -> its metrics rows (``"r2d"`` and ``"roberta"`` get fixed colours).
        out: PNG path (parents created).
        keys: loss keys to draw when present; ``loss`` solid, the others dashed / dotted.
        title: chart title.

    Returns:
        the PNG path.
    """
    fig, ax = _figure((7, 4.2))
    styles = ("-", "--", ":", "-.")
    for i, (name, rows) in enumerate(runs.items()):
        for j, key in enumerate(keys):
            x, y = series(rows, key)
            if len(x):
                ax.plot(x, y, styles[j % len(styles)], color=_color(name, i), label=f"{name} {key}",
                        marker="o" if len(x) < 3 else None)
    return _finish(fig, ax, out, title, "optimizer step", "loss")


def plot_flag_f1(rows: Sequence[Mapping], out: str | Path, *, flag_names: Sequence[str] | None = None,
                 title: str = "R2D per-flag F1 on masked rows") -> Path:
    """Per-flag F1 curves of one R2D pretraining run (plus the macro mean if logged).

    Args:
        rows: metrics rows of the run.
        out: PNG path.
        flag_names: flags to draw in this order; None = every per-flag F1 key found.
        title: chart title.
    """
    from matplotlib import colormaps

    fig, ax = _figure((7, 4.2))
    found = flag_f1_keys(rows, flag_names)
    if not found:
        logger.warning("no per-flag F1 keys in the metrics: empty flag chart %s", out)
    for i, (name, key) in enumerate(found.items()):
        x, y = series(rows, key)
        ax.plot(x, y, color=colormaps["tab10"](i % 10), label=name,
                marker="o" if len(x) < 3 else None)
    macro = [k for k in sorted({k for r in rows for k in r}) if re.search(r"f1", k, re.I) and "macro" in k.lower()]
    for key in macro[:1]:
        x, y = series(rows, key)
        ax.plot(x, y, "k--", label="macro mean", marker="o" if len(x) < 3 else None)
    ax.set_ylim(-0.02, 1.02)
    return _finish(fig, ax, out, title, "optimizer step", "F1")


def mean_spread(runs: Sequence[Sequence[Mapping]], key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean, min and max of ``key`` over seeds, at the steps every seed has.

    Args:
        runs: one metrics-row list per seed.
        key: the metric key.

    Returns:
        (steps, mean, lo, hi), float arrays (S,); empty if no step is shared by all seeds.
    """
    curves = [dict(zip(*series(r, key))) for r in runs]
    curves = [c for c in curves if c]
    if not curves:
        return (np.array([]),) * 4
    steps = sorted(set.intersection(*(set(c) for c in curves)))
    vals = np.array([[c[s] for s in steps] for c in curves], dtype=float)  # (seeds, S)
    return np.array(steps, dtype=float), vals.mean(0), vals.min(0), vals.max(0)


def plot_task(task: str, runs: Mapping[str, Sequence[Sequence[Mapping]]], key: str, out: str | Path, *,
              ylabel: str | None = None) -> Path:
    """One fine-tuning task: a curve per model (mean over seeds) with the min-max band over seeds.

    Args:
        task: task name (title).
        runs: model name -> list of metrics rows, one list per seed.
        key: metric key to draw, e.g. ``eval_accuracy``.
        out: PNG path.
        ylabel: axis label (default: ``key``).
    """
    fig, ax = _figure((6, 3.8))
    for i, (name, seeds) in enumerate(runs.items()):
        x, m, lo, hi = mean_spread(seeds, key)
        if not len(x):
            continue
        c = _color(name, i)
        ax.plot(x, m, color=c, label=f"{name} (mean of {len(seeds)} seed{'s' if len(seeds) != 1 else ''})",
                marker="o" if len(x) < 3 else None)
        if len(seeds) > 1:
            ax.fill_between(x, lo, hi, color=c, alpha=0.2, linewidth=0)
    return _finish(fig, ax, out, f"{task}: R2D vs RoBERTa", "fine-tuning step", ylabel or key)


# ------------------------------------------------------------------------------- the comparison's charts


ARM_COLORS = {"case": "#ff7f0e", "affixes": "#2ca02c"}
"""Colours of the flag-set ablation's R2D runs (``clm-r2d-case``, ...); the pair's own R2D run keeps R2D's red."""


def _kind_color(run: str, i: int) -> str:
    """Colour of a run name such as ``clm-r2d`` or ``mlm-roberta-untrained``: its model kind's, grey if untrained."""
    if "untrained" in run:
        return "#7f7f7f" if "r2d" in run else "#bdbdbd"
    parts = run.split("-")
    if len(parts) > 2 and parts[1] == "r2d" and not parts[2].startswith("lora"):  # a flag set of the ablation
        return ARM_COLORS.get(parts[2], _FALLBACK[i % len(_FALLBACK)])
    kind = parts[1] if "-" in run else run
    return {"r2d": COLORS["r2d"], "bpe": COLORS["roberta"], "roberta": COLORS["roberta"]}.get(kind, _color(kind, i))


def _kind_hatch(run: str) -> str:
    """Hatching that tells runs of one kind apart: causal runs ``//``, LoRA runs ``..`` (both for causal LoRA)."""
    return ("//" if run.startswith("clm-") else "") + (".." if "-lora" in run else "")


def plot_curves(curves: Mapping[str, Sequence[Sequence[tuple[float, float]]]], out: str | Path, *, title: str,
                xlabel: str, ylabel: str, logx: bool = True) -> Path:
    """Learning curves: per run, the mean over seeds of y at each x (points where every seed has one), with the
    min-max band over seeds.

    Args:
        curves: run name -> one list of (x, y) points per seed.
        out: PNG path. title, xlabel, ylabel: text. logx: log-scaled x axis (x <= 0 points are then left out).
    """
    fig, ax = _figure((6.4, 4))
    for i, (name, seeds) in enumerate(curves.items()):
        pts = [sorted((float(x), float(y)) for x, y in s if not logx or x > 0) for s in seeds]
        pts = [p for p in pts if p]
        if not pts:
            continue
        n = min(len(p) for p in pts)
        xs = np.array([[p[j][0] for j in range(n)] for p in pts]).mean(0)  # (n,) x varies a little across seeds
        ys = np.array([[p[j][1] for j in range(n)] for p in pts])  # (seeds, n)
        c = _kind_color(name, i)
        ax.plot(xs, ys.mean(0), color=c, marker="o", label=f"{name} (mean of {len(pts)} seed{'s' if len(pts) != 1 else ''})")
        if len(pts) > 1:
            ax.fill_between(xs, ys.min(0), ys.max(0), color=c, alpha=0.2, linewidth=0)
    if logx:
        ax.set_xscale("log")
    return _finish(fig, ax, out, title, xlabel, ylabel)


def plot_bars(groups: Sequence[str], runs: Mapping[str, Sequence[tuple[float, float]]], out: str | Path, *,
              title: str, ylabel: str, references: Mapping[str, float] | None = None) -> Path:
    """Grouped bars: for each group (a BLiMP field, a task, a flag), one bar per run with its error bar.

    Args:
        groups: x-axis groups in order.
        runs: run name -> one (value, error) per group (NaN value: no bar).
        out: PNG path. title, ylabel: text.
        references: label -> y of a horizontal reference line (e.g. published BLiMP overall accuracies).
    """
    fig, ax = _figure((max(6.4, 1.1 * len(groups) + 2) + 2.4, 4.2))  # + the legend beside the axes
    width = 0.8 / max(1, len(runs))
    x = np.arange(len(groups))
    for i, (name, vals) in enumerate(runs.items()):
        v = np.array([a for a, _ in vals], dtype=float)
        e = np.array([b for _, b in vals], dtype=float)
        ax.bar(x + (i - (len(runs) - 1) / 2) * width, v, width, yerr=e, capsize=2, label=name,
               color=_kind_color(name, i), hatch=_kind_hatch(name), edgecolor="white", linewidth=0)
    for j, (label, y) in enumerate((references or {}).items()):
        ax.axhline(y, color=_FALLBACK[j % len(_FALLBACK)], linestyle="--", linewidth=1, label=label)
    ax.set_xticks(x)
    ax.set_xticklabels(groups, rotation=20, ha="right", fontsize=8)
    return _finish(fig, ax, out, title, "", ylabel, legend_outside=True)


def plot_intervals(panels: Mapping[str, Sequence[tuple[str, float, float, float]]], out: str | Path, *,
                   title: str) -> Path:
    """Differences with their intervals, one panel per measure (a forest plot): which rows are apart from zero.

    Args:
        panels: panel title -> one ``(label, difference, low, high)`` per row, drawn top to bottom.
        out: PNG path. title: the figure's title.
    """
    from matplotlib.figure import Figure

    # subtle: one row per label across all panels (the y axis is shared): a panel without a label leaves its row
    # empty instead of shifting the others under the wrong name
    labels = list(dict.fromkeys(r[0] for rows in panels.values() for r in rows))
    row = {label: len(labels) - 1 - i for i, label in enumerate(labels)}  # the first label on top
    fig = Figure(figsize=(3.6 * max(1, len(panels)) + 1.2, 0.55 * max(1, len(labels)) + 1.6))
    axes = fig.subplots(1, max(1, len(panels)), sharey=True, squeeze=False)[0]
    for ax, (name, rows) in zip(axes, panels.items()):
        for label, d, lo, hi in rows:
            ax.errorbar([d], [row[label]], xerr=[[d - lo], [hi - d]], fmt="o", capsize=3,
                        color=_kind_color(label, labels.index(label)))
        ax.axvline(0, color="#555", linewidth=1)
        ax.set_title(name, fontsize=9)
        ax.grid(True, axis="x", alpha=0.3)
    axes[0].set_yticks([row[label] for label in labels])
    axes[0].set_yticklabels(labels, fontsize=8)
    axes[0].set_ylim(-0.5, len(labels) - 0.5)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    return out
