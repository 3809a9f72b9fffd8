"""Message -> Intent: what a chat message asks for (items, likes, constraints, questions)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum

from convrec.data.titles import TitleIndex
from convrec.schema import ItemFilter

MAX_MESSAGE_CHARS = 2000


class Act(str, Enum):
    """What a message asks the recommender to do (a message may carry several)."""

    RECOMMEND = "recommend"
    LIKE = "like"
    DISLIKE = "dislike"
    SEEN = "seen"
    MORE_LIKE = "more_like"
    WHY = "why"
    RATE = "rate"
    ABOUT = "about"
    SET_USER = "set_user"
    DOMAIN = "domain"
    RESET = "reset"
    HELP = "help"


@dataclass(frozen=True)
class Unresolved:
    """A title-like mention that matched no item, with the closest items as suggestions."""

    text: str
    suggestions: tuple[int, ...]


@dataclass(frozen=True)
class Intent:
    """Everything one message says; item fields hold internal item indices."""

    acts: tuple[Act, ...] = ()
    liked: tuple[int, ...] = ()
    disliked: tuple[int, ...] = ()
    seen: tuple[int, ...] = ()
    more_like: tuple[int, ...] = ()
    asked: tuple[int, ...] = ()
    constraints: ItemFilter = field(default_factory=ItemFilter)
    user: str | None = None
    domain: str | None = None
    k: int | None = None
    unresolved: tuple[Unresolved, ...] = ()

    def has(self, act: Act) -> bool:
        return act in self.acts


# cue patterns, matched on a lower-cased clause; order matters (first match names the clause)
_CUES: tuple[tuple[Act, re.Pattern[str]], ...] = tuple(
    (act, re.compile(pattern))
    for act, pattern in (
        (Act.WHY, r"\bwhy\b|\bexplain\b|\bhow come\b"),
        (
            Act.RATE,
            r"\b(how|what) (would|will|do|might) i (rate|score|like|think of)\b|\brate\b"
            r"|\bwould i (like|enjoy|love)\b|\bpredict",
        ),
        (
            Act.ABOUT,
            r"\btell me (more )?about\b|\bwhat(?: i|')s\b|\bwhat is\b|\binfo(?:rmation)? "
            r"(?:on|about)\b|\bdescribe\b|\bwho (?:made|directed)\b",
        ),
        (
            Act.MORE_LIKE,
            r"\b(?:more|something|anything|stuff|movies?|films?|items?|others?|ones?) "
            r"(?:just )?like\b|\bsimilar to\b|\bin the vein of\b|\balong the lines of\b",
        ),
        (
            Act.SEEN,
            r"\b(?:already|i've|ive|i have|have) (?:seen|watched|bought|own|owned|got)\b"
            r"|\bseen it\b|\bwatched it\b|\bi own\b",
        ),
        (
            Act.DISLIKE,
            r"\b(?:hate[sd]?|dislike[sd]?|didn'?t like|did not like|don'?t like|do not like"
            r"|can'?t stand|boring|awful|terrible|not a fan of|not into|no more|avoid|skip)\b",
        ),
        (
            Act.LIKE,
            r"\b(?:love[sd]?|like[sd]?|enjoy(?:ed|s)?|adore[sd]?|favou?rites?|fan of|into"
            r"|great|amazing|awesome|brilliant|good)\b",
        ),
    )
)
_RECOMMEND = re.compile(
    r"\b(?:recommend\w*|suggest\w*|what should i|give me|show me|more|another|others|list"
    r"|top \d+|any ideas|something|anything|find me|looking for|in the mood|watch|buy)\b"
)
_RESET = re.compile(
    r"^\W*(?:reset|start over|restart|clear|new (?:chat|session)|forget everything)\b"
)
_HELP = re.compile(r"^\W*(?:help|\?+|what can you do|how does this work|commands|hi|hello|hey)\W*$")
_USER = re.compile(r"\buser\s*(?:id)?\s*[#:]?\s*([a-z0-9][a-z0-9_-]*)\b", re.I)
_K = re.compile(
    r"\b(?:top|give me|show me|recommend|suggest|list)\s+(\d{1,2})\b"
    r"|\b(\d{1,2})\s+(?:more\s+)?(?:movies|films|items|recommendations|suggestions|picks|titles"
    r"|products|options)\b"
)
_NEGATION = re.compile(
    r"\b(?:no|not|without|except|nothing|avoid|exclude|skip|hate|dislike|don'?t like)"
    r"\W+(?:\w+\W+)?$"
)
_SPLIT_CLAUSES = re.compile(r"(?<=[.!?;])\s+|\s+\bbut\b\s+|\s+\bhowever\b\s+", re.I)
_SPLIT_MENTIONS = re.compile(r"\s*(?:,|\band\b|\bor\b|&|\bplus\b)\s*", re.I)
_QUOTED = re.compile(r"[\"“”']([^\"“”']{2,80})[\"“”']")
_FILLER = re.compile(
    r"^(?:\W|the film|the movie|movie|film|about|of|to|it|that|this|is|was|for|me|i|a|an|"
    r"really|very|so|too|also|much|again|did|do|you|recommend(?:ed)?|suggest(?:ed)?|pick|"
    r"on|the list|would|will|rate|like|think|score)+\b",
    re.I,
)


@dataclass
class IntentParser:
    """Parses messages against one domain's catalog.

    Parameters
    ----------
    titles
        The domain's :class:`TitleIndex`.
    genres
        The catalog's genre names (``"Sci-Fi"``, ``"Children's"``, ...).
    year_range
        ``(oldest, newest)`` release year in the catalog ("recent", "old" are relative to it).
    domains
        Domain names a user may switch to, each with the words that name it.
    """

    titles: TitleIndex
    genres: Sequence[str]
    year_range: tuple[int, int] = (1900, 2030)
    domains: Mapping[str, Sequence[str]] = field(default_factory=dict)
    _genre_words: list[tuple[re.Pattern[str], str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._genre_words = []
        for genre in self.genres:
            words = {genre.lower(), *_GENRE_SYNONYMS.get(genre.lower(), ())}
            for w in sorted(words, key=len, reverse=True):
                stem = re.escape(w).replace(r"\-", "[- ]?").replace("'", "'?")
                pattern = re.compile(rf"\b{stem}(?:s|es)?\b")
                self._genre_words.append((pattern, genre))

    def parse(self, message: str) -> Intent:
        """The :class:`Intent` of one message (never raises on any string)."""
        text = " ".join(str(message)[:MAX_MESSAGE_CHARS].split())
        low = text.lower()
        if not low or _HELP.match(low):
            return Intent(acts=(Act.HELP,))
        if _RESET.match(low):
            return Intent(acts=(Act.RESET,))
        intent = Intent()
        acts: list[Act] = []
        user = _USER.search(text)
        if user is not None:
            intent = replace(intent, user=user.group(1))
            acts.append(Act.SET_USER)
            text = (text[: user.start()] + " " + text[user.end() :]).strip()
        domain = self._domain(low)
        if domain is not None:
            name, span = domain
            intent = replace(intent, domain=name)
            acts.append(Act.DOMAIN)
            text = (text[: span[0]] + " " + text[span[1] :]).strip()
            low = text.lower()
        k = _K.search(low)
        if k is not None:
            intent = replace(intent, k=max(1, min(50, int(k.group(1) or k.group(2)))))
        slots: dict[Act, list[int]] = {a: [] for a in Act}
        unresolved: list[Unresolved] = []
        constraints = ItemFilter()
        for clause in _SPLIT_CLAUSES.split(text):
            act, items, missing, rest = self._clause(clause)
            if act is not None:
                acts.append(act)
                slots[act] += items
            unresolved += missing
            constraints = constraints.merge(self._constraints(rest, act))
        asking = {Act.WHY, Act.RATE, Act.ABOUT} & set(acts)
        if (_RECOMMEND.search(low) and not asking) or not constraints.empty:
            acts.append(Act.RECOMMEND)
        if slots[Act.MORE_LIKE] or (slots[Act.LIKE] and not acts.count(Act.WHY)):
            acts.append(Act.RECOMMEND)
        return replace(
            intent,
            acts=tuple(dict.fromkeys(acts)),
            liked=_unique(slots[Act.LIKE]),
            disliked=_unique(slots[Act.DISLIKE]),
            seen=_unique(slots[Act.SEEN]),
            more_like=_unique(slots[Act.MORE_LIKE]),
            asked=_unique(slots[Act.WHY] + slots[Act.RATE] + slots[Act.ABOUT]),
            constraints=constraints,
            unresolved=tuple(unresolved),
        )

    def _domain(self, low: str) -> tuple[str, tuple[int, int]] | None:
        """``(domain, span of the words naming it)`` for "switch to music" and the like."""
        for name, words in self.domains.items():
            for w in sorted({name, *words}, key=len, reverse=True):
                m = re.search(
                    rf"\b(?:switch|change|go|move|back|let'?s do)\b.*?\b{re.escape(w.lower())}\b",
                    low,
                )
                if m is not None:
                    return name, m.span()
        return None

    def _clause(self, clause: str) -> tuple[Act | None, list[int], list[Unresolved], str]:
        """The clause's act, the items it names, the mentions not found, the text left."""
        low = clause.lower()
        found = next(((a, m) for a, cue in _CUES if (m := cue.search(low))), None)
        act = found[0] if found else None
        items: list[int] = []
        rest = clause
        for quoted in _QUOTED.findall(clause):
            item, _ = self.titles.resolve(quoted)
            if item is not None:
                items.append(item)
                rest = rest.replace(quoted, " ")
        first_at = len(clause)
        for match in self.titles.spot(rest):
            items.append(match.item)
            at = low.find(match.text.lower())
            first_at = min(first_at, at if at >= 0 else first_at)
            rest = rest.replace(match.text, " ", 1)
        missing: list[Unresolved] = []
        if found is not None:
            # the words after the cue should name items: resolve what spotting left over
            cue_end = found[1].end()
            tail = rest[cue_end:] if len(rest) == len(clause) else _after(rest, found[1].group())
            expects_item = act in (Act.WHY, Act.RATE, Act.ABOUT) and not items
            more, missing = self._fuzzy_mentions(tail, strict=not expects_item)
            items += more
            if more or missing:
                rest = rest[: found[1].start()] if len(rest) == len(clause) else rest
        if act is None and items and _NEGATION.search(low[:first_at]):
            act = Act.DISLIKE  # "not Alien", "no Scream please"
        if act is None and items and not _RECOMMEND.search(low):
            act = Act.LIKE
        return act, items, missing, rest

    def _fuzzy_mentions(
        self, tail: str, strict: bool = False
    ) -> tuple[list[int], list[Unresolved]]:
        """Items named in comma / "and" separated text; strict skips genre and year words."""
        items: list[int] = []
        missing: list[Unresolved] = []
        for part in _SPLIT_MENTIONS.split(tail):
            mention = _FILLER.sub("", part.strip(" ?!.,:")).strip(" ?!.,:")
            if len(mention) < 3 or mention.isdigit():
                continue
            if strict and self._names_genre_or_year(mention):
                continue
            item, suggestions = self.titles.resolve(mention, cutoff=92.0 if strict else 88.0)
            if item is not None:
                items.append(item)
            elif not strict:
                missing.append(Unresolved(mention, tuple(suggestions)))
            else:  # after "I liked": only report what is close to a real title
                close = self.titles.fuzzy(mention, limit=3, cutoff=75.0, whole=True)
                if close:
                    missing.append(Unresolved(mention, tuple(m.item for m in close)))
        return items, missing

    def _names_genre_or_year(self, text: str) -> bool:
        low = text.lower()
        return any(p.search(low) for p, _ in self._genre_words) or bool(_YEARISH.search(low))

    def _constraints(self, text: str, act: Act | None) -> ItemFilter:
        low = text.lower()
        include: list[str] = []
        exclude: list[str] = []
        for pattern, genre in self._genre_words:
            for m in pattern.finditer(low):
                negated = act == Act.DISLIKE or bool(_NEGATION.search(low[: m.start()]))
                target = exclude if negated else include
                if genre not in target:
                    target.append(genre)
        include = [g for g in include if g not in exclude]
        lo, hi = _years(low, self.year_range)
        return ItemFilter(tuple(include), tuple(exclude), lo, hi)


def _after(text: str, cue: str) -> str:
    """The part of ``text`` after the first occurrence of ``cue`` (case-insensitive)."""
    at = text.lower().find(cue)
    return text[at + len(cue) :] if at >= 0 else ""


def _unique(items: Iterable[int]) -> tuple[int, ...]:
    return tuple(dict.fromkeys(items))


_GENRE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "sci-fi": ("science fiction", "scifi", "sci fi", "space"),
    "children's": ("children", "kids", "kid", "family", "childrens"),
    "film-noir": ("noir", "film noir"),
    "comedy": ("comedies", "funny", "comic", "humor", "humour"),
    "horror": ("scary", "horrors", "spooky"),
    "romance": ("romantic", "romcom", "love story", "love stories"),
    "animation": ("animated", "cartoon", "anime"),
    "documentary": ("documentaries", "docs", "doc"),
    "musical": ("musicals",),
    "thriller": ("thrilling", "suspense"),
    "mystery": ("mysteries", "whodunit", "detective"),
    "fantasy": ("magic", "fantasies"),
    "war": ("wartime", "military"),
    "crime": ("gangster", "heist", "mob", "mafia"),
    "western": ("cowboy", "cowboys"),
    "drama": ("dramas", "dramatic"),
    "action": ("action-packed",),
    "adventure": ("adventures", "adventurous"),
}

_YEARISH = re.compile(
    r"\b(?:1[89]|20)\d\d\b|\b\d0'?s\b|\brecent|\bnew(?:er)?\b|\bold(?:er)?\b|\bclassic"
)


def _years(low: str, year_range: tuple[int, int]) -> tuple[int | None, int | None]:
    """Year constraints in a lower-cased clause: decades, after / before / between, recent / old."""
    oldest, newest = year_range
    m = re.search(r"\bbetween\s+((?:1[89]|20)\d\d)\s+and\s+((?:1[89]|20)\d\d)\b", low) or re.search(
        r"\b((?:1[89]|20)\d\d)\s*(?:-|–|to|until)\s*((?:1[89]|20)\d\d)\b", low
    )
    if m:
        a, b = sorted((int(m.group(1)), int(m.group(2))))
        return a, b
    m = re.search(r"\b(?:the\s+)?(?:(1[89]|20)?(\d)0)'?s\b", low)
    if m:
        century = m.group(1)
        decade = int(m.group(2)) * 10
        start = (
            int(century) * 100 + decade
            if century
            else (1900 + decade if decade > 20 else 2000 + decade)
        )
        return start, start + 9
    lo = hi = None
    m = re.search(r"\b(after|since|from|newer than|post)\s+((?:1[89]|20)\d\d)\b", low)
    if m:
        lo = int(m.group(2)) + (1 if m.group(1) in ("after", "newer than", "post") else 0)
    m = re.search(r"\b(before|until|older than|pre|prior to|up to)\s+((?:1[89]|20)\d\d)\b", low)
    if m:
        hi = int(m.group(2)) - (
            1 if m.group(1) in ("before", "older than", "pre", "prior to") else 0
        )
    if lo is None and hi is None:
        if re.search(r"\b(?:recent|new|newer|latest|modern)\b", low):
            lo = newest - 3
        elif re.search(r"\b(?:old|older|classic|classics|vintage)\b", low):
            hi = max(oldest, newest - 30)
    return lo, hi
