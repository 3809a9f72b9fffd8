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
    session : tuple, optional
        ``(neighbours float32[n_items, n_items] CSR, prior float32[n_items])`` of the session
        candidate model: a profile without a user draws its CF candidates from these (the
        prior added to every item); ``None``: from ``neighbours`` as known users do.
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
        session: tuple[sp.csr_matrix, np.ndarray] | None = None,
    ) -> None:
        self.neighbours, self.popularity, self.config = neighbours, popularity, config
        self.cbf, self.llm, self.similarity = cbf, llm, similarity
        self.liked_rating = liked_rating
        self.session = session

    def rank(
        self,
        profiles: list[Profile],
        blocked: list[np.ndarray],
        k: int,
        diversity: float = 0.0,
        weights: dict[str, float] | None = None,
    ) -> Ranked:
        """Top-``k`` per profile, never an item of its ``blocked`` (``int32[n]`` per profile).

        ``weights`` are the fusion weights per source (default ``config.weights`` for known
        users and ``config.session_weights()`` for sessions; a source of weight 0 is not
        run). ``diversity > 0`` re-ranks the whole fused candidate pool with
        :func:`~convrec.recommender.diversity.mmr_rerank` before keeping ``k``.
        """
        c = max(k, self.config.n_candidates)
        cand, cf_scores, ev, ev_w = self._cf_candidates(profiles, blocked, c)
        uninformed = (cand < 0) | (cf_scores == 0.0)  # no edge reached it and no prior
        cand, cf_scores = self._fill_popular(cand, cf_scores, blocked)
        row_weights = [
            weights if weights is not None
            else self.config.session_weights() if p.user is None
            else self.config.weights
            for p in profiles
        ]  # fmt: skip
        content = None
        if self.cbf is not None and any(w.get("cbf", 0.0) > 0 for w in row_weights):
            content = np.stack([self.cbf.score_history(p.items, p.weights) for p in profiles])
            self._add_content_candidates(cand, cf_scores, ev, ev_w, blocked, content, uninformed)
        ask_llm = np.asarray([w.get("llm", 0.0) > 0 for w in row_weights], dtype=bool)
        sources, names = self._sources(profiles, cand, cf_scores, ask_llm, content)
        keep = c if diversity > 0 else k
        methods = [self.config.fusion_method(session=p.user is None) for p in profiles]
        ids, fused, shares = self._fuse(cand, sources, names, row_weights, methods, keep)
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

    def _fuse(
        self,
        cand: np.ndarray,
        sources: np.ndarray,
        names: list[str],
        row_weights: list[dict[str, float]],
        methods: list[tuple[str, str]],
        keep: int,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:func:`~convrec.cf.fusion.fuse_with_shares` of the rows that share fusion weights
        and method (``(method, normalisation)`` per row), one native call per distinct pair
        (known users, sessions)."""
        ids = np.full((len(cand), keep), -1, np.int32)
        fused = np.full((len(cand), keep), -np.inf, np.float32)
        shares = np.full(sources.shape, np.nan, np.float32)
        groups: dict[tuple[tuple[float, ...], tuple[str, str]], list[int]] = {}
        for b, (w, how) in enumerate(zip(row_weights, methods, strict=True)):
            groups.setdefault((tuple(w.get(n, 0.0) for n in names), how), []).append(b)
        for (key, (method, normalisation)), rows in groups.items():
            g_ids, g_fused, g_shares = fuse_with_shares(
                cand[rows], sources[:, rows], np.asarray(key, np.float32), k=keep,
                method=method, normalisation=normalisation,
            )  # fmt: skip
            ids[rows], fused[rows], shares[:, rows] = g_ids, g_fused, g_shares
        return ids, fused, shares

    def _cf_candidates(
        self, profiles: list[Profile], blocked: list[np.ndarray], c: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        """The CF top-``c`` of every profile, natively: known users from ``neighbours``,
        sessions from the ``session`` model (with its prior) when there is one.

        Returns ``(int32[B, c] ids, float32[B, c] scores, int32[B, c, E] evidence,
        float32[B, c, E] contributions)`` as :func:`~convrec.cf.scoring.score_topk`.
        """
        groups: list[tuple[list[int], sp.csr_matrix, np.ndarray | None]] = [
            (list(range(len(profiles))), self.neighbours, None)
        ]
        if self.session is not None:
            sessions = [b for b, p in enumerate(profiles) if p.user is None]
            known = [b for b, p in enumerate(profiles) if p.user is not None]
            groups = [(known, self.neighbours, None), (sessions, *self.session)]
        n_items, e = self.neighbours.shape[1], self.config.n_evidence
        cand = np.full((len(profiles), c), -1, np.int32)
        scores = np.full((len(profiles), c), -np.inf, np.float32)
        ev = np.full((len(profiles), c, e), -1, np.int32) if e else None
        ev_w = np.zeros((len(profiles), c, e), np.float32) if e else None
        for members, neighbours, prior in groups:
            if not members:
                continue
            chosen = [profiles[b] for b in members]
            hist = rows_csr([p.items for p in chosen], [p.weights for p in chosen], n_items)
            skip = [blocked[b] for b in members]
            exclude = rows_csr(skip, [np.ones(len(b), np.float32) for b in skip], n_items)
            prior = prior if prior is not None and prior.any() else None
            ids, val, g_ev, g_w = score_topk(
                hist, neighbours, c, exclude=exclude, n_evidence=e, prior=prior
            )
            cand[members], scores[members] = ids, val
            if ev is not None and ev_w is not None and g_ev is not None and g_w is not None:
                ev[members], ev_w[members] = g_ev, g_w
        return cand, scores, ev, ev_w

    def _add_content_candidates(
        self,
        cand: np.ndarray,
        cf_scores: np.ndarray,
        ev: np.ndarray | None,
        ev_w: np.ndarray | None,
        blocked: list[np.ndarray],
        content: np.ndarray,
        uninformed: np.ndarray,
    ) -> None:
        """Give the content source the slots CF knows least about (in place): each row's last
        ``config.cbf_candidates`` slots, and every slot the CF engine filled without
        evidence (``uninformed``, ``bool[B, C]``: no edge and no prior reached the item, or
        the popular fill). They take the row's best items by content that the kept CF
        candidates do not hold, uninformed slots first: how items nobody has chosen yet
        reach the fusion, and how content, not index order, picks the pool when CF has
        nothing to say (a request whose filters leave only such items). Their CF score is
        the row's lowest, a bound on what the engine gave them.

        ``content`` is ``float32[B, n_items]`` (the content source's scores of every item).
        """
        c = cand.shape[1]
        m = min(self.config.cbf_candidates, c)
        if m <= 0:
            return
        tail = np.arange(c) >= c - m
        for b in range(len(cand)):
            free = np.r_[np.flatnonzero(uninformed[b]), np.flatnonzero(tail & ~uninformed[b])]
            kept = np.ones(c, dtype=bool)
            kept[free] = False
            row = content[b].astype(np.float64)
            row[cand[b][kept & (cand[b] >= 0)]] = -np.inf
            row[blocked[b]] = -np.inf
            best = np.argsort(-row, kind="stable")[: len(free)]
            best = best[np.isfinite(row[best])]
            if not len(best):
                continue
            slots = np.sort(free[: len(best)])
            floor = cf_scores[b][np.isfinite(cf_scores[b]) & (cand[b] >= 0)]
            cand[b, slots] = best
            cf_scores[b, slots] = floor.min() if len(floor) else 0.0
            if ev is not None and ev_w is not None:
                ev[b, slots], ev_w[b, slots] = -1, 0.0

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
        """``float32[B, C]`` LLM scores: known users by index, sessions by their liked items
        (rows of ``cand`` padded with -1 throughout are not asked: NaN).

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
        asked = np.asarray((cand >= 0).any(axis=1), dtype=bool)
        known = [b for b, p in enumerate(profiles) if p.user is not None and asked[b]]
        if known:
            users = np.asarray([profiles[b].user for b in known], np.int32)
            layer[known] = self.llm.score_candidates(users, cand[known])
        sessions = [
            b for b, p in enumerate(profiles) if p.user is None and len(p.items) and asked[b]
        ]
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
        ask_llm: np.ndarray,
        content: np.ndarray | None = None,
    ) -> tuple[np.ndarray, list[str]]:
        """``float32[S, B, C]`` source scores over the candidates (NaN = not scored);
        ``ask_llm`` (``bool[B]``) the rows the LLM scores, ``content`` the content source's
        ``float32[B, n_items]`` (``None``: not run)."""
        names, layers = ["cf"], [cf_scores]
        valid = cand >= 0
        if content is not None:
            layer = np.full(cand.shape, np.nan, np.float32)
            for b in range(len(cand)):
                layer[b, valid[b]] = content[b, cand[b, valid[b]]]
            names.append("cbf")
            layers.append(layer)
        if self.llm is not None and ask_llm.any():
            layer = self._llm_layer(profiles, np.where(ask_llm[:, None], cand, -1))
            if not np.isnan(layer).all():
                names.append("llm")
                layers.append(layer)
        stacked = np.stack(layers).astype(np.float32)
        stacked[:, ~valid] = np.nan
        return stacked, names
