"""Maximal marginal relevance (MMR): greedy re-ranking of a candidate pool for diversity."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp


def mmr_rerank(
    candidates: np.ndarray,
    relevance: np.ndarray,
    similarity: Any,
    k: int,
    diversity: float,
) -> np.ndarray:
    """Re-rank each row's candidates greedily by maximal marginal relevance.

    With ``d = diversity``, the next item is the remaining candidate ``i`` maximising

    ``(1 - d) * rel(i) - d * max_{j already picked} sim(i, j)``

    (Carbonell & Goldstein's MMR with ``lambda = 1 - d``; the first pick is the most relevant
    item). ``rel`` is the relevance min-max scaled to [0, 1] over the row's valid candidates,
    so that it is comparable with a cosine similarity. ``d = 0`` keeps the relevance order,
    ``d = 1`` ignores relevance after the first pick. Ties go to the earlier candidate.

    Parameters
    ----------
    candidates : numpy.ndarray
        ``int32[B, C]`` item indices, ``-1`` for padding.
    relevance : numpy.ndarray
        ``float[B, C]`` scores (higher is better); NaN or -inf marks a candidate as missing.
    similarity : scipy.sparse matrix or numpy.ndarray
        ``float[n_items, n_items]`` item-item similarity (missing entries are 0), e.g. the
        Recommender's item cosine neighbours.
    k : int
        Items kept per row (> 0).
    diversity : float
        ``d`` in [0, 1].

    Returns
    -------
    numpy.ndarray
        ``int32[B, k]`` picked items in pick order, padded with -1.
    """
    cand = np.asarray(candidates)
    rel = np.asarray(relevance, dtype=np.float64)
    if cand.ndim != 2 or rel.shape != cand.shape:
        raise ValueError(f"candidates {cand.shape} and relevance {rel.shape} must be [B, C]")
    if not 0.0 <= diversity <= 1.0:
        raise ValueError(f"diversity must be in [0, 1], got {diversity}")
    if k <= 0:
        raise ValueError(f"k must be > 0, got {k}")
    sim = sp.csr_matrix(similarity) if not sp.issparse(similarity) else similarity.tocsr()
    out = np.full((len(cand), k), -1, dtype=np.int32)
    for b in range(len(cand)):
        valid = np.flatnonzero((cand[b] >= 0) & np.isfinite(rel[b]))
        if not len(valid):
            continue
        items = cand[b, valid]
        r = rel[b, valid]
        span = r.max() - r.min()
        r = (r - r.min()) / span if span > 0 else np.ones_like(r)
        pair = np.asarray(sim[items][:, items].todense(), dtype=np.float64)
        closest = np.full(len(items), -np.inf)  # max similarity to the picked items
        free = np.ones(len(items), dtype=bool)
        for pos in range(min(k, len(items))):
            gain = r if pos == 0 else (1.0 - diversity) * r - diversity * closest
            pick = int(np.argmax(np.where(free, gain, -np.inf)))
            out[b, pos] = items[pick]
            free[pick] = False
            closest = np.maximum(closest, pair[:, pick])
    return out
