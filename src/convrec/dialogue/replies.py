"""Pieces of chat replies: ranked lines, leads, item facts, dislike filtering."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from convrec.dialogue.intent import Intent
from convrec.dialogue.lines import bold, item_line, md
from convrec.dialogue.state import DialogueState
from convrec.schema import ItemFilter, ItemSummary, ScoredItem

if TYPE_CHECKING:
    from convrec.recommender import Recommender


def facts(rec: Recommender, item: int) -> list[str]:
    """Title, id (when the title was not in the data), year and genres when known, popularity."""
    info = rec.item_info(rec.item_id(item))
    out = [bold(info.title)]
    if info.named_from_reviews:
        out.append(f"item {md(info.item_id)} (its name is taken from its reviews)")
    genres = ", ".join(g for g in info.genres if g != "unknown")
    if info.year is not None or rec.year_span() is not None:
        out.append(f"year {info.year}" if info.year is not None else "year unknown")
    if genres or rec.genres():
        out.append(md(genres) or "unknown genre")
    return [*out, popularity(info)]


def acknowledge(rec: Recommender, intent: Intent) -> list[str]:
    """Short notes for the dislikes and already-seen items a message adds."""
    out = []
    if intent.disliked:
        names = md(", ".join(rec.titles.display(i) for i in intent.disliked))
        out.append(f"Noted: you didn't like {names}. I'll leave it and its closest titles out.")
    if intent.seen:
        names = md(", ".join(rec.titles.display(i) for i in intent.seen))
        out.append(f"Noted: you've already seen {names}.")
    return out


def ranked_line(rank: int, item: ScoredItem) -> str:
    """``"1. **Title** — predicted 4.2/5 — <the explanation's reason>"``."""
    rating = "" if item.predicted_rating is None else f" — predicted {item.predicted_rating:.1f}/5"
    why = "" if item.why is None else md(item.why.reason.strip())
    return f"{item_line(rank, item.title)}{rating}" + (f" — {why}" if why else "")


def lead(rec: Recommender, state: DialogueState, user: str | None) -> str:
    liked = [md(rec.titles.display(i)) for i in state.liked[-3:]]
    if user is not None and liked:
        return f"For user {md(user)}, who also likes {', '.join(liked)}"
    if user is not None:
        return f"For user {md(user)}"
    more = f" and {len(state.liked) - 3} more" if len(state.liked) > 3 else ""
    return f"Because you like {', '.join(liked)}{more}"


def describe_constraints(c: ItemFilter) -> str:
    bits = []
    if c.include_genres:
        bits.append(" or ".join(c.include_genres))
    if c.require_genres:
        bits.append(" and ".join(c.require_genres))
    if c.exclude_genres:
        bits.append("no " + ", no ".join(c.exclude_genres))
    if c.year_min is not None and c.year_max is not None:
        bits.append(f"{c.year_min}–{c.year_max}")
    elif c.year_min is not None:
        bits.append(f"from {c.year_min}")
    elif c.year_max is not None:
        bits.append(f"up to {c.year_max}")
    return f" ({md('; '.join(bits))})" if bits else ""


def user_count(rec: Recommender, user: str) -> int:
    return len(rec.user_ratings(user))


def own_rating(rec: Recommender, user: str, item: int) -> float | None:
    """The user's own (latest) rating of ``item``, or ``None``."""
    item_id = rec.item_id(item)
    own = [rating for i, rating in rec.user_ratings(user) if i == item_id]
    return own[-1] if own else None


def popularity(info: ItemSummary) -> str:
    mean = "" if info.mean_rating is None else f", mean rating {info.mean_rating:.1f}/5"
    return f"{info.n_ratings} ratings (#{info.popularity_rank} most rated{mean})"


def drop_close_to_disliked(
    rec: Recommender, items: list[ScoredItem], state: DialogueState, k: int
) -> list[ScoredItem]:
    """Items minus those closer to a disliked item than to every liked one, while ``k`` remain.

    Closeness is the recommender's item-item cosine (:meth:`Recommender.item_similarity`).
    """
    if not state.disliked:
        return items
    ids = [i.item_id for i in items]
    dis = rec.item_similarity([rec.item_id(i) for i in state.disliked], ids).max(axis=0)
    if state.liked:
        like = rec.item_similarity([rec.item_id(i) for i in state.liked], ids).max(axis=0)
    else:
        like = np.zeros(len(ids))
    kept = [it for it, d, li in zip(items, dis, like, strict=True) if not d > li]
    return kept if len(kept) >= k else items


def fold_in_basis(rec: Recommender, liked: list[int], item: int) -> str:
    """What a session's personal estimate is based on: "from the 3 titles you liked (closest:
    Star Wars (1977))", the closest by the recommender's item-item cosine."""
    n = len(liked)
    base = f"from the {n} title{'s' * (n != 1)} you liked"
    sim = rec.item_similarity([rec.item_id(i) for i in liked], [rec.item_id(item)])[:, 0]
    if not float(sim.max()) > 0.0:  # no one chose both: name what it comes from
        named = ", ".join(md(rec.titles.display(i)) for i in liked[:3])
        return f"{base} ({named}{', ...' if n > 3 else ''})"
    closest = rec.titles.display(liked[int(np.argmax(sim))])
    return f"{base} (closest: {md(closest)})"
