"""Typed records the Recommender returns: the facts behind an item, explanations, scored items,
item summaries, whole recommendations; the list filters it takes, and the item-neighbour
interface the LLM prompt builder reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


@dataclass(frozen=True)
class Fact:
    """One true, checkable statement about a recommended item (the subclasses are the kinds).

    Each kind's fields are what it takes to check it against the ratings: the ids it is about,
    the threshold it counts with, and the values it states; ``kind`` names the kind (it is
    set by the class, and kept by :func:`dataclasses.asdict`).
    """

    kind: str = field(default="fact", init=False)


@dataclass(frozen=True)
class Evidence(Fact):
    """A history item behind a recommendation (kind ``"liked"``).

    Checked by: ``item_id`` is in the user's or session's history (a known user's rating of
    it is ``user_rating``), and ``similarity`` is the item-kNN cosine of it and the
    recommended item.

    Attributes
    ----------
    item_id : str
        External id of the history item.
    title : str
        Its display title.
    weight : float
        Its contribution to the CF score (history weight x neighbour strength; ``0.0`` when
        the engine did not count it).
    user_rating : float | None
        The user's own rating of it, when known (``None``: a session's liked title).
    similarity : float | None
        Item-kNN cosine of it and the recommended item (``None``: not computed).
    """

    kind: str = field(default="liked", init=False)
    item_id: str
    title: str
    weight: float
    user_rating: float | None = None
    similarity: float | None = None


@dataclass(frozen=True)
class FanRatings(Fact):
    """How the people who liked some history items rated the recommended item (``"fans"``).

    Checked by: the users other than this one who rated any of ``liked_ids`` at least
    ``threshold`` and also rated the item are ``count`` many, and their ratings of the item
    average ``mean``.
    """

    kind: str = field(default="fans", init=False)
    liked_ids: tuple[str, ...]
    liked_titles: tuple[str, ...]
    threshold: float
    count: int
    mean: float


@dataclass(frozen=True)
class SharedGenres(Fact):
    """Genres the item shares with titles the user liked (``"genres"``).

    Checked by: every genre is one of the item's, and ``n_liked`` of the user's liked items
    (``liked_ids`` when they are named: each of those) have at least one of them.
    """

    kind: str = field(default="genres", init=False)
    genres: tuple[str, ...]
    n_liked: int
    liked_ids: tuple[str, ...] = ()
    liked_titles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Standing(Fact):
    """The item's standing among everyone (``"standing"``).

    Checked by: its ratings among the fitted rows number ``count`` and average ``mean``;
    ``rank`` is 1 + the number of items with more ratings.
    """

    kind: str = field(default="standing", init=False)
    mean: float
    count: int
    rank: int


@dataclass(frozen=True)
class SourceShare(Fact):
    """Which source ranked the item (``"source"``): ``source``'s share of its fused score.

    Checked by: ``ScoredItem.contributions[source] / ScoredItem.score`` is ``share``.
    """

    kind: str = field(default="source", init=False)
    source: str
    share: float


@dataclass(frozen=True)
class RequestMatch(Fact):
    """What of the request the item satisfies (``"request"``).

    Checked by: each of ``genres`` is the item's and was asked for; ``year`` is its release
    year and lies in the asked range (``year_min`` .. ``year_max``, either may be open).
    """

    kind: str = field(default="request", init=False)
    genres: tuple[str, ...] = ()
    year: int | None = None
    year_min: int | None = None
    year_max: int | None = None


@dataclass(frozen=True)
class Explanation:
    """Why an item is recommended: the words shown, the facts they cite and who wrote them.

    Attributes
    ----------
    reason : str
        The explanation without its closing predicted-rating sentence.
    facts : tuple[Evidence, ...]
        The items the words cite, strongest first: history items behind the score (a
        model's text is checked to cite only liked history items, whose ``weight`` is
        ``0.0`` when the engine did not count them among its evidence), or the item a list
        of similar items is similar to (``weight``: the similarity).
    source : {"llm", "template"}
        ``"llm"`` when a model's text passed the fact check, ``"template"`` when the words
        were rendered from the facts.
    predicted_rating : float | None
        The predicted rating :attr:`text` states after the reason (``None``: not stated).
    claims : tuple[Fact, ...]
        Every fact the words state (the ``facts`` among them), each checkable on its own.
    """

    reason: str
    facts: tuple[Evidence, ...] = ()
    source: Literal["llm", "template"] = "template"
    predicted_rating: float | None = None
    claims: tuple[Fact, ...] = ()

    @property
    def text(self) -> str:
        """The explanation as shown: the reason, then ``"Predicted rating: 4.2/5."`` if stated."""
        if self.predicted_rating is None:
            return self.reason
        return f"{self.reason} Predicted rating: {self.predicted_rating:.1f}/5."


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
    why : Explanation | None
        The grounded explanation as a structured value (``None`` when not asked for).
    contributions : dict[str, float]
        Each source's share of ``score`` as fused (its normalised score times its
        weight, see :func:`convrec.cf.fusion.fuse_with_shares`); the values add up to
        ``score``. Empty when the item was not fused (popular or similar-item lists).
    support : tuple[Fact, ...]
        Every true fact found for the item (filled with its explanation), strongest first.
    explanation : str | None
        ``why.text`` (set from :attr:`why`, not an argument).
    explanation_source : str
        ``why.source``, ``"template"`` when there is no explanation (set from :attr:`why`).
    """

    item_id: str
    title: str
    score: float
    components: dict[str, float] = field(default_factory=dict)
    predicted_rating: float | None = None
    evidence: tuple[Evidence, ...] = ()
    why: Explanation | None = None
    contributions: dict[str, float] = field(default_factory=dict)
    support: tuple[Fact, ...] = ()
    explanation: str | None = field(default=None, init=False)
    explanation_source: str = field(default="template", init=False)

    def __post_init__(self) -> None:
        if self.why is not None:  # plain fields, so that dataclasses.asdict keeps them
            object.__setattr__(self, "explanation", self.why.text)
            object.__setattr__(self, "explanation_source", self.why.source)


@dataclass(frozen=True)
class ItemSummary:
    """What the catalogue and the fitted ratings say about one item.

    Attributes
    ----------
    item_id : str
        External item id.
    title : str
        Display title.
    year : int | None
        Release year (``None``: unknown).
    genres : tuple[str, ...]
        Genres or categories as the catalogue lists them (may hold ``"unknown"``).
    n_ratings : int
        Ratings of it among the rows the recommender was fitted on.
    mean_rating : float | None
        Their mean (``None`` when it has none).
    popularity_rank : int
        1 + the number of items with more ratings (1: the most rated).
    named_from_reviews : bool
        Whether its title is a name taken from its reviews (the data had none).
    """

    item_id: str
    title: str
    year: int | None
    genres: tuple[str, ...]
    n_ratings: int
    mean_rating: float | None
    popularity_rank: int
    named_from_reviews: bool = False


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
    to include (any of) and exclude, a release-year range (inclusive), and genres an item must
    all have (``require_genres``: "a romantic comedy" is Romance and Comedy)."""

    include_genres: tuple[str, ...] = ()
    exclude_genres: tuple[str, ...] = ()
    year_min: int | None = None
    year_max: int | None = None
    require_genres: tuple[str, ...] = ()

    def merge(self, newer: ItemFilter) -> ItemFilter:
        """This state updated by a newer message (a newer genre wish overrides an older one)."""
        include = [g for g in self.include_genres if g not in newer.exclude_genres]
        exclude = [g for g in self.exclude_genres if g not in newer.include_genres]
        include += [g for g in newer.include_genres if g not in include]
        exclude += [g for g in newer.exclude_genres if g not in exclude]
        require = [g for g in self.require_genres if g not in newer.exclude_genres]
        require += [g for g in newer.require_genres if g not in require]
        return ItemFilter(
            tuple(include),
            tuple(exclude),
            newer.year_min if newer.year_min is not None else self.year_min,
            newer.year_max if newer.year_max is not None else self.year_max,
            tuple(require),
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
