"""Genre and era wishes in a clause: negation scope ("tired of romantic dramas", "nothing too
old"), eras and years, and revisions ("forget the 90s", "any genre is fine")."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from convrec.schema import ItemFilter

# words that put what follows them (up to a comma or a fresh wish) out of bounds
NEGATOR = re.compile(
    r"\b(?:no|not|never|without|except|excluding|nothing|none|avoid|skip|exclude|nor"
    r"|hate[sd]?|dislike[sd]?|don'?t|do not|doesn'?t|didn'?t|can'?t stand|cannot stand"
    r"|isn'?t|aren'?t|wasn'?t|won'?t|shouldn'?t|mustn'?t"
    r"|tired of|sick of|fed up|enough of|bored (?:of|with)|other than|besides|instead of"
    r"|rather than|less|fewer|no more|not into|not a fan of|allergic to|spare me)\b"
)
# a comma or a fresh positive wish ends a negation's scope
_SCOPE_END = re.compile(
    r"[,;:]|\b(?:but|just|only|instead|rather|prefer\w*|give me|show me|i want|i'?d like"
    r"|i would like|i (?:really )?(?:like|love|enjoy)|how about|what about|maybe|also|don'?t mind"
    r"|make it|go for)\b"
)
_FORGET = re.compile(
    r"\b(?:forget(?: about)?|never ?mind|drop|remove|ignore|scrap|lose|get rid of|cancel|undo"
    r"|clear|lift|reset|no longer (?:need|want)|don'?t care (?:about|what|which)"
    r"|(?:i )?changed my mind (?:about|on)|doesn'?t have to be|don'?t need)\b"
)
_ANY = re.compile(
    r"\b(?:any|whatever|all|every|no matter (?:the|what|which))\s+(?P<what>years?|eras?|decades?"
    r"|dates?|periods?|time|genres?|kinds?|types?|categor(?:y|ies))\b"
    r"|\b(?:the\s+)?(?P<what2>years?|eras?|decades?|dates?|genres?)\s+(?:doesn'?t|does not"
    r"|don'?t|do not)\s+matter"
)
_YEAR_WORDS = re.compile(r"\b(?:years?|eras?|decades?|dates?|periods?|time|old|new|recent)\b")
_GENRE_WORDS = re.compile(r"\b(?:genres?|kinds?|types?|categor(?:y|ies)|horror|comed)")
_ALL_FILTERS = re.compile(
    r"\b(?:filters?|constraints?|restrictions?|limits?|criteria|preferences?|conditions?)\b"
)
_COMPOUND = re.compile(r"[\s/-]*")  # between two genre words naming one kind
_ADDITIVE = re.compile(r"\b(?:also|too|as well|plus|add|additionally|in addition)\b")

_Y = r"(1[89]\d\d|20\d\d)"
_BETWEEN = re.compile(
    rf"\bbetween\s+{_Y}\s+and\s+{_Y}\b|\b{_Y}\s*(?:-|–|to|until|through)\s*{_Y}\b"
)
_DECADE = re.compile(r"\b(?:(early|mid|late)[- ]?)?(?:the\s+)?((?:1[89]|20)?\d0)'?s\b")
_AFTER = re.compile(
    rf"\b(after|since|newer than|post|later than|starting(?: from| in)?)\s+{_Y}\b"
    rf"|\b(from)\s+{_Y}\s*(?:on(?:wards?)?|forward|and (?:later|after|up|newer)|or (?:later|newer)"
    r"|\+)"
)
_BEFORE = re.compile(rf"\b(before|until|older than|pre|prior to|up to|earlier than)\s+{_Y}\b")
_SINGLE = re.compile(rf"\b{_Y}\b")
_RECENT = re.compile(r"\b(?:recent\w*|new|newer|newest|latest|modern|contemporary|current)\b")
OLD = re.compile(r"\b(?:old|older|oldies?|classics?|classical|vintage|golden age)\b")
# older than "old": the first half of the catalogue's span
_MONOCHROME = re.compile(
    r"\b(?:black[- ](?:and|&|n)[- ]white|b ?& ?w|silent (?:movie|film|era)s?)\b"
)
_DECADE_WORDS = {"twenties": 1920, "thirties": 1930, "forties": 1940, "fifties": 1950,
                 "sixties": 1960, "seventies": 1970, "eighties": 1980,
                 "nineties": 1990}  # fmt: skip
_DECADE_WORD = re.compile(rf"\b(?:(early|mid|late)[- ]?)?(?:the\s+)?({'|'.join(_DECADE_WORDS)})\b")


# other words for each genre (lower-cased catalogue names)
GENRE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "sci-fi": ("science fiction", "scifi", "sci fi", "space", "sf"),
    "children's": ("children", "kids", "kid", "family", "childrens"),
    "film-noir": ("noir", "film noir"),
    "comedy": (
        "comedies",
        "funny",
        "funnier",
        "funniest",
        "comic",
        "humor",
        "humour",
        "hilarious",
        "romcom",
        "rom-com",
    ),
    "horror": ("scary", "scarier", "horrors", "spooky", "frightening", "terrifying"),
    "romance": ("romantic", "romcom", "rom-com", "love story", "love stories"),
    "animation": ("animated", "cartoon", "anime"),
    "documentary": ("documentaries", "docs", "doc"),
    "musical": ("musicals",),
    "thriller": ("thrilling", "suspense", "suspenseful"),
    "mystery": ("mysteries", "whodunit", "detective"),
    "fantasy": ("magic", "fantasies"),
    "war": ("wartime", "military"),
    "crime": ("gangster", "heist", "mob", "mafia"),
    "western": ("cowboy", "cowboys"),
    "drama": ("dramas", "dramatic"),
    "action": ("action-packed",),
    "adventure": ("adventures", "adventurous"),
}


@dataclass(frozen=True)
class Wishes:
    """What one clause says about genres and years.

    ``forget`` holds ``"genres"``, ``"years"`` or genre names the clause takes back;
    ``additive`` is true when new genres add to the earlier ones ("comedies too").
    """

    constraints: ItemFilter
    forget: tuple[str, ...] = ()
    additive: bool = False


def negated_at(low: str, at: int) -> bool:
    """Whether position ``at`` of the lower-cased clause lies in a negation's scope."""
    scope = -1
    for m in NEGATOR.finditer(low, 0, at):
        scope = m.end()
    if scope < 0:
        return False
    return _SCOPE_END.search(low, scope, at) is None


def genre_pattern(word: str) -> re.Pattern[str]:
    """A genre word in any spacing of its hyphen, with a plural."""
    stem = re.escape(word).replace(r"\-", "[- ]?").replace("'", "'?")
    return re.compile(rf"\b{stem}(?:s|es)?\b")


@dataclass
class ClauseReader:
    """Reads genres and years in a lower-cased clause of one catalogue.

    Parameters
    ----------
    genre_words
        ``(pattern, genre)`` pairs, longest words first.
    year_range
        ``(oldest, newest)`` release year ("recent", "old" are relative to it).
    years
        ``int32[n_items]`` release years (``-1`` unknown): a negated decade keeps the side
        with more titles.
    """

    genre_words: Sequence[tuple[re.Pattern[str], str]]
    year_range: tuple[int, int]
    years: np.ndarray

    def genres_in(self, low: str) -> list[tuple[int, int, str]]:
        """``(start, end, genre)`` of each genre word, non-overlapping, in order."""
        taken: list[tuple[int, int, str]] = []
        for pattern, genre in self.genre_words:
            for m in pattern.finditer(low):
                if all(m.end() <= s or m.start() >= e or (s, e) == m.span() for s, e, _ in taken):
                    taken.append((m.start(), m.end(), genre))
        return sorted(taken)

    def names_genre_or_year(self, low: str) -> bool:
        return bool(self.genres_in(low)) or any(True for _ in self._eras(low))

    def read(self, low: str, dislike_at: int | None = None) -> Wishes:
        """The wishes in ``low``; ``dislike_at``: where the clause's dislike cue is ("horror is
        boring": genres not parted from it by a fresh wish are excluded)."""
        forget: list[str] = []
        for m in _ANY.finditer(low):
            what = m.group("what") or m.group("what2")
            forget.append("genres" if _GENRE_WORDS.match(what) else "years")
            low = low[: m.start()] + " " * (m.end() - m.start()) + low[m.end() :]
        cue = _FORGET.search(low)
        if cue is not None:
            end = _SCOPE_END.search(low, cue.end())
            stop = end.start() if end is not None else len(low)
            target = low[cue.end() : stop]
            named = [g for _, _, g in self.genres_in(target)]
            forget += named
            if any(True for _ in self._eras(target)) or _YEAR_WORDS.search(target):
                forget.append("years")
            if re.search(r"\bgenres?\b|\bkinds?\b|\btypes?\b", target):
                forget.append("genres")
            if _ALL_FILTERS.search(target):
                forget += ["genres", "years"]
            low = low[: cue.start()] + " " * (stop - cue.start()) + low[stop:]
        include: list[str] = []
        exclude: list[str] = []
        require: list[str] = []
        previous: tuple[int, str, bool] | None = None  # end, genre, negated
        for start, stop_at, genre in self.genres_in(low):
            negated = negated_at(low, start) or (
                dislike_at is not None
                and _SCOPE_END.search(low, min(start, dislike_at), max(start, dislike_at)) is None
            )
            target_list = exclude if negated else include
            if genre not in target_list:
                target_list.append(genre)
            if (
                previous is not None
                and not negated
                and not previous[2]
                and previous[1] != genre
                and _COMPOUND.fullmatch(low[previous[0] : start])
            ):  # "a romantic comedy", "sci-fi horror": one kind that is both
                require += [g for g in (previous[1], genre) if g not in require]
            previous = (stop_at, genre, negated)
        include = [g for g in include if g not in exclude and g not in require]
        lo, hi = self._years(low)
        return Wishes(
            ItemFilter(tuple(include), tuple(exclude), lo, hi, tuple(require)),
            tuple(dict.fromkeys(forget)),
            bool(_ADDITIVE.search(low)),
        )

    def _eras(self, low: str):  # type: ignore[no-untyped-def]
        """``(start, lo, hi)`` of each year phrase (``None``: open end)."""
        oldest, newest = self.year_range
        taken: list[tuple[int, int]] = []

        def free(m: re.Match[str]) -> bool:
            if any(m.start() < e and m.end() > s for s, e in taken):
                return False
            taken.append(m.span())
            return True

        for m in _BETWEEN.finditer(low):
            if free(m):
                years = sorted(int(y) for y in m.groups() if y)
                yield m.start(), years[0], years[-1]
        for m in (*_DECADE.finditer(low), *_DECADE_WORD.finditer(low)):
            if free(m):
                word = m.group(2)
                start = _DECADE_WORDS[word] if word in _DECADE_WORDS else int(word)
                start += 1900 if start < 100 and start > 20 else (2000 if start < 100 else 0)
                part = {"early": (0, 3), "mid": (3, 6), "late": (6, 9)}.get(m.group(1) or "")
                a, b = part or (0, 9)
                yield m.start(), start + a, start + b
        for m in _AFTER.finditer(low):
            if free(m):
                strict = m.group(1) in ("after", "newer than", "post", "later than")
                yield m.start(), int(m.group(2) or m.group(4)) + int(strict), None
        for m in _BEFORE.finditer(low):
            if free(m):
                strict = m.group(1) in ("before", "older than", "pre", "prior to", "earlier than")
                yield m.start(), None, int(m.group(2)) - int(strict)
        for m in _SINGLE.finditer(low):
            if free(m):
                yield m.start(), int(m.group(1)), int(m.group(1))
        for m in _RECENT.finditer(low):
            if free(m):
                yield m.start(), newest - 3, None
        for m in _MONOCHROME.finditer(low):
            if free(m):
                yield m.start(), None, (oldest + newest) // 2
        for m in OLD.finditer(low):
            if free(m):
                yield m.start(), None, max(oldest, newest - 30)

    def _years(self, low: str) -> tuple[int | None, int | None]:
        lo: int | None = None
        hi: int | None = None
        spans: list[tuple[int, int]] = []  # "the 40s or 50s": one span over both
        for start, a, b in sorted(self._eras(low), key=lambda e: e[0]):
            if negated_at(low, start):
                a, b = self._outside(a, b)
            if a is not None and b is not None:
                spans.append((a, b))
                continue
            lo = a if lo is None or (a is not None and a > lo) else lo  # "old b&w": the
            hi = b if hi is None or (b is not None and b < hi) else hi  # tighter bound
        if spans:
            a, b = min(s for s, _ in spans), max(e for _, e in spans)
            lo = a if lo is None else max(lo, a)
            hi = b if hi is None else min(hi, b)
        if lo is not None and hi is not None and lo > hi:
            return lo, None  # contradicting wishes: the later bound alone
        return lo, hi

    def _outside(self, a: int | None, b: int | None) -> tuple[int | None, int | None]:
        """The bounds that keep out ``[a, b]``: the side with more titles when both exist."""
        if a is None and b is not None:
            return b + 1, None
        if b is None and a is not None:
            return None, a - 1
        assert a is not None and b is not None
        known = self.years[self.years > 0]
        before, after = int((known < a).sum()), int((known > b).sum())
        return (b + 1, None) if after >= before else (None, a - 1)


def revise(old: ItemFilter, new: Wishes) -> ItemFilter:
    """The conversation's filter after a newer clause: forgotten parts go, a newer wish for a
    genre lifts an older exclusion of it (and the other way round), newer genres replace older
    ones unless ``additive``, and a newer era replaces the older one (a one-sided one keeps the
    other side when the two still overlap)."""
    include, exclude = list(old.include_genres), list(old.exclude_genres)
    require = list(old.require_genres)
    lo, hi = old.year_min, old.year_max
    for what in new.forget:
        if what == "genres":
            include, exclude, require = [], [], []
        elif what == "years":
            lo = hi = None
        else:
            include = [g for g in include if g != what]
            exclude = [g for g in exclude if g != what]
            require = [g for g in require if g != what]
    c = new.constraints
    if (c.include_genres or c.require_genres) and not new.additive:
        include, require = [], []
    wanted = (*c.include_genres, *c.require_genres)
    include = [g for g in include if g not in c.exclude_genres]
    require = [g for g in require if g not in c.exclude_genres]
    exclude = [g for g in exclude if g not in wanted]
    include += [g for g in c.include_genres if g not in include]
    require += [g for g in c.require_genres if g not in require]
    exclude += [g for g in c.exclude_genres if g not in exclude]
    if c.year_min is not None and c.year_max is not None:
        lo, hi = c.year_min, c.year_max
    elif c.year_min is not None:
        lo, hi = c.year_min, hi if hi is not None and hi >= c.year_min else None
    elif c.year_max is not None:
        lo, hi = lo if lo is not None and lo <= c.year_max else None, c.year_max
    return ItemFilter(tuple(include), tuple(exclude), lo, hi, tuple(require))
