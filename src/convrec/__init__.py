"""convrec: a conversational recommender (public API; imports neither torch nor gradio)."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Chat": "convrec.dialogue",
    "ItemFilter": "convrec.schema",
    "Recommender": "convrec.recommender",
    "RecommenderConfig": "convrec.recommender",
    "UnknownTitleError": "convrec.recommender",
    "Recommendation": "convrec.schema",
    "ScoredItem": "convrec.schema",
    "Evidence": "convrec.schema",
    "load_dataset": "convrec.data",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    """Import the public classes on first use, so ``import convrec`` stays light."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'convrec' has no attribute {name!r}")
