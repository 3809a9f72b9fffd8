"""Explanation floors of protocol C: the best constant train sentence and same-item retrieval."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from convrec.data.dataset import Dataset


def _words(text: str) -> list[str]:
    return text.lower().split()


def _frequent_summaries(data: Dataset, rows: np.ndarray) -> list[str]:
    """Training summaries, most frequent first (ties: first seen), lower-cased and trimmed."""
    if data.summary is None:
        raise ValueError(f"{data.name} has no review summaries to learn explanations from")
    counts = Counter(" ".join(_words(data.summary[r])) for r in rows)
    counts.pop("", None)
    return [s for s, _ in counts.most_common()]


@dataclass
class ConstantSentence:
    """Answers every (user, item) with the same training summary.

    Parameters
    ----------
    rank
        Which summary, by training frequency (0 = the most frequent). The
        evaluation grid searches it on validation, giving "the best constant
        sentence from train".
    """

    rank: int = 0
    sentence_: str = field(default="", init=False)

    def fit(self, data: Dataset, rows: np.ndarray) -> ConstantSentence:
        """Fit on interaction ``rows`` (``int64[m]``) of ``data``."""
        frequent = _frequent_summaries(data, rows)
        if not frequent:
            raise ValueError("no non-empty summary in the training rows")
        self.sentence_ = frequent[min(self.rank, len(frequent) - 1)]
        return self

    def explain(self, users: np.ndarray, items: np.ndarray) -> list[str]:
        """One explanation per ``int32[n]`` (user, item) pair."""
        return [self.sentence_] * len(users)


@dataclass
class SameItemRetrieval:
    """Answers with the training summary of the same item nearest to the user's own wording.

    Among the item's training summaries, the one sharing the most words with
    the user's training summaries wins (ties: the more frequent summary of the
    item, then the earlier one). An item with no training summary gets the
    most frequent training summary overall. Only training rows are read, so
    the test review never leaks in.
    """

    by_item_: dict[int, list[str]] = field(default_factory=dict, init=False)
    user_words_: dict[int, Counter[str]] = field(default_factory=dict, init=False)
    fallback_: str = field(default="", init=False)

    def fit(self, data: Dataset, rows: np.ndarray) -> SameItemRetrieval:
        """Fit on interaction ``rows`` (``int64[m]``) of ``data``."""
        frequent = _frequent_summaries(data, rows)
        self.fallback_ = frequent[0] if frequent else ""
        assert data.summary is not None
        self.by_item_, self.user_words_ = {}, {}
        for r in rows:
            text = " ".join(_words(data.summary[r]))
            if not text:
                continue
            self.by_item_.setdefault(int(data.item[r]), []).append(text)
            self.user_words_.setdefault(int(data.user[r]), Counter()).update(set(text.split()))
        return self

    def explain(self, users: np.ndarray, items: np.ndarray) -> list[str]:
        """One explanation per ``int32[n]`` (user, item) pair."""
        out = []
        for u, i in zip(users.tolist(), items.tolist(), strict=True):
            candidates = self.by_item_.get(i)
            if not candidates:
                out.append(self.fallback_)
                continue
            profile = self.user_words_.get(u, Counter())
            freq = Counter(candidates)
            best = max(
                range(len(candidates)),
                key=lambda k: (
                    sum(profile[w] for w in set(candidates[k].split())),
                    freq[candidates[k]],
                    -k,
                ),
            )
            out.append(candidates[best])
        return out
