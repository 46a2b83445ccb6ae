"""Shared fixtures: a tiny tokenizer trained in the test (seconds), the bundled r2d-en, the shared data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("r2d", max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "200")), deadline=None)
settings.load_profile("r2d")

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"

TINY_TEXTS = [
    "I enjoyed riding in Australia's parks.",
    "The dogs were riding; a dog rides. NASA's parks enjoyed it.\n",
    "Hello world, hello WORLD! iPhone McDonald 2015 3.5%",
] * 20

TINY_LIST = "riding\tride ~ing\nrides\tride ~s\nenjoyed\tenjoy ~ed\nparks\tpark ~s\ndogs\tdog ~s\nnews\t\n"


def pytest_collection_modifyitems(config, items):
    """Tests marked ``cuda`` are skipped where torch sees no CUDA GPU (torch is imported only if one is collected)."""
    marked = [item for item in items if item.get_closest_marker("cuda")]
    if not marked:
        return
    import torch

    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs a CUDA GPU (run benchmarks/gpu_check.sh where there is one)")
        for item in marked:
            item.add_marker(skip)


def write_stsb(folder: Path, sentence, sizes=(("train.tsv", 32), ("dev.tsv", 12))) -> Path:
    """A tiny STS-B in the shared/data layout under ``folder``: pair i is ``sentence(i)``, ``sentence(i + 2)``."""
    (folder / "glue/STS-B").mkdir(parents=True)
    head = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
    for name, n in sizes:
        (folder / "glue/STS-B" / name).write_text(head + "".join(
            f"{i}\tg\tf\ty\t{i}\tn\tn\t{sentence(i)}\t{sentence(i + 2)}\t{(i % 11) / 2:.3f}\n" for i in range(n)),
            encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def tiny_list():
    from r2d.lists.deconstruct import DeconstructionList

    return DeconstructionList.from_string(TINY_LIST)


@pytest.fixture(scope="session")
def tiny_tok(tiny_list):
    from r2d.tokenizer.hf import R2DTokenizer

    return R2DTokenizer.train(texts=TINY_TEXTS, vocab_size=300, deconstruction_list=tiny_list, min_frequency=1)


@pytest.fixture(scope="session")
def en_tok():
    from r2d.tokenizer.hf import R2DTokenizer

    return R2DTokenizer.from_pretrained("r2d-en")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared data not found at {SHARED}")
    return SHARED
