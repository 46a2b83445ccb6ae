"""``r2d experiment``: the comparison of 2D and 1D tokenization at equal compute, resumable: presets, data, units,
stage markers and the order they run in. The numbers, charts and report are :mod:`r2d.analysis`'s.
"""

from __future__ import annotations

from typing import Any

__all__ = ["run_experiment", "resolve", "ExperimentArgs", "ExperimentPreset", "PRESETS"]


def __getattr__(name: str) -> Any:  # lazy: the presets are light, the run imports torch and the report
    if name == "run_experiment":
        from r2d.experiment.run import run_experiment

        return run_experiment
    if name in ("resolve", "ExperimentArgs", "ExperimentPreset", "PRESETS"):
        from r2d.experiment import presets

        return getattr(presets, name)
    raise AttributeError(f"module 'r2d.experiment' has no attribute {name!r}")
