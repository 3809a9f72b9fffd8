"""Prompt records from a Dataset: user profile, ItemKNN evidence, item text, leak-free targets."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from convrec.cf.knn import ItemKNN
from convrec.data.dataset import Dataset
from convrec.data.names import real_titles
from convrec.llm.tasks import (
    RANKING_ANSWERS,
    REGISTRY,
    RERANK_CUE,
    PromptFields,
    Task,
    Template,
    TemplateRegistry,
)

_WORD = re.compile(r"[a-z][a-z']{2,}")
_STOPWORDS = frozenset(
    """the and for this that with was are but not you have has had its it's they them their
    there what when which would will can could just very really all any one two also than
    then too out get got use used using from your our his her him she who how why been were
    more most much some such only other into over about after before because while these
    those here does did doing don't i've i'm it'll i'll isn't didn't doesn't well good great
    like love nice""".split()  # noqa: SIM905
)

RERANK_TEXTS = ("short", "full")
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
        K of the ItemKNN built on the training rows (binary co-occurrence cosine, so the
        neighbourhoods never depend on a rating value).
    n_keywords : int
        Item keywords from training reviews (review data only).
    n_negatives : int
        Ranking negatives are drawn from the CF engine's top ``n_negatives`` items.
    max_title_chars : int
        Titles are cut to this many characters inside prompts (targets keep them whole).
    rerank_text : {"short", "full"}
        What the decoder reads of each rerank candidate (:meth:`PromptBuilder.candidate_text`):
        ``"short"`` (title, year, CF rank, how far back and how well the user rated its
        ``rerank_evidence`` nearest history items; about 20 tokens) or ``"full"`` (genres,
        rating count and the nearest items' titles as well; about 55 tokens, scored about
        2.5x slower). Adapters saved before this setting existed read ``"full"``.
    rerank_evidence : int
        Nearest history items in a short rerank text.
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


class PromptBuilder:
    """Turn (user, item) pairs into prompts, using only the rows it was fitted on.

    Everything about a target pair is computed with the pair itself left out: the target
    item never appears in the user's profile or evidence, and when the pair is a training
    row its rating is removed from the item mean and its review from the item keywords.

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
        self.knn: ItemKNN | None = None

    # ------------------------------------------------------------------ fitting
    def fit(self, data: Dataset, rows: np.ndarray) -> PromptBuilder:
        """Index the training rows: histories, item means, ItemKNN neighbours, keywords.

        Parameters
        ----------
        data : Dataset
        rows : numpy.ndarray
            ``int64[m]`` training interaction rows.
        """
        rows = np.asarray(rows, dtype=np.int64)
        self.data, self.rows = data, rows
        # newest first, ties broken as protocol B orders them (later item id = later)
        order = rows[np.lexsort((-data.item[rows], -data.timestamp[rows], data.user[rows]))]
        self._hist_rows = order
        self._hist_ptr = np.searchsorted(data.user[order], np.arange(data.n_users + 1))
        self._item_sum = np.bincount(data.item[rows], data.rating[rows], data.n_items)
        self._item_cnt = np.bincount(data.item[rows], minlength=data.n_items)
        self.knn = ItemKNN(n_neighbours=self.config.n_neighbours).fit(
            data.user_items(rows, values="ones")
        )
        # an item is named by its title only when it has a real one (a name guessed from
        # its reviews would differ from the names seen in training)
        self.titled = real_titles(data)
        self._fit_keywords(data, rows)
        return self

    def _fit_keywords(self, data: Dataset, rows: np.ndarray) -> None:
        """Item x word counts from TRAINING review texts; idf over items."""
        self._row_terms: sp.csr_matrix | None = None
        if data.review_text is None or self.config.n_keywords == 0:
            return
        docs = [
            Counter(w for w in _WORD.findall(data.review_text[r].lower()) if w not in _STOPWORDS)
            for r in rows
        ]
        vocab: dict[str, int] = {}
        indptr, indices, counts = [0], [], []
        for doc in docs:
            for word, c in doc.items():
                indices.append(vocab.setdefault(word, len(vocab)))
                counts.append(c)
            indptr.append(len(indices))
        row_terms = sp.csr_matrix(
            (np.asarray(counts, np.float32), np.asarray(indices, np.int64), indptr),
            shape=(len(rows), len(vocab)),
        )
        owner = sp.csr_matrix(
            (np.ones(len(rows), np.float32), (data.item[rows], np.arange(len(rows)))),
            shape=(data.n_items, len(rows)),
        )
        self._item_terms = sp.csr_matrix(owner @ row_terms)
        df = np.asarray((self._item_terms > 0).sum(axis=0)).ravel()
        self._idf = np.log((1 + data.n_items) / (1 + df)) + 1.0
        self._idf[df < 2] = 0.0  # a word of a single item says nothing about similarity
        self._row_terms = row_terms
        self._row_pos = {int(r): p for p, r in enumerate(rows)}
        self._words = np.array(sorted(vocab, key=vocab.__getitem__), dtype=object)

    # ------------------------------------------------------------------ text pieces
    def _data(self) -> Dataset:
        if self.data is None:
            raise RuntimeError("PromptBuilder is not fitted: call fit(data, rows)")
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

    def fields(self, user: int, item: int, before_row: int = -1) -> PromptFields:
        """Every prompt field for one (user, item) pair.

        ``before_row`` (ranking training examples) limits the history to what came before
        that interaction, see :meth:`history`.
        """
        items, ratings = self.history(user, exclude_item=item, before_row=before_row)
        return self.fields_for(items, ratings, item, own_row=self._own_row(user, item))

    def fields_for(
        self, items: np.ndarray, ratings: np.ndarray, item: int, own_row: int = -1
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
            f"{self.title(int(i))}: {_num(rated[int(i)])}" for i in nbr[: c.n_evidence]
        )
        own = own_row
        total, count = float(self._item_sum[item]), int(self._item_cnt[item])
        if own >= 0:
            total, count = total - float(data.rating[own]), count - 1
        stats = [f"item mean {total / count:.1f} from {count} ratings" if count else "new item"]
        if len(nbr):
            nmean = float(np.dot(w, [rated[int(i)] for i in nbr]) / w.sum())
            stats.append(f"neighbour mean {nmean:.1f}")
        return PromptFields(
            item=self.item_text(item),
            keywords=self._keywords(item, own),
            profile=profile_text or "nothing yet",
            evidence=evidence or "none",
            stats=", ".join(stats),
        )

    def _history_neighbours(self, items: np.ndarray, item: int) -> tuple[np.ndarray, np.ndarray]:
        """``item``'s ItemKNN neighbours among the history ``items``, most similar first (ties
        in neighbour-list order): ``int32[n]`` items and ``float32[n]`` similarities."""
        assert self.knn is not None and self.knn.similarity_ is not None
        sim = self.knn.similarity_
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
        return ", ".join(f"{self.title(int(i))}: {_num(rated[int(i)])}" for i in profile)

    def _keywords(self, item: int, own_row: int) -> str:
        if self._row_terms is None:
            return ""
        counts = self._item_terms[item].toarray().ravel()
        pos = self._row_pos.get(own_row, -1)
        if pos >= 0:
            counts = counts - self._row_terms[pos].toarray().ravel()
        score = counts * self._idf
        best = [
            j for j in np.argsort(-score, kind="stable")[: self.config.n_keywords] if score[j] > 0
        ]
        return f"keywords: {', '.join(self._words[best])}." if best else ""

    # ------------------------------------------------------------------ targets
    def target(self, task: Task | str, row: int) -> str:
        """Target text of an interaction row: rating digit, "yes" (ranking), or explanation."""
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
        return self.grounded_explanation(user, item, rating)

    def grounded_explanation(self, user: int, item: int, rating: float) -> str:
        """A sentence that cites only true evidence: similar items and the user's ratings."""
        data = self._data()
        assert self.knn is not None and self.knn.similarity_ is not None
        items, ratings = self.history(user, exclude_item=item)
        sim = self.knn.similarity_
        nbr = sim.indices[sim.indptr[item] : sim.indptr[item + 1]]
        rated = dict(zip(items.tolist(), ratings.tolist(), strict=True))
        close = [int(i) for i in nbr if int(i) in rated]
        title = self.title(item)
        if rating >= 4:
            liked = [self.title(i) for i in close if rated[i] >= 4][:2]
            if liked:
                return f"you will enjoy {title} because you liked {' and '.join(liked)}."
            genres = data.catalog.genres[item]
            kind = f"{genres[0].lower()} " if genres else ""
            return f"{title} is a {kind}pick you will enjoy."
        if rating <= 2:
            disliked = [self.title(i) for i in close if rated[i] <= 2][:2]
            if disliked:
                return f"{title} is not for you: you disliked {' and '.join(disliked)}."
            return f"{title} is probably not for you."
        return f"{title} is an average match for your taste."

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

    def cf_top(self, histories: list[np.ndarray], k: int | None = None) -> np.ndarray:
        """The CF engine's top ``k`` (default ``n_negatives``) unseen items after each history
        (ItemKNN over the binary history).

        ``histories``: ``int32[h]`` item arrays. Returns ``int32[B, k]``, best first, padded
        with -1.
        """
        data = self._data()
        assert self.knn is not None
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
        ids, _ = self.knn.recommend(csr, k=k or self.config.n_negatives, exclude_seen=True)
        return np.asarray(ids, np.int32)

    def candidate_text(self, items: np.ndarray, ratings: np.ndarray, item: int, rank: int) -> str:
        """What the decoder reads of one candidate (the rerank task), ending in :data:`RERANK_CUE`.

        The candidate's text, its rank in the CF engine's list for this history (``rank`` is
        1-based, 0 when it is not in the top ``n_negatives``) and its CF evidence: the history
        items closest to it by ItemKNN similarity, each with how many steps back the user saw
        it and their rating. ``rerank_text`` "short" (about 20 decoder tokens): ``Alien (1979)
        rank 2 near 3:5 12:4 next?``, steps back : rating of the ``rerank_evidence`` closest
        items; "full" (about 55): genres, the item's number of training ratings and the
        closest items' titles as well.

        Parameters
        ----------
        items, ratings : numpy.ndarray
            ``int32[h]`` history items, newest first, and ``float32[h]`` their ratings.
        """
        items = np.asarray(items)
        c = self.config
        short = c.rerank_text == "short"
        shown = c.rerank_evidence if short else c.n_evidence
        close = [
            int(np.flatnonzero(items == i)[0])  # steps back - 1
            for i in self._history_neighbours(items, item)[0][:shown]
        ]
        if short:
            near = " ".join(f"{p + 1}:{_num(float(ratings[p]))}" for p in close)
            place = f"rank {rank}" if rank > 0 else "unranked"
            return f"{self.title_year(item)} {place} near {near or 'none'} {RERANK_CUE}"
        evidence = ", ".join(
            f"{self.title(int(items[p]))} ({p + 1} back, {_num(float(ratings[p]))})" for p in close
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
            text = pool[k].render(self.fields(u, i, before))
            out.append(PromptRecord(task, pool[k].id, u, i, r, text, target))
        return out

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
        return [
            tpl.render(self.fields(int(u), int(i)))
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
        return [
            tpl.render(self.fields_for(h_items, h_ratings, int(i)))
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


def _num(value: float) -> str:
    return f"{value:g}"
