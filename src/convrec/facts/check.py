"""FactChecker: parses an explanation (a model's or a rendered one), checks each fact it states."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from convrec.data.titles import TitleIndex
from convrec.facts.book import FactBook, Liked
from convrec.schema import (
    Evidence,
    Fact,
    FanRatings,
    RequestMatch,
    SharedGenres,
    SourceShare,
    Standing,
)

NEGATIVE = re.compile(
    r"\b(not (for|a good|your|worth|great|good)|dislik\w*|hated?|avoid|average match|"
    r"won'?t|will not|probably not|poor|bad|worst|boring|disappoint\w*|skip)\b",
    re.I,
)
"""Words by which a text argues against the item it recommends."""

_RATING = r"(\d+(?:\.\d+)?)\s*/\s*{top}\b"
_OWN = re.compile(r"\b(you rated|you gave|your rating|which you rated)\b[^.;:]*$", re.I)
_OWN_SAID = re.compile(r"\b(?:you rated|you gave)\b(?P<after>[^.;:,]*)", re.I)
"""Where a text says the user rated something: the rating itself must follow (a title, shown
as ``∎`` once titles are spotted, may come between)."""
_NUMBER = re.compile(r"(#)?(?<![\w.])(\d[\d,]*(?:\.\d+)?)(%|s\b)?")
_MODEL = re.compile(r"(?<=[A-Za-z])\s*-?\s*\d+\b")
_END = re.compile(r"[.!?]\s*$")
_DANGLING = re.compile(r"\b(and|or|the|of|a|an|to|with|by|for|from|as|is|your)\s*[.!?]\s*$", re.I)
_TOLERANCE = 0.05 + 1e-6  # a mean shown with one decimal


@dataclass(frozen=True)
class Verdict:
    """What :meth:`FactChecker.check` found.

    Attributes
    ----------
    ok : bool
        Every stated fact is true, the text speaks for the item and states at least one
        specific fact (unless vacuous text was allowed).
    reason : str
        Why not (``""`` when ``ok``).
    claims : tuple[Fact, ...]
        The facts the text states (the liked titles it names first).
    """

    ok: bool
    reason: str = ""
    claims: tuple[Fact, ...] = ()


def _plural(name: str) -> str:
    low = re.escape(name.lower())
    if low.endswith("y"):
        return rf"{low}|{low[:-1]}ies"
    return rf"{low}(?:s|es)?"


@dataclass
class FactChecker:
    """Checks the titles, ratings, counts, genres and years an explanation states.

    A text passes when it is a finished sentence that does not argue against its item,
    names only the item itself and titles the user or session liked (a liked title's
    rating, when stated as theirs, is theirs), states only ratings, counts, ranks, shares
    and years that one of the item's true facts holds (ratings to one decimal) or the
    predicted rating, names only the item's own genres, and states at least one of these.
    Names taken from reviews (items without a real title) are kinds of product, not
    citations; with ``allow_vacuous`` (review summaries) a number glued to a word names a
    model ("SN-1") rather than stating a fact.

    Parameters
    ----------
    titles : TitleIndex
    book : FactBook
        Where the item's genres, year and the liked items' titles come from.
    """

    titles: TitleIndex
    book: FactBook
    checked: int = field(default=0, init=False)
    failed: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        n = len(self.titles.titles)
        self._real = np.ones(n, bool) if self.titles.real is None else np.asarray(self.titles.real)
        top = self.book.scale[1]
        self._rating = re.compile(_RATING.format(top=f"{top:g}"))
        self._genres = [
            (g, re.compile(rf"(?<![\w-])(?:{_plural(g)})(?![\w-])", re.I))
            for g in self.book.genre_names
        ]

    @property
    def fallback_rate(self) -> float:
        """Share of checked texts that failed (and so were replaced by the rendered one)."""
        return self.failed / self.checked if self.checked else 0.0

    def check(
        self,
        text: str,
        item: int,
        liked: Liked,
        support: Sequence[Fact],
        predicted: float | None = None,
        allow_vacuous: bool = False,
        count: bool = True,
    ) -> Verdict:
        """Check ``text`` about ``item`` against its facts (``support``: every fact found for
        it, :meth:`FactBook.facts`) and the user's or session's ``liked`` items; counted in
        :attr:`checked` and :attr:`failed` unless not ``count`` (one of several candidate
        texts of an item, whose outcome the caller counts once: :meth:`tally`)."""
        verdict = self._check(text, item, liked, support, predicted, allow_vacuous)
        if count:
            self.tally(verdict.ok)
        return verdict

    def tally(self, ok: bool) -> None:
        """Count one checked explanation, failed unless ``ok``."""
        self.checked += 1
        self.failed += not ok

    def _check(
        self,
        text: str,
        item: int,
        liked: Liked,
        support: Sequence[Fact],
        predicted: float | None,
        allow_vacuous: bool,
    ) -> Verdict:
        text = text.strip()
        if not text:
            return Verdict(False, "empty")
        if not _END.search(text) or _DANGLING.search(text):
            return Verdict(False, "unfinished sentence")
        data = self.book.data
        rated = dict(zip(liked.items.tolist(), liked.ratings.tolist(), strict=True))
        cited: list[int] = []
        rest = text
        for m in self.titles.spot(text, any_case=True):
            words = [re.escape(w) for w in re.findall(r"[\w'’]+|\(\d{4}\)", m.text)]
            rest = re.sub(r"\W*".join(words), " ∎ ", rest, count=1, flags=re.I)
            if not self._real[m.item]:  # a name taken from reviews: a kind of product
                continue
            year = re.search(r"\((\d{4})\)", m.text)
            if year is not None and int(year.group(1)) != int(data.catalog.year[m.item]):
                return Verdict(False, f"wrong year for {m.text}")
            if m.item != item:
                if m.item in cited:
                    return Verdict(False, f"names {self.titles.display(m.item)} twice")
                if m.item not in rated:
                    return Verdict(False, f"names {self.titles.display(m.item)}, not a liked title")
                cited.append(m.item)
        if NEGATIVE.search(rest):  # titles left out: "Bad Moon" says nothing against it
            return Verdict(False, "argues against the item")
        for said in _OWN_SAID.finditer(rest):  # "which you rated 321 people...": no rating
            if not self._rating.match(re.sub(r"^\s*(∎\s*)?", "", said.group("after"))):
                return Verdict(False, "says you rated it but not how")
        found: list[Fact] = []
        liked_facts = {f.item_id: f for f in support if isinstance(f, Evidence)}
        for i in dict.fromkeys(cited):
            item_id = data.items.external[i]
            r = rated[i]
            found.append(
                liked_facts.get(item_id)
                or Evidence(item_id, self.titles.display(i), 0.0, None if np.isnan(r) else r)
            )
        specific = len(found)
        positive = self.book.positive
        means = [f for f in support if isinstance(f, FanRatings | Standing) and f.mean >= positive]
        for said in list(self._rating.finditer(rest)):
            value = float(said.group(1))
            before = rest[: said.start()]
            if _OWN.search(before[-60:]):
                own = [rated[i] for i in cited if not np.isnan(rated[i])]
                if not any(abs(value - r) < 1e-6 for r in own):
                    return Verdict(False, f"misquotes a rating of yours ({said.group(0)})")
            else:
                hit = [f for f in means if abs(f.mean - value) <= _TOLERANCE]
                if not hit and (predicted is None or abs(predicted - value) > _TOLERANCE):
                    return Verdict(False, f"no fact rates it {said.group(0)}")
                if len(hit) > 1:  # two means that round alike: the one whose count is said
                    counts = {int(n) for n in re.findall(r"(?<![\d.])\d+(?![\d.])", rest)}
                    hit = [f for f in hit if f.count in counts] or hit
                found += hit
            specific += 1
        rest = self._rating.sub(" ", rest)
        if allow_vacuous:  # review words: "SN-1", "G-7" name models, they state no fact
            rest = _MODEL.sub(" ", rest)
        for said in _NUMBER.finditer(rest):
            fact = self._number(said, item, support)
            if fact is None:
                return Verdict(False, f"no fact states {said.group(0)}")
            found.append(fact)
            specific += 1
        mine = set(data.catalog.genres[item])
        for g, pattern in self._genres:
            if pattern.search(rest):
                if g not in mine:
                    return Verdict(False, f"{g} is not its genre")
                specific += 1
                found += [
                    f
                    for f in support
                    if isinstance(f, SharedGenres | RequestMatch) and g in f.genres
                ]
        if not specific and not allow_vacuous:
            return Verdict(False, "states no specific fact")
        return Verdict(True, "", tuple(dict.fromkeys(found)))

    def _number(self, m: re.Match[str], item: int, support: Sequence[Fact]) -> Fact | None:
        """The fact that states the integer ``m`` (a count, ``#rank``, ``share%``, a year or
        its decade, ``1990s``)."""
        raw = m.group(2).replace(",", "")
        if "." in raw:
            return None
        value = int(raw)
        year = int(self.book.data.catalog.year[item])
        if m.group(3) == "s":
            return RequestMatch(year=year) if year > 0 and value <= year < value + 10 else None
        for f in support:
            if m.group(1):  # "#12": a popularity rank
                if isinstance(f, Standing) and f.rank == value:
                    return f
            elif m.group(3):  # "85%": a source's share
                if isinstance(f, SourceShare) and round(100 * f.share) == value:
                    return f
            elif _counts(f, value):
                return f
        if not m.group(1) and not m.group(3) and value == year and year > 0:
            return RequestMatch(year=year)
        return None


def _counts(f: Fact, value: int) -> bool:
    """Whether ``f`` states the plain integer ``value``: a count, a number of liked titles
    or a year."""
    if isinstance(f, Standing | FanRatings):
        return f.count == value
    if isinstance(f, SharedGenres):
        return f.n_liked == value
    if isinstance(f, RequestMatch):
        return value in (f.year, f.year_min, f.year_max)
    return False
