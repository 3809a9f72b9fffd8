"""Evaluation models built on the Recommender: ``fused`` (CF + LLM) and MMR re-ranking twins."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from convrec.data.dataset import Dataset
from convrec.evaluation.metrics import top_k_items
from convrec.recommender import Recommender, RecommenderConfig, mmr_rerank
from convrec.recommender.content import content_source
from convrec.recommender.neighbours import item_neighbours, neighbours_for


class AdapterLoader:
    """Loads an adapter directory once; each call returns a fresh ``LLMModel`` over it."""

    def __init__(self, adapter: str | Path) -> None:
        self.adapter = Path(adapter)
        self._loaded: Any = None

    def __call__(self) -> Any:
        from convrec.llm.model import LLMModel

        if self._loaded is None:
            self._loaded = LLMModel.from_pretrained(self.adapter)
        return LLMModel(self._loaded.config, backbone=self._loaded.backbone)


class LLMAlone:
    """The ``llm`` evaluation model: an ``LLMModel`` whose prompts read the item-kNN of the
    rows it is fitted on (the runner's ``fit(data, rows)``).

    Parameters
    ----------
    model
        A fresh, unfitted ``LLMModel`` (from an :class:`AdapterLoader`).
    """

    def __init__(self, model: Any) -> None:
        self.model = model

    def fit(self, data: Dataset, rows: np.ndarray) -> LLMAlone:
        """Fit the item-kNN of ``rows`` (``int64[m]``) and the LLM's prompt index over it."""
        k = self.model.config.prompts.n_neighbours
        self.model.fit(data, rows, item_neighbours(data, rows, n_neighbours=k))
        return self

    def predict_ratings(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """``float32[N]`` as ``LLMModel.predict_ratings``."""
        return np.asarray(self.model.predict_ratings(users, items))

    def score_items(self, users: np.ndarray) -> np.ndarray:
        """``float32[B, n_items]`` as ``LLMModel.score_items``."""
        return np.asarray(self.model.score_items(users))

    def explain(self, users: np.ndarray, items: np.ndarray) -> list[str]:
        """One explanation per (user, item), as ``LLMModel.explain``."""
        return list(self.model.explain(users, items))


class CachedLLM:
    """An ``LLMModel`` whose candidate scores and ratings are memoised by their inputs.

    Every grid point of the ``fused`` model asks the same questions (same users, same
    candidates); only the fusion differs, so the LLM answers each once.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self._memo: dict[tuple[str, bytes, bytes, tuple[int, ...]], np.ndarray] = {}

    def _cached(self, kind: str, a: np.ndarray, b: np.ndarray, run: Any) -> np.ndarray:
        a, b = np.ascontiguousarray(a, np.int32), np.ascontiguousarray(b, np.int32)
        key = (kind, a.tobytes(), b.tobytes(), b.shape)
        if key not in self._memo:
            self._memo[key] = np.asarray(run(a, b))
        return self._memo[key]

    def score_candidates(self, users: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """``float32[B, C]`` as ``LLMModel.score_candidates``."""
        return self._cached("rank", users, candidates, self.model.score_candidates)

    def predict_ratings(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """``float32[N]`` as ``LLMModel.predict_ratings``."""
        return self._cached("rate", users, items, self.model.predict_ratings)

    def score_candidates_for(
        self, histories: list[tuple[np.ndarray, np.ndarray]], candidates: np.ndarray
    ) -> np.ndarray:
        """``float32[B, C]`` as ``LLMModel.score_candidates_for`` (sessions, protocol S): each
        session is answered once whatever the grid point."""
        key = (
            "sessions",
            b"".join(
                np.ascontiguousarray(i, np.int32).tobytes()
                + b"|"
                + np.ascontiguousarray(r, np.float32).tobytes()
                + b";"
                for i, r in histories
            ),
            np.ascontiguousarray(candidates, np.int32).tobytes(),
            tuple(np.shape(candidates)),
        )
        if key not in self._memo:
            self._memo[key] = np.asarray(self.model.score_candidates_for(histories, candidates))
        return self._memo[key]

    def __getattr__(self, name: str) -> Any:  # explain, save_pretrained, ...
        return getattr(self.model, name)


class SharedParts:
    """One fitted :class:`Recommender` (with a :class:`CachedLLM`) per set of training rows.

    Parameters
    ----------
    loader
        Returns a fresh, unfitted ``LLMModel`` (an :class:`AdapterLoader`); ``None``: no LLM.
    candidates
        C, the CF candidates the LLM re-scores.
    content
        Give each Recommender a content source fitted on the same rows, at the default
        ``cbf`` weight (:class:`RecommenderConfig`), proposing candidates as shipped
        recommenders do (protocol S).
    session_cf
        Parameters over the default session candidate model (``RecommenderConfig.session_cf``),
        e.g. an adapter's own (protocol S); ``None``: the default.
    llm_candidates
        The LLM re-scores only the best ``llm_candidates`` of the C candidates, as an
        adapter's Recommender does (protocol S: the adapter's own); 0: all C (protocol B).
    sessions_only
        Only sessions are ranked (protocol S): they use the session model alone, so the
        known-user ranking and rating models are the cheapest ones (item-kNN, the bias
        baseline) rather than cf_seqlinear and cf_blend, whose fits would go unused.
    """

    def __init__(
        self,
        loader: Any,
        candidates: int = 50,
        content: bool = False,
        session_cf: dict[str, Any] | None = None,
        llm_candidates: int = 0,
        sessions_only: bool = False,
    ) -> None:
        self.loader, self.content = loader, content
        weights = {"cf": 1.0, "llm": 0.0}
        if content:
            weights["cbf"] = RecommenderConfig().weights["cbf"]
        self.config = RecommenderConfig(
            n_candidates=candidates,
            weights=weights,
            rating_weighting=False,  # protocol B: every interaction is a positive
            # cf_seqlinear, the best ranking CF model, and the best CF rater (cf_blend) are the
            # CF side of B and A
            cf={"model": "RecencyItemKNN" if sessions_only else "SequentialLinear"},
            n_evidence=0,
            rating={"model": "BiasBaseline" if sessions_only else "Blend"},
            llm_candidates=llm_candidates,
        )  # sessions: the default session model (SESSION_CF), as shipped, or the adapter's
        if session_cf and self.config.session_cf is not None:
            self.config = replace(self.config, session_cf={**self.config.session_cf, **session_cf})
        self._fitted: dict[tuple[int, str], Recommender] = {}

    def recommender(self, data: Dataset, rows: np.ndarray) -> Recommender:
        """The Recommender fitted on ``rows`` (``int64[m]``), built on first use."""
        rows = np.ascontiguousarray(rows, np.int64)
        key = (len(rows), hashlib.sha256(rows.tobytes()).hexdigest())
        if key not in self._fitted:
            neighbours = item_neighbours(data, rows)
            llm = None
            if self.loader is not None:
                model = self.loader()
                k = model.config.prompts.n_neighbours
                llm = CachedLLM(model.fit(data, rows, neighbours_for(neighbours, data, rows, k)))
            cbf = content_source(data, rows) if self.content else None
            self._fitted[key] = Recommender.build(
                data, rows, self.config, cbf=cbf, llm=llm, neighbours=neighbours
            )
        return self._fitted[key]


class FusedModel:
    """CF and LLM fused through a :class:`Recommender` (the evaluation's ``fused`` model).

    Parameters
    ----------
    shared : SharedParts
    alpha : float
        CF weight: ratings ``alpha * CF + (1 - alpha) * LLM``; rankings fuse the per-user
        normalised scores with weights ``alpha`` and ``1 - alpha``.
    fusion : {"zscore", "minmax", "rrf"}
        See :meth:`RecommenderConfig.with_fusion`.
    candidates : int, optional
        Reported only (the candidates are ``shared``'s).
    diversity : float
        MMR re-ranking of the fused pool (0: off).
    """

    def __init__(
        self,
        shared: SharedParts,
        alpha: float,
        fusion: str = "zscore",
        candidates: int | None = None,
        diversity: float = 0.0,
    ) -> None:
        self.shared, self.alpha, self.fusion, self.diversity = shared, alpha, fusion, diversity
        self.recommender: Recommender | None = None

    def fit(self, data: Dataset, rows: np.ndarray) -> FusedModel:
        """Fit (or reuse) the shared parts on ``rows`` and set this model's fusion."""
        base = self.shared.recommender(data, rows)
        self.recommender = base.with_fusion(self.alpha, self.fusion, rating_alpha=self.alpha)
        return self

    def _fitted(self) -> Recommender:
        if self.recommender is None:
            raise RuntimeError("FusedModel is not fitted")
        return self.recommender

    def predict_ratings(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """``float64[N]`` fused ratings of ``int32[N]`` users and items."""
        return self._fitted().predict_ratings(users, items)

    def score_items(self, users: np.ndarray) -> np.ndarray:
        """``float32[B, n_items]``: fused scores on the CF candidates, ``-inf`` elsewhere.

        With ``diversity > 0`` the scores follow the MMR order instead (descending).
        """
        rec = self._fitted()
        ids, fused = rec.rank_users(users, diversity=self.diversity)
        if self.diversity > 0:  # the MMR order, as descending scores
            fused = np.broadcast_to(-np.arange(ids.shape[1], dtype=np.float32), ids.shape)
        out = np.full((len(ids), rec.data.n_items), -np.inf, np.float32)
        rows, cols = np.nonzero(ids >= 0)
        out[rows, ids[rows, cols]] = fused[rows, cols]
        return out

    def _sessions(self, data: Dataset, rows: np.ndarray, users: np.ndarray) -> list[np.ndarray]:
        """Per user of ``users``, its items among ``rows``, oldest first."""
        rows = np.asarray(rows, np.int64)
        rows = rows[np.lexsort((data.item[rows], data.timestamp[rows], data.user[rows]))]
        owner = data.user[rows]
        return [data.item[rows[owner == u]] for u in np.asarray(users).tolist()]

    def session_pools(
        self,
        data: Dataset,
        rows: np.ndarray,
        users: np.ndarray,
        blocked: sp.csr_matrix | None = None,
    ) -> np.ndarray:
        """``int32[B, C]`` each session's candidate pool, the items the fusion orders (padded
        with -1); arguments as :meth:`score_sessions`."""
        ids, _ = self._rank(self._sessions(data, rows, users), blocked)
        return ids

    def _rank(
        self, sessions: list[np.ndarray], blocked: sp.csr_matrix | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The fused ``(ids, scores)`` of each session's pool (``blocked`` rows per session)."""
        extra = None if blocked is None else [blocked[b].indices for b in range(len(sessions))]
        return self._fitted().rank_sessions(sessions, blocked=extra)

    def score_sessions(
        self,
        data: Dataset,
        rows: np.ndarray,
        users: np.ndarray,
        blocked: sp.csr_matrix | None = None,
    ) -> np.ndarray:
        """``float32[B, n_items]`` fused scores for sessions (protocol S; arguments as
        :class:`~convrec.evaluation.sessions.SessionModel`).

        ``blocked`` items, besides each session's own, are left out of the pool (as a
        request's filters do). Fused scores on the pool, then (with a content source)
        every other item below them in the content source's order, else ``-inf``.
        """
        rec = self._fitted()
        sessions = self._sessions(data, rows, users)
        ids, fused = self._rank(sessions, blocked)
        out = np.full((len(ids), rec.data.n_items), -np.inf, np.float32)
        r, c = np.nonzero(ids >= 0)
        out[r, ids[r, c]] = fused[r, c]
        if rec.cbf is not None and rec.config.weights.get("cbf", 0.0) > 0:
            for b, items in enumerate(sessions):
                rest = ~np.isfinite(out[b])
                pool = out[b][~rest]
                low = float(pool.min()) if len(pool) else 0.0
                cosine = rec.cbf.score_history(items)  # in [-1, 1]: the rest stays below
                out[b, rest] = low - 2.0 + cosine[rest]
        return out


class MMRModel:
    """Any ranking model with each user's top-``pool`` unseen items re-ranked by MMR.

    The pool comes first, in :func:`~convrec.recommender.mmr_rerank` order against the
    item cosine (top-50 neighbours of the training rows); other items keep their order below.

    Parameters
    ----------
    base
        An unfitted model with ``fit`` and ``score_items``.
    diversity : float
        MMR's ``d`` in (0, 1].
    pool : int
        Items re-ranked per user.
    """

    def __init__(self, base: Any, diversity: float, pool: int = 100) -> None:
        self.base, self.diversity, self.pool = base, diversity, pool

    def fit(self, data: Dataset, rows: np.ndarray) -> MMRModel:
        """Fit the base model, and index the history and item similarity of ``rows``."""
        from convrec.cf.sequential import item_cosine

        self.base = self.base.fit(data, rows)
        self.seen = data.user_items(rows, values="ones")
        self.similarity = item_cosine(data, rows, 50)
        return self

    def score_items(self, users: np.ndarray) -> np.ndarray:
        """``float64[B, n_items]`` scores whose order is the re-ranked one."""
        scores = np.asarray(self.base.score_items(users), np.float64)
        pool = top_k_items(scores, self.seen[np.asarray(users)], self.pool)
        relevance = np.take_along_axis(scores, np.maximum(pool, 0), axis=1)
        order = mmr_rerank(pool, np.where(pool >= 0, relevance, -np.inf), self.similarity,
                           self.pool, self.diversity)  # fmt: skip
        finite = np.where(np.isfinite(scores), scores, -np.inf)
        top = np.maximum(finite.max(axis=1, initial=0.0), 0.0) + 1.0
        for b, row in enumerate(order):
            picked = row[row >= 0]
            scores[b, picked] = top[b] + np.arange(len(picked), 0, -1)
        return scores
