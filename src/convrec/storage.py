"""Files on disk: atomic writes (JSON, npz) and the npz persistence of fitted models (no pickle)."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np


def write_json_atomic(path: str | Path, payload: Any) -> Path:
    """Write ``payload`` as sorted, indented JSON; a reader never sees a half-written file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


_META = "__meta__"
_M = TypeVar("_M", bound="NpzModel")


def save_npz(
    path: str | Path, kind: str, params: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
) -> Path:
    """Write ``arrays`` and the JSON-able ``params`` of a model of class ``kind`` to ``path``.

    The parameters travel as a 0-d unicode array, so that
    ``numpy.load(path, allow_pickle=False)`` reads everything back. The file is
    written to a temporary name and renamed into place.
    """
    path = Path(path)
    if _META in arrays:
        raise ValueError(f"array name {_META!r} is reserved")
    meta = json.dumps({"kind": kind, "params": dict(params)}, sort_keys=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        payload = {_META: np.array(meta), **{k: np.asarray(v) for k, v in arrays.items()}}
        savez: Any = np.savez  # its stubs read **kwds as the allow_pickle flag
        with open(tmp, "wb") as handle:
            savez(handle, **payload)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


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


class NpzModel:
    """``params`` / ``save`` / ``load`` for dataclass models (mixin).

    A subclass is a dataclass whose constructor arguments are its fields not ending in ``_``
    (JSON-able) and provides ``_arrays()`` (its fitted arrays by name) and the classmethod
    ``_from(params, arrays)``; the file holds the class name, so loading another class fails.
    """

    def params(self) -> dict[str, Any]:
        """Constructor arguments (JSON-able)."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)  # type: ignore[arg-type]
            if f.init and not f.name.endswith("_")
        }

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
