"""benchmarks/electra_flag_weight.py --quick: the measurement's plumbing end to end (its numbers mean nothing)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "electra_flag_weight.py"


def _module():
    spec = importlib.util.spec_from_file_location("electra_flag_weight", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_help_has_an_example(capsys):
    with pytest.raises(SystemExit) as exc:
        _module().main(["--help"])
    assert exc.value.code == 0 and "--quick" in capsys.readouterr().out


def test_quick_measurement_prints_a_row_per_weighting(tmp_path, shared_data, capsys):
    corpus = shared_data / "wikipedia_en" / "enwiki_AA_wiki_00-19.txt.gz"
    assert _module().main(["--out", str(tmp_path), "--corpus", str(corpus), "--quick"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| --flag-change-weight | change macro F1 | replaced F1 | F1 NoSpace")
    assert [r.split(" | ")[0] for r in rows[1:]] == ["| 1", "| rate"]
    assert "n/a" not in "".join(rows[1:])
    # a rerun reuses the finished runs
    assert _module().main(["--out", str(tmp_path), "--corpus", str(corpus), "--quick"]) == 0
    assert capsys.readouterr().out.count("| rate |") == 1
