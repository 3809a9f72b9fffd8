"""Candidates and their scores: native CF top-C, content / LLM re-scoring, one fusion pass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from convrec.cf.fusion import fuse_with_shares
from convrec.cf.scoring import score_topk
from convrec.recommender.config import RecommenderConfig
from convrec.recommender.diversity import mmr_rerank
from convrec.recommender.profiles import Profile, rows_csr


@dataclass
class Ranked:
    """One batch through the engine (B requests, C candidates, S sources, k kept).

    Attributes
    ----------
    candidates : numpy.ndarray
        ``int32[B, C]`` CF candidates, best first, padded with -1.
    sources : numpy.ndarray
        ``float32[S, B, C]`` per-source scores (NaN: not scored).
    names : list[str]
        The S source names (``"cf"`` first).
    evidence, evidence_weight : numpy.ndarray | None
        ``int32[B, C, E]`` history items behind each CF score and ``float32[B, C, E]`` their
        contributions (``None`` without evidence).
    ids : numpy.ndarray
        ``int32[B, k]`` recommended items in order, padded with -1.
    scores : numpy.ndarray
        ``float32[B, k]`` their fused scores, padded with -inf.
    shares : numpy.ndarray
        ``float32[S, B, C]`` each source's share of every candidate's fused score
        (:func:`~convrec.cf.fusion.fuse_with_shares`; NaN where absent).
    """

    candidates: np.ndarray
    sources: np.ndarray
    names: list[str]
    evidence: np.ndarray | None
    evidence_weight: np.ndarray | None
    ids: np.ndarray
    scores: np.ndarray
    shares: np.ndarray


class CandidateRanker:
    """The forward pass: CF candidates, their re-scoring by the other sources, and fusion.

    Parameters
    ----------
    neighbours : scipy.sparse.csr_matrix
        ``float32[n_items, n_items]`` CF item neighbours (the native kernel's input).
    popularity : numpy.ndarray
        ``int64[n_items]`` training interaction counts (fills short candidate lists).
    config : RecommenderConfig
    cbf, llm
        Optional content model (``score_history``) and LLM (``score_candidates`` for known
        users, ``score_candidates_for`` for sessions).
    similarity : scipy.sparse.csr_matrix
        ``float32[n_items, n_items]`` item similarity used by the MMR re-ranking.
    liked_rating : float
        The rating a session's liked titles stand for in LLM prompts (the scale's top).
    """

    def __init__(
        self,
        neighbours: sp.csr_matrix,
        popularity: np.ndarray,
        config: RecommenderConfig,
        cbf: Any = None,
        llm: Any = None,
        similarity: sp.csr_matrix | None = None,
        liked_rating: float = 5.0,
    ) -> None:
        self.neighbours, self.popularity, self.config = neighbours, popularity, config
        self.cbf, self.llm, self.similarity = cbf, llm, similarity
        self.liked_rating = liked_rating

    def rank(
        self,
        profiles: list[Profile],
        blocked: list[np.ndarray],
        k: int,
        diversity: float = 0.0,
        weights: dict[str, float] | None = None,
    ) -> Ranked:
        """Top-``k`` per profile, never an item of its ``blocked`` (``int32[n]`` per profile).

        ``weights`` are the fusion weights per source (default ``config.weights``; a source
        of weight 0 is not run). ``diversity > 0`` re-ranks the whole fused candidate pool with
        :func:`~convrec.recommender.diversity.mmr_rerank` before keeping ``k``.
        """
        n_items = self.neighbours.shape[1]
        hist = rows_csr([p.items for p in profiles], [p.weights for p in profiles], n_items)
        exclude = rows_csr(blocked, [np.ones(len(b), np.float32) for b in blocked], n_items)
        c = max(k, self.config.n_candidates)
        cand, cf_scores, ev, ev_w = score_topk(
            hist, self.neighbours, c, exclude=exclude, n_evidence=self.config.n_evidence
        )
        cand, cf_scores = self._fill_popular(cand, cf_scores, blocked)
        by_source = self.config.weights if weights is None else weights
        sources, names = self._sources(profiles, cand, cf_scores, by_source)
        w = np.asarray([by_source.get(n, 0.0) for n in names], np.float32)
        method, normalisation = self.config.method, self.config.normalisation
        keep = c if diversity > 0 else k
        ids, fused, shares = fuse_with_shares(
            cand, sources, w, k=keep, method=method, normalisation=normalisation
        )
        if diversity > 0:
            if self.similarity is None:
                raise ValueError("diversity needs an item similarity")
            fused_scores = np.where(ids >= 0, fused, -np.inf)
            picked = mmr_rerank(ids, fused_scores, self.similarity, k, diversity)
            lookup = [dict(zip(ids[b].tolist(), fused[b].tolist(), strict=True))
                      for b in range(len(ids))]  # fmt: skip
            fused = np.asarray(
                [[lookup[b].get(i, -np.inf) for i in row] for b, row in enumerate(picked.tolist())],
                np.float32,
            ).reshape(picked.shape)
            ids = picked
        return Ranked(cand, sources, names, ev, ev_w, ids, fused, shares)

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

    def _llm_layer(self, profiles: list[Profile], cand: np.ndarray) -> np.ndarray:
        """``float32[B, C]`` LLM scores: known users by index, sessions by their liked items.

        With ``config.llm_candidates = M > 0`` only the first M columns (the CF engine's best)
        are scored; the rest get each row's lowest LLM score.
        """
        m = self.config.llm_candidates
        if 0 < m < cand.shape[1]:
            head = self._llm_layer_all(profiles, cand[:, :m])
            floor = np.where(np.isnan(head), np.inf, head).min(axis=1, keepdims=True)
            floor[~np.isfinite(floor)] = np.nan
            return np.concatenate(
                [head, np.broadcast_to(floor, (len(cand), cand.shape[1] - m))], axis=1
            ).astype(np.float32)
        return self._llm_layer_all(profiles, cand)

    def _llm_layer_all(self, profiles: list[Profile], cand: np.ndarray) -> np.ndarray:
        layer = np.full(cand.shape, np.nan, np.float32)
        known = [b for b, p in enumerate(profiles) if p.user is not None]
        if known:
            users = np.asarray([profiles[b].user for b in known], np.int32)
            layer[known] = self.llm.score_candidates(users, cand[known])
        sessions = [b for b, p in enumerate(profiles) if p.user is None and len(p.items)]
        if sessions:
            histories = [profiles[b].llm_history(self.liked_rating) for b in sessions]
            layer[sessions] = self.llm.score_candidates_for(histories, cand[sessions])
        layer[~np.isfinite(layer)] = np.nan
        return layer

    def _sources(
        self,
        profiles: list[Profile],
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
        if self.llm is not None and weights.get("llm", 0.0) > 0:
            layer = self._llm_layer(profiles, cand)
            if not np.isnan(layer).all():
                names.append("llm")
                layers.append(layer)
        stacked = np.stack(layers).astype(np.float32)
        stacked[:, ~valid] = np.nan
        return stacked, names
