"""PromptBuilder: prompts and rerank candidate texts rendered from the fitted prompt features.

The builder is split by responsibility: :mod:`convrec.llm.prompt_features` (histories, item
statistics, neighbour evidence, keywords), :mod:`convrec.llm.prompt_examples` (training targets,
negatives, records) and this module (templates and candidate texts -> text).
"""

from __future__ import annotations

import numpy as np

from convrec.llm.prompt_examples import PromptRecord, TrainingExamples
from convrec.llm.prompt_features import (
    RERANK_TEXTS,
    PromptConfig,
    PromptFeatures,
    num_text,
    saved_prompt_config,
)
from convrec.llm.tasks import RERANK_CUE, PromptFields, Task

__all__ = [
    "RERANK_TEXTS",
    "PromptBuilder",
    "PromptConfig",
    "PromptFeatures",
    "PromptRecord",
    "saved_prompt_config",
]


class PromptBuilder(TrainingExamples):
    """Turn (user, item) pairs into prompts, using only the rows it was fitted on.

    ``PromptBuilder(config).fit(data, rows, neighbours)``: ``neighbours`` is the item-kNN of
    the same rows (:class:`~convrec.schema.ItemNeighbours`; a recommender hands over its own).
    The fields come from :class:`~convrec.llm.prompt_features.PromptFeatures` (every statistic
    of a target pair computed with the pair itself left out), the training examples from
    :class:`~convrec.llm.prompt_examples.TrainingExamples`; this class renders them.

    Parameters
    ----------
    config : PromptConfig
    registry : TemplateRegistry
    """

    def candidate_text(
        self, items: np.ndarray, ratings: np.ndarray, item: int, rank: int, own_row: int = -1
    ) -> str:
        """What the decoder reads of one candidate (the rerank task), ending in :data:`RERANK_CUE`.

        The candidate's text, its rank in the CF engine's list for this history (``rank`` is
        1-based, 0 when it is not in the top ``n_negatives``) and its CF evidence: the history
        items closest to it by ItemKNN similarity, each with how many steps back the user saw
        it and their rating. ``rerank_text`` "short" (about 20 decoder tokens): ``Alien (1979)
        rank 2 near 3:5 12:4 next?``, steps back : rating of the ``rerank_evidence`` closest
        items; "full" (about 55): genres, the item's number of training ratings and the
        closest items' titles as well; "keywords": the short text with the item's genres and
        its training-review keywords (the review of training row ``own_row``, the example's
        own, left out).

        Parameters
        ----------
        items, ratings : numpy.ndarray
            ``int32[h]`` history items, newest first, and ``float32[h]`` their ratings.
        """
        items = np.asarray(items)
        c = self.config
        shown = c.n_evidence if c.rerank_text == "full" else c.rerank_evidence
        close = [
            int(np.flatnonzero(items == i)[0])  # steps back - 1
            for i in self._history_neighbours(items, item)[0][:shown]
        ]
        if c.rerank_text != "full":
            near = " ".join(f"{p + 1}:{num_text(float(ratings[p]))}" for p in close)
            place = f"rank {rank}" if rank > 0 else "unranked"
            words = ""
            if c.rerank_text == "keywords":
                genres = " / ".join(self._data().catalog.genres[item]).lower()
                words = " ".join(w for w in (genres, self.keywords.text(item, own_row)) if w)
                words = f" {words}" if words else ""
            return f"{self.title_year(item)}{words} {place} near {near or 'none'} {RERANK_CUE}"
        evidence = ", ".join(
            f"{self.title(int(items[p]))} ({p + 1} back, {num_text(float(ratings[p]))})"
            for p in close
        )
        place = f"cf rank {rank}" if rank > 0 else "outside the cf list"
        return (
            f"{self.item_text(item)}. {place}. {int(self._item_cnt[item])} ratings. "
            f"close to: {evidence or 'nothing seen'}. {RERANK_CUE}"
        )

    def candidate_texts(
        self, histories: list[tuple[np.ndarray, np.ndarray]], rows: np.ndarray, items: np.ndarray
    ) -> list[str]:
        """:meth:`candidate_text` of each (``rows[n]``'s history, ``items[n]``) pair.

        ``histories``: (items newest first, ratings) per row; ``rows``, ``items``: ``int[N]``.
        """
        lists = self.cf_top([h for h, _ in histories])
        ranks = [{int(i): k + 1 for k, i in enumerate(row.tolist()) if i >= 0} for row in lists]
        return [
            self.candidate_text(histories[r][0], histories[r][1], i, ranks[r].get(i, 0))
            for r, i in zip(np.asarray(rows).tolist(), np.asarray(items).tolist(), strict=True)
        ]

    def prompts(
        self,
        task: Task | str,
        users: np.ndarray,
        items: np.ndarray,
        template: str | None = None,
    ) -> list[str]:
        """Inference prompts for (user, item) pairs, the user's whole training history known.

        Parameters
        ----------
        users, items : numpy.ndarray
            ``int32[B]`` user indices and target items (ranking: candidates).
        template : str, optional
            Template id (default: the task's default template).
        """
        task = Task(task)
        tpl = self.registry[template] if template else self.registry.default(task)
        facts = "facts" in tpl.placeholders
        return [
            tpl.render(self.fields(int(u), int(i), facts=facts))
            for u, i in zip(np.asarray(users).tolist(), np.asarray(items).tolist(), strict=True)
        ]

    def prompts_for(
        self,
        task: Task | str,
        histories: list[tuple[np.ndarray, np.ndarray]],
        items: np.ndarray,
        template: str | None = None,
    ) -> list[str]:
        """Inference prompts from explicit histories (see :meth:`fields_for`).

        Parameters
        ----------
        histories : list of (int32[h], float32[h])
            One (items newest first, ratings) history per prompt.
        items : numpy.ndarray
            ``int32[B]`` target items (ranking: candidates), ``B = len(histories)``.
        """
        task = Task(task)
        if len(histories) != len(items):
            raise ValueError(f"{len(histories)} histories for {len(items)} items")
        tpl = self.registry[template] if template else self.registry.default(task)
        facts = "facts" in tpl.placeholders
        return [
            tpl.render(self.fields_for(h_items, h_ratings, int(i), facts=facts))
            for (h_items, h_ratings), i in zip(histories, np.asarray(items).tolist(), strict=True)
        ]

    def history_prompts(
        self, task: Task | str, users: np.ndarray, template: str | None = None
    ) -> list[str]:
        """One prompt per user from the whole training history (the ``next`` task).

        ``users`` is ``int32[B]``; the template may show the profile alone.
        """
        return self.history_prompts_for(
            task, [self.history(int(u)) for u in np.asarray(users).tolist()], template
        )

    def history_prompts_for(
        self,
        task: Task | str,
        histories: list[tuple[np.ndarray, np.ndarray]],
        template: str | None = None,
    ) -> list[str]:
        """:meth:`history_prompts` from explicit (items newest first, ratings) histories."""
        task = Task(task)
        tpl = self.registry[template] if template else self.registry.default(task)
        if tpl.placeholders - {"profile"}:
            raise ValueError(f"template {tpl.id!r} needs a target item: not a history prompt")
        return [
            tpl.render(PromptFields(profile=self.profile_text(i, r) or "nothing yet"))
            for i, r in histories
        ]
