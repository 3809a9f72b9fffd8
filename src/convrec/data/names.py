"""Item names for review data without titles (Amazon reviews without metadata), from the reviews."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import replace

import numpy as np

from convrec.data.dataset import Dataset

NAMED_FROM_REVIEWS = "Named from its reviews"
"""How the catalog text of an item named by :func:`with_review_names` starts."""

_WORD = re.compile(r"[a-z][a-z0-9'-]*[a-z0-9]|[a-z]")
# function words, and words that praise or judge rather than say what the item is
_STOP_TEXT = """
    a about after again all also am an and any are as at be been before being but by can
    can't could did didn't do does doesn't don't for from get gets got had has have he her
    here his how i i'd i'll i'm i've if in into is isn't it it's its just me more most my no
    not now of off on one only or other our out over so some than that the their them then
    there these they this those to too up us very was wasn't we well were what when which
    while who will with won't would you your yet
    amazing awesome bad best better big bit bought buy buying cheap cheaper decent deal
    described does doing easy excellent expected fantastic fine five four good great happy
    highly item items job just lot love loved makes money need needed new nice ok okay one
    perfect perfectly pretty price priced problem problems product products quality really
    recommend review say solid star stars sure terrible thing things three time times two
    use used uses using value want way well work worked working works worth wrong go going
    first little much many make made look looks feel feels like likes liked year years day
    days purchase purchased order ordered arrived received shipping works great exactly
    will still even though much lot lots enough every also back right long
"""
STOPWORDS = frozenset(_STOP_TEXT.split())
"""Words never used in a name (function words and judgements such as "great")."""


def review_names(
    data: Dataset,
    rows: np.ndarray | None = None,
    min_reviews: int = 2,
    alternatives: int = 3,
) -> list[str]:
    """A short name per item: the phrase its reviews use most that other items' reviews don't.

    Each review (summary and text) counts a one- or two-word phrase once; a phrase scores
    ``reviews using it x log(n_items / items whose reviews use it)``, two-word phrases
    count double, and phrases of :data:`STOPWORDS` are skipped. Items choose in order of
    popularity (then index): each takes its best phrase used in at least ``min_reviews``
    reviews that no item took before ("Pop Filter", then "Pop Screen"), title-cased;
    when its ``alternatives`` best are all taken, the best one with the id appended
    ("Tuner (B003VWKPHC)"). An item with no such phrase keeps its external id. Names are
    unique, and ties break alphabetically, so they do not depend on hash seeds.

    Parameters
    ----------
    data
        Review data (``summary`` and / or ``review_text``).
    rows : int64[m], optional
        Interaction rows whose reviews may be read (default: all).
    min_reviews
        Reviews that must use a phrase before it can name the item.
    alternatives
        Phrases an item may fall back to when its best is taken.

    Returns
    -------
    list[str]
        One name per internal item index.
    """
    ext = list(data.items.external)
    if data.summary is None and data.review_text is None:
        return ext
    rows = np.arange(data.n_interactions) if rows is None else np.sort(np.asarray(rows, np.int64))
    per_item: list[Counter[str]] = [Counter() for _ in range(data.n_items)]
    for r in rows.tolist():
        text = " . ".join(part[r] for part in (data.summary, data.review_text) if part is not None)
        per_item[int(data.item[r])].update(_phrases(text))
    items_using = Counter(p for counts in per_item for p in counts)
    ranked: list[list[str]] = []
    for counts in per_item:
        scored = [
            (c * math.log(data.n_items / items_using[p]) * (2.0 if " " in p else 1.0), p)
            for p, c in counts.items()
            if c >= min_reviews
        ]
        ranked.append([p for _, p in sorted(scored, key=lambda sp: (-sp[0], sp[1]))[:alternatives]])
    popularity = np.bincount(data.item[rows], minlength=data.n_items)
    names = list(ext)
    taken: set[str] = set()
    for i in np.argsort(-popularity, kind="stable").tolist():  # popular items choose first
        if not ranked[i]:
            continue
        free = [p.title() for p in ranked[i] if p.title() not in taken]
        names[i] = free[0] if free else f"{ranked[i][0].title()} ({ext[i]})"
        taken.add(names[i])
    return names


def with_review_names(data: Dataset, rows: np.ndarray | None = None) -> Dataset:
    """``data`` with :func:`review_names` as titles where the catalog has none.

    An item has no title when its title is its external id (the Amazon loader without
    ``meta``). Renamed items get a catalog text starting with :data:`NAMED_FROM_REVIEWS`,
    so that a user interface can say the name is a guess. Other items are unchanged.
    """
    catalog = data.catalog
    missing = [t == e for t, e in zip(catalog.title, data.items.external, strict=True)]
    if not any(missing):
        return data
    names = review_names(data, rows)
    titles = [n if m else t for n, m, t in zip(names, missing, catalog.title, strict=True)]
    texts = [
        f"{NAMED_FROM_REVIEWS}. {t}".strip() if m and n != e else t
        for n, m, t, e in zip(names, missing, catalog.text, data.items.external, strict=True)
    ]
    return replace(data, catalog=replace(catalog, title=titles, text=texts))


def real_titles(data: Dataset) -> np.ndarray:
    """``bool[n_items]``: the item has a real title, neither its external id (Amazon reviews
    without metadata) nor a name guessed from its reviews by :func:`with_review_names`.

    Only real titles are shown to the language model, so only they can be cited by it.
    """
    catalog = data.catalog
    return np.array(
        [
            t != e and not x.startswith(NAMED_FROM_REVIEWS)
            for t, e, x in zip(catalog.title, data.items.external, catalog.text, strict=True)
        ],
        dtype=bool,
    )


def _phrases(text: str) -> set[str]:
    """Distinct one- and two-word phrases of content words (never across punctuation)."""
    out: set[str] = set()
    for chunk in re.split(r"[.!?,;:()\"/]+", text.lower()):
        words = _WORD.findall(chunk)
        for a, b in zip(words, [*words[1:], ""][: len(words)], strict=True):
            if a in STOPWORDS or a.isdigit() or len(a) < 3:
                continue
            out.add(a)
            if b and b not in STOPWORDS and not b.isdigit() and len(b) >= 3:
                out.add(f"{a} {b}")
    return out
