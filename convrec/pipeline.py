"""The Recommender's public import path (``convrec.pipeline``); the code is in convrec.recommender.

Profile -> native CF candidates -> LLM / content scores -> native fusion -> ranked, explained list.
"""

from convrec.recommender import Recommender, RecommenderConfig, UnknownIdError, UnknownTitleError

__all__ = ["Recommender", "RecommenderConfig", "UnknownIdError", "UnknownTitleError"]
