"""Backend choice for the native CF kernels: CUDA is probed once, names resolve to cpu or cuda."""

from __future__ import annotations

from functools import cache
from typing import Literal

from convrec import _native

Backend = Literal["auto", "cpu", "cuda"]


@cache
def cuda_available() -> bool:
    """Return True when the extension has the CUDA path and a device is usable (probed once)."""
    return bool(_native.cuda_available())


def resolve_backend(backend: str) -> Literal["cpu", "cuda"]:
    """Map ``"auto" | "cpu" | "cuda"`` to the backend that will run.

    Raises
    ------
    ValueError
        For an unknown name.
    RuntimeError
        When ``"cuda"`` is asked for and no CUDA device is usable.
    """
    if backend == "cpu":
        return "cpu"
    if backend == "cuda":
        if not cuda_available():
            raise RuntimeError(
                "backend='cuda' but no CUDA device is usable "
                f"(built with CUDA: {_native.built_with_cuda()})"
            )
        return "cuda"
    if backend == "auto":
        return "cuda" if cuda_available() else "cpu"
    raise ValueError(f"backend must be 'auto', 'cpu' or 'cuda', got {backend!r}")
