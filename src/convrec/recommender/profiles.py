"""User profiles: a known user's and/or a session's history as weighted items; item filters."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from convrec.cf.sequential import user_sequences
from convrec.data.dataset import Dataset, canonical_csr
from convrec.recommender.config import RecommenderConfig
from convrec.schema import ItemFilter

ItemPredicate = Callable[[np.ndarray], np.ndarray]
"""``filter(items int32[n]) -> bool[n]``: which items may be recommended."""


@dataclass
class Profile:
    """What one request recommends from.

    Attributes
    ----------
    user : int | None
        Internal index of a known user, ``None`` for a session.
    items : numpy.ndarray
        ``int32[h]`` history items, oldest first.
    weights : numpy.ndarray
        ``float32[h]`` their weights in the CF score.
    ratings : dict[int, float]
        The known user's own ratings by item index (empty for a session).
    """

    user: int | None
    items: np.ndarray
    weights: np.ndarray
    ratings: dict[int, float]

    def llm_history(self, liked_rating: float) -> tuple[np.ndarray, np.ndarray]:
        """``(int32[h] items newest first, float32[h] ratings)`` for LLM prompts.

        A known user's items carry their own ratings; session items (titles the user said
        they liked) carry ``liked_rating``, the top of the rating scale.
        """
        items = self.items[::-1].astype(np.int32)
        ratings = [self.ratings.get(int(i), liked_rating) for i in items.tolist()]
        return items, np.asarray(ratings, np.float32)

    @classmethod
    def empty(cls) -> Profile:
        """Nobody in particular (no history)."""
        return cls(None, np.zeros(0, np.int32), np.zeros(0, np.float32), {})


class ProfileBuilder:
    """Builds :class:`Profile` objects from the fitted history rows.

    Parameters
    ----------
    data : Dataset
    rows : numpy.ndarray
        ``int64[m]`` interaction rows that form the users' histories.
    user_weights : scipy.sparse.csr_matrix
        ``float32[n_users, n_items]`` history weights of the CF model (its ``weights_``).
    config : RecommenderConfig
    item_index : callable
        External id or title -> item index (raises for unknown titles).
    """

    def __init__(
        self,
        data: Dataset,
        rows: np.ndarray,
        user_weights: sp.csr_matrix,
        config: RecommenderConfig,
        item_index: Callable[[str | int], int],
    ) -> None:
        self.data, self.config, self.item_index = data, config, item_index
        self.user_weights = user_weights
        self.session_tau = config.tau
        """Recency scale of a session's items (the session candidate model's ``tau``)."""
        user, item, _ = user_sequences(data, rows)
        self._ptr = np.searchsorted(user, np.arange(data.n_users + 1)).astype(np.int64)
        self._items = item
        self._ratings = data.user_items(rows, values="rating")

    def build(
        self, user: str | int | None, history: Sequence[str | int] = (), liked: Sequence[str] = ()
    ) -> Profile:
        """A known ``user`` (external id) and/or session items (ids or titles, oldest first).

        A known user's own history weighs as the CF model's weights (times how much they
        liked each item when ``config.rating_weighting``); session items added to it are
        recency-weighted after it.
        """
        if user is not None:
            return self.for_index(self.data.users.index(user), [*history, *liked])
        items_list = list(dict.fromkeys(self.item_index(x) for x in (*history, *liked)))
        if not items_list:
            raise ValueError("give a user, a history or liked titles to recommend from")
        items = np.asarray(items_list, np.int32)
        return Profile(None, items, recency(len(items), self.session_tau), {})

    def for_index(self, u: int, extra: Sequence[str | int] = ()) -> Profile:
        """The profile of user index ``u``, plus ``extra`` session items (ids or titles)."""
        items = self._items[self._ptr[u] : self._ptr[u + 1]]
        row = self.user_weights[u]
        weights = np.asarray(row[:, items].todense(), dtype=np.float32).ravel()
        start, end = self._ratings.indptr[u], self._ratings.indptr[u + 1]
        ratings = dict(
            zip(
                self._ratings.indices[start:end].tolist(),
                self._ratings.data[start:end].tolist(),
                strict=True,
            )
        )
        if self.config.rating_weighting:
            lo, hi = float(self.data.rating.min()), float(self.data.rating.max())
            r = np.asarray([ratings.get(int(i), hi) for i in items], np.float32)
            weights = weights * np.clip((r - lo - 1) / max(hi - lo - 1, 1e-6), 0, 1)
        added = [self.item_index(x) for x in extra]
        if added:
            items = np.concatenate([items, np.asarray(added, np.int32)])
            weights = np.concatenate([weights * math.exp(-len(added) / self.config.tau),
                                      recency(len(added), self.config.tau)])  # fmt: skip
        return Profile(u, items.astype(np.int32), weights.astype(np.float32), ratings)


def allowed_items(data: Dataset, filters: ItemFilter | ItemPredicate | None) -> np.ndarray | None:
    """``bool[n_items]`` mask of the items ``filters`` allow (``None``: no filter, all)."""
    if filters is None:
        return None
    items = np.arange(data.n_items, dtype=np.int32)
    if callable(filters):
        return np.asarray(filters(items), dtype=bool)
    catalog = data.catalog
    mask = np.ones(data.n_items, dtype=bool)
    genres = catalog.genres
    if filters.include_genres:
        wanted = set(filters.include_genres)
        mask &= np.fromiter((bool(wanted & set(g)) for g in genres), bool, len(genres))
    if filters.require_genres:
        needed = set(filters.require_genres)
        mask &= np.fromiter((needed <= set(g) for g in genres), bool, len(genres))
    if filters.exclude_genres:
        unwanted = set(filters.exclude_genres)
        mask &= np.fromiter((not unwanted & set(g) for g in genres), bool, len(genres))
    if filters.year_min is not None:
        mask &= catalog.year >= filters.year_min
    if filters.year_max is not None:
        mask &= (catalog.year <= filters.year_max) & (catalog.year > 0)
    return mask


def recency(n: int, tau: float) -> np.ndarray:
    """``float32[n]`` weights ``exp(-position_from_end / tau)``, oldest first."""
    return np.exp(-np.arange(n - 1, -1, -1, dtype=np.float64) / tau).astype(np.float32)


def rows_csr(rows: list[np.ndarray], values: list[np.ndarray], n_cols: int) -> sp.csr_matrix:
    """``float32[B, n_cols]`` CSR with sorted, summed indices from per-row index lists."""
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(r) for r in rows])
    indices = np.concatenate(rows).astype(np.int32) if rows else np.zeros(0, np.int32)
    data = np.concatenate(values).astype(np.float32) if values else np.zeros(0, np.float32)
    return canonical_csr(sp.csr_matrix((data, indices, indptr), shape=(len(rows), n_cols)))
