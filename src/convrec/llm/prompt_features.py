"""Prompt features from the training rows: histories, item statistics, neighbour evidence."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import scipy.sparse as sp

from convrec.data.dataset import Dataset
from convrec.data.names import real_titles
from convrec.facts import FactBook, Liked
from convrec.facts.render import facts_text
from convrec.llm.keywords import ItemKeywords
from convrec.llm.tasks import REGISTRY, PromptFields, TemplateRegistry
from convrec.schema import ItemNeighbours

RERANK_TEXTS = ("short", "full", "keywords")
"""Forms of a rerank candidate text (:attr:`PromptConfig.rerank_text`)."""


@dataclass(frozen=True)
class PromptConfig:
    """How prompts are built (saved with the model).

    Attributes
    ----------
    n_recent, n_top : int
        Profile size: the user's most recent titles, then their top-rated ones.
    n_evidence : int
        History items shown as CF evidence (nearest to the target by ItemKNN).
    n_neighbours : int
        K of the item-kNN the builder reads (binary co-occurrence cosine over the training
        rows, so the neighbourhoods never depend on a rating value): its caller fits it, or
        hands over its own (:meth:`PromptFeatures.fit`).
    n_keywords : int
        Item keywords from training reviews (review data only).
    n_negatives : int
        Ranking negatives are drawn from the CF engine's top ``n_negatives`` items.
    max_title_chars : int
        Titles are cut to this many characters inside prompts (targets keep them whole).
    rerank_text : {"short", "full", "keywords"}
        What the decoder reads of each rerank candidate (:meth:`PromptBuilder.candidate_text`):
        ``"short"`` (title, year, CF rank, how far back and how well the user rated its
        ``rerank_evidence`` nearest history items; about 20 tokens), ``"full"`` (genres,
        rating count and the nearest items' titles as well; about 55 tokens, scored about
        2.5x slower) or ``"keywords"`` (the short text with the item's own words: its genres
        and its training-review keywords, so an item known by an id is read by what its
        reviews say). Adapters saved before this setting existed read ``"full"``.
    rerank_evidence : int
        Nearest history items in a short rerank text.
    fact_slots : bool
        Explanations from facts are delexicalised (:func:`convrec.facts.render.render` with
        ``slots``): the ``facts`` field names each fact's values by slot (``"[fn] who liked
        [ta] rated it [fm]"``), the model writes slot names, and the explainer fills in the
        values before the fact check. A model that writes no number or title itself cannot
        misquote one. Training then also shows a share of its examples as sessions
        (:data:`~convrec.llm.prompt_examples.SESSION_SHARE`): 1 to 5 of the user's
        earliest liked titles, without their ratings.
    """

    n_recent: int = 3
    n_top: int = 2
    n_evidence: int = 3
    n_neighbours: int = 50
    n_keywords: int = 5
    max_title_chars: int = 48
    n_negatives: int = 50
    rerank_text: str = "short"
    rerank_evidence: int = 2
    fact_slots: bool = False

    def __post_init__(self) -> None:
        if self.rerank_text not in RERANK_TEXTS:
            raise ValueError(f"rerank_text must be one of {RERANK_TEXTS}, got {self.rerank_text!r}")
        if isinstance(self.rerank_evidence, bool) or not isinstance(self.rerank_evidence, int):
            raise ValueError(f"rerank_evidence must be an integer, got {self.rerank_evidence!r}")
        if self.rerank_evidence < 0:
            raise ValueError(f"rerank_evidence must be >= 0, got {self.rerank_evidence}")


def saved_prompt_config(saved: dict[str, Any]) -> PromptConfig:
    """The :class:`PromptConfig` of a ``convrec_config.json`` ``prompts`` entry: adapters saved
    before ``rerank_text`` existed were trained on the full rerank text."""
    return PromptConfig(**{"rerank_text": "full", **saved})


class PromptFeatures:
    """Every prompt field of a (user, item) pair, from the rows it was fitted on alone.

    Everything about a target pair is computed with the pair itself left out: the target
    item never appears in the user's profile or evidence, and when the pair is a training
    row its rating is removed from the item mean and its review from the item keywords.
    The item-item neighbours are the caller's (:meth:`fit`): a recommender hands over its own.

    Parameters
    ----------
    config : PromptConfig
    registry : TemplateRegistry
    """

    def __init__(
        self, config: PromptConfig | None = None, registry: TemplateRegistry = REGISTRY
    ) -> None:
        self.config = config or PromptConfig()
        self.registry = registry
        self.data: Dataset | None = None
        self.neighbours: ItemNeighbours | None = None

    # ------------------------------------------------------------------ fitting
    def fit(self, data: Dataset, rows: np.ndarray, neighbours: ItemNeighbours) -> Self:
        """Index the training rows: histories, item means, keywords; keep the neighbours.

        Parameters
        ----------
        data : Dataset
        rows : numpy.ndarray
            ``int64[m]`` training interaction rows.
        neighbours : ItemNeighbours
            The item-kNN of the same ``rows`` (binary co-occurrence cosine with
            ``config.n_neighbours`` neighbours per item, e.g. ``ItemKNN(n_neighbours=50)
            .fit(data, rows)``): the evidence, neighbour means and CF lists come from it.

        Returns
        -------
        self
        """
        sim = getattr(neighbours, "similarity_", None)
        if sim is None or tuple(sim.shape) != (data.n_items, data.n_items):
            raise ValueError(
                f"neighbours must be an item-kNN fitted on this data's {data.n_items} items, "
                f"got similarity_ of shape {None if sim is None else sim.shape}"
            )
        rows = np.asarray(rows, dtype=np.int64)
        self.data, self.rows = data, rows
        # newest first, ties broken as protocol B orders them (later item id = later)
        order = rows[np.lexsort((-data.item[rows], -data.timestamp[rows], data.user[rows]))]
        self._hist_rows = order
        self._hist_ptr = np.searchsorted(data.user[order], np.arange(data.n_users + 1))
        self._item_sum = np.bincount(data.item[rows], data.rating[rows], data.n_items)
        self._item_cnt = np.bincount(data.item[rows], minlength=data.n_items)
        self.neighbours = neighbours
        # an item is named by its title only when it has a real one (a name guessed from
        # its reviews would differ from the names seen in training)
        self.titled = real_titles(data)
        self.keywords = ItemKeywords(data, rows, self.config.n_keywords)
        self.book = FactBook(data, rows, sim)
        return self

    def _similarity(self) -> sp.csr_matrix:
        """The neighbours' ``float32[n_items, n_items]`` similarity CSR."""
        if self.neighbours is None or self.neighbours.similarity_ is None:
            raise RuntimeError("PromptBuilder is not fitted: call fit(data, rows, neighbours)")
        sim: sp.csr_matrix = self.neighbours.similarity_
        return sim

    # ------------------------------------------------------------------ text pieces
    def _data(self) -> Dataset:
        if self.data is None:
            raise RuntimeError("PromptBuilder is not fitted: call fit(data, rows, neighbours)")
        return self.data

    def title(self, item: int, clip: bool = True) -> str:
        """Display title (``"item <id>"`` for an item without a real title)."""
        data = self._data()
        titled = self.titled[item]
        name = data.catalog.title[item] if titled else f"item {data.items.external[item]}"
        limit = self.config.max_title_chars
        return name[:limit].rstrip() if clip and len(name) > limit else name

    def title_year(self, item: int) -> str:
        """Title and year (when not already in the title)."""
        data = self._data()
        text = self.title(item)
        year = int(data.catalog.year[item])
        return f"{text} ({year})" if year > 0 and str(year) not in text else text

    def item_text(self, item: int) -> str:
        """Title, year (when not already in the title) and genres."""
        data = self._data()
        text = self.title_year(item)
        genres = data.catalog.genres[item]
        return text + (f", {' / '.join(genres).lower()}" if genres else "")

    def history(
        self, user: int, exclude_item: int = -1, before_row: int = -1
    ) -> tuple[np.ndarray, np.ndarray]:
        """Training history of a user, newest first, without ``exclude_item``.

        Parameters
        ----------
        before_row : int
            If >= 0, only the interactions before that row in (timestamp, item id) order:
            what the user had seen when they picked that row's item.

        Returns
        -------
        items : int32[h]
        ratings : float32[h]
        """
        data = self._data()
        sel = self._hist_rows[self._hist_ptr[user] : self._hist_ptr[user + 1]]
        if before_row >= 0:
            ts, it = data.timestamp[before_row], data.item[before_row]
            t = data.timestamp[sel]
            sel = sel[(t < ts) | ((t == ts) & (data.item[sel] < it))]
        items, ratings = data.item[sel], data.rating[sel]
        keep = items != exclude_item
        return items[keep], ratings[keep]

    def _own_row(self, user: int, item: int) -> int:
        """The training row of the pair, or -1."""
        data = self._data()
        sel = self._hist_rows[self._hist_ptr[user] : self._hist_ptr[user + 1]]
        hit = np.flatnonzero(data.item[sel] == item)
        return int(sel[hit[0]]) if len(hit) else -1

    def fields(
        self, user: int, item: int, before_row: int = -1, facts: bool = False
    ) -> PromptFields:
        """Every prompt field for one (user, item) pair.

        ``before_row`` (ranking training examples) limits the history to what came before
        that interaction, see :meth:`history`; ``facts``: fill the ``facts`` field too.
        """
        items, ratings = self.history(user, exclude_item=item, before_row=before_row)
        own = self._own_row(user, item)
        return self.fields_for(items, ratings, item, own_row=own, user=user, facts=facts)

    def item_facts(
        self,
        items: np.ndarray,
        ratings: np.ndarray,
        item: int,
        own_row: int = -1,
        user: int = -1,
        own_ratings: bool = True,
    ) -> tuple[Any, ...]:
        """The :class:`~convrec.schema.Fact` values of ``item`` after a history (``int32[h]``
        newest first, ``float32[h]`` ratings), the pair's own row left out of its standing.

        ``own_ratings`` False: the liked titles carry no rating of the user's (a session's
        titles are said to be liked, not rated; ``ratings`` still choose which are liked)."""
        data = self._data()
        keep = np.asarray(items) != item
        oldest = np.asarray(items)[keep][::-1].tolist()
        values = np.asarray(ratings, np.float32)[keep][::-1].tolist()
        rated = dict(zip(oldest, values, strict=True))
        liked = Liked.of(np.asarray(list(rated), np.int32), rated, self.book.threshold, user)
        if not own_ratings:
            liked = Liked(liked.items, np.full(len(liked.items), np.nan, np.float32), user)
        left_out = [float(data.rating[own_row]) if own_row >= 0 else None]
        return self.book.facts(liked, [item], left_out=left_out)[0]

    def fields_for(
        self,
        items: np.ndarray,
        ratings: np.ndarray,
        item: int,
        own_row: int = -1,
        user: int = -1,
        facts: bool = False,
        own_ratings: bool | None = None,
    ) -> PromptFields:
        """Prompt fields from an explicit history, e.g. a new session's liked titles.

        Parameters
        ----------
        items, ratings : numpy.ndarray
            ``int32[h]`` item indices, newest first, and ``float32[h]`` their ratings.
            The target ``item`` is dropped from them.
        item : int
            The target item.
        own_row : int
            Training row of the (user, item) pair, left out of the item's statistics.
        user : int
            The known user (left out of the facts' counts), -1 for a session.
        facts : bool
            Fill the ``facts`` field (:meth:`item_facts`; costs a little, so only for
            templates that show it).
        own_ratings : bool, optional
            Whether the facts cite the history's ratings as the user's own (default: for a
            known ``user`` only; a session's titles carry the top rating in ``ratings`` for
            the other fields, but nobody rated them).
        """
        data = self._data()
        items, ratings = np.asarray(items), np.asarray(ratings, np.float32)
        keep = items != item
        items, ratings = items[keep], ratings[keep]
        c = self.config
        profile_text = self.profile_text(items, ratings)
        rated = dict(zip(items.tolist(), ratings.tolist(), strict=True))
        nbr, w = self._history_neighbours(items, item)
        evidence = ", ".join(
            f"{self.title(int(i))}: {num_text(rated[int(i)])}" for i in nbr[: c.n_evidence]
        )
        own = own_row
        total, count = float(self._item_sum[item]), int(self._item_cnt[item])
        if own >= 0:
            total, count = total - float(data.rating[own]), count - 1
        stats = [f"item mean {total / count:.1f} from {count} ratings" if count else "new item"]
        if len(nbr):
            nmean = float(np.dot(w, [rated[int(i)] for i in nbr]) / w.sum())
            stats.append(f"neighbour mean {nmean:.1f}")
        known: tuple[Any, ...] = ()
        if facts:
            mine = user >= 0 if own_ratings is None else own_ratings
            known = self.item_facts(items, ratings, item, own, user, own_ratings=mine)
        return PromptFields(
            item=self.item_text(item),
            keywords=self.keywords.text(item, own),
            profile=profile_text or "nothing yet",
            evidence=evidence or "none",
            stats=", ".join(stats),
            facts=facts_text(known, self.book.positive, c.fact_slots) if facts else "",
        )

    def _history_neighbours(self, items: np.ndarray, item: int) -> tuple[np.ndarray, np.ndarray]:
        """``item``'s item-kNN neighbours among the history ``items``, most similar first (ties
        in neighbour-list order): ``int32[n]`` items and ``float32[n]`` similarities."""
        sim = self._similarity()
        nbr = sim.indices[sim.indptr[item] : sim.indptr[item + 1]]
        w = sim.data[sim.indptr[item] : sim.indptr[item + 1]]
        mine = np.isin(nbr, items)
        order = np.argsort(-w[mine], kind="stable")
        return nbr[mine][order], w[mine][order]

    def profile_text(self, items: np.ndarray, ratings: np.ndarray) -> str:
        """The profile field: the ``n_recent`` newest items, then the best rated, with ratings.

        ``items`` (``int32[h]``) newest first, ``ratings`` (``float32[h]``) theirs.
        """
        c = self.config
        profile = list(items[: c.n_recent])
        for j in np.argsort(-np.asarray(ratings), kind="stable"):
            if len(profile) >= c.n_recent + c.n_top:
                break
            if items[j] not in profile:
                profile.append(items[j])
        rated = dict(zip(np.asarray(items).tolist(), np.asarray(ratings).tolist(), strict=True))
        return ", ".join(f"{self.title(int(i))}: {num_text(rated[int(i)])}" for i in profile)

    def cf_top(self, histories: list[np.ndarray], k: int | None = None) -> np.ndarray:
        """The CF engine's top ``k`` (default ``n_negatives``) unseen items after each history
        (the item-kNN over the binary history).

        ``histories``: ``int32[h]`` item arrays. Returns ``int32[B, k]``, best first, padded
        with -1.
        """
        data = self._data()
        if self.neighbours is None:
            raise RuntimeError("PromptBuilder is not fitted: call fit(data, rows, neighbours)")
        indptr = np.concatenate([[0], np.cumsum([len(h) for h in histories])]).astype(np.int64)
        indices = (
            np.concatenate(histories).astype(np.int32) if indptr[-1] else np.zeros(0, np.int32)
        )
        csr = sp.csr_matrix(
            (np.ones(len(indices), np.float32), indices, indptr),
            shape=(len(histories), data.n_items),
        )
        csr.sum_duplicates()
        csr.data[:] = 1.0
        ids, _ = self.neighbours.recommend(csr, k=k or self.config.n_negatives, exclude_seen=True)
        return np.asarray(ids, np.int32)


def num_text(value: float) -> str:
    """A rating as prompts show it (``4``, ``3.5``)."""
    return f"{value:g}"
