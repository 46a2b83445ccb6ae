"""benchmarks/gpu_check.sh: without a GPU it says so and exits 0; its summary turns the steps' JSON into one table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: the script would run")
def test_without_a_gpu_it_says_so_and_exits_0(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "OUT": str(tmp_path / "out")}
    run = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh")], capture_output=True, text=True, env=env,
                         timeout=300)
    assert run.returncode == 0 and "no CUDA GPU" in run.stdout, run.stdout + run.stderr
    assert not (tmp_path / "out").exists()  # nothing written


def test_the_summary_is_one_table_of_every_step(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import gpu_check
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    work, out = tmp_path / "work", tmp_path / "out"
    work.mkdir()
    steps = {"shape": dict(hidden=256, layers=4, heads=4, intermediate=1024, vocab=8192, batch=64, seq=256),
             "cases": {f"{k} {v}": {"seconds_per_step": s, "rows_per_second": 16384 / s, "warmup_seconds": 1.0}
                       for k, s0 in (("R2D", 0.021), ("twin", 0.020)) for v, s in (("fp32", s0), ("bf16", s0 / 2))}}
    files = {"status": {"steps": {"env": "ok (5 s)", "steps": "ok (60 s)", "preset": "TIMED OUT after 240 s"}},
             "env": {"gpu": "NVIDIA H100 80GB HBM3", "gpu_memory_gb": 79.2, "bf16": True, "torch": "2.11.0",
                     "transformers": "5.25.0", "cuda": "13.0", "python": "3.12.3"},
             "steps": steps}
    for name, data in files.items():
        (work / f"{name}.json").write_text(json.dumps(data))
    gpu_check.main(["summary", "--results", str(work), "--out", str(out)])
    table = (out / "gpu_check.md").read_text()
    assert "NVIDIA H100 80GB HBM3" in table and "| preset | TIMED OUT after 240 s |" in table
    assert "| fp32 | 21.00 | 20.00 | 1.050 |" in table and "| bf16 | 10.50 | 10.00 | 1.050 |" in table
    assert "DRY RUN" not in table
    assert json.loads((out / "gpu_check.json").read_text())["env"]["bf16"] is True
