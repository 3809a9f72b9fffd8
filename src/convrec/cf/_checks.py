"""Input validation shared by the CF models: CSR canonicalisation, user and item indices, k."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from convrec import _native


def as_csr(matrix: Any, name: str, n_cols: int | None = None, copy: bool = True) -> sp.csr_matrix:
    """Return a canonical CSR copy: int32 indices, float32 finite data, sorted, no duplicates.

    Parameters
    ----------
    matrix : scipy.sparse matrix or array, shape (n_rows, n_cols)
    name : str
        Used in error messages.
    n_cols : int, optional
        Required number of columns.
    copy : bool
        False: a ``csr_matrix`` that is already canonical comes back as is (for read-only
        use, e.g. a large history batch handed to a kernel).
    """
    if not sp.issparse(matrix):
        raise TypeError(f"{name} must be a scipy.sparse matrix, got {type(matrix).__name__}")
    if matrix.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {matrix.shape}")
    if n_cols is not None and matrix.shape[1] != n_cols:
        raise ValueError(f"{name} must have {n_cols} columns (items), got {matrix.shape[1]}")
    if not np.issubdtype(matrix.dtype, np.number) or np.issubdtype(
        matrix.dtype, np.complexfloating
    ):
        raise ValueError(f"{name} must hold real numbers, got dtype {matrix.dtype}")
    if max(matrix.shape) >= 2**31 or matrix.nnz >= 2**31:
        raise ValueError(f"{name} is too large for int32 indices: shape {matrix.shape}")
    if (
        not copy
        and isinstance(matrix, sp.csr_matrix)
        and matrix.dtype == np.float32
        and matrix.indices.dtype == np.int32
        and matrix.indptr.dtype == np.int32
        and matrix.has_canonical_format
        and np.all(np.isfinite(matrix.data))
    ):
        return matrix
    csr = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    csr.sum_duplicates()
    csr.sort_indices()
    if not np.all(np.isfinite(csr.data)):
        raise ValueError(f"{name} contains NaN or infinite values")
    csr.indptr = csr.indptr.astype(np.int32, copy=False)
    csr.indices = csr.indices.astype(np.int32, copy=False)
    return csr


def check_positive_int(value: Any, name: str) -> int:
    """Return ``value`` as an int, raising ValueError unless it is an integer > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return int(value)


def check_num_threads(num_threads: Any) -> int:
    """An OpenMP thread count: an integer > 0, or 0 for OpenMP's default (``OMP_NUM_THREADS``
    when set, else every core)."""
    is_int = isinstance(num_threads, numbers.Integral) and not isinstance(num_threads, bool)
    if is_int and num_threads == 0:
        return int(_native.max_threads())
    return check_positive_int(num_threads, "num_threads")


def check_users(users: Any, n_users: int) -> npt.NDArray[np.int32]:
    """``users`` as int32[B] fitted-user indices, each in ``[0, n_users)``.

    Raises
    ------
    TypeError
        For a dense 2-D array (histories must be sparse).
    ValueError
        For anything else that is not a 1-D integer array of indices in range.
    """
    arr = np.asarray(users)
    if arr.ndim == 2:
        raise TypeError(
            "histories must be a scipy.sparse matrix (users x items), or users a 1-D array of "
            f"training-user indices; got a dense array of shape {arr.shape}"
        )
    if arr.ndim != 1 or not (np.issubdtype(arr.dtype, np.integer) or arr.size == 0):
        raise ValueError(f"users must be a 1-D integer array, got {arr.dtype} shape {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() >= n_users):
        raise ValueError(f"users must be indices in [0, {n_users}), got {arr.min()}..{arr.max()}")
    return arr.astype(np.int32)


def check_item(item: Any, n_items: int) -> int:
    """``item`` as an int, raising ValueError unless it is an integer index in ``[0, n_items)``."""
    if isinstance(item, bool) or not isinstance(item, numbers.Integral):
        raise ValueError(f"item must be an integer index, got {item!r}")
    index = int(item)
    if not 0 <= index < n_items:
        raise ValueError(f"item must be an index in [0, {n_items}), got {index}")
    return index
