"""The extension loads and reports its build; the CUDA sources compile wherever nvcc exists."""

import shutil
import subprocess
from pathlib import Path

import pytest

import convrec
from convrec import _native

CSRC = Path(__file__).resolve().parents[1] / "csrc"


def test_extension_reports_version_and_devices():
    assert _native.version() == convrec.__version__
    assert isinstance(_native.cuda_available(), bool)
    assert _native.cuda_device_count() >= 0
    assert _native.max_threads() >= 1
    if not _native.built_with_cuda():
        assert _native.cuda_available() is False


@pytest.mark.parametrize("source", sorted(p.name for p in CSRC.glob("*.cu")))
def test_cuda_sources_compile(source, tmp_path):
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc is not on PATH: the CUDA path cannot be compiled on this machine")
    result = subprocess.run(
        [nvcc, "-std=c++17", "-O2", "-arch=sm_80", "-I", str(CSRC), "-c", str(CSRC / source),
         "-o", str(tmp_path / "out.o")],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


@pytest.mark.gpu
def test_cuda_device_is_visible_when_marked_gpu():
    if not _native.cuda_available():
        pytest.skip("no CUDA device on this machine")
    assert _native.cuda_device_count() >= 1
