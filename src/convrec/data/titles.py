"""Title lookup for chat: token-normalised exact and short-form matches, n-gram spotting,
partial titles and fuzzy "did you mean"."""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from rapidfuzz import fuzz, process

_ARTICLES = ("the", "a", "an", "il", "la", "le", "les", "el", "der", "die", "das")
_TRAILING_ARTICLE = re.compile(r"^(?P<body>.+?),\s*(?P<art>" + "|".join(_ARTICLES) + r")$", re.I)
_YEAR = re.compile(r"\s*\((?P<year>1[89]\d\d|20\d\d)\)\s*$")
_WORD_TOKEN = re.compile(r"\w")
_YEAR_AFTER = re.compile(r"\s*\(\s*(\d{4})\s*\)")

_CONTRACTION = re.compile(r"\s*'\s*(s|t|re|ve|ll|d|m)\b")
_BEFORE_PUNCT = re.compile(r"\s+([.,:;!?)])")
_AFTER_PAREN = re.compile(r"\(\s+")
# "3. 7 / 5": a one-digit decimal and a fraction ("1996. 5 people" stays two numbers)
_IN_NUMBER = re.compile(r"(?<=\b\d)\s*(\.)\s*(?=\d)|(?<=\d)\s*(/)\s*(?=\d)")


def tidy_text(text: str) -> str:
    """Undo a word-piece detokeniser's spacing.

    ``"it ' s great ."`` -> ``"it's great."``; ``"alien ( 1979 )"`` -> ``"alien (1979)"``;
    ``"rated 3. 7 / 5"`` -> ``"rated 3.7/5"``.
    """
    text = _CONTRACTION.sub(r"'\1", text)
    text = _IN_NUMBER.sub(lambda m: m.group(1) or m.group(2), text)
    return _AFTER_PAREN.sub("(", _BEFORE_PUNCT.sub(r"\1", text)).strip()


def split_year(title: str) -> tuple[str, int | None]:
    """``"Matrix, The (1999)"`` -> ``("Matrix, The", 1999)``; no year -> ``(title, None)``."""
    m = _YEAR.search(title)
    if m is None:
        return title.strip(), None
    return title[: m.start()].strip(), int(m.group("year"))


# a token: dotted initials ("L.A.", "E.T."), a run of letters / digits, or "&"
_TOKEN = re.compile(r"(?:[^\W\d_]\.){2,}|[^\W_]+|&")
_SPLIT_TOKEN = re.compile(r"[^\W_]+|&")
# the same word written two ways: roman numerals of sequels, small numbers in words
_SAME = {
    "&": "and", "ii": "2", "iii": "3", "iv": "4", "vi": "6", "vii": "7", "viii": "8",
    "ix": "9", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "nine": "9", "ten": "10", "mister": "mr", "doctor": "dr", "saint": "st",
}  # fmt: skip
# words a mention may leave out without naming a different title
_MINOR = frozenset({*_ARTICLES, "of", "and", "in", "on", "to", "for", "at", "from", "with", "or"})
_SHORT_SPLIT = re.compile(r"\s*(?::|\bor:|\s-\s)\s*")
_ALTERNATE = re.compile(r"\(([^()]+)\)")


@lru_cache(maxsize=1 << 16)
def norm_token(raw: str) -> str:
    """One token as the index compares it: ascii lower case, no dots, ``&`` -> ``and``,
    sequel numerals and small number words as digits (``"II"`` -> ``"2"``)."""
    text = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode().lower()
    text = text.replace(".", "") or raw.lower()
    return _SAME.get(text, text)


def tokens(text: str, split_initials: bool = False) -> list[str]:
    """Normalised tokens of ``text``: ``"L.A. Confidential"`` -> ``["la", "confidential"]``
    (``["l", "a", "confidential"]`` with ``split_initials``); apostrophes split words."""
    pattern = _SPLIT_TOKEN if split_initials else _TOKEN
    return [norm_token(m.group()) for m in pattern.finditer(text)]


def _front_article(body: str) -> str:
    """``"Godfather, The"`` -> ``"The Godfather"``."""
    m = _TRAILING_ARTICLE.match(body.strip())
    return f"{m.group('art')} {m.group('body')}" if m is not None else body


def _drop_article(words: list[str]) -> list[str]:
    return words[1:] if len(words) > 1 and words[0] in _ARTICLES else words


def normalise_title(title: str) -> str:
    """Lower-case words without punctuation, accents, year or leading / trailing article.

    ``"Matrix, The (1999)"``, ``"The Matrix"`` and ``"matrix"`` all give ``"matrix"``;
    ``"L.A. Confidential"`` and ``"la confidential"`` give ``"la confidential"``.
    """
    body, _ = split_year(title)
    return " ".join(_drop_article(tokens(_front_article(body))))


def _joined_letters(words: list[str]) -> list[str]:
    """Runs of single letters written as one word: ``m a s h`` -> ``mash``."""
    out: list[str] = []
    for single, run in itertools.groupby(words, key=lambda w: len(w) == 1 and w.isalpha()):
        group = list(run)
        out += ["".join(group)] if single and len(group) > 1 else group
    return out


def title_keys(body: str) -> set[str]:
    """Every way a title body (no year) is written when named in full: with and without its
    article, initials joined ("la") or split ("l a")."""
    body = _front_article(body)
    variants = [tokens(body)]
    if "." in body:
        variants.append(tokens(body, split_initials=True))
    keys = set()
    for words in variants:
        forms = [words, _drop_article(words)]
        if any(len(w) == 1 for w in words):
            forms.append(_joined_letters(words))
        keys |= {" ".join(form) for form in forms if form}
    return keys


def short_forms(body: str) -> set[str]:
    """Shorter names of a title: before a colon or "or:", its alternate title in brackets
    (``"Dr. Strangelove or: How I..."`` -> ``"dr strangelove"``; ``"Seven (Se7en)"`` ->
    ``"seven"``, ``"se7en"``). Forms that are only digits are left out."""
    if "(" not in body and _SHORT_SPLIT.search(body) is None:
        return set()
    body = _front_article(body)
    plain = _ALTERNATE.sub(" ", body).strip()
    forms = [*_ALTERNATE.findall(body), plain, _SHORT_SPLIT.split(plain, maxsplit=1)[0]]
    out: set[str] = set()
    for form in forms:
        if not form.strip().isdigit():
            out |= title_keys(form)
    return out - title_keys(body)


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
    """A catalog item found in text. ``score`` is 100 for an exact (normalised) match;
    ``start`` / ``end`` locate ``text`` in the searched string (-1 when not spotted)."""

    item: int
    text: str
    score: float
    start: int = -1
    end: int = -1


@dataclass
class TitleIndex:
    """Finds catalog items named in free text.

    Each title is indexed under its full forms (:func:`title_keys`) and its short forms
    (:func:`short_forms`); a mention may also name a title by some of its words
    ("shawshank") or with a typo ("star wors").

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
    _by_key: dict[str, list[int]] = field(init=False, repr=False)
    _by_short: dict[str, list[int]] = field(init=False, repr=False)
    _norms: list[str] = field(init=False, repr=False)
    _keys: list[str] = field(init=False, repr=False)
    _key_norm: list[str] = field(init=False, repr=False)
    _by_word: dict[str, set[str]] = field(init=False, repr=False)
    _max_words: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._norms = [normalise_title(t) for t in self.titles]
        self._by_norm, self._by_key, self._by_short, self._by_word = {}, {}, {}, {}
        for item, title in enumerate(self.titles):
            norm = self._norms[item]
            if not norm:
                continue
            self._by_norm.setdefault(norm, []).append(item)
            body, _ = split_year(title)
            for key in title_keys(body):
                self._by_key.setdefault(key, []).append(item)
            for key in short_forms(body):
                self._by_short.setdefault(key, []).append(item)
            split = tokens(body, split_initials=True) if "." in body else []
            for word in {*norm.split(), *split} - _MINOR:
                self._by_word.setdefault(word, set()).add(norm)
        # fuzzy matching compares with every full and short form, each naming its title
        self._keys, self._key_norm = [], []
        for table in (self._by_key, self._by_short):
            for key, items in table.items():
                if key.split(" ", 1)[0] in _ARTICLES and " " in key:
                    continue  # the same form without its article is there
                for norm in dict.fromkeys(self._norms[i] for i in items):
                    self._keys.append(key)
                    self._key_norm.append(norm)
        self._max_words = max((len(k.split()) for k in self._keys), default=1)

    def display(self, item: int) -> str:
        """The title as people write it, with its year."""
        return display_title(self.titles[item], int(self.years[item]))

    def exact(self, text: str) -> int | None:
        """The item ``text`` names in full, or by a short form only it has (its year picks
        among remakes)."""
        body, year = split_year(text)
        key = " ".join(tokens(_front_article(body)))
        items = self._by_key.get(key)
        if not items:
            items = self._by_short.get(key)
            if not items or len({self._norms[i] for i in items}) > 1:
                return None
        return self._pick(items, year)

    def _pick(self, items: list[int], year: int | None) -> int:
        if year is not None:
            dated = [i for i in items if int(self.years[i]) == year]
            if dated:
                items = dated
        return max(items, key=lambda i: (float(self.popularity[i]), -i))

    def _named(self, norm: str, year: int | None = None) -> int:
        """The item of a normalised title (remakes: by ``year``, else the most popular)."""
        return self._pick(self._by_norm[norm], year)

    def spot(self, text: str, any_case: bool = False, short: bool = False) -> list[TitleMatch]:
        """Exact title mentions anywhere in ``text``, longest first, non-overlapping.

        Single-word titles are only spotted when the word is capitalised in the
        text, so that "I like action" does not name the film "Action"; ``any_case``
        drops that rule for real titles (for model text, which an uncased vocabulary writes
        in lower case). ``short`` also spots short forms that name one title only
        ("Dr. Strangelove").
        """
        found_tokens = list(_TOKEN.finditer(text))
        words = [norm_token(m.group()) for m in found_tokens]
        taken = [False] * len(words)
        found: list[TitleMatch] = []
        for n in range(min(self._max_words, len(words)), 0, -1):
            for start in range(len(words) - n + 1):
                if any(taken[start : start + n]):
                    continue
                key = " ".join(words[start : start + n])
                first, last = found_tokens[start], found_tokens[start + n - 1]
                items = self._by_key.get(key)
                if not items and short:
                    items = self._by_short.get(key)
                    if items and len({self._norms[i] for i in items}) > 1:
                        items = None
                if not items:
                    continue
                year_match = _YEAR_AFTER.match(text, last.end())
                if n == 1 and len(key) < 3 and not ("." in first.group() or year_match):
                    continue  # "I.Q.", "Ed (1996)", but not "it"
                year = int(year_match.group(1)) if year_match else None
                end = year_match.end() if year_match else last.end()
                item = self._pick(items, year)
                if n == 1 and not first.group()[:1].isupper():
                    real = self.real is None or bool(self.real[item])
                    if not (any_case and real):
                        continue
                taken[start : start + n] = [True] * n
                piece = text[first.start() : end]
                found.append(TitleMatch(item, piece, 100.0, first.start(), end))
        return sorted(found, key=lambda m: m.start)

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

        Scores compare the whole mention with each full and short form of a title
        (typos); without ``whole``, a mention that is part of a title also scores
        ("shawshank", by rapidfuzz's ``WRatio``).
        """
        body, year = split_year(text)
        query = " ".join(_drop_article(tokens(_front_article(body))))
        if not query:
            return []
        hits = process.extract(
            query,
            self._keys,
            scorer=fuzz.ratio if whole else fuzz.WRatio,
            limit=limit * 10,
            score_cutoff=cutoff,
        )
        seen: set[str] = set()
        out: list[TitleMatch] = []
        for key, score, at in sorted(hits, key=lambda h: (-h[1], len(h[0]))):
            norm = self._key_norm[at]
            # a much shorter title only matches by containment ("m" in "matrix"): not a match
            if norm in seen or 2 * len(key) < len(query):
                continue
            seen.add(norm)
            out.append(TitleMatch(self._named(norm, year), text, float(score)))
            if len(out) == limit:
                break
        return out

    def containing(self, text: str, limit: int = 5) -> list[int]:
        """Items whose title has every word of ``text`` (small words aside), most popular
        first; ``[]`` when more than ``limit`` titles do (too vague to name one)."""
        body, year = split_year(text)
        words = [w for w in _drop_article(tokens(body)) if w not in _MINOR]
        if not words:
            return []
        sets = sorted((self._by_word.get(w, set()) for w in words), key=len)
        norms = set(sets[0]).intersection(*sets[1:])
        starting = {n for n in norms if n.startswith(" ".join(words))}
        if len(starting) == 1:  # "E.T." names "E.T. the Extra-Terrestrial" first
            norms = starting
        if not norms or len(norms) > limit:
            return []
        items = [self._named(n, year) for n in norms]
        return sorted(items, key=lambda i: (-float(self.popularity[i]), i))

    def resolve(self, text: str, cutoff: float = 86.0) -> tuple[int | None, list[int]]:
        """One mention -> ``(item, [])`` when sure, else ``(None, suggestions)``.

        Sure: named in full or by a short form, the only title that has all its words
        ("strangelove"), or a typo whose best match leads the next title by 4 points.
        Suggestions are only titles that are truly close.
        """
        item = self.exact(text)
        if item is not None:
            return item, []
        spotted = self.spot(text, short=True)
        if len(spotted) == 1 and len(spotted[0].text) * 2 >= len(text.strip()):
            return spotted[0].item, []
        within = self.containing(text)
        if len(within) == 1:
            return within[0], []
        close = self.fuzzy(text, limit=3, cutoff=75.0, whole=True)
        if (
            close
            and close[0].score >= cutoff
            and (len(close) == 1 or close[0].score - close[1].score >= 4)
        ):
            return close[0].item, []
        body, _ = split_year(text)
        words = tokens(body)
        if 2 * len([w for w in words if w not in _MINOR]) < len(words):
            within = []  # "la la land" shares only "land" with "Cop Land": not close
        suggestions = list(dict.fromkeys([*within, *(m.item for m in close)]))
        return None, suggestions[:3]
