"""Data layer: the typed in-memory Dataset and the loaders for the formats users have."""

from convrec.data.amazon import load_amazon, read_meta
from convrec.data.dataset import (
    Catalog,
    Dataset,
    DuplicateInteractionWarning,
    IdMap,
    ItemInfo,
    build_dataset,
)
from convrec.data.errors import DataError, DatasetNotFoundError, UnknownIdError
from convrec.data.movielens import load_movielens
from convrec.data.registry import FORMATS, find_movielens_100k, load_dataset
from convrec.data.tabular import load_recbole, load_table

__all__ = [
    "FORMATS",
    "Catalog",
    "DataError",
    "Dataset",
    "DatasetNotFoundError",
    "DuplicateInteractionWarning",
    "IdMap",
    "ItemInfo",
    "UnknownIdError",
    "build_dataset",
    "find_movielens_100k",
    "load_amazon",
    "load_dataset",
    "load_movielens",
    "load_recbole",
    "load_table",
    "read_meta",
]
