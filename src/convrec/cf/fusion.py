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
    cand, srcs, w = _checked(candidates, sources, weights, method, normalisation)
    ids, scores = _native.fuse_topk(
        cand,
        srcs,
        w,
        check_positive_int(k, "k"),
        method,
        normalisation,
        float(rrf_k),
        check_num_threads(num_threads),
        resolve_backend(backend) == "cuda",
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
) -> tuple[IntArray, FloatArray, FloatArray]:
    """:func:`fuse` and each source's share of every fused score, from ONE computation.

    Each source's term of every candidate is computed once, in the native kernel's arithmetic
    (double precision, sums in candidate order, then source order; the fused score rounded
    to float32 once), and both outputs are read from those terms: the top-``k`` ids and scores
    are bit-identical to :func:`fuse`'s, and the shares add up to each fused score (a
    per-item bar chart of the sources adds up to the ranking score). Same arguments and
    semantics as :func:`fuse`.

    Returns
    -------
    ids : int32[B, k]
        As :func:`fuse`: best first (ties to the lower id), padded with -1.
    scores : float32[B, k]
        As :func:`fuse`: fused scores, padded with -inf.
    shares : float32[S, B, C]
        ``weighted``: ``w_s z_s / sum_t w_t`` over the sources ``t`` present for the
        candidate; ``rrf``: ``w_s / (rrf_k + rank_s)``. NaN where the source has no score
        or the candidate is padding.
    """
    cand, srcs, w32 = _checked(candidates, sources, weights, method, normalisation)
    k = check_positive_int(k, "k")
    if not (rrf_k >= 0 and np.isfinite(rrf_k)):
        raise ValueError("rrf_k must be >= 0")
    n_sources, n_users, n_cand = srcs.shape
    valid = (cand[None] >= 0) & ~np.isnan(srcs)  # [S, B, C]
    x = np.where(valid, srcs, 0.0).astype(np.float64)
    w = w32.astype(np.float64)[:, None, None]
    terms = _terms(x, valid, cand, w, method, normalisation, float(rrf_k))
    acc = np.zeros((n_users, n_cand))
    wsum = np.full((n_users, n_cand), -1.0)  # < 0: no source present yet
    for s in range(n_sources):  # source order, as the kernel adds them
        acc = np.where(valid[s], acc + terms[s], acc)
        wsum = np.where(valid[s], np.maximum(wsum, 0.0) + w[s], wsum)
    present = wsum >= 0.0
    if method == "weighted":
        fused = np.divide(acc, wsum, out=np.zeros_like(acc), where=wsum > 0.0)
        parts = terms / np.where(wsum > 0.0, wsum, 1.0)[None]
    else:
        fused, parts = acc, terms
    shares = np.where(valid, parts, np.nan).astype(np.float32)
    fused32 = fused.astype(np.float32)
    # top-k by (score desc, id asc) over the present candidates; absent ones sort last
    order = np.lexsort((cand, -fused32.astype(np.float64), ~present), axis=-1)[:, :k]
    kept = np.take_along_axis(present, order, axis=1)
    ids = np.where(kept, np.take_along_axis(cand, order, axis=1), -1).astype(np.int32)
    scores = np.where(kept, np.take_along_axis(fused32, order, axis=1), -np.inf)
    if ids.shape[1] < k:  # fewer candidates than k: pad to the documented shape
        ids = np.pad(ids, ((0, 0), (0, k - ids.shape[1])), constant_values=-1)
        scores = np.pad(scores, ((0, 0), (0, k - scores.shape[1])), constant_values=-np.inf)
    return ids, scores.astype(np.float32), shares


def _terms(
    x: np.ndarray,
    valid: np.ndarray,
    cand: np.ndarray,
    w: np.ndarray,
    method: str,
    normalisation: str,
    rrf_k: float,
) -> np.ndarray:
    """``float64[S, B, C]`` weighted term of every source and candidate (0 where not valid):
    the native kernel's ``fuse_row`` arithmetic, vectorised over sources and users.

    ``x``: the sources as float64, 0 where not ``valid``; ``w``: ``float64[S, 1, 1]``.
    """
    n = valid.sum(axis=-1, keepdims=True)  # [S, B, 1]
    if method == "rrf":  # 1-based rank by (score desc, id asc) among the valid candidates
        ids = np.broadcast_to(cand, x.shape)
        order = np.lexsort((ids, -x, ~valid), axis=-1)
        rank = np.empty(x.shape)
        np.put_along_axis(rank, order, np.arange(1.0, x.shape[-1] + 1.0), axis=-1)
        return np.where(valid, w / (rrf_k + rank), 0.0)
    if normalisation == "none":
        return np.where(valid, w * x, 0.0)
    if normalisation == "minmax":
        some = n > 0  # a source with no valid candidate for the user adds nothing
        lo = np.where(some, np.where(valid, x, np.inf).min(axis=-1, keepdims=True), 0.0)
        hi = np.where(some, np.where(valid, x, -np.inf).max(axis=-1, keepdims=True), 0.0)
        span = hi - lo
        scaled = w * ((x - lo) / np.where(span > 0, span, 1.0))
        return np.where(valid & (hi > lo), scaled, 0.0)
    count = np.maximum(n, 1).astype(np.float64)
    mean = np.cumsum(x, axis=-1)[..., -1:] / count  # sums in candidate order, as the kernel
    dev = np.where(valid, x - mean, 0.0)
    sd = np.sqrt(np.cumsum(dev * dev, axis=-1)[..., -1:] / count)
    scaled = w * ((x - mean) / np.where(sd > 0, sd, 1.0))
    return np.where(valid & (sd > 0), scaled, 0.0)


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
