"""Sequence-aware item-neighbour ranking models: recency-weighted history x native neighbour CSR."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np
import scipy.sparse as sp

from convrec import progress
from convrec.cf._checks import check_item, check_positive_int
from convrec.cf.base import CFModel, sparse_row_top_k
from convrec.cf.knn import KNNConfig, keep_top_k, native_similarity
from convrec.cf.scoring import score_dense, score_topk
from convrec.cf.types import FloatArray, IntArray
from convrec.data.dataset import Dataset, canonical_csr
from convrec.storage import csr_arrays, csr_from_arrays

Ties = Literal["simultaneous", "item_order"]
_Model = TypeVar("_Model", bound="NeighbourModel")


# --------------------------------------------------------------------------- building blocks


def user_sequences(data: Dataset, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Interactions of ``rows`` in each user's consumption order.

    Sorted by (user, timestamp, item index), the order protocol B uses.

    Parameters
    ----------
    data
        The dataset.
    rows
        ``int64[m]`` interaction row indices.

    Returns
    -------
    (user, item, timestamp)
        ``int32[m]``, ``int32[m]``, ``int64[m]``, grouped by user, oldest first.
    """
    rows = np.asarray(rows, dtype=np.int64)
    order = rows[np.lexsort((data.item[rows], data.timestamp[rows], data.user[rows]))]
    return data.user[order], data.item[order], data.timestamp[order]


def positions_from_end(user: np.ndarray, timestamp: np.ndarray, ties: Ties) -> np.ndarray:
    """How far back each interaction lies in its user's sequence (0 = the latest).

    Parameters
    ----------
    user, timestamp
        ``int32[m]`` / ``int64[m]`` in :func:`user_sequences` order.
    ties
        ``"simultaneous"`` counts distinct timestamps, so interactions sharing a
        timestamp share a position; ``"item_order"`` counts rows (ties broken by
        item index, as the split does).

    Returns
    -------
    numpy.ndarray
        ``int64[m]`` positions.
    """
    m = len(user)
    if m == 0:
        return np.zeros(0, dtype=np.int64)
    new_user = np.ones(m, dtype=bool)
    new_user[1:] = user[1:] != user[:-1]
    step = np.ones(m, dtype=bool)
    if ties == "simultaneous":
        step[1:] = new_user[1:] | (timestamp[1:] != timestamp[:-1])
    event = np.cumsum(step)
    last = np.append(np.flatnonzero(new_user[1:]), m - 1)  # last row of every user
    user_end = np.repeat(event[last], np.diff(np.append(0, last + 1)))
    return (user_end - event).astype(np.int64)


def history_weights(
    data: Dataset, rows: np.ndarray, tau: float, ties: Ties = "simultaneous"
) -> sp.csr_matrix:
    """Users x items weights ``w(u, h) = exp(-position_from_end(u, h) / tau)``.

    Parameters
    ----------
    data
        The dataset.
    rows
        ``int64[m]`` history rows.
    tau
        Recency scale in positions; ``inf`` weighs the whole history equally.
    ties
        See :func:`positions_from_end`.

    Returns
    -------
    scipy.sparse.csr_matrix
        ``float32[n_users, n_items]`` with int32 indices, sorted.
    """
    user, item, timestamp = user_sequences(data, rows)
    if math.isinf(tau):
        w = np.ones(len(user), dtype=np.float64)
    else:
        w = np.exp(-positions_from_end(user, timestamp, ties) / tau)
    return _csr(w, user, item, (data.n_users, data.n_items))


def transition_blocks(
    user: np.ndarray,
    item: np.ndarray,
    timestamp: np.ndarray,
    n_items: int,
    *,
    window: int,
    decay: float,
    backward: float,
    ties: Ties,
    max_pairs: int = 1 << 24,
) -> Iterator[tuple[int, sp.csr_matrix]]:
    """Directed sequential co-occurrence ``C[h, i]`` (how often ``i`` follows ``h`` closely),
    a block of head items ``h`` at a time.

    Every pair of one user's interactions ``d`` rows apart (``1 <= d <= window``)
    adds ``decay ** (d - 1)`` to ``C[earlier, later]`` and ``backward`` times that
    to ``C[later, earlier]``. With ``ties="simultaneous"`` a pair sharing a
    timestamp has no direction and adds ``(1 + backward) / 2`` times the weight
    both ways. Memory follows the block, not the whole matrix: a block holds the
    heads of at most about ``max_pairs`` pairs (of one item at least).

    Parameters
    ----------
    user, item, timestamp
        ``int32[m]``, ``int32[m]``, ``int64[m]`` in :func:`user_sequences` order.
    n_items
        Matrix size.
    max_pairs
        Pairs per block, about.

    Yields
    ------
    (first, rows)
        ``rows`` is ``C[first : first + rows.shape[0]]``, a ``float64[h, n_items]`` CSR;
        ``C``'s diagonal is zero. The blocks cover every head item, in order.
    """
    m = len(item)
    by_item = np.argsort(item, kind="stable")
    starts = np.zeros(n_items + 1, dtype=np.int64)
    np.cumsum(np.bincount(item, minlength=n_items), out=starts[1:])
    per_block = max(max_pairs // (2 * max(window, 1)), 1)
    both_ways = (1.0 + backward) / 2.0
    lo = 0
    while lo < n_items:
        hi = int(np.searchsorted(starts, starts[lo] + per_block, side="right")) - 1
        hi = min(max(hi, lo + 1), n_items)
        head = by_item[starts[lo] : starts[hi]]
        rows: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
        cols: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
        values: list[np.ndarray] = [np.zeros(0)]
        for d in range(1, window + 1):
            g = decay ** (d - 1)
            for other, weight in ((head + d, 1.0), (head - d, backward)):
                ok = (other >= 0) & (other < m)
                h, o = head[ok], other[ok]
                same = user[o] == user[h]
                h, o = h[same], o[same]
                tie = timestamp[h] == timestamp[o] if ties == "simultaneous" else False
                rows.append(item[h])
                cols.append(item[o])
                values.append(np.where(tie, both_ways, weight) * g * np.ones(len(h)))
        r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(values)
        keep = (r != c) & (v != 0)
        yield lo, _csr(v[keep], r[keep] - lo, c[keep], (hi - lo, n_items), np.float64)
        lo = hi


def normalise_pairs(
    sim: sp.csr_matrix, counts: np.ndarray, alpha: float, first_row: int = 0
) -> sp.csr_matrix:
    """``S[h, i] / (n_h ** alpha * n_i ** (1 - alpha))`` for ``float[n_items]`` item counts,
    where ``sim``'s row ``r`` is item ``h = first_row + r``."""
    coo = sim.tocoo()
    n = np.maximum(np.asarray(counts, dtype=np.float64), 1.0)
    scale = np.power(n[coo.row + first_row], alpha) * np.power(n[coo.col], 1.0 - alpha)
    return _csr(coo.data / scale, coo.row, coo.col, sim.shape, np.float64)


def _csr(
    values: np.ndarray,
    row: np.ndarray,
    col: np.ndarray,
    shape: tuple[int, int],
    dtype: type = np.float32,
) -> sp.csr_matrix:
    mat = sp.csr_matrix((np.asarray(values, dtype=dtype), (row, col)), shape=shape, dtype=dtype)
    return canonical_csr(mat)


# --------------------------------------------------------------------------- models


def _empty_csr() -> sp.csr_matrix:
    return sp.csr_matrix((0, 0), dtype=np.float32)


def item_cosine(data: Dataset, rows: np.ndarray, k: int) -> sp.csr_matrix:
    """Top-``k`` item-item cosine of binary user vectors over ``rows`` (the native kernel).

    Returns
    -------
    scipy.sparse.csr_matrix
        ``float32[n_items, n_items]``, int32 indices, zero diagonal; ``k >= n_items - 1``
        keeps every positive similarity.
    """
    ui = data.user_items(np.asarray(rows, np.int64), values="ones")
    return native_similarity(ui, KNNConfig(n_neighbours=k, similarity="cosine"))


@dataclass
class NeighbourModel(CFModel):
    """``score(u, i) = sum_h weights_[u, h] * neighbours_[h, i] + prior_[i]``.

    The common scorer of the models below: the fitted state is exactly what the native
    engine consumes (per-user history weights and an item-item neighbour CSR), plus an
    optional additive item prior. Subclasses only decide the weights and the neighbours.

    Attributes
    ----------
    weights_ : scipy.sparse.csr_matrix
        ``float32[n_users, n_items]`` ``w(u, h)`` over the fitted history.
    neighbours_ : scipy.sparse.csr_matrix
        ``float32[n_items, n_items]`` top-k pruned item-item neighbours.
    prior_ : numpy.ndarray
        ``float32[n_items]`` additive item prior (zeros when unused).

    Parameters
    ----------
    tau
        Recency scale of the history weights ``exp(-position_from_end / tau)``, in
        positions (see :func:`history_weights`; ``inf``: every history item weighs 1).
    ties
        How interactions sharing a timestamp are ordered (see :func:`positions_from_end`).
    """

    tau: float = math.inf
    ties: Ties = "simultaneous"
    weights_: sp.csr_matrix = field(default_factory=_empty_csr, init=False, repr=False)
    neighbours_: sp.csr_matrix = field(default_factory=_empty_csr, init=False, repr=False)
    prior_: np.ndarray = field(
        default_factory=lambda: np.zeros(0, np.float32), init=False, repr=False
    )

    _FITTED: ClassVar[tuple[str, ...]] = ("weights_", "neighbours_", "prior_")

    def fit(self: _Model, data: Dataset, rows: np.ndarray) -> _Model:
        """Fit on interaction ``rows`` (``int64[m]``) of ``data``; nothing else is read."""
        rows = np.asarray(rows, dtype=np.int64)
        self.neighbours_ = self._neighbours(data, rows)
        self.weights_ = self._weights(data, rows)
        self.prior_ = self._prior(data, rows)
        return self

    def _neighbours(self, data: Dataset, rows: np.ndarray) -> sp.csr_matrix:
        raise NotImplementedError

    def _weights(self, data: Dataset, rows: np.ndarray) -> sp.csr_matrix:
        return history_weights(data, rows, self.tau, self.ties)

    def _prior(self, data: Dataset, rows: np.ndarray) -> np.ndarray:
        return np.zeros(data.n_items, dtype=np.float32)

    def fold_in(self, data: Dataset, rows: np.ndarray) -> sp.csr_matrix:
        """``rows``' histories weighed as the fitted ones (the model's recency weights)."""
        return self._weights(data, np.asarray(rows, dtype=np.int64))

    def history(self) -> sp.csr_matrix:
        """The fitted history weights ``weights_`` (float32 CSR, shape (n_users, n_items))."""
        if self.neighbours_.shape[0] == 0:
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit() or load()")
        return self.weights_

    def score_items(self, users: Any, num_threads: int = 0) -> FloatArray:
        """Scores of every item (native kernel, plus the prior).

        Parameters
        ----------
        users : int[B] fitted-user indices, or scipy.sparse matrix, shape (B, n_items)
            Fitted users (their ``weights_`` rows) or new history weights.

        Returns
        -------
        float32[B, n_items]
        """
        hist = self._seen(self._users(users))
        scores = score_dense(hist, self.neighbours_, num_threads)
        if self.prior_.any():
            scores += self.prior_
        return scores

    def recommend(
        self, users: Any, k: int = 10, exclude_seen: bool = True, num_threads: int = 0
    ) -> tuple[IntArray, FloatArray]:
        """Top-k items: ``(ids int32[B, k], scores float32[B, k])``.

        ``users`` are fitted-user indices (``int[B]``) or new history weights (scipy.sparse,
        shape (B, n_items)). Without a prior the native kernel ranks (only reached items,
        padded -1 / -inf); with one every item is a candidate. Ties go to the lower item index.
        """
        k = check_positive_int(k, "k")
        hist = self._seen(self._users(users))
        prior = self.prior_ if self.prior_.any() else None
        ids, scores, _, _ = score_topk(
            hist, self.neighbours_, k, exclude_seen=exclude_seen, num_threads=num_threads,
            prior=prior,
        )  # fmt: skip
        return ids, scores

    def similar_items(self, item: Any, k: int = 10) -> tuple[IntArray, FloatArray]:
        """The ``k`` largest positive entries of ``item``'s row of ``neighbours_`` (the items
        its history weight flows to), ids int32[k] padded -1, scores float32[k] padded -inf."""
        item = check_item(item, self.history().shape[1])
        return sparse_row_top_k(self.neighbours_, item, check_positive_int(k, "k"))

    def params(self) -> dict[str, Any]:
        """The hyper-parameters (the dataclass fields set at construction)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.init}

    def _arrays(self) -> dict[str, np.ndarray]:
        weights = sp.csr_matrix(self.weights_, dtype=np.float32)
        neighbours = sp.csr_matrix(self.neighbours_, dtype=np.float32)
        return {
            "prior": np.asarray(self.prior_, dtype=np.float32),
            **csr_arrays(_int32(weights), "weights_"),
            **csr_arrays(_int32(neighbours), "neighbours_"),
        }

    @classmethod
    def _from(cls: type[_Model], params: dict[str, Any], arrays: dict[str, np.ndarray]) -> _Model:
        model = cls(**params)
        model.prior_ = arrays["prior"].astype(np.float32)
        model.weights_ = csr_from_arrays(arrays, "weights_", dtype=np.float32)
        model.neighbours_ = csr_from_arrays(arrays, "neighbours_", dtype=np.float32)
        return model


def _int32(mat: sp.csr_matrix) -> sp.csr_matrix:
    mat.indices = np.asarray(mat.indices, dtype=np.int32)
    mat.indptr = np.asarray(mat.indptr, dtype=np.int32)
    return mat


@dataclass
class RecencyItemKNN(NeighbourModel):
    """Cosine item-kNN (native :class:`~convrec.cf.knn.ItemKNN` neighbours) over a
    recency-weighted history: ``w(u, h) = exp(-position_from_end / tau)``.

    ``tau = inf`` weighs every history item 1, which is plain :class:`~convrec.cf.knn.ItemKNN`.
    An optional additive popularity prior ``popularity * n_i / max n`` (:func:`popularity_prior`)
    lifts widely chosen items: with one to five history items (a new session) the neighbours
    alone say little, and the prior carries what most people go on to like; ``activity``
    counts the interactions of people who rate a lot for more.

    Parameters
    ----------
    k
        Neighbours kept per item.
    tau, ties
        See :class:`NeighbourModel`.
    popularity
        Weight of the additive popularity prior (``0``: none).
    activity
        Each interaction counts ``(its user's interactions) ** activity`` in the prior's item
        counts (``0``: once; see :func:`popularity_prior`).
    """

    k: int = 10
    popularity: float = 0.0
    activity: float = 0.0

    def _neighbours(self, data: Dataset, rows: np.ndarray) -> sp.csr_matrix:
        return item_cosine(data, rows, self.k)

    def _prior(self, data: Dataset, rows: np.ndarray) -> np.ndarray:
        return popularity_prior(data, rows, self.popularity, self.activity)


@dataclass
class SequentialKNN(NeighbourModel):
    """Recency-weighted history x neighbours from sequential (transition) co-occurrence.

    ``S = top_k(T / (n_h ** alpha * n_i ** (1 - alpha)) + cosine * cos)`` where
    ``T`` is the transition counts (:func:`transition_blocks`) of the fitted sequences,
    ``n`` the item counts and ``cos`` the native item cosine (:func:`item_cosine`, all
    pairs); history weights as in :class:`RecencyItemKNN`; an optional popularity prior
    ``popularity * n_i / max n`` breaks ties among items no history item points to.

    Parameters
    ----------
    k
        Neighbours kept per item.
    window
        Largest distance (in rows) between two interactions that form a pair.
    decay
        Pair weight ``decay ** (d - 1)`` at distance ``d``.
    backward
        Weight of the reverse direction (``0``: strictly "i follows h").
    alpha
        Normalisation exponent: ``1`` gives ``P(i | h)``-like rows, ``0.5`` cosine-like.
    cosine
        Weight of the global cosine similarity blended in (``0``: none).
    tau
        Recency scale of the history weights, in positions (default 1).
    ties
        ``"simultaneous"`` treats a shared timestamp as no order information;
        ``"item_order"`` trusts the split's tie-break by item index.
    popularity
        Weight of the additive popularity prior.
    activity
        Activity exponent of the prior's item counts (:func:`popularity_prior`).
    """

    k: int = 100
    window: int = 10
    decay: float = 0.7
    backward: float = 0.5
    alpha: float = 0.8
    cosine: float = 0.0
    tau: float = 1.0
    popularity: float = 0.0
    activity: float = 0.0

    def _neighbours(self, data: Dataset, rows: np.ndarray) -> sp.csr_matrix:
        user, item, timestamp = user_sequences(data, rows)
        counts = np.bincount(item, minlength=data.n_items)
        cos = None
        if self.cosine:
            cos = item_cosine(data, rows, max(data.n_items - 1, 1)).astype(np.float64)
        blocks = transition_blocks(
            user,
            item,
            timestamp,
            data.n_items,
            window=self.window,
            decay=self.decay,
            backward=self.backward,
            ties=self.ties,
        )
        parts = []
        with progress.bar(data.n_items, desc="SequentialKNN neighbours", unit="items") as bar:
            for first, trans in blocks:
                sim = normalise_pairs(trans, counts, self.alpha, first)
                if cos is not None:
                    sim = sim + self.cosine * cos[first : first + sim.shape[0]]
                parts.append(keep_top_k(sim, self.k))
                bar.update(sim.shape[0])
        if not parts:
            return sp.csr_matrix((data.n_items, data.n_items), dtype=np.float32)
        return canonical_csr(sp.vstack(parts, format="csr"))

    def _prior(self, data: Dataset, rows: np.ndarray) -> np.ndarray:
        return popularity_prior(data, rows, self.popularity, self.activity)


def popularity_prior(
    data: Dataset, rows: np.ndarray, weight: float, activity: float = 0.0
) -> np.ndarray:
    """``float32[n_items]`` additive prior ``weight * n_i / max n`` from the counts ``n`` of
    each item among ``rows`` (``int64[m]``); zeros when ``weight`` is 0 or nothing is counted.

    ``activity`` weighs each interaction by its user's number of interactions among ``rows``
    raised to that power: ``n_i = sum over i's rows of m_u ** activity``. ``0`` counts every
    interaction once (plain popularity); above 0 the items of people who rate a lot count
    more, and those people are where most of a session's later likes come from.
    """
    rows = np.asarray(rows, np.int64)
    weights = None
    if activity:
        per_user = np.bincount(data.user[rows], minlength=data.n_users).astype(np.float64)
        weights = per_user[data.user[rows]] ** activity
    counts = np.bincount(data.item[rows], weights, minlength=data.n_items).astype(np.float64)
    if not weight or counts.max(initial=0) == 0:
        return np.zeros(data.n_items, dtype=np.float32)
    return (weight * counts / counts.max()).astype(np.float32)


__all__ = [
    "NeighbourModel",
    "RecencyItemKNN",
    "SequentialKNN",
    "history_weights",
    "item_cosine",
    "normalise_pairs",
    "popularity_prior",
    "positions_from_end",
    "transition_blocks",
    "user_sequences",
]
