"""Candidate-restricted ridge solve of ``W = (X^T X + l2 I)^{-1} X^T Y`` in memory linear in items.

The dense solve of :class:`~convrec.cf.seqlinear.SequentialLinear` holds two
``items x items`` matrices. Here each column ``j`` of ``W`` (the weights of every input item
for target item ``j``) is solved over a candidate set ``C_j`` of input items only: the
``candidates`` items that most often precede ``j`` (largest ``(X^T Y)[h, j]``), padded with
the most frequent items. It is the neighbourhood regression of sparse linear item models
(Ning & Karypis, 2011, "SLIM"; Steck, 2019, "Markov random fields for collaborative
filtering"), with the ridge of the dense solve::

    W[C_j, j] = (G[C_j, C_j] + l2 I)^{-1} (X^T Y)[C_j, j],    G = X^T X

``G`` itself is only held pruned: each row keeps its ``gram_neighbours`` largest
off-diagonal entries and the diagonal (read symmetric: an entry stays when either of its
rows keeps it). Left-out entries read as zero; should a candidate block then lose positive
definiteness, the block is retried with each row's left-out mass added to its diagonal,
which makes ``G`` plus that diagonal at least ``G`` itself (a diagonally dominant
correction; ``X`` has no negative entry), hence positive definite. When both sizes cover
the catalogue, nothing is pruned and the result is the dense solve's.

Memory: ``X``, ``X^T Y`` (no more entries than ``X``), the pruned Gram matrix
(``<= n_items * gram_neighbours`` entries), the candidate sets and ``W``
(``n_items * candidates`` each) and one dense block of rows of ``G`` at a time.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from convrec import progress
from convrec.data.dataset import canonical_csr

BLOCK_ENTRIES = 1 << 23
"""Dense entries (float64) of one block of Gram rows while it is pruned (64 MiB)."""

UNION_FACTOR = 4
"""Targets are solved in groups whose candidate sets together hold at most this many times
``candidates`` items (their dense Gram block is read once for the group)."""


def pruned_gram(
    x: sp.csr_matrix, keep: int, desc: str = "Gram matrix"
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """``G = X^T X`` with each row's ``keep`` largest off-diagonal entries.

    The Gram matrix the sparse solve reads is the symmetric union
    ``maximum(kept, kept.T)``: an entry stays when either of its rows keeps it (read it
    block by block, since a frequent item may be kept by every row).

    Parameters
    ----------
    x : scipy.sparse.csr_matrix
        ``float64[m, n]`` examples, no negative entry.
    keep : int
        Off-diagonal entries kept per row (``>= 1``).
    desc : str
        The progress bar's stage name.

    Returns
    -------
    kept : scipy.sparse.csr_matrix
        ``float64[n, n]`` each row's kept off-diagonal entries of ``G`` (exact values, at
        most ``keep`` per row).
    diag : numpy.ndarray
        ``float64[n]`` the diagonal of ``G``.
    dropped : numpy.ndarray
        ``float64[n]`` per row, the sum of the off-diagonal entries the symmetric union
        leaves out (``>= 0``).
    """
    if keep < 1:
        raise ValueError(f"pruned_gram needs keep >= 1, got {keep}")
    x = sp.csr_matrix(x, dtype=np.float64)
    if x.nnz and x.data.min() < 0:
        raise ValueError("pruned_gram needs a non-negative X")
    n = x.shape[1]
    xt = x.T.tocsr()
    x.sum_duplicates()  # in place; the squares below need one entry per (row, column)
    diag = np.bincount(x.indices, weights=np.square(x.data), minlength=n).astype(np.float64)
    off_total = xt @ np.asarray(x.sum(axis=1), dtype=np.float64).ravel() - diag
    step = max(1, BLOCK_ENTRIES // max(n, 1))
    rows, cols, vals = [], [], []
    with progress.bar(n, desc=desc, unit="items") as bar:
        for start in range(0, n, step):
            stop = min(n, start + step)
            block = (xt[start:stop] @ x).toarray()
            local = np.arange(stop - start)
            block[local, local + start] = 0.0
            if keep < n - 1:
                top = np.argpartition(-block, keep - 1, axis=1)[:, :keep]
            else:
                top = np.broadcast_to(np.arange(n), block.shape)
            values = np.take_along_axis(block, top, axis=1)
            r, c = np.nonzero(values > 0)
            rows.append(r + start)
            cols.append(top[r, c])
            vals.append(values[r, c])
            bar.update(stop - start)
    kept = canonical_csr(
        sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
        )
    )
    union_sums = np.asarray(kept.maximum(kept.T).sum(axis=1)).ravel()
    dropped = np.maximum(off_total - union_sums, 0.0)
    return kept, diag, dropped


def candidate_sets(
    rhs_t: sp.csr_matrix, size: int, popular: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each target's ``size`` candidate input items.

    Parameters
    ----------
    rhs_t : scipy.sparse.csr_matrix
        ``float64[n, n]`` ``(X^T Y)^T``: row ``j`` holds how much each input item preceded
        target ``j``.
    size : int
        Candidates per target (``<= n``).
    popular : numpy.ndarray
        ``int[n]`` every item, most frequent first: the padding of short rows.

    Returns
    -------
    targets : numpy.ndarray
        ``int64[t]`` the targets with any predecessor (the others have ``W[:, j] = 0``).
    sets : numpy.ndarray
        ``int64[t, size]`` their candidates, the strongest predecessor first.
    """
    n = rhs_t.shape[0]
    targets = np.flatnonzero(np.diff(rhs_t.indptr) > 0)
    sets = np.empty((len(targets), size), dtype=np.int64)
    taken = np.zeros(n, dtype=bool)
    for slot, j in enumerate(targets):
        s, e = rhs_t.indptr[j], rhs_t.indptr[j + 1]
        idx, val = rhs_t.indices[s:e], rhs_t.data[s:e]
        if len(idx) > size:
            top = np.argpartition(-val, size - 1)[:size]
            idx, val = idx[top], val[top]
        idx = idx[np.argsort(-val, kind="stable")]
        if len(idx) < size:
            taken[idx] = True
            pad = popular[: size + len(idx)]
            idx = np.concatenate([idx, pad[~taken[pad]][: size - len(idx)]])
            taken[idx] = False
        sets[slot] = idx
    return targets, sets


def candidate_ridge(
    x: sp.csr_matrix,
    y: sp.csr_matrix,
    l2: float,
    candidates: int,
    gram_neighbours: int,
    desc: str = "sparse ridge solve",
) -> sp.csr_matrix:
    """``W[C_j, j]`` of the module docstring for every target ``j``.

    Parameters
    ----------
    x, y : scipy.sparse.csr_matrix
        ``float64[m, n]`` non-negative inputs and targets of ``m`` examples.
    l2 : float
        Ridge penalty ``>= 0``.
    candidates : int
        Input items per target (``>= 1``; ``>= n``: every item).
    gram_neighbours : int
        Off-diagonal entries of ``X^T X`` kept per row (``>= 1``).
    desc : str
        Prefix of the progress bars' stage names.

    Returns
    -------
    scipy.sparse.csr_matrix
        ``float64[n, n]`` ``W`` with at most ``candidates`` entries per column, the diagonal
        left out.

    Raises
    ------
    ValueError
        When a candidate block stays singular (possible only with ``l2 = 0``).
    """
    n = x.shape[1]
    size = min(candidates, n)
    off, diag, dropped = pruned_gram(x, min(gram_neighbours, max(n - 1, 1)), f"{desc}: Gram")
    rhs_t = canonical_csr(sp.csr_matrix(y.T @ x, dtype=np.float64))
    targets, sets = candidate_sets(rhs_t, size, np.argsort(-diag, kind="stable"))
    weights = np.zeros(sets.shape, dtype=np.float64)
    order = np.argsort(sets[:, 0], kind="stable")  # targets sharing a lead predecessor together
    cap = UNION_FACTOR * size
    member = np.zeros(n, dtype=bool)
    group: list[int] = []
    in_union = 0
    with progress.bar(len(targets), desc=f"{desc}: {size} candidates", unit="items") as bar:
        for slot in order:
            new = sets[slot][~member[sets[slot]]]
            if group and in_union + len(new) > cap:
                _solve_group(group, member, sets, weights, rhs_t, targets, off, diag, dropped, l2)
                bar.update(len(group))
                member[:] = False
                group, in_union, new = [], 0, sets[slot]
            member[new] = True
            in_union += len(new)
            group.append(int(slot))
        if group:
            _solve_group(group, member, sets, weights, rhs_t, targets, off, diag, dropped, l2)
            bar.update(len(group))
    cols = np.repeat(targets, size)
    rows = sets.ravel()
    keep = (rows != cols) & (weights.ravel() != 0.0)
    return sp.csr_matrix((weights.ravel()[keep], (rows[keep], cols[keep])), shape=(n, n))


def _solve_group(
    group: list[int],
    member: np.ndarray,
    sets: np.ndarray,
    weights: np.ndarray,
    rhs_t: sp.csr_matrix,
    targets: np.ndarray,
    off: sp.csr_matrix,
    diag: np.ndarray,
    dropped: np.ndarray,
    l2: float,
) -> None:
    """Solve the targets ``group`` (rows of ``sets``) into ``weights``, reading ``G`` once."""
    union = np.flatnonzero(member)
    where = np.full(len(member), -1, dtype=np.int64)
    where[union] = np.arange(len(union))
    block = off[union][:, union].toarray()
    np.maximum(block, block.T, out=block)  # the symmetric union of the rows' kept entries
    scratch = np.zeros(len(member), dtype=np.float64)
    for slot in group:
        cand = sets[slot]
        j = targets[slot]
        s, e = rhs_t.indptr[j], rhs_t.indptr[j + 1]
        scratch[rhs_t.indices[s:e]] = rhs_t.data[s:e]
        rhs = scratch[cand]
        scratch[rhs_t.indices[s:e]] = 0.0
        local = where[cand]
        a = block[np.ix_(local, local)]
        a[np.diag_indices_from(a)] += diag[cand] + l2
        try:
            factor = scipy.linalg.cho_factor(a, lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            a[np.diag_indices_from(a)] += dropped[cand]
            try:
                factor = scipy.linalg.cho_factor(a, lower=True, check_finite=False)
            except np.linalg.LinAlgError as err:
                raise ValueError(
                    f"the ridge system of item {j} is singular (items never seen in a "
                    f"history); use l2 > 0 (got {l2})"
                ) from err
        weights[slot] = scipy.linalg.cho_solve(factor, rhs, check_finite=False)


def keep_largest_magnitude_csr(mat: sp.spmatrix, k: int) -> sp.csr_matrix:
    """``float[n, m]`` sparse -> float32 CSR with each row's ``k`` largest-``|value|`` entries.

    ``k = 0`` keeps every non-zero (the sparse twin of
    :func:`~convrec.cf.seqlinear.keep_largest_magnitude`).
    """
    mat = canonical_csr(sp.csr_matrix(mat, dtype=np.float64))
    mat.eliminate_zeros()
    if k > 0:
        counts = np.diff(mat.indptr)
        rows = np.repeat(np.arange(mat.shape[0]), counts)
        order = np.lexsort((-np.abs(mat.data), rows))
        rank = np.arange(mat.nnz) - mat.indptr[rows[order]]
        chosen = np.sort(order[rank < k])
        mat = sp.csr_matrix(
            (mat.data[chosen], (rows[chosen], mat.indices[chosen])), shape=mat.shape
        )
    return canonical_csr(mat.astype(np.float32))


__all__ = ["candidate_ridge", "candidate_sets", "keep_largest_magnitude_csr", "pruned_gram"]
