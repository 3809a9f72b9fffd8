"""The facts behind a recommendation: computed from the ratings, rendered as explanations, and
checked in any explanation's words."""

from convrec.facts.book import FactBook, Liked
from convrec.facts.check import FactChecker, Verdict
from convrec.facts.render import Support, render

__all__ = ["FactBook", "FactChecker", "Liked", "Support", "Verdict", "render"]
