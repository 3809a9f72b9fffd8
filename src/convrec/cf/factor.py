"""Latent-factor rating models: Bayesian probabilistic matrix factorisation by Gibbs sampling."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from convrec.cf.base import RatingCFModel
from convrec.cf.baselines import BiasBaseline
from convrec.data.dataset import Dataset


@dataclass
class BPMF(RatingCFModel):
    """Bayesian PMF (Salakhutdinov & Mnih, ICML 2008) with block Gibbs sampling.

    Model: ``r_ui = b_ui + u_u . v_i + eps`` with ``eps ~ N(0, 1 / alpha)``,
    ``u_u ~ N(mu_U, Lambda_U^-1)``, ``v_i ~ N(mu_V, Lambda_V^-1)`` and
    Gaussian-Wishart hyper-priors (``mu0 = 0``, ``beta0``, ``nu0 = n_factors``,
    ``W0 = I``). ``b_ui`` is the global mean (``offset="mean"``) or a fitted
    :class:`~convrec.cf.baselines.BiasBaseline` (``offset="bias"``). Each sweep draws
    the user hyper-parameters, then every user factor at once (a batched
    ``n_factors x n_factors`` posterior solve per user), then the same for items.
    The prediction averages ``u_u . v_i`` over the ``n_samples`` sweeps kept
    after ``burn_in``; users and items without training ratings get the
    offset alone. Seeded: the same data, rows and parameters give the same model.

    Parameters
    ----------
    n_factors
        Latent dimension ``D``.
    n_samples
        Gibbs sweeps averaged for prediction (all stored, ``float32``).
    burn_in
        Sweeps discarded first.
    alpha
        Observation precision (``1 / noise variance``).
    beta0
        Prior strength of the hyper-mean.
    offset
        ``"mean"`` or ``"bias"`` (see above).
    reg_item, reg_user
        Regularisation of the biases when ``offset="bias"``.
    init_std
        Standard deviation of the random initial factors.
    seed
        Seed of ``numpy.random.default_rng``.
    """

    n_factors: int = 10
    n_samples: int = 100
    burn_in: int = 20
    alpha: float = 2.0
    beta0: float = 2.0
    offset: Literal["mean", "bias"] = "mean"
    reg_item: float = 10.0
    reg_user: float = 15.0
    init_std: float = 0.1
    seed: int = 0
    baselines_: BiasBaseline = field(default_factory=BiasBaseline, init=False)
    user_samples_: np.ndarray = field(default_factory=lambda: np.zeros(0), init=False)
    item_samples_: np.ndarray = field(default_factory=lambda: np.zeros(0), init=False)

    def __post_init__(self) -> None:
        if self.offset not in ("mean", "bias"):
            raise ValueError(f"offset must be 'mean' or 'bias', not {self.offset!r}")
        if self.n_factors < 1 or self.n_samples < 1 or self.burn_in < 0:
            raise ValueError("n_factors and n_samples must be >= 1, burn_in >= 0")

    def fit(self, data: Dataset, rows: np.ndarray) -> BPMF:
        """Run the sampler on interaction ``rows`` (``int64[m]``) of ``data``."""
        rows = np.asarray(rows)
        u, i = data.user[rows], data.item[rows]
        r = data.rating[rows].astype(np.float64)
        # offset "mean": zero epochs leave the biases at zero
        epochs = 10 if self.offset == "bias" else 0
        self.baselines_ = BiasBaseline(self.reg_item, self.reg_user, epochs).fit(data, rows)
        res = r - self.baselines_.predict_ratings(u, i)
        by_user = sp.csr_matrix((res, (u, i)), shape=(data.n_users, data.n_items))
        by_item = by_user.T.tocsr()
        mask_user = by_user.copy()
        mask_user.data = np.ones_like(mask_user.data)
        mask_item = mask_user.T.tocsr()

        rng = np.random.default_rng(self.seed)
        d = self.n_factors
        users = rng.normal(0.0, self.init_std, (data.n_users, d))
        items = rng.normal(0.0, self.init_std, (data.n_items, d))
        kept_u = np.empty((self.n_samples, data.n_users, d), np.float32)
        kept_i = np.empty((self.n_samples, data.n_items, d), np.float32)
        for sweep in range(self.burn_in + self.n_samples):
            users = self._draw_side(users, items, by_user, mask_user, rng)
            items = self._draw_side(items, users, by_item, mask_item, rng)
            if sweep >= self.burn_in:
                kept_u[sweep - self.burn_in] = users
                kept_i[sweep - self.burn_in] = items
        kept_u[:, np.diff(by_user.indptr) == 0] = 0.0
        kept_i[:, np.diff(by_item.indptr) == 0] = 0.0
        self.user_samples_, self.item_samples_ = kept_u, kept_i
        self._remember(data, rows)
        return self

    def _draw_side(
        self,
        current: np.ndarray,
        other: np.ndarray,
        residual: sp.csr_matrix,
        mask: sp.csr_matrix,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """One conditional draw of all factors of one side given the other side's factors.

        ``current``: ``float64[n, D]`` factors being resampled (used for the
        hyper-parameters); ``other``: ``float64[m, D]``; ``residual``, ``mask``:
        ``n x m`` CSR of the residual ratings and of ones.
        """
        n, d = current.shape
        mean_h, prec_h = self._draw_hyper(current, rng)
        outer = (other[:, :, None] * other[:, None, :]).reshape(len(other), d * d)
        precision = prec_h + self.alpha * np.asarray(mask @ outer).reshape(n, d, d)
        rhs = self.alpha * np.asarray(residual @ other) + prec_h @ mean_h
        chol = np.linalg.cholesky(precision)
        mean = np.linalg.solve(precision, rhs[:, :, None])[:, :, 0]
        noise = np.linalg.solve(np.swapaxes(chol, 1, 2), rng.standard_normal((n, d, 1)))[:, :, 0]
        out: np.ndarray = mean + noise
        return out

    def _draw_hyper(
        self, factors: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``(mu, Lambda)`` from their Gaussian-Wishart posterior given ``factors``."""
        n, d = factors.shape
        mean = factors.mean(axis=0)
        centred = factors - mean
        beta = self.beta0 + n
        scale_inv = np.eye(d) + centred.T @ centred + (self.beta0 * n / beta) * np.outer(mean, mean)
        scale = np.linalg.inv(scale_inv)
        precision = _wishart(0.5 * (scale + scale.T), d + n, rng)
        mu_post = n * mean / beta
        chol = np.linalg.cholesky(beta * precision)
        mu = mu_post + np.linalg.solve(chol.T, rng.standard_normal(d))
        return mu, precision

    def predict_ratings(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Posterior-mean predicted ratings.

        Parameters
        ----------
        users, items
            ``int32[n]`` user and item indices (unseen ones get the offset).

        Returns
        -------
        numpy.ndarray
            ``float64[n]``, not clipped.
        """
        users = np.asarray(users, dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        pred = self.baselines_.predict_ratings(users, items)
        n_users, n_items = self.user_samples_.shape[1], self.item_samples_.shape[1]
        known = np.flatnonzero((users >= 0) & (users < n_users) & (items >= 0) & (items < n_items))
        step = max(1, 2_000_000 // max(1, self.user_samples_.shape[0] * self.n_factors))
        for start in range(0, len(known), step):
            sel = known[start : start + step]
            pu = self.user_samples_[:, users[sel]].astype(np.float64)
            qi = self.item_samples_[:, items[sel]].astype(np.float64)
            pred[sel] += np.einsum("snd,snd->n", pu, qi) / len(pu)
        return pred

    def _arrays(self) -> dict[str, np.ndarray]:
        return {
            **self.baselines_._arrays("baseline_"),
            "user_samples": self.user_samples_,
            "item_samples": self.item_samples_,
        }

    @classmethod
    def _from(cls, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> BPMF:
        model = cls(**params)
        baseline = {"reg_item": model.reg_item, "reg_user": model.reg_user}
        model.baselines_ = BiasBaseline._from(baseline, arrays, "baseline_")
        model.user_samples_ = arrays["user_samples"]
        model.item_samples_ = arrays["item_samples"]
        return model


def _wishart(scale: np.ndarray, dof: float, rng: np.random.Generator) -> np.ndarray:
    """One draw of ``Wishart(scale, dof)`` (Bartlett decomposition), ``float64[D, D]``."""
    d = len(scale)
    chol = np.linalg.cholesky(scale)
    bartlett = np.tril(rng.standard_normal((d, d)), -1)
    bartlett[np.diag_indices(d)] = np.sqrt(rng.chisquare(dof - np.arange(d)))
    factor = chol @ bartlett
    out: np.ndarray = factor @ factor.T
    return out
