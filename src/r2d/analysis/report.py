"""The experiment report: a run folder's stage results in, ``summary.json``, ``summary.md``, PNG charts and one
self-contained ``report.html`` out (:func:`build_report`). Every figure comes from a stage file.
"""

from __future__ import annotations

import base64
import html
import json
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from r2d.analysis import plots
from r2d.analysis.ablation import ablation_chart, ablation_rows, ablation_table, arm_runs
from r2d.analysis.electra import COMPARISONS as ELECTRA_COMPARISONS
from r2d.analysis.electra import detection_table, electra_summary, electra_table
from r2d.analysis.scaling import (point_suffixes, scaling_chart, scaling_rows, scaling_table, trend,
                                  trend_lines)
from r2d.analysis.protocol import BLIMP_REFERENCE, PAIRS, protocol_lines, signal, signal_lines, verdict
from r2d.evaluation.bootstrap import mean_stat, metric_stat, paired_bootstrap, ratio_stat, seed_summary
from r2d.training.metrics import compute_task_metrics, eval_key
from r2d.training.tasks import get_task

logger = logging.getLogger(__name__)

N_BOOT = 1000
NAMES = {"clm-r2d": "R2D (causal)", "clm-bpe": "BPE twin (causal)", "mlm-r2d": "R2D (MLM)",
         "mlm-roberta": "RoBERTa (MLM)", "electra-r2d": "R2D (ELECTRA)", "electra-roberta": "ELECTRA twin (1D)"}


def _stages(out: Path) -> dict[str, dict]:
    """Every finished stage of a run folder: name (``eval/bpb/clm-r2d/seed0/step-0``) -> its result."""
    found = {}
    for f in sorted((out / "stages").glob("*.json")):
        try:
            found[f.stem.replace("__", "/")] = json.loads(f.read_text(encoding="utf-8"))
        except ValueError:
            continue
    return found


def _seed(name: str) -> int:
    return int(name.rsplit("seed", 1)[1].split("/")[0])


def _base(run: str) -> str:
    return run.removesuffix("-untrained")


def summarize(out: str | Path, settings: Mapping | None = None, *, n_boot: int = N_BOOT) -> dict:
    """The numbers of the comparison from the finished stages of ``out``, with mean +- std over seeds and paired
    bootstrap intervals of the differences.

    Keys are per RUN (``clm-r2d``, ``clm-bpe``, ``mlm-roberta``; ``-untrained`` for the untrained rows), e.g.
    ``"bpb": {RUN: {DATASET: x}}`` and ``"blimp": {RUN: {"overall": x, FIELD: x}}``.
    """
    out = Path(out)
    st = _stages(out)
    settings = dict(settings or {})
    curve_docs = settings.get("sizes", {}).get("curve_docs")
    summary: dict = {"settings": settings, "protocol": protocol_lines(settings), "bpb": {}, "bpb_seeds": {},
                     "blimp": {}, "blimp_seeds": {}, "blimp_reference": BLIMP_REFERENCE, "curves": {},
                     "finetune": {}, "flags": {}, "comparisons": []}

    # bits per byte: step 0 = untrained row, the last step = the pretrained model; every step = a curve point
    bpb_items: dict[str, dict[str, dict[int, tuple[list, list]]]] = defaultdict(lambda: defaultdict(dict))
    steps: dict[tuple[str, int], list[tuple[int, dict]]] = defaultdict(list)
    for name, res in st.items():
        if name.startswith("eval/bpb/"):
            _, _, run, seed, step = name.split("/")
            steps[run, int(seed[4:])].append((int(step[5:]), res))
    for (run, seed), evals in sorted(steps.items()):
        evals.sort(key=lambda e: e[0])
        points = []
        for step, res in evals:
            d = res["wikipedia_heldout"]
            n = curve_docs or len(d["bits"])
            snap = res.get("snapshot", {})
            points.append({"step": step, "rows_seen": snap.get("rows_seen", 0), "train_seconds": snap.get("train_seconds", 0.0),
                           "bits_per_byte": sum(d["bits"][:n]) / max(1, sum(d["bytes"][:n]))})
        summary["curves"].setdefault(run, {})[str(seed)] = points
        for label, (step, res) in (("-untrained", evals[0]), ("", evals[-1])):
            if (label == "") == (step == 0):  # no step 0: a shorter schedule's untrained row is its pair's
                continue
            for ds, d in res.items():
                if isinstance(d, dict) and "bits" in d:
                    bpb_items[run + label][ds][seed] = (d["bits"], d["bytes"])
    for run, by_ds in sorted(bpb_items.items()):
        for ds, seeds in sorted(by_ds.items()):
            vals = [sum(b) / max(1, sum(n)) for b, n in seeds.values()]
            summary["bpb_seeds"].setdefault(run, {})[ds] = seed_summary(vals)
            summary["bpb"].setdefault(run, {})[ds] = float(np.mean(vals))

    # BLiMP
    blimp_right: dict[str, dict[int, np.ndarray]] = defaultdict(dict)
    blimp_rows: dict[str, list[dict]] = defaultdict(list)
    for name, res in st.items():
        if name.startswith("eval/blimp/"):
            run = name.split("/")[2]
            blimp_right[run][_seed(name)] = np.frombuffer(res["right"].encode(), dtype=np.uint8) - ord("0")
            blimp_rows[run].append(res)
    for run, rows in sorted(blimp_rows.items()):
        keys = [k for k, v in rows[0].items() if isinstance(v, float) and k != "seconds"]  # the stage's own time
        summary["blimp_seeds"][run] = {k: seed_summary([r[k] for r in rows]) for k in keys}
        summary["blimp"][run] = {k: summary["blimp_seeds"][run][k]["mean"] for k in keys}
        summary.setdefault("blimp_pairs", {})[run] = rows[0].get("pairs")

    # fine-tuning: headline metric on the test split of each seed, and the predictions for the bootstrap
    preds: dict[tuple[str, str], dict[int, dict]] = defaultdict(dict)
    ft_rows: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for name, res in st.items():
        if name.startswith("finetune/"):
            _, task, run, seed = name.split("/")
            ft_rows[task, run].append(res)
            p = out / "finetune" / task / run / seed / "predictions.json"
            if p.is_file():
                preds[task, run][int(seed[4:])] = json.loads(p.read_text(encoding="utf-8"))
    for (task, run), rows in sorted(ft_rows.items()):
        t = get_task(task)
        split = t.eval_splits[0]
        key = eval_key(t, split, t.metric, n_eval_splits=len(t.eval_splits))
        entry = {"headline": t.metric, "split": split,
                 t.metric: seed_summary([r["final"].get(key, float("nan")) for r in rows]),
                 "best_step": [r.get("best_step") for r in rows], "stopped_at": [r.get("stopped_at") for r in rows],
                 "train_seconds": seed_summary([r.get("train_seconds") or 0.0 for r in rows]),
                 "trainable_parameters": rows[0].get("trainable_parameters")}
        summary["finetune"].setdefault(task, {})[run] = entry

    # per-flag F1
    for name, res in st.items():
        if name.startswith("eval/flags/"):
            summary["flags"][name.split("/")[2]] = res

    # paired comparisons
    comps = summary["comparisons"]

    def add(what: str, a: str, b: str, stat_a, stat_b, n: int, higher: bool, a_mean: float, b_mean: float) -> None:
        c = paired_bootstrap(stat_a, stat_b, n, n_boot=n_boot)
        comps.append({"what": what, "a": a, "b": b, "a_mean": a_mean, "b_mean": b_mean, "higher_is_better": higher, **c})

    def bpb_pair(a: str, b: str, ds: str, paired_seeds: bool) -> None:
        sa, sb = bpb_items.get(a, {}).get(ds), bpb_items.get(b, {}).get(ds)
        if not sa or not sb:
            return
        ka, kb = sorted(sa), sorted(sb)
        if paired_seeds:
            ka = kb = sorted(set(ka) & set(kb))
        stat_a = ratio_stat([sa[k][0] for k in ka], [sa[k][1] for k in ka])
        stat_b = ratio_stat([sb[k][0] for k in kb], [sb[k][1] for k in kb])
        n = len(sa[ka[0]][0])
        add(f"bits per byte, {ds}", a, b, stat_a, stat_b, n, False, summary["bpb"][a][ds], summary["bpb"][b][ds])

    arms = arm_runs(list(bpb_items) + list(blimp_right))  # the flag sets of the ablation, if any
    for ds in sorted({d for r in bpb_items.values() for d in r}):
        bpb_pair("clm-r2d", "clm-bpe", ds, False)
        for run in ("clm-r2d", "clm-bpe", *arms):
            bpb_pair(run, f"{run}-untrained", ds, True)
        for run in arms:
            bpb_pair(run, "clm-bpe", ds, False)
            bpb_pair(run, "clm-r2d", ds, False)

    points = point_suffixes(list(bpb_items))  # the scaling study's, if any: clm-r2d@micro against clm-bpe@micro
    for ds in sorted({d for r in bpb_items.values() for d in r}):
        for s in points:
            bpb_pair(f"clm-r2d@{s}", f"clm-bpe@{s}", ds, False)

    def blimp_pair(a: str, b: str) -> None:
        ra, rb = blimp_right.get(a), blimp_right.get(b)
        if not ra or not rb:
            return
        add("BLiMP overall accuracy", a, b, mean_stat([ra[k] for k in sorted(ra)]), mean_stat([rb[k] for k in sorted(rb)]),
            len(next(iter(ra.values()))), True, summary["blimp"][a]["overall"], summary["blimp"][b]["overall"])

    for obj, kinds in PAIRS:
        blimp_pair(f"{obj}-{kinds[0]}", f"{obj}-{kinds[1]}")
        for k in kinds:
            blimp_pair(f"{obj}-{k}", f"{obj}-{k}-untrained")
    for run in arms:
        blimp_pair(run, f"{run}-untrained")
        blimp_pair(run, "clm-bpe")
        blimp_pair(run, "clm-r2d")
    for s in points:
        blimp_pair(f"clm-r2d@{s}", f"clm-bpe@{s}")

    def ft_pair(task: str, a: str, b: str) -> None:
        pa, pb = preds.get((task, a)), preds.get((task, b))
        if not pa or not pb:
            return
        t = get_task(task)
        split = t.eval_splits[0]
        labels = np.asarray(next(iter(pa.values()))[split]["labels"])

        def stat(p):
            arrays = [np.asarray(x[split]["predictions"]) for x in p.values()]
            return metric_stat(lambda y, q: compute_task_metrics(t, q, y)[t.metric], arrays, labels)

        fa, fb = summary["finetune"][task][a], summary["finetune"][task][b]
        add(f"{task} {t.metric} ({split})", a, b, stat(pa), stat(pb), len(labels), True,
            fa[t.metric]["mean"], fb[t.metric]["mean"])

    for task, runs in summary["finetune"].items():
        for obj, kinds in PAIRS:
            ft_pair(task, f"{obj}-{kinds[0]}", f"{obj}-{kinds[1]}")
            for k in kinds:
                ft_pair(task, f"{obj}-{k}", f"{obj}-{k}-untrained")
        for run in runs:
            if "-lora" in run:
                ft_pair(task, run, run.split("-lora")[0])
        for a, b in ELECTRA_COMPARISONS:  # the ELECTRA arm's, besides the pairs'
            if not any((c["a"], c["b"]) == (a, b) and c["what"].startswith(f"{task} ") for c in comps):
                ft_pair(task, a, b)

    summary["electra"] = electra_summary(st, summary)
    summary["ablation"] = ablation_rows(st, summary)
    summary["scaling"] = scaling_rows(st, summary)
    summary["scaling_trend"] = {axis: {c["what"]: tr for c in comps if c["a"] == "clm-r2d" and c["b"] == "clm-bpe"
                                       and "bits" in c["what"] and (tr := trend(summary["scaling"], axis, c["what"]))}
                                for axis in ("size", "rows")} if summary["scaling"] else {}
    summary["signal"] = signal(summary)
    summary["verdict"] = verdict(comps) + signal_lines(summary["signal"]) + trend_lines(summary["scaling_trend"])
    return summary


# ---------------------------------------------------------------------------------------------------------
# charts


def make_charts(summary: Mapping, out_dir: str | Path) -> list[tuple[str, Path]]:
    """Draw every chart of the report into ``out_dir``; returns (caption, PNG path) pairs."""
    out_dir = Path(out_dir)
    charts = []
    curves = {run: c for run, c in summary.get("curves", {}).items() if "@" not in run}  # the pair's and arms'
    if curves:
        by_rows = {run: [[(p["rows_seen"], p["bits_per_byte"]) for p in pts] for pts in seeds.values()]
                   for run, seeds in curves.items()}
        by_time = {run: [[(p["train_seconds"], p["bits_per_byte"]) for p in pts] for pts in seeds.values()]
                   for run, seeds in curves.items()}
        charts.append(("Bits per byte on held-out Wikipedia against training rows seen (the same for both models "
                       "of the pair), mean over seeds, shaded min-max",
                       plots.plot_curves(by_rows, out_dir / "curve_bpb_rows.png", title="Learning curves: text seen",
                                         xlabel="training rows seen", ylabel="bits per byte (held-out Wikipedia)")))
        charts.append(("The same bits per byte against training seconds on this machine",
                       plots.plot_curves(by_time, out_dir / "curve_bpb_seconds.png", title="Learning curves: wall time",
                                         xlabel="training seconds", ylabel="bits per byte (held-out Wikipedia)")))
    if summary.get("scaling") and (path := scaling_chart(summary["scaling"], out_dir / "scaling.png")):
        charts.append(("The scaling study: R2D minus its 1D twin against parameters outside the root embedding (the "
                       "pair's steps) and against rows seen (the pair's size, each point trained to the end of its "
                       "own schedule), 95% paired bootstrap intervals over held-out documents and BLiMP pairs", path))
    if summary.get("ablation") and (path := ablation_chart(summary["ablation"], out_dir / "ablation.png")):
        charts.append(("The flag-set ablation: each R2D flag set minus the 1D twin at equal compute, with 95% paired "
                       "bootstrap intervals (items: held-out documents, BLiMP pairs)", path))
    bpb = {run: r for run, r in summary.get("bpb_seeds", {}).items() if "@" not in run}  # scaling: its own chart
    if bpb:
        sets = sorted({d for r in bpb.values() for d in r})
        charts.append(("Bits per byte of the final models and their untrained rows (error bar: std over seeds; "
                       "lower is better)", plots.plot_bars(
                           sets, {run: [(r[d]["mean"], r[d]["std"]) if d in r else (np.nan, 0) for d in sets]
                                  for run, r in bpb.items() if "untrained" not in run},
                           out_dir / "bpb.png", title="Bits per byte (pretrained)", ylabel="bits per byte")))
    blimp = {run: r for run, r in summary.get("blimp_seeds", {}).items() if "@" not in run}
    if blimp:
        fields = ["overall"] + sorted({k for r in blimp.values() for k in r} - {"overall"})
        charts.append(("BLiMP accuracy by field (error bar: std over seeds); dashed: published overall accuracy "
                       "over all 67 paradigms", plots.plot_bars(
                           fields, {run: [(r[f]["mean"], r[f]["std"]) if f in r else (np.nan, 0) for f in fields]
                                    for run, r in blimp.items()},
                           out_dir / "blimp_fields.png", title="BLiMP by field", ylabel="accuracy",
                           references=summary.get("blimp_reference"))))
    for task, runs in summary.get("finetune", {}).items():
        head = next(iter(runs.values()))["headline"]
        charts.append((f"{task}: {head} on the validation split with the best-dev weights (error bar: std over seeds)",
                       plots.plot_bars([task], {run: [(r[head]["mean"], r[head]["std"])] for run, r in runs.items()},
                                       out_dir / f"finetune_{task}.png", title=f"Fine-tuning: {task}", ylabel=head)))
    for run, res in summary.get("flags", {}).items():
        names = list(res["flags"])
        charts.append((f"{run}: per-flag F1 on {res['rows']} masked held-out rows, calibrated probability >= 0.5 "
                       "against always on", plots.plot_bars(
                           names, {"model F1": [(res["flags"][n]["f1"], 0) for n in names],
                                   "always-on F1": [(res["flags"][n]["always_on_f1"], 0) for n in names]},
                           out_dir / f"flags_{run}.png", title=f"Per-flag F1: {run}", ylabel="F1")))
    return charts


# ---------------------------------------------------------------------------------------------------------
# text


def _ms(s: Mapping | None, digits: int = 4) -> str:
    return "n/a" if not s else f"{s['mean']:.{digits}f} ± {s['std']:.{digits}f} (n={s['n']})"


def tables(summary: Mapping) -> dict[str, tuple[list[str], list[list[str]]]]:
    """The report's tables as (header, rows) of strings: bpb, blimp, finetune, flags, comparisons."""
    out = {"electra": electra_table(summary["electra"]) if summary.get("electra") else ([], []),
           "detection": detection_table(summary["electra"]) if summary.get("electra") else ([], []),
           "ablation": ablation_table(summary["ablation"]) if summary.get("ablation") else ([], []),
           "scaling": scaling_table(summary["scaling"]) if summary.get("scaling") else ([], [])}
    bpb = summary.get("bpb_seeds", {})
    sets = sorted({d for r in bpb.values() for d in r})
    out["bpb"] = (["run", *sets], [[run, *(_ms(r.get(d)) for d in sets)] for run, r in sorted(bpb.items())])
    blimp = summary.get("blimp_seeds", {})
    fields = ["overall"] + sorted({k for r in blimp.values() for k in r} - {"overall"})
    rows = [[run, *(_ms(r.get(f), 3) for f in fields)] for run, r in sorted(blimp.items())]
    rows += [[f"published: {k} (all 67 paradigms)", f"{v:.3f}", *([""] * (len(fields) - 1))]
             for k, v in summary.get("blimp_reference", {}).items()] if blimp else []
    out["blimp"] = (["run", *fields], rows)
    ft = []
    for task, runs in summary.get("finetune", {}).items():
        for run, r in sorted(runs.items()):
            ft.append([task, run, f"{r['headline']} ({r['split']})", _ms(r[r['headline']]),
                       ", ".join(str(s) for s in r["best_step"]), str(r.get("trainable_parameters"))])
    out["finetune"] = (["task", "run", "metric", "mean ± std", "best-dev steps", "trained parameters"], ft)
    fl = []
    for run, res in summary.get("flags", {}).items():
        for name, f in res["flags"].items():
            ci = f["difference_ci"]
            fl.append([run, name, f"{f['rate']:.3%}", str(f["positives"]), f"{f['f1']:.3f}", f"{f['always_on_f1']:.3f}",
                       f"{ci['difference']:+.3f} [{ci['low']:+.3f}, {ci['high']:+.3f}]"])
    out["flags"] = (["run", "flag", "rate", "positives", "F1 (p >= 0.5)", "always-on F1", "difference [95%]"], fl)
    out["comparisons"] = (["comparison", "a", "b", "a", "b", "a - b [95% interval]", "excludes 0"],
                          [[c["what"], c["a"], c["b"], f"{c['a_mean']:.4f}", f"{c['b_mean']:.4f}",
                            f"{c['difference']:+.4f} [{c['low']:+.4f}, {c['high']:+.4f}]",
                            "yes" if c["excludes_zero"] else "no"] for c in summary.get("comparisons", [])])
    return out


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


TITLES = {"electra": "ELECTRA against MLM at equal training FLOPs (fine-tuning, untrained rows included)",
          "detection": "ELECTRA discriminators: replaced roots and changed flags on held-out rows",
          "ablation": "Which flags carry the gain: flag sets at equal compute",
          "scaling": "The gain against scale: model size and text seen", "comparisons": "Paired comparisons",
          "bpb": "Bits per byte (mean ± std over seeds)",
          "blimp": "BLiMP accuracy by field", "finetune": "Fine-tuning (untrained rows included)",
          "flags": "Per-flag F1 against always on"}


def summary_markdown(summary: Mapping) -> str:
    """Verdict, tables and protocol as Markdown (``summary.md``; printed by ``r2d experiment``)."""
    parts = ["## Verdict (computed from the numbers)", "", *[f"- {v}" for v in summary.get("verdict", [])]]
    for key, (header, rows) in tables(summary).items():
        if rows:
            parts += ["", f"## {TITLES[key]}", "", _md_table(header, rows)]
    parts += ["", "## Protocol", "", *[f"- {p}" for p in summary.get("protocol", [])]]
    return "\n".join(parts)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em} h2{margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:1em 0;font-size:.88em} th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th{background:#f3f3f3} td:first-child{text-align:left}
figure{display:inline-block;margin:.5em;vertical-align:top;max-width:48%}
figure img{max-width:100%;border:1px solid #eee} figcaption{font-size:.85em;color:#555}
pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:.85em} li{margin:.3em 0}
"""


def render_html(summary: Mapping, charts: Sequence[tuple[str, Path]], *, title: str = "R2D: the comparison") -> str:
    """The report page: verdict, tables, charts (base64 PNG), protocol and settings."""
    e = html.escape
    body = [f"<h1>{e(title)}</h1>", '<h2>Verdict</h2><ul id="verdict">',
            *[f"<li>{e(v)}</li>" for v in summary.get("verdict", [])], "</ul>"]
    for key, (header, rows) in tables(summary).items():
        if not rows:
            continue
        body.append(f'<h2>{e(TITLES[key])}</h2><table id="{key}"><thead><tr>'
                    + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr></thead><tbody>"
                    + "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows)
                    + "</tbody></table>")
    body.append("<h2>Charts</h2>")
    for caption, path in charts:
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        body.append(f'<figure><img alt="{e(caption)}" src="data:image/png;base64,{data}">'
                    f"<figcaption>{e(caption)}</figcaption></figure>")
    body += ['<h2>Protocol</h2><ul id="protocol">', *[f"<li>{e(p)}</li>" for p in summary.get("protocol", [])], "</ul>"]
    left = summary.get("settings", {}).get("sizes", {}).get("left_out")
    if left:
        body.append(f"<p><b>Left out of this preset:</b> {e(left)}</p>")
    settings = e(json.dumps(summary.get("settings", {}), indent=2, sort_keys=True, default=str))
    body.append(f'<h2>Settings</h2><pre id="settings">{settings}</pre>')
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
            f'<link rel="icon" href="data:,"><style>{_CSS}</style></head>\n<body>\n' + "\n".join(body)
            + "\n</body></html>\n")


def write_report(out_dir: str | Path, summary: Mapping, charts: Sequence[tuple[str, Path]], *,
                 title: str = "R2D: the comparison") -> Path:
    """Write ``summary.json``, ``summary.md`` and the self-contained ``report.html`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    (out_dir / "summary.md").write_text(summary_markdown(summary) + "\n", encoding="utf-8")
    page = out_dir / "report.html"
    page.write_text(render_html(summary, charts, title=title), encoding="utf-8")
    logger.info("report written to %s", page)
    return page


def build_report(out: str | Path, *, settings: Mapping | None = None, n_boot: int = N_BOOT) -> tuple[Path, dict]:
    """:func:`summarize` + :func:`make_charts` + :func:`write_report` for the run folder ``out``."""
    out = Path(out)
    summary = summarize(out, settings, n_boot=n_boot)
    charts = make_charts(summary, out / "charts")
    summary["charts"] = [str(p.relative_to(out)) for _, p in charts]
    return write_report(out, summary, charts), summary


__all__ = ["summarize", "make_charts", "tables", "summary_markdown", "render_html", "write_report", "build_report"]
