"""Explanations rendered from facts: several phrasings, chosen per item, positive facts only;
and their delexicalised forms (slot names in place of values) that a model learns to write and
:func:`fill_slots` turns back into sentences."""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

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


SLOT = re.compile(r"\[\s*([a-z]+)\s*\]")
"""A slot in delexicalised text: ``[ta]``, with the spaces a tokenizer's decoding may add."""


def slot_values(s: Support) -> dict[str, str]:
    """The text each slot of ``s`` stands for; a slot its facts lack is absent.

    ``ta``/``tb`` the first two liked titles, ``ra``/``rb`` the user's own ratings of them
    (``"5/5"``); ``fn``/``fm`` how many people who liked ``ta`` rated the item and their mean
    (``"3.8/5"``), ``en``/``em`` the same for ``ta`` or ``tb``, ``cn`` the count alone; ``ga``
    the genres shared with ``ta``, ``gs`` those shared with ``gn`` liked titles; ``sm``/``sn``
    the item's mean and count, ``kn`` its count whatever its mean, ``kr`` its popularity rank
    (``"#9"``); ``q`` what of the request it meets; ``so``/``sp`` the source that put it
    forward and its share (``"45%"``).
    """
    out: dict[str, str] = {}
    for e, t, r in zip(s.liked[:2], ("ta", "tb"), ("ra", "rb"), strict=False):
        out[t] = e.title
        if e.user_rating is not None:
            out[r] = f"{own_rating_text(e.user_rating)}/5"
    for f, n, m in ((s.fans, "fn", "fm"), (s.fans2, "en", "em")):
        if f is not None:
            out[n], out[m] = str(f.count), f"{rating_text(f.mean)}/5"
    if s.fan_count is not None:
        out["cn"] = str(s.fan_count.count)
    if s.near_genres is not None:
        out["ga"] = genre_text(s.near_genres.genres)
    if s.genres is not None:
        out["gs"], out["gn"] = genre_text(s.genres.genres), str(s.genres.n_liked)
    if s.standing is not None:
        out["sm"], out["sn"] = f"{rating_text(s.standing.mean)}/5", str(s.standing.count)
    if s.rank is not None:
        out["kn"], out["kr"] = str(s.rank.count), f"#{s.rank.rank}"
    if s.request is not None:
        out["q"] = request_text(s.request)
    if s.source is not None:
        out["so"] = SOURCE_WORDS.get(s.source.source, s.source.source)
        out["sp"] = f"{round(100 * s.source.share)}%"
    return out


SLOT_KINDS = {
    **dict.fromkeys(("ta", "tb"), "title"),
    **dict.fromkeys(("ra", "rb"), "own rating"),
    **dict.fromkeys(("fn", "en", "cn", "gn", "sn", "kn"), "count"),
    **dict.fromkeys(("fm", "em", "sm"), "mean"),
    **dict.fromkeys(("ga", "gs"), "genres"),
    "kr": "rank",
    "q": "request",
    "so": "source",
    "sp": "share",
}
"""What each slot of :func:`slot_values` stands for."""

_WORD = re.compile(r"\[\s*[a-z]+\s*\]|[a-z']+|[^\sa-z]")
_CONTEXT = 3


def _slot_contexts(text: str) -> list[tuple[str, tuple[str, ...]]]:
    """Each slot of a delexicalised ``text`` with the three words or marks before it (the
    slots among them by kind, ``^`` before the text's start)."""
    words = ["^"] * _CONTEXT
    out = []
    for w in _WORD.findall(text.lower()):
        m = SLOT.fullmatch(w)
        if m is None:
            words.append(w)
            continue
        name = m.group(1)
        out.append((name, tuple(words[-_CONTEXT:])))
        words.append(f"<{SLOT_KINDS.get(name, name)}>")
    return out


def fill_slots(text: str, support: Support) -> str | None:
    """Delexicalised ``text`` with each slot replaced by its value from ``support`` (the
    sentence's first letter upper case); ``None`` when it names a slot the support lacks,
    keeps a stray bracket, or puts a slot where the phrasings never put one of its kind
    (a genre where a title goes: "people who liked [gs]"; :func:`slot_grammar`)."""
    grammar = slot_grammar()
    for name, context in _slot_contexts(text):
        if SLOT_KINDS.get(name) not in grammar.get(context, ()):
            return None
    values = slot_values(support)
    missing: list[str] = []

    def value(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in values:
            missing.append(name)
            return ""
        return values[name]

    out = SLOT.sub(value, text)
    if missing or "[" in out or "]" in out:
        return None
    return out[:1].upper() + out[1:]


Words = Callable[[str], str]
"""How a phrasing writes a slot: its value, or its name in brackets (``[ta]``)."""


def _slot_name(name: str) -> str:
    return f"[{name}]"


def _own(s: Support, w: Words) -> str:
    if s.liked[0].user_rating is None:
        return ""
    return f", which you rated {w('ra')}"


def _tail(s: Support, w: Words) -> str:
    return f"; it is {w('q')}, as you asked" if s.request is not None else ""


Rendered = tuple[str, tuple[Fact, ...]] | None
"""A sentence and the facts it states, or ``None`` when a phrasing lacks its facts."""

Phrase = Callable[[Support, Words], Rendered]


def _p1(s: Support, w: Words) -> Rendered:
    if not (s.liked and s.fans):
        return None
    text = (
        f"Close to {w('ta')}{_own(s, w)}: {w('fn')} people who liked it "
        f"rated this one {w('fm')} on average."
    )
    return text, (s.liked[0], s.fans)


def _p2(s: Support, w: Words) -> Rendered:
    if not (s.liked and s.fans):
        return None
    return (
        f"People who liked {w('ta')} gave it {w('fm')} on average ({w('fn')} of them rated it).",
        (s.liked[0], s.fans),
    )


def _p3(s: Support, w: Words) -> Rendered:
    if not (len(s.liked) > 1 and s.fans2):
        return None
    return (
        f"You liked {w('ta')} and {w('tb')}; {w('en')} people who liked either rated it {w('em')}.",
        (s.liked[0], s.liked[1], s.fans2),
    )


def _p4(s: Support, w: Words) -> Rendered:
    if not (s.liked and s.near_genres and s.standing):
        return None
    return (
        f"It shares {w('ga')} with {w('ta')}{_own(s, w)}, and averages "
        f"{w('sm')} over {w('sn')} ratings.",
        (s.liked[0], s.near_genres, s.standing),
    )


def _p5(s: Support, w: Words) -> Rendered:
    if not (s.liked and s.standing):
        return None
    return (
        f"Its closest match among the titles you liked is {w('ta')}{_own(s, w)}; "
        f"{w('sn')} people rated this one {w('sm')} on average.",
        (s.liked[0], s.standing),
    )


def _p6(s: Support, w: Words) -> Rendered:
    if not (s.liked and s.near_genres and s.fans):
        return None
    return (
        f"If you enjoyed {w('ta')}, try this {w('ga')} pick: its fans "
        f"rate this one {w('fm')} ({w('fn')} of them).",
        (s.liked[0], s.near_genres, s.fans),
    )


def _p7(s: Support, w: Words) -> Rendered:
    if not (len(s.liked) > 1 and s.standing):
        return None
    return (
        f"Picked for your liking {w('ta')} and {w('tb')}; it averages "
        f"{w('sm')} from {w('sn')} ratings.",
        (s.liked[0], s.liked[1], s.standing),
    )


def _p8(s: Support, w: Words) -> Rendered:
    if not s.liked:
        return None
    a = s.liked[0]
    if s.near_genres is not None:
        return f"Like {w('ta')}{_own(s, w)}, it is {w('ga')}.", (a, s.near_genres)
    mine = f"You liked {w('ta')}" if a.user_rating is None else f"You rated {w('ta')} {w('ra')}"
    return f"{mine}, and people who chose it often chose this one too.", (a,)


def _p9(s: Support, w: Words) -> Rendered:
    if not (s.liked and s.fan_count):
        return None
    text = f"Close to {w('ta')}{_own(s, w)}: {w('cn')} people who liked it have rated this one."
    return text, (s.liked[0], s.fan_count)


def _p10(s: Support, w: Words) -> Rendered:
    if len(s.liked) < 2:
        return None
    text = f"Of the titles you liked, {w('ta')} and {w('tb')} are closest to it."
    return text, (s.liked[0], s.liked[1])


def _p11(s: Support, w: Words) -> Rendered:
    if not (s.liked and s.rank):
        return None
    return f"Close to {w('ta')}{_own(s, w)}; {w('kn')} people have rated it.", (s.liked[0], s.rank)


PERSONAL: tuple[Phrase, ...] = (_p1, _p2, _p3, _p4, _p5, _p6, _p7)
"""Phrasings that cite the user's own liked titles and facts that speak for the item."""

FALLBACK: tuple[Phrase, ...] = (_p8, _p9, _p10, _p11)
"""Phrasings that cite liked titles with neutral facts (when :data:`PERSONAL` has none left)."""


def _with_request(s: Support, *facts: Fact) -> tuple[Fact, ...]:
    return facts if s.request is None else (*facts, s.request)


def _q1(s: Support, w: Words) -> Rendered:
    if not s.standing:
        return None
    return f"{w('sm')} from {w('sn')} ratings{_tail(s, w)}.", _with_request(s, s.standing)


def _q2(s: Support, w: Words) -> Rendered:
    if not s.standing:
        return None
    text = f"Rated {w('sm')} on average by {w('sn')} people{_tail(s, w)}."
    return text, _with_request(s, s.standing)


def _q3(s: Support, w: Words) -> Rendered:
    if not (s.genres and s.standing):
        return None
    return (
        f"It shares {w('gs')} with {w('gn')} of the titles you liked, and "
        f"averages {w('sm')} over {w('sn')} ratings.",
        (s.genres, s.standing),
    )


def _q4(s: Support, w: Words) -> Rendered:
    if not s.genres:
        return None
    words = w("gs")
    text = f"{words[:1].upper()}{words[1:]}, like {w('gn')} of the titles you liked{_tail(s, w)}."
    return text, _with_request(s, s.genres)


def _q5(s: Support, w: Words) -> Rendered:
    if not s.rank or s.rank.rank > 100:
        return None
    text = f"The {w('kr')} most rated title here, with {w('kn')} ratings{_tail(s, w)}."
    return text, _with_request(s, s.rank)


def _q6(s: Support, w: Words) -> Rendered:
    if not s.request:
        return None
    return f"It is {w('q')}, as you asked.", (s.request,)


def _q7(s: Support, w: Words) -> Rendered:
    if not s.source:
        return None
    return f"{w('so')} put it forward: {w('sp')} of its score.", (s.source,)


def _q8(s: Support, w: Words) -> Rendered:
    if not s.rank:
        return None
    return f"{w('kn')} people have rated it{_tail(s, w)}.", (s.rank,)


GENERAL: tuple[Phrase, ...] = (_q1, _q2, _q3, _q4, _q5)
"""Phrasings for an item nothing personal supports (``_q6``, ``_q7``, ``_q8`` are the last
resorts)."""


def seed_of(key: str) -> int:
    """A stable seed from an item id (or any text): CRC-32."""
    return zlib.crc32(key.encode())


def render(
    support: Support, key: str, used: set[str] | None = None, slots: bool = False
) -> tuple[str, tuple[Fact, ...]] | None:
    """One explanation of an item from its positive facts, or ``None`` when it has none.

    The phrasing is drawn deterministically from ``key`` (the item id) among those its
    facts allow, personal ones first; ``used`` (the phrasings and sentences already taken
    by the list, updated) steers it away from repeating a sentence shape within a list, and
    never repeats a sentence while another is possible. ``slots``: write each value as its
    slot name (``"Close to [ta]: ..."``, see :func:`slot_values`), the delexicalised text an
    LLM learns to write and :func:`fill_slots` turns back into this sentence.

    Returns
    -------
    (text, claims)
        The sentence and the facts it states.
    """
    used = set() if used is None else used
    seed = seed_of(key)
    w: Words = _slot_name if slots else slot_values(support).__getitem__
    for tiers in ((PERSONAL, FALLBACK), (GENERAL,), ((_q6, _q7),), ((_q8,),)):
        ready = [
            [(p.__name__, out) for p in tier if (out := p(support, w)) is not None]
            for tier in tiers
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
            text, claims = text[:-1] + _tail(support, w) + ".", (*claims, support.request)
        return text, claims
    return None


def facts_text(facts: Sequence[Fact], positive: float, slots: bool = False) -> str:
    """The positive facts of an item as an LLM prompt shows them, e.g. ``"liked: Star Wars
    (1977) 5/5; 126 who liked Star Wars (1977) rated it 3.8/5; shares sci-fi with Star Wars
    (1977); 3.9/5 from 452 ratings; #9 most rated"`` (``"none"`` when it has none).

    ``slots``: each value as its slot name instead (``"liked: [ta] [ra]; [fn] who liked [ta]
    rated it [fm]; shares [ga] with [ta]; [sm] from [sn] ratings; [kr] most rated"``): which
    facts an item has, for a model that writes delexicalised text (:func:`render`).
    """
    s = Support.of(facts, positive)
    w: Words = _slot_name if slots else slot_values(s).__getitem__
    bits = []
    if s.liked:
        bits.append(
            "liked: "
            + ", ".join(
                w(t) + ("" if e.user_rating is None else f" {w(r)}")
                for e, t, r in zip(s.liked[:2], ("ta", "tb"), ("ra", "rb"), strict=False)
            )
        )

    def who(titles: tuple[str, ...]) -> str:  # the liked titles a fact counts from
        return " or ".join([w(t) for t in ("ta", "tb")[: len(titles)]] if slots else titles)

    if s.fans is not None:
        bits.append(f"{w('fn')} who liked {who(s.fans.liked_titles)} rated it {w('fm')}")
    if s.fans2 is not None:
        bits.append(f"{w('en')} who liked {who(s.fans2.liked_titles)} rated it {w('em')}")
    if s.fans is None and s.fan_count is not None:  # its mean is not said
        bits.append(f"{w('cn')} who liked {who(s.fan_count.liked_titles[:1])} rated it")
    if s.near_genres is not None:
        bits.append(f"shares {w('ga')} with {who(s.near_genres.liked_titles[:1])}")
    if s.genres is not None:
        bits.append(f"shares {w('gs')} with {w('gn')} liked titles")
    if s.standing is not None:
        bits.append(f"{w('sm')} from {w('sn')} ratings")
    elif s.rank is not None:
        bits.append(f"{w('kn')} ratings")
    if s.rank is not None and s.rank.rank <= 100:
        bits.append(f"{w('kr')} most rated")
    return "; ".join(bits) or "none"


@lru_cache(maxsize=1)
def slot_phrasings() -> tuple[str, ...]:
    """Every phrasing as a model with :attr:`PromptConfig.fact_slots` learns it: the
    delexicalised sentences :func:`render` writes (with and without the request's tail, the
    user's ratings, shared genres), each once."""
    a = Evidence("a", "A", 0.0, 5.0)
    b = Evidence("b", "B", 0.0, 4.0)
    fans = FanRatings(("a",), ("A",), 4.0, 10, 4.5)
    fans2 = FanRatings(("a", "b"), ("A", "B"), 4.0, 10, 4.5)
    genres = (SharedGenres(("Drama",), 1, ("a",), ("A",)), SharedGenres(("Drama",), 2))
    rest = (Standing(4.5, 10, 1), SourceShare("cf", 0.5))
    texts: dict[str, None] = {}
    for liked in ((a, b), (_unrated(a), _unrated(b))):
        for shared in (genres, ()):
            for request in ((RequestMatch(("Drama",)),), ()):
                support = Support.of((*liked, fans, fans2, *shared, *rest, *request), 0)
                for phrase in (*PERSONAL, *FALLBACK, *GENERAL, _q6, _q7, _q8):
                    out = phrase(support, _slot_name)
                    if out is None:
                        continue
                    texts[out[0]] = None
                    if request and not out[0].endswith("as you asked."):
                        texts[out[0][:-1] + _tail(support, _slot_name) + "."] = None
    return tuple(texts)


@lru_cache(maxsize=1)
def slot_grammar() -> dict[tuple[str, ...], frozenset[str]]:
    """Which kinds of slot (:data:`SLOT_KINDS`) the phrasings put after each context of
    three words or marks (:func:`slot_phrasings`): the places a delexicalised text may put
    a slot, learned from the sentences a model with :attr:`PromptConfig.fact_slots` is
    trained on."""
    grammar: dict[tuple[str, ...], set[str]] = {}
    for text in slot_phrasings():
        for name, context in _slot_contexts(text):
            grammar.setdefault(context, set()).add(SLOT_KINDS[name])
    return {k: frozenset(v) for k, v in grammar.items()}


def _unrated(e: Evidence) -> Evidence:
    return Evidence(e.item_id, e.title, e.weight, None, e.similarity)
