"""Pieces of chat replies: ranked lines, leads, item facts, popular picks, dislike filtering."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np

from convrec.data.names import NAMED_FROM_REVIEWS
from convrec.dialogue.intent import Intent
from convrec.dialogue.state import DialogueState, item_line
from convrec.recommender.grounding import template_explanation
from convrec.schema import ItemFilter, ScoredItem

if TYPE_CHECKING:
    from convrec.recommender import Recommender

_RATING_SUFFIX = re.compile(r"\s*Predicted rating: [\d.]+/5\.\s*$")


def facts(rec: Recommender, item: int) -> list[str]:
    """Title, id (when the title was not in the data), year and genres when known, popularity."""
    catalog = rec.data.catalog
    item_id = rec.data.items.external[item]
    out = [f"**{rec.titles.display(item)}**"]
    if catalog.text[item].startswith(NAMED_FROM_REVIEWS):
        out.append(f"item {item_id} (its name is taken from its reviews)")
    year = int(catalog.year[item])
    genres = ", ".join(g for g in catalog.genres[item] if g != "unknown")
    if year > 0 or rec.data.catalog.year.max() > 0:
        out.append(f"year {year}" if year > 0 else "year unknown")
    if genres or any(catalog.genres):
        out.append(genres or "unknown genre")
    return [*out, popularity(rec, item)]


def acknowledge(rec: Recommender, intent: Intent) -> list[str]:
    """Short notes for the dislikes and already-seen items a message adds."""
    out = []
    if intent.disliked:
        names = ", ".join(rec.titles.display(i) for i in intent.disliked)
        out.append(f"Noted: you didn't like {names}. I'll leave it and its closest titles out.")
    if intent.seen:
        names = ", ".join(rec.titles.display(i) for i in intent.seen)
        out.append(f"Noted: you've already seen {names}.")
    return out


def ranked_line(rank: int, item: ScoredItem) -> str:
    rating = "" if item.predicted_rating is None else f" — predicted {item.predicted_rating:.1f}/5"
    why = _RATING_SUFFIX.sub("", item.explanation or "").strip()
    return f"{item_line(rank, item.title)}{rating}" + (f" — {why}" if why else "")


def lead(rec: Recommender, state: DialogueState, user: str | None) -> str:
    liked = [rec.titles.display(i) for i in state.liked[-3:]]
    if user is not None and liked:
        return f"For user {user}, who also likes {', '.join(liked)}"
    if user is not None:
        return f"For user {user}"
    more = f" and {len(state.liked) - 3} more" if len(state.liked) > 3 else ""
    return f"Because you like {', '.join(liked)}{more}"


def describe_constraints(c: ItemFilter) -> str:
    bits = []
    if c.include_genres:
        bits.append(" or ".join(c.include_genres))
    if c.exclude_genres:
        bits.append("no " + ", no ".join(c.exclude_genres))
    if c.year_min is not None and c.year_max is not None:
        bits.append(f"{c.year_min}–{c.year_max}")
    elif c.year_min is not None:
        bits.append(f"from {c.year_min}")
    elif c.year_max is not None:
        bits.append(f"up to {c.year_max}")
    return f" ({'; '.join(bits)})" if bits else ""


def user_count(rec: Recommender, user: str) -> int:
    u = rec.data.users.index(user)
    return int(np.count_nonzero(rec.data.user[rec.rows] == u))


def own_rating(rec: Recommender, user: str, item: int) -> float | None:
    u = rec.data.users.index(user)
    rows = rec.rows[(rec.data.user[rec.rows] == u) & (rec.data.item[rec.rows] == item)]
    return float(rec.data.rating[rows[-1]]) if len(rows) else None


def popularity(rec: Recommender, item: int) -> str:
    count = int(rec.popularity[item])
    rank = int(np.count_nonzero(rec.popularity > count)) + 1
    rows = rec.rows[rec.data.item[rec.rows] == item]
    mean = f", mean rating {float(rec.data.rating[rows].mean()):.1f}/5" if len(rows) else ""
    return f"{count} ratings (#{rank} most rated{mean})"


def popular_items(
    rec: Recommender, constraints: ItemFilter, blocked: set[int], n: int
) -> list[ScoredItem]:
    """The most rated items that fit the constraints (a chat with no likes yet)."""
    allowed = rec.allowed(None if constraints.empty else constraints)
    order = np.argsort(-rec.popularity, kind="stable")
    out = []
    for item in order.tolist():
        if item in blocked or (allowed is not None and not allowed[item]):
            continue
        title = rec.titles.display(item)
        rating = rec.predict_rating(None, rec.data.items.external[item])
        out.append(
            ScoredItem(
                rec.data.items.external[item],
                title,
                float(rec.popularity[item]),
                {"popularity": float(rec.popularity[item])},
                rating,
                (),
                template_explanation(title, rating, ()),
            )
        )
        if len(out) == n:
            break
    return out


def drop_close_to_disliked(
    rec: Recommender, items: list[ScoredItem], state: DialogueState, k: int
) -> list[ScoredItem]:
    """Items minus those closer to a disliked item than to every liked one, while ``k`` remain.

    Closeness is the recommender's item-item cosine (``rec.similarity``, top neighbours).
    """
    if not state.disliked:
        return items
    sim = rec.similarity
    index = [rec.data.items.index(i.item_id) for i in items]
    dis = np.asarray(sim[state.disliked][:, index].max(axis=0).todense()).ravel()
    if state.liked:
        like = np.asarray(sim[state.liked][:, index].max(axis=0).todense()).ravel()
    else:
        like = np.zeros(len(index))
    kept = [it for it, d, li in zip(items, dis, like, strict=True) if not d > li]
    return kept if len(kept) >= k else items
