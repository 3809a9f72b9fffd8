"""Title lookup for chat: normalised exact matches, n-gram spotting and fuzzy "did you mean"."""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from rapidfuzz import fuzz, process

_ARTICLES = ("the", "a", "an", "il", "la", "le", "les", "el", "der", "die", "das")
_TRAILING_ARTICLE = re.compile(r"^(?P<body>.+?),\s*(?P<art>" + "|".join(_ARTICLES) + r")$", re.I)
_YEAR = re.compile(r"\s*\((?P<year>1[89]\d\d|20\d\d)\)\s*$")
_NON_WORD = re.compile(r"[^\w]+")
_WORD_TOKEN = re.compile(r"\w")

_CONTRACTION = re.compile(r"\s*'\s*(s|t|re|ve|ll|d|m)\b")
_BEFORE_PUNCT = re.compile(r"\s+([.,:;!?)])")
_AFTER_PAREN = re.compile(r"\(\s+")


def tidy_text(text: str) -> str:
    """Undo a word-piece detokeniser's spacing.

    ``"it ' s great ."`` -> ``"it's great."``; ``"alien ( 1979 )"`` -> ``"alien (1979)"``.
    """
    text = _CONTRACTION.sub(r"'\1", text)
    return _AFTER_PAREN.sub("(", _BEFORE_PUNCT.sub(r"\1", text)).strip()


def split_year(title: str) -> tuple[str, int | None]:
    """``"Matrix, The (1999)"`` -> ``("Matrix, The", 1999)``; no year -> ``(title, None)``."""
    m = _YEAR.search(title)
    if m is None:
        return title.strip(), None
    return title[: m.start()].strip(), int(m.group("year"))


def normalise_title(title: str) -> str:
    """Lower-case words without punctuation, accents, year or leading / trailing article.

    ``"Matrix, The (1999)"``, ``"The Matrix"`` and ``"matrix"`` all give ``"matrix"``.
    """
    body, _ = split_year(title)
    m = _TRAILING_ARTICLE.match(body.strip())
    if m is not None:
        body = m.group("body")
    text = unicodedata.normalize("NFKD", body).encode("ascii", "ignore").decode()
    words = _NON_WORD.sub(" ", text.lower()).split()
    if len(words) > 1 and words[0] in _ARTICLES:
        words = words[1:]
    return " ".join(words)


def _loose_pattern(form: str) -> re.Pattern[str] | None:
    """Regex for ``form`` in any case and with any spacing around its punctuation, with an
    optional ``(year)`` after it; None when ``form`` has no word."""
    tokens = re.findall(r"\w+|[^\w\s]", form)  # words and single punctuation marks
    if not any(_WORD_TOKEN.match(t) for t in tokens):
        return None
    body = re.escape(tokens[0])
    for prev, tok in itertools.pairwise(tokens):
        words = bool(_WORD_TOKEN.match(prev) and _WORD_TOKEN.match(tok))
        body += (r"\s+" if words else r"\s*") + re.escape(tok)
    return re.compile(rf"(?<!\w){body}(?:\s*\(\s*\d{{4}}\s*\))?(?!\w)", re.IGNORECASE)


def display_title(title: str, year: int) -> str:
    """``"Matrix, The"``, 1999 -> ``"The Matrix (1999)"`` (the article moved back to the front)."""
    body, has_year = split_year(title)
    m = _TRAILING_ARTICLE.match(body)
    if m is not None:
        body = f"{m.group('art')} {m.group('body')}"
    if has_year is None and year > 0:
        return f"{body} ({year})"
    return body if has_year is None else f"{body} ({has_year})"


@dataclass(frozen=True)
class TitleMatch:
    """A catalog item found in text. ``score`` is 100 for an exact (normalised) match."""

    item: int
    text: str
    score: float


@dataclass
class TitleIndex:
    """Finds catalog items named in free text.

    Parameters
    ----------
    titles
        Title per internal item index (as in the catalog).
    years
        ``int32[n_items]`` release year, ``-1`` when unknown.
    popularity
        ``float[n_items]`` tie-break between items with the same title (remakes,
        duplicates): the more popular wins unless a year is given.
    real
        ``bool[n_items]``, optional: items whose title is real (not a name guessed from
        reviews). Only those are spotted as lower-case single words with ``any_case``: a
        guessed name is a plain word ("stand") that a model does not use as a name.
    """

    titles: Sequence[str]
    years: np.ndarray
    popularity: np.ndarray
    real: np.ndarray | None = None
    _by_norm: dict[str, list[int]] = field(init=False, repr=False)
    _norms: list[str] = field(init=False, repr=False)
    _max_words: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._norms = [normalise_title(t) for t in self.titles]
        self._by_norm = {}
        for item, norm in enumerate(self._norms):
            if norm:
                self._by_norm.setdefault(norm, []).append(item)
        self._max_words = max((len(n.split()) for n in self._norms), default=1)

    def display(self, item: int) -> str:
        """The title as people write it, with its year."""
        return display_title(self.titles[item], int(self.years[item]))

    def exact(self, text: str) -> int | None:
        """The item whose normalised title equals ``text``'s (its year picks among remakes)."""
        _, year = split_year(text)
        items = self._by_norm.get(normalise_title(text))
        if not items:
            return None
        return self._pick(items, year)

    def _pick(self, items: list[int], year: int | None) -> int:
        if year is not None:
            dated = [i for i in items if int(self.years[i]) == year]
            if dated:
                items = dated
        return max(items, key=lambda i: (float(self.popularity[i]), -i))

    def spot(self, text: str, any_case: bool = False) -> list[TitleMatch]:
        """Exact title mentions anywhere in ``text``, longest first, non-overlapping.

        Single-word titles are only spotted when the word is capitalised in the
        text, so that "I like action" does not name the film "Action"; ``any_case``
        drops that rule for real titles (for model text, which an uncased vocabulary writes
        in lower case).
        """
        raw = re.findall(r"[\w'’]+|\(\d{4}\)", text)
        words = [normalise_title(w) if not w.startswith("(") else w for w in raw]
        taken = [False] * len(words)
        found: list[tuple[int, TitleMatch]] = []
        for n in range(min(self._max_words, len(words)), 0, -1):
            for start in range(len(words) - n + 1):
                if any(taken[start : start + n]):
                    continue
                chunk = [w for w in words[start : start + n] if w]
                if not chunk or chunk[0].startswith("("):
                    continue
                norm = " ".join(chunk)
                items = self._by_norm.get(norm)
                if not items:
                    continue
                if n == 1 and len(norm) < 3:
                    continue
                year = None
                end = start + n
                if end < len(raw) and _YEAR.fullmatch(raw[end]):
                    year = int(raw[end][1:5])
                    end += 1
                item = self._pick(items, year)
                if n == 1 and not raw[start][:1].isupper():
                    real = self.real is None or bool(self.real[item])
                    if not (any_case and real):
                        continue
                for k in range(start, end):
                    taken[k] = True
                found.append((start, TitleMatch(item, " ".join(raw[start:end]), 100.0)))
        return [m for _, m in sorted(found, key=lambda x: x[0])]

    def restore(self, text: str) -> str:
        """Model text with every title it cites written as :meth:`display` writes it.

        An uncased model writes titles in lower case and in the catalogue's raw form
        ("rock, the is ..."); the result reads "The Rock (1996) is ...", first letter
        capitalised, without the spaces a word-piece detokeniser leaves before
        punctuation. Text naming no title only gets that tidying.
        """
        out = text
        for match in self.spot(text, any_case=True):
            body, _ = split_year(self.titles[match.item])
            full = self.display(match.item).replace("\\", "\\\\")  # a literal replacement
            for form in (body, display_title(body, -1), match.text):
                pattern = _loose_pattern(form)
                if pattern is None:
                    continue
                new, found = pattern.subn(full, out, count=1)
                if found:
                    out = new
                    break
        out = tidy_text(out)
        return out[:1].upper() + out[1:]

    def fuzzy(
        self, text: str, limit: int = 3, cutoff: float = 80.0, whole: bool = False
    ) -> list[TitleMatch]:
        """Closest titles to ``text``, best first, score >= ``cutoff``.

        By default a mention may be part of the title ("shawshank"); ``whole``
        compares whole titles only (typos, but no containment).
        """
        norm = normalise_title(text)
        if not norm:
            return []
        _, year = split_year(text)
        hits = process.extract(
            norm,
            self._norms,
            scorer=fuzz.ratio if whole else fuzz.WRatio,
            limit=limit * 10,
            score_cutoff=cutoff,
        )
        seen: set[str] = set()
        out: list[TitleMatch] = []
        for choice, score, _ in sorted(hits, key=lambda h: (-h[1], len(h[0]))):
            # a much shorter title only matches by containment ("m" in "matrix"): not a match
            if choice in seen or 2 * len(choice) < len(norm):
                continue
            seen.add(choice)
            out.append(TitleMatch(self._pick(self._by_norm[choice], year), text, float(score)))
            if len(out) == limit:
                break
        return out

    def resolve(self, text: str, cutoff: float = 88.0) -> tuple[int | None, list[int]]:
        """One mention -> ``(item, [])`` when sure, else ``(None, suggestions)``."""
        item = self.exact(text)
        if item is not None:
            return item, []
        spotted = self.spot(text)
        if len(spotted) == 1:
            return spotted[0].item, []
        close = self.fuzzy(text, limit=3, cutoff=60.0)
        if (
            close
            and close[0].score >= cutoff
            and (len(close) == 1 or close[0].score - close[1].score >= 3)
        ):
            return close[0].item, []
        return None, [m.item for m in close]
