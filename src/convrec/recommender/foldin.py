"""Fold-in ratings: a session's liked titles turned into personal rating estimates."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from convrec.cf.rating import pearson_baseline_similarity
from convrec.data.dataset import Dataset

# co-raters pseudo-count of the similarity (as KNNBaseline's default)
SIMILARITY_SHRINK = 100.0
# pseudo-similarity added to the neighbourhood weights: a session whose liked titles are only
# faintly similar to the target moves the estimate only a little from the baseline
SHRINK = 0.5


def item_residuals(data: Dataset, rows: np.ndarray, baseline: Any) -> sp.csr_matrix:
    """``float64[n_items, n_users]`` CSR of ``r - (mu + b_u + b_i)`` over ``rows``."""
    u, i = data.user[rows], data.item[rows]
    res = data.rating[rows].astype(np.float64) - baseline.predict_ratings(u, i)
    shape = (data.n_items, data.n_users)
    return sp.csr_matrix((res, (i.astype(np.int64), u.astype(np.int64))), shape=shape)


def fold_in_offsets(
    targets: np.ndarray,
    session: np.ndarray,
    residuals: sp.csr_matrix,
    baseline: Any,
    liked_rating: float,
    user_bias: float | None = None,
) -> tuple[np.ndarray, float]:
    """How a session's liked titles move each target's rating, and the session's user bias.

    Each liked title counts as a rating of ``liked_rating``. Its residual over the
    baseline ``mu + b_u + b_j`` pulls a target by the target's similarity to it (items
    liked by the same people *more than their baselines say*, not just chosen by them):
    ``sum_j s_tj r_j / (sum_j |s_tj| + SHRINK)``, as the neighbourhood term of
    :class:`~convrec.cf.rating.KNNBaseline` with the session folded in.

    Parameters
    ----------
    targets, session
        ``int32[n]`` items to rate, ``int32[h]`` the session's liked items.
    residuals
        :func:`item_residuals`: the similarity of two items is the shrunk Pearson-baseline
        correlation of their residuals (:func:`~convrec.cf.rating.pearson_baseline_similarity`),
        computed for the items asked only.
    baseline
        A fitted :class:`~convrec.cf.baselines.BiasBaseline` (``mean_``, ``item_bias_``,
        ``reg_user``).
    liked_rating
        The rating a liked title stands for (the top of the scale).
    user_bias
        A known user's bias; ``None``: fitted on the session as ``BiasBaseline`` fits one,
        ``sum_j (r - mu - b_j) / (reg_user + h)``.

    Returns
    -------
    tuple[numpy.ndarray, float]
        ``float64[n]`` offsets and the user bias used.
    """
    mean = float(baseline.mean_)
    item_bias = np.asarray(baseline.item_bias_, np.float64)
    b_j = mean + item_bias[session]
    if user_bias is None:
        reg = float(getattr(baseline, "reg_user", 10.0))
        user_bias = float(np.sum(liked_rating - b_j) / (reg + len(session)))
    residual = liked_rating - (b_j + user_bias)
    both = np.concatenate([targets, session])
    sim = pearson_baseline_similarity(residuals[both], SIMILARITY_SHRINK)
    s = np.asarray(sim[: len(targets), len(targets) :], np.float64)
    offsets = (s @ residual) / (np.abs(s).sum(axis=1) + SHRINK)
    return offsets, user_bias
