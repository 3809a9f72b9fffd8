"""Readable numpy references of the native CF kernels (similarity, scoring + top-k, fusion, shares).

These are slow, dense and meant for tests: each mirrors the documented semantics of its kernel,
including the tie rule (higher score first, then the lower item index) and the float32 rounding
points, so results can be compared with exact id equality.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from convrec.cf.fusion import METHODS, NORMALISATIONS
from convrec.cf.types import FloatArray, IntArray


def _rank_order(scores: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Positions sorted by (score desc, id asc)."""
    return np.lexsort((ids, -scores.astype(np.float64)))


def transformed_values(
    user_items: sp.csr_matrix, similarity: str, bm25_k1: float = 1.2, bm25_b: float = 0.75
) -> np.ndarray:
    """Dense float64 users x items matrix of the values the measure compares (0 where absent)."""
    x = user_items.toarray().astype(np.float64)
    mask = np.zeros(x.shape, dtype=bool)
    coo = user_items.tocoo()
    mask[coo.row, coo.col] = True
    n_users, n_items = x.shape
    if similarity == "cosine":
        return x
    if similarity == "adjusted_cosine":
        counts = mask.sum(axis=1)
        means = np.divide(x.sum(axis=1), counts, out=np.zeros(n_users), where=counts > 0)
        return np.where(mask, x - means[:, None], 0.0)
    if similarity == "pearson":
        counts = mask.sum(axis=0)
        means = np.divide(x.sum(axis=0), counts, out=np.zeros(n_items), where=counts > 0)
        return np.where(mask, x - means[None, :], 0.0)
    if similarity == "bm25":
        item_len = x.sum(axis=0)
        avg_len = item_len.sum() / n_items if n_items else 0.0
        rel_len = item_len / avg_len if avg_len > 0 else np.ones(n_items)
        df = mask.sum(axis=1).astype(np.float64)
        idf = np.log(1.0 + (n_items - df + 0.5) / (df + 0.5))
        k1, b = bm25_k1, bm25_b
        with np.errstate(divide="ignore", invalid="ignore"):
            w = x * (k1 + 1.0) / (x + k1 * ((1.0 - b) + b * rel_len[None, :])) * idf[:, None]
        return np.where(mask, w, 0.0)
    raise ValueError(f"unknown similarity {similarity!r}")


def item_similarity(
    user_items: sp.csr_matrix,
    n_neighbours: int,
    similarity: str = "cosine",
    shrink: float = 0.0,
    bm25_k1: float = 1.2,
    bm25_b: float = 0.75,
) -> sp.csr_matrix:
    """Top-K item-item neighbours, dense reference of ``_native.item_similarity``.

    Parameters
    ----------
    user_items : scipy.sparse.csr_matrix, float32, shape (n_users, n_items)
    n_neighbours : int
        K kept per item (only similarities > 0, never the item itself).

    Returns
    -------
    scipy.sparse.csr_matrix, float32, shape (n_items, n_items), rows sorted by item index.
    """
    v = transformed_values(user_items, similarity, bm25_k1, bm25_b)
    coo = user_items.tocoo()
    present = np.zeros(user_items.shape)
    present[coo.row, coo.col] = 1.0
    n_items = v.shape[1]
    # Sum over users in ascending order, as the kernel does (no BLAS: its order and FMAs differ).
    dots = np.zeros((n_items, n_items))
    for u in range(v.shape[0]):
        dots += np.multiply.outer(v[u], v[u])
    common = present.T @ present
    norms = np.sqrt(np.diag(dots))
    denom = norms[:, None] * norms[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        sims = dots / denom
        sims = sims * (common / (common + shrink))
    sims = np.where((denom > 0) & (common > 0), sims, 0.0).astype(np.float32)
    np.fill_diagonal(sims, 0.0)
    rows, cols, vals = [], [], []
    ids = np.arange(n_items)
    for i in range(n_items):
        keep = [j for j in _rank_order(sims[i], ids) if sims[i, j] > 0][:n_neighbours]
        keep.sort()
        rows += [i] * len(keep)
        cols += keep
        vals += [sims[i, j] for j in keep]
    out = sp.csr_matrix(
        (np.asarray(vals, np.float32), (np.asarray(rows, int), np.asarray(cols, int))),
        shape=(n_items, n_items),
    )
    out.sort_indices()
    return out


def score_topk(
    histories: sp.csr_matrix,
    neighbours: sp.csr_matrix,
    k: int,
    exclude_seen: bool = True,
    n_evidence: int = 0,
) -> tuple[IntArray, FloatArray, IntArray, FloatArray]:
    """Batched neighbour scoring + top-k, reference of ``_native.score_topk``.

    Parameters
    ----------
    histories : scipy.sparse.csr_matrix, float32, shape (B, n_items)
    neighbours : scipy.sparse.csr_matrix, float32, shape (n_items, n_items)

    Returns
    -------
    ids : int32[B, k], scores : float32[B, k], evidence : int32[B, k, E],
    evidence_weight : float32[B, k, E]
    """
    n_users, n_items = histories.shape
    ids = np.full((n_users, k), -1, np.int32)
    scores = np.full((n_users, k), -np.inf, np.float32)
    evidence = np.full((n_users, k, n_evidence), -1, np.int32)
    evidence_weight = np.zeros((n_users, k, n_evidence), np.float32)
    for b in range(n_users):
        row = slice(histories.indptr[b], histories.indptr[b + 1])
        hist_items, hist_w = histories.indices[row], histories.data[row]
        score = np.zeros(n_items, np.float32)
        reached = np.zeros(n_items, bool)
        for h, w in zip(hist_items, hist_w, strict=True):  # history order, float32 sums
            nbr = slice(neighbours.indptr[h], neighbours.indptr[h + 1])
            score[neighbours.indices[nbr]] += np.float32(w) * neighbours.data[nbr]
            reached[neighbours.indices[nbr]] = True
        if exclude_seen:
            reached[hist_items] = False
        cand = np.flatnonzero(reached)
        top = cand[_rank_order(score[cand], cand)][:k]
        ids[b, : len(top)] = top
        scores[b, : len(top)] = score[top]
        for j, item in enumerate(top):
            contrib = [
                (np.float32(w) * neighbours[h, item], h)
                for h, w in zip(hist_items, hist_w, strict=True)
                if item in neighbours.indices[neighbours.indptr[h] : neighbours.indptr[h + 1]]
            ]
            contrib.sort(key=lambda t: (-float(t[0]), t[1]))
            for e, (c, h) in enumerate(contrib[:n_evidence]):
                evidence[b, j, e] = h
                evidence_weight[b, j, e] = c
    return ids, scores, evidence, evidence_weight


def score_dense(histories: sp.csr_matrix, neighbours: sp.csr_matrix) -> FloatArray:
    """Reference of ``_native.score_dense``: ``float32[B, n_cols]`` sums in history order."""
    out = np.zeros((histories.shape[0], neighbours.shape[1]), np.float32)
    for b in range(histories.shape[0]):
        for e in range(histories.indptr[b], histories.indptr[b + 1]):
            h, w = histories.indices[e], np.float32(histories.data[e])
            nbr = slice(neighbours.indptr[h], neighbours.indptr[h + 1])
            out[b, neighbours.indices[nbr]] += w * neighbours.data[nbr]
    return out


def rank_topk(
    scores: np.ndarray, exclude: sp.csr_matrix, k: int, target: np.ndarray | None = None
) -> tuple[np.ndarray | None, IntArray]:
    """Reference of ``_native.rank_topk``: pessimistic ranks and top-k lists.

    ``rank[b] = #{j != target, j not excluded: s[j] >= s[target]}`` with NaN as ``-inf``
    (the target competes even when excluded); ``top[b]`` the ``k`` items outside
    ``exclude`` above ``-inf`` by (score desc, index asc), ``-1`` for padding and ``+inf``.
    """
    s = np.where(np.isnan(scores), -np.inf, scores).astype(np.float64)
    n_rows, n_cols = s.shape
    rank = None if target is None else np.zeros(n_rows, np.int64)
    top = np.full((n_rows, k), -1, np.int32)
    for b in range(n_rows):
        out = set(exclude.indices[exclude.indptr[b] : exclude.indptr[b + 1]].tolist())
        if rank is not None and target is not None:
            t = int(target[b])
            rival = [j for j in range(n_cols) if j != t and j not in out]
            rank[b] = int((s[b, rival] >= s[b, t]).sum())
        cand = np.array([j for j in range(n_cols) if j not in out and s[b, j] > -np.inf], np.int64)
        best = cand[_rank_order(s[b, cand], cand)][:k] if len(cand) else cand
        top[b, : len(best)] = np.where(np.isfinite(s[b, best]), best, -1)
    return rank, top


def fuse_topk(
    candidates: np.ndarray,
    sources: np.ndarray,
    weights: np.ndarray,
    k: int,
    method: str = "weighted",
    normalisation: str = "zscore",
    rrf_k: float = 60.0,
) -> tuple[IntArray, FloatArray]:
    """Per-user normalised blend or reciprocal-rank fusion, reference of ``_native.fuse_topk``.

    Parameters
    ----------
    candidates : int32[B, C] (-1 = padding)
    sources : float32[S, B, C] (NaN = missing)
    weights : float32[S]
    """
    n_sources, n_users, n_cand = sources.shape
    ids = np.full((n_users, k), -1, np.int32)
    scores = np.full((n_users, k), -np.inf, np.float32)
    for b in range(n_users):
        cand = candidates[b]
        acc = np.zeros(n_cand)
        wsum = np.zeros(n_cand)
        present = np.zeros(n_cand, bool)
        for s in range(n_sources):
            x = sources[s, b].astype(np.float64)
            valid = (cand >= 0) & ~np.isnan(x)
            if not valid.any():
                continue
            xv = x[valid]
            w = float(weights[s])
            if method == "rrf":
                order = _rank_order(xv, cand[valid])
                rank = np.empty(len(xv))
                rank[order] = np.arange(1, len(xv) + 1)
                term = w / (rrf_k + rank)
            elif normalisation == "zscore":
                sd = np.sqrt(((xv - xv.mean()) ** 2).mean())
                term = w * ((xv - xv.mean()) / sd) if sd > 0 else np.zeros_like(xv)
            elif normalisation == "minmax":
                lo, hi = xv.min(), xv.max()
                term = w * ((xv - lo) / (hi - lo)) if hi > lo else np.zeros_like(xv)
            else:
                term = w * xv
            acc[valid] += term
            wsum[valid] += w
            present |= valid
        if method == "weighted":
            fused = np.divide(acc, wsum, out=np.zeros(n_cand), where=wsum > 0)
        else:
            fused = acc
        fused32 = fused.astype(np.float32)
        pos = np.flatnonzero(present)
        top = pos[_rank_order(fused32[pos], cand[pos])][:k]
        ids[b, : len(top)] = cand[top]
        scores[b, : len(top)] = fused32[top]
    return ids, scores


def fusion_contributions(
    candidates: Any,
    sources: Any,
    weights: Any = None,
    method: str = "weighted",
    normalisation: str = "zscore",
    rrf_k: float = 60.0,
) -> FloatArray:
    """Each source's share of the fused score of every candidate: the reference of the shares
    of :func:`convrec.cf.fusion.fuse_with_shares` (numpy means, one source and user at a time).

    ``fusion_contributions(...).sum(axis=0)`` is the fused score. Same arguments and
    semantics as :func:`convrec.cf.fusion.fuse`.

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
                terms[s, b, ok] = w[s] * _fusion_term(srcs[s, b, ok], cand[b, ok], method,
                                               normalisation, rrf_k)  # fmt: skip
    if method == "weighted":
        wsum = (valid * w[:, None, None]).sum(axis=0)
        terms = terms / np.where(wsum > 0, wsum, 1.0)  # wsum 0: every present term is 0
    return terms.astype(np.float32)


def _fusion_term(
    x: np.ndarray, ids: np.ndarray, method: str, normalisation: str, rrf_k: float
) -> Any:
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
