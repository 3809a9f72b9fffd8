"""A Dataset on disk without pickle: arrays in ``dataset.npz``, ids and catalog as JSON."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from convrec.data.dataset import Catalog, Dataset, IdMap
from convrec.data.errors import DataError
from convrec.storage import write_json_atomic, write_npz_atomic

_ARRAYS = "dataset.npz"
_META = "dataset.json"
_FORMAT = "convrec.Dataset/1"


def save_dataset(data: Dataset, directory: str | os.PathLike[str]) -> Path:
    """Write ``data`` into ``directory`` (created if needed); returns the directory."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    write_npz_atomic(
        folder / _ARRAYS,
        {
            "user": data.user,
            "item": data.item,
            "rating": data.rating,
            "timestamp": data.timestamp,
            "year": data.catalog.year,
        },
    )
    write_json_atomic(
        folder / _META,
        {
            "format": _FORMAT,
            "name": data.name,
            "source": data.source,
            "users": list(data.users.external),
            "items": list(data.items.external),
            "title": data.catalog.title,
            "genres": [list(g) for g in data.catalog.genres],
            "text": data.catalog.text,
            "review_text": data.review_text,
            "summary": data.summary,
            "user_attributes": data.user_attributes,
        },
    )
    return folder


def load_saved_dataset(directory: str | os.PathLike[str]) -> Dataset:
    """Read a dataset written by :func:`save_dataset` (``numpy.load(allow_pickle=False)``)."""
    folder = Path(directory)
    meta_path = folder / _META
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError("no saved dataset here (dataset.json is missing)", path=folder) from None
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON: {exc.msg}", path=meta_path, line=exc.lineno) from None
    if meta.get("format") != _FORMAT:
        raise DataError(
            f"unknown format {meta.get('format')!r}, expected {_FORMAT}", path=meta_path
        )
    with np.load(folder / _ARRAYS, allow_pickle=False) as arrays:
        columns = {k: arrays[k] for k in arrays.files}
    catalog = Catalog(
        title=list(meta["title"]),
        year=columns["year"].astype(np.int32),
        genres=[tuple(g) for g in meta["genres"]],
        text=list(meta["text"]),
    )
    return Dataset(
        name=meta["name"],
        users=IdMap("user", tuple(meta["users"])),
        items=IdMap("item", tuple(meta["items"])),
        user=columns["user"].astype(np.int32),
        item=columns["item"].astype(np.int32),
        rating=columns["rating"].astype(np.float32),
        timestamp=columns["timestamp"].astype(np.int64),
        catalog=catalog,
        review_text=meta["review_text"],
        summary=meta["summary"],
        user_attributes=meta["user_attributes"],
        source=meta["source"],
    )
