"""The CF model contract every collaborative-filtering model implements (:class:`CFModel`)."""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar, cast

import numpy as np
import scipy.sparse as sp

from convrec.cf._checks import as_csr, check_item, check_positive_int, check_users
from convrec.cf.types import FloatArray, IntArray
from convrec.data.dataset import Dataset
from convrec.storage import (
    atomic_path,
    csr_arrays,
    csr_from_arrays,
    dataclass_params,
    load_npz,
    save_npz,
)

CONFIG_NAME = "cf_config.json"
"""The JSON file of a :meth:`CFModel.save_pretrained` directory: format, class, parameters."""
WEIGHTS_NAME = "cf_model.npz"
"""Its fitted state: the npz file :meth:`CFModel.save` writes (no pickle)."""
_FORMAT = "convrec.cf/1"

_Model = TypeVar("_Model", bound="CFModel")


class CFModel(ABC):
    """What every CF model offers: fit, rank, score, similar items, save and load.

    Users are the int32 row indices of the fitted data (``users``), or a batch of new
    histories as a users x items matrix (``user_items``: scipy.sparse, shape (B, n_items));
    items are int32 column indices. Ranking methods return ``(ids int32[B, k], scores
    float32[B, k])``, best first, ties to the lower item index, padded with id -1 and score
    ``-inf``. Bad input (an unknown user or item, a float index, a matrix with the wrong
    number of columns, ``k <= 0``) raises ``ValueError`` (``TypeError`` for a dense 2-D
    history).

    Persistence: :meth:`save` / :meth:`load` write and read one ``.npz`` (JSON parameters
    plus arrays, ``numpy.load(allow_pickle=False)``); :meth:`save_pretrained` /
    :meth:`from_pretrained` a directory holding :data:`CONFIG_NAME` and that npz as
    :data:`WEIGHTS_NAME`. ``CFModel.from_pretrained(directory)`` returns whichever model
    class the directory holds.

    Attributes
    ----------
    objective : {"ranking", "rating"}
        What the model is fitted for. A ``"rating"`` model predicts ratings
        (``predict_ratings``); it ranks items by predicted rating, and evaluation scores it
        on the rating task only.
    """

    objective: ClassVar[Literal["ranking", "rating"]] = "ranking"

    # ----------------------------------------------------------------- to implement

    @abstractmethod
    def fit(self: _Model, data: Dataset, rows: np.ndarray) -> _Model:
        """Fit on interaction ``rows`` (``int64[m]``) of ``data``; returns ``self``."""

    @abstractmethod
    def score_items(self, users: Any) -> FloatArray:
        """Scores of every item for a batch of users.

        Parameters
        ----------
        users : int[B] fitted-user indices, or scipy.sparse matrix, shape (B, n_items)

        Returns
        -------
        float32[B, n_items]
            Higher is better; own (history) items are not masked.
        """

    @abstractmethod
    def history(self) -> sp.csr_matrix:
        """The fitted users' histories, ``float32[n_users, n_items]`` CSR (what ``exclude_seen``
        leaves out)."""

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """Constructor arguments (JSON-able): ``type(model)(**model.params())`` is unfitted."""

    @abstractmethod
    def _arrays(self) -> dict[str, np.ndarray]:
        """The fitted state as named arrays (the npz payload)."""

    @classmethod
    @abstractmethod
    def _from(cls: type[_Model], params: dict[str, Any], arrays: dict[str, np.ndarray]) -> _Model:
        """A fitted model from its parameters and :meth:`_arrays`."""

    # ----------------------------------------------------------------- shared behaviour

    @property
    def n_users(self) -> int:
        """Number of fitted users."""
        return int(self.history().shape[0])

    @property
    def n_items(self) -> int:
        """Number of items the model was fitted on."""
        return int(self.history().shape[1])

    def recommend(
        self, users: Any, k: int = 10, exclude_seen: bool = True
    ) -> tuple[IntArray, FloatArray]:
        """Top-k items of a batch of users by :meth:`score_items`.

        Parameters
        ----------
        users : int[B] fitted-user indices, or scipy.sparse matrix, shape (B, n_items)
        k : int
            Items per user (> 0).
        exclude_seen : bool
            Leave each user's history items out (padded when fewer than k remain).

        Returns
        -------
        ids : int32[B, k]
        scores : float32[B, k]
        """
        k = check_positive_int(k, "k")
        users = self._users(users)
        scores = self.score_items(users)
        seen = self._seen(users) if exclude_seen else None
        return top_k_dense(scores, k, seen)

    def fold_in(self, data: Dataset, rows: np.ndarray) -> sp.csr_matrix:
        """New histories as this model weighs them: the interactions ``rows`` (``int64[m]``)
        of ``data``, which need not be fitted rows, as ``float32[n_users, n_items]`` CSR.

        The default weighs every interaction 1; models with their own history weighting
        (recency) override it. Scoring a row of the result with :meth:`score_items` folds a
        new user or a session in without refitting.
        """
        return data.user_items(np.asarray(rows, np.int64), values="ones").astype(np.float32)

    def similar_items(self, item: Any, k: int = 10) -> tuple[IntArray, FloatArray]:
        """The ``k`` items most similar to ``item``.

        By default: cosine of the item columns of the fitted histories (items consumed by
        the same users), only similarities > 0. Neighbour models return their own
        neighbour rows instead.

        Returns
        -------
        ids : int32[k]
            Best first, ties to the lower index, padded with -1; never ``item`` itself.
        scores : float32[k]
            Padded with ``-inf``.
        """
        item = check_item(item, self.n_items)
        k = check_positive_int(k, "k")
        ui = sp.csr_matrix(self.history(), dtype=np.float64)
        column = ui[:, [item]]
        dots = np.asarray((ui.T @ column).todense()).ravel()
        norms = np.sqrt(np.asarray(ui.multiply(ui).sum(axis=0)).ravel())
        denom = norms * norms[item]
        cosine = np.divide(dots, denom, out=np.zeros_like(dots), where=denom > 0)
        cosine[item] = 0.0
        return top_k_row(cosine, k)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fitted model to one ``.npz`` (JSON parameters + arrays, no pickle)."""
        return save_npz(Path(path), type(self).__name__, self.params(), self._arrays())

    @classmethod
    def load(cls: type[_Model], path: str | os.PathLike[str]) -> _Model:
        """Read a model written by :meth:`save` of this class (``ValueError`` for another)."""
        _, params, arrays = load_npz(Path(path), cls.__name__)
        return cls._from(params, arrays)

    def save_pretrained(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``directory`` (replaced whole, atomically): :data:`CONFIG_NAME` (format,
        class, parameters) and :data:`WEIGHTS_NAME` (:meth:`save`). Returns the directory."""
        folder = Path(directory)
        folder.parent.mkdir(parents=True, exist_ok=True)
        config = {"format": _FORMAT, "kind": type(self).__name__, "params": self.params()}
        with atomic_path(folder, fsync=True) as tmp:
            tmp.mkdir()
            self.save(tmp / WEIGHTS_NAME)
            (tmp / CONFIG_NAME).write_text(
                json.dumps(config, indent=1, sort_keys=True) + "\n", encoding="utf-8"
            )
        return folder

    @classmethod
    def from_pretrained(cls: type[_Model], directory: str | os.PathLike[str]) -> _Model:
        """Read a directory written by :meth:`save_pretrained`.

        Called on :class:`CFModel` itself it returns the class the directory names;
        called on a model class, a directory of another class raises ``ValueError``.
        """
        folder = Path(directory)
        config_path = folder / CONFIG_NAME
        if not config_path.is_file():
            raise ValueError(f"{folder} is not a saved CF model (no {CONFIG_NAME})")
        config = json.loads(config_path.read_text(encoding="utf-8"))
        if config.get("format") != _FORMAT:
            raise ValueError(f"{config_path}: unknown format {config.get('format')!r}")
        kind = str(config["kind"])
        target = _registry().get(kind) if cls is CFModel else cls
        if target is None:
            raise ValueError(f"{config_path}: unknown CF model class {kind!r}")
        model = cast(_Model, target.load(folder / WEIGHTS_NAME))  # checks the npz's class
        if model.params() != config["params"]:
            raise ValueError(f"{config_path}: parameters differ from those in {WEIGHTS_NAME}")
        return model

    # ----------------------------------------------------------------- helpers

    def _users(self, users: Any) -> Any:
        """``users`` checked: int32[B] indices in range, or a canonical CSR of n_items columns."""
        if sp.issparse(users):
            batch = as_csr(users, "user_items", n_cols=self.n_items, copy=False)
            if batch.shape[0] == 0:
                raise ValueError("user_items has no rows (an empty history batch)")
            return batch
        return check_users(users, self.n_users)

    def _seen(self, users: Any) -> sp.csr_matrix:
        """The history rows of checked ``users`` (the batch itself for new histories)."""
        return users if sp.issparse(users) else self.history()[users]


class RatingCFModel(CFModel):
    """A rating model under the CF contract: its scores are its predicted ratings.

    Subclasses implement ``predict_ratings(users, items)`` (``float64[n]`` for ``int32[n]``
    index pairs; unknown indices fall back to the model's non-personal part). A batch of new
    histories is rated as users unseen in training, with its own items as the seen ones.
    ``fit`` records the fitted histories (``seen_``, ones, shape (n_users, n_items)) with
    :meth:`_remember`; they travel in the npz as ``seen_*`` arrays (files written before
    they existed load without them, and then ``exclude_seen`` for fitted users is refused).
    """

    objective: ClassVar[Literal["ranking", "rating"]] = "rating"
    seen_: sp.csr_matrix | None = None

    @abstractmethod
    def predict_ratings(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """``float64[n]`` predicted ratings of ``int32[n]`` user and item indices."""

    def _remember(self, data: Dataset, rows: np.ndarray) -> None:
        self.seen_ = data.user_items(np.asarray(rows, np.int64), values="ones")

    def _shape(self) -> tuple[int, int]:
        """(n_users, n_items) of the fitted data."""
        if self.seen_ is not None:
            return int(self.seen_.shape[0]), int(self.seen_.shape[1])
        biases = getattr(self, "baselines_", self)
        user_bias = getattr(biases, "user_bias_", ())
        item_bias = getattr(biases, "item_bias_", ())
        if not len(item_bias):
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit() or load()")
        return len(user_bias), len(item_bias)

    @property
    def n_users(self) -> int:
        """Number of fitted users."""
        return self._shape()[0]

    @property
    def n_items(self) -> int:
        """Number of items the model was fitted on."""
        return self._shape()[1]

    def history(self) -> sp.csr_matrix:
        """The fitted histories (ones). Raises ValueError for a model loaded without them."""
        self._shape()
        if self.seen_ is None:
            raise ValueError(
                f"this {type(self).__name__} was saved without its training histories; "
                "refit it to rank or exclude the items of fitted users"
            )
        return self.seen_

    def score_items(self, users: Any) -> FloatArray:
        """Predicted ratings of every item (``float32[B, n_items]``); a history batch is rated
        as new users (no user term)."""
        return self._ratings(self._users(users)).astype(np.float32)

    def _ratings(self, users: Any) -> np.ndarray:
        """``float64[B, n_items]`` predicted ratings of checked ``users``."""
        n_items = self.n_items
        if sp.issparse(users):
            index = np.full(users.shape[0], -1, dtype=np.int64)
        else:
            index = users.astype(np.int64)
        pairs_user = np.repeat(index, n_items)
        pairs_item = np.tile(np.arange(n_items, dtype=np.int64), len(index))
        pred = np.asarray(self.predict_ratings(pairs_user, pairs_item), dtype=np.float64)
        return pred.reshape(len(index), n_items)

    def similar_items(self, item: Any, k: int = 10) -> tuple[IntArray, FloatArray]:
        """The ``k`` items the model rates most alike: the Pearson correlation, over the fitted
        users, of their predicted ratings with those of ``item`` (> 0 only; a model that
        rates every item alike for everyone, e.g. :class:`GlobalMean`, finds none).

        Costs one prediction per (fitted user, item) pair.
        """
        item = check_item(item, self.n_items)
        k = check_positive_int(k, "k")
        pred = self._ratings(np.arange(self.n_users, dtype=np.int32))
        pred -= pred.mean(axis=0)
        norms = np.linalg.norm(pred, axis=0)
        denom = norms * norms[item]
        corr = np.divide(
            pred.T @ pred[:, item], denom, out=np.zeros(pred.shape[1]), where=denom > 1e-9
        )
        corr[item] = 0.0
        return top_k_row(corr, k)

    def params(self) -> dict[str, Any]:
        """Constructor arguments (JSON-able)."""
        return dataclass_params(self)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write parameters, fitted arrays and the fitted histories to one ``.npz``."""
        arrays = self._arrays()
        if self.seen_ is not None:
            arrays |= csr_arrays(self.seen_, "seen_")
        return save_npz(Path(path), type(self).__name__, self.params(), arrays)

    @classmethod
    def load(cls: type[_Model], path: str | os.PathLike[str]) -> _Model:
        """Read a model written by :meth:`save` of this class."""
        _, params, arrays = load_npz(Path(path), cls.__name__)
        model = cls._from(params, arrays)
        if "seen_indptr" in arrays:
            model.seen_ = csr_from_arrays(arrays, "seen_", dtype=np.float32)  # type: ignore[attr-defined]
        return model


def top_k_dense(
    scores: np.ndarray, k: int, seen: sp.csr_matrix | None = None
) -> tuple[IntArray, FloatArray]:
    """Top-``k`` columns of every row of dense scores, ties to the lower column.

    Parameters
    ----------
    scores : float[B, n_items]
    k : int
    seen : scipy.sparse matrix, shape (B, n_items), optional
        Its stored entries score ``-inf`` (left out).

    Returns
    -------
    ids : int32[B, min(k, n_items)]
        Padded with -1 where the score is not finite.
    scores : float32[B, min(k, n_items)]
    """
    dense = np.array(scores, dtype=np.float64)
    if seen is not None:
        dense[seen.nonzero()] = -np.inf
    item = np.arange(dense.shape[1])
    order = np.lexsort((np.broadcast_to(item, dense.shape), -dense), axis=1)[:, :k]
    top = np.take_along_axis(dense, order, axis=1)
    ids = np.where(np.isfinite(top), order, -1).astype(np.int32)
    return ids, top.astype(np.float32)


def top_k_row(values: np.ndarray, k: int) -> tuple[IntArray, FloatArray]:
    """The ``k`` largest positive entries of ``float[n]`` (ties to the lower index), padded
    to length ``k`` with id -1 and score ``-inf``."""
    values = np.asarray(values, dtype=np.float64)
    order = np.lexsort((np.arange(len(values)), -values))
    order = order[values[order] > 0][:k]
    ids = np.full(k, -1, dtype=np.int32)
    out = np.full(k, -np.inf, dtype=np.float32)
    ids[: len(order)] = order
    out[: len(order)] = values[order]
    return ids, out


def sparse_row_top_k(matrix: sp.csr_matrix, row: int, k: int) -> tuple[IntArray, FloatArray]:
    """:func:`top_k_row` of one row of a CSR matrix (its stored entries > 0)."""
    start, stop = int(matrix.indptr[row]), int(matrix.indptr[row + 1])
    dense = np.zeros(matrix.shape[1], dtype=np.float64)
    dense[matrix.indices[start:stop]] = matrix.data[start:stop]
    return top_k_row(dense, k)


def _registry() -> dict[str, type[CFModel]]:
    """Every concrete CFModel subclass by class name (the classes imported so far)."""
    import convrec.cf  # noqa: F401  (defines the shipped models)

    found: dict[str, type[CFModel]] = {}
    stack: list[type[CFModel]] = list(CFModel.__subclasses__())
    while stack:
        klass = stack.pop()
        stack += klass.__subclasses__()
        if not getattr(klass, "__abstractmethods__", None):
            found[klass.__name__] = klass
    return found
