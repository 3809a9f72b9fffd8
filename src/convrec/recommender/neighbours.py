"""The recommender's one item-kNN: similar items, diversity, and the LLM prompts' CF evidence."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from convrec.cf.knn import ItemKNN
from convrec.cf.scoring import as_neighbours
from convrec.data.dataset import Dataset

N_NEIGHBOURS = 50
"""Neighbours per item of a recommender's item-kNN (binary co-occurrence cosine)."""


def item_neighbours(
    data: Dataset,
    rows: np.ndarray,
    similarity: sp.csr_matrix | None = None,
    n_neighbours: int = N_NEIGHBOURS,
) -> ItemKNN:
    """The cosine item-kNN of ``rows`` (every interaction weighs 1), fitted natively.

    Parameters
    ----------
    data : Dataset
    rows : numpy.ndarray
        ``int64[m]`` interaction rows.
    similarity : scipy.sparse.csr_matrix, optional
        ``float32[n_items, n_items]``: that model's neighbour matrix as saved
        (``similarity.npz``); it is taken as is instead of being fitted again.
    n_neighbours : int
        K neighbours per item.

    Returns
    -------
    ItemKNN
        Fitted: ``similarity_`` and ``user_items_`` (the binary histories of ``rows``).
    """
    knn = ItemKNN(n_neighbours=n_neighbours)
    if similarity is None:
        return knn.fit(data, rows)
    if similarity.shape != (data.n_items, data.n_items):
        raise ValueError(
            f"similarity must be ({data.n_items}, {data.n_items}), got {similarity.shape}"
        )
    knn.similarity_ = as_neighbours(similarity, "similarity")
    knn.user_items_ = data.user_items(np.asarray(rows, np.int64), values="ones")
    return knn


def neighbours_for(neighbours: ItemKNN, data: Dataset, rows: np.ndarray, k: int) -> ItemKNN:
    """``neighbours`` itself when it keeps ``k`` neighbours per item (the case of every shipped
    adapter: the LLM's prompts then read the recommender's own matrix), else an item-kNN of
    ``rows`` with ``k`` (an adapter trained with other prompt neighbourhoods)."""
    if neighbours.config.n_neighbours == k:
        return neighbours
    return item_neighbours(data, rows, n_neighbours=k)
