"""The scaling study: the causal pair's gap against model size and against text seen, read from a run's stages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

TWIN, R2D = "clm-bpe", "clm-r2d"
AXES = {"size": "parameters outside the root embedding", "rows": "training rows seen"}


def point_suffixes(runs: Sequence[str]) -> list[str]:
    """The scaling points among run names: ``clm-r2d@micro-untrained`` -> ``micro``."""
    return sorted({r.split("@", 1)[1].removesuffix("-untrained") for r in runs if r.startswith(R2D + "@")})


def _pretrain_info(stages: Mapping[str, dict], run: str) -> dict | None:
    """Size, steps, rows seen and parameters outside the root embedding of ``run`` (its first finished seed)."""
    from r2d.training.presets import PRESETS

    for name in sorted(stages):
        if name.startswith(f"pretrain/{run}/seed"):
            s, a = stages[name].get("summary", {}), stages[name].get("args", {})
            if not s.get("num_parameters"):
                continue
            return {"size": s["preset"], "steps": s["steps"],
                    "rows_seen": s["steps"] * a["batch_size"] * a["max_length"],
                    "parameters": s["num_parameters"],
                    "non_embedding": s["num_parameters"] - s["vocab_size"] * PRESETS[s["preset"]]["hidden_size"]}
    return None


def scaling_rows(stages: Mapping[str, dict], summary: Mapping) -> list[dict]:
    """One dict per point with both runs finished (the pair itself, then each ``--scaling`` point such as
    ``clm-r2d@micro``): size, rows seen, bits per byte and BLiMP of both models and their paired gap, absolute and
    relative to the twin. Empty when the run has no scaling point."""
    suffixes = point_suffixes(list(summary.get("bpb_seeds", {})))
    if not suffixes:
        return []
    out = []
    for suffix in ["", *suffixes]:
        r2d, twin = (R2D + f"@{suffix}", TWIN + f"@{suffix}") if suffix else (R2D, TWIN)
        info, twin_info = _pretrain_info(stages, r2d), _pretrain_info(stages, twin)
        bpb, twin_bpb = summary.get("bpb_seeds", {}).get(r2d), summary.get("bpb_seeds", {}).get(twin)
        if not (info and twin_info and bpb and twin_bpb):
            continue
        gaps = {}
        for c in summary.get("comparisons", []):
            if c["a"] == r2d and c["b"] == twin:
                rel = {k: c[k] / c["b_mean"] for k in ("difference", "low", "high")} if "bits" in c["what"] else None
                gaps[c["what"]] = {**{k: c[k] for k in ("difference", "low", "high", "excludes_zero")},
                                   "relative": rel}
        out.append({"point": suffix or "(the pair)", "r2d": r2d, "twin": twin, **info,
                    "twin_non_embedding": twin_info["non_embedding"], "bpb": bpb, "twin_bpb": twin_bpb,
                    "blimp": summary.get("blimp_seeds", {}).get(r2d, {}).get("overall"),
                    "twin_blimp": summary.get("blimp_seeds", {}).get(twin, {}).get("overall"),
                    "seeds": min(next(iter(bpb.values()))["n"], next(iter(twin_bpb.values()))["n"]), "gap": gaps})
    main = next((p for p in out if p["r2d"] == R2D), None)
    for p in out:
        p["axes"] = [a for a, key in (("size", "steps"), ("rows", "size")) if main and p[key] == main[key]]
    return out


def axis_points(points: Sequence[Mapping], axis: str) -> list[Mapping]:
    """The points along ``axis`` (``size``: the pair's steps; ``rows``: the pair's model size), in x order."""
    x = "non_embedding" if axis == "size" else "rows_seen"
    return sorted((p for p in points if axis in p["axes"]), key=lambda p: p[x])


def trend(points: Sequence[Mapping], axis: str, what: str, at: float = 100.0) -> dict | None:
    """The relative gap of ``what`` against log10 of the axis, fitted by least squares over the points' means.

    Returns ``{"per_4x": change of the relative gap per 4x of the axis, "at": the line's value at ``at`` times the
    pair's own x, "points": n}``, or None with fewer than 2 points. With 3 points this is a description, not a
    forecast: the report and docs say so.
    """
    x_key = "non_embedding" if axis == "size" else "rows_seen"
    pts = [(p[x_key], p["gap"][what]["relative"]["difference"]) for p in axis_points(points, axis)
           if p["gap"].get(what, {}).get("relative")]
    main = next((p[x_key] for p in points if p["r2d"] == R2D), None)
    if len(pts) < 2 or main is None:
        return None
    slope, intercept = np.polyfit(np.log10([x for x, _ in pts]), [y for _, y in pts], 1)
    return {"per_4x": float(slope * np.log10(4)), "at": float(intercept + slope * np.log10(at * main)),
            "times": at, "points": len(pts)}


def trend_lines(trends: Mapping[str, Mapping[str, Mapping]]) -> list[str]:
    """One sentence per axis and measure of :func:`trend` (for the verdict)."""
    return [f"Scaling trend, {what} against {AXES[axis]} ({tr['points']} points; a description, not a forecast): the "
            f"relative gap moves {100 * tr['per_4x']:+.2f} points per 4x; its line reads {100 * tr['at']:+.2f}% at "
            f"{tr['times']:g}x the pair's {'size' if axis == 'size' else 'rows'}."
            for axis, by_what in trends.items() for what, tr in by_what.items()]


def _pct(c: Mapping | None) -> str:
    r = (c or {}).get("relative")
    return "" if not r else f"{100 * r['difference']:+.2f}% [{100 * r['low']:+.2f}, {100 * r['high']:+.2f}]"


def _ci(c: Mapping | None, digits: int) -> str:
    return "" if not c else f"{c['difference']:+.{digits}f} [{c['low']:+.{digits}f}, {c['high']:+.{digits}f}]"


def scaling_table(points: Sequence[Mapping]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of strings for ``summary.md`` and ``report.html``: one row per point, in axis order."""
    sets = sorted({d for p in points for d in p["bpb"]})
    header = ["point", "axis", "model", "parameters outside the embedding (R2D / twin)", "rows seen", "seeds"]
    for ds in sets:
        header += [f"bits per byte, {ds}: R2D / twin", "R2D - twin [95%]", "relative"]
    header += ["BLiMP: R2D / twin", "R2D - twin [95%]"]
    rows = []
    seen = set()
    for p in [*axis_points(points, "size"), *axis_points(points, "rows")]:
        if p["point"] in seen:
            continue
        seen.add(p["point"])
        cells = [p["point"], " + ".join(p["axes"]), p["size"], f"{p['non_embedding']:,} / {p['twin_non_embedding']:,}",
                 f"{p['rows_seen']:,}", str(p["seeds"])]
        for ds in sets:
            a, b = p["bpb"].get(ds), p["twin_bpb"].get(ds)
            c = p["gap"].get(f"bits per byte, {ds}")
            cells += [f"{a['mean']:.4f} / {b['mean']:.4f}" if a and b else "n/a", _ci(c, 4), _pct(c)]
        a, b = p["blimp"], p["twin_blimp"]
        cells += [f"{a['mean']:.3f} / {b['mean']:.3f}" if a and b else "n/a",
                  _ci(p["gap"].get("BLiMP overall accuracy"), 3)]
        rows.append(cells)
    return header, rows


def scaling_chart(points: Sequence[Mapping], out: str | Path) -> Path | None:
    """The gap (absolute, relative, BLiMP) against parameters and against rows seen, 95% intervals as error bars."""
    from matplotlib.figure import Figure

    whats = sorted({w for p in points for w in p["gap"] if w.startswith("bits per byte")})
    if not whats:
        return None
    fig = Figure(figsize=(11, 9.5))
    axes = fig.subplots(3, 2, squeeze=False)
    colors = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd")
    for col, axis in enumerate(AXES):
        pts = axis_points(points, axis)
        x = np.array([p["non_embedding" if axis == "size" else "rows_seen"] for p in pts], dtype=float)
        for row, (label, pick) in enumerate((("R2D - twin, bits per byte", lambda c: c),
                                             ("(R2D - twin) / twin, %", lambda c: {k: 100 * v for k, v in
                                                                                 (c.get("relative") or {}).items()}))):
            ax = axes[row][col]
            for i, w in enumerate(whats):
                cs = [pick(p["gap"][w]) if w in p["gap"] else {} for p in pts]
                keep = [j for j, c in enumerate(cs) if c]
                if not keep:
                    continue
                d = np.array([cs[j]["difference"] for j in keep])
                lo, hi = np.array([cs[j]["low"] for j in keep]), np.array([cs[j]["high"] for j in keep])
                ax.errorbar(x[keep] * (1 + 0.04 * i), d, yerr=[d - lo, hi - d], fmt="o-", capsize=3,
                            color=colors[i % len(colors)], label=w.replace("bits per byte, ", ""))
            ax.set_ylabel(label, fontsize=9)
        ax = axes[2][col]
        cs = [p["gap"].get("BLiMP overall accuracy") for p in pts]
        keep = [j for j, c in enumerate(cs) if c]
        if keep:
            d = np.array([cs[j]["difference"] for j in keep])
            lo, hi = np.array([cs[j]["low"] for j in keep]), np.array([cs[j]["high"] for j in keep])
            ax.errorbar(x[keep], d, yerr=[d - lo, hi - d], fmt="s-", capsize=3, color="#444", label="BLiMP")
        ax.set_ylabel("R2D - twin, BLiMP accuracy", fontsize=9)
        for row in range(3):
            a = axes[row][col]
            a.set_xscale("log")
            a.axhline(0, color="#555", linewidth=1)
            a.grid(True, alpha=0.3)
            for p, xi in zip(pts, x):
                if row == 0:
                    a.annotate(p["point"], (xi, 0), textcoords="offset points", xytext=(0, 4), fontsize=7,
                               ha="center", color="#555")
        axes[0][col].set_title(f"against {AXES[axis]}", fontsize=10)
        axes[0][col].legend(fontsize=8)
        axes[2][col].set_xlabel(AXES[axis] + " (log scale)", fontsize=9)
    fig.suptitle("The 2D gain against scale: R2D minus its 1D twin (below 0 is better for bits per byte, above 0 "
                 "for BLiMP; 95% paired bootstrap)", fontsize=10)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    return out
