"""Item keywords for prompts: idf-weighted words of the training reviews, one review left out."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import scipy.sparse as sp

from convrec.data.dataset import Dataset

_WORD = re.compile(r"[a-z][a-z']{2,}")
_STOPWORDS = frozenset(
    """the and for this that with was are but not you have has had its it's they them their
    there what when which would will can could just very really all any one two also than
    then too out get got use used using from your our his her him she who how why been were
    more most much some such only other into over about after before because while these
    those here does did doing don't i've i'm it'll i'll isn't didn't doesn't well good great
    like love nice""".split()  # noqa: SIM905
)


class ItemKeywords:
    """Item x word counts of the TRAINING review texts, with idf over items.

    Parameters
    ----------
    data : Dataset
    rows : numpy.ndarray
        ``int64[m]`` training interaction rows (their reviews are read).
    n_keywords : int
        Keywords named per item; 0 (or a data set without reviews) names none.
    """

    def __init__(self, data: Dataset, rows: np.ndarray, n_keywords: int) -> None:
        self.n_keywords = n_keywords
        self._row_terms: sp.csr_matrix | None = None
        if data.review_text is None or n_keywords == 0:
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

    def text(self, item: int, own_row: int) -> str:
        """The keywords field of ``item`` (``""`` when none), the review of training row
        ``own_row`` (the target pair's own, ``-1``: none) left out."""
        if self._row_terms is None:
            return ""
        counts = self._item_terms[item].toarray().ravel()
        pos = self._row_pos.get(own_row, -1)
        if pos >= 0:
            counts = counts - self._row_terms[pos].toarray().ravel()
        score = counts * self._idf
        best = [j for j in np.argsort(-score, kind="stable")[: self.n_keywords] if score[j] > 0]
        return f"keywords: {', '.join(self._words[best])}." if best else ""
