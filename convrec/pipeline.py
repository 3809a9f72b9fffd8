"""Recommender: profile -> native CF candidates -> LLM / content scores -> native fusion -> list."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from convrec.cf.baselines import BiasBaseline
from convrec.cf.fusion import contributions, fuse
from convrec.cf.scoring import score_topk
from convrec.cf.sequential import SequentialKNN, item_cosine, user_sequences
from convrec.data.dataset import Dataset, canonical_csr
from convrec.data.errors import UnknownIdError
from convrec.dialogue.intent import Constraints
from convrec.dialogue.titles import TitleIndex
from convrec.explanations import GroundingCheck, template_explanation
from convrec.schema import Evidence, Recommendation, ScoredItem

if TYPE_CHECKING:
    from convrec.dialogue.chat import ChatReply

ItemFilter = Callable[[np.ndarray], np.ndarray]
"""``filter(items int32[n]) -> bool[n]``: which items may be recommended."""


class UnknownTitleError(KeyError):
    """A title that matches no item; ``suggestions`` holds the closest titles."""

    def __init__(self, title: str, suggestions: Sequence[str]) -> None:
        self.title = title
        self.suggestions = list(suggestions)
        hint = f"; did you mean {', '.join(self.suggestions)}?" if self.suggestions else ""
        super().__init__(f"no item titled {title!r}{hint}")

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class RecommenderConfig:
    """How the sources are combined.

    Attributes
    ----------
    n_candidates : int
        C, the CF engine's candidates per user that the other sources re-score.
    weights : dict[str, float]
        Fusion weight per source (``"cf"``, ``"llm"``, ``"cbf"``); the seed's
        ``alpha * CF + (1 - alpha) * LLM`` is ``{"cf": alpha, "llm": 1 - alpha}``.
    method, normalisation : str
        Passed to :func:`convrec.cf.fuse` (``"weighted"`` / ``"rrf"``; ``"zscore"`` / ``"minmax"``).
    tau : float
        Recency scale of a session history, in positions (``exp(-position / tau)``).
    n_evidence : int
        History items kept as evidence per recommended item.
    rating_weighting : bool
        Scale a known user's history weights by how much they liked each item
        (``clip((r - 2) / 3, 0, 1)`` on a 1-5 scale): items rated 1-2 stop pulling
        in their neighbours. (Protocol B counts every rating as a positive, the
        chat does not.)
    cf : dict
        Parameters of the :class:`~convrec.cf.sequential.SequentialKNN` candidate model.
    """

    n_candidates: int = 100
    weights: dict[str, float] = field(default_factory=lambda: {"cf": 1.0, "llm": 0.5, "cbf": 0.3})
    method: str = "weighted"
    normalisation: str = "zscore"
    tau: float = 2.0
    n_evidence: int = 3
    rating_weighting: bool = True
    cf: dict[str, Any] = field(default_factory=lambda: {"tau": 2.0, "window": 10})

    @property
    def alpha(self) -> float:
        """The CF share of the CF + LLM weight, ``w_cf / (w_cf + w_llm)`` (1 when both are 0)."""
        cf, llm = self.weights.get("cf", 0.0), self.weights.get("llm", 0.0)
        return cf / (cf + llm) if cf + llm > 0 else 1.0

    def fusion_weights(self, alpha: float | None = None) -> dict[str, float]:
        """``weights`` with the CF / LLM balance set to ``alpha`` (``None``: as configured).

        The CF + LLM total is kept and split ``alpha : 1 - alpha``; other sources keep
        their weight, so ``fusion_weights(self.alpha) == weights``. With one weight for each
        of CF and LLM summing to 1 this is the seed's ``alpha * CF + (1 - alpha) * LLM``.
        """
        weights = dict(self.weights)
        if alpha is None:
            return weights
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        total = weights.get("cf", 0.0) + weights.get("llm", 0.0)
        total = total if total > 0 else 1.0
        weights["cf"], weights["llm"] = alpha * total, (1.0 - alpha) * total
        return weights


@dataclass
class _Profile:
    user: int | None
    items: np.ndarray  # int32[h], oldest first
    weights: np.ndarray  # float32[h]
    ratings: dict[int, float]


class Recommender:
    """Ranked, explained lists from CF candidates, re-scored by the LLM and content, fused natively.

    Parameters
    ----------
    data
        The dataset (catalog, id maps); the models were fitted on ``rows`` of it.
    rows
        ``int64[m]`` interaction rows that form the users' histories.
    cf
        Fitted candidate model (its ``neighbours_`` and ``weights_`` feed the native kernel).
    rating
        Fitted rating model with ``predict_ratings`` (known users), whose
        ``mean_`` / ``item_bias_`` also rate session items.
    cbf, llm
        Optional fitted content model (``score_history``) and LLM (``score_candidates``,
        ``explain``).
    similarity
        ``float32[n_items, n_items]`` item-item cosine neighbours for :meth:`similar_items`
        (default: the native top-50 cosine of ``rows``).
    """

    def __init__(
        self,
        data: Dataset,
        rows: np.ndarray,
        cf: SequentialKNN,
        rating: BiasBaseline,
        cbf: Any = None,
        llm: Any = None,
        config: RecommenderConfig | None = None,
        similarity: sp.csr_matrix | None = None,
    ) -> None:
        self.data = data
        self.rows = np.asarray(rows, dtype=np.int64)
        self.cf, self.rating, self.cbf, self.llm = cf, rating, cbf, llm
        self.config = config or RecommenderConfig()
        self.popularity = np.bincount(data.item[self.rows], minlength=data.n_items)
        self.titles = TitleIndex(data.catalog.title, data.catalog.year, self.popularity)
        self.grounding = GroundingCheck(self.titles)
        user, item, _ = user_sequences(data, self.rows)
        self._history_ptr = np.searchsorted(user, np.arange(data.n_users + 1)).astype(np.int64)
        self._history_items = item
        self._ratings = data.user_items(self.rows, values="rating")
        self.similarity = item_cosine(data, self.rows, 50) if similarity is None else similarity

    @classmethod
    def build(
        cls,
        data: Dataset,
        rows: np.ndarray | None = None,
        config: RecommenderConfig | None = None,
        cbf: Any = None,
        llm: Any = None,
    ) -> Recommender:
        """Fit the CF candidate and rating models on ``rows`` (default: all) and wrap them."""
        config = config or RecommenderConfig()
        rows = np.arange(data.n_interactions) if rows is None else np.asarray(rows, np.int64)
        cf = SequentialKNN(**config.cf).fit(data, rows)
        rating = BiasBaseline().fit(data, rows)
        return cls(data, rows, cf, rating, cbf=cbf, llm=llm, config=config)

    @classmethod
    def from_pretrained(cls, name_or_dir: str | os.PathLike[str], **overrides: Any) -> Recommender:
        """A shipped default by name (``"ml-100k"``) or a directory from :meth:`save_pretrained`.

        ``overrides`` replace fields of the saved :class:`RecommenderConfig`.
        """
        from convrec.artifacts import load_recommender

        return load_recommender(name_or_dir, **overrides)

    def save_pretrained(self, directory: str | os.PathLike[str]) -> Path:
        """Write the dataset, fitted models and config to ``directory`` (JSON / npz, no pickle)."""
        from convrec.artifacts import save_recommender

        return save_recommender(self, directory)

    # ------------------------------------------------------------------ inputs

    def item_index(self, item: str | int) -> int:
        """Internal index of an external item id, or of a title (fuzzy; raises with suggestions)."""
        if item in self.data.items:
            return self.data.items.index(item)
        found, suggestions = self.titles.resolve(str(item))
        if found is None:
            raise UnknownTitleError(str(item), [self.titles.display(s) for s in suggestions])
        return found

    def _profile(
        self, user: str | int | None, history: Sequence[str | int], liked: Sequence[str]
    ) -> _Profile:
        if user is not None:
            u = self.data.users.index(user)
            items = self._history_items[self._history_ptr[u] : self._history_ptr[u + 1]]
            row = self.cf.weights_[u]
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
            extra = [self.item_index(x) for x in (*history, *liked)]
            if extra:
                items = np.concatenate([items, np.asarray(extra, np.int32)])
                weights = np.concatenate([weights * math.exp(-len(extra) / self.config.tau),
                                          _recency(len(extra), self.config.tau)])  # fmt: skip
            return _Profile(u, items.astype(np.int32), weights.astype(np.float32), ratings)
        items_list = list(dict.fromkeys(self.item_index(x) for x in (*history, *liked)))
        if not items_list:
            raise ValueError("give a user, a history or liked titles to recommend from")
        items = np.asarray(items_list, np.int32)
        return _Profile(None, items, _recency(len(items), self.config.tau), {})

    def _allowed(self, filters: Constraints | ItemFilter | None) -> np.ndarray | None:
        """``bool[n_items]`` mask of items the filters allow (``None``: all)."""
        if filters is None:
            return None
        items = np.arange(self.data.n_items, dtype=np.int32)
        if callable(filters):
            return np.asarray(filters(items), dtype=bool)
        catalog = self.data.catalog
        mask = np.ones(self.data.n_items, dtype=bool)
        genres = catalog.genres
        if filters.include_genres:
            wanted = set(filters.include_genres)
            mask &= np.fromiter((bool(wanted & set(g)) for g in genres), bool, len(genres))
        if filters.exclude_genres:
            unwanted = set(filters.exclude_genres)
            mask &= np.fromiter((not unwanted & set(g) for g in genres), bool, len(genres))
        if filters.year_min is not None:
            mask &= catalog.year >= filters.year_min
        if filters.year_max is not None:
            mask &= (catalog.year <= filters.year_max) & (catalog.year > 0)
        return mask

    # ------------------------------------------------------------------ ranking

    def recommend(
        self,
        user: str | int | None = None,
        history: Sequence[str | int] = (),
        liked: Sequence[str] = (),
        k: int = 10,
        explain: bool = True,
        exclude_seen: bool = True,
        filters: Constraints | ItemFilter | None = None,
        exclude: Iterable[str | int] = (),
        alpha: float | None = None,
    ) -> Recommendation:
        """Top-``k`` items for a known ``user`` (external id) and/or a session.

        ``history`` takes external item ids or titles (oldest first), ``liked`` titles
        (matched fuzzily; an unknown one raises :class:`UnknownTitleError` with
        suggestions). ``filters`` takes :class:`~convrec.dialogue.Constraints` or a
        callable over item indices; ``exclude`` items (ids or titles) never appear.
        ``alpha`` in [0, 1] sets the CF vs LLM fusion balance
        (:meth:`RecommenderConfig.fusion_weights`; ``None``: as configured). It is
        ignored when no LLM is loaded; the LLM scores known users only, so lists for a
        session without ``user`` do not depend on it either.
        """
        return self.recommend_batch(
            [{"user": user, "history": history, "liked": liked, "exclude": exclude}],
            k=k,
            explain=explain,
            exclude_seen=exclude_seen,
            filters=filters,
            alpha=alpha,
        )[0]

    def recommend_batch(
        self,
        requests: Sequence[dict[str, Any]],
        k: int = 10,
        explain: bool = True,
        exclude_seen: bool = True,
        filters: Constraints | ItemFilter | None = None,
        alpha: float | None = None,
    ) -> list[Recommendation]:
        """Many users at once: one native scoring call and one native fusion call for the batch.

        Each request is ``{"user": ..., "history": [...], "liked": [...], "exclude": [...]}``;
        ``alpha`` as in :meth:`recommend`.
        """
        if k <= 0:
            raise ValueError(f"k must be > 0, got {k}")
        source_weights = self.config.fusion_weights(None if self.llm is None else alpha)
        profiles = [
            self._profile(r.get("user"), r.get("history", ()), r.get("liked", ())) for r in requests
        ]
        n_items = self.data.n_items
        hist = _rows_csr([p.items for p in profiles], [p.weights for p in profiles], n_items)
        allowed = self._allowed(filters)
        blocked: list[np.ndarray] = []
        for p, r in zip(profiles, requests, strict=True):
            skip = [self.item_index(x) for x in r.get("exclude", ())]
            if exclude_seen:
                skip += p.items.tolist()
            blocked.append(np.asarray(skip, np.int32))
        if allowed is not None:
            banned = np.flatnonzero(~allowed).astype(np.int32)
            blocked = [np.union1d(b, banned).astype(np.int32) for b in blocked]
        exclude_csr = _rows_csr(blocked, [np.ones(len(b), np.float32) for b in blocked], n_items)
        c = max(k, self.config.n_candidates)
        cand, cf_scores, ev, ev_w = score_topk(
            hist, self.cf.neighbours_, c, exclude=exclude_csr, n_evidence=self.config.n_evidence
        )
        cand, cf_scores = self._fill_popular(cand, cf_scores, blocked)
        sources, names = self._sources(profiles, cand, cf_scores, source_weights)
        weights = np.asarray([source_weights.get(n, 0.0) for n in names], np.float32)
        method, normalisation = self.config.method, self.config.normalisation
        ids, fused = fuse(cand, sources, weights, k=k, method=method, normalisation=normalisation)
        shares = contributions(cand, sources, weights, method, normalisation)
        out: list[Recommendation] = []
        for b, p in enumerate(profiles):
            position = {int(i): j for j, i in enumerate(cand[b]) if i >= 0}
            items: list[ScoredItem] = []
            for item, score in zip(ids[b].tolist(), fused[b].tolist(), strict=True):
                if item < 0:
                    continue
                j = position[item]
                comps = {n: float(sources[s, b, j]) for s, n in enumerate(names)}
                share = {n: float(shares[s, b, j]) for s, n in enumerate(names)}
                evidence = self._evidence(p, ev[b, j] if ev is not None else (), ev_w, b, j)
                items.append(self._scored(p, item, score, comps, share, evidence, explain))
            user = None if p.user is None else self.data.users.external[p.user]
            history = tuple(self.data.items.external[i] for i in p.items.tolist())
            out.append(Recommendation(items, user, history))
        return out

    def _fill_popular(
        self, cand: np.ndarray, scores: np.ndarray, blocked: list[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Pad rows with few CF candidates by popular allowed items.

        Their CF score is what the engine gives an unreached item, 0, lowered by a
        hair per popularity rank so that they follow every reached item, most popular first.
        """
        order = np.argsort(-self.popularity, kind="stable")
        scores = scores.astype(np.float32).copy()
        for b in range(len(cand)):
            free = np.flatnonzero(cand[b] < 0)
            if not len(free):
                continue
            taken = set(cand[b][cand[b] >= 0].tolist()) | set(blocked[b].tolist())
            fill = [int(i) for i in order if int(i) not in taken][: len(free)]
            cand[b, free[: len(fill)]] = fill
            scores[b, free] = -1e-6 * np.arange(1, len(free) + 1, dtype=np.float32)
        return cand, scores

    def _sources(
        self,
        profiles: list[_Profile],
        cand: np.ndarray,
        cf_scores: np.ndarray,
        weights: dict[str, float],
    ) -> tuple[np.ndarray, list[str]]:
        """``float32[S, B, C]`` source scores over the candidates (NaN = not scored)."""
        names, layers = ["cf"], [cf_scores]
        valid = cand >= 0
        if self.cbf is not None and weights.get("cbf", 0.0) > 0:
            layer = np.full(cand.shape, np.nan, np.float32)
            for b, p in enumerate(profiles):
                scores = self.cbf.score_history(p.items, p.weights)
                layer[b, valid[b]] = scores[cand[b, valid[b]]]
            names.append("cbf")
            layers.append(layer)
        known = [b for b, p in enumerate(profiles) if p.user is not None]
        if self.llm is not None and known and weights.get("llm", 0.0) > 0:
            layer = np.full(cand.shape, np.nan, np.float32)
            users = np.asarray([profiles[b].user for b in known], np.int32)
            scored = np.asarray(self.llm.score_candidates(users, cand[known]), np.float32)
            scored[~np.isfinite(scored)] = np.nan
            layer[known] = scored
            names.append("llm")
            layers.append(layer)
        stacked = np.stack(layers).astype(np.float32)
        stacked[:, ~valid] = np.nan
        return stacked, names

    def _evidence(
        self, p: _Profile, ev_items: Any, ev_w: np.ndarray | None, b: int, j: int
    ) -> tuple[Evidence, ...]:
        out = []
        for e, h in enumerate(np.asarray(ev_items, dtype=np.int64).tolist()):
            if h < 0 or ev_w is None:
                continue
            out.append(
                Evidence(
                    self.data.items.external[h],
                    self.titles.display(h),
                    float(ev_w[b, j, e]),
                    p.ratings.get(h),
                )
            )
        return tuple(out)

    def _predict(self, p: _Profile, item: int) -> float:
        lo, hi = float(self.data.rating.min()), float(self.data.rating.max())
        if p.user is not None:
            value = float(self.rating.predict_ratings(np.array([p.user]), np.array([item]))[0])
        else:
            value = float(self.rating.mean_ + self.rating.item_bias_[item])
        return float(np.clip(value, lo, hi))

    def _scored(
        self,
        p: _Profile,
        item: int,
        score: float,
        comps: dict[str, float],
        share: dict[str, float],
        evidence: tuple[Evidence, ...],
        explain: bool,
    ) -> ScoredItem:
        rating = self._predict(p, item)
        text, source = None, "template"
        if explain:
            text, source = self._explanation(p, item, rating, evidence)
        return ScoredItem(
            item_id=self.data.items.external[item],
            title=self.titles.display(item),
            score=float(score),
            components={n: v for n, v in comps.items() if not math.isnan(v)},
            predicted_rating=rating,
            evidence=evidence,
            explanation=text,
            explanation_source=source,
            contributions={n: v for n, v in share.items() if not math.isnan(v)},
        )

    def _explanation(
        self, p: _Profile, item: int, rating: float, evidence: tuple[Evidence, ...]
    ) -> tuple[str, str]:
        if self.llm is not None and p.user is not None:
            text = self.llm.explain(np.array([p.user]), np.array([item]))[0]
            allowed = {item, *p.items.tolist()}
            if self.grounding.check(text, allowed, p.ratings):
                return text, "llm"
        return template_explanation(self.titles.display(item), rating, evidence), "template"

    # ------------------------------------------------------------------ single items

    def predict_rating(self, user: str | int | None, item: str | int) -> float:
        """Predicted rating of a known user for an item (id or title); no user: anyone's."""
        if user is None:
            anyone = _Profile(None, np.zeros(0, np.int32), np.zeros(0, np.float32), {})
            return self._predict(anyone, self.item_index(item))
        return self._predict(self._profile(user, (), ()), self.item_index(item))

    def chat(
        self,
        message: str,
        history: Sequence[Any] = (),
        domain: str | None = None,
        k: int | None = None,
        alpha: float | None = None,
    ) -> ChatReply:
        """Answer one chat ``message`` after ``history`` (Gradio messages or pairs).

        Returns a :class:`~convrec.dialogue.chat.ChatReply`; the state is rebuilt
        from ``history`` on every call, so nothing is kept between calls. ``domain``
        names this recommender's domain (default: its dataset's name); ``k`` is the
        list length when the conversation has not asked for one, ``alpha`` the CF vs
        LLM balance (see :meth:`recommend`). Several domains: :class:`~convrec.dialogue.chat.Chat`.
        """
        from convrec.dialogue.chat import Chat

        name = domain or self.data.name
        chat = self.__dict__.get("_chat")
        if chat is None or chat.default != name:
            chat = self.__dict__["_chat"] = Chat({name: self})
        return chat.respond(message, history, k=k, alpha=alpha)

    def explain(self, user: str | int | None, item: str | int, history: Sequence[str] = ()) -> str:
        """A grounded explanation of ``item`` for a user or a session history."""
        p = self._profile(user, history, ())
        target = self.item_index(item)
        hist = _rows_csr([p.items], [p.weights], self.data.n_items)
        nbr = self.cf.neighbours_
        contrib = np.asarray(hist.multiply(nbr[:, target].T).todense()).ravel()
        order = [int(h) for h in np.argsort(-contrib, kind="stable") if contrib[h] > 0]
        evidence = tuple(
            Evidence(self.data.items.external[h], self.titles.display(h), float(contrib[h]),
                     p.ratings.get(h))
            for h in order[: self.config.n_evidence]
        )  # fmt: skip
        text, _ = self._explanation(p, target, self._predict(p, target), evidence)
        return text

    def similar_items(self, item: str | int, k: int = 10) -> list[ScoredItem]:
        """Items most similar to ``item`` (cosine of who chose them), strongest first."""
        target = self.item_index(item)
        nbr = self.similarity
        start, end = nbr.indptr[target], nbr.indptr[target + 1]
        cols, vals = nbr.indices[start:end], nbr.data[start:end]
        order = np.lexsort((cols, -vals))[:k]
        return [
            ScoredItem(self.data.items.external[int(cols[o])], self.titles.display(int(cols[o])),
                       float(vals[o]), {"cf": float(vals[o])})
            for o in order
        ]  # fmt: skip


def _recency(n: int, tau: float) -> np.ndarray:
    """``float32[n]`` weights ``exp(-position_from_end / tau)``, oldest first."""
    return np.exp(-np.arange(n - 1, -1, -1, dtype=np.float64) / tau).astype(np.float32)


def _rows_csr(rows: list[np.ndarray], values: list[np.ndarray], n_cols: int) -> sp.csr_matrix:
    """``float32[B, n_cols]`` CSR with sorted, summed indices from per-row index lists."""
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(r) for r in rows])
    indices = np.concatenate(rows).astype(np.int32) if rows else np.zeros(0, np.int32)
    data = np.concatenate(values).astype(np.float32) if values else np.zeros(0, np.float32)
    return canonical_csr(sp.csr_matrix((data, indices, indptr), shape=(len(rows), n_cols)))


__all__ = ["Recommender", "RecommenderConfig", "UnknownIdError", "UnknownTitleError"]
