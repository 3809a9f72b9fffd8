"""Prompt records from a Dataset: user profile, ItemKNN evidence, item text, leak-free targets."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from convrec.cf.knn import ItemKNN
from convrec.data.dataset import Dataset
from convrec.llm.tasks import REGISTRY, PromptFields, Task, Template, TemplateRegistry

_WORD = re.compile(r"[a-z][a-z']{2,}")
_STOPWORDS = frozenset(
    """the and for this that with was are but not you have has had its it's they them their
    there what when which would will can could just very really all any one two also than
    then too out get got use used using from your our his her him she who how why been were
    more most much some such only other into over about after before because while these
    those here does did doing don't i've i'm it'll i'll isn't didn't doesn't well good great
    like love nice""".split()  # noqa: SIM905
)


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
    max_title_chars : int
        Titles are cut to this many characters inside prompts (targets keep them whole).
    """

    n_recent: int = 3
    n_top: int = 2
    n_evidence: int = 3
    n_neighbours: int = 50
    n_keywords: int = 5
    max_title_chars: int = 48


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
        order = rows[np.lexsort((-data.timestamp[rows], data.user[rows]))]  # newest first
        self._hist_rows = order
        self._hist_ptr = np.searchsorted(data.user[order], np.arange(data.n_users + 1))
        self._item_sum = np.bincount(data.item[rows], data.rating[rows], data.n_items)
        self._item_cnt = np.bincount(data.item[rows], minlength=data.n_items)
        self.knn = ItemKNN(n_neighbours=self.config.n_neighbours).fit(
            data.user_items(rows, values="ones")
        )
        self.has_titles = any(
            t != e for t, e in zip(data.catalog.title, data.items.external, strict=True)
        )
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
        """Display title (``"item <id>"`` when the data has no titles)."""
        data = self._data()
        name = data.catalog.title[item] if self.has_titles else f"item {data.items.external[item]}"
        limit = self.config.max_title_chars
        return name[:limit].rstrip() if clip and len(name) > limit else name

    def item_key(self, item: int) -> str:
        """The ranking target of an item: its full title, or a short key without titles."""
        return self.title(item, clip=False)

    def item_text(self, item: int) -> str:
        """Title, year (when not already in the title) and genres."""
        data = self._data()
        text = self.title(item)
        year = int(data.catalog.year[item])
        if year > 0 and str(year) not in text:
            text += f" ({year})"
        genres = data.catalog.genres[item]
        return text + (f", {' / '.join(genres).lower()}" if genres else "")

    def history(self, user: int, exclude_item: int = -1) -> tuple[np.ndarray, np.ndarray]:
        """Training history of a user, newest first, without ``exclude_item``.

        Returns
        -------
        items : int32[h]
        ratings : float32[h]
        """
        data = self._data()
        sel = self._hist_rows[self._hist_ptr[user] : self._hist_ptr[user + 1]]
        items, ratings = data.item[sel], data.rating[sel]
        keep = items != exclude_item
        return items[keep], ratings[keep]

    def _own_row(self, user: int, item: int) -> int:
        """The training row of the pair, or -1."""
        data = self._data()
        sel = self._hist_rows[self._hist_ptr[user] : self._hist_ptr[user + 1]]
        hit = np.flatnonzero(data.item[sel] == item)
        return int(sel[hit[0]]) if len(hit) else -1

    def fields(self, user: int, item: int, task: Task | str = Task.RATING) -> PromptFields:
        """Every prompt field for one pair (ranking prompts get the profile only)."""
        data = self._data()
        assert self.knn is not None and self.knn.similarity_ is not None
        items, ratings = self.history(user, exclude_item=item)
        c = self.config
        profile = list(items[: c.n_recent])
        for j in np.argsort(-ratings, kind="stable"):
            if len(profile) >= c.n_recent + c.n_top:
                break
            if items[j] not in profile:
                profile.append(items[j])
        rated = dict(zip(items.tolist(), ratings.tolist(), strict=True))
        profile_text = ", ".join(f"{self.title(int(i))}: {_num(rated[int(i)])}" for i in profile)
        if Task(task) is Task.RANKING:
            return PromptFields(profile=profile_text or "nothing yet")
        sim = self.knn.similarity_
        nbr = sim.indices[sim.indptr[item] : sim.indptr[item + 1]]
        w = sim.data[sim.indptr[item] : sim.indptr[item + 1]]
        mine = np.isin(nbr, items)
        nbr, w = nbr[mine], w[mine]
        top = np.argsort(-w, kind="stable")[: c.n_evidence]
        evidence = ", ".join(f"{self.title(int(nbr[j]))}: {_num(rated[int(nbr[j])])}" for j in top)
        own = self._own_row(user, item)
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
        """Target text of an interaction row: rating digit, item key, or explanation."""
        data = self._data()
        task = Task(task)
        user, item, rating = int(data.user[row]), int(data.item[row]), float(data.rating[row])
        if task is Task.RATING:
            return str(int(np.clip(math.floor(rating + 0.5), 1, 5)))
        if task is Task.RANKING:
            return self.item_key(item)
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

    def records(
        self,
        task: Task | str,
        rows: np.ndarray | None = None,
        templates: str = "train",
        seed: int = 0,
    ) -> list[PromptRecord]:
        """One training / evaluation example per interaction row, template drawn at random.

        Parameters
        ----------
        task : Task
        rows : numpy.ndarray, optional
            ``int64[m]`` rows (default: the fitted training rows).
        templates : str
            ``"train"`` (default), ``"held_out"``, ``"all"`` or one template id.
        seed : int
            Seed of the template draw.
        """
        data = self._data()
        task = Task(task)
        rows = self.rows if rows is None else np.asarray(rows, dtype=np.int64)
        pool = self.select_templates(task, templates)
        pick = np.random.default_rng(seed).integers(0, len(pool), len(rows))
        out = []
        for r, k in zip(rows.tolist(), pick.tolist(), strict=True):
            u, i = int(data.user[r]), int(data.item[r])
            tpl = pool[k]
            text = tpl.render(self.fields(u, i, task))
            out.append(PromptRecord(task, tpl.id, u, i, r, text, self.target(task, r)))
        return out

    def prompts(
        self,
        task: Task | str,
        users: np.ndarray,
        items: np.ndarray | None = None,
        template: str | None = None,
    ) -> list[str]:
        """Inference prompts for pairs (rating, explanation) or users (ranking).

        Parameters
        ----------
        users : numpy.ndarray
            ``int32[B]`` user indices.
        items : numpy.ndarray, optional
            ``int32[B]`` target items (``None`` for ranking).
        template : str, optional
            Template id (default: the task's default template).
        """
        task = Task(task)
        tpl = self.registry[template] if template else self.registry.default(task)
        if items is None:
            if task is not Task.RANKING:
                raise ValueError(f"{task.value} prompts need items")
            items = np.full(len(users), -1, np.int32)
        return [
            tpl.render(self.fields(int(u), int(i), task))
            for u, i in zip(np.asarray(users).tolist(), np.asarray(items).tolist(), strict=True)
        ]


def _num(value: float) -> str:
    return f"{value:g}"
