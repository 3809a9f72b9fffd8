"""Neighbour recommenders over the native engine: ItemKNN and UserKNN (the CF contract)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal, TypeVar, overload

import numpy as np
import scipy.sparse as sp

from convrec import _native, progress
from convrec.cf._checks import (
    as_csr,
    check_item,
    check_num_threads,
    check_positive_int,
    check_users,
)
from convrec.cf.base import CFModel, sparse_row_top_k
from convrec.cf.scoring import ItemLayout, score_dense, score_topk
from convrec.cf.types import FloatArray, IntArray
from convrec.data.dataset import Dataset, canonical_csr
from convrec.storage import csr_arrays, csr_from_arrays

SIMILARITIES = ("cosine", "adjusted_cosine", "pearson", "bm25")
_Model = TypeVar("_Model", bound="_NeighbourRecommender")


@dataclass(frozen=True)
class KNNConfig:
    """Hyper-parameters of :class:`ItemKNN` and :class:`UserKNN` (saved with the model).

    Attributes
    ----------
    n_neighbours : int
        K neighbours kept per item (per user for UserKNN); only similarities > 0.
    similarity : str
        ``"cosine"``, ``"adjusted_cosine"``, ``"pearson"`` or ``"bm25"`` (see
        :func:`native_similarity`).
    shrink : float
        Shrinkage ``sim * n_common / (n_common + shrink)``, applied to every measure.
    bm25_k1, bm25_b : float
        BM25 saturation and length normalisation (``similarity="bm25"`` only).
    """

    n_neighbours: int = 50
    similarity: str = "cosine"
    shrink: float = 0.0
    bm25_k1: float = 1.2
    bm25_b: float = 0.75

    def __post_init__(self) -> None:
        check_positive_int(self.n_neighbours, "n_neighbours")
        if self.similarity not in SIMILARITIES:
            raise ValueError(f"similarity must be one of {SIMILARITIES}, got {self.similarity!r}")
        for name in ("shrink", "bm25_k1", "bm25_b"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
        if self.bm25_b > 1:
            raise ValueError(f"bm25_b must be in [0, 1], got {self.bm25_b!r}")


ItemKNNConfig = KNNConfig  # the name the first release exported


def native_similarity(
    matrix: sp.csr_matrix, config: KNNConfig, num_threads: int = 0, n_neighbours: int = 0
) -> sp.csr_matrix:
    """Top-K column-column similarities of ``matrix`` from the native kernel.

    Parameters
    ----------
    matrix : scipy.sparse.csr_matrix, float32, shape (n_rows, n_cols)
        Canonical CSR (see ``as_csr``): ``user_items`` for item-item neighbours, its
        transpose ``item_users`` for user-user ones. ``adjusted_cosine`` centres each row by
        its mean, ``pearson`` each column, ``bm25`` weighs columns as documents.
    config : KNNConfig
    n_neighbours : int
        Overrides ``config.n_neighbours`` when > 0.

    Returns
    -------
    scipy.sparse.csr_matrix
        float32, shape (n_cols, n_cols), int32 indices sorted per row, zero diagonal.
    """
    n_cols = matrix.shape[1]
    with progress.running(n_cols, desc=f"{config.similarity} similarity", unit="cols"):
        indptr, indices, data = _native.item_similarity(
            matrix.indptr,
            matrix.indices,
            matrix.data,
            n_cols,
            n_neighbours or config.n_neighbours,
            config.similarity,
            config.shrink,
            config.bm25_k1,
            config.bm25_b,
            check_num_threads(num_threads),
        )
    return sp.csr_matrix((data, indices, indptr), shape=(n_cols, n_cols))


def keep_top_k(matrix: sp.spmatrix | sp.sparray, k: int) -> sp.csr_matrix:
    """Keep the ``k`` largest positive entries of every row (ties: lower column first).

    Returns
    -------
    scipy.sparse.csr_matrix
        float32, same shape, int32 ``indptr`` / ``indices``, sorted indices.
    """
    coo = sp.coo_matrix(matrix)
    pos = coo.data > 0
    row, col, val = coo.row[pos], coo.col[pos], coo.data[pos]
    order = np.lexsort((col, -val, row))
    row, col, val = row[order], col[order], val[order]
    first = np.searchsorted(row, np.arange(coo.shape[0]))
    keep = np.arange(len(row)) - first[row] < k
    out = sp.csr_matrix(
        (val[keep].astype(np.float32), (row[keep], col[keep])), shape=coo.shape, dtype=np.float32
    )
    return canonical_csr(out)


class _NeighbourRecommender(CFModel):
    """What ItemKNN and UserKNN share: config, training histories, validation, npz persistence.

    ``fit`` takes a users x items matrix, or a :class:`~convrec.data.Dataset` and interaction
    rows (the evaluation runner's call: every interaction weighs 1). Fitted state:
    ``similarity_`` (the neighbour CSR) and ``user_items_`` (the training histories, float32
    CSR, shape (n_users, n_items)).
    """

    _KIND: ClassVar[str]

    def __init__(
        self,
        n_neighbours: int = 50,
        similarity: str = "cosine",
        shrink: float = 0.0,
        bm25_k1: float = 1.2,
        bm25_b: float = 0.75,
    ) -> None:
        self.config = KNNConfig(n_neighbours, similarity, shrink, bm25_k1, bm25_b)
        self.similarity_: sp.csr_matrix | None = None
        self.user_items_: sp.csr_matrix | None = None
        # (the similarity_ it was built from, layout): built by fit, or on first use after load
        self._layout: tuple[sp.csr_matrix, ItemLayout] | None = None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in asdict(self.config).items())
        return f"{type(self).__name__}({args})"

    def _fitted(self) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        if self.similarity_ is None or self.user_items_ is None:
            raise RuntimeError(f"{self._KIND} is not fitted: call fit() or {self._KIND}.load()")
        return self.similarity_, self.user_items_

    def history(self) -> sp.csr_matrix:
        """The training histories ``user_items_`` (float32 CSR, shape (n_users, n_items))."""
        return self._fitted()[1]

    def params(self) -> dict[str, Any]:
        """The :class:`KNNConfig` fields (the constructor arguments)."""
        return asdict(self.config)

    def fit(self: _Model, user_items: Any, rows: Any = None, num_threads: int = 0) -> _Model:
        """Build the neighbours.

        Parameters
        ----------
        user_items : scipy.sparse matrix, shape (n_users, n_items), or Dataset
            Interactions (ratings, counts or ones); converted to float32 CSR, duplicates summed.
            A :class:`~convrec.data.Dataset` takes ``rows`` (``int64[m]``) and weighs each
            interaction 1.
        rows : numpy.ndarray, optional
            Interaction rows, only with a Dataset.
        num_threads : int
            OpenMP threads; 0 (the default): OMP_NUM_THREADS, else every core.

        Returns
        -------
        self, with ``similarity_`` and ``user_items_`` set.
        """
        if isinstance(user_items, Dataset):
            if rows is None:
                raise ValueError("fit(data, rows): the interaction rows are missing")
            user_items = user_items.user_items(np.asarray(rows, np.int64), values="ones")
        elif rows is not None:
            raise ValueError("rows is only taken with a Dataset")
        ui = as_csr(user_items, "user_items")
        if ui.nnz == 0:
            raise ValueError(f"user_items has no interactions: shape {ui.shape}, nnz 0")
        self.similarity_ = self._similarity(ui, check_num_threads(num_threads))
        self.user_items_ = ui
        self._scoring_layout()  # built with the model, not on the first recommend
        return self

    def _similarity(self, ui: sp.csr_matrix, num_threads: int) -> sp.csr_matrix:
        raise NotImplementedError

    def _batch(self, user_items_batch: Any) -> sp.csr_matrix:
        batch = as_csr(user_items_batch, "user_items_batch", n_cols=self.n_items, copy=False)
        if batch.shape[0] == 0:
            raise ValueError("user_items_batch has no rows (an empty history batch)")
        return batch

    def _arrays(self) -> dict[str, np.ndarray]:
        sim, ui = self._fitted()
        return csr_arrays(sim, "sim_") | csr_arrays(ui, "ui_")

    @classmethod
    def _from(cls: type[_Model], params: dict[str, Any], arrays: dict[str, np.ndarray]) -> _Model:
        model = cls(**params)
        model.similarity_, model.user_items_ = (
            as_csr(csr_from_arrays(arrays, f"{name}_", dtype=np.float32), name)
            for name in ("sim", "ui")
        )
        return model

    @overload
    def recommend(
        self,
        user_items_batch: Any,
        k: int = ...,
        exclude_seen: bool = ...,
        num_threads: int = ...,
        backend: str = ...,
        return_evidence: Literal[False] = ...,
        n_evidence: int = ...,
    ) -> tuple[IntArray, FloatArray]: ...

    @overload
    def recommend(
        self,
        user_items_batch: Any,
        k: int = ...,
        exclude_seen: bool = ...,
        num_threads: int = ...,
        backend: str = ...,
        *,
        return_evidence: Literal[True],
        n_evidence: int = ...,
    ) -> tuple[IntArray, FloatArray, IntArray, FloatArray]: ...

    def recommend(
        self,
        user_items_batch: Any,
        k: int = 10,
        exclude_seen: bool = True,
        num_threads: int = 0,
        backend: str = "auto",
        return_evidence: bool = False,
        n_evidence: int = 3,
    ) -> tuple[Any, ...]:
        """Top-k items for a batch of user histories, or for known users.

        Parameters
        ----------
        user_items_batch : scipy.sparse matrix, shape (B, n_items), or int[B]
            One history per row (B >= 1); values are the weights (ratings, recency decay...).
            Empty rows come back fully padded. Integer indices stand for the training users'
            fitted histories.
        k : int
            Items per user (> 0).
        exclude_seen : bool
            Leave the user's own (history) items out of the results.
        num_threads : int
            OpenMP threads (CPU backend); 0 (the default): OMP_NUM_THREADS, else every core.
        backend : {"auto", "cpu", "cuda"}
        return_evidence : bool
            Also return, per returned item, the ``n_evidence`` neighbour rows that contributed
            most: history items (ItemKNN) or neighbour users (UserKNN).
        n_evidence : int
            E, evidence items per returned item (> 0).

        Returns
        -------
        ids : int32[B, k]
            Item indices, best first, padded with -1.
        scores : float32[B, k]
            Scores, padded with -inf.
        evidence : int32[B, k, E]
            Only with ``return_evidence``: contributing neighbour rows, padded with -1.
        evidence_weight : float32[B, k, E]
            Only with ``return_evidence``: their contributions, padded 0.
        """
        k = check_positive_int(k, "k")
        n_ev = check_positive_int(n_evidence, "n_evidence") if return_evidence else 0
        hist, nbr, own = self._inputs(user_items_batch, num_threads)
        square = own is hist  # item-kNN: the kernel itself leaves the history out
        ids, scores, ev, ev_w = score_topk(
            hist,
            nbr,
            k,
            exclude_seen=bool(exclude_seen) and square,
            exclude=own if exclude_seen and not square else None,
            n_evidence=n_ev,
            num_threads=num_threads,
            backend=backend,
            layout=self._scoring_layout(),
        )
        if return_evidence:
            return ids, scores, ev, ev_w
        return ids, scores

    def score_items(self, users: Any, num_threads: int = 0) -> FloatArray:
        """Dense scores of every item, for evaluation (own items are not masked).

        Parameters
        ----------
        users : int[B] training-user indices, or scipy.sparse matrix, shape (B, n_items)
            Known users (their fitted histories) or a batch of new histories.

        Returns
        -------
        float32[B, n_items]
            ``neighbour_rows @ neighbour_matrix`` (native kernel); unreached items score 0.
        """
        hist, nbr, _ = self._inputs(users, num_threads)
        return score_dense(hist, nbr, num_threads)

    def _inputs(
        self, users: Any, num_threads: int
    ) -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix]:
        """(history rows, neighbour matrix, own items) of the scoring kernel for ``users``."""
        raise NotImplementedError

    def _scoring_layout(self) -> ItemLayout | None:
        """The neighbour matrix as the CPU kernel reads it fastest; None: as fitted."""
        return None


class ItemKNN(_NeighbourRecommender):
    """Item-item k-nearest-neighbour recommender.

    ``fit`` builds the top-K item-item neighbour CSR natively; ``recommend`` scores a batch of
    histories as ``score(i) = sum_h weight(h) * sim(h, i)`` and returns the top k items, ties to
    the lower item index. Only items reached by a neighbour edge are ever returned; rows with
    fewer are padded with id -1 and score -inf.

    Examples
    --------
    >>> model = ItemKNN(n_neighbours=50, similarity="cosine").fit(user_items)  # doctest: +SKIP
    >>> ids, scores = model.recommend(user_items[:8], k=10)  # doctest: +SKIP
    """

    _KIND = "ItemKNN"

    def _similarity(self, ui: sp.csr_matrix, num_threads: int) -> sp.csr_matrix:
        return native_similarity(ui, self.config, num_threads)

    def similar_items(self, item: Any, k: int = 10) -> tuple[IntArray, FloatArray]:
        """The ``k`` nearest neighbours of ``item``: its row of ``similarity_``, best first
        (ids int32[k] padded -1, scores float32[k] padded -inf)."""
        sim, _ = self._fitted()
        return sparse_row_top_k(sim, check_item(item, sim.shape[0]), check_positive_int(k, "k"))

    def _scoring_layout(self) -> ItemLayout | None:
        # Items by training popularity: histories are mostly popular items and so are their
        # neighbours, so the scores and neighbour rows a batch touches most share cache lines,
        # and most edges land in the kernel's dense head (benchmarks/README.md).
        sim, ui = self._fitted()
        if self._layout is None or self._layout[0] is not sim:
            popularity = np.bincount(ui.indices, minlength=ui.shape[1])
            self._layout = (sim, ItemLayout.by_popularity(sim, popularity))
        return self._layout[1]

    def _inputs(
        self, users: Any, num_threads: int
    ) -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix]:
        sim, ui = self._fitted()
        hist = self._batch(users) if sp.issparse(users) else ui[check_users(users, ui.shape[0])]
        return hist, sim, hist


class UserKNN(_NeighbourRecommender):
    """User-user k-nearest-neighbour recommender, the user-based twin of :class:`ItemKNN`.

    ``fit`` builds the top-K user-user neighbours with the native similarity kernel on
    ``user_items.T``; a user's neighbour row then plays the history and the training
    ``user_items`` the neighbour matrix of the same native scoring kernel:
    ``score(u, i) = sum_v sim(u, v) * user_items[v, i]``.

    A batch of new histories is compared with the training users by the same kernel, run on
    the training users stacked with the batch (so the measure's statistics, e.g. the item
    means of ``adjusted_cosine`` or BM25 lengths, include the batch rows); a history equal
    to a training user's finds that user as its first neighbour.
    """

    _KIND = "UserKNN"
    chunk: int = 64  # new histories compared with the training users per native call

    def _similarity(self, ui: sp.csr_matrix, num_threads: int) -> sp.csr_matrix:
        return native_similarity(as_csr(ui.T, "item_users"), self.config, num_threads)

    def neighbours_of(self, user_items_batch: Any, num_threads: int = 0) -> sp.csr_matrix:
        """Top-K training-user neighbours of new histories.

        Parameters
        ----------
        user_items_batch : scipy.sparse matrix, shape (B, n_items)

        Returns
        -------
        scipy.sparse.csr_matrix
            float32, shape (B, n_users): similarities to the training users, K per row.
        """
        _, ui = self._fitted()
        batch = self._batch(user_items_batch)
        threads = check_num_threads(num_threads)
        n_train, k = ui.shape[0], self.config.n_neighbours
        parts = []
        for start in range(0, batch.shape[0], self.chunk):
            part = batch[start : start + self.chunk]
            stacked = as_csr(sp.vstack([ui, part]).T, "item_users")
            # k + len(part) neighbours leave k for the training users whatever the batch holds
            sim = native_similarity(stacked, self.config, threads, k + part.shape[0])
            parts.append(keep_top_k(sim[n_train:, :n_train], k))
        return as_csr(sp.vstack(parts), "neighbours")

    def _inputs(
        self, users: Any, num_threads: int
    ) -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix]:
        sim, ui = self._fitted()
        if sp.issparse(users):
            return self.neighbours_of(users, num_threads), ui, self._batch(users)
        index = check_users(users, ui.shape[0])
        return sim[index], ui, ui[index]
