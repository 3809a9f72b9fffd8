"""Evidence behind a recommendation and its grounded explanation (LLM text or the template)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from convrec.data.dataset import Dataset
from convrec.data.titles import TitleIndex
from convrec.recommender.grounding import GroundingCheck, template
from convrec.recommender.profiles import Profile, rows_csr
from convrec.schema import Evidence, Explanation, ScoredItem


class Explainer:
    """Turns engine evidence into :class:`~convrec.schema.Evidence` and explanations.

    Parameters
    ----------
    data : Dataset
    titles : TitleIndex
    llm
        Optional LLM with ``explain(users, items)`` and ``explain_for(histories, items)``
        (sessions), both ``-> list[str]``; its text is shown only when
        the :class:`~convrec.recommender.grounding.GroundingCheck` accepts it.
    n_evidence : int
        History items cited at most.
    """

    def __init__(self, data: Dataset, titles: TitleIndex, llm: Any, n_evidence: int) -> None:
        self.data, self.titles, self.llm, self.n_evidence = data, titles, llm, n_evidence
        self.grounding = GroundingCheck(titles)
        # the rating a session's liked titles stand for in LLM prompts (the scale's top)
        self.liked_rating = float(data.rating.max())

    def evidence(self, p: Profile, items: Any, weights: np.ndarray | None) -> tuple[Evidence, ...]:
        """Evidence from the kernel's ``int32[E]`` history items and ``float32[E]`` weights."""
        if weights is None:
            return ()
        out = []
        for e, h in enumerate(np.asarray(items, dtype=np.int64).tolist()):
            if h >= 0:
                out.append(self._cite(p, h, float(weights[e])))
        return tuple(out)

    def evidence_for(
        self, p: Profile, neighbours: sp.csr_matrix, target: int
    ) -> tuple[Evidence, ...]:
        """The history items of ``p`` that pull ``target`` most through ``neighbours``."""
        hist = rows_csr([p.items], [p.weights], self.data.n_items)
        contrib = np.asarray(hist.multiply(neighbours[:, target].T).todense()).ravel()
        order = [int(h) for h in np.argsort(-contrib, kind="stable") if contrib[h] > 0]
        return tuple(self._cite(p, h, float(contrib[h])) for h in order[: self.n_evidence])

    def _cite(self, p: Profile, item: int, weight: float) -> Evidence:
        return Evidence(
            self.data.items.external[item], self.titles.display(item), weight, p.ratings.get(item)
        )

    def explain(
        self, p: Profile, item: int, rating: float, evidence: tuple[Evidence, ...]
    ) -> Explanation:
        """The LLM's text when grounded (source ``"llm"``), else the template."""
        return self.explain_many(p, [item], [rating], [evidence])[0]

    def explain_many(
        self,
        p: Profile,
        items: Sequence[int],
        ratings: Sequence[float],
        evidence: Sequence[tuple[Evidence, ...]],
    ) -> list[Explanation]:
        """:meth:`explain` for several items of one profile, the LLM's texts generated in
        one batch."""
        texts: list[str | None] = [None] * len(items)
        if self.llm is not None and items and (p.user is not None or len(p.items)):
            targets = np.asarray(items, np.int32)
            if p.user is not None:
                texts = list(self.llm.explain(np.full(len(targets), p.user, np.int32), targets))
            else:
                history = p.llm_history(self.liked_rating)
                texts = list(self.llm.explain_for([history] * len(targets), targets))
        allowed = {*p.items.tolist()}
        out = []
        for item, rating, ev, text in zip(items, ratings, evidence, texts, strict=True):
            if text is not None and self.grounding.check(text, allowed | {item}, p.ratings):
                facts = self._facts(p, item, text, ev)
                out.append(Explanation(self.titles.restore(text), facts, "llm"))
            else:
                out.append(template(self.titles.display(item), rating, ev))
        return out

    def _facts(
        self, p: Profile, item: int, text: str, evidence: tuple[Evidence, ...]
    ) -> tuple[Evidence, ...]:
        """The history items a grounded ``text`` about ``item`` names: the engine's evidence
        first (strongest first), then the others it names (weight 0.0), in text order."""
        named = [h for h in dict.fromkeys(self.grounding.cited(text)) if h != item]
        ids = {self.data.items.external[h]: h for h in named}
        cited = [e for e in evidence if e.item_id in ids]
        known = {e.item_id for e in cited}
        others = [self._cite(p, h, 0.0) for i, h in ids.items() if i not in known]
        return (*cited, *others)

    def scored_item(
        self,
        p: Profile,
        item: int,
        score: float,
        parts: tuple[dict[str, float], dict[str, float]],
        evidence: tuple[Evidence, ...],
        rating: float,
    ) -> ScoredItem:
        """The public record of one ranked item, not yet explained (see :meth:`fill`);
        ``parts``: per-source scores and per-source shares of the fused ``score`` (NaN
        entries are dropped)."""
        comps, share = parts
        return ScoredItem(
            item_id=self.data.items.external[item],
            title=self.titles.display(item),
            score=float(score),
            components={n: v for n, v in comps.items() if not math.isnan(v)},
            predicted_rating=rating,
            evidence=evidence,
            contributions={n: v for n, v in share.items() if not math.isnan(v)},
        )

    def fill(
        self,
        p: Profile,
        items: Sequence[ScoredItem],
        item_index: Callable[[str], int],
        predict: Callable[[int], float],
    ) -> list[ScoredItem]:
        """``items`` of profile ``p`` with their explanations written (``predict`` gives a
        rating where an item has none)."""
        index = [item_index(it.item_id) for it in items]
        ratings = [
            it.predicted_rating if it.predicted_rating is not None else predict(i)
            for it, i in zip(items, index, strict=True)
        ]
        written = self.explain_many(p, index, ratings, [it.evidence for it in items])
        return [dataclasses.replace(it, why=why) for it, why in zip(items, written, strict=True)]
