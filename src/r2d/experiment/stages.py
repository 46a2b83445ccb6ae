"""Stage markers of ``r2d experiment``: a unit that wrote ``OUT/stages/<name>.json`` is done and is never rerun; one
resumed with other settings or on other data stops instead of mixing results.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from r2d.experiment.presets import ExperimentPreset
from r2d.io import InputError, atomic_write_text

logger = logging.getLogger(__name__)


class Stages:
    """Marker files ``OUT/stages/<name>.json``: a stage that wrote its marker is done and is not rerun.

    Attributes:
        ran: the stages this object ran (not skipped), in order.
    """

    def __init__(self, out: Path):
        self.dir = out / "stages"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ran: list[str] = []

    def _path(self, name: str) -> Path:
        return self.dir / (name.replace("/", "__") + ".json")

    def done(self, name: str) -> dict | None:
        """The stage's recorded result, or None if it has not finished."""
        p = self._path(name)
        if not p.is_file():
            return None
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except ValueError:  # subtle: a marker cut short by a kill: the stage runs again
            return None

    def run(self, name: str, fn: Callable[[], dict], inputs: dict | None = None) -> dict:
        """Run ``fn`` unless ``name`` is done; record its result (a JSON-able dict), its duration and ``inputs``
        (the settings its result depends on, :func:`stage_inputs`).

        Raises:
            r2d.io.InputError: ``name`` is done, but with other ``inputs`` (a changed preset or other data resumed
                into the same folder): its result would be reported as this run's. Only the settings the marker
                recorded are compared: a marker written before a setting was recorded (or before any were) is taken
                as it is.
        """
        prev = self.done(name)
        if prev is not None:
            recorded, now = prev.get("inputs"), json.loads(json.dumps(inputs, default=str))
            changed = ", ".join(f"{k} {recorded[k]!r} -> {now.get(k)!r}" for k in sorted(recorded)
                                if recorded[k] != now.get(k)) if recorded is not None and now is not None else ""
            if changed:
                raise InputError(self._path(name), f"this stage was done with other settings ({changed}); delete "
                                                   "its marker to run it again with these, or give another --out")
            logger.info("stage %s: done before, skipped", name)
            return prev
        logger.info("stage %s: running", name)
        t0 = time.perf_counter()
        result = dict(fn() or {})
        result["seconds"] = round(time.perf_counter() - t0, 2)
        result["finished"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        if inputs is not None:
            result["inputs"] = inputs
        # a marker exists only for a finished stage
        atomic_write_text(self._path(name), json.dumps(result, indent=2, default=str) + "\n")
        self.ran.append(name)
        return result


_CORPUS_INPUTS = ("corpus_bytes", "heldout_docs", "wikitext_bytes")
_PRETRAIN_INPUTS = ("vocab_size", "model_preset", "batch_size", "max_length", "lr", "curve_points")


def stage_inputs(preset: ExperimentPreset, objective: str | None = None, **extra: Any) -> dict:
    """The settings a stage's result depends on, recorded in its marker so that a run resumed with another preset
    stops instead of mixing results: the corpus sizes; with ``objective`` (``"clm"`` or ``"mlm"``) also the
    tokenizers' and that pair's pretraining settings, its step count included; then ``extra``."""
    fields = _CORPUS_INPUTS + (_PRETRAIN_INPUTS + (f"{'causal' if objective == 'clm' else 'mlm'}_steps",)
                               if objective else ())
    return {**{f: getattr(preset, f) for f in fields}, **extra}


def data_fingerprint(paths: Sequence[Path]) -> list[list]:
    """``[name, bytes]`` of every file a run reads from ``paths`` (folders: every file below, named from the folder
    on; a missing path: ``[name, None]``), sorted: recorded in the stage markers, so that a run resumed on other data
    stops. Sizes, not hashes: a corpus of many gigabytes would be read again at every resume."""
    rows = []
    for p in map(Path, paths):
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        rows += [[f.relative_to(p.parent).as_posix(), f.stat().st_size if f.is_file() else None] for f in files]
    return sorted(rows)
