"""Rating prediction on the CF side: the baseline neighbourhood model, the blend, their specs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from convrec.cf._checks import check_item, check_positive_int
from convrec.cf.base import RatingCFModel, top_k_row
from convrec.cf.baselines import BiasBaseline
from convrec.cf.types import FloatArray, IntArray
from convrec.data.dataset import Dataset
from convrec.storage import csr_arrays, csr_from_arrays


def _empty() -> np.ndarray:
    return np.zeros(0)


def pearson_baseline_similarity(residuals: sp.csr_matrix, shrink: float) -> np.ndarray:
    """Shrunk Pearson-baseline similarity between the rows of a residual matrix.

    Parameters
    ----------
    residuals
        ``float64[n, m]`` CSR: entry ``(a, c)`` is ``r - b`` of row entity ``a``
        with context ``c`` (for item similarity: items x users); stored entries
        are the observed ones (an explicit zero residual still counts as observed).
    shrink
        Pseudo-count: similarities are multiplied by ``n_common / (n_common + shrink)``.

    Returns
    -------
    numpy.ndarray
        ``float32[n, n]``: ``sum_c x_ac x_bc / sqrt(sum_c x_ac^2 * sum_c x_bc^2)`` over
        the contexts ``c`` observed with both ``a`` and ``b``, times the shrinkage;
        ``0`` where undefined and on the diagonal.
    """
    x = sp.csr_matrix(residuals, dtype=np.float64)
    mask = x.copy()
    mask.data = np.ones_like(mask.data)
    squares = x.copy()
    squares.data = squares.data**2
    numerator = (x @ x.T).toarray()
    # energy[a, b] = sum of x_ac^2 over contexts c shared with b
    energy = (squares @ mask.T).toarray()
    common = (mask @ mask.T).toarray()
    denominator = np.sqrt(energy * energy.T)
    sim = np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)
    sim *= common / (common + shrink) if shrink > 0 else 1.0
    np.fill_diagonal(sim, 0.0)
    return sim.astype(np.float32)


@dataclass
class KNNBaseline(RatingCFModel):
    """Neighbourhood model on baseline residuals (Koren 2010, "KNNBaseline" in Surprise).

    ``r(u, i) = b_ui + sum_j s_ij (r_uj - b_uj) / sum_j |s_ij|`` over the ``k``
    items ``j`` rated by ``u`` that are most similar to ``i`` (``kind="item"``);
    the user-based twin sums over the ``k`` users most similar to ``u`` who
    rated ``i``. ``b_ui = mu + b_u + b_i`` is fitted as :class:`BiasBaseline`,
    and ``s`` is :func:`pearson_baseline_similarity` of the training residuals.
    Neighbours with zero similarity (no co-rating) are skipped; when fewer than
    ``min_k`` remain, or the user or item has no training rating, the
    prediction is the baseline.

    Parameters
    ----------
    kind
        ``"item"`` or ``"user"`` neighbourhoods.
    k
        Number of neighbours (largest signed similarity first).
    min_k
        Minimum number of neighbours for the neighbourhood term.
    shrink
        Similarity shrinkage pseudo-count.
    reg_item, reg_user
        Regularisation of the baseline biases.
    batch
        Upper bound on the (pair, candidate neighbour) entries expanded at once
        while predicting (memory knob only).

    Notes
    -----
    The similarity is held as a dense ``float32[n, n]`` matrix over items (or
    users): about 11 MB for MovieLens-100k's 1,682 items, 4 GB for 32,000.
    """

    kind: Literal["item", "user"] = "item"
    k: int = 40
    min_k: int = 1
    shrink: float = 100.0
    reg_item: float = 10.0
    reg_user: float = 15.0
    batch: int = 2_000_000
    baselines_: BiasBaseline = field(default_factory=BiasBaseline, init=False)
    similarity_: np.ndarray = field(default_factory=_empty, init=False)
    neighbours_: sp.csr_matrix = field(default_factory=lambda: sp.csr_matrix((0, 0)), init=False)

    def __post_init__(self) -> None:
        if self.kind not in ("item", "user"):
            raise ValueError(f"kind must be 'item' or 'user', not {self.kind!r}")
        if self.k < 1 or self.min_k < 0:
            raise ValueError("k must be >= 1 and min_k >= 0")

    def fit(self, data: Dataset, rows: np.ndarray) -> KNNBaseline:
        """Fit baselines and similarities on interaction ``rows`` (``int64[m]``) of ``data``."""
        rows = np.asarray(rows)
        self.baselines_ = BiasBaseline(self.reg_item, self.reg_user).fit(data, rows)
        u, i = data.user[rows], data.item[rows]
        res = data.rating[rows].astype(np.float64) - self.baselines_.predict_ratings(u, i)
        # entity = whose neighbours are used (item or user); context = the other side
        entity, context = (i, u) if self.kind == "item" else (u, i)
        n_entity, n_context = (
            (data.n_items, data.n_users) if self.kind == "item" else (data.n_users, data.n_items)
        )
        by_entity = _csr(entity, context, res, (n_entity, n_context))
        self.similarity_ = pearson_baseline_similarity(by_entity, self.shrink)
        self.neighbours_ = _csr(context, entity, res, (n_context, n_entity))
        self._remember(data, rows)
        return self

    def similar_items(self, item: Any, k: int = 10) -> tuple[IntArray, FloatArray]:
        """Item neighbourhoods (``kind="item"``): the ``k`` items of largest positive
        ``similarity_`` with ``item``; the user-based model correlates predicted ratings
        (:meth:`~convrec.cf.base.RatingCFModel.similar_items`)."""
        if self.kind != "item":
            return super().similar_items(item, k)
        item = check_item(item, self.n_items)
        return top_k_row(self.similarity_[item], check_positive_int(k, "k"))

    def predict_ratings(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Predicted ratings.

        Parameters
        ----------
        users, items
            ``int32[n]`` user and item indices (indices unseen in training fall
            back to the baseline).

        Returns
        -------
        numpy.ndarray
            ``float64[n]``, not clipped.
        """
        users = np.asarray(users, dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        pred = self.baselines_.predict_ratings(users, items)
        context, target = (users, items) if self.kind == "item" else (items, users)
        n_context, n_entity = self.neighbours_.shape
        known = (context >= 0) & (context < n_context) & (target >= 0) & (target < n_entity)
        idx = np.flatnonzero(known)
        indptr = self.neighbours_.indptr.astype(np.int64)
        lengths = indptr[context[idx] + 1] - indptr[context[idx]]
        # chunks of pairs whose expanded neighbour lists fit in `batch` entries
        cum = np.cumsum(lengths)
        start = 0
        while start < len(idx):
            base = cum[start - 1] if start else 0
            stop = max(start + 1, int(np.searchsorted(cum, base + self.batch, side="right")))
            sel = idx[start:stop]
            pred[sel] += self._offsets(context[sel], target[sel], lengths[start:stop])
            start = stop
        return pred

    def _offsets(self, context: np.ndarray, target: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Neighbourhood term of each (context, target) pair; ``0`` without enough neighbours."""
        n_pairs = len(context)
        total = int(lengths.sum())
        pair = np.repeat(np.arange(n_pairs), lengths)
        starts = self.neighbours_.indptr[context].astype(np.int64)
        group_start = np.cumsum(lengths) - lengths
        pos = np.repeat(starts - group_start, lengths) + np.arange(total)
        neighbour = self.neighbours_.indices[pos]
        residual = self.neighbours_.data[pos]
        sim = self.similarity_[target[pair], neighbour].astype(np.float64)
        keep = sim != 0.0
        pair, sim, residual = pair[keep], sim[keep], residual[keep]
        order = np.lexsort((-sim, pair))
        pair, sim, residual = pair[order], sim[order], residual[order]
        first = np.searchsorted(pair, pair, side="left")
        top = (np.arange(len(pair)) - first) < self.k
        pair, sim, residual = pair[top], sim[top], residual[top]
        count = np.bincount(pair, minlength=n_pairs)
        weight = np.bincount(pair, np.abs(sim), minlength=n_pairs)
        total_term = np.bincount(pair, sim * residual, minlength=n_pairs)
        use = (count >= max(self.min_k, 1)) & (weight > 0)
        return np.divide(total_term, weight, out=np.zeros(n_pairs), where=use)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {
            **self.baselines_._arrays("baseline_"),
            "similarity": self.similarity_,
            **csr_arrays(self.neighbours_, "nb_"),
        }

    @classmethod
    def _from(cls, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> KNNBaseline:
        model = cls(**params)
        model.baselines_ = BiasBaseline._from(
            {"reg_item": model.reg_item, "reg_user": model.reg_user}, arrays, "baseline_"
        )
        model.similarity_ = arrays["similarity"]
        model.neighbours_ = csr_from_arrays(arrays, "nb_")
        return model


def _csr(
    row: np.ndarray, col: np.ndarray, value: np.ndarray, shape: tuple[int, int]
) -> sp.csr_matrix:
    """``float64`` CSR with sorted indices (duplicate pairs summed)."""
    mat = sp.csr_matrix((value.astype(np.float64), (row, col)), shape=shape)
    mat.sum_duplicates()
    mat.sort_indices()
    return mat


Member = tuple[str, dict[str, Any]]

# Member settings chosen by protocol-A validation RMSE (fitted on train, scored on valid).
DEFAULT_MEMBERS: tuple[Member, ...] = (
    ("BiasBaseline", {"reg_item": 5.0, "reg_user": 10.0}),
    ("KNNBaseline", {"kind": "item", "k": 40, "shrink": 100.0, "reg_item": 5.0, "reg_user": 10.0}),
    ("KNNBaseline", {"kind": "user", "k": 40, "shrink": 100.0, "reg_item": 5.0, "reg_user": 10.0}),
    ("BPMF", {"n_factors": 10, "alpha": 1.5}),
    ("BPMF", {"n_factors": 10, "alpha": 1.5, "offset": "bias", "seed": 1}),
)


def _model_classes() -> dict[str, Any]:
    """Classes a :class:`Blend` member may name (imported late: factor imports this module)."""
    from convrec.cf.factor import BPMF

    return {"BiasBaseline": BiasBaseline, "KNNBaseline": KNNBaseline, "BPMF": BPMF}


@dataclass
class Blend(RatingCFModel):
    """Linear blend of rating models, weights fitted by ridge regression on held-out rows.

    ``fit(data, rows)`` works on ``rows`` alone (nothing else of ``data`` is read):

    1. a seeded permutation of ``rows`` sets aside ``holdout`` of them (default 10 %);
    2. every member is fitted on the other rows and predicts the held-out ones;
       the predictions, clipped to the training rating range, are the features
       ``x``;
    3. ``weights`` (with an intercept, ``ridge``-penalised except the
       intercept) minimise ``|y - [1, x] w|^2 + ridge |w[1:]|^2`` on the held-out ratings;
    4. every member is refitted on all of ``rows`` and the weights are kept fixed.

    Under protocol A the runner calls ``fit`` on train and on train+valid; the
    weights therefore never see valid (while choosing) nor test.

    Parameters
    ----------
    members
        ``(class name, constructor arguments)`` pairs; class names are
        ``"BiasBaseline"``, ``"KNNBaseline"`` and ``"BPMF"``.
    holdout
        Fraction of ``rows`` held out to fit the weights.
    ridge
        L2 penalty of the member weights.
    seed
        Seed of the hold-out permutation.
    """

    members: tuple[Member, ...] = DEFAULT_MEMBERS
    holdout: float = 0.1
    ridge: float = 1.0
    seed: int = 0
    weights_: np.ndarray = field(default_factory=_empty, init=False)
    models_: list[Any] = field(default_factory=list, init=False)
    scale_: tuple[float, float] = field(default=(-np.inf, np.inf), init=False)

    def __post_init__(self) -> None:
        classes = _model_classes()
        self.members = tuple((str(name), dict(args)) for name, args in self.members)
        for name, _ in self.members:
            if name not in classes:
                raise ValueError(f"unknown blend member {name!r}; choose from {sorted(classes)}")
        if not 0.0 < self.holdout < 1.0:
            raise ValueError("holdout must be in (0, 1)")

    def _new_models(self) -> list[Any]:
        classes = _model_classes()
        return [classes[name](**args) for name, args in self.members]

    def fit(self, data: Dataset, rows: np.ndarray) -> Blend:
        """Fit weights on a held-out part of ``rows`` (``int64[m]``), then members on all rows."""
        rows = np.asarray(rows)
        ratings = data.rating[rows]
        self.scale_ = (float(ratings.min()), float(ratings.max()))
        perm = np.random.default_rng(self.seed).permutation(len(rows))
        n_hold = max(1, round(self.holdout * len(rows)))
        held, rest = rows[perm[:n_hold]], rows[perm[n_hold:]]
        models = [m.fit(data, rest) for m in self._new_models()]
        x = self._features(models, data.user[held], data.item[held])
        y = data.rating[held].astype(np.float64)
        penalty = self.ridge * np.eye(x.shape[1])
        penalty[0, 0] = 0.0
        self.weights_ = np.linalg.solve(x.T @ x + penalty, x.T @ y)
        self.models_ = [m.fit(data, rows) for m in self._new_models()]
        self._remember(data, rows)
        return self

    def _features(self, models: list[Any], users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """``float64[n, 1 + len(models)]``: ones, then each member's clipped prediction."""
        lo, hi = self.scale_
        cols = [np.clip(m.predict_ratings(users, items), lo, hi) for m in models]
        return np.column_stack([np.ones(len(users)), *cols])

    def predict_ratings(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Blended predictions.

        Parameters
        ----------
        users, items
            ``int32[n]`` user and item indices.

        Returns
        -------
        numpy.ndarray
            ``float64[n]``, not clipped.
        """
        out: np.ndarray = self._features(self.models_, users, items) @ self.weights_
        return out

    @property
    def baselines_(self) -> Any:
        """The global mean and biases (``mean_``, ``item_bias_``) of the first fitted member
        that has them: what rates the items of a session with no user index."""
        for model in self.models_:
            found = getattr(model, "baselines_", model)
            if hasattr(found, "item_bias_"):
                return found
        raise AttributeError("this blend has no fitted member with baselines")

    def params(self) -> dict[str, Any]:
        """Constructor arguments (JSON-able)."""
        return {
            "members": [[name, args] for name, args in self.members],
            "holdout": self.holdout,
            "ridge": self.ridge,
            "seed": self.seed,
        }

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {"weights": self.weights_, "scale": np.array(self.scale_)}
        for k, model in enumerate(self.models_):
            arrays.update({f"m{k}/{key}": v for key, v in model._arrays().items()})
        return arrays

    @classmethod
    def _from(cls, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> Blend:
        params = dict(params, members=tuple((name, args) for name, args in params["members"]))
        blend = cls(**params)
        blend.weights_ = arrays["weights"]
        blend.scale_ = (float(arrays["scale"][0]), float(arrays["scale"][1]))
        classes = _model_classes()
        for k, (name, args) in enumerate(blend.members):
            prefix = f"m{k}/"
            sub = {key[len(prefix) :]: v for key, v in arrays.items() if key.startswith(prefix)}
            blend.models_.append(classes[name]._from(args, sub))
        return blend
