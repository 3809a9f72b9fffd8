"""Grounded explanations: the evidence template, and the check that model text cites only truth."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from convrec.data.titles import TitleIndex
from convrec.schema import Evidence, Explanation

_RATED = re.compile(r"\brated\s+(.{2,80}?)\s+(\d(?:\.\d)?)\s*(?:/\s*5|stars?|out of 5)?", re.I)


def _fmt(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def template(title: str, rating: float | None, evidence: Sequence[Evidence]) -> Explanation:
    """An explanation built only from the evidence the engine returned (always grounded).

    Parameters
    ----------
    title
        Display title of the recommended item.
    rating
        Predicted rating, or ``None``.
    evidence
        History items behind the score, strongest first; the first two are cited.
    """
    cited = tuple(evidence[:2])
    if cited:
        if any(e.user_rating is not None for e in cited):  # each item says what is known
            parts = [
                f"rated {e.title} {_fmt(e.user_rating)}/5"
                if e.user_rating is not None
                else f"chose {e.title}"
                for e in cited
            ]
            said = " and ".join(parts)
        else:
            said = "chose " + " and ".join(e.title for e in cited)
        reason = f"You {said}; people who chose those often chose {title} too."
    else:
        reason = f"{title} is one of the most popular choices that fit your request."
    return Explanation(reason, cited, "template", rating)


def template_explanation(title: str, rating: float | None, evidence: Sequence[Evidence]) -> str:
    """The text of :func:`template`."""
    return template(title, rating, evidence).text


@dataclass
class GroundingCheck:
    """Accepts a generated explanation only when every title it cites is allowed.

    A title counts as cited when the :class:`TitleIndex` spots it in the text, in any case
    (an uncased model writes single-word titles in lower case too). Allowed titles are the
    recommended item and the user's history; a "rated <title> <n>" phrase must also give
    the user's true rating. The check counts how often text fails.
    """

    titles: TitleIndex
    checked: int = field(default=0, init=False)
    failed: int = field(default=0, init=False)

    def check(
        self, text: str, allowed: Iterable[int], ratings: dict[int, float] | None = None
    ) -> bool:
        """True when ``text`` cites no item outside ``allowed`` and misquotes no rating."""
        self.checked += 1
        allowed = set(allowed)
        ok = bool(text.strip()) and all(item in allowed for item in self.cited(text))
        if ok and ratings is not None:
            for mention, value in _RATED.findall(text):
                item = self.titles.exact(mention)
                if item is not None and abs(ratings.get(item, -1.0) - float(value)) > 1e-6:
                    ok = False
        if not ok:
            self.failed += 1
        return ok

    def cited(self, text: str) -> list[int]:
        """Items whose titles ``text`` names (in any case), in the order they appear."""
        return [m.item for m in self.titles.spot(text, any_case=True)]

    @property
    def fallback_rate(self) -> float:
        """Share of checked texts that failed (and so fell back to the template)."""
        return self.failed / self.checked if self.checked else 0.0
