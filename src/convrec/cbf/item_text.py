"""Item texts for the content model: catalog fields, plus words from training reviews only."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from convrec.data.dataset import Dataset

_ARTICLE = re.compile(r"^(?P<body>.+), (?P<article>The|A|An|Les|Le|La|L'|Il|Das|Der|Die|El)$")
_YEAR_SUFFIX = re.compile(r"\s*\(\d{4}(?:-\d{4})?\)\s*$")
_WORD = re.compile(r"[a-z][a-z']+")
_STOPWORD_TEXT = """
    a about after all also am an and any are as at be been but by can could did do does for
    from get got had has have he her his how i if in into is it its i'm i've just like me more
    most my no not of on one only or other our out over so some than that the their them then
    there these they this to too up us very was we well were what when which who will with
    would you your it's don't really much great good"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def spoken_title(title: str) -> str:
    """``"Usual Suspects, The (1995)"`` -> ``"The Usual Suspects"``: the title as the encoder
    reads it, article first and without the year (:func:`convrec.data.titles.display_title`
    keeps the year for display)."""
    title = _YEAR_SUFFIX.sub("", title.strip())
    match = _ARTICLE.match(title)
    if match:
        article = match["article"]
        title = f"{article}{'' if article.endswith(chr(39)) else ' '}{match['body']}"
    return title


def catalog_texts(data: Dataset) -> list[str]:
    """One text per item from the catalog: title, year, genres / categories, free text.

    A title equal to the item's external id (review data has none) is left out.
    """
    cat = data.catalog
    texts = []
    for i, ext in enumerate(data.items.external):
        parts = []
        title = cat.title[i]
        if title and title != ext:
            year = int(cat.year[i])
            parts.append(spoken_title(title) + (f" ({year})" if year > 0 else ""))
        if cat.genres[i]:
            parts.append("Genres: " + ", ".join(cat.genres[i]))
        if cat.text[i]:
            parts.append(cat.text[i].strip())
        texts.append(". ".join(parts))
    return texts


def review_texts(
    data: Dataset,
    rows: np.ndarray,
    n_summaries: int = 8,
    n_keywords: int = 12,
    max_chars: int = 600,
) -> list[str]:
    """One text per item learned from the reviews of the interaction ``rows`` only.

    The item's most frequent training summaries (ties: the earliest first), then its most
    frequent review words that are not stopwords ("Keywords: ...", ties in alphabetical
    order, so the text and its cache key do not depend on hash seeds), cut to ``max_chars``.
    Reviews outside ``rows`` (valid / test) never reach the text. Items without a training
    review get ``""``.

    Parameters
    ----------
    rows : int64[m]
        Interaction rows the model is fitted on.
    """
    n = data.n_items
    if data.summary is None and data.review_text is None:
        return [""] * n
    rows = np.sort(np.asarray(rows, dtype=np.int64))
    summaries: list[Counter[str]] = [Counter() for _ in range(n)]
    words: list[Counter[str]] = [Counter() for _ in range(n)]
    for r in rows.tolist():
        item = int(data.item[r])
        if data.summary is not None and data.summary[r].strip():
            summaries[item][data.summary[r].strip().rstrip(".!")] += 1
        if data.review_text is not None:
            seen = set(_WORD.findall(data.review_text[r].lower())) - STOPWORDS
            words[item].update(seen)  # document frequency within the item's reviews
    texts = []
    for item in range(n):
        parts = [s for s, _ in summaries[item].most_common(n_summaries)]
        ranked = sorted(words[item].items(), key=lambda wc: (-wc[1], wc[0]))  # ties: a-z
        keywords = [w for w, _ in ranked[:n_keywords]]
        text = ". ".join(parts)
        if keywords:
            text += (". " if text else "") + "Keywords: " + ", ".join(keywords)
        texts.append(text[:max_chars])
    return texts


def item_texts(data: Dataset, rows: np.ndarray | None = None) -> list[str]:
    """The text of every item: catalog text, followed by training-review text when the data
    has reviews (then ``rows``, the fitting rows, is required)."""
    texts = catalog_texts(data)
    if data.summary is None and data.review_text is None:
        return texts
    if rows is None:
        raise ValueError("review data: item_texts needs the training rows")
    learned = review_texts(data, rows)
    return [". ".join(p for p in (a, b) if p) for a, b in zip(texts, learned, strict=True)]


def texts_key(texts: Sequence[str], encoder: str) -> str:
    """SHA-256 (hex, 24 characters) of the encoder name and the texts, in order."""
    digest = hashlib.sha256(encoder.encode("utf-8"))
    for text in texts:
        digest.update(b"\x00" + text.encode("utf-8"))
    return digest.hexdigest()[:24]
