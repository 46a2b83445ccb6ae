"""The experiment report: metrics in, ``summary.json`` + PNG charts + one self-contained ``report.html`` out.

Pipeline stage: the last step of ``r2d experiment``. :func:`summarize` reduces the runs' metrics rows to
final numbers (per task, evaluation split, metric and model: each seed's last evaluation, their mean,
standard deviation, and the R2D - RoBERTa difference of means); :func:`make_charts` draws the charts with
:mod:`r2d.analysis.plots`; :func:`write_report` writes ``summary.json`` and ``report.html`` with every chart embedded
as base64, so the page opens anywhere with no other file and no network. No JavaScript, no torch.

It does not train or evaluate anything and never invents a number: every figure comes from a
``metrics.jsonl`` row.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import logging
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path

from r2d.analysis import plots
from r2d.training.metrics import eval_key
from r2d.training.tasks import get_task

logger = logging.getLogger(__name__)

MODELS = ("r2d", "roberta")
"""Model names in report order; the difference is always ``r2d - roberta``."""


def _last(rows: Sequence[Mapping], key: str) -> tuple[float, float] | None:
    """(step, value) of the last row holding ``key``."""
    x, y = plots.series(rows, key)
    return (float(x[-1]), float(y[-1])) if len(x) else None


def summarize(pretrain: Mapping[str, Sequence[Mapping]], finetune: Mapping[str, Mapping[str, Mapping[int, Sequence[Mapping]]]],
              settings: Mapping | None = None) -> dict:
    """Final numbers of an experiment.

    Args:
        pretrain: model name -> metrics rows of its pretraining run.
        finetune: task -> model -> seed -> metrics rows of that fine-tuning run.
        settings: anything JSON-serialisable describing the run (preset, sizes, steps, data...).

    Returns:
        dict with ``settings``, ``pretrain`` (per model: last step, last ``loss``/``mlm_loss``/
        ``flag_loss``/``eval_loss`` and last per-flag F1) and ``results``: a list of rows
        ``{task, split, metric, key, models: {name: {seeds, values, mean, std, step}}, difference}``.
    """
    pre = {}
    for name, rows in pretrain.items():
        entry: dict = {}
        for key in ("loss", "mlm_loss", "flag_loss", "eval_loss", "eval_mlm_loss", "eval_flag_loss"):
            last = _last(rows, key)
            if last:
                entry[key] = last[1]
                entry["step"] = max(entry.get("step", 0), last[0])
        f1 = {flag: _last(rows, key) for flag, key in plots.flag_f1_keys(rows).items()}
        if any(f1.values()):
            entry["flag_f1"] = {flag: v[1] for flag, v in f1.items() if v}
        pre[name] = entry
    results = []
    for task_name, by_model in finetune.items():
        task = get_task(task_name)
        for split in task.eval_splits:
            for metric in task.metrics:  # the task's own metrics, headline first
                key = eval_key(task, split, metric, n_eval_splits=len(task.eval_splits))
                row = {"task": task_name, "split": split, "metric": metric, "key": key, "models": {}}
                for model, seeds in by_model.items():
                    finals = {s: _last(r, key) for s, r in sorted(seeds.items())}
                    finals = {s: v for s, v in finals.items() if v}
                    if not finals:
                        continue
                    vals = [v[1] for v in finals.values()]
                    row["models"][model] = {
                        "seeds": list(finals), "values": vals, "mean": statistics.fmean(vals),
                        "std": statistics.stdev(vals) if len(vals) > 1 else 0.0,
                        "step": max(v[0] for v in finals.values()),
                    }
                m = row["models"]
                row["difference"] = m["r2d"]["mean"] - m["roberta"]["mean"] if "r2d" in m and "roberta" in m else None
                results.append(row)
    return {"settings": dict(settings or {}), "pretrain": pre, "results": results}


def make_charts(pretrain: Mapping[str, Sequence[Mapping]],
                finetune: Mapping[str, Mapping[str, Mapping[int, Sequence[Mapping]]]],
                out_dir: str | Path, *, flag_names: Sequence[str] | None = None) -> list[tuple[str, Path]]:
    """Draw every chart of the report into ``out_dir``.

    Returns:
        list of (caption, PNG path): pretraining loss, per-flag F1 of each run that logs it, and one chart
        per task and evaluation split (the task's headline metric).
    """
    out_dir = Path(out_dir)
    charts = [("Pretraining loss (R2D: root-token mlm_loss + flag_loss = loss; RoBERTa: token loss)",
               plots.plot_pretrain_loss(pretrain, out_dir / "pretrain_loss.png"))]
    for name, rows in pretrain.items():
        if plots.flag_f1_keys(rows, flag_names):
            charts.append((f"{name}: per-flag F1 on masked rows during pretraining",
                           plots.plot_flag_f1(rows, out_dir / f"flag_f1_{name}.png", flag_names=flag_names)))
    for task_name, by_model in finetune.items():
        task = get_task(task_name)
        metric = task.metric  # its headline metric
        for split in task.eval_splits:
            key = eval_key(task, split, metric, n_eval_splits=len(task.eval_splits))
            seeds = {m: list(s.values()) for m, s in by_model.items()}
            suffix = "" if len(task.eval_splits) == 1 else f"_{split}"
            charts.append((f"{task_name} ({split}): {metric}, mean over seeds, shaded min-max",
                           plots.plot_task(task_name if not suffix else f"{task_name} {split.replace('validation_', '')}", seeds, key,
                                           out_dir / f"task_{task_name}{suffix}.png", ylabel=metric)))
    return charts


def _fmt(v: float | None, digits: int = 4) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def summary_markdown(summary: Mapping) -> str:
    """The summary table as Markdown (for docs and benchmark notes)."""
    lines = ["| task | split | metric | R2D mean ± std (n) | RoBERTa mean ± std (n) | R2D - RoBERTa |",
             "|---|---|---|---|---|---|"]
    for r in summary["results"]:
        cells = []
        for model in MODELS:
            m = r["models"].get(model)
            cells.append("n/a" if m is None else f"{m['mean']:.4f} ± {m['std']:.4f} ({len(m['values'])})")
        d = r["difference"]
        lines.append(f"| {r['task']} | {r['split']} | {r['metric']} | {cells[0]} | {cells[1]} | "
                     f"{'n/a' if d is None else f'{d:+.4f}'} |")
    return "\n".join(lines)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em} h2{margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:1em 0;font-size:.92em} th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th{background:#f3f3f3} td:first-child,td:nth-child(2),td:nth-child(3){text-align:left}
.pos{color:#1a7f37} .neg{color:#b42318} figure{display:inline-block;margin:.5em;vertical-align:top;max-width:48%}
figure img{max-width:100%;border:1px solid #eee} figcaption{font-size:.85em;color:#555}
pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:.85em}
"""


def render_html(summary: Mapping, charts: Sequence[tuple[str, Path]], *, title: str = "R2D vs RoBERTa") -> str:
    """The report page: summary table, pretraining figures, charts (base64 PNG) and settings."""
    e = html.escape
    rows = []
    for r in summary["results"]:
        cells = [e(r["task"]), e(r["split"]), e(r["metric"])]
        for model in MODELS:
            m = r["models"].get(model)
            cells.append("n/a" if m is None else f"{m['mean']:.4f} ± {m['std']:.4f} <small>(n={len(m['values'])})</small>")
        d = r["difference"]
        cls = "" if d is None or d == 0 else (' class="pos"' if d > 0 else ' class="neg"')
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + f"<td{cls}>{'n/a' if d is None else f'{d:+.4f}'}</td></tr>")
    pre_rows = []
    for name, p in summary.get("pretrain", {}).items():
        f1 = p.get("flag_f1") or {}
        f1s = ", ".join(f"{e(k)} {v:.3f}" for k, v in f1.items()) or "-"
        pre_rows.append(f"<tr><td>{e(name)}</td><td>{_fmt(p.get('step'), 0)}</td><td>{_fmt(p.get('loss'))}</td>"
                        f"<td>{_fmt(p.get('mlm_loss'))}</td><td>{_fmt(p.get('flag_loss'))}</td>"
                        f"<td>{_fmt(p.get('eval_loss'))}</td><td style='text-align:left'>{f1s}</td></tr>")
    figs = []
    for caption, path in charts:
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        figs.append(f'<figure><img alt="{e(caption)}" src="data:image/png;base64,{data}">'
                    f"<figcaption>{e(caption)}</figcaption></figure>")
    settings = e(json.dumps(summary.get("settings", {}), indent=2, sort_keys=True, default=str))
    created = e(str(summary.get("settings", {}).get("finished", _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>
<link rel="icon" href="data:,">
<style>{_CSS}</style></head>
<body>
<h1>{e(title)}</h1>
<p>Same corpus and pretraining budget for both models, then fine-tuning on each task with the same settings.
Final value = metric at the last evaluation of each fine-tuning run; mean ± sample standard deviation over
seeds; difference = R2D mean - RoBERTa mean (positive: R2D better). Report written {created}.</p>
<h2>Summary</h2>
<table id="summary"><thead><tr><th>task</th><th>split</th><th>metric</th><th>R2D</th><th>RoBERTa</th><th>R2D - RoBERTa</th></tr></thead>
<tbody>{''.join(rows)}</tbody></table>
<h2>Pretraining</h2>
<table id="pretrain"><thead><tr><th>model</th><th>steps</th><th>loss</th><th>mlm_loss</th><th>flag_loss</th><th>eval_loss</th><th>final per-flag F1</th></tr></thead>
<tbody>{''.join(pre_rows)}</tbody></table>
<p>R2D predicts root tokens and flags, RoBERTa surface tokens: the two token losses are over different
vocabularies and not directly comparable.</p>
<h2>Charts</h2>
{''.join(figs)}
<h2>Settings</h2>
<pre id="settings">{settings}</pre>
</body></html>
"""


def write_report(out_dir: str | Path, summary: Mapping, charts: Sequence[tuple[str, Path]], *,
                 title: str = "R2D vs RoBERTa") -> Path:
    """Write ``summary.json``, ``summary.md`` and the self-contained ``report.html`` into ``out_dir``.

    Returns:
        path of ``report.html``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    (out_dir / "summary.md").write_text(summary_markdown(summary) + "\n", encoding="utf-8")
    page = out_dir / "report.html"
    page.write_text(render_html(summary, charts, title=title), encoding="utf-8")
    logger.info("report written to %s", page)
    return page


def build_report(pretrain: Mapping[str, Sequence[Mapping]],
                 finetune: Mapping[str, Mapping[str, Mapping[int, Sequence[Mapping]]]],
                 out_dir: str | Path, *, settings: Mapping | None = None,
                 flag_names: Sequence[str] | None = None) -> tuple[Path, dict]:
    """:func:`summarize` + :func:`make_charts` + :func:`write_report`; returns (report.html path, summary)."""
    summary = summarize(pretrain, finetune, settings)
    charts = make_charts(pretrain, finetune, Path(out_dir) / "charts", flag_names=flag_names)
    summary["charts"] = [str(p.relative_to(out_dir)) for _, p in charts]
    return write_report(out_dir, summary, charts), summary
