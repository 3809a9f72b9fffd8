"""Native batched neighbour scoring over any neighbour CSR: fused top-k (with evidence) and dense.

Every neighbour model of :mod:`convrec.cf` scores the same way,
``score(b, i) = sum_h histories[b, h] * neighbours[h, i]``: item-kNN (``h`` a history item,
``neighbours`` the item-item similarities), the transition model (``neighbours`` the transition
matrix) and user-kNN (``h`` a neighbour user, ``neighbours`` the training ``user_items``). The
native kernel wants a square neighbour matrix, so a rectangular one is padded with empty rows
(its columns never reach the padding); nothing is copied but ``indptr``.

A square neighbour matrix may also be handed to the CPU kernel in an :class:`ItemLayout`: the
same matrix with its items renumbered by falling popularity, so the scores and neighbour rows
most rows touch sit together in cache. Results are identical (the kernel keeps item ids for
the tie rule, the output and the evidence).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, overload

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from convrec import _native
from convrec.cf._backend import resolve_backend
from convrec.cf._checks import as_csr, check_num_threads, check_positive_int
from convrec.cf.types import FloatArray, IntArray
from convrec.data.dataset import canonical_csr

Int64Array = npt.NDArray[np.int64]

TopK = tuple[IntArray, FloatArray, IntArray | None, FloatArray | None]


def as_neighbours(matrix: Any, name: str = "neighbours") -> sp.csr_matrix:
    """Canonical neighbour CSR (int32 indices sorted and unique, float32 finite data).

    Returns ``matrix`` itself when it already is one (no copy), else a validated copy.
    """
    return as_csr(matrix, name, copy=False)


@dataclass(frozen=True)
class ItemLayout:
    """A square neighbour matrix renumbered for the CPU kernel (same results, better locality).

    Attributes
    ----------
    order : int32[n_items]
        Position -> item id, a permutation.
    neighbours : scipy.sparse.csr_matrix
        float32, shape (n_items, n_items): ``original[order][:, order]``, sorted indices.
    """

    order: IntArray
    neighbours: sp.csr_matrix

    @classmethod
    def by_popularity(cls, neighbours: sp.csr_matrix, popularity: Any) -> ItemLayout:
        """Items by falling ``popularity`` (float or int ``[n_items]``; ties keep id order)."""
        nbr = as_neighbours(neighbours)
        pop = np.asarray(popularity)
        if nbr.shape[0] != nbr.shape[1] or pop.shape != (nbr.shape[0],):
            raise ValueError(
                f"a layout needs a square neighbour matrix and one popularity per item; got "
                f"neighbours {nbr.shape} and popularity {pop.shape}"
            )
        order = np.argsort(-pop, kind="stable").astype(np.int32)
        return cls(order, canonical_csr(nbr[order][:, order]))


def _native_topk(
    hist: sp.csr_matrix,
    nbr: sp.csr_matrix,
    k: int,
    exclude_seen: bool,
    n_evidence: int,
    num_threads: int,
    backend: str,
    layout: ItemLayout | None = None,
) -> TopK:
    n_rows, n_cols = nbr.shape
    cuda = resolve_backend(backend) == "cuda"
    order = None
    if layout is not None and not cuda:  # the CUDA kernel reads the matrix as given
        nbr, order = layout.neighbours, layout.order
    indptr = nbr.indptr
    if n_cols > n_rows:  # pad with empty rows: the kernel wants n_items x n_items
        indptr = np.concatenate([indptr, np.full(n_cols - n_rows, indptr[-1], np.int32)])
    ids, scores, ev, ev_w = _native.score_topk(
        hist.indptr,
        hist.indices,
        hist.data,
        indptr,
        nbr.indices,
        nbr.data,
        k,
        exclude_seen,
        n_evidence,
        num_threads,
        cuda,
        order,
    )
    return ids, scores, ev, ev_w


def score_topk(
    histories: Any,
    neighbours: Any,
    k: int = 10,
    *,
    exclude_seen: bool = False,
    exclude: Any = None,
    n_evidence: int = 0,
    num_threads: int = 0,
    backend: str = "auto",
    layout: ItemLayout | None = None,
    prior: Any = None,
) -> TopK:
    """Top-k columns of ``histories @ neighbours (+ prior)`` per row, natively (ties to the lower
    index).

    Parameters
    ----------
    histories : scipy.sparse matrix, shape (B, n_rows)
        Weights ``w(b, h)`` of the neighbour rows each batch row sums.
    neighbours : scipy.sparse matrix, shape (n_rows, n_cols)
        Neighbour CSR, e.g. item-item similarities, transitions or training ``user_items``.
    k : int
        Columns kept per row (> 0).
    exclude_seen : bool
        Leave each row's history indices out of the results; only when the histories index
        the output space (``n_rows == n_cols``).
    exclude : scipy.sparse matrix, shape (B, n_cols), optional
        Columns to leave out per row (its stored entries; any numeric or bool dtype), e.g.
        the users' items for user-kNN.
    n_evidence : int
        E >= 0: per returned column, the E history rows that contributed most.
    num_threads : int
        OpenMP threads (CPU backend); 0 (the default): OMP_NUM_THREADS, else every core.
    backend : {"auto", "cpu", "cuda"}
    layout : ItemLayout, optional
        ``neighbours`` renumbered (see :meth:`ItemLayout.by_popularity`), which the CPU kernel
        then reads instead; results are unchanged.
    prior : float[n_cols], optional
        Additive per-column prior (e.g. a popularity prior): every column scores
        ``histories @ neighbours + prior``, so columns no edge reaches are candidates too (with
        their prior alone). The kernel returns every reached column and the prior is added
        over a dense ``float32[B, n_cols]`` row block: meant for few rows (sessions).

    Returns
    -------
    ids : int32[B, k]
        Columns best first, padded with -1. Without a prior only columns reached by an edge
        are returned.
    scores : float32[B, k]
        Scores, padded with -inf.
    evidence : int32[B, k, E] or None
        Contributing history rows (padded -1); None when ``n_evidence == 0``.
    evidence_weight : float32[B, k, E] or None
        Their contributions ``w(b, h) * neighbours[h, i]`` (padded 0).
    """
    nbr = as_neighbours(neighbours)
    hist = as_csr(histories, "histories", n_cols=nbr.shape[0], copy=False)
    k = check_positive_int(k, "k")
    threads = check_num_threads(num_threads)
    if isinstance(n_evidence, bool) or not isinstance(n_evidence, int | np.integer):
        raise ValueError(f"n_evidence must be an integer, got {n_evidence!r}")
    if n_evidence < 0:
        raise ValueError(f"n_evidence must be >= 0, got {n_evidence}")
    if exclude_seen and nbr.shape[0] != nbr.shape[1]:
        raise ValueError("exclude_seen needs a square neighbour matrix; pass `exclude` instead")
    if layout is not None and layout.neighbours.shape != nbr.shape:
        raise ValueError(
            f"layout is for a {layout.neighbours.shape} neighbour matrix, not {nbr.shape}"
        )
    if prior is not None:
        return _with_prior(hist, nbr, k, exclude_seen, exclude, n_evidence, threads, prior)
    if exclude is None:
        return _native_topk(hist, nbr, k, exclude_seen, int(n_evidence), threads, backend, layout)
    if sp.issparse(exclude) and exclude.dtype == np.bool_:
        exclude = exclude.astype(np.float32)
    skip = as_csr(exclude, "exclude", n_cols=nbr.shape[1])
    if skip.shape[0] != hist.shape[0]:
        raise ValueError(f"exclude has {skip.shape[0]} rows, histories {hist.shape[0]}")
    fetch = min(max(nbr.shape), k + int(np.diff(skip.indptr).max(initial=0)))
    ids, scores, ev, ev_w = _native_topk(
        hist, nbr, fetch, exclude_seen, int(n_evidence), threads, backend, layout
    )
    row = np.broadcast_to(np.arange(len(ids), dtype=np.int64)[:, None], ids.shape)
    key = row * nbr.shape[1] + ids
    skip_key = np.repeat(np.arange(skip.shape[0], dtype=np.int64), np.diff(skip.indptr))
    skip_key = skip_key * nbr.shape[1] + skip.indices
    drop = (ids < 0) | np.isin(key, skip_key)
    order = np.argsort(drop, axis=1, kind="stable")[:, :k]
    gone = np.take_along_axis(drop, order, axis=1)
    ids = np.where(gone, -1, np.take_along_axis(ids, order, axis=1)).astype(np.int32)
    scores = np.where(gone, -np.inf, np.take_along_axis(scores, order, axis=1))
    if ev is not None and ev_w is not None:
        ev = np.where(gone[..., None], -1, np.take_along_axis(ev, order[..., None], axis=1))
        ev_w = np.where(gone[..., None], 0.0, np.take_along_axis(ev_w, order[..., None], axis=1))
        ev, ev_w = ev.astype(np.int32), ev_w.astype(np.float32)
    if ids.shape[1] < k:  # fewer columns than k exist: pad to the documented shape
        pad = k - ids.shape[1]
        ids = np.pad(ids, ((0, 0), (0, pad)), constant_values=-1)
        scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
        if ev is not None and ev_w is not None:
            ev = np.pad(ev, ((0, 0), (0, pad), (0, 0)), constant_values=-1)
            ev_w = np.pad(ev_w, ((0, 0), (0, pad), (0, 0)))
    return ids, scores.astype(np.float32), ev, ev_w


def _with_prior(
    hist: sp.csr_matrix,
    nbr: sp.csr_matrix,
    k: int,
    exclude_seen: bool,
    exclude: Any,
    n_evidence: int,
    num_threads: int,
    prior: Any,
) -> TopK:
    """:func:`score_topk` with an additive ``prior``: every reached column from the kernel,
    the prior over the dense row block, then the top ``k`` (ties to the lower column)."""
    n_cols = nbr.shape[1]
    bias = np.asarray(prior, dtype=np.float32)
    if bias.shape != (n_cols,) or not np.isfinite(bias).all():
        raise ValueError(f"prior must be {n_cols} finite floats (one per column), got {bias.shape}")
    ids, scores, ev, ev_w = score_topk(
        hist, nbr, max(n_cols, 1), exclude_seen=exclude_seen, exclude=exclude,
        n_evidence=n_evidence, num_threads=num_threads,
    )  # fmt: skip
    n_rows = hist.shape[0]
    dense = np.broadcast_to(bias, (n_rows, n_cols)).copy()
    position = np.full((n_rows, n_cols), -1, np.int64)
    row, col = np.nonzero(ids >= 0)
    dense[row, ids[row, col]] += scores[row, col]
    position[row, ids[row, col]] = col
    if exclude_seen:
        dense[hist.nonzero()] = -np.inf
    if exclude is not None:  # its stored entries, as validated by the call above
        skip = sp.csr_matrix(exclude)
        dense[np.repeat(np.arange(skip.shape[0]), np.diff(skip.indptr)), skip.indices] = -np.inf
    keep = min(k, n_cols)
    item = np.broadcast_to(np.arange(n_cols), dense.shape)
    order = np.lexsort((item, -dense), axis=1)[:, :keep]
    top = np.take_along_axis(dense, order, axis=1)
    gone = ~np.isfinite(top)
    out_ids = np.where(gone, -1, order).astype(np.int32)
    out_scores = np.where(gone, -np.inf, top).astype(np.float32)
    out_ev = out_w = None
    if ev is not None and ev_w is not None:
        j = np.take_along_axis(position, order, axis=1)
        b = np.broadcast_to(np.arange(n_rows)[:, None], j.shape)
        reached = (j >= 0) & ~gone
        out_ev = np.where(reached[..., None], ev[b, np.maximum(j, 0)], -1).astype(np.int32)
        out_w = np.where(reached[..., None], ev_w[b, np.maximum(j, 0)], 0.0).astype(np.float32)
    if keep < k:
        pad = k - keep
        out_ids = np.pad(out_ids, ((0, 0), (0, pad)), constant_values=-1)
        out_scores = np.pad(out_scores, ((0, 0), (0, pad)), constant_values=-np.inf)
        if out_ev is not None and out_w is not None:
            out_ev = np.pad(out_ev, ((0, 0), (0, pad), (0, 0)), constant_values=-1)
            out_w = np.pad(out_w, ((0, 0), (0, pad), (0, 0)))
    return out_ids, out_scores, out_ev, out_w


def score_dense(
    histories: Any, neighbours: Any, num_threads: int = 0, backend: str = "auto"
) -> FloatArray:
    """Dense ``histories @ neighbours`` from the native kernel, for evaluation.

    Columns no neighbour edge reaches score 0 (every model of :mod:`convrec.cf` keeps only
    positive edges, so 0 is below every reached column); history columns are not masked.

    Parameters
    ----------
    histories : scipy.sparse matrix, shape (B, n_rows)
    neighbours : scipy.sparse matrix, shape (n_rows, n_cols)

    Returns
    -------
    float32[B, n_cols]
        Bit-identical to the float32 sparse product summed in history order.
    """
    nbr = as_neighbours(neighbours)
    hist = as_csr(histories, "histories", n_cols=nbr.shape[0], copy=False)
    n_cols = nbr.shape[1]
    threads = check_num_threads(num_threads)
    if resolve_backend(backend) == "cpu":
        return _native.score_dense(
            hist.indptr, hist.indices, hist.data, nbr.indptr, nbr.indices, nbr.data, n_cols, threads
        )
    out = np.zeros((hist.shape[0], n_cols), dtype=np.float32)
    if n_cols == 0 or hist.shape[0] == 0:
        return out
    ids, scores, _, _ = _native_topk(hist, nbr, n_cols, False, 0, threads, backend)
    row = np.broadcast_to(np.arange(len(ids))[:, None], ids.shape)
    hit = ids >= 0
    out[row[hit], ids[hit]] = scores[hit]
    return out


@overload
def rank_top_k(
    scores: np.ndarray, exclude: Any, k: int = ..., *, target: None = ..., num_threads: int = ...
) -> tuple[None, IntArray]: ...
@overload
def rank_top_k(
    scores: np.ndarray, exclude: Any, k: int = ..., *, target: np.ndarray, num_threads: int = ...
) -> tuple[Int64Array, IntArray]: ...
def rank_top_k(
    scores: np.ndarray,
    exclude: Any,
    k: int = 10,
    *,
    target: np.ndarray | None = None,
    num_threads: int = 0,
) -> tuple[Int64Array | None, IntArray]:
    """Each row's best ``k`` items outside ``exclude``, and the pessimistic rank of a target,
    in one native pass over a dense score matrix (evaluation's full ranking).

    Parameters
    ----------
    scores
        ``float32[B, n]`` or ``float64[B, n]`` (anything else is read as float64); NaN reads
        as ``-inf``.
    exclude
        ``[B, n]`` sparse matrix of the items left out of each row (the history).
    k
        List length.
    target
        ``int[B]`` held-out item per row, or None for no ranks.

    Returns
    -------
    (rank, top)
        ``rank`` ``int64[B]`` is ``#{j != target, j not excluded: s[j] >= s[target]}`` (ties
        against the target; the target competes even when excluded), None without a target;
        ``top`` ``int32[B, k]`` lists the items above ``-inf`` by (score desc, index asc),
        ``-1`` for padding and for items scored ``+inf``.
    """
    s = np.asarray(scores)
    if s.dtype not in (np.float32, np.float64):
        s = s.astype(np.float64)
    s = np.ascontiguousarray(s)
    if s.ndim != 2:
        raise ValueError(f"scores must be 2-D (rows x items), got shape {s.shape}")
    ex = as_csr(exclude, "exclude", n_cols=s.shape[1], copy=False)
    if ex.shape[0] != s.shape[0]:
        raise ValueError(f"exclude has {ex.shape[0]} rows, scores {s.shape[0]}")
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    t = None if target is None else np.ascontiguousarray(target, dtype=np.int64)
    return _native.rank_topk(s, ex.indptr, ex.indices, t, k, check_num_threads(num_threads))
