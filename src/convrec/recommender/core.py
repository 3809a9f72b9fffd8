"""Recommender: the public class over profiles, candidates, fusion and explanations."""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from convrec.cf.knn import ItemKNN
from convrec.cf.sequential import NeighbourModel
from convrec.data.dataset import Dataset
from convrec.data.names import NAMED_FROM_REVIEWS, real_titles
from convrec.data.titles import TitleIndex
from convrec.facts import FactBook, FactChecker
from convrec.recommender.candidates import CandidateRanker
from convrec.recommender.config import (
    RecommenderConfig,
    UnknownTitleError,
    cf_classes,
    named_model,
    rating_classes,
)
from convrec.recommender.explain import Explainer
from convrec.recommender.foldin import fold_in_offsets, item_residuals
from convrec.recommender.loading import collector_paused
from convrec.recommender.neighbours import item_neighbours, neighbours_for
from convrec.recommender.profiles import (
    ItemPredicate,
    Profile,
    ProfileBuilder,
    allowed_items,
    recency,
)
from convrec.schema import Explanation, ItemFilter, ItemSummary, Recommendation, ScoredItem


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
        Fitted rating model (one of :func:`~convrec.recommender.config.rating_classes`) with
        ``predict_ratings`` (known users); its biases also rate session items.
    cbf, llm
        Optional fitted content model (``score_history``) and LLM (``score_candidates``,
        ``explain``, and ``predict_ratings`` when ``config.rating_alpha < 1``).
    session_cf
        Fitted session candidate model (``config.session_cf``; default: fitted on ``rows``
        here when the config names one).
    neighbours
        The item-kNN of ``rows`` (default: the native top-50 binary cosine,
        :func:`~convrec.recommender.neighbours.item_neighbours`): its matrix is
        :attr:`similarity` (:meth:`similar_items`, the diversity re-ranking) and the ``llm``
        prompts' CF evidence and lists read the same model (:meth:`with_adapter`).

    Attributes
    ----------
    data : Dataset
        The dataset given (read it, do not change it).
    titles : TitleIndex
        Finds catalogue items named in text; its item numbers are the internal item
        indices ``0 .. n_items - 1`` that :meth:`item_id` turns into external ids.
    config : RecommenderConfig
        How the sources are combined (setting it re-wires the engine).
    llm
        The LLM source, or ``None`` (CF and content only).

    The other attributes are the engine's parts; a caller (the dialogue layer included)
    uses the methods and the attributes above.
    """

    def __init__(
        self,
        data: Dataset,
        rows: np.ndarray,
        cf: NeighbourModel,
        rating: Any,
        cbf: Any = None,
        llm: Any = None,
        config: RecommenderConfig | None = None,
        neighbours: ItemKNN | None = None,
        session_cf: NeighbourModel | None = None,
    ) -> None:
        self.data = data
        self.rows = np.asarray(rows, dtype=np.int64)
        self.cf, self.rating, self.cbf, self.llm = cf, rating, cbf, llm
        self.session_cf = session_cf
        self.popularity = np.bincount(data.item[self.rows], minlength=data.n_items)
        self.titles = TitleIndex(
            data.catalog.title, data.catalog.year, self.popularity, real_titles(data)
        )
        self.neighbours = item_neighbours(data, self.rows) if neighbours is None else neighbours
        config = config or RecommenderConfig()
        self.profiles = ProfileBuilder(data, self.rows, cf.weights_, config, self.item_index)
        book = FactBook(data, self.rows, self.similarity)
        self.explainer = Explainer(data, self.titles, llm, config.n_evidence, book)
        self.config = config

    @property
    def config(self) -> RecommenderConfig:
        """How the sources are combined; setting it re-wires the engine."""
        return self._config

    @config.setter
    def config(self, config: RecommenderConfig) -> None:
        self._config = config
        self.session_cf = self._session_model(config)
        self.profiles = copy.copy(self.profiles)
        self.profiles.config = config
        self.profiles.session_tau = getattr(self.session_cf, "tau", config.tau)
        self.explainer.n_evidence = config.n_evidence
        session = None
        if self.session_cf is not None:
            session = (self.session_cf.neighbours_, self.session_cf.prior_)
        self.ranker = CandidateRanker(
            self.cf.neighbours_,
            self.popularity,
            config,
            self.cbf,
            self.llm,
            self.similarity,
            liked_rating=self.explainer.liked_rating,
            session=session,
        )

    def _session_model(self, config: RecommenderConfig) -> NeighbourModel | None:
        """The fitted session candidate model ``config.session_cf`` names: the one held when
        its parameters match, else fitted on :attr:`rows` (``None``: sessions use ``cf``)."""
        spec = config.session_cf
        held = getattr(self, "session_cf", None)
        if spec is None:
            return None
        if (
            held is not None
            and type(held).__name__ == spec.get("model")
            and all(
                getattr(held, key, None) == value for key, value in spec.items() if key != "model"
            )
        ):
            return held
        model: NeighbourModel = named_model(spec, cf_classes())
        return model.fit(self.data, self.rows)

    def _candidate_model(self, profile: Profile) -> NeighbourModel:
        """The CF model that ranks ``profile``: ``session_cf`` for a session, else ``cf``."""
        if profile.user is None and self.session_cf is not None:
            return self.session_cf
        return self.cf

    @property
    def similarity(self) -> sp.csr_matrix:
        """``float32[n_items, n_items]`` item-item cosine neighbours (:attr:`neighbours`)."""
        sim = self.neighbours.similarity_
        if sim is None:
            raise RuntimeError("the recommender's item-kNN is not fitted")
        return sim

    @property
    def grounding(self) -> FactChecker:
        """The check every LLM explanation passes (it counts fallbacks to rendered text)."""
        return self.explainer.grounding

    @classmethod
    def build(
        cls,
        data: Dataset,
        rows: np.ndarray | None = None,
        config: RecommenderConfig | None = None,
        cbf: Any = None,
        llm: Any = None,
        neighbours: ItemKNN | None = None,
    ) -> Recommender:
        """Fit the CF candidate and rating models on ``rows`` (default: all) and wrap them.

        ``neighbours``: the item-kNN of ``rows`` when the caller already has it (e.g. the one
        it fitted ``llm`` with); default: fitted here.
        """
        config = config or RecommenderConfig()
        rows = np.arange(data.n_interactions) if rows is None else np.asarray(rows, np.int64)
        cf = named_model(config.cf, cf_classes(), "SequentialKNN").fit(data, rows)
        rating = named_model(config.rating, rating_classes()).fit(data, rows)
        return cls(data, rows, cf, rating, cbf=cbf, llm=llm, config=config, neighbours=neighbours)

    @classmethod
    @collector_paused()  # torch and the model load about a second faster
    def from_pretrained(
        cls,
        name_or_dir: str | os.PathLike[str],
        llm: bool = True,
        content: bool = True,
        **overrides: Any,
    ) -> Recommender:
        """A shipped default by name (``"ml-100k"``) or a directory from :meth:`save_pretrained`.

        A shipped name comes with a content source (item text embedded by the shipped
        encoder, :func:`~convrec.recommender.content.content_source`; ``content=False`` leaves
        it out), the LLM of its shipped adapter and that adapter's validated fusion;
        ``llm=False`` gives the CF / content side alone (faster to load and to run).
        ``overrides`` replace fields of the :class:`RecommenderConfig`.
        """
        from convrec.data.registry import load_dataset
        from convrec.llm.shipped import shipped_adapter
        from convrec.recommender.artifacts import SHIPPED, load_parts
        from convrec.recommender.content import content_source

        if str(name_or_dir) in SHIPPED and not Path(name_or_dir).exists():
            name = str(name_or_dir)
            data = load_dataset(name)
            cbf = content_source(data) if content else None
            rec = cls.build(data, config=RecommenderConfig(**overrides), cbf=cbf)
            adapter = shipped_adapter(name) if llm else None
            if adapter is None:
                return rec
            rec = rec.with_adapter(adapter)
            # the caller's settings win over the adapter's fusion
            rec.config = dataclasses.replace(rec.config, **overrides)
            return rec
        parts = load_parts(name_or_dir, llm=llm)
        if not content:
            parts["cbf"] = None
        parts["config"] = RecommenderConfig(**{**parts["config"], **overrides})
        return cls(**parts)

    def save_pretrained(self, directory: str | os.PathLike[str]) -> Path:
        """Write the dataset, fitted models and config to ``directory`` (JSON / npz, no pickle).

        The config holds the fusion (``weights``, ``method``, ``normalisation``) and the
        rating blend (``rating_alpha``), so :meth:`from_pretrained` ranks and rates the same.
        """
        from convrec.recommender.artifacts import save_parts

        parts = {"data": self.data, "rows": self.rows, "cf": self.cf, "rating": self.rating,
                 "similarity": self.similarity, "cbf": self.cbf, "llm": self.llm,
                 "session_cf": self.session_cf,
                 "config": dataclasses.asdict(self.config)}  # fmt: skip
        return save_parts(directory, parts)

    def with_fusion(
        self,
        alpha: float | None = None,
        fusion: str | None = None,
        rating_alpha: float | None = None,
    ) -> Recommender:
        """A copy sharing the fitted models, with :meth:`RecommenderConfig.with_fusion` applied.

        E.g. ``rec.with_fusion(0.7, "zscore", rating_alpha=0.6)`` ranks by
        ``0.7 * z(CF) + 0.3 * z(LLM)`` and rates by ``0.6 * CF + 0.4 * LLM``; a given alpha
        or fusion applies to sessions too.
        """
        other = copy.copy(self)
        other.config = self.config.with_fusion(alpha, fusion, rating_alpha)
        return other

    def with_adapter(
        self,
        adapter: str | os.PathLike[str],
        llm_candidates: int | None = None,
        bank: Any = None,
    ) -> Recommender:
        """A copy sharing the fitted CF parts, with the LLM of a trained adapter directory
        (``convrec train --out DIR``) as its ``llm`` source, fitted on the same rows; its prompts
        read this recommender's item-kNN (:attr:`neighbours`).

        The LLM re-scores the CF engine's best ``llm_candidates`` (0: all of them; see
        :attr:`~convrec.recommender.RecommenderConfig.llm_candidates`): each costs one prompt.
        An adapter exported with a fusion (:func:`convrec.llm.shipped.export_adapter`, as the
        shipped ones are) brings its validated ``alpha``, fusion, rating blend, the sessions'
        ``session_alpha``, ``session_fusion`` and candidate model (refitted here when it
        differs), and its ``llm_candidates`` unless one is given; otherwise 20 and this
        recommender's fusion.
        With a ``bank`` (:class:`~convrec.llm.bank.AdapterBank`) the adapter joins its shared
        backbone, named after the dataset.
        """
        from convrec.llm.model import LLMModel
        from convrec.llm.shipped import shipped_fusion

        if not (Path(adapter) / "convrec_config.json").is_file():
            raise ValueError(f"--adapter {adapter}: not an adapter directory (convrec train --out)")
        fusion = shipped_fusion(adapter)
        if llm_candidates is None:
            llm_candidates = 20 if fusion is None else fusion.llm_candidates
        name = self.data.name if bank is not None else None
        llm = LLMModel.from_pretrained(adapter, bank=bank, name=name)
        k = llm.config.prompts.n_neighbours
        llm.fit(self.data, self.rows, neighbours_for(self.neighbours, self.data, self.rows, k))
        explains = True if fusion is None else fusion.llm_explanations
        config = self.config
        if fusion is not None:
            config = config.with_fusion(fusion.alpha, fusion.fusion, fusion.rating_alpha)
        config = dataclasses.replace(
            config,
            llm_candidates=llm_candidates,
            llm_explanations=explains,
            session_alpha=self.config.session_alpha if fusion is None else fusion.session_alpha,
            session_fusion=self.config.session_fusion if fusion is None else fusion.session_fusion,
        )
        if fusion is not None and fusion.session_cf and config.session_cf is not None:
            config = dataclasses.replace(
                config, session_cf={**config.session_cf, **fusion.session_cf}
            )
        out = Recommender(self.data, self.rows, self.cf, self.rating, cbf=self.cbf, llm=llm,
                          config=config, neighbours=self.neighbours,
                          session_cf=self.session_cf)  # fmt: skip
        return out

    # ------------------------------------------------------------------ inputs

    def item_index(self, item: str | int) -> int:
        """Internal index of an external item id, or of a title (fuzzy; raises with suggestions)."""
        if item in self.data.items:
            return self.data.items.index(item)
        found, suggestions = self.titles.resolve(str(item))
        if found is None:
            raise UnknownTitleError(str(item), [self.titles.display(s) for s in suggestions])
        return found

    def allowed(self, filters: ItemFilter | ItemPredicate | None) -> np.ndarray | None:
        """``bool[n_items]`` mask of items the filters allow (``None``: all)."""
        return allowed_items(self.data, filters)

    # ------------------------------------------------------------------ ranking

    def recommend(
        self,
        user: str | int | None = None,
        history: Sequence[str | int] = (),
        liked: Sequence[str] = (),
        k: int = 10,
        explain: bool = True,
        exclude_seen: bool = True,
        filters: ItemFilter | ItemPredicate | None = None,
        exclude: Iterable[str | int] = (),
        alpha: float | None = None,
        diversity: float = 0.0,
    ) -> Recommendation:
        """Top-``k`` items for a known ``user`` (external id) and/or a session.

        ``history`` takes external item ids or titles (oldest first), ``liked`` titles
        (matched fuzzily; an unknown one raises :class:`UnknownTitleError` with
        suggestions). ``filters`` takes :class:`~convrec.schema.ItemFilter` or a
        callable over item indices; ``exclude`` items (ids or titles) never appear.
        ``alpha`` in [0, 1] sets the CF vs LLM fusion balance
        (:meth:`RecommenderConfig.fusion_weights`; ``None``: as configured, which for a
        session is :attr:`RecommenderConfig.session_alpha` when set). It is
        ignored when no LLM is loaded (the LLM scores known users by their history and
        sessions by their liked titles). ``diversity`` in [0, 1]
        re-ranks the fused candidate pool by maximal marginal relevance against
        :attr:`similarity` (0: off; see :func:`~convrec.recommender.diversity.mmr_rerank`);
        the items keep their fused ``score`` but are listed in MMR order.
        """
        return self.recommend_batch(
            [{"user": user, "history": history, "liked": liked, "exclude": exclude}],
            k=k,
            explain=explain,
            exclude_seen=exclude_seen,
            filters=filters,
            alpha=alpha,
            diversity=diversity,
        )[0]

    def recommend_batch(
        self,
        requests: Sequence[dict[str, Any]],
        k: int = 10,
        explain: bool = True,
        exclude_seen: bool = True,
        filters: ItemFilter | ItemPredicate | None = None,
        alpha: float | None = None,
        diversity: float = 0.0,
    ) -> list[Recommendation]:
        """Many users at once: one native scoring call and one native fusion call for the batch.

        Each request is ``{"user": ..., "history": [...], "liked": [...], "exclude": [...]}``;
        ``alpha`` and ``diversity`` as in :meth:`recommend`.
        """
        if k <= 0:
            raise ValueError(f"k must be > 0, got {k}")
        # alpha given: every request fuses with it; else known users and sessions each
        # fuse as configured (RecommenderConfig.session_alpha)
        weights = None if self.llm is None or alpha is None else self.config.fusion_weights(alpha)
        profiles = [
            self.profiles.build(r.get("user"), r.get("history", ()), r.get("liked", ()))
            for r in requests
        ]
        allowed = self.allowed(filters)
        blocked: list[np.ndarray] = []
        for p, r in zip(profiles, requests, strict=True):
            skip = [self.item_index(x) for x in r.get("exclude", ())]
            if exclude_seen:
                skip += p.items.tolist()
            blocked.append(np.asarray(skip, np.int32))
        if allowed is not None:
            banned = np.flatnonzero(~allowed).astype(np.int32)
            blocked = [np.union1d(b, banned).astype(np.int32) for b in blocked]
        ranked = self.ranker.rank(profiles, blocked, k, diversity, weights)
        out: list[Recommendation] = []
        for b, p in enumerate(profiles):
            position = {int(i): j for j, i in enumerate(ranked.candidates[b]) if i >= 0}
            keep = [(i, s) for i, s in zip(ranked.ids[b].tolist(), ranked.scores[b].tolist(),
                                            strict=True) if i >= 0]  # fmt: skip
            ratings = self._predict(p, np.asarray([i for i, _ in keep], np.int32))
            items: list[ScoredItem] = []
            for (item, score), rating in zip(keep, ratings.tolist(), strict=True):
                j = position[item]
                comps = {n: float(ranked.sources[s, b, j]) for s, n in enumerate(ranked.names)}
                share = {n: float(ranked.shares[s, b, j]) for s, n in enumerate(ranked.names)}
                ev, ev_w = ranked.evidence, ranked.evidence_weight
                evidence = self.explainer.evidence(
                    p, () if ev is None else ev[b, j], None if ev_w is None else ev_w[b, j]
                )
                items.append(
                    self.explainer.scored_item(p, item, score, (comps, share), evidence, rating)
                )
            if explain:
                items = self._explain_all(p, items, filters)
            user = None if p.user is None else self.data.users.external[p.user]
            history = tuple(self.data.items.external[i] for i in p.items.tolist())
            out.append(Recommendation(items, user, history))
        return out

    def rank_users(
        self, users: np.ndarray, k: int | None = None, diversity: float = 0.0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Array form of :meth:`recommend_batch` for known users (evaluation).

        Parameters
        ----------
        users : numpy.ndarray
            ``int32[B]`` internal user indices; their fitted history is excluded.
        k : int, optional
            Items kept (default: ``config.n_candidates``, the whole fused pool).
        diversity : float
            MMR re-ranking as in :meth:`recommend`.

        Returns
        -------
        (ids, scores)
            ``int32[B, k]`` items in order (padded -1) and ``float32[B, k]`` fused scores.
        """
        profiles = [self.profiles.for_index(int(u)) for u in np.asarray(users).tolist()]
        blocked = [p.items.astype(np.int32) for p in profiles]
        ranked = self.ranker.rank(profiles, blocked, k or self.config.n_candidates, diversity)
        return ranked.ids, ranked.scores

    def rank_sessions(
        self,
        sessions: Sequence[np.ndarray],
        k: int | None = None,
        blocked: Sequence[np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Array form of :meth:`recommend_batch` for sessions (evaluation, protocol S).

        Parameters
        ----------
        sessions : sequence of numpy.ndarray
            Per session, ``int32[h]`` internal item indices, oldest first (excluded).
        k : int, optional
            Items kept (default: ``config.n_candidates``, the whole fused pool).
        blocked : sequence of numpy.ndarray, optional
            Per session, ``int32[n]`` further items never recommended (as a request's
            filters block them).

        Returns
        -------
        (ids, scores)
            ``int32[B, k]`` items in order (padded -1) and ``float32[B, k]`` fused scores.
        """
        tau = self.profiles.session_tau
        profiles = [
            Profile(None, np.asarray(items, np.int32), recency(len(items), tau), {})
            for items in sessions
        ]
        extra = blocked if blocked is not None else [np.zeros(0, np.int32)] * len(profiles)
        if len(extra) != len(profiles):
            raise ValueError(f"{len(extra)} blocked lists for {len(profiles)} sessions")
        never = [
            np.union1d(p.items, np.asarray(e, np.int32)).astype(np.int32)
            for p, e in zip(profiles, extra, strict=True)
        ]
        ranked = self.ranker.rank(profiles, never, k or self.config.n_candidates, 0.0)
        return ranked.ids, ranked.scores

    def explain_items(
        self,
        items: Sequence[ScoredItem],
        user: str | int | None = None,
        history: Sequence[str | int] = (),
        liked: Sequence[str] = (),
        filters: ItemFilter | ItemPredicate | None = None,
    ) -> list[ScoredItem]:
        """``items`` (from ``recommend(..., explain=False)`` with the same user / history /
        liked / filters) with their explanations and facts filled in: pick the items to show
        first, then explain only those (their LLM explanations are one batched generation)."""
        return self._explain_all(self.profiles.build(user, history, liked), items, filters)

    def _explain_all(
        self,
        p: Profile,
        items: Sequence[ScoredItem],
        filters: ItemFilter | ItemPredicate | None = None,
        use_llm: bool = True,
    ) -> list[ScoredItem]:
        request = filters if isinstance(filters, ItemFilter) else None
        return self.explainer.fill(
            p,
            items,
            self.item_index,
            lambda i: float(self._predict(p, np.asarray([i]))[0]),
            request,
            use_llm and self.config.llm_explanations,
        )

    # ------------------------------------------------------------------ ratings

    def predict_ratings(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Predicted ratings of known users, clipped to the data's rating range.

        ``rating_alpha * CF + (1 - rating_alpha) * LLM`` when an LLM is attached and
        ``config.rating_alpha < 1``, else the CF rating model alone.

        Parameters
        ----------
        users, items : numpy.ndarray
            ``int32[N]`` internal indices.

        Returns
        -------
        numpy.ndarray
            ``float64[N]``.
        """
        users, items = np.asarray(users, np.int32), np.asarray(items, np.int32)
        value = np.asarray(self.rating.predict_ratings(users, items), np.float64)
        a = self.config.rating_alpha
        if self.llm is not None and a < 1.0 and len(users):
            llm = np.asarray(self.llm.predict_ratings(users, items), np.float64)
            value = a * value + (1.0 - a) * llm
        return np.clip(value, float(self.data.rating.min()), float(self.data.rating.max()))

    def _predict(self, p: Profile, items: np.ndarray) -> np.ndarray:
        """``float64[n]`` ratings of ``int32[n]`` items for a profile (a session: item biases)."""
        if p.user is not None:
            return self.predict_ratings(np.full(len(items), p.user, np.int32), items)
        biases = getattr(self.rating, "baselines_", self.rating)
        value = biases.mean_ + np.asarray(biases.item_bias_, np.float64)[items]
        return np.clip(value, float(self.data.rating.min()), float(self.data.rating.max()))

    # ------------------------------------------------------------------ single items

    def predict_rating(
        self, user: str | int | None, item: str | int, history: Sequence[str | int] = ()
    ) -> float:
        """Predicted rating of a known user for an item (id or title); no user: anyone's.

        ``history`` (ids or titles the session liked, as :meth:`recommend` takes them) is
        folded in: each counts as a top rating, and the estimate moves towards it by the
        item's similarity to it (:func:`~convrec.recommender.foldin.fold_in_offsets`). Without
        a user it makes the estimate personal; without ``history`` nothing changes.
        """
        target = np.array([self.item_index(item)], np.int32)
        p = Profile.empty() if user is None else self.profiles.build(user)
        value = float(self._predict(p, target)[0])
        session = list(dict.fromkeys(self.item_index(x) for x in history))
        if not session:
            return value
        baseline = getattr(self.rating, "baselines_", self.rating)
        known_bias = None
        if p.user is not None:
            known_bias = float(np.asarray(baseline.user_bias_, np.float64)[p.user])
        residuals = getattr(self, "_residuals", None)
        if residuals is None:  # built once, on the first personal estimate
            residuals = self._residuals = item_residuals(self.data, self.rows, baseline)
        offsets, bias = fold_in_offsets(
            target, np.asarray(session, np.int32), residuals, baseline,
            self.explainer.liked_rating, known_bias,
        )  # fmt: skip
        if p.user is None:
            value += bias
        lo, hi = float(self.data.rating.min()), float(self.data.rating.max())
        return float(np.clip(value + offsets[0], lo, hi))

    def explain(self, user: str | int | None, item: str | int, history: Sequence[str] = ()) -> str:
        """A grounded explanation of ``item`` for a user or a session history."""
        return self.why(user, item, history).text

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

    # ------------------------------------------------------------------ the catalogue, users and
    # single items as the dialogue layer asks for them (external ids or titles in, records out)

    @property
    def name(self) -> str:
        """The dataset's name (the domain :class:`~convrec.dialogue.Chat` names it by)."""
        return self.data.name

    def item_id(self, index: int) -> str:
        """The external id of internal item ``index`` (as :attr:`titles` numbers items)."""
        if not 0 <= index < self.data.n_items:
            raise IndexError(f"item index {index} is not in [0, {self.data.n_items})")
        return self.data.items.external[index]

    def item_info(self, item: str | int) -> ItemSummary:
        """Catalogue facts and rating counts of ``item`` (external id or title).

        Counts and mean are over the rows the recommender was fitted on.
        """
        index = self.item_index(item)
        rows = self.rows[self.data.item[self.rows] == index]
        count = int(self.popularity[index])
        year = int(self.data.catalog.year[index])
        return ItemSummary(
            item_id=self.data.items.external[index],
            title=self.titles.display(index),
            year=year if year > 0 else None,
            genres=tuple(self.data.catalog.genres[index]),
            n_ratings=count,
            mean_rating=float(self.data.rating[rows].mean()) if len(rows) else None,
            popularity_rank=int(np.count_nonzero(self.popularity > count)) + 1,
            named_from_reviews=self.data.catalog.text[index].startswith(NAMED_FROM_REVIEWS),
        )

    def genres(self) -> tuple[str, ...]:
        """Every genre the catalogue names, sorted (empty when it has none)."""
        return tuple(sorted({g for gs in self.data.catalog.genres for g in gs}))

    def year_span(self) -> tuple[int, int] | None:
        """The first and last known release years, or ``None`` when no year is known."""
        years = self.data.catalog.year
        known = years[years > 0]
        return (int(known.min()), int(known.max())) if len(known) else None

    def user_ids(self) -> tuple[str, ...]:
        """External ids of the known users, in internal index order."""
        return self.data.users.external

    def has_user(self, user: str | int) -> bool:
        """Whether ``user`` (external id) is a known user."""
        return user in self.data.users

    def user_ratings(self, user: str | int) -> list[tuple[str, float]]:
        """``(item id, rating)`` of every fitted row of a known user, in row order
        (raises :class:`~convrec.data.errors.UnknownIdError` for an unknown one)."""
        u = self.data.users.index(user)
        rows = self.rows[self.data.user[self.rows] == u]
        items, ratings = self.data.item[rows].tolist(), self.data.rating[rows].tolist()
        external = self.data.items.external
        return [(external[i], float(r)) for i, r in zip(items, ratings, strict=True)]

    def popular_items(
        self,
        k: int = 10,
        filters: ItemFilter | ItemPredicate | None = None,
        exclude: Iterable[str | int] = (),
    ) -> list[ScoredItem]:
        """The ``k`` most rated items that pass ``filters``, minus ``exclude`` (ids or titles).

        Each is scored by its number of ratings, rated as anyone would rate it
        (:meth:`predict_rating` without a user) and explained by its facts (its standing,
        what of ``filters`` it meets).
        """
        if k <= 0:
            raise ValueError(f"k must be > 0, got {k}")
        allowed = self.allowed(filters)
        skip = {self.item_index(x) for x in exclude}
        out: list[ScoredItem] = []
        for item in np.argsort(-self.popularity, kind="stable").tolist():
            if item in skip or (allowed is not None and not allowed[item]):
                continue
            item_id, title = self.data.items.external[item], self.titles.display(item)
            count = float(self.popularity[item])
            rating = self.predict_rating(None, item_id)
            out.append(ScoredItem(item_id, title, count, {"popularity": count}, rating))
            if len(out) == k:
                break
        return self._explain_all(Profile.empty(), out, filters, use_llm=False)

    def item_similarity(
        self, items: Sequence[str | int], others: Sequence[str | int]
    ) -> np.ndarray:
        """Cosine of who chose each of ``items`` and each of ``others`` (ids or titles), as
        :meth:`similar_items` scores it: ``float32[len(items), len(others)]``, 0 beyond the
        top neighbours."""
        rows = [self.item_index(i) for i in items]
        cols = [self.item_index(i) for i in others]
        return np.asarray(self.similarity[rows][:, cols].todense(), dtype=np.float32)

    def why(
        self, user: str | int | None, item: str | int, history: Sequence[str] = ()
    ) -> Explanation:
        """The grounded explanation of ``item`` for a user or a session history, with the
        facts it cites (:meth:`explain` gives its text)."""
        p = self.profiles.build(user, history)
        target = self.item_index(item)
        evidence = self.explainer.evidence_for(p, self._candidate_model(p).neighbours_, target)
        rating = float(self._predict(p, np.array([target], np.int32))[0])
        return self.explainer.explain(p, target, rating, evidence, self.config.llm_explanations)
