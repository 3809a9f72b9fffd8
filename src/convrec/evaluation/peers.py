"""Peers from other libraries, scored beside convrec's models: implicit's ALS for sessions.

The ``implicit`` package is optional (``pip install "convrec[peers]"``): without it protocol S
leaves its peer out (:func:`peers_installed`), and asking for it by name is a one-line error.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from convrec.data.dataset import Dataset

IMPLICIT_ALS = "implicit_als"
"""Protocol S's name for :class:`ImplicitALS`."""


def peers_installed() -> bool:
    """Whether the ``implicit`` package can be imported."""
    return importlib.util.find_spec("implicit") is not None


@dataclass
class ImplicitALS:
    """implicit's ``AlternatingLeastSquares`` (Hu, Koren and Volinsky, ICDM 2008), for sessions.

    ``fit`` factorises the binary users x items matrix of the fitted rows (a repeated pair
    counts twice; implicit's confidence of an observed pair is ``alpha * x``, of any other 1).
    An item without a fitted interaction ends with zero factors (it scores 0). A session is
    scored as a new user: implicit's ``recalculate_user`` solves its factors exactly from the
    session's items alone against the fixed item factors, and an item's score is their dot
    product with its factors.

    Parameters
    ----------
    factors : int
        Latent dimension.
    regularization : float
        L2 weight of the factors.
    alpha : float
        Confidence scale of an observed interaction.
    iterations : int
        ALS sweeps.
    seed : int
        implicit's ``random_state`` (its initial factors).
    """

    factors: int = 64
    regularization: float = 0.01
    alpha: float = 1.0
    iterations: int = 15
    seed: int = 0
    model_: Any = field(default=None, init=False, repr=False)

    def fit(self, data: Dataset, rows: np.ndarray) -> ImplicitALS:
        """Factorise the interactions ``rows`` (``int64[m]``) of ``data``; returns ``self``."""
        from implicit.cpu.als import AlternatingLeastSquares

        with _one_blas_thread():  # implicit checks the BLAS threads when it is built
            model = AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=self.alpha,
                iterations=self.iterations,
                random_state=self.seed,
            )
            model.fit(data.user_items(np.asarray(rows, np.int64), "ones"), show_progress=False)
        self.model_ = model
        return self

    def score_sessions(
        self,
        data: Dataset,
        rows: np.ndarray,
        users: np.ndarray,
        blocked: sp.csr_matrix | None = None,
    ) -> np.ndarray:
        """``float32[B, n_items]``: each session's factors (from its ``rows`` alone) times
        every item's (:class:`~convrec.evaluation.sessions.SessionModel`; ``blocked`` is not
        read: every item is scored)."""
        if self.model_ is None:
            raise RuntimeError("ImplicitALS is not fitted: call fit()")
        sessions = data.user_items(np.asarray(rows, np.int64), "ones")[np.asarray(users)]
        with _one_blas_thread():
            factors = self.model_.recalculate_user(np.arange(len(users)), sessions)
        scores = np.asarray(factors, np.float32) @ np.asarray(self.model_.item_factors).T
        return np.asarray(scores, np.float32)


def _one_blas_thread() -> Any:
    """A context with BLAS held to one thread: implicit runs its own threads and asks for a
    single-threaded BLAS beside them."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, "blas")


__all__ = ["IMPLICIT_ALS", "ImplicitALS", "peers_installed"]
