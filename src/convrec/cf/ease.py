"""EASE: the closed-form item-item linear autoencoder of Steck (2019), on the native scorer.

``B = argmin ||X - X B||^2 + l2 ||B||^2`` subject to ``diag(B) = 0`` has the closed form
``P = (X^T X + l2 I)^{-1}``, ``B = -P / diag(P)`` (column-wise), ``diag(B) = 0``
(H. Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019). ``X`` is the
binary users x items matrix of the fitted rows; a user's (or a session's) score is
``x B``. ``B``'s rows are the neighbour lists of the native engine, as for
:class:`~convrec.cf.seqlinear.SequentialLinear`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from convrec.cf.seqlinear import MAX_ITEMS, keep_largest_magnitude
from convrec.cf.sequential import NeighbourModel
from convrec.data.dataset import Dataset


@dataclass
class EASE(NeighbourModel):
    """Embarrassingly shallow autoencoder: ``score(u, i) = sum_h x[u, h] * B[h, i]``.

    Every history item weighs 1 (``tau = inf``); ``B`` may be negative, and its negative
    weights are kept.

    Parameters
    ----------
    l2
        Ridge penalty (> 0) on ``B``; Steck's experiments use a few hundred on MovieLens.
    k
        Entries kept per row of ``B`` (``0``: all), by magnitude.

    Raises
    ------
    ValueError
        For ``l2 <= 0`` or ``k < 0``; at fit, for catalogues over
        :data:`~convrec.cf.seqlinear.MAX_ITEMS` items (the solve is dense).
    """

    l2: float = 500.0
    k: int = 0
    tau: float = math.inf

    def __post_init__(self) -> None:
        if not (math.isfinite(self.l2) and self.l2 > 0):
            raise ValueError(f"EASE needs a finite l2 > 0, got {self.l2!r}")
        if self.k < 0:
            raise ValueError(f"EASE needs k >= 0, got {self.k!r}")

    def _neighbours(self, data: Dataset, rows: np.ndarray) -> sp.csr_matrix:
        n = data.n_items
        if n > MAX_ITEMS:
            raise ValueError(
                f"EASE solves a dense {n} x {n} system; catalogues above {MAX_ITEMS} items "
                "need an item-kNN or SequentialKNN model"
            )
        x = data.user_items(rows, values="ones").astype(np.float64)
        gram = (x.T @ x).toarray()
        gram[np.diag_indices(n)] += self.l2
        p = scipy.linalg.inv(gram, overwrite_a=True, check_finite=False)
        b = p / -np.diag(p)[None, :]
        np.fill_diagonal(b, 0.0)
        return keep_largest_magnitude(b, self.k)


__all__ = ["EASE"]
