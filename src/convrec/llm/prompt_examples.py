"""Training examples from interaction rows: targets, grounded explanations, hard negatives."""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Literal

import numpy as np

from convrec.facts.render import Support, render
from convrec.llm.prompt_features import PromptFeatures
from convrec.llm.tasks import RANKING_ANSWERS, Task, Template

SESSION_SHARE = 0.3
"""With :attr:`~convrec.llm.prompt_features.PromptConfig.fact_slots`, the share of explanation
examples shown as sessions (:meth:`TrainingExamples.session_history`), drawn by row."""


@dataclass(frozen=True)
class PromptRecord:
    """One (prompt, target) example.

    Attributes
    ----------
    task : Task
    template : str
        Template id.
    user, item : int
        Internal indices (``item`` is the target item, also for ranking).
    row : int
        Interaction row the target came from, ``-1`` for inference prompts.
    source : str
        Prompt text (encoder input).
    target : str
        Target text (decoder output); ``""`` for inference prompts.
    """

    task: Task
    template: str
    user: int
    item: int
    row: int
    source: str
    target: str


def session_profile(
    items: np.ndarray,
    ratings: np.ndarray,
    liked_at: float,
    top: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """A session-shaped profile from a history: its 1 to 5 earliest liked items.

    Parameters
    ----------
    items, ratings : numpy.ndarray
        ``int32[h]`` / ``float32[h]`` a history, newest first (as
        :meth:`~convrec.llm.prompt_features.PromptFeatures.history` gives it).
    liked_at, top : float
        The lowest rating that counts as liked; the scale's top, which every kept item shows
        (as a session's liked titles do at inference).
    rng : numpy.random.Generator
        Draws the number of items, uniform in 1..5.

    Returns
    -------
    (items, ratings)
        Newest first, each rated ``top``; the history unchanged when nothing in it is liked.
    """
    oldest_first = np.flatnonzero(ratings[::-1] >= liked_at)
    if not len(oldest_first):
        return items, ratings
    n = int(rng.integers(1, 6))
    keep = (len(items) - 1 - oldest_first[:n])[::-1]  # positions in the newest-first arrays
    return items[keep], np.full(len(keep), top, np.float32)


class TrainingExamples(PromptFeatures):
    """What a fitted :class:`~convrec.llm.prompt_features.PromptFeatures` makes of interaction
    rows for training and validation: each row's target text, ranking positives and CF hard
    negatives, the rerank task's CF lists, and rendered :class:`PromptRecord` examples."""

    # ------------------------------------------------------------------ targets
    def target(self, task: Task | str, row: int, session: bool | None = None) -> str:
        """Target text of an interaction row: rating digit, "yes" (ranking), or explanation
        (``session``: see :meth:`fact_explanation`)."""
        data = self._data()
        task = Task(task)
        user, item, rating = int(data.user[row]), int(data.item[row]), float(data.rating[row])
        if task is Task.RATING:
            return str(int(np.clip(math.floor(rating + 0.5), 1, 5)))
        if task is Task.RANKING:
            return RANKING_ANSWERS[1]  # the row's own item is a positive
        if task is Task.NEXT:
            return self.title(item)  # what the candidates' titles are scored as
        if task is Task.RERANK:
            return RANKING_ANSWERS[1]  # the row's own item, read after its history, is next
        if data.summary is not None:
            return data.summary[row]
        return self.fact_explanation(user, item, row, session)

    def session_history(self, user: int, item: int, row: int) -> tuple[np.ndarray, np.ndarray]:
        """A session-shaped history for ``row``'s explanation example: 1 to 5 of the user's
        earliest liked items (:func:`session_profile`, seeded by the row), ``item`` left
        out; their ratings are not cited as the user's (``own_ratings=False``)."""
        data = self._data()
        items, ratings = self.history(user, exclude_item=item)
        rng = np.random.default_rng(zlib.crc32(f"history:{row}".encode()))
        return session_profile(items, ratings, self.book.threshold, float(data.rating.max()), rng)

    def session_shaped(self, row: int) -> bool:
        """Whether training shows ``row``'s explanation example as a session's (a seeded
        :data:`SESSION_SHARE` of rows, with :attr:`PromptConfig.fact_slots` only)."""
        if not self.config.fact_slots or row < 0:
            return False
        return zlib.crc32(f"session:{row}".encode()) % 1000 < 1000 * SESSION_SHARE

    def fact_explanation(
        self, user: int, item: int, row: int = -1, session: bool | None = None
    ) -> str:
        """A sentence rendered from the true facts that speak for ``item`` after ``user``'s
        history (the pair's own row left out), its phrasing and so its choice of facts
        drawn by the row: varied targets for the explanation task on data without reviews.

        With :attr:`PromptConfig.fact_slots` the sentence names slots instead of values
        (``"Close to [ta]: ..."``); ``session`` (default: :meth:`session_shaped`) renders
        it after :meth:`session_history` instead, as for a session."""
        if session is None:
            session = self.session_shaped(row)
        own = row if row >= 0 else self._own_row(user, item)
        if session:
            items, ratings = self.session_history(user, item, row)
        else:
            items, ratings = self.history(user, exclude_item=item)
        facts = self.item_facts(items, ratings, item, own, user, own_ratings=not session)
        support = Support.of(facts, self.book.positive)
        done = render(support, f"{item}:{row}", slots=self.config.fact_slots)
        return done[0] if done is not None else f"{self.title_year(item)} is new here."

    # ------------------------------------------------------------------ records
    def select_templates(
        self, task: Task | str, which: Literal["train", "held_out", "all"] | str = "train"
    ) -> list[Template]:
        """Templates by split name, or the one template with that id."""
        if which == "train":
            return self.registry.training(task)
        if which == "held_out":
            return self.registry.held_out(task)
        if which == "all":
            return self.registry.for_task(task)
        return [self.registry[which]]

    def ranking_examples(
        self, rows: np.ndarray, seed: int = 0, positive_rate: float = 0.5
    ) -> list[tuple[int, int, int, str]]:
        """Pointwise ranking examples from interaction rows: positives and hard negatives.

        Each row becomes, with probability ``positive_rate``, its own (user, item), answer
        "yes"; otherwise a negative for the same user at the same moment: an item drawn from
        the CF engine's top ``n_negatives`` for the history before that row (the kind of
        candidate ranking sees at inference), never an item of the user's training history,
        answer "no". Both use the history before the row (:meth:`history`).

        Returns
        -------
        list of (user, item, before_row, answer)
        """
        data = self._data()
        rows = np.asarray(rows, dtype=np.int64)
        rng = np.random.default_rng(seed)
        positive = rng.random(len(rows)) < positive_rate
        negatives = self._negatives(rows[~positive], rng)
        out, k = [], 0
        for r, pos in zip(rows.tolist(), positive.tolist(), strict=True):
            user = int(data.user[r])
            if pos:
                out.append((user, int(data.item[r]), r, RANKING_ANSWERS[1]))
            else:
                out.append((user, int(negatives[k]), r, RANKING_ANSWERS[0]))
                k += 1
        return out

    def _negatives(self, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``int32[len(rows)]``: one hard negative item per row (see :meth:`ranking_examples`)."""
        data = self._data()
        out = np.zeros(len(rows), np.int32)
        if len(rows) == 0:
            return out
        ids = self.cf_top([self.history(int(data.user[r]), before_row=int(r))[0] for r in rows])
        popular = self._item_cnt + 1.0
        for b, r in enumerate(rows.tolist()):
            seen = set(self.history(int(data.user[r]))[0].tolist())
            pool = [int(i) for i in ids[b] if i >= 0 and int(i) not in seen]
            if pool:
                out[b] = pool[int(rng.integers(len(pool)))]
                continue
            while True:  # no CF candidate: a popularity-drawn unseen item
                i = int(rng.choice(data.n_items, p=popular / popular.sum()))
                if i not in seen or len(seen) >= data.n_items:
                    out[b] = i
                    break
        return out

    def rerank_lists(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Training rows of the rerank task: those whose item is in the CF list of the history
        before them (what re-ranking sees at inference), with that list.

        Returns
        -------
        kept : int64[m]
            The rows kept.
        lists : int32[m, n_negatives]
            Their CF lists (the row's own item among them), padded with -1.
        """
        data = self._data()
        rows = np.asarray(rows, dtype=np.int64)
        lists = self.cf_top([self.history(int(data.user[r]), before_row=int(r))[0] for r in rows])
        hit = (lists == data.item[rows][:, None]).any(axis=1)
        return rows[hit], lists[hit]

    def examples(
        self, task: Task | str, rows: np.ndarray, seed: int = 0
    ) -> list[tuple[int, int, int, str]]:
        """``(user, item, before_row, target)`` per row: the row itself for rating and
        explanation, a positive or a hard negative for ranking (:meth:`ranking_examples`), the
        row's title after the history before it for next, the row's item (answer yes) after
        that history for rerank (training adds CF-list negatives: ``Trainer.encode_rerank``)."""
        task = Task(task)
        if task is Task.RANKING:
            return self.ranking_examples(rows, seed)
        data = self._data()
        if task in (Task.NEXT, Task.RERANK):
            return [
                (int(data.user[r]), int(data.item[r]), r, self.target(task, r))
                for r in np.asarray(rows).tolist()
            ]
        return [
            (int(data.user[r]), int(data.item[r]), -1, self.target(task, r))
            for r in np.asarray(rows).tolist()
        ]

    def records(
        self,
        task: Task | str,
        rows: np.ndarray | None = None,
        templates: str = "train",
        seed: int = 0,
    ) -> list[PromptRecord]:
        """Training / evaluation examples from interaction rows, templates drawn at random.

        Rating and explanation: one example per row. Ranking: one pointwise example per
        row, a positive or a hard negative (:meth:`ranking_examples`).

        Parameters
        ----------
        task : Task
        rows : numpy.ndarray, optional
            ``int64[m]`` rows (default: the fitted training rows).
        templates : str
            ``"train"`` (default), ``"held_out"``, ``"all"`` or one template id.
        seed : int
            Seed of the template draw (and of the ranking negatives).
        """
        task = Task(task)
        rows = self.rows if rows is None else np.asarray(rows, dtype=np.int64)
        pool = self.select_templates(task, templates)
        pick = np.random.default_rng(seed).integers(0, len(pool), len(rows))
        examples = self.examples(task, rows, seed)
        out = []
        for r, k, example in zip(rows.tolist(), pick.tolist(), examples, strict=True):
            u, i, before, target = example
            facts = "facts" in pool[k].placeholders
            if task is Task.EXPLANATION and self.session_shaped(r):
                items, ratings = self.session_history(u, i, r)
                fields = self.fields_for(
                    items, ratings, i, own_row=r, user=u, facts=facts, own_ratings=False
                )
            else:
                fields = self.fields(u, i, before, facts=facts)
            text = pool[k].render(fields)
            out.append(PromptRecord(task, pool[k].id, u, i, r, text, target))
        return out
