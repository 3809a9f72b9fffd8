"""Content-based (CBF) score source: sentence-encoder item embeddings vs user text profiles.

Importing this package does not import torch or transformers; the encoder loads on first use.
"""

from convrec.cbf.encoder import DEFAULT_ENCODER, SentenceEncoder, packaged_minilm_dir
from convrec.cbf.item_text import catalog_texts, item_texts, review_texts
from convrec.cbf.model import ContentModel, default_cache_dir

__all__ = [
    "DEFAULT_ENCODER",
    "ContentModel",
    "SentenceEncoder",
    "catalog_texts",
    "default_cache_dir",
    "item_texts",
    "packaged_minilm_dir",
    "review_texts",
]
