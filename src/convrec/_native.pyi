"""Type stubs of the private extension convrec._native (use the wrappers in convrec.cf)."""

from typing import Literal, overload

import numpy as np
import numpy.typing as npt

_I32 = npt.NDArray[np.int32]
_F32 = npt.NDArray[np.float32]

def version() -> str: ...
def built_with_cuda() -> bool: ...
def cuda_available() -> bool: ...
def cuda_device_count() -> int: ...
def max_threads() -> int: ...
def item_similarity(
    indptr: _I32,
    indices: _I32,
    data: _F32,
    n_items: int,
    n_neighbours: int,
    measure: str,
    shrink: float = 0.0,
    bm25_k1: float = 1.2,
    bm25_b: float = 0.75,
    num_threads: int = 1,
) -> tuple[_I32, _I32, _F32]: ...

BITMAP_MAX_ITEMS: int

def score_topk(
    hist_indptr: _I32,
    hist_indices: _I32,
    hist_data: _F32,
    nbr_indptr: _I32,
    nbr_indices: _I32,
    nbr_data: _F32,
    k: int,
    exclude_seen: bool = True,
    n_evidence: int = 0,
    num_threads: int = 1,
    use_cuda: bool = False,
    item_order: _I32 | None = None,
    scan: str = "auto",
) -> tuple[_I32, _F32, _I32 | None, _F32 | None]: ...
def score_dense(
    hist_indptr: _I32,
    hist_indices: _I32,
    hist_data: _F32,
    nbr_indptr: _I32,
    nbr_indices: _I32,
    nbr_data: _F32,
    n_cols: int,
    num_threads: int = 1,
) -> _F32: ...
def rank_topk(
    scores: npt.NDArray[np.float32] | npt.NDArray[np.float64],
    exclude_indptr: _I32,
    exclude_indices: _I32,
    target: npt.NDArray[np.int64] | None = None,
    k: int = 10,
    num_threads: int = 1,
) -> tuple[npt.NDArray[np.int64] | None, _I32]: ...
@overload
def fuse_topk(
    candidates: _I32,
    sources: _F32,
    weights: _F32,
    k: int,
    method: str = "weighted",
    normalisation: str = "zscore",
    rrf_k: float = 60.0,
    num_threads: int = 1,
    use_cuda: bool = False,
    with_shares: Literal[False] = False,
) -> tuple[_I32, _F32]: ...
@overload
def fuse_topk(
    candidates: _I32,
    sources: _F32,
    weights: _F32,
    k: int,
    method: str = "weighted",
    normalisation: str = "zscore",
    rrf_k: float = 60.0,
    num_threads: int = 1,
    use_cuda: bool = False,
    *,
    with_shares: Literal[True],
) -> tuple[_I32, _F32, _F32]: ...
