"""ItemKNN: the item-item neighbour recommender over the native engine (fit, recommend, save)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np
import scipy.sparse as sp

from convrec import _native
from convrec.cf._backend import resolve_backend
from convrec.cf._checks import as_csr, check_num_threads, check_positive_int
from convrec.cf.types import FloatArray, IntArray

SIMILARITIES = ("cosine", "adjusted_cosine", "pearson", "bm25")
_FORMAT = "convrec.ItemKNN/1"


@dataclass(frozen=True)
class ItemKNNConfig:
    """Hyper-parameters of :class:`ItemKNN` (saved with the model).

    Attributes
    ----------
    n_neighbours : int
        K neighbours kept per item (only similarities > 0).
    similarity : str
        ``"cosine"``, ``"adjusted_cosine"`` (centred by each user's mean), ``"pearson"``
        (centred by each item's mean) or ``"bm25"`` (BM25-weighted cosine).
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


class ItemKNN:
    """Item-item k-nearest-neighbour recommender.

    ``fit`` builds the top-K neighbour CSR natively; ``recommend`` scores a batch of histories
    as ``score(i) = sum_h weight(h) * sim(h, i)`` and returns the top k items, ties to the lower
    item index. Only items reached by a neighbour edge are ever returned; rows with fewer are
    padded with id -1 and score -inf.
    """

    def __init__(
        self,
        n_neighbours: int = 50,
        similarity: str = "cosine",
        shrink: float = 0.0,
        bm25_k1: float = 1.2,
        bm25_b: float = 0.75,
    ) -> None:
        self.config = ItemKNNConfig(n_neighbours, similarity, shrink, bm25_k1, bm25_b)
        self.similarity_: sp.csr_matrix | None = None

    @property
    def n_items(self) -> int:
        """Number of items the model was fitted on."""
        return self._neighbours().shape[0]

    def _neighbours(self) -> sp.csr_matrix:
        if self.similarity_ is None:
            raise RuntimeError("ItemKNN is not fitted: call fit() or ItemKNN.load()")
        return self.similarity_

    def fit(self, user_items: sp.spmatrix | sp.sparray, num_threads: int = 1) -> ItemKNN:
        """Build the item-item neighbours.

        Parameters
        ----------
        user_items : scipy.sparse matrix, shape (n_users, n_items)
            Interactions (ratings or implicit counts); converted to float32 CSR, duplicates summed.
        num_threads : int
            OpenMP threads.

        Returns
        -------
        ItemKNN
            self, with ``similarity_`` (float32 CSR, shape (n_items, n_items)) set.
        """
        ui = as_csr(user_items, "user_items")
        c = self.config
        indptr, indices, data = _native.item_similarity(
            ui.indptr,
            ui.indices,
            ui.data,
            ui.shape[1],
            c.n_neighbours,
            c.similarity,
            c.shrink,
            c.bm25_k1,
            c.bm25_b,
            check_num_threads(num_threads),
        )
        n_items = ui.shape[1]
        self.similarity_ = sp.csr_matrix((data, indices, indptr), shape=(n_items, n_items))
        return self

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
        num_threads: int = 1,
        backend: str = "auto",
        return_evidence: bool = False,
        n_evidence: int = 3,
    ) -> tuple[Any, ...]:
        """Top-k items for a batch of user histories.

        Parameters
        ----------
        user_items_batch : scipy.sparse matrix, shape (B, n_items)
            One history per row; values are the weights (ratings, recency decay...). Rows may be
            empty (they come back fully padded).
        k : int
            Items per user (> 0).
        exclude_seen : bool
            Leave the history items out of the results.
        num_threads : int
            OpenMP threads (CPU backend).
        backend : {"auto", "cpu", "cuda"}
        return_evidence : bool
            Also return, per returned item, the ``n_evidence`` history items that contributed most.
        n_evidence : int
            E, evidence items per returned item (> 0).

        Returns
        -------
        ids : int32[B, k]
            Item indices, best first, padded with -1.
        scores : float32[B, k]
            Scores, padded with -inf.
        evidence : int32[B, k, E]
            Only with ``return_evidence``: contributing history items, padded with -1.
        evidence_weight : float32[B, k, E]
            Only with ``return_evidence``: their contributions ``weight(h) * sim(h, i)``, padded 0.
        """
        nbr = self._neighbours()
        hist = as_csr(user_items_batch, "user_items_batch", n_cols=nbr.shape[0])
        k = check_positive_int(k, "k")
        n_ev = check_positive_int(n_evidence, "n_evidence") if return_evidence else 0
        use_cuda = resolve_backend(backend) == "cuda"
        ids, scores, ev, ev_w = _native.score_topk(
            hist.indptr,
            hist.indices,
            hist.data,
            nbr.indptr.astype(np.int32, copy=False),
            nbr.indices.astype(np.int32, copy=False),
            nbr.data.astype(np.float32, copy=False),
            k,
            bool(exclude_seen),
            n_ev,
            check_num_threads(num_threads),
            use_cuda,
        )
        if return_evidence:
            return ids, scores, ev, ev_w
        return ids, scores

    def score_items(self, user_items_batch: Any) -> FloatArray:
        """Dense scores of every item for a (small) batch, for evaluation.

        Parameters
        ----------
        user_items_batch : scipy.sparse matrix, shape (B, n_items)

        Returns
        -------
        float32[B, n_items]
            ``user_items_batch @ similarity_``; history items are not masked.
        """
        nbr = self._neighbours()
        hist = as_csr(user_items_batch, "user_items_batch", n_cols=nbr.shape[0])
        return np.asarray((hist @ nbr).toarray(), dtype=np.float32)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model to ``path`` as an .npz (no pickle), atomically."""
        nbr = self._neighbours()
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            np.savez(
                f,
                format=np.array(_FORMAT),
                config=np.array(json.dumps(asdict(self.config), sort_keys=True)),
                n_items=np.array(nbr.shape[0], np.int64),
                indptr=nbr.indptr,
                indices=nbr.indices,
                data=nbr.data,
            )
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ItemKNN:
        """Read a model written by :meth:`save` (``np.load(allow_pickle=False)``)."""
        with np.load(path, allow_pickle=False) as z:
            if str(z["format"]) != _FORMAT:
                raise ValueError(f"{path} is not an ItemKNN file (format {z['format']!s})")
            model = cls(**json.loads(str(z["config"])))
            n_items = int(z["n_items"])
            model.similarity_ = sp.csr_matrix(
                (
                    z["data"].astype(np.float32),
                    z["indices"].astype(np.int32),
                    z["indptr"].astype(np.int32),
                ),
                shape=(n_items, n_items),
            )
        return model
