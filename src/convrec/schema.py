"""Typed records the Recommender returns (evidence, scored items, recommendations), list
filters, and the item-neighbour interface the LLM prompt builder reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Evidence:
    """A history item that contributed to a recommendation.

    Attributes
    ----------
    item_id : str
        External id of the history item.
    title : str
        Its display title.
    weight : float
        Its contribution to the CF score (history weight x neighbour strength).
    user_rating : float | None
        The user's own rating of it, when known.
    """

    item_id: str
    title: str
    weight: float
    user_rating: float | None = None


@dataclass(frozen=True)
class ScoredItem:
    """One recommended item with everything that placed it.

    Attributes
    ----------
    item_id : str
        External item id.
    title : str
        Display title.
    score : float
        Fused score (the list is sorted by it).
    components : dict[str, float]
        Per-source scores before fusion (``"cf"``, ``"llm"``, ``"cbf"``); a source
        that did not score the item is absent.
    predicted_rating : float | None
        Predicted rating on the dataset's scale.
    evidence : tuple[Evidence, ...]
        History items behind the CF score, strongest first.
    explanation : str | None
        Grounded explanation (``None`` when not asked for).
    explanation_source : str
        ``"llm"`` when the model's text passed the grounding check, ``"template"`` otherwise.
    contributions : dict[str, float]
        Each source's share of ``score`` as fused (its normalised score times its
        weight, see :func:`convrec.cf.fusion.fuse_with_shares`); the values add up to
        ``score``. Empty when the item was not fused (popular or similar-item lists).
    """

    item_id: str
    title: str
    score: float
    components: dict[str, float] = field(default_factory=dict)
    predicted_rating: float | None = None
    evidence: tuple[Evidence, ...] = ()
    explanation: str | None = None
    explanation_source: str = "template"
    contributions: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Recommendation:
    """A ranked list for one user or session.

    Attributes
    ----------
    items : list[ScoredItem]
        Best first.
    user : str | None
        External user id, when the list is for a known user.
    history : tuple[str, ...]
        External ids of the history items the list was built from (newest last).
    """

    items: list[ScoredItem]
    user: str | None = None
    history: tuple[str, ...] = ()

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> ScoredItem:
        return self.items[index]


@dataclass(frozen=True)
class ItemFilter:
    """Filters on a list, as :meth:`~convrec.recommender.Recommender.recommend` takes them: genres
    to include (any of) and exclude, and a release-year range (inclusive)."""

    include_genres: tuple[str, ...] = ()
    exclude_genres: tuple[str, ...] = ()
    year_min: int | None = None
    year_max: int | None = None

    def merge(self, newer: ItemFilter) -> ItemFilter:
        """This state updated by a newer message (a newer genre wish overrides an older one)."""
        include = [g for g in self.include_genres if g not in newer.exclude_genres]
        exclude = [g for g in self.exclude_genres if g not in newer.include_genres]
        include += [g for g in newer.include_genres if g not in include]
        exclude += [g for g in newer.exclude_genres if g not in exclude]
        return ItemFilter(
            tuple(include),
            tuple(exclude),
            newer.year_min if newer.year_min is not None else self.year_min,
            newer.year_max if newer.year_max is not None else self.year_max,
        )

    @property
    def empty(self) -> bool:
        return self == ItemFilter()


class ItemNeighbours(Protocol):
    """An item-item neighbour model as the LLM prompt builder reads it.

    The recommender's own item-kNN (:class:`convrec.cf.knn.ItemKNN`, fitted on the same rows
    as the builder) is one: the builder takes it instead of fitting another.

    Attributes
    ----------
    similarity_ : scipy.sparse.csr_matrix
        ``float32[n_items, n_items]`` top-K item-item similarities, int32 sorted indices
        (``None`` before the model is fitted).
    """

    similarity_: Any

    def recommend(
        self, user_items_batch: Any, k: int = ..., exclude_seen: bool = ...
    ) -> tuple[Any, Any]:
        """Top-``k`` items after each history row (``float32[B, n_items]`` CSR): ``int32[B, k]``
        items best first, padded with -1, and ``float32[B, k]`` their scores."""
        ...
