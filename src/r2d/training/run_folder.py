"""What a run folder records and how a run finds its place in it again: ``args.json`` (the exact arguments, command
line, versions and commit; the settings a ``--resume`` may not change), the newest complete checkpoint, and
``metrics.jsonl`` read back.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import logging
import operator
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from r2d.io import InputError, read_jsonl

logger = logging.getLogger(__name__)


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def save_run_args(out_dir: str | os.PathLike, args: Any, argv: Sequence[str] | None = None,
                  resume: bool = False) -> Path:
    """Write the exact run arguments to ``out_dir/args.json``.

    Args:
        out_dir: the run directory (created if missing).
        args: an ``argparse.Namespace``, dataclass or mapping of the parsed arguments.
        argv: the command line (default ``sys.argv``).
        resume: if ``args.json`` exists, append this invocation to its ``resumed`` list instead of replacing it.

    Returns:
        The path of ``args.json``.
    """
    import torch
    import transformers

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if dataclasses.is_dataclass(args):
        values = dataclasses.asdict(args)
    elif isinstance(args, Mapping):
        values = dict(args)
    else:
        values = dict(vars(args))
    record = {
        "args": _jsonable(values),
        "argv": list(sys.argv if argv is None else argv),
        "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": _git_commit(),
        "versions": {"python": sys.version.split()[0], "torch": torch.__version__,
                     "transformers": transformers.__version__},
    }
    path = out / "args.json"
    if resume and path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
        data.setdefault("resumed", []).append(record)
    else:
        data = record
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def same_files(a: Any, b: Any) -> bool:
    """Whether two paths, or two lists of paths, name the same files (however each was written: relative, absolute,
    through a link); a path that does not exist is the same only as itself, written alike."""
    a, b = ([a], [b]) if isinstance(a, str) or isinstance(b, str) else (list(a or ()), list(b or ()))
    if a == b:
        return True
    try:
        return len(a) == len(b) and all(os.path.samefile(x, y) for x, y in zip(a, b))
    except (OSError, TypeError):
        return False


def changed_run_args(out_dir: str | os.PathLike, args: Any, keep: Sequence[str] = (),
                     same: Mapping[str, Callable[[Any, Any], bool]] | None = None) -> list[str]:
    """The settings of ``args`` that differ from those the run in ``out_dir`` started with (its ``args.json``).

    Args:
        out_dir: the run directory.
        args: the arguments dataclass of this invocation.
        keep: attribute names that may differ (not compared).
        same: attribute name -> the equality of its values where ``==`` is too strict (:func:`same_files`).

    Returns:
        One ``name old -> new`` per differing setting (values as repr: ``model 'r2d' -> 'roberta'``), in field
        order; settings the record lacks (a run from an older version) are not compared; ``[]`` without ``args.json``.

    Raises:
        r2d.io.InputError: ``args.json`` is not the JSON this module writes.
    """
    path = Path(out_dir) / "args.json"
    if not path.is_file():
        return []
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))["args"]
    except (ValueError, KeyError, TypeError) as err:
        raise InputError(path, f"not a run's arguments record ({err})") from None
    now = _jsonable(dataclasses.asdict(args))
    same = same or {}
    return [f"{name} {saved[name]!r} -> {value!r}" for name, value in now.items()
            if name not in keep and name in saved and not same.get(name, operator.eq)(saved[name], value)]


_CKPT = re.compile(r"^checkpoint-(\d+)$")


def last_checkpoint(out_dir: str | os.PathLike) -> str | None:
    """The newest complete ``checkpoint-N`` directory in ``out_dir``, or ``None``.

    ``Trainer`` writes ``trainer_state.json`` last, so a checkpoint counts as complete when that file parses
    and weights are present; one cut short by ``kill -9`` is skipped in favour of the previous one.
    """
    out = Path(out_dir)
    if not out.is_dir():
        return None
    found = sorted(((int(m.group(1)), p) for p in out.iterdir() if p.is_dir() and (m := _CKPT.match(p.name))),
                   reverse=True)
    for step, path in found:
        state = path / "trainer_state.json"
        has_weights = any(path.glob("*.safetensors")) or any(path.glob("pytorch_model*.bin"))
        try:
            ok = has_weights and json.loads(state.read_text(encoding="utf-8")).get("global_step") == step
        except (OSError, ValueError):
            ok = False
        if ok:
            return str(path)
        logger.warning("skipping incomplete checkpoint %s", path)
    return None


def read_metrics(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of a ``metrics.jsonl`` (lines that do not parse, e.g. cut by a kill, are skipped)."""
    return read_jsonl(path)


__all__ = ["save_run_args", "same_files", "changed_run_args", "last_checkpoint", "read_metrics"]
