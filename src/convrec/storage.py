"""Files on disk: one atomic-write helper, JSON and npz writers on top of it, CSR arrays by name."""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import errno
import json
import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import scipy.sparse as sp


def _fsync_tree(path: Path) -> None:
    """fsync every file under ``path`` (or ``path`` itself), then its directories."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    dirs = [] if path.is_file() else [path, *(p for p in path.rglob("*") if p.is_dir())]
    for p in files:
        with open(p, "rb") as handle:
            os.fsync(handle.fileno())
    for d in dirs:
        fsync_dir(d)


def fsync_dir(path: Path) -> None:
    """fsync a directory entry (a no-op where the platform cannot open directories)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on a directory
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike[str], fsync: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of ``final`` to write; on success it replaces ``final``.

    The caller writes a file, or creates a directory, at the yielded path. A reader sees the
    old ``final`` or the complete new one, never a half-written one; when the block raises,
    the temporary is removed and ``final`` is left as it was. An existing directory ``final``
    is swapped with the new one in one step (:func:`exchange`) where the system can; else it
    is moved aside first (``os.replace`` cannot replace a non-empty directory).

    Parameters
    ----------
    final : path
        Where the result lands; its parent directory must exist.
    fsync : bool
        fsync what was written (every file of a directory) and the parent before returning.

    Examples
    --------
    >>> with atomic_path(folder / "x.json") as tmp:  # doctest: +SKIP
    ...     tmp.write_text("{}")
    """
    final = Path(final)
    # hidden names that checkpoint pruning recognises (".tmp-*", ".old-*")
    tmp = final.with_name(f".tmp-{final.name}-{os.getpid()}")
    old = final.with_name(f".old-{final.name}-{os.getpid()}")
    _remove(tmp)
    try:
        yield tmp
        if fsync:
            _fsync_tree(tmp)
        if final.is_dir() and not final.is_symlink():
            if not exchange(tmp, final):  # no atomic swap here: two renames
                os.replace(final, old)
                os.replace(tmp, final)
                _remove(old)
        else:
            os.replace(tmp, final)
        if fsync:
            fsync_dir(final.parent)
    finally:
        _remove(tmp)


_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100


def exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``).

    Returns ``False``, having changed nothing, where the system or file system has no such
    call; the caller then falls back to two renames.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError, TypeError):  # not glibc >= 2.28 (macOS, Windows, musl)
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
    renameat2.argtypes += [ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EXDEV):
        return False  # the kernel or the file system does not swap
    raise OSError(code, os.strerror(code), str(b))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def write_json_atomic(path: str | Path, payload: Any) -> Path:
    """Write ``payload`` as sorted, indented JSON; a reader never sees a half-written file."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path


def write_npz_atomic(path: str | Path, arrays: Mapping[str, Any]) -> Path:
    """Write ``arrays`` to an uncompressed ``.npz`` at ``path`` through :func:`atomic_path`."""
    path = Path(path)
    payload = {k: np.asarray(v) for k, v in arrays.items()}
    savez: Any = np.savez  # its stubs read **kwds as the allow_pickle flag
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        savez(handle, **payload)
    return path


# --------------------------------------------------------------------------- sparse matrices


def csr_arrays(matrix: sp.csr_matrix, prefix: str = "") -> dict[str, np.ndarray]:
    """The arrays that hold a CSR matrix in an npz: ``<prefix>indptr``, ``indices``, ``data``,
    ``shape``.

    Parameters
    ----------
    matrix : scipy.sparse.csr_matrix, shape (n_rows, n_cols)
        Stored with its own dtypes (``data`` float32 or float64, int32 indices as a rule).
    prefix : str
        Name prefix, e.g. ``"sim_"``: several matrices share one file.

    Returns
    -------
    dict
        ``indptr``, ``indices``, ``data`` as held, ``shape`` as ``int64[2]``.
    """
    return {
        f"{prefix}indptr": np.asarray(matrix.indptr),
        f"{prefix}indices": np.asarray(matrix.indices),
        f"{prefix}data": np.asarray(matrix.data),
        f"{prefix}shape": np.array(matrix.shape, dtype=np.int64),
    }


def csr_from_arrays(
    arrays: Mapping[str, np.ndarray],
    prefix: str = "",
    shape: tuple[int, int] | None = None,
    dtype: Any = None,
) -> sp.csr_matrix:
    """The CSR matrix :func:`csr_arrays` stored under ``prefix``.

    Parameters
    ----------
    arrays : mapping of str to numpy.ndarray
        What :func:`load_npz` returned.
    prefix : str
        As given to :func:`csr_arrays`.
    shape : (int, int), optional
        For files that kept the shape elsewhere (no ``<prefix>shape`` array).
    dtype : numpy dtype, optional
        Cast ``data`` to it; by default the stored dtype is kept.

    Raises
    ------
    ValueError
        When an array is missing or the parts do not form a matrix.
    """
    missing = [k for k in ("indptr", "indices", "data") if f"{prefix}{k}" not in arrays]
    if missing:
        raise ValueError(f"no CSR matrix {prefix!r} here: missing {missing}")
    if f"{prefix}shape" in arrays:
        shape = (int(arrays[f"{prefix}shape"][0]), int(arrays[f"{prefix}shape"][1]))
    if shape is None:
        raise ValueError(f"CSR matrix {prefix!r} has no shape")
    data = arrays[f"{prefix}data"]
    return sp.csr_matrix(
        (
            data if dtype is None else data.astype(dtype),
            arrays[f"{prefix}indices"],
            arrays[f"{prefix}indptr"],
        ),
        shape=shape,
    )


# --------------------------------------------------------------------------- model files

_META = "__meta__"
_M = TypeVar("_M", bound="NpzModel")


def save_npz(
    path: str | Path, kind: str, params: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
) -> Path:
    """Write ``arrays`` and the JSON-able ``params`` of a model of class ``kind`` to ``path``.

    The parameters travel as a 0-d unicode array, so that
    ``numpy.load(path, allow_pickle=False)`` reads everything back. The file is
    written through :func:`atomic_path`.
    """
    if _META in arrays:
        raise ValueError(f"array name {_META!r} is reserved")
    meta = json.dumps({"kind": kind, "params": dict(params)}, sort_keys=True)
    return write_npz_atomic(path, {_META: np.array(meta), **arrays})


def load_npz(
    path: str | Path, kind: str | None = None
) -> tuple[str, dict[str, Any], dict[str, np.ndarray]]:
    """Read what :func:`save_npz` wrote: ``(kind, params, arrays)``.

    Raises ``ValueError`` when ``kind`` is given and the file holds another class.
    """
    with np.load(path, allow_pickle=False) as archive:
        meta = json.loads(str(archive[_META]))
        arrays = {k: archive[k] for k in archive.files if k != _META}
    if kind is not None and meta["kind"] != kind:
        raise ValueError(f"{path} holds a {meta['kind']}, not a {kind}")
    return str(meta["kind"]), dict(meta["params"]), arrays


def dataclass_params(obj: Any) -> dict[str, Any]:
    """Constructor arguments of a dataclass instance: its init fields not ending in ``_``."""
    return {
        f.name: getattr(obj, f.name)
        for f in dataclasses.fields(obj)
        if f.init and not f.name.endswith("_")
    }


class NpzModel:
    """``params`` / ``save`` / ``load`` for dataclass models (mixin).

    A subclass is a dataclass whose constructor arguments are its fields not ending in ``_``
    (JSON-able) and provides ``_arrays()`` (its fitted arrays by name) and the classmethod
    ``_from(params, arrays)``; the file holds the class name, so loading another class fails.
    """

    def params(self) -> dict[str, Any]:
        """Constructor arguments (JSON-able)."""
        return dataclass_params(self)

    def _arrays(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    @classmethod
    def _from(cls, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
        raise NotImplementedError

    def save(self, path: str | Path) -> Path:
        """Write the fitted model to ``path`` (``.npz``, readable without pickle)."""
        return save_npz(path, type(self).__name__, self.params(), self._arrays())

    @classmethod
    def load(cls: type[_M], path: str | Path) -> _M:
        """Read a model written by :meth:`save` of this class."""
        _, params, arrays = load_npz(path, cls.__name__)
        model: _M = cls._from(params, arrays)
        return model
