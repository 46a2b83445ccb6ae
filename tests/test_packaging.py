"""The declared requirements match the code.

Every third-party module that src/, tests/ and benchmarks/ import is declared in pyproject.toml (src: in the
dependencies or an extra such as ``lora``, imported only when asked for; tests: also the ``test`` extra;
benchmarks: also ``bench`` and ``test``), and each lower bound below is no older than the first
release that has what the code uses. The versions were read from the published wheels (transformers'
``modeling_outputs.py``, ``training_args.py``, ``configuration_roberta.py`` and METADATA of each release).
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

FIRST_RELEASE_WITH = {
    "transformers": ("5.24", "BaseModelOutputWithPast.cache (modeling/causal.py); before it: "
                             "TrainingArguments(activation_checkpointing=) 5.23, strict dataclass configs 5.4"),
    "huggingface-hub": ("1.31", "transformers 5.24 requires it; modeling imports huggingface_hub.dataclasses"),
    "tokenizers": ("0.23.1", "transformers 5.24 requires it"),
    "safetensors": ("0.8", "transformers 5.24 requires it"),
    "accelerate": ("1.3", "transformers 5.24's Trainer calls Accelerator.unwrap_model(keep_torch_compile=), "
                          "new in accelerate 1.3 (the Trainer's own stated minimum, 1.1, is too old)"),
    "datasets": ("4.2", "older releases do not work with huggingface-hub 1.x"),
}
PYTHON = ("3.11", "transformers 5.24 requires it")


def _name(req: str) -> str:
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.\-]+", req).group(0)).lower()


def _lower_bound(req: str) -> tuple[int, ...] | None:
    m = re.search(r">=\s*([0-9][0-9.]*)", req)
    return tuple(int(x) for x in m.group(1).split(".")) if m else None


def _version(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split("."))


def _declared(*extras: str) -> dict[str, str]:
    reqs = list(PROJECT["dependencies"])
    for e in extras:
        reqs += PROJECT["optional-dependencies"][e]
    return {_name(r): r for r in reqs}


def _third_party_imports(folder: Path) -> dict[str, str]:
    """Top-level module -> one file importing it, for modules that are neither stdlib nor files of the project."""
    local = ({p.stem for p in (ROOT / "tests").glob("*.py")} | {p.stem for p in (ROOT / "benchmarks").glob("*.py")}
             | {"r2d", "tests", "conftest"})
    found: dict[str, str] = {}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for n in names:
                top = n.split(".")[0]
                if top not in sys.stdlib_module_names and top not in local:
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


@pytest.mark.parametrize("folder,extras", [("src", tuple(PROJECT["optional-dependencies"])), ("tests", ("test",)),
                                           ("benchmarks", ("bench", "test"))])
def test_every_imported_package_is_declared(folder, extras):
    declared = _declared(*extras)
    dists = importlib.metadata.packages_distributions()
    missing = {}
    for module, where in _third_party_imports(ROOT / folder).items():
        names = {_name(d) for d in dists.get(module, [module])}
        if not names & set(declared):
            missing[module] = where
    assert missing == {}, f"imported but not declared in pyproject.toml: {missing}"


@pytest.mark.parametrize("dist", sorted(FIRST_RELEASE_WITH))
def test_lower_bounds_are_not_older_than_what_the_code_uses(dist):
    need, why = FIRST_RELEASE_WITH[dist]
    req = _declared().get(dist)
    assert req is not None, f"{dist} is not declared ({why})"
    bound = _lower_bound(req)
    assert bound is not None and bound >= _version(need), f"{req!r}: the code needs >= {need}: {why}"
    installed = _version(re.match(r"[0-9.]+", importlib.metadata.version(dist)).group(0).rstrip("."))
    assert installed >= bound, f"{dist} {installed} is installed, older than the declared {req!r}"


def test_python_bound():
    assert _lower_bound(PROJECT["requires-python"]) >= _version(PYTHON[0]), PYTHON[1]
