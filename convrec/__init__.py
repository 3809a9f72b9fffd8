"""convrec: a conversational recommender (public API; imports neither torch nor gradio)."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
