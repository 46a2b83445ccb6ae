"""The device rule: auto = CUDA, else MPS, else CPU; bf16 autocast on CUDA only; TF32 set once, never over a choice."""

from __future__ import annotations

import pytest
import torch

from r2d import device as dev


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.fixture
def fake_cuda(monkeypatch):
    """torch says there is a bf16 GPU (nothing is put on it)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)


@pytest.fixture
def matmul_precision():
    before = torch.get_float32_matmul_precision()
    yield
    torch.set_float32_matmul_precision(before)


def test_auto_is_the_gpu_else_mps_else_the_cpu(monkeypatch, no_gpu):
    assert dev.resolve_device("auto") == dev.resolve_device(None) == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert dev.resolve_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert dev.resolve_device("auto") == torch.device("cuda")
    assert dev.resolve_device("cpu") == dev.resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_a_device_this_machine_lacks_is_refused_by_name(no_gpu):
    for name, message in [("cuda", "no CUDA GPU"), ("cuda:1", "no CUDA GPU"), ("mps", "MPS is not available"),
                          ("tpu", "unknown device 'tpu'")]:
        with pytest.raises(ValueError, match=message):
            dev.resolve_device(name)


def test_precision_auto_is_bf16_on_a_bf16_gpu_only(fake_cuda):
    assert dev.resolve_precision(torch.device("cuda"), "auto") == "bf16"
    assert dev.resolve_precision(torch.device("cpu"), "auto") == "fp32"
    assert dev.resolve_precision(torch.device("mps"), "auto") == "fp32"
    assert dev.resolve_precision(torch.device("cpu"), "bf16") == "bf16"
    with pytest.raises(ValueError, match="unknown precision 'fp16'"):
        dev.resolve_precision(torch.device("cpu"), "fp16")


def test_autocast_runs_a_forward_pass_in_bf16_only_when_asked():
    layer = torch.nn.Linear(4, 4)
    x = torch.randn(2, 4)
    with dev.autocast(torch.device("cpu"), "auto"):
        assert layer(x).dtype == torch.float32
    with dev.autocast(torch.device("cpu"), "bf16"):
        assert layer(x).dtype == torch.bfloat16
    assert not torch.is_autocast_enabled("cpu")


def test_tf32_is_set_on_cuda_and_a_choice_already_made_is_kept(matmul_precision, no_gpu, monkeypatch):
    torch.set_float32_matmul_precision("highest")
    assert dev.use_tf32() is False and torch.get_float32_matmul_precision() == "highest"  # no GPU: untouched
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert dev.use_tf32() is True and torch.get_float32_matmul_precision() == "high"
    torch.set_float32_matmul_precision("medium")
    assert dev.use_tf32() is True and torch.get_float32_matmul_precision() == "medium"


def test_place_moves_a_model_and_model_device_reads_it_back():
    layer = torch.nn.Linear(2, 2)
    assert dev.place(layer, "cpu") is layer and dev.model_device(layer) == torch.device("cpu")
    assert dev.model_device(torch.nn.ReLU()) == torch.device("cpu")  # no parameters


def test_importing_the_module_costs_no_torch():
    import subprocess
    import sys

    code = "import sys, r2d.device; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


@pytest.mark.cuda
def test_on_a_gpu_auto_places_there_with_bf16_and_tf32(matmul_precision):
    torch.set_float32_matmul_precision("highest")
    layer = dev.place(torch.nn.Linear(8, 8))
    assert dev.model_device(layer).type == "cuda"
    assert torch.get_float32_matmul_precision() == "high"
    assert dev.resolve_precision(dev.model_device(layer)) == ("bf16" if torch.cuda.is_bf16_supported() else "fp32")
    with dev.autocast(dev.model_device(layer), "bf16"):
        assert layer(torch.randn(2, 8, device="cuda")).dtype == torch.bfloat16
