"""The flag-set ablation: which flags carry R2D's gain over its 1D twin, one row per flag set, from a run's stages."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

TWIN, R2D = "clm-bpe", "clm-r2d"


def arm_runs(runs: Sequence[str]) -> list[str]:
    """The ablation's runs among ``runs``: ``clm-r2d-<set>``, untrained rows and LoRA runs left out."""
    return sorted({r for r in runs if r.startswith(R2D + "-") and not r.endswith("-untrained") and "-lora" not in r})


def _flags(tokenizer_dir: str | None) -> list[str]:
    p = Path(tokenizer_dir or "") / "r2d_tokenizer.json"
    return json.loads(p.read_text(encoding="utf-8"))["flag_names"] if p.is_file() else []


def _rows_per_second(stages: Mapping[str, dict], run: str) -> float | None:
    rates = [s["summary"].get("train_rows_per_second") for name, s in stages.items()
             if name.startswith(f"pretrain/{run}/seed") and isinstance(s.get("summary"), dict)]
    rates = [r for r in rates if r]
    return float(np.mean(rates)) if rates else None


def ablation_rows(stages: Mapping[str, dict], summary: Mapping) -> list[dict]:
    """One row per causal R2D model (``clm-r2d``, each ``clm-r2d-<set>`` of ``--flag-sets``) and the twin: flags, rows
    per 1,000 held-out bytes, bits per byte, BLiMP, the paired difference from the twin and the time of a step against
    the twin's. Empty when the run has no flag set besides the pair's."""
    arms = arm_runs(list(summary.get("bpb_seeds", {})) + list(summary.get("blimp_seeds", {})))
    if not arms:
        return []
    toks = stages.get("tokenizers", {})
    rows_heldout = toks.get("rows_per_1000_bytes_heldout", {})
    info = {R2D: (_flags(toks.get("r2d")), rows_heldout.get("r2d")), TWIN: ([], rows_heldout.get("bpe"))}
    for run in arms:
        t = stages.get(f"tokenizers/{run.removeprefix('clm-')}", {})
        info[run] = (t.get("flags", []), t.get("rows_per_1000_bytes_heldout"))
    twin_rows, twin_rate = info[TWIN][1], _rows_per_second(stages, TWIN)
    out = []
    for run in [R2D, *arms, TWIN]:
        flags, rows = info[run]
        rate = _rows_per_second(stages, run)
        out.append({
            "run": run, "flags": flags, "rows_per_1000_bytes": rows,
            "rows_vs_twin": rows / twin_rows if rows and twin_rows else None,
            "bpb": summary.get("bpb_seeds", {}).get(run, {}),
            "blimp": summary.get("blimp_seeds", {}).get(run, {}),
            # equal rows per step, so the time of a step is inversely proportional to rows per second
            "step_time_vs_twin": twin_rate / rate if rate and twin_rate else None,
            "vs_twin": {c["what"]: {k: c[k] for k in ("difference", "low", "high", "excludes_zero")}
                        for c in summary.get("comparisons", []) if c["a"] == run and c["b"] == TWIN},
        })
    return out


def _flag_label(flags: Sequence[str]) -> str:
    """``the seven + ~ly, un~``, ``NoSpace, FirstCap, AllCaps`` or ``(none: 1D BPE)``: a row's flags in a few words."""
    from r2d.flags import DEFAULT_FLAG_NAMES, flag_to_affix

    if not flags:
        return "(none: 1D BPE)"
    n = len(DEFAULT_FLAG_NAMES)
    if tuple(flags[:n]) == DEFAULT_FLAG_NAMES:
        return "the seven" + (" + " + ", ".join(flag_to_affix(f) or f for f in flags[n:]) if flags[n:] else "")
    return ", ".join(flags)


def _ci(c: Mapping | None, digits: int = 3) -> str:
    return "" if not c else f"{c['difference']:+.{digits}f} [{c['low']:+.{digits}f}, {c['high']:+.{digits}f}]"


def _ms(s: Mapping | None, digits: int = 3) -> str:
    return "n/a" if not s else f"{s['mean']:.{digits}f} ± {s['std']:.{digits}f}"


def ablation_table(rows: Sequence[Mapping]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of strings for ``summary.md`` and ``report.html``."""
    sets = sorted({d for r in rows for d in r["bpb"]})
    header = ["run", "flags", "rows / 1,000 B", "rows × twin"]
    for ds in sets:
        header += [f"bits per byte, {ds}", "- twin [95%]"]
    header += ["BLiMP", "- twin [95%]", "step time × twin"]
    table = []
    for r in rows:
        cells = [r["run"], _flag_label(r["flags"]),
                 f"{r['rows_per_1000_bytes']:.1f}" if r["rows_per_1000_bytes"] else "n/a",
                 f"{r['rows_vs_twin']:.3f}" if r["rows_vs_twin"] else "n/a"]
        for ds in sets:
            cells += [_ms(r["bpb"].get(ds), 4), _ci(r["vs_twin"].get(f"bits per byte, {ds}"), 4)]
        cells += [_ms(r["blimp"].get("overall")), _ci(r["vs_twin"].get("BLiMP overall accuracy")),
                  f"{r['step_time_vs_twin']:.3f}" if r["step_time_vs_twin"] else "n/a"]
        table.append(cells)
    return header, table


def ablation_chart(rows: Sequence[Mapping], out: str | Path) -> Path | None:
    """The differences from the twin with their intervals, one panel per measure (None: nothing to draw)."""
    from r2d.analysis.plots import plot_intervals

    whats = sorted({w for r in rows for w in r["vs_twin"]})
    panels = {}
    for w in whats:
        pts = [(r["run"], c["difference"], c["low"], c["high"]) for r in rows if (c := r["vs_twin"].get(w))]
        if pts:
            panels[w.replace("bits per byte, ", "bits per byte\n").replace(" accuracy", "")] = pts
    if not panels:
        return None
    return plot_intervals(panels, out, title="Each flag set minus the 1D twin (95% paired bootstrap; left of 0 is "
                                             "better for bits per byte, right for BLiMP)")
