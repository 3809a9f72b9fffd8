"""ContentModel: the content-based (CBF) score source, user text profile vs item text by cosine."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from convrec.cbf.encoder import _PACKAGED_NAMES, DEFAULT_ENCODER, resolve_encoder, shared_encoder
from convrec.cbf.item_text import item_texts, texts_key
from convrec.data.dataset import Dataset
from convrec.storage import NpzModel, load_npz, save_npz

WEIGHTINGS = ("positive", "signed", "uniform")


def default_cache_dir() -> Path:
    """``$CONVREC_CACHE/embeddings``, by default ``~/.cache/convrec/embeddings``."""
    root = os.environ.get("CONVREC_CACHE") or Path.home() / ".cache" / "convrec"
    return Path(root).expanduser() / "embeddings"


def _encoder_id(name: str) -> str:
    """Cache identity of an encoder: one name for the packaged MiniLM, else its resolved path."""
    return DEFAULT_ENCODER if name in _PACKAGED_NAMES else resolve_encoder(name)


def embed_items(texts: list[str], encoder: str, cache_dir: str | Path | None) -> np.ndarray:
    """``float32[n, dim]`` unit embeddings of ``texts``, read from / written to the npz cache.

    The cache file is ``<cache_dir>/<texts_key>.npz`` (plain arrays, no pickle), keyed by the
    encoder and the texts, so a second fit on the same texts does not run the encoder.
    """
    encoder_id = _encoder_id(encoder)
    path = Path(cache_dir or default_cache_dir()) / f"{texts_key(texts, encoder_id)}.npz"
    if path.is_file():
        try:
            _, params, arrays = load_npz(path, "ItemEmbeddings")
            emb = arrays["embeddings"]
            if params.get("encoder") == encoder_id and emb.shape[0] == len(texts):
                return emb.astype(np.float32, copy=False)
        except (OSError, ValueError, KeyError):
            pass  # unreadable or foreign file: embed again and overwrite it
    emb = shared_encoder(encoder).encode(texts)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_npz(path, "ItemEmbeddings", {"encoder": encoder_id}, {"embeddings": emb})
    return emb


def _normalise(rows: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(rows, axis=-1, keepdims=True)
    return (rows / np.where(norm > 0, norm, 1.0)).astype(np.float32)


@dataclass
class ContentModel(NpzModel):
    """Content-based recommender over item-text embeddings (:class:`SentenceEncoder`).

    ``fit`` embeds every item's text once (catalog title, year, genres, free text; on review
    data also the item's training summaries and review keywords, see
    :func:`~convrec.cbf.item_text.item_texts`). A user's profile is the weighted mean of the
    embeddings of the items in their training history; an item's score is the cosine of
    the profile with its embedding. Items without interactions are scored like any other.

    Parameters
    ----------
    encoder : str
        Encoder name or folder (see :class:`~convrec.cbf.encoder.SentenceEncoder`).
    weighting : {"positive", "signed", "uniform"}
        History weights: ``rating - user mean`` kept where positive (``"positive"``), kept
        with its sign (``"signed"``: disliked items push the profile away), or 1 for every
        item (``"uniform"``). A user whose weights are all zero (one rating value, implicit
        data) falls back to uniform weights.
    half_life : float
        Recency: the k-th most recent history item is weighed by ``0.5 ** (k / half_life)``
        (``k = 0`` the latest); ``0`` turns recency off.
    cache_dir : str, optional
        Embedding cache folder (default :func:`default_cache_dir`).
    """

    encoder: str = DEFAULT_ENCODER
    weighting: str = "positive"
    half_life: float = 0.0
    cache_dir: str | None = None
    item_embeddings_: np.ndarray | None = field(default=None, repr=False)
    user_profiles_: np.ndarray | None = field(default=None, repr=False)
    item_texts_: list[str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {self.weighting!r}")
        if not np.isfinite(self.half_life) or self.half_life < 0:
            raise ValueError(f"half_life must be finite and >= 0, got {self.half_life!r}")

    # -- fitting -------------------------------------------------------------------------

    def fit(self, data: Dataset, rows: np.ndarray | None = None) -> ContentModel:
        """Embed the items (cached) and build every user's profile from ``rows``.

        Parameters
        ----------
        data : Dataset
        rows : int64[m], optional
            Interaction rows to learn from (default: all); review text outside them is unused.

        Returns
        -------
        self, with ``item_embeddings_`` (``float32[n_items, dim]``), ``user_profiles_``
        (``float32[n_users, dim]``, unit rows, zero for users without rows) and ``item_texts_``.
        """
        rows = np.arange(data.n_interactions) if rows is None else np.asarray(rows, np.int64)
        texts = item_texts(data, rows)
        self.item_embeddings_ = embed_items(texts, self.encoder, self.cache_dir)
        self.item_texts_ = texts
        self.user_profiles_ = self._profiles(data, rows)
        return self

    def _profiles(self, data: Dataset, rows: np.ndarray) -> np.ndarray:
        """``float32[n_users, dim]`` unit profiles of the users of ``rows`` (zero elsewhere)."""
        embeddings = self._fitted_items()
        users = data.user[rows].astype(np.int64)
        weights = self._history_weights(users, data.rating[rows], data.timestamp[rows], rows)
        # a sparse users x items weight matrix times the embeddings: O(m * dim) time, no
        # (m, dim) temporary; repeated (user, item) pairs add up
        history = sp.csr_matrix(
            (weights, (users, data.item[rows].astype(np.int64))),
            shape=(data.n_users, embeddings.shape[0]),
        )
        return _normalise(np.asarray(history @ embeddings.astype(np.float64)))

    def _fitted_items(self) -> np.ndarray:
        if self.item_embeddings_ is None:
            raise RuntimeError("ContentModel is not fitted: call fit() or ContentModel.load()")
        return self.item_embeddings_

    def score_sessions(
        self, data: Dataset, rows: np.ndarray, users: np.ndarray, blocked: Any = None
    ) -> np.ndarray:
        """Scores for new histories without refitting: the profiles built from the
        interactions ``rows`` (``int64[m]``, weighted as in :meth:`fit`) of ``users``.
        ``blocked`` (items the caller will not recommend) changes nothing: every item is
        scored by itself.

        Returns
        -------
        float32[B, n_items]
            Cosine of each of the ``B`` users' profiles with every item.
        """
        profiles = self._profiles(data, np.asarray(rows, np.int64))
        index = np.asarray(users, np.int64)
        return np.asarray(profiles[index] @ self._fitted_items().T, dtype=np.float32)

    def _history_weights(
        self, users: np.ndarray, rating: np.ndarray, timestamp: np.ndarray, rows: np.ndarray
    ) -> np.ndarray:
        """``float64[m]`` weight of each fitting interaction (see the class docstring)."""
        m = len(users)
        n_users = int(users.max()) + 1 if m else 0
        count = np.bincount(users, minlength=n_users).astype(np.float64)
        mean = np.bincount(users, rating, minlength=n_users) / np.maximum(count, 1)
        centred = rating.astype(np.float64) - mean[users]
        if self.weighting == "positive":
            weights = np.maximum(centred, 0.0)
        elif self.weighting == "signed":
            weights = centred
        else:
            weights = np.ones(m)
        nonzero = np.bincount(users, np.abs(weights) > 1e-9, minlength=n_users)
        weights = np.where(nonzero[users] > 0, weights, 1.0)
        if self.half_life > 0 and m:
            order = np.lexsort((rows, timestamp, users))  # by user, then oldest first
            first = np.searchsorted(users[order], np.arange(n_users))
            position = np.empty(m, np.int64)
            position[order] = np.arange(m) - first[users[order]]
            age = count[users] - 1 - position  # 0 for each user's latest interaction
            weights = weights * 0.5 ** (age / self.half_life)
        return weights

    # -- scoring -------------------------------------------------------------------------

    def _fitted(self) -> tuple[np.ndarray, np.ndarray]:
        if self.item_embeddings_ is None or self.user_profiles_ is None:
            raise RuntimeError("ContentModel is not fitted: call fit() or ContentModel.load()")
        return self.item_embeddings_, self.user_profiles_

    @property
    def n_items(self) -> int:
        return int(self._fitted()[0].shape[0])

    def score_items(self, users: Any) -> np.ndarray:
        """Cosine of each user's profile with every item.

        Parameters
        ----------
        users : int[B]
            Training-user indices.

        Returns
        -------
        float32[B, n_items]
            In ``[-1, 1]``; all zero for a user without training interactions.
        """
        items, profiles = self._fitted()
        index = np.asarray(users)
        if index.ndim != 1 or (index.size and not np.issubdtype(index.dtype, np.integer)):
            raise ValueError(f"users must be a 1-D integer array, got shape {index.shape}")
        if index.size and (index.min() < 0 or index.max() >= len(profiles)):
            raise ValueError(f"users must be indices in [0, {len(profiles)})")
        return np.asarray(profiles[index] @ items.T, dtype=np.float32)

    def score_history(self, item_ids: Any, weights: Any = None) -> np.ndarray:
        """Scores of every item for a session history ("I liked X, Y; not Z").

        Parameters
        ----------
        item_ids : int[h]
            Internal item indices (h >= 1).
        weights : float[h], optional
            Weight of each item as given (e.g. +1 liked, -1 disliked, or centred ratings);
            default 1 each.

        Returns
        -------
        float32[n_items]
            Cosine of the weighted-mean history embedding with every item.
        """
        items, _ = self._fitted()
        ids = np.asarray(item_ids, dtype=np.int64).reshape(-1)
        if ids.size == 0:
            raise ValueError("score_history needs at least one item")
        if ids.min() < 0 or ids.max() >= len(items):
            raise ValueError(f"item ids must be in [0, {len(items)})")
        w = np.ones(len(ids)) if weights is None else np.asarray(weights, np.float64).reshape(-1)
        if w.shape != ids.shape:
            raise ValueError(f"weights has shape {w.shape}, expected {ids.shape}")
        profile = _normalise((w[:, None] * items[ids]).sum(0))
        return np.asarray(items @ profile, dtype=np.float32)

    def similar_items(self, item: int, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` items whose text is closest to ``item``'s (itself left out).

        Returns
        -------
        ids : int32[k]
            Best first, ties to the lower index.
        scores : float32[k]
            Their cosines.
        """
        items, _ = self._fitted()
        if not 0 <= int(item) < len(items):
            raise ValueError(f"item must be in [0, {len(items)}), got {item}")
        if k <= 0:
            raise ValueError(f"k must be > 0, got {k}")
        scores = items @ items[int(item)]
        scores[int(item)] = -np.inf
        order = np.argsort(-scores, kind="stable")[: min(k, len(items) - 1)]
        return order.astype(np.int32), scores[order].astype(np.float32)

    def score_text(self, text: str) -> np.ndarray:
        """``float32[n_items]`` cosine of a free-text query ("a funny space movie") with every
        item (runs the encoder once)."""
        items, _ = self._fitted()
        query = shared_encoder(self.encoder).encode([text])[0]
        return np.asarray(items @ query, dtype=np.float32)

    # -- persistence (npz, no pickle) ------------------------------------------------------

    def _arrays(self) -> dict[str, np.ndarray]:
        items, profiles = self._fitted()
        texts = np.array(self.item_texts_ or [""] * len(items), dtype=str)
        return {"item_embeddings": items, "user_profiles": profiles, "item_texts": texts}

    @classmethod
    def _from(cls, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> ContentModel:
        model = cls(**params)
        model.item_embeddings_ = arrays["item_embeddings"].astype(np.float32)
        model.user_profiles_ = arrays["user_profiles"].astype(np.float32)
        model.item_texts_ = [str(t) for t in arrays["item_texts"]]
        return model
