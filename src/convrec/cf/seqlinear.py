"""SequentialLinear: a closed-form ridge model of the next item from a recency-weighted history.

Every training interaction at sequence position ``t`` is one regression example: the input
is the user's previous ``window`` items weighted by how recent they were, the target the
item at ``t``; ``W = (X^T X + l2 I)^{-1} X^T Y`` (the item-transition part of the linear
session models of Choi et al., 2021, "Session-aware linear item-item models"). Its rows
become the neighbour lists of the native engine, so scoring, top-k and evidence are the
same kernels as for the other :class:`~convrec.cf.sequential.NeighbourModel` s.

Up to :data:`MAX_ITEMS` items (by default) the solve is dense and exact; larger catalogues
take the candidate-restricted solve of :mod:`convrec.cf.ridge`, whose memory grows with
``n_items x candidates`` instead of ``n_items ** 2``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from convrec import progress
from convrec.cf.ridge import candidate_ridge, keep_largest_magnitude_csr
from convrec.cf.sequential import NeighbourModel, Ties, _csr, positions_from_end, user_sequences
from convrec.data.dataset import Dataset, canonical_csr

log = logging.getLogger(__name__)

MAX_ITEMS = 20_000
"""Largest catalogue a dense solve takes (:class:`SequentialLinear`'s default
``max_dense_items``, and :class:`~convrec.cf.ease.EASE`'s limit): it holds two dense
``float64[n_items, n_items]`` matrices (3.2 GB each at this size)."""

Solver = Literal["auto", "dense", "sparse"]
SOLVERS = ("auto", "dense", "sparse")


@dataclass
class SequentialLinear(NeighbourModel):
    """Next-item ridge regression over a two-scale recency-weighted history.

    A history item ``p`` positions before the newest one (``p = 0``) weighs
    ``exp(-p / tau) + long_weight * exp(-p / tau_long)``: a sharp head for the last few
    items and a long tail for the user's lasting taste; only the newest ``window`` rows count.
    ``score(u, i) = sum_h w(u, h) * W[h, i]`` with ``W`` the ridge solution (diagonal zeroed,
    each row pruned to its ``k`` entries of largest magnitude: ``W`` has negative weights,
    and they matter).

    Parameters
    ----------
    k
        Entries kept per row of ``W`` (``0``: all).
    window
        History rows that form one input (and the scored user's profile).
    tau, tau_long, long_weight
        The recency kernel above, in positions (``tau_long = inf`` or ``long_weight = 0``:
        one exponential).
    l2
        Ridge penalty ``l2 >= 0`` on ``W`` (``0`` needs a non-singular ``X^T X``).
    ties
        ``"item_order"`` (default) trusts the split's order of interactions sharing a
        timestamp; ``"simultaneous"`` gives them one position.
    solver
        ``"dense"``: the exact solve, two dense ``float64[n_items, n_items]`` matrices;
        ``"sparse"``: each column of ``W`` solved over its ``candidates`` input items only
        (:func:`~convrec.cf.ridge.candidate_ridge`, memory ``O(n_items * (candidates +
        gram_neighbours))`` beyond the examples); ``"auto"`` (default): dense up to
        ``max_dense_items`` items, sparse beyond.
    max_dense_items
        Largest catalogue (``int >= 1``) the dense solve takes: ``"auto"`` switches to the
        sparse solve above it, ``"dense"`` refuses.
    candidates
        Sparse solve: input items per target item (``int >= 1``), those that most often
        precede it, padded with the most frequent items; ``>= n_items`` (with
        ``gram_neighbours >= n_items - 1``) gives the dense solve's ``W``.
    gram_neighbours
        Sparse solve: off-diagonal entries of ``X^T X`` kept per item (``int >= 1``), the
        largest.
    max_inputs
        Most input entries (``int >= 1``) the examples ``X`` may hold, about 12 bytes each
        (and as much again for ``X^T``): above, a seeded random subset of the examples (next
        items) is fitted, each whole. 100M (the default) is about 25M interactions at
        ``window = 4``; MovieLens-25M at ``window = 50`` fits about a tenth of its examples.

    Raises
    ------
    ValueError
        For a bad parameter; at fit, with ``solver="dense"``, for catalogues over
        ``max_dense_items`` items.
    """

    k: int = 500
    window: int = 50
    tau: float = 1.0
    tau_long: float = 16.0
    long_weight: float = 0.5
    l2: float = 300.0
    ties: Ties = "item_order"
    solver: Solver = "auto"
    max_dense_items: int = MAX_ITEMS
    candidates: int = 256
    gram_neighbours: int = 1024
    max_inputs: int = 100_000_000

    def __post_init__(self) -> None:
        if self.k < 0 or self.window < 1:
            raise ValueError(f"need k >= 0 and window >= 1, got k={self.k}, window={self.window}")
        if not (self.tau > 0 and self.tau_long > 0 and self.long_weight >= 0 and self.l2 >= 0):
            raise ValueError(
                "need tau > 0, tau_long > 0, long_weight >= 0 and l2 >= 0, got "
                f"tau={self.tau}, tau_long={self.tau_long}, long_weight={self.long_weight}, "
                f"l2={self.l2}"
            )
        if self.ties not in ("item_order", "simultaneous"):
            raise ValueError(f"ties must be 'item_order' or 'simultaneous', got {self.ties!r}")
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be 'auto', 'dense' or 'sparse', got {self.solver!r}")
        if min(self.max_dense_items, self.candidates, self.gram_neighbours, self.max_inputs) < 1:
            raise ValueError(
                "need max_dense_items >= 1, candidates >= 1, gram_neighbours >= 1 and "
                "max_inputs >= 1, got "
                f"max_dense_items={self.max_dense_items}, candidates={self.candidates}, "
                f"gram_neighbours={self.gram_neighbours}, max_inputs={self.max_inputs}"
            )

    def dense_solve(self, n_items: int) -> bool:
        """Whether a fit on ``n_items`` items takes the dense solve (``False``: sparse).

        Raises
        ------
        ValueError
            ``solver="dense"`` and ``n_items > max_dense_items``.
        """
        if self.solver == "sparse":
            return False
        if n_items <= self.max_dense_items:
            return True
        if self.solver == "dense":
            raise ValueError(
                f"SequentialLinear(solver='dense') solves a dense {n_items} x {n_items} system; "
                f"catalogues above {self.max_dense_items} items need solver='sparse' or 'auto'"
            )
        return False

    def recency(self, positions: np.ndarray) -> np.ndarray:
        """``float64[m]`` weights of history items ``positions`` (``int[m]``, 0 = newest)."""
        p = np.asarray(positions, dtype=np.float64)
        return np.exp(-p / self.tau) + self.long_weight * np.exp(-p / self.tau_long)

    def _weights(self, data: Dataset, rows: np.ndarray) -> sp.csr_matrix:
        user, item, timestamp = user_sequences(data, rows)
        rank = positions_from_end(user, timestamp, "item_order")  # rows from the end
        pos = rank if self.ties == "item_order" else positions_from_end(user, timestamp, self.ties)
        keep = rank < self.window
        return _csr(self.recency(pos[keep]), user[keep], item[keep], (data.n_users, data.n_items))

    def _neighbours(self, data: Dataset, rows: np.ndarray) -> sp.csr_matrix:
        n = data.n_items
        dense = self.dense_solve(n)
        x, y = self.examples(data, rows)
        if not dense:
            try:
                w_sparse = candidate_ridge(
                    x, y, self.l2, self.candidates, self.gram_neighbours, "SequentialLinear"
                )
            except ValueError as err:
                raise ValueError(f"SequentialLinear: {err}") from err
            return keep_largest_magnitude_csr(w_sparse, self.k)
        gram = (x.T @ x).toarray() + self.l2 * np.eye(n)
        rhs = (x.T @ y).toarray()
        try:
            with progress.running(n, desc="SequentialLinear solve", unit="items"):
                w = scipy.linalg.solve(gram, rhs, assume_a="pos", overwrite_a=True)
        except np.linalg.LinAlgError as err:
            raise ValueError(
                "SequentialLinear: X^T X + l2 I is singular (items never seen in a history); "
                f"use l2 > 0 (got {self.l2})"
            ) from err
        np.fill_diagonal(w, 0.0)
        return keep_largest_magnitude(w, self.k)

    def examples(self, data: Dataset, rows: np.ndarray) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """The regression examples of ``rows``: one per interaction with a predecessor (a
        seeded random subset of them when their inputs would pass ``max_inputs``).

        Returns
        -------
        (X, Y)
            ``float64[m', n_items]`` recency-weighted previous ``window`` items (canonical
            CSR) and the one-hot ``float64[m', n_items]`` next item, in :func:`user_sequences`
            order.
        """
        user, item, timestamp = user_sequences(data, rows)
        pos = positions_from_end(user, timestamp, self.ties)
        m, n = len(user), data.n_items
        at = np.arange(m)
        first = np.zeros(m, dtype=np.int64)  # each row's user's first row
        if m:
            starts = np.flatnonzero(np.r_[True, user[1:] != user[:-1]])
            first = np.repeat(starts, np.diff(np.r_[starts, m]))
        n_in = np.minimum(at - first, self.window)  # same-user predecessors an example reads
        targets = np.flatnonzero(n_in > 0)
        total = int(n_in[targets].sum())
        if total > self.max_inputs:
            share = self.max_inputs / total
            targets = targets[np.random.default_rng(0).random(len(targets)) < share]
            log.info(
                "SequentialLinear: %d input entries > max_inputs %d: fitting %.1f%% of the "
                "examples (%d)",
                total,
                self.max_inputs,
                100 * share,
                len(targets),
            )
        counts = n_in[targets]
        indptr = np.zeros(len(targets) + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        indices = np.empty(int(indptr[-1]), dtype=np.int32)
        values = np.empty(int(indptr[-1]), dtype=np.float64)
        for d in range(1, self.window + 1):  # each example's d-th previous row
            has = np.flatnonzero(counts >= d)
            if len(has) == 0:
                break
            t = targets[has]
            slot = indptr[has] + (d - 1)
            indices[slot] = item[t - d]
            values[slot] = self.recency(np.maximum(pos[t - d] - pos[t] - 1, 0))
        x = sp.csr_matrix((values, indices, indptr), shape=(len(targets), n))
        x.sum_duplicates()  # sorted, an item met twice in one window summed
        nxt = item[targets]
        y = _csr(np.ones(len(nxt)), np.arange(len(nxt)), nxt, (len(nxt), n), np.float64)
        return x, y


def keep_largest_magnitude(dense: np.ndarray, k: int, chunk: int = 1024) -> sp.csr_matrix:
    """``float64[n, m]`` -> float32 CSR with each row's ``k`` largest-``|value|`` non-zeros.

    ``k = 0`` keeps every non-zero; otherwise the others are zeroed in ``dense`` itself
    (``chunk`` rows at a time, no second dense copy).
    """
    n_rows, n_cols = dense.shape
    if 0 < k < n_cols:
        for start in range(0, n_rows, chunk):
            block = dense[start : start + chunk]
            cut = np.argpartition(-np.abs(block), k - 1, axis=1)[:, k:]
            np.put_along_axis(block, cut, 0.0, axis=1)
    return canonical_csr(sp.csr_matrix(dense.astype(np.float32)))


__all__ = ["MAX_ITEMS", "SOLVERS", "SequentialLinear", "Solver", "keep_largest_magnitude"]
