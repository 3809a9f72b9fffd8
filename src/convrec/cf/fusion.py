"""Fusion of several score sources (CF, LLM, ...) over per-user candidates: top-k and shares."""

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
    num_threads: int = 0,
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
        OpenMP threads (CPU backend); 0 (the default): OMP_NUM_THREADS, else every core.
    backend : {"auto", "cpu", "cuda"}

    Returns
    -------
    ids : int32[B, k]
        Candidate item ids, best first (ties to the lower id), padded with -1. Candidates with
        no source present are dropped.
    scores : float32[B, k]
        Fused scores, padded with -inf.
    """
    ids, scores, _ = fuse_with_shares(
        candidates, sources, weights, k, method, normalisation, rrf_k, num_threads, backend
    )
    return ids, scores


def fuse_with_shares(
    candidates: Any,
    sources: Any,
    weights: Any = None,
    k: int = 10,
    method: str = "weighted",
    normalisation: str = "zscore",
    rrf_k: float = 60.0,
    num_threads: int = 0,
    backend: str = "auto",
) -> tuple[IntArray, FloatArray, FloatArray]:
    """:func:`fuse`, and each source's share of every candidate's fused score, from the same
    native pass (the kernel writes the shares as it adds the sources up).

    Same arguments and semantics as :func:`fuse`; the ids and scores are :func:`fuse`'s.

    Returns
    -------
    ids : int32[B, k]
        As :func:`fuse`: best first (ties to the lower id), padded with -1.
    scores : float32[B, k]
        As :func:`fuse`: fused scores, padded with -inf.
    shares : float32[S, B, C]
        ``weighted``: ``w_s z_s / sum_t w_t`` over the sources ``t`` present for the
        candidate; ``rrf``: ``w_s / (rrf_k + rank_s)``; a candidate's shares add up to its
        fused score. NaN where the source has no score or the candidate is padding.
    """
    cand, srcs, w = _checked(candidates, sources, weights, method, normalisation)
    ids, scores, shares = _native.fuse_topk(
        cand,
        srcs,
        w,
        check_positive_int(k, "k"),
        method,
        normalisation,
        float(rrf_k),
        check_num_threads(num_threads),
        resolve_backend(backend) == "cuda",
        with_shares=True,
    )
    return ids, scores, shares


def _checked(
    candidates: Any, sources: Any, weights: Any, method: str, normalisation: str
) -> tuple[IntArray, FloatArray, FloatArray]:
    """Validated fusion inputs: ``int32[B, C]`` candidates, ``float32[S, B, C]`` sources and
    ``float32[S]`` weights (see :func:`fuse`)."""
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
    return cand, srcs, np.ascontiguousarray(w)
