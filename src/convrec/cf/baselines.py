"""Reference models every evaluation reports: global mean, user/item biases, most popular."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from convrec.cf.base import CFModel, RatingCFModel
from convrec.cf.types import FloatArray
from convrec.data.dataset import Dataset
from convrec.storage import csr_arrays, csr_from_arrays


@dataclass
class GlobalMean(RatingCFModel):
    """Predicts the mean training rating for every (user, item).

    As a ranking every item ties, so lists follow the item index.
    """

    mean_: float = field(default=float("nan"), init=False)

    def fit(self, data: Dataset, rows: np.ndarray) -> GlobalMean:
        """Fit on interaction ``rows`` (``int64[m]``) of ``data``."""
        self.mean_ = float(data.rating[rows].astype(np.float64).mean())
        self._remember(data, rows)
        return self

    def predict_ratings(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """``float64[n]`` predictions for ``int32[n]`` user and item indices."""
        return np.full(len(users), self.mean_, dtype=np.float64)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"mean": np.array(self.mean_)}

    @classmethod
    def _from(cls, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> GlobalMean:
        model = cls(**params)
        model.mean_ = float(arrays["mean"])
        return model


@dataclass
class BiasBaseline(RatingCFModel):
    """``r(u, i) = mu + b_u + b_i`` with L2-regularised biases fitted by alternating steps.

    Each epoch sets ``b_i = sum_u (r - mu - b_u) / (reg_item + n_i)`` then
    ``b_u = sum_i (r - mu - b_i) / (reg_user + n_u)``: the exact minimiser of one
    block given the other, so ten epochs converge for rating data. ``n_epochs=0`` leaves
    the biases at zero (the global mean). This is also the baseline ``b_ui`` inside
    :class:`~convrec.cf.rating.KNNBaseline` and :class:`~convrec.cf.factor.BPMF`.

    Parameters
    ----------
    reg_item, reg_user
        Shrinkage of item and user biases towards zero (pseudo-counts).
    n_epochs
        Alternating passes.

    Attributes
    ----------
    mean_ : float
        Mean training rating.
    user_bias_, item_bias_ : numpy.ndarray
        ``float64[n_users]`` and ``float64[n_items]``; zero for users and items without
        training ratings.
    """

    reg_item: float = 2.0
    reg_user: float = 10.0
    n_epochs: int = 10
    mean_: float = field(default=float("nan"), init=False)
    user_bias_: np.ndarray = field(default_factory=lambda: np.zeros(0), init=False)
    item_bias_: np.ndarray = field(default_factory=lambda: np.zeros(0), init=False)

    def fit(self, data: Dataset, rows: np.ndarray) -> BiasBaseline:
        """Fit on interaction ``rows`` (``int64[m]``) of ``data``."""
        u, i = data.user[rows], data.item[rows]
        r = data.rating[rows].astype(np.float64)
        mu = float(r.mean())
        n_u = np.bincount(u, minlength=data.n_users)
        n_i = np.bincount(i, minlength=data.n_items)
        b_u = np.zeros(data.n_users)
        b_i = np.zeros(data.n_items)
        for _ in range(self.n_epochs):
            b_i = _shrunk_mean(i, r - mu - b_u[u], n_i, self.reg_item)
            b_u = _shrunk_mean(u, r - mu - b_i[i], n_u, self.reg_user)
        self.mean_, self.user_bias_, self.item_bias_ = mu, b_u, b_i
        self._remember(data, rows)
        return self

    def predict_ratings(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """``float64[n]`` predictions for ``int32[n]`` indices; unknown indices get a zero bias."""
        return self.mean_ + _gather(self.user_bias_, users) + _gather(self.item_bias_, items)

    def _arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        return {
            f"{prefix}mean": np.array(self.mean_),
            f"{prefix}user_bias": self.user_bias_,
            f"{prefix}item_bias": self.item_bias_,
        }

    @classmethod
    def _from(
        cls, params: dict[str, Any], arrays: dict[str, np.ndarray], prefix: str = ""
    ) -> BiasBaseline:
        model = cls(**params)
        model.mean_ = float(arrays[f"{prefix}mean"])
        model.user_bias_ = arrays[f"{prefix}user_bias"]
        model.item_bias_ = arrays[f"{prefix}item_bias"]
        return model


def _gather(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``values[index]`` with ``0`` for indices outside ``values``."""
    index = np.asarray(index, dtype=np.int64)
    known = (index >= 0) & (index < len(values))
    out = np.zeros(len(index), dtype=np.float64)
    out[known] = values[index[known]]
    return out


def _shrunk_mean(
    index: np.ndarray, residual: np.ndarray, count: np.ndarray, reg: float
) -> np.ndarray:
    total = np.bincount(index, residual, minlength=len(count))
    denom = count + reg
    return np.divide(total, denom, out=np.zeros_like(total), where=denom > 0)


@dataclass
class MostPopular(CFModel):
    """Scores every item by its number of training interactions (the same list for all users).

    Attributes
    ----------
    counts_ : numpy.ndarray
        ``float32[n_items]`` training interactions per item.
    seen_ : scipy.sparse.csr_matrix
        ``float32[n_users, n_items]`` the fitted histories (ones).
    """

    counts_: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32), init=False)
    seen_: sp.csr_matrix | None = field(default=None, init=False, repr=False)

    def fit(self, data: Dataset, rows: np.ndarray) -> MostPopular:
        """Fit on interaction ``rows`` (``int64[m]``) of ``data``."""
        self.counts_ = np.bincount(data.item[rows], minlength=data.n_items).astype(np.float32)
        self.seen_ = data.user_items(np.asarray(rows, np.int64), values="ones")
        return self

    def history(self) -> sp.csr_matrix:
        """The fitted histories (ones), ``float32[n_users, n_items]``."""
        if self.seen_ is None:
            raise RuntimeError("MostPopular is not fitted: call fit() or load()")
        return self.seen_

    def score_items(self, users: Any) -> FloatArray:
        """``float32[B, n_items]``: the training counts, for ``int32[B]`` users or a history
        batch (scipy.sparse, shape (B, n_items))."""
        users = self._users(users)
        return np.broadcast_to(self.counts_, (users.shape[0], len(self.counts_))).copy()

    def params(self) -> dict[str, Any]:
        """No parameters."""
        return {}

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"counts": self.counts_, **csr_arrays(self.history(), "seen_")}

    @classmethod
    def _from(cls, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> MostPopular:
        model = cls(**params)
        model.counts_ = arrays["counts"].astype(np.float32)
        model.seen_ = csr_from_arrays(arrays, "seen_", dtype=np.float32)
        return model
