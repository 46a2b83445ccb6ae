"""The ELECTRA arm of the report: the MLM and ELECTRA pairs at equal training FLOPs (steps, FLOPs, fine-tuning
against the untrained rows) and the discriminators' detection of replaced roots and changed flags on held-out rows,
beside always "not replaced" / "unchanged"."""

from __future__ import annotations

from collections.abc import Mapping

RUNS = ("mlm-r2d", "mlm-roberta", "electra-r2d", "electra-roberta", "mlm-r2d-untrained", "mlm-roberta-untrained")
"""the arm's fine-tuned rows, in the tables' order"""
COMPARISONS = (("electra-r2d", "electra-roberta"), ("electra-r2d", "mlm-r2d"), ("electra-roberta", "mlm-roberta"),
               ("electra-r2d", "mlm-r2d-untrained"), ("electra-roberta", "mlm-roberta-untrained"),
               ("mlm-r2d", "mlm-roberta"))
"""the arm's paired fine-tuning comparisons (a, b): the ELECTRA pair, each ELECTRA model against the MLM model of its
input at equal FLOPs and against that input's untrained encoder, and the MLM pair"""


def electra_summary(stages: Mapping[str, dict], summary: Mapping) -> dict:
    """``{"compute", "finetune", "comparisons", "detection"}`` of the arm from a run's stages and summary; ``{}``
    without the arm."""
    plan = stages.get("electra/compute")
    if not plan:
        return {}
    detection = {}
    for name, res in sorted(stages.items()):
        if name.startswith("pretrain/electra-") and isinstance(res.get("summary"), dict):
            run = name.split("/")[1]
            last = res["summary"].get("last_eval", {})
            detection.setdefault(run, {})[name.split("/")[2]] = {
                k.removeprefix("eval_"): v for k, v in last.items()
                if "replaced" in k or "change" in k or "unchanged" in k}
    finetune = {task: {run: runs[run] for run in RUNS if run in runs}
                for task, runs in summary.get("finetune", {}).items() if any(r.startswith("electra-") for r in runs)}
    comparisons = [c for c in summary.get("comparisons", []) if (c["a"], c["b"]) in COMPARISONS
                   and c["what"].split(" ")[0] in finetune]
    return {"compute": {k: plan[k] for k in ("steps", "rows_per_step", "mlm_probability", "models")},
            "finetune": finetune, "comparisons": comparisons, "detection": detection}


def _ms(s: Mapping | None) -> str:
    return "n/a" if not s else f"{s['mean']:.4f} ± {s['std']:.4f} (n={s['n']})"


def electra_table(arm: Mapping) -> tuple[list[str], list[list[str]]]:
    """(header, rows): per run its steps and estimated training FLOPs, then each task's headline with its seeds."""
    models = arm["compute"]["models"]
    tasks = list(arm["finetune"])
    header = ["run", "steps", "training FLOPs", *(f"{t} (mean ± std)" for t in tasks)]
    rows = []
    for run in RUNS:
        base = run.removesuffix("-untrained")
        m = models.get(base, {}) if run == base else {}
        cells = [run, str(m.get("steps", 0 if run != base else "n/a")),
                 f"{m['training_flops']:.3g}" if m else ("0 (untrained)" if run != base else "n/a")]
        for t in tasks:
            r = arm["finetune"][t].get(run)
            cells.append(_ms(r[r["headline"]]) if r else "n/a")
        rows.append(cells)
    for c in arm["comparisons"]:
        rows.append([f"{c['what']}: {c['a']} - {c['b']}", "", "",
                     *(f"{c['difference']:+.4f} [{c['low']:+.4f}, {c['high']:+.4f}]" if c["what"].startswith(t) else ""
                       for t in tasks)])
    return header, rows


def detection_table(arm: Mapping) -> tuple[list[str], list[list[str]]]:
    """(header, rows): each discriminator's detection on held-out rows, roots then each flag, beside the accuracy of
    always "not replaced" (roots) / "unchanged" (flags)."""
    header = ["run", "seed", "target", "rate", "accuracy", "always-negative accuracy", "precision", "recall", "F1"]
    rows = []
    for run, seeds in arm["detection"].items():
        for seed, d in seeds.items():
            if "replaced_f1" in d:
                rows.append([run, seed, "root replaced", *(f"{d.get(k, float('nan')):.3f}" for k in (
                    "replaced_rate", "replaced_accuracy", "always_not_replaced_accuracy", "replaced_precision",
                    "replaced_recall", "replaced_f1"))])
            if "replaced_f1_masked" in d:
                rows.append([run, seed, "root replaced (masked rows)", f"{d['replaced_rate_masked']:.3f}",
                             f"{d['replaced_accuracy_masked']:.3f}", f"{1 - d['replaced_rate_masked']:.3f}",
                             f"{d['replaced_precision_masked']:.3f}", f"{d['replaced_recall_masked']:.3f}",
                             f"{d['replaced_f1_masked']:.3f}"])
            for flag in [k.removeprefix("change_f1_") for k in d if k.startswith("change_f1_")]:
                rows.append([run, seed, f"{flag} changed", *(f"{d.get(k, float('nan')):.3f}" for k in (
                    f"change_rate_{flag}", f"change_accuracy_{flag}", f"always_unchanged_accuracy_{flag}",
                    f"change_precision_{flag}", f"change_recall_{flag}", f"change_f1_{flag}"))])
    return header, rows


__all__ = ["RUNS", "COMPARISONS", "electra_summary", "electra_table", "detection_table"]
