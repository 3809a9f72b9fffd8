"""Fusion of several score sources (CF, LLM, ...) over per-user candidates, natively."""

from __future__ import annotations

from typing import Any

import numpy as np

from convrec import _native
from convrec.cf._backend import resolve_backend
from convrec.cf._checks import check_num_threads, check_positive_int
from convrec.cf.types import FloatArray, IntArray

METHODS = ("weighted", "rrf")
NORMALISATIONS = ("zscore", "minmax", "none")


def fuse(
    candidates: Any,
    sources: Any,
    weights: Any = None,
    k: int = 10,
    method: str = "weighted",
    normalisation: str = "zscore",
    rrf_k: float = 60.0,
    num_threads: int = 1,
    backend: str = "auto",
) -> tuple[IntArray, FloatArray]:
    """Fuse S score sources over each user's candidates and keep the top k.

    Parameters
    ----------
    candidates : int array, shape (B, C)
        Item indices per user; -1 marks padding. Ids must be unique within a row.
    sources : float array, shape (S, B, C)
        Scores per source; NaN means the source has no score for that candidate.
    weights : float array, shape (S,), optional
        Non-negative source weights (default: all 1).
    k : int
        Items kept per user (> 0).
    method : {"weighted", "rrf"}
        ``weighted``: each source is normalised per user over its valid candidates, then
        ``sum_s w_s z_s / sum_s w_s`` over the sources present for the candidate.
        ``rrf``: ``sum_s w_s / (rrf_k + rank_s)``, ranks 1-based by (score desc, item asc).
    normalisation : {"zscore", "minmax", "none"}
        Per-user normalisation for ``weighted`` (a constant row normalises to 0).
    rrf_k : float
        RRF offset (>= 0).
    num_threads : int
        OpenMP threads (CPU backend).
    backend : {"auto", "cpu", "cuda"}

    Returns
    -------
    ids : int32[B, k]
        Candidate item ids, best first (ties to the lower id), padded with -1. Candidates with
        no source present are dropped.
    scores : float32[B, k]
        Fused scores, padded with -inf.
    """
    cand = np.asarray(candidates)
    if cand.ndim != 2 or not np.issubdtype(cand.dtype, np.integer):
        raise ValueError(f"candidates must be a 2-D integer array, got {cand.dtype} {cand.shape}")
    if cand.size and (cand.min() < -1 or cand.max() >= 2**31):
        raise ValueError("candidates must be item indices >= 0, or -1 for padding")
    cand = np.ascontiguousarray(cand, dtype=np.int32)
    srcs = np.asarray(sources)
    if srcs.ndim == 2:
        srcs = srcs[None]
    if srcs.ndim != 3 or srcs.shape[1:] != cand.shape:
        raise ValueError(
            f"sources must have shape (S, {cand.shape[0]}, {cand.shape[1]}), got {srcs.shape}"
        )
    if not np.issubdtype(srcs.dtype, np.floating):
        srcs = srcs.astype(np.float32)
    srcs = np.ascontiguousarray(srcs, dtype=np.float32)
    if np.isinf(srcs).any():
        raise ValueError("sources must be finite or NaN (missing)")
    w = np.ones(srcs.shape[0], np.float32) if weights is None else np.asarray(weights, np.float32)
    if w.shape != (srcs.shape[0],):
        raise ValueError(f"weights must have shape ({srcs.shape[0]},), got {w.shape}")
    if not np.all(np.isfinite(w)) or (w < 0).any():
        raise ValueError("weights must be finite and >= 0")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if normalisation not in NORMALISATIONS:
        raise ValueError(f"normalisation must be one of {NORMALISATIONS}, got {normalisation!r}")
    valid = np.sort(np.where(cand >= 0, cand, -1), axis=1)
    if ((valid[:, 1:] == valid[:, :-1]) & (valid[:, 1:] >= 0)).any():
        raise ValueError("candidates must be unique within each row")
    ids, scores = _native.fuse_topk(
        cand,
        srcs,
        np.ascontiguousarray(w),
        check_positive_int(k, "k"),
        method,
        normalisation,
        float(rrf_k),
        check_num_threads(num_threads),
        resolve_backend(backend) == "cuda",
    )
    return ids, scores


def contributions(
    candidates: Any,
    sources: Any,
    weights: Any = None,
    method: str = "weighted",
    normalisation: str = "zscore",
    rrf_k: float = 60.0,
) -> FloatArray:
    """Each source's share of the fused score of every candidate (the terms :func:`fuse` adds).

    ``contributions(...).sum(axis=0)`` is the fused score, so a per-item bar chart of the
    sources adds up to the ranking score. Same arguments and semantics as :func:`fuse`.

    Returns
    -------
    float32[S, B, C]
        ``weighted``: ``w_s z_s / sum_t w_t`` over the sources ``t`` present for the
        candidate; ``rrf``: ``w_s / (rrf_k + rank_s)``. NaN where the source has no score
        or the candidate is padding.
    """
    cand = np.asarray(candidates)
    srcs = np.asarray(sources, dtype=np.float64)
    if srcs.ndim == 2:
        srcs = srcs[None]
    if cand.ndim != 2 or srcs.ndim != 3 or srcs.shape[1:] != cand.shape:
        raise ValueError(f"sources must have shape (S, *{cand.shape}), got {srcs.shape}")
    w = np.ones(srcs.shape[0]) if weights is None else np.asarray(weights, np.float64)
    if w.shape != (srcs.shape[0],) or not np.all(np.isfinite(w)) or (w < 0).any():
        raise ValueError(f"weights must be {srcs.shape[0]} finite values >= 0")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if normalisation not in NORMALISATIONS:
        raise ValueError(f"normalisation must be one of {NORMALISATIONS}, got {normalisation!r}")
    valid = (cand[None] >= 0) & ~np.isnan(srcs)  # [S, B, C]
    terms = np.full(srcs.shape, np.nan)
    for s in range(srcs.shape[0]):
        for b in range(cand.shape[0]):
            ok = valid[s, b]
            if ok.any():
                terms[s, b, ok] = w[s] * _term(srcs[s, b, ok], cand[b, ok], method,
                                               normalisation, rrf_k)  # fmt: skip
    if method == "weighted":
        wsum = (valid * w[:, None, None]).sum(axis=0)
        terms = terms / np.where(wsum > 0, wsum, 1.0)  # wsum 0: every present term is 0
    return terms.astype(np.float32)


def _term(x: np.ndarray, ids: np.ndarray, method: str, normalisation: str, rrf_k: float) -> Any:
    """One source's unweighted term over one user's valid candidates."""
    if method == "rrf":
        order = np.lexsort((ids, -x))
        rank = np.empty(len(x))
        rank[order] = np.arange(1, len(x) + 1)
        return 1.0 / (rrf_k + rank)
    if normalisation == "zscore":
        sd = np.sqrt(((x - x.mean()) ** 2).mean())
        return (x - x.mean()) / sd if sd > 0 else np.zeros_like(x)
    if normalisation == "minmax":
        lo, hi = x.min(), x.max()
        return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
    return x
