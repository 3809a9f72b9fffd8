"""FactBook: the true facts behind recommended items, computed from the ratings in a batch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from convrec.data.dataset import Dataset
from convrec.data.titles import display_title
from convrec.schema import (
    Evidence,
    Fact,
    FanRatings,
    ItemFilter,
    RequestMatch,
    SharedGenres,
    SourceShare,
    Standing,
)


@dataclass(frozen=True)
class Liked:
    """What a user or session liked, as the facts count it.

    Attributes
    ----------
    items : numpy.ndarray
        ``int32[h]`` liked items (a session's titles, a known user's items rated at least
        the book's ``threshold``), most recent first.
    ratings : numpy.ndarray
        ``float32[h]`` the user's own ratings of them, NaN where unknown (a session's title).
    user : int
        Internal index of the known user, ``-1`` for a session (left out of every count).
    """

    items: np.ndarray
    ratings: np.ndarray
    user: int = -1

    @classmethod
    def of(
        cls, items: np.ndarray, ratings: Mapping[int, float], threshold: float, user: int
    ) -> Liked:
        """The liked part of a history (``int32[h]`` oldest first, ``ratings`` by item):
        rated at least ``threshold``, or not rated (a title said to be liked)."""
        out, values = [], []
        for i in np.asarray(items, np.int64)[::-1].tolist():
            r = ratings.get(int(i))
            if (r is None or r >= threshold) and i not in out:
                out.append(i)
                values.append(np.nan if r is None else r)
        return cls(np.asarray(out, np.int32), np.asarray(values, np.float32), user)


class FactBook:
    """Computes :class:`~convrec.schema.Fact` values from interaction rows.

    Parameters
    ----------
    data : Dataset
    rows : numpy.ndarray
        ``int64[m]`` interaction rows the facts count (the recommender's fitted rows).
    similarity : scipy.sparse.csr_matrix
        ``float32[n_items, n_items]`` item-kNN cosine (the recommender's :attr:`similarity`).
    n_liked : int
        Liked items cited per recommended item at most.
    min_fans : int
        A :class:`~convrec.schema.FanRatings` fact needs at least this many people.

    Attributes
    ----------
    scale : tuple[float, float]
        The rating scale: 1 to 5 stars (wider if the data is).
    threshold : float
        The rating from which a user is said to like an item (the scale's top minus one).
    positive : float
        The mean rating from which a standing or fans fact speaks for an item (the middle
        of the scale plus a half).
    """

    def __init__(
        self,
        data: Dataset,
        rows: np.ndarray,
        similarity: sp.csr_matrix,
        n_liked: int = 2,
        min_fans: int = 3,
    ) -> None:
        rows = np.asarray(rows, np.int64)
        self.data, self.similarity = data, similarity.tocsr()
        self.n_liked, self.min_fans = n_liked, min_fans
        # the 1-5 star scale explanations speak of ("4.3/5"), widened if the data is wider
        lo, hi = min(float(data.rating.min()), 1.0), max(float(data.rating.max()), 5.0)
        self.scale = (lo, hi)
        self.threshold = max(hi - 1.0, lo)
        self.positive = (lo + hi) / 2 + 0.5
        item = data.item[rows]
        self.count = np.bincount(item, minlength=data.n_items).astype(np.int64)
        self.total = np.bincount(item, data.rating[rows], data.n_items)
        ordered = np.sort(self.count)
        self.rank = (len(ordered) - np.searchsorted(ordered, self.count, side="right") + 1).astype(
            np.int64
        )
        # item -> (user, rating), one rating per pair (the latest row)
        order = rows[np.lexsort((data.timestamp[rows], data.user[rows], data.item[rows]))]
        pair = data.item[order].astype(np.int64) * data.n_users + data.user[order]
        last = np.r_[pair[1:] != pair[:-1], True]
        kept = order[last]
        self.by_item = sp.csr_matrix(
            (data.rating[kept].astype(np.float32), (data.item[kept], data.user[kept])),
            shape=(data.n_items, data.n_users),
        )
        self.by_item.sort_indices()
        names = sorted({g for gs in data.catalog.genres for g in gs if g.lower() != "unknown"})
        self.genre_names = tuple(names)
        col = {g: j for j, g in enumerate(names)}
        self.genres = np.zeros((data.n_items, len(names)), bool)
        for i, gs in enumerate(data.catalog.genres):
            for g in gs:
                if g in col:
                    self.genres[i, col[g]] = True
        self.years = np.asarray(data.catalog.year, np.int64)

    # ------------------------------------------------------------------ single facts
    def title(self, item: int) -> str:
        """The display title of ``item`` (as :meth:`TitleIndex.display` writes it)."""
        return display_title(self.data.catalog.title[item], int(self.data.catalog.year[item]))

    def standing(self, item: int, left_out: float | None = None) -> Standing | None:
        """Mean and count of ``item``'s ratings (``left_out``: one rating not counted)."""
        total, count = float(self.total[item]), int(self.count[item])
        if left_out is not None:
            total, count = total - left_out, count - 1
        if count <= 0:
            return None
        return Standing(round(total / count, 2), count, int(self.rank[item]))

    def fans(self, basis: Sequence[int], item: int, user: int = -1) -> FanRatings | None:
        """How the users who liked any of ``basis`` (``user`` left out) rated ``item``."""
        ptr, idx, val = self.by_item.indptr, self.by_item.indices, self.by_item.data
        liked = [
            idx[ptr[b] : ptr[b + 1]][val[ptr[b] : ptr[b + 1]] >= self.threshold] for b in basis
        ]
        fans = np.unique(np.concatenate(liked)) if liked else np.zeros(0, np.int32)
        users, ratings = idx[ptr[item] : ptr[item + 1]], val[ptr[item] : ptr[item + 1]]
        hit = np.isin(users, fans) & (users != user)
        if int(hit.sum()) < self.min_fans:
            return None
        ids = tuple(self.data.items.external[b] for b in basis)
        titles = tuple(self.title(b) for b in basis)
        mean = round(float(ratings[hit].mean()), 2)
        return FanRatings(ids, titles, self.threshold, int(hit.sum()), mean)

    def request(self, item: int, request: ItemFilter | None) -> RequestMatch | None:
        """What of ``request`` (genres to include, years) ``item`` satisfies."""
        if request is None:
            return None
        genres = tuple(g for g in request.include_genres if g in self.data.catalog.genres[item])
        year = int(self.years[item])
        ranged = request.year_min is not None or request.year_max is not None
        if not genres and not (ranged and year > 0):
            return None
        if ranged and year > 0:
            return RequestMatch(genres, year, request.year_min, request.year_max)
        return RequestMatch(genres)

    @staticmethod
    def source(contributions: Mapping[str, float], score: float) -> SourceShare | None:
        """The source with the largest share of a fused ``score`` (only when every share is
        non-negative and the score positive, so that a share is a fraction of it)."""
        parts = {k: v for k, v in contributions.items() if np.isfinite(v)}
        if not parts or score <= 0 or min(parts.values()) < 0:
            return None
        name = max(parts, key=lambda k: parts[k])
        return SourceShare(name, round(parts[name] / score, 3))

    # ------------------------------------------------------------------ a whole list
    def facts(
        self,
        liked: Liked,
        targets: Sequence[int],
        engine: Sequence[Sequence[Evidence]] = (),
        request: ItemFilter | None = None,
        fused: Sequence[tuple[Mapping[str, float], float]] = (),
        left_out: Sequence[float | None] = (),
    ) -> list[tuple[Fact, ...]]:
        """Every fact found for each of ``targets`` (``int[k]``), strongest first.

        Parameters
        ----------
        liked : Liked
        targets : sequence of int
            The recommended items.
        engine : sequence of sequence of Evidence, optional
            The CF engine's evidence per target (its ``weight`` is kept on the facts).
        request : ItemFilter, optional
            The filters the list was asked with.
        fused : sequence of (contributions, score), optional
            Each target's source shares and fused score.
        left_out : sequence of float or None, optional
            Per target, a rating left out of its standing (training: the pair's own).
        """
        data = self.data
        wanted = np.asarray(targets, np.int64)
        h = len(liked.items)
        sim = (
            np.asarray(self.similarity[wanted][:, liked.items].todense(), np.float32)
            if h and len(wanted)
            else np.zeros((len(wanted), h), np.float32)
        )
        liked_genres = self.genres[liked.items] if h else np.zeros((0, len(self.genre_names)), bool)
        out: list[tuple[Fact, ...]] = []
        for b, t in enumerate(wanted.tolist()):
            weights = {e.item_id: e.weight for e in (engine[b] if b < len(engine) else ())}
            row = sim[b]
            order = [j for j in np.argsort(-row, kind="stable").tolist() if row[j] > 0]
            facts: list[Fact] = []
            near = [int(liked.items[j]) for j in order[: self.n_liked]]
            for j in order[: self.n_liked]:
                i = int(liked.items[j])
                r = float(liked.ratings[j])
                item_id = data.items.external[i]
                facts.append(
                    Evidence(item_id, self.title(i), weights.get(item_id, 0.0),
                             None if np.isnan(r) else r, round(float(row[j]), 3))
                )  # fmt: skip
            for basis in ([near[0]], near) if len(near) > 1 else ([near[0]],) if near else ():
                fan = self.fans(basis, t, liked.user)
                if fan is not None:
                    facts.append(fan)
            mine = self.genres[t]
            if near:
                shared = mine & self.genres[near[0]]
                if shared.any():
                    names = tuple(np.asarray(self.genre_names)[shared].tolist())
                    ids = (data.items.external[near[0]],)
                    facts.append(SharedGenres(names, 1, ids, (self.title(near[0]),)))
            if h and mine.any():
                counts = liked_genres[:, mine].sum(axis=0)
                if counts.max() > 0:
                    cols = np.flatnonzero(mine)[np.argsort(-counts, kind="stable")]
                    top = [c for c in cols[:2].tolist() if liked_genres[:, c].any()]
                    n = int(liked_genres[:, top].any(axis=1).sum())
                    facts.append(SharedGenres(tuple(self.genre_names[c] for c in top), n))
            stand = self.standing(t, left_out[b] if b < len(left_out) else None)
            if stand is not None:
                facts.append(stand)
            asked = self.request(t, request)
            if asked is not None:
                facts.append(asked)
            if b < len(fused):
                share = self.source(*fused[b])
                if share is not None:
                    facts.append(share)
            out.append(tuple(facts))
        return out
