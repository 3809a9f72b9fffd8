"""Explanations rendered from facts: several phrasings, chosen per item, positive facts only."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from convrec.schema import (
    Evidence,
    Fact,
    FanRatings,
    RequestMatch,
    SharedGenres,
    SourceShare,
    Standing,
)

SOURCE_WORDS = {"cf": "Collaborative filtering", "llm": "The language model", "cbf": "Its content"}
"""How a fused source is named when a sentence opens with it."""


def rating_text(value: float) -> str:
    """A mean rating as explanations state it: one decimal (``4.3``)."""
    return f"{value:.1f}"


def own_rating_text(value: float) -> str:
    """A user's own rating: ``5`` or ``4.5``."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def genre_text(genres: Iterable[str]) -> str:
    """``("Sci-Fi", "War")`` -> ``"sci-fi and war"``."""
    words = [g.lower() for g in genres]
    return " and ".join(words) if len(words) < 3 else ", ".join(words[:-1]) + " and " + words[-1]


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def request_text(r: RequestMatch) -> str:
    """What of the request an item meets: ``"a comedy pick from 1995"``, ``"from 1995"``...
    (genre names are often adjectives: "a children's pick", "an action pick")."""
    bits = []
    if r.genres:
        g = genre_text(r.genres[:1])
        bits.append(f"{_article(g)} {g} pick")
    if r.year is not None:
        bits.append(f"from {r.year}")
    return " ".join(bits)


@dataclass(frozen=True)
class Support:
    """The positive facts of one item, sorted by kind (what the phrasings read).

    Attributes
    ----------
    liked : tuple[Evidence, ...]
        Liked history items closest to it, closest first.
    fans, fans2 : FanRatings | None
        How the people who liked ``liked[0]`` (``fans``) or either of the first two
        (``fans2``) rated it, when their mean speaks for it.
    fan_count : FanRatings | None
        How many people who liked ``liked[0]`` rated it (whatever their mean: only the count
        is said).
    near_genres, genres : SharedGenres | None
        Genres it shares with ``liked[0]``, and with the liked titles at large.
    standing : Standing | None
        Its mean and count, when the mean speaks for it.
    rank : Standing | None
        Its standing for its count and popularity rank alone (any mean).
    request : RequestMatch | None
    source : SourceShare | None
    """

    liked: tuple[Evidence, ...] = ()
    fans: FanRatings | None = None
    fans2: FanRatings | None = None
    fan_count: FanRatings | None = None
    near_genres: SharedGenres | None = None
    genres: SharedGenres | None = None
    standing: Standing | None = None
    rank: Standing | None = None
    request: RequestMatch | None = None
    source: SourceShare | None = None

    @classmethod
    def of(cls, facts: Sequence[Fact], positive: float) -> Support:
        """Sort ``facts`` by kind; fans and standing facts count only with a mean of at least
        ``positive`` (a fact that argues against the item is never stated)."""
        liked = tuple(f for f in facts if isinstance(f, Evidence))
        fans = [f for f in facts if isinstance(f, FanRatings) and f.mean >= positive]
        shared = [f for f in facts if isinstance(f, SharedGenres)]
        stand = [f for f in facts if isinstance(f, Standing)]
        req = [f for f in facts if isinstance(f, RequestMatch)]
        src = [f for f in facts if isinstance(f, SourceShare)]
        return cls(
            liked=liked,
            fans=next((f for f in fans if len(f.liked_ids) == 1), None),
            fans2=next((f for f in fans if len(f.liked_ids) == 2), None),
            fan_count=next(
                (f for f in facts if isinstance(f, FanRatings) and len(f.liked_ids) == 1), None
            ),
            near_genres=next((f for f in shared if f.liked_ids), None),
            genres=next((f for f in shared if not f.liked_ids), None),
            standing=next((f for f in stand if f.mean >= positive), None),
            rank=stand[0] if stand else None,
            request=req[0] if req else None,
            source=src[0] if src else None,
        )


def _own(e: Evidence) -> str:
    if e.user_rating is None:
        return ""
    return f", which you rated {own_rating_text(e.user_rating)}/5"


def _tail(s: Support) -> str:
    return f"; it is {request_text(s.request)}, as you asked" if s.request is not None else ""


Rendered = tuple[str, tuple[Fact, ...]] | None
"""A sentence and the facts it states, or ``None`` when a phrasing lacks its facts."""

Phrase = Callable[[Support], Rendered]


def _p1(s: Support) -> Rendered:
    if not (s.liked and s.fans):
        return None
    a, f = s.liked[0], s.fans
    text = (
        f"Close to {a.title}{_own(a)}: {f.count} people who liked it "
        f"rated this one {rating_text(f.mean)}/5 on average."
    )
    return text, (a, f)


def _p2(s: Support) -> Rendered:
    if not (s.liked and s.fans):
        return None
    a, f = s.liked[0], s.fans
    return (
        f"People who liked {a.title} gave it {rating_text(f.mean)}/5 on average "
        f"({f.count} of them rated it).",
        (a, f),
    )


def _p3(s: Support) -> Rendered:
    if not (len(s.liked) > 1 and s.fans2):
        return None
    a, b, f = s.liked[0], s.liked[1], s.fans2
    return (
        f"You liked {a.title} and {b.title}; {f.count} people who liked either "
        f"rated it {rating_text(f.mean)}/5.",
        (a, b, f),
    )


def _p4(s: Support) -> Rendered:
    if not (s.liked and s.near_genres and s.standing):
        return None
    a, g, st = s.liked[0], s.near_genres, s.standing
    return (
        f"It shares {genre_text(g.genres)} with {a.title}{_own(a)}, and averages "
        f"{rating_text(st.mean)}/5 over {st.count} ratings.",
        (a, g, st),
    )


def _p5(s: Support) -> Rendered:
    if not (s.liked and s.standing):
        return None
    a, st = s.liked[0], s.standing
    return (
        f"Its closest match among the titles you liked is {a.title}{_own(a)}; "
        f"{st.count} people rated this one {rating_text(st.mean)}/5 on average.",
        (a, st),
    )


def _p6(s: Support) -> Rendered:
    if not (s.liked and s.near_genres and s.fans):
        return None
    a, g, f = s.liked[0], s.near_genres, s.fans
    return (
        f"If you enjoyed {a.title}, try this {genre_text(g.genres)} pick: its fans "
        f"rate this one {rating_text(f.mean)}/5 ({f.count} of them).",
        (a, g, f),
    )


def _p7(s: Support) -> Rendered:
    if not (len(s.liked) > 1 and s.standing):
        return None
    a, b, st = s.liked[0], s.liked[1], s.standing
    return (
        f"Picked for your liking {a.title} and {b.title}; it averages "
        f"{rating_text(st.mean)}/5 from {st.count} ratings.",
        (a, b, st),
    )


def _p8(s: Support) -> Rendered:
    if not s.liked:
        return None
    a = s.liked[0]
    if s.near_genres is not None:
        g = s.near_genres
        return f"Like {a.title}{_own(a)}, it is {genre_text(g.genres)}.", (a, g)
    if a.user_rating is not None:
        mine = f"You rated {a.title} {own_rating_text(a.user_rating)}/5"
    else:
        mine = f"You liked {a.title}"
    return f"{mine}, and people who chose it often chose this one too.", (a,)


def _p9(s: Support) -> Rendered:
    if not (s.liked and s.fan_count):
        return None
    a, f = s.liked[0], s.fan_count
    return f"Close to {a.title}{_own(a)}: {f.count} people who liked it have rated this one.", (
        a,
        f,
    )


def _p10(s: Support) -> Rendered:
    if len(s.liked) < 2:
        return None
    a, b = s.liked[0], s.liked[1]
    return f"Of the titles you liked, {a.title} and {b.title} are closest to it.", (a, b)


def _p11(s: Support) -> Rendered:
    if not (s.liked and s.rank):
        return None
    a, r = s.liked[0], s.rank
    return f"Close to {a.title}{_own(a)}; {r.count} people have rated it.", (a, r)


PERSONAL: tuple[Phrase, ...] = (_p1, _p2, _p3, _p4, _p5, _p6, _p7)
"""Phrasings that cite the user's own liked titles and facts that speak for the item."""

FALLBACK: tuple[Phrase, ...] = (_p8, _p9, _p10, _p11)
"""Phrasings that cite liked titles with neutral facts (when :data:`PERSONAL` has none left)."""


def _q1(s: Support) -> Rendered:
    if not s.standing:
        return None
    st = s.standing
    facts: tuple[Fact, ...] = (st,) if s.request is None else (st, s.request)
    return f"{rating_text(st.mean)}/5 from {st.count} ratings{_tail(s)}.", facts


def _q2(s: Support) -> Rendered:
    if not s.standing:
        return None
    st = s.standing
    facts: tuple[Fact, ...] = (st,) if s.request is None else (st, s.request)
    return f"Rated {rating_text(st.mean)}/5 on average by {st.count} people{_tail(s)}.", facts


def _q3(s: Support) -> Rendered:
    if not (s.genres and s.standing):
        return None
    g, st = s.genres, s.standing
    return (
        f"It shares {genre_text(g.genres)} with {g.n_liked} of the titles you liked, and "
        f"averages {rating_text(st.mean)}/5 over {st.count} ratings.",
        (g, st),
    )


def _q4(s: Support) -> Rendered:
    if not s.genres:
        return None
    g = s.genres
    facts: tuple[Fact, ...] = (g,) if s.request is None else (g, s.request)
    words = genre_text(g.genres)
    text = f"{words[:1].upper()}{words[1:]}, like {g.n_liked} of the titles you liked{_tail(s)}."
    return text, facts


def _q5(s: Support) -> Rendered:
    if not s.rank or s.rank.rank > 100:
        return None
    r = s.rank
    facts: tuple[Fact, ...] = (r,) if s.request is None else (r, s.request)
    return f"The #{r.rank} most rated title here, with {r.count} ratings{_tail(s)}.", facts


def _q6(s: Support) -> Rendered:
    if not s.request:
        return None
    return f"It is {request_text(s.request)}, as you asked.", (s.request,)


def _q7(s: Support) -> Rendered:
    if not s.source:
        return None
    src = s.source
    who = SOURCE_WORDS.get(src.source, src.source)
    return f"{who} put it forward: {round(100 * src.share)}% of its score.", (src,)


def _q8(s: Support) -> Rendered:
    if not s.rank:
        return None
    return f"{s.rank.count} people have rated it{_tail(s)}.", (s.rank,)


GENERAL: tuple[Phrase, ...] = (_q1, _q2, _q3, _q4, _q5)
"""Phrasings for an item nothing personal supports (``_q6``, ``_q7``, ``_q8`` are the last
resorts)."""


def seed_of(key: str) -> int:
    """A stable seed from an item id (or any text): CRC-32."""
    return zlib.crc32(key.encode())


def render(
    support: Support, key: str, used: set[str] | None = None
) -> tuple[str, tuple[Fact, ...]] | None:
    """One explanation of an item from its positive facts, or ``None`` when it has none.

    The phrasing is drawn deterministically from ``key`` (the item id) among those its
    facts allow, personal ones first; ``used`` (the phrasings and sentences already taken
    by the list, updated) steers it away from repeating a sentence shape within a list, and
    never repeats a sentence while another is possible.

    Returns
    -------
    (text, claims)
        The sentence and the facts it states.
    """
    used = set() if used is None else used
    seed = seed_of(key)
    for tiers in ((PERSONAL, FALLBACK), (GENERAL,), ((_q6, _q7),), ((_q8,),)):
        ready = [
            [(p.__name__, out) for p in tier if (out := p(support)) is not None] for tier in tiers
        ]
        if not any(ready):
            continue
        order = []  # phrasings new to the list first, each tier rotated by the seed
        for fresh in (True, False):
            for r in ready:
                mine = [(n, o) for n, o in r if (n not in used) == fresh]
                if mine:
                    k = seed % len(mine)
                    order += mine[k:] + mine[:k]
        name, (text, claims) = next(((n, o) for n, o in order if o[0] not in used), order[0])
        used |= {name, text}
        if support.request is not None and support.request not in claims:
            text, claims = text[:-1] + _tail(support) + ".", (*claims, support.request)
        return text, claims
    return None


def facts_text(facts: Sequence[Fact], positive: float) -> str:
    """The positive facts of an item as an LLM prompt shows them, e.g. ``"liked: Star Wars
    (1977) 5/5; 126 who liked Star Wars (1977) rated it 3.8/5; shares sci-fi with Star Wars
    (1977); 3.9/5 from 452 ratings, #9 most rated"`` (``"none"`` when it has none)."""
    s = Support.of(facts, positive)
    bits = []
    if s.liked:
        bits.append(
            "liked: "
            + ", ".join(
                e.title + ("" if e.user_rating is None else f" {own_rating_text(e.user_rating)}/5")
                for e in s.liked
            )
        )
    for f in (s.fans, s.fans2):
        if f is not None:
            who = " or ".join(f.liked_titles)
            bits.append(f"{f.count} who liked {who} rated it {rating_text(f.mean)}/5")
    if s.fans is None and s.fan_count is not None:  # its mean is not said
        bits.append(f"{s.fan_count.count} who liked {s.fan_count.liked_titles[0]} rated it")
    for g in (s.near_genres, s.genres):
        if g is not None:
            with_ = g.liked_titles[0] if g.liked_titles else f"{g.n_liked} liked titles"
            bits.append(f"shares {genre_text(g.genres)} with {with_}")
    if s.standing is not None:
        bits.append(f"{rating_text(s.standing.mean)}/5 from {s.standing.count} ratings")
    elif s.rank is not None:
        bits.append(f"{s.rank.count} ratings")
    if s.rank is not None and s.rank.rank <= 100:
        bits.append(f"#{s.rank.rank} most rated")
    return "; ".join(bits) or "none"
