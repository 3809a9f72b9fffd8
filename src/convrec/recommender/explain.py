"""Facts behind a recommendation and its explanation: the LLM's text when every fact it states
is true, else a sentence rendered from the facts."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from convrec.data.dataset import Dataset
from convrec.data.titles import TitleIndex
from convrec.facts import FactBook, FactChecker, Liked, Support, render
from convrec.facts.render import SLOT, fill_slots
from convrec.recommender.profiles import Profile, rows_csr
from convrec.schema import Evidence, Explanation, Fact, ItemFilter, ScoredItem

Fused = tuple[Mapping[str, float], float]
"""An item's per-source shares of its fused score, and that score."""


class Explainer:
    """Turns engine evidence into facts (:class:`~convrec.facts.FactBook`) and explanations.

    Parameters
    ----------
    data : Dataset
    titles : TitleIndex
    llm
        Optional LLM with ``explain(users, items)`` and ``explain_for(histories, items)``
        (sessions), both ``-> list[str]``; its text is shown only when the
        :class:`~convrec.facts.FactChecker` finds every fact it states true. An LLM whose
        ``fact_slots`` is true writes slot names, filled in from the item's facts first
        (:func:`~convrec.facts.render.fill_slots`; a slot the item lacks fails the text).
    n_evidence : int
        History items cited at most.
    book : FactBook
        The facts of the recommender's rows.
    """

    def __init__(
        self, data: Dataset, titles: TitleIndex, llm: Any, n_evidence: int, book: FactBook
    ) -> None:
        self.data, self.titles, self.llm, self.n_evidence = data, titles, llm, n_evidence
        self.book = book
        self.checker = FactChecker(titles, book)
        # the rating a session's liked titles stand for in LLM prompts (the scale's top)
        self.liked_rating = float(data.rating.max())
        # review data: a model's words are a review summary, shown with the facts after them
        self.reviews = data.summary is not None

    @property
    def grounding(self) -> FactChecker:
        """The check every LLM explanation passes (it counts fallbacks to rendered text)."""
        return self.checker

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
        if not len(p.items):
            return ()
        hist = rows_csr([p.items], [p.weights], self.data.n_items)
        contrib = np.asarray(hist.multiply(neighbours[:, target].T).todense()).ravel()
        order = [int(h) for h in np.argsort(-contrib, kind="stable") if contrib[h] > 0]
        return tuple(self._cite(p, h, float(contrib[h])) for h in order[: self.n_evidence])

    def _cite(self, p: Profile, item: int, weight: float) -> Evidence:
        return Evidence(
            self.data.items.external[item], self.titles.display(item), weight, p.ratings.get(item)
        )

    def liked(self, p: Profile) -> Liked:
        """What ``p`` liked, as the facts count it."""
        user = -1 if p.user is None else p.user
        return Liked.of(p.items, p.ratings, self.book.threshold, user)

    def explain(
        self,
        p: Profile,
        item: int,
        rating: float,
        evidence: tuple[Evidence, ...],
        use_llm: bool = True,
    ) -> Explanation:
        """The LLM's text when its facts are true (source ``"llm"``), else the rendered one
        (always the rendered one without ``use_llm``)."""
        return self.explain_many(p, [item], [rating], [evidence], use_llm=use_llm)[0][0]

    def explain_many(
        self,
        p: Profile,
        items: Sequence[int],
        ratings: Sequence[float | None],
        evidence: Sequence[tuple[Evidence, ...]],
        fused: Sequence[Fused] = (),
        request: ItemFilter | None = None,
        use_llm: bool = True,
    ) -> list[tuple[Explanation, tuple[Fact, ...]]]:
        """:meth:`explain` for the items of one list, with every fact found for each; the
        facts are computed in one batch and the LLM's texts generated in one batch.

        An LLM with ``explain_options`` may write several texts per item (best first). Of
        those that pass the check, the first that names a liked title and is worded unlike
        the list's earlier ones is shown; else the first that names one, else the first
        worded anew, else the first. Never a sentence the list already shows (the rendered
        facts then). Each item counts once in the check's tallies (passed when any passed).
        """
        liked = self.liked(p)
        support = self.book.facts(liked, items, evidence, request, fused)
        options = self._options(p, items) if use_llm else [()] * len(items)
        used: set[str] = set()  # the phrasings and sentences rendered or shown in the list
        worded: set[str] = set()  # the LLM's wordings shown in the list
        shown: set[str] = set()  # the sentences shown in the list
        out = []
        for item, rating, facts, texts in zip(items, ratings, support, options, strict=True):
            positive = Support.of(facts, self.book.positive)  # sorted once, read by each text
            rendered = self._render(item, positive, used)
            chosen: tuple[int, str, Explanation] | None = None  # (rank, wording, explanation)
            passed = False
            for text in texts:
                wording, checked = self._checked(
                    text, item, liked, facts, positive, rating, rendered
                )
                if checked is None:
                    continue
                passed = True
                if checked.reason in shown:  # a sentence the list already shows
                    continue
                rank = 2 * (not _names_liked(checked)) + (wording in worded)
                if chosen is None or rank < chosen[0]:
                    chosen = (rank, wording, checked)
                if rank == 0:
                    break
            if texts:
                self.checker.tally(passed)
            if chosen is not None:
                worded.add(chosen[1])
                used.add(chosen[2].reason)  # later rendered ones steer clear of it
                why = chosen[2]
            else:
                reason, claims = rendered
                why = Explanation(reason, _liked(claims), "template", rating, claims)
            shown.add(why.reason)
            out.append((why, facts))
        return out

    def _options(self, p: Profile, items: Sequence[int]) -> list[Sequence[str]]:
        """The LLM's candidate texts per item (none without an LLM or a history)."""
        if self.llm is None or not items or (p.user is None and not len(p.items)):
            return [()] * len(items)
        targets = np.asarray(items, np.int32)
        several = hasattr(self.llm, "explain_options")
        if p.user is not None:
            users = np.full(len(targets), p.user, np.int32)
            if several:
                return list(self.llm.explain_options(users, targets))
            return [(t,) for t in self.llm.explain(users, targets)]
        histories = [p.llm_history(self.liked_rating)] * len(targets)
        if several:
            return list(self.llm.explain_options_for(histories, targets))
        return [(t,) for t in self.llm.explain_for(histories, targets)]

    def _render(self, item: int, support: Support, used: set[str]) -> tuple[str, tuple[Fact, ...]]:
        done = render(support, self.data.items.external[item], used)
        if done is None:  # no fact at all (an item nobody rated, no request, no share)
            return f"{self.titles.display(item)} is new here: nobody has rated it yet.", ()
        return done

    def _checked(
        self,
        text: str,
        item: int,
        liked: Liked,
        facts: tuple[Fact, ...],
        positive: Support,
        rating: float | None,
        rendered: tuple[str, tuple[Fact, ...]],
    ) -> tuple[str, Explanation | None]:
        """The LLM's ``text`` as an explanation when the check passes it, else ``None``;
        first its wording (the text with its slot names masked, for telling phrasings apart).

        On review data the model writes what a reviewer would say (no facts to state):
        it passes when it states nothing false, and the rendered facts follow it.
        """
        restored = self.titles.restore(text).strip()
        wording = SLOT.sub("[]", restored.lower())
        if getattr(self.llm, "fact_slots", False):  # a delexicalised text: fill in the values
            filled = fill_slots(restored, positive)
            if filled is None:
                return wording, None
            restored = filled
        if self.reviews and restored and restored[-1] not in ".!?":
            restored += "."
        verdict = self.checker.check(
            restored, item, liked, facts, rating, self.reviews, count=False
        )
        if not verdict.ok:
            return wording, None
        claims = verdict.claims
        if self.reviews:
            sentence = restored[:1].upper() + restored[1:]
            restored = f"{sentence} {rendered[0]}"
            claims = tuple(dict.fromkeys((*claims, *rendered[1])))
        return wording, Explanation(restored, _liked(claims), "llm", None, claims)

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
        request: ItemFilter | None = None,
        use_llm: bool = True,
    ) -> list[ScoredItem]:
        """``items`` of profile ``p`` with their explanations written and their facts
        (``predict`` gives a rating where an item has none; ``request``: the list's filters)."""
        index = [item_index(it.item_id) for it in items]
        ratings = [
            it.predicted_rating if it.predicted_rating is not None else predict(i)
            for it, i in zip(items, index, strict=True)
        ]
        fused = [(it.contributions, it.score) for it in items]
        written = self.explain_many(
            p, index, ratings, [it.evidence for it in items], fused, request, use_llm
        )
        return [
            dataclasses.replace(it, why=why, support=facts)
            for it, (why, facts) in zip(items, written, strict=True)
        ]


def _names_liked(why: Explanation) -> bool:
    """Whether ``why`` names one of the user's liked titles (close to it, its fans...)."""
    for fact in why.claims:
        titles = (fact.title,) if isinstance(fact, Evidence) else getattr(fact, "liked_titles", ())
        if any(title and title in why.reason for title in titles):
            return True
    return False


def _liked(claims: Sequence[Fact]) -> tuple[Evidence, ...]:
    """The liked history items among ``claims``."""
    return tuple(f for f in claims if isinstance(f, Evidence))
