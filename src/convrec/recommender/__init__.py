"""The Recommender and its parts: profiles, candidates and fusion, diversity, explanations."""

from convrec.data.errors import UnknownIdError
from convrec.recommender.config import FUSIONS, RecommenderConfig, UnknownTitleError
from convrec.recommender.core import Recommender
from convrec.recommender.diversity import mmr_rerank

__all__ = [
    "FUSIONS",
    "Recommender",
    "RecommenderConfig",
    "UnknownIdError",
    "UnknownTitleError",
    "mmr_rerank",
]
